"""Structural facts of a linear random-conv stack: equivalent kernel, 1x1 channel mix, receptive field."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import randconv_jax as rc

from . import oracle


def _image(shape, seed=0):
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


def _equivalent_kernel(params):
    kernels, biases, groups = oracle.params_layers(params)
    assert all(b is None for b in biases)
    dense = [oracle.dense_kernel(k, g) for k, g in zip(kernels, groups, strict=True)]
    return functools.reduce(oracle.compose_kernels, dense)


@pytest.mark.parametrize(
    "shape,kw,seed",
    [
        ((14, 15, 3), dict(kernel_size=3, depth=3), 0),
        ((14, 15, 3), dict(kernel_size=(1, 3, 5), depth=2, hidden_channels=4), 6),  # draws sizes (3, 5)
        ((14, 15, 3), dict(kernel_size=(1, 3, 5), depth=2, hidden_channels=4), 4),  # draws sizes (3, 1)
        ((14, 15, 3), dict(kernel_size=3, depth=2, groups=3), 0),
        ((10, 11, 12, 2), dict(kernel_size=3, depth=2, hidden_channels=3), 0),
    ],
    ids=["2d-k3-d3", "2d-ms-d2-h4-sizes35", "2d-ms-d2-h4-sizes31", "2d-gC", "3d-k3-d2"],
)
def test_linear_stack_equals_one_kernel_in_the_interior(shape, kw, seed):
    x = _image(shape)
    params = rc.sample_random_conv(jax.random.key(seed), x, **kw)
    drawn = [s.kernel_sizes[int(i)] for s in params.stacks for i in np.asarray(s.size_index)]
    big = _equivalent_kernel(params)  # (*K, C, C), K = sum(k_l) - L + 1
    radius = [k // 2 for k in big.shape[:-2]]
    assert all(r >= 1 for r in radius)
    interior = tuple(slice(r, s - r) for r, s in zip(radius, shape[:-1], strict=True))
    got = np.asarray(jax.jit(rc.apply_random_conv)(x, params))
    one_layer = oracle.correlate_same(np.asarray(x), big)
    oracle.assert_close(got[interior], one_layer[interior])
    # The library's own convolve with the equivalent kernel agrees in the interior too.
    oracle.assert_close(got[interior], rc.convolve(x, big.astype(np.float32))[interior])
    if sum(k > 1 for k in drawn) >= 2:
        # ... but not at the border, where the intermediate zero padding of two spatial layers matters.
        assert not np.allclose(got, one_layer, atol=1e-4)
    else:
        # One spatial layer among 1x1 ones (no bias): padding commutes with the channel mix, equal everywhere.
        oracle.assert_close(got, one_layer)


@pytest.mark.parametrize("shape", [(12, 13, 3), (6, 7, 8, 2)], ids=["2d", "3d"])
@pytest.mark.parametrize("groups", [1, "C"])
def test_pointwise_kernels_are_a_channel_mix(shape, groups):
    channels = shape[-1]
    groups = channels if groups == "C" else groups
    x = _image(shape, seed=2)
    key = jax.random.key(5)
    params = rc.sample_random_conv(key, x, kernel_size=1, groups=groups)
    (w,) = [oracle.dense_kernel(k, groups).reshape(channels, channels) for k in params.layer_kernels()]
    got = rc.random_conv(key, x, kernel_size=1, groups=groups)
    oracle.assert_close(got, np.asarray(x, np.float64) @ w)
    if groups == channels:  # groups=C: a per-channel scale, no mixing
        np.testing.assert_array_equal(w, np.diag(np.diag(w)))


def test_pointwise_two_layers_are_a_product_of_matrices():
    x = _image((12, 13, 3), seed=3)
    key = jax.random.key(6)
    kw = dict(kernel_size=1, depth=2, hidden_channels=5, bias_std=0.7)
    params = rc.sample_random_conv(key, x, **kw)
    (w1, w2) = [np.asarray(k, np.float64).reshape(k.shape[-2:]) for k in params.layer_kernels()]
    assert w1.shape == (3, 5) and w2.shape == (5, 3)
    (b1, b2) = [np.asarray(s.biases[0], np.float64) for s in params.stacks]
    want = (np.asarray(x, np.float64) @ w1 + b1) @ w2 + b2
    oracle.assert_close(rc.random_conv(key, x, **kw), want)


@pytest.mark.parametrize(
    "spatial,channels,depth,k",
    [((17, 19), 3, 1, 7), ((17, 19), 3, 2, 5), ((17, 19), 2, 3, 3), ((11, 12, 13), 2, 2, 3)],
    ids=["2d-L1-k7", "2d-L2-k5", "2d-L3-k3", "3d-L2-k3"],
)
def test_receptive_field_is_depth_times_half_kernel(spatial, channels, depth, k):
    centre = tuple(s // 2 for s in spatial)
    reach = depth * (k // 2)
    # The reach stays away from the border.
    assert all(c - reach >= 1 and c + reach <= s - 2 for c, s in zip(centre, spatial, strict=True))
    impulse = np.zeros(spatial + (channels,), np.float32)
    impulse[centre + (0,)] = 1.0
    params = rc.sample_random_conv(jax.random.key(8), impulse, kernel_size=k, depth=depth)
    for kernel in params.layer_kernels():  # nonzero kernels: the support is exactly the reach
        assert np.all(np.asarray(kernel) != 0)
    out = np.asarray(rc.apply_random_conv(jnp.asarray(impulse), params))
    support = np.any(out != 0, axis=-1)
    nonzero = np.nonzero(support)
    for axis, c in enumerate(centre):
        assert nonzero[axis].min() == c - reach
        assert nonzero[axis].max() == c + reach
    # The corners of the cube are reached (each is a product of corner taps, nonzero).
    for corner in np.ndindex(*(2,) * len(spatial)):
        assert support[tuple(c + (reach if b else -reach) for c, b in zip(centre, corner, strict=True))]


def test_receptive_field_of_multiscale_draw_is_sum_of_drawn_radii():
    spatial, channels = (25, 27), 2
    centre = (12, 13)
    impulse = np.zeros(spatial + (channels,), np.float32)
    impulse[centre + (1,)] = 1.0
    apply = jax.jit(rc.apply_random_conv)
    for seed in range(4):
        params = rc.sample_random_conv(jax.random.key(seed), impulse, kernel_size=(1, 3, 5, 7), depth=3)
        sizes = [params.stacks[0].kernel_sizes[int(i)] for i in np.asarray(params.stacks[0].size_index)]
        reach = sum(s // 2 for s in sizes)
        out = np.asarray(apply(jnp.asarray(impulse), params))
        rows, cols = np.nonzero(np.any(out != 0, axis=-1))
        assert (rows.min(), rows.max()) == (centre[0] - reach, centre[0] + reach), sizes
        assert (cols.min(), cols.max()) == (centre[1] - reach, centre[1] + reach), sizes
