"""Deformable convolution: zero offsets = plain conv, integer offsets = shifted reads, fractional = oracle."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import randconv_jax as rc

from . import oracle


def _rand(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("spatial", [(7, 8), (4, 5, 6)], ids=["2d", "3d"])
def test_zero_offsets_equal_the_plain_convolution(spatial):
    d = len(spatial)
    x, w = _rand(spatial + (2,), 0), _rand((3,) * d + (2, 3), 1)
    offsets = np.zeros(spatial + (3**d, d), np.float32)
    out = jax.jit(rc.deform_conv)(x, w, offsets)
    oracle.assert_close(out, oracle.correlate_same(x, w))
    oracle.assert_close(out, rc.convolve(x, w, impl="lax"), scale_atol=1e-5)


@pytest.mark.parametrize("spatial", [(7, 8), (4, 5, 6)], ids=["2d", "3d"])
def test_integer_offsets_equal_a_shifted_convolution(spatial):
    """The same integer shift on every tap reads the plain (zero-padded) conv at ``p + shift``."""
    d = len(spatial)
    x, w = _rand(spatial + (2,), 2), _rand((3,) * d + (2, 2), 3)
    shift = np.array([1, -2, 1][:d])
    offsets = np.broadcast_to(shift.astype(np.float32), spatial + (3**d, d))
    margin = 3
    wide = oracle.correlate_same(np.pad(x, [(margin, margin)] * d + [(0, 0)]), w)
    want = wide[tuple(slice(margin + s, margin + s + n) for s, n in zip(shift, spatial, strict=True))]
    oracle.assert_close(rc.deform_conv(x, w, offsets), want)


@pytest.mark.parametrize("spatial", [(6, 7), (4, 4, 5)], ids=["bilinear", "trilinear"])
def test_fractional_offsets_match_the_numpy_oracle(spatial):
    d = len(spatial)
    x, w = _rand(spatial + (2,), 4), _rand((3,) * d + (2, 2), 5)
    offsets = 0.8 * _rand(spatial + (3**d, d), 6)  # some land outside the image (zero padding)
    out = jax.jit(rc.deform_conv)(x, w, offsets, bias=jnp.array([0.5, -1.0]))
    oracle.assert_close(out, oracle.deform_conv(x, w, offsets) + np.array([0.5, -1.0]))


def test_deform_conv_checks_shapes_and_keeps_dtype():
    x = jnp.ones((5, 6, 2), jnp.bfloat16)
    w = jnp.ones((3, 3, 2, 2))
    assert rc.deform_conv(x, w, jnp.zeros((5, 6, 9, 2))).dtype == jnp.bfloat16
    with pytest.raises(ValueError, match=r"offsets must have shape"):
        rc.deform_conv(x, w, jnp.zeros((5, 6, 9)))
    with pytest.raises(ValueError, match=r"kernel must have shape"):
        rc.deform_conv(x, jnp.ones((3, 3, 3, 2)), jnp.zeros((5, 6, 9, 2)))
