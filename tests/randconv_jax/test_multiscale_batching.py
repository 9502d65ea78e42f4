"""Per-sample multi-scale draws run each image's own kernel size under vmap, with one-image bits."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import randconv_jax as rc
from randconv_jax import _conv

from . import oracle

CASES = {
    # (batch of images, sample_random_conv keywords): one channel, the per-output-channel loop
    # with a bias, groups and a 3D stack scanned over depth.
    "2d-c1": ((5, 12, 13, 1), dict(kernel_size=(1, 3, 5, 7))),
    "2d-c3-bias": ((5, 12, 13, 3), dict(kernel_size=(7, 3, 1), bias_std=1.0)),
    "3d-groups": ((4, 6, 7, 8, 2), dict(kernel_size=(1, 3), depth=2, hidden_channels=4, groups=2)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_per_sample_vmap_gives_the_bits_of_one_image_calls(name):
    shape, kw = CASES[name]
    xs = jnp.asarray(np.random.default_rng(0).standard_normal(shape).astype(np.float32))
    keys = jax.random.split(jax.random.key(1), shape[0])
    f = functools.partial(rc.random_conv, impl="taps", **kw)
    sizes = np.asarray(jax.vmap(functools.partial(rc.sample_random_conv, **kw))(keys, xs).stacks[0].size_index)
    assert len(np.unique(sizes)) > 1  # the batch really mixes sizes
    batched = np.asarray(jax.jit(jax.vmap(f))(keys, xs))
    one = jax.jit(f)
    for i in range(shape[0]):
        np.testing.assert_array_equal(batched[i].view(np.uint32), np.asarray(one(keys[i], xs[i])).view(np.uint32))
        params = rc.sample_random_conv(keys[i], xs[i], **kw)
        kernels, biases, groups = oracle.params_layers(params)
        oracle.assert_close(batched[i], oracle.apply_layers(np.asarray(xs[i]), kernels, biases, groups))
    # Chunked batches run the same rule inside each chunk.
    chunked = jax.jit(rc.batched(rc.make_random_conv(impl="taps", **kw), mode="per_sample", chunk_size=2))
    np.testing.assert_array_equal(
        np.asarray(chunked(jax.random.key(1), xs)),
        np.asarray(
            jax.jit(rc.batched(rc.make_random_conv(impl="taps", **kw), mode="per_sample"))(jax.random.key(1), xs)
        ),
    )


def test_a_per_sample_vmap_keeps_the_switch_instead_of_running_every_size():
    x = jnp.ones((4, 2, 16, 16))  # two channels: no per-output-channel loop, so any scan is the image loop
    kernel = jnp.ones((4, 7, 7, 2, 2))
    index = jnp.array([0, 1, 2, 3])
    layer = functools.partial(_conv.conv_multiscale_channels_first, kernel_sizes=(1, 3, 5, 7), impl="taps")
    plain = functools.partial(_conv._multiscale_switch, groups=1, kernel_sizes=(1, 3, 5, 7), impl="taps")
    auto_jaxpr = str(jax.make_jaxpr(jax.vmap(lambda a, k, i: layer(a, k, None, i)))(x, kernel, index))
    plain_jaxpr = str(jax.make_jaxpr(jax.vmap(lambda a, k, i: plain(a, k, None, i)))(x, kernel, index))
    assert "cond[" in auto_jaxpr and "scan[" in auto_jaxpr  # one branch per image, in turn
    assert "cond[" not in plain_jaxpr and "select_n" in plain_jaxpr  # what vmap alone makes of it
    # With the size shared by the batch the switch stays a switch over the whole batch.
    shared = str(jax.make_jaxpr(jax.vmap(lambda a, k: layer(a, k, None, index[1])))(x, kernel))
    assert "cond[" in shared and "scan[" not in shared


def test_gradients_flow_through_the_image_per_sample_and_per_batch():
    xs = jnp.asarray(np.random.default_rng(2).standard_normal((3, 8, 9, 2)).astype(np.float32))
    keys = jax.random.split(jax.random.key(3), 3)
    f = functools.partial(rc.random_conv, kernel_size=(1, 3, 5))
    per_sample = jax.grad(lambda x: jnp.sum(jax.vmap(f)(keys, x) ** 2))(xs)
    for i in range(3):
        one = jax.grad(lambda x, i=i: jnp.sum(f(keys[i], x) ** 2))(xs[i])
        oracle.assert_close(per_sample[i], one, rtol=1e-5, scale_atol=1e-5)
    per_batch = jax.grad(lambda x: jnp.sum(jax.vmap(f, in_axes=(None, 0))(keys[0], x) ** 2))(xs)
    want = jax.grad(lambda x: jnp.sum(f(keys[0], x) ** 2))(xs[0])
    oracle.assert_close(per_batch[0], want, rtol=1e-5, scale_atol=1e-5)
