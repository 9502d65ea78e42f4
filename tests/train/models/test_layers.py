"""The convolution layers: parameters and outputs of Flax's ``nnx.Conv`` / ``nnx.ConvTranspose``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from train.models.layers import Conv, ConvTranspose

TOL = {"rtol": 2e-5, "atol": 2e-5}


@pytest.mark.parametrize("use_bias", [True, False])
def test_layers_match_flax_modules(use_bias):
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 8, 6, 3)), jnp.float32)
    mine = Conv(3, 4, (3, 3), stride=2, use_bias=use_bias, impl="cpu", rngs=nnx.Rngs(7))
    flax_conv = nnx.Conv(3, 4, (3, 3), strides=(2, 2), padding="SAME", use_bias=use_bias, rngs=nnx.Rngs(7))
    assert jax.tree.structure(nnx.state(mine, nnx.Param)) == jax.tree.structure(nnx.state(flax_conv, nnx.Param))
    np.testing.assert_array_equal(mine.kernel[...], flax_conv.kernel[...])
    np.testing.assert_allclose(mine(x), flax_conv(x), **TOL)
    up = ConvTranspose(3, 2, (2, 2), use_bias=use_bias, impl="cpu", rngs=nnx.Rngs(3))
    flax_up = nnx.ConvTranspose(3, 2, (2, 2), strides=(2, 2), padding="VALID", use_bias=use_bias, rngs=nnx.Rngs(3))
    np.testing.assert_array_equal(up.kernel[...], flax_up.kernel[...])
    if use_bias:
        flax_up.bias[...] = up.bias[...] = jnp.arange(2.0)
    np.testing.assert_allclose(up(x), flax_up(x), **TOL)
