"""Presets: what they draw follows the documented law, and what they output is the documented map."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

import randconv_jax as rc
from randconv_jax import presets

from . import oracle

Z = 5.0  # standard errors (fixed keys: deterministic checks)
SHAPES = {"2d": (10, 11, 3), "3d": (6, 7, 8, 2)}
N_KEYS = 2000


def _image(shape, seed=0):
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


def _draw(aug, shape, n=N_KEYS, seed=0):
    image = jax.ShapeDtypeStruct(shape, jnp.float32)
    return jax.jit(jax.vmap(lambda k: aug.sample(k, image)))(jax.random.split(jax.random.key(seed), n))


def _assert_moments(w, sigma, what):
    w = np.asarray(w, np.float64).ravel()
    n = w.size
    assert abs(w.mean()) <= Z * sigma / math.sqrt(n), f"{what}: mean {w.mean()}"
    assert abs(w.std() - sigma) <= Z * sigma / math.sqrt(2 * n), f"{what}: std {w.std()} vs {sigma}"


def _assert_frequency(flags, p, what):
    flags = np.asarray(flags)
    n = flags.size
    assert abs(flags.mean() - p) <= Z * math.sqrt(p * (1 - p) / n), f"{what}: {flags.mean()} vs {p}"


def _raw_conv(x, params):
    kernels, biases, groups = oracle.params_layers(params)
    return oracle.apply_layers(np.asarray(x, np.float64), kernels, biases, groups)


# --- randconv (Xu et al. 2021) ------------------------------------------------------------------------


@pytest.mark.parametrize("dim", list(SHAPES))
def test_randconv_img_draws_the_official_law(dim):
    shape = SHAPES[dim]
    d, c = len(shape) - 1, shape[-1]
    params = _draw(presets.randconv(variant="img"), shape)
    assert isinstance(params, rc.ProbabilityParams)
    _assert_frequency(params.applied, 0.5, "applied")  # identity_probability 0.5
    (stack,) = params.inner.stacks
    assert stack.kernel_sizes == (1, 3, 5, 7) and stack.groups == 1 and stack.biases is None
    assert stack.kernels.shape == (N_KEYS, 1) + (7,) * d + (c, c)
    index = np.asarray(stack.size_index)[:, 0]
    assert scipy.stats.chisquare(np.bincount(index, minlength=4)).pvalue > 1e-4
    kernels = np.asarray(stack.kernels)[:, 0]
    for i, k in enumerate((1, 3, 5, 7)):
        w = kernels[index == i][(slice(None),) + (slice(3 - k // 2, 4 + k // 2),) * d]
        _assert_moments(w, 1.0 / math.sqrt(c * k**d), f"k={k}")  # kaiming_normal_, gain 1, fan_in
    applied = _draw(presets.randconv(variant="img", identity_probability=0.2), shape, n=4000, seed=1).applied
    _assert_frequency(applied, 0.8, "applied with identity_probability=0.2")


# 3D output checks draw from (1, 3) only: XLA compile time of the 7^3-tap branch would dominate
# the suite, and the (1, 3, 5, 7) law is checked above; 2D uses the paper's sizes.
KERNEL_SIZES = {"2d": (1, 3, 5, 7), "3d": (1, 3)}


@pytest.mark.parametrize("dim", list(SHAPES))
def test_randconv_img_output_is_conv_or_identity(dim):
    shape = SHAPES[dim]
    aug = presets.randconv(variant="img", kernel_sizes=KERNEL_SIZES[dim])
    x = _image(shape, seed=1)
    apply = jax.jit(aug.apply)
    outcomes = set()
    for seed in range(6):
        params = aug.sample(jax.random.key(seed), x)
        out = apply(x, params)
        if bool(params.applied):
            oracle.assert_close(out, _raw_conv(x, params.inner))  # no normalization, no clamp
        else:
            np.testing.assert_array_equal(out, x)
        outcomes.add(bool(params.applied))
    assert outcomes == {True, False}


@pytest.mark.parametrize("dim", list(SHAPES))
def test_randconv_mix_output_and_alpha_law(dim):
    shape = SHAPES[dim]
    aug = presets.randconv(variant="mix", kernel_sizes=KERNEL_SIZES[dim])
    alpha = np.asarray(_draw(aug, shape, n=4000).alpha, np.float64)
    assert alpha.min() >= 0.0 and alpha.max() <= 1.0
    assert abs(alpha.mean() - 0.5) <= Z / math.sqrt(12 * alpha.size)
    x = _image(shape, seed=2)
    for seed in range(2):
        params = aug.sample(jax.random.key(seed), x)
        assert isinstance(params, rc.MixParams)
        a = float(params.alpha)
        want = a * _raw_conv(x, params.inner) + (1 - a) * np.asarray(x, np.float64)
        oracle.assert_close(jax.jit(aug)(jax.random.key(seed), x), want)


# --- ms_rc_3d (Scholz et al. 2025, rc_aug) -------------------------------------------------------------


@pytest.mark.parametrize("dim", list(SHAPES))
def test_ms_rc_3d_draws_keras_he_normal_stack(dim):
    shape = SHAPES[dim]
    d, c = len(shape) - 1, shape[-1]
    params = _draw(presets.ms_rc_3d(), shape, n=500)
    _assert_frequency(params.applied, 0.5, "applied")
    (stack,) = params.inner.stacks
    assert stack.kernels.shape == (500, 3) + (3,) * d + (c, c)  # three 3^d layers C -> C, one scanned stack
    assert stack.groups == 1 and stack.biases is None and stack.kernel_sizes == (3,)
    sigma = math.sqrt(2.0 / (c * 3**d))  # He: sqrt(2 / fan_in)
    w = np.asarray(stack.kernels, np.float64)
    _assert_moments(w, sigma, "ms_rc_3d")
    bound = 2.0 * sigma / scipy.stats.truncnorm.std(-2.0, 2.0)  # Keras: cut at 2 std of the pre-rescale normal
    assert np.abs(w).max() <= bound * (1 + 1e-6)


@pytest.mark.parametrize("foreground", ["output", "input"])
@pytest.mark.parametrize("dim", list(SHAPES))
def test_ms_rc_3d_output_is_foreground_minmax_of_the_conv(dim, foreground):
    # "output" (default, rc_aug): min-max over the conv output's non-zero voxels, zeros stay 0;
    # "input" (the project's option): over the input's non-zero voxels, the rest keeps the input.
    shape = SHAPES[dim]
    rng = np.random.default_rng(3)
    x = rng.random(shape).astype(np.float32)  # rc_aug inputs are in [0, 1]
    x[:2] = 0.0  # background slab (within the 3-voxel halo of three 3^d layers)
    x = jnp.asarray(x)
    aug = presets.ms_rc_3d(probability=1.0, foreground=foreground)
    apply = jax.jit(aug.apply)
    for seed in range(3):
        params = aug.sample(jax.random.key(seed), x)
        assert bool(params.applied)
        out = np.asarray(apply(x, params))
        raw = _raw_conv(x, params.inner)
        if foreground == "input":
            inside = np.broadcast_to(np.any(np.asarray(x) != 0, axis=-1)[..., None], shape)
            want = oracle.normalize(raw, x, "minmax_foreground")
        else:
            inside = raw != 0
            want = oracle.normalize(raw, x, "minmax_nonzero")
            assert inside[:1].any()  # the halo reaches the background slab and is normalized
        for c in range(shape[-1]):
            fg = out[..., c][inside[..., c]]
            assert fg.min() >= -1e-6 and fg.max() <= 1.0 + 1e-6
            np.testing.assert_allclose([fg.min(), fg.max()], [0.0, 1.0], atol=1e-6)
        outside = ~inside
        np.testing.assert_array_equal(out[outside], (np.asarray(x) if foreground == "input" else 0 * raw)[outside])
        oracle.assert_close(out, want)


# --- nnunet_rc (the MS group's nnU-Net transform) -----------------------------------------------------


@pytest.mark.parametrize("dim", list(SHAPES))
def test_nnunet_rc_draws_per_modality_he_kernels(dim):
    # hidden_per_channel=2 (any C; the fork's 4 maps in total need C | 4, checked in test_sources).
    shape = SHAPES[dim]
    d, c = len(shape) - 1, shape[-1]
    params = _draw(presets.nnunet_rc(hidden_per_channel=2), shape)
    _assert_frequency(params.applied, 0.5, "applied")
    first, second = params.inner.stacks
    assert first.kernels.shape == (N_KEYS, 1) + (3,) * d + (1, 2 * c)
    assert second.kernels.shape == (N_KEYS, 1) + (1,) * d + (2, c)
    assert first.groups == second.groups == c
    _assert_moments(first.kernels, math.sqrt(2.0 / 3**d), "3^d layer")  # fan_in = 1 * 3^d
    _assert_moments(second.kernels, math.sqrt(2.0 / 2), "1^d layer")  # fan_in = 2 * 1
    # PyTorch's construction-time biases U(+-1/sqrt(fan_in)): the same on every draw.
    for stack, fan_in in ((first, 3**d), (second, 2)):
        b = np.asarray(stack.biases)
        assert b.shape == (N_KEYS, 1, stack.kernels.shape[-1])
        np.testing.assert_array_equal(b, np.broadcast_to(b[:1], b.shape))
        assert np.abs(b).max() <= 1 / math.sqrt(fan_in) and np.abs(b).max() > 0.2 / math.sqrt(fan_in)
    assert presets.nnunet_rc(bias=False).sample(jax.random.key(0), jnp.ones((6, 6, 2))).inner.stacks[0].biases is None


@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "mask"])
@pytest.mark.parametrize("dim", list(SHAPES))
def test_nnunet_rc_output_matches_oracle_and_keeps_channel_stats(dim, masked):
    shape = SHAPES[dim]
    rng = np.random.default_rng(4)
    x_np = (rng.standard_normal(shape) * np.arange(1, shape[-1] + 1) + 5.0 * np.arange(shape[-1])).astype(np.float32)
    x = jnp.asarray(x_np)
    mask = rng.random(shape[:-1]) < 0.7 if masked else None
    inside = np.ones(shape[:-1], bool) if mask is None else mask
    # The project's per-channel statistics (the fork's joint ones are checked in test_sources).
    aug = presets.nnunet_rc(probability=1.0, statistics="per_channel", hidden_per_channel=2)
    apply = jax.jit(aug.apply)
    x_in = x_np if mask is None else np.where(mask[..., None], x_np, 0.0)  # zeroed outside before the conv
    for seed in range(2):
        params = aug.sample(jax.random.key(seed), x)
        out = np.asarray(apply(x, params, mask=mask), np.float64)
        want = oracle.normalize(_raw_conv(x_in, params.inner), x_np, "zscore_restore", mask)
        oracle.assert_close(out, want)
        xi = x_np[inside].astype(np.float64)
        np.testing.assert_allclose(out[inside].mean(0), xi.mean(0), rtol=1e-5, atol=1e-5 * np.abs(xi).max())
        np.testing.assert_allclose(out[inside].std(0), xi.std(0), rtol=1e-5)
        if masked:
            np.testing.assert_array_equal(out[~mask], x_np[~mask])


@pytest.mark.parametrize("dim", list(SHAPES))
def test_nnunet_rc_does_not_mix_modalities(dim):
    # The convolutions never mix modalities (groups = C); with per-channel statistics nothing
    # does. (The fork's default joint statistics couple them through one mean and std.)
    shape = SHAPES[dim]
    x = _image(shape, seed=5)
    changed = x.at[..., 1].set(3.0 * x[..., 1] + _image(shape[:-1] + (1,), seed=6)[..., 0])
    aug = jax.jit(presets.nnunet_rc(probability=1.0, statistics="per_channel", hidden_per_channel=2))
    key = jax.random.key(7)
    a, b = np.asarray(aug(key, x)), np.asarray(aug(key, changed))
    np.testing.assert_array_equal(a[..., 0], b[..., 0])
    assert not np.allclose(a[..., 1], b[..., 1], atol=1e-3)
    for ch in range(2, shape[-1]):
        np.testing.assert_array_equal(a[..., ch], b[..., ch])


# --- for_batches ------------------------------------------------------------------------------------------


def test_batch_mode_table():
    # RandConv and Pro-RandConv share one draw per mini-batch; GIN(-IPA) and the MS group's transforms draw per sample.
    assert presets.BATCH_MODE == {
        "randconv": "per_batch",
        "ms_rc_3d": "per_sample",
        "nnunet_rc": "per_sample",
        "pro_randconv": "per_batch",
        "gin": "per_sample",
        "gin_ipa": "per_sample",
    }


@pytest.mark.parametrize(
    "name,overrides",
    [
        ("randconv", {"kernel_sizes": (1, 3)}),
        ("randconv", {"variant": "mix", "kernel_sizes": (1, 3)}),
        ("ms_rc_3d", {}),
        ("nnunet_rc", {"hidden_per_channel": 2}),
    ],
    ids=["randconv-img", "randconv-mix", "ms_rc_3d", "nnunet_rc"],
)
def test_for_batches_uses_the_papers_sharing(name, overrides):
    n = 3
    images = jnp.abs(jnp.stack([_image(SHAPES["2d"], seed=10 + i) for i in range(n)])) + 0.1
    key = jax.random.key(8)
    aug = presets.for_batches(name, **overrides)
    params = aug.sample(key, images)
    single = getattr(presets, name)(**overrides)
    one = single.sample(key, images[0])
    leaves, one_leaves = jax.tree.leaves(params), jax.tree.leaves(one)
    if presets.BATCH_MODE[name] == "per_batch":
        assert [leaf.shape for leaf in leaves] == [leaf.shape for leaf in one_leaves]
        jax.tree.map(np.testing.assert_array_equal, params, one)
    else:
        assert [leaf.shape for leaf in leaves] == [(n,) + leaf.shape for leaf in one_leaves]
    if overrides.get("variant") == "mix":
        assert isinstance(params, rc.MixParams)
    # Exactly batched(preset, mode=BATCH_MODE[name]): same draws, same apply.
    same = rc.batched(single, mode=presets.BATCH_MODE[name])
    jax.tree.map(np.testing.assert_array_equal, params, same.sample(key, images))
    out = jax.jit(aug.apply)(images, params)
    oracle.assert_close(out, jax.jit(same.apply)(images, params), rtol=1e-6, scale_atol=1e-6)
