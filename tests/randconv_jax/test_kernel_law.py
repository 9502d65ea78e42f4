"""The law of the drawn kernels, checked over many keys.

Tolerances come from the sample size: with ``n`` i.i.d. entries of std ``sigma`` the sample
mean has standard error ``sigma / sqrt(n)`` and the sample std ``~ sigma / sqrt(2 n)``
(normal law); every check allows ``Z = 5`` standard errors. Keys are fixed, so each
check is a deterministic regression test whose false-alarm rate under the correct law is
below 1e-6.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

import randconv_jax as rc

Z = 5.0
N_KEYS = 2000


def _draw(shape, n=N_KEYS, seed=0, **kw):
    image = jax.ShapeDtypeStruct(shape, jnp.float32)
    keys = jax.random.split(jax.random.key(seed), n)
    return jax.jit(jax.vmap(lambda k: rc.sample_random_conv(k, image, **kw)))(keys)


def _assert_normal_moments(w, sigma, what=""):
    w = np.asarray(w, np.float64).ravel()
    n = w.size
    assert n >= 1000, what
    assert abs(w.mean()) <= Z * sigma / math.sqrt(n), f"{what}: mean {w.mean()} vs 0 (sigma {sigma}, n {n})"
    std = w.std()
    assert abs(std - sigma) <= Z * sigma / math.sqrt(2 * n), f"{what}: std {std} vs {sigma} (n {n})"


@pytest.mark.parametrize(
    "shape,groups,gain,k",
    [
        ((12, 13, 3), 1, 1.0, 3),
        ((12, 13, 3), 3, 1.0, 5),
        ((12, 13, 4), 2, math.sqrt(2.0), 3),
        ((6, 7, 8, 2), 1, 1.0, 3),
        ((6, 7, 8, 2), 2, math.sqrt(2.0), 3),
    ],
)
def test_fixed_size_entries_are_normal_with_gain_over_sqrt_fan_in(shape, groups, gain, k):
    d, channels = len(shape) - 1, shape[-1]
    params = _draw(shape, kernel_size=k, groups=groups, gain=gain)
    (stack,) = params.stacks
    assert stack.kernels.shape == (N_KEYS, 1) + (k,) * d + (channels // groups, channels)
    sigma = gain / math.sqrt(channels / groups * k**d)
    w = np.asarray(stack.kernels, np.float64)
    _assert_normal_moments(w, sigma, f"k={k} groups={groups}")
    # The shape of the law, not only two moments: Kolmogorov-Smirnov against N(0, sigma^2).
    assert scipy.stats.kstest(w.ravel() / sigma, "norm").pvalue > 1e-4
    # Draws for different keys differ (independent kernels, not one kernel repeated).
    assert not np.array_equal(w[0], w[1])


def test_each_layer_of_a_deep_stack_has_the_law_of_its_own_fan_in_and_biases_follow_bias_std():
    shape = (12, 13, 3)
    params = _draw(shape, kernel_size=3, depth=3, hidden_channels=5, bias_std=0.7)
    fans = [3 * 9, 5 * 9, 5 * 9]
    layers = [s.kernels[:, r] for s in params.stacks for r in range(s.kernels.shape[1])]
    assert len(layers) == 3
    for n, (w, fan_in) in enumerate(zip(layers, fans, strict=True)):
        _assert_normal_moments(w, 1.0 / math.sqrt(fan_in), f"layer {n}")
    for stack in params.stacks:
        assert stack.biases is not None and stack.biases.shape == (N_KEYS, stack.kernels.shape[1], stack.out_channels)
    b = np.concatenate([np.asarray(s.biases).ravel() for s in params.stacks])
    assert b.size == N_KEYS * (5 + 5 + 3)
    _assert_normal_moments(b, 0.7, "bias")
    # No bias_std: no biases at all (structure only, nothing to run).
    image = jax.ShapeDtypeStruct(shape, jnp.float32)
    assert all(s.biases is None for s in jax.eval_shape(rc.sample_random_conv, jax.random.key(0), image).stacks)


def test_explicit_sigma_is_used_as_is():
    for shape, k in [((12, 13, 3), (1, 3, 5, 7)), ((6, 7, 8, 2), 3)]:
        params = _draw(shape, kernel_size=k, sigma=0.3, gain=5.0)  # gain is ignored when sigma is given
        stack = params.stacks[0]
        w = np.asarray(stack.kernels)
        if isinstance(k, tuple):  # multiscale: only the drawn taps are random, the rest are exact zeros
            w = w[w != 0]
        _assert_normal_moments(w, 0.3, f"sigma=0.3 k={k}")


@pytest.mark.parametrize("shape", [(12, 13, 3), (6, 7, 8, 2)], ids=["2d", "3d"])
def test_multiscale_sizes_uniform_and_law_per_drawn_size(shape):
    d, channels = len(shape) - 1, shape[-1]
    sizes = (1, 3, 5, 7)
    depth = 2
    params = _draw(shape, kernel_size=sizes, depth=depth)
    (stack,) = params.stacks
    assert stack.kernel_sizes == sizes
    kernels = np.asarray(stack.kernels).reshape((-1,) + (7,) * d + (channels, channels))
    index = np.asarray(stack.size_index).ravel()
    n = index.size
    assert n == N_KEYS * depth
    # Drawn sizes ~ uniform over the 4 sizes: chi-square goodness of fit, and each count within Z SE.
    counts = np.bincount(index, minlength=len(sizes))
    assert counts.shape == (4,)
    assert scipy.stats.chisquare(counts).pvalue > 1e-4, counts
    p = 1 / len(sizes)
    assert np.all(np.abs(counts - n * p) <= Z * math.sqrt(n * p * (1 - p))), counts
    offsets = np.abs(np.arange(7) - 3)
    for i, k in enumerate(sizes):
        w = kernels[index == i]
        inside = np.ones((7,) * d, bool)
        for axis in range(d):
            inside &= (offsets <= k // 2).reshape(tuple(7 if a == axis else 1 for a in range(d)))
        # Zero outside the drawn k^d taps, exactly; N(0, 1/(C k^d)) inside.
        assert np.all(w[:, ~inside] == 0), k
        assert np.all(w[:, inside] != 0), k
        _assert_normal_moments(w[:, inside], 1.0 / math.sqrt(channels * k**d), f"k={k}")


def test_truncate_two_follows_keras_he_normal():
    """``truncate=2``: N(0, s^2) cut at +-2 s and rescaled to std sigma (``s = sigma / 0.87962566``).

    So ``|w| <= 2 s = 2.274 sigma`` and ``std = sigma``; the normalized entries ``w / s`` follow
    scipy's ``truncnorm(-2, 2)``.
    """
    shape, k = (6, 7, 8, 2), 3
    gain = math.sqrt(2.0)
    sigma = gain / math.sqrt(2 * k**3)
    params = _draw(shape, n=500, kernel_size=k, gain=gain, truncate=2.0)
    w = np.asarray(params.stacks[0].kernels, np.float64).ravel()
    keras_std = scipy.stats.truncnorm.std(-2.0, 2.0)
    np.testing.assert_allclose(keras_std, 0.87962566103423978, rtol=1e-12)  # the Keras constant
    s = sigma / keras_std
    assert np.max(np.abs(w)) <= 2.0 * s * (1 + 1e-6)
    assert np.max(np.abs(w)) > 2.0 * s * 0.99  # the cut really is at 2 s (tails are populated)
    _assert_normal_moments(w, sigma, "truncate=2")
    assert scipy.stats.kstest(w / s, scipy.stats.truncnorm(-2.0, 2.0).cdf).pvalue > 1e-4
    # No truncation: the same gain gives untruncated tails beyond 2 s.
    plain = np.asarray(_draw(shape, n=500, kernel_size=k, gain=gain).stacks[0].kernels).ravel()
    assert np.max(np.abs(plain)) > 2.0 * s


def test_sample_conv_stack_law_and_shapes():
    keys = jax.random.split(jax.random.key(1), N_KEYS)
    kw = dict(spatial_dims=2, in_channels=4, out_channels=6, kernel_sizes=(5,), groups=2, repeats=3, gain=2.0)
    stacks = jax.vmap(lambda k: rc.sample_conv_stack(k, **kw))(keys)
    assert stacks.kernels.shape == (N_KEYS, 3, 5, 5, 2, 6)
    assert stacks.groups == 2 and stacks.kernel_sizes == (5,) and stacks.biases is None
    _assert_normal_moments(stacks.kernels, 2.0 / math.sqrt(2 * 25), "sample_conv_stack")
    # Layers of one stack are independent draws.
    w = np.asarray(stacks.kernels)
    assert not np.array_equal(w[:, 0], w[:, 1])
    one = rc.sample_conv_stack(keys[0], **kw)
    assert (one.repeats, one.spatial_dims, one.in_channels, one.out_channels) == (3, 2, 4, 6)
