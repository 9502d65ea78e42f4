"""Each preset's default reproduces the original code's forward pass from the same draws (1e-5).

The originals are transcribed to NumPy in ``sources.py`` (file and commit cited there and in
every test); each test samples a preset, hands the drawn weights, biases, sizes, coins and
mixing weights to the transcription, and compares the two outputs.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import randconv_jax as rc
from randconv_jax import _gin, presets

from . import oracle, sources

TOL = dict(rtol=1e-5, scale_atol=1e-5)


def _cf(x):
    """channels-last -> channels-first (the PyTorch layout), float64."""
    return np.moveaxis(np.asarray(x, np.float64), -1, 0)


def _cl(x):
    return np.moveaxis(np.asarray(x, np.float64), 0, -1)


def _central(kernel, k):
    c, r = kernel.shape[0] // 2, k // 2
    d = kernel.ndim - 2
    return np.asarray(kernel, np.float64)[(slice(c - r, c + r + 1),) * d]


def _torch_weight(kernel):
    """Our ``(*k, C_in/groups, C_out)`` kernel as a PyTorch ``(C_out, C_in/groups, *k)`` weight."""
    kernel = np.asarray(kernel, np.float64)
    d = kernel.ndim - 2
    return np.transpose(kernel, (d + 1, d) + tuple(range(d)))


def _stack_layers(params):
    """``[(kernel, bias or None, stack)]`` per layer of a RandomConvParams, in order."""
    out = []
    for stack in params.stacks:
        for r in range(stack.kernels.shape[0]):
            bias = None if stack.biases is None else np.asarray(stack.biases[r], np.float64)
            out.append((np.asarray(stack.kernels[r], np.float64), bias, stack, r))
    return out


# --- RandConv: wildphoton/RandConv @861a231, lib/networks/rand_conv.py -------------------------------------


@pytest.mark.parametrize("variant", ["img", "mix"])
def test_randconv_is_the_official_module_forward_on_a_batch(variant):
    # RandConvModule.forward: one kernel (size from -ks 1 3 5 7), one identity coin (RC_img) or one
    # alpha (RC_mix) per call, shared by the mini-batch: presets.for_batches("randconv").
    images = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (3, 12, 13, 3)).astype(np.float32))
    aug = presets.for_batches("randconv", variant=variant)
    apply = jax.jit(aug.apply)
    seen = set()
    for seed in range(6):
        params = aug.sample(jax.random.key(seed), images)
        inner = params.inner
        (stack,) = inner.stacks
        k = stack.kernel_sizes[int(stack.size_index[0])]
        weight = _torch_weight(_central(stack.kernels[0], k))
        if variant == "img":
            identity, alpha = not bool(params.applied), None
        else:
            identity, alpha = False, float(params.alpha)
        want = sources.randconv_module_forward(
            np.moveaxis(np.asarray(images, np.float64), -1, 1), weight, identity=identity, alpha=alpha
        )
        oracle.assert_close(apply(images, params), np.moveaxis(want, 1, -1), **TOL)
        seen.add((k, identity))
    assert len({k for k, _ in seen}) >= 2
    if variant == "img":
        assert {i for _, i in seen} == {True, False}


# --- nnU-Net fork: daniel-scholz/nnUNet, random_convolution.py (master @77dedc7, rc-augs @9ee43a3) -------


def _two_modalities(shape, seed=0):
    """A FLAIR-like and a T1-like channel on very different scales (the 2-modality joint case)."""
    rng = np.random.default_rng(seed)
    x = np.empty(shape, np.float32)
    x[..., 0] = 0.3 + 0.1 * rng.standard_normal(shape[:-1])
    x[..., 1] = 5.0 + 2.0 * rng.standard_normal(shape[:-1])
    return jnp.asarray(x)


def _nnunet_reference(image, params, variant, skip=False):
    layers = _stack_layers(params)
    weights = [_torch_weight(k) for k, _, _, _ in layers]
    biases = [b for _, b, _, _ in layers]
    if variant == "master":
        return _cl(sources.nnunet_rc_master(_cf(image), weights[:-1], biases[:-1], weights[-1], biases[-1]))
    return _cl(sources.nnunet_rc_branch(_cf(image), weights[:-1], biases[:-1], weights[-1], biases[-1], skip=skip))


@pytest.mark.parametrize("shape", [(5, 6, 7, 2), (5, 6, 7, 1)], ids=["3d-2-modalities", "3d-1-modality"])
def test_nnunet_rc_master_is_the_forks_transform_with_joint_statistics_and_its_biases(shape):
    x = (
        _two_modalities(shape)
        if shape[-1] == 2
        else jnp.asarray(np.random.default_rng(1).normal(2.0, 0.5, shape).astype(np.float32))
    )
    aug = presets.nnunet_rc()
    apply = jax.jit(aug.apply)
    applied = set()
    for seed in range(4):
        params = aug.sample(jax.random.key(seed), x)
        first, second = params.inner.stacks
        hidden = 4  # the fork's h_hidden_channels, whatever C (C = 1: 4 maps; C = 2: 2 per modality)
        assert first.kernels.shape == (1, 3, 3, 3, 1, hidden) and second.kernels.shape == (
            1,
            1,
            1,
            1,
            hidden // shape[-1],
            shape[-1],
        )
        assert first.groups == second.groups == shape[-1]
        out = apply(x, params)
        if bool(params.applied):
            oracle.assert_close(out, _nnunet_reference(x, params.inner, "master"), **TOL)
        else:
            np.testing.assert_array_equal(out, x)
        applied.add(bool(params.applied))
    assert applied == {True, False}
    # The fork keeps its construction-time biases: the same on every call (never re-drawn).
    a = aug.sample(jax.random.key(10), x).inner
    b = aug.sample(jax.random.key(11), x).inner
    for s, t in zip(a.stacks, b.stacks, strict=True):
        np.testing.assert_array_equal(s.biases, t.biases)
        assert not np.array_equal(s.kernels, t.kernels)


def test_nnunet_rc_joint_statistics_differ_from_the_per_channel_option():
    # The two-modality case is where joint and per-channel statistics part ways; the project's
    # per-channel option keeps each modality's own mean and std.
    x = _two_modalities((5, 6, 7, 2), seed=3)
    key = jax.random.key(4)
    joint = np.asarray(presets.nnunet_rc(probability=1.0)(key, x), np.float64)
    per_channel = np.asarray(presets.nnunet_rc(probability=1.0, statistics="per_channel")(key, x), np.float64)
    assert np.abs(joint - per_channel).max() > 0.1
    xs = np.asarray(x, np.float64)
    np.testing.assert_allclose(per_channel.reshape(-1, 2).mean(0), xs.reshape(-1, 2).mean(0), rtol=1e-5)
    np.testing.assert_allclose(joint.mean(), xs.mean(), rtol=1e-5)
    np.testing.assert_allclose(joint.std(ddof=1), xs.std(ddof=1), rtol=1e-5)


def test_nnunet_rc_rc_augs_is_the_branch_transform():
    x = _two_modalities((5, 6, 5, 2), seed=5)
    aug = presets.nnunet_rc(variant="rc_augs")
    apply = jax.jit(aug.apply)
    applied = set()
    for seed in range(4):
        params = aug.sample(jax.random.key(seed), x)
        shapes = [s.kernels.shape for s in params.inner.stacks]
        # n_hidden_layers=4: C -> 32, 32 -> 32, 32 -> 32 (3^3, groups=C), then 1^3 32 -> C.
        assert shapes == [(1, 3, 3, 3, 1, 32), (1, 3, 3, 3, 16, 32), (1, 3, 3, 3, 16, 32), (1, 1, 1, 1, 16, 2)]
        out = apply(x, params)
        skip = not bool(params.applied)
        oracle.assert_close(out, _nnunet_reference(x, params.inner, "rc_augs", skip=skip), **TOL)
        applied.add(bool(params.applied))
    assert applied == {True, False}


# --- rc_aug: ai-idt/rc_aug @772437f, randconv.py ---------------------------------------------------------


def _zero_background_ball(shape, seed=0):
    """Values in (0, 1] inside a ball, exactly 0 outside: rc_aug's min-max-normalized input."""
    grids = np.meshgrid(*(np.arange(s) - (s - 1) / 2 for s in shape[:-1]), indexing="ij")
    radius = np.sqrt(sum(g**2 for g in grids))
    inside = radius <= 0.3 * min(shape[:-1])
    rng = np.random.default_rng(seed)
    x = np.where(inside[..., None], rng.uniform(0.05, 1.0, shape), 0.0).astype(np.float32)
    return jnp.asarray(x), inside


def test_ms_rc_3d_is_rc_aug_including_the_halo():
    # One channel (rc_aug's setting): randConv_linear (3 linear 3^3 Conv3D, HeNormal, zero bias), then
    # the min-max over the *output's* non-zero voxels, which includes a halo around the head.
    x, inside = _zero_background_ball((11, 12, 13, 1))
    aug = presets.ms_rc_3d(probability=1.0)
    apply = jax.jit(aug.apply)
    for seed in range(3):
        params = aug.sample(jax.random.key(seed), x)
        kernels = [k for k, _, _, _ in _stack_layers(params.inner)]
        assert [k.shape for k in kernels] == [(3, 3, 3, 1, 1)] * 3
        want = sources.rc_aug_linear(x, kernels)
        out = np.asarray(apply(x, params), np.float64)[..., 0]
        oracle.assert_close(out, want, **TOL)
        halo = ~inside & (want != 0)
        assert halo.sum() > 100 and np.abs(out[halo]).max() > 0.05  # the halo is normalized, not kept at 0
        assert np.all(out[~inside & (want == 0)] == 0)
    # The project's option keeps everything outside the input's foreground at its input value.
    out_in = np.asarray(presets.ms_rc_3d(probability=1.0, foreground="input")(jax.random.key(0), x), np.float64)
    assert np.all(out_in[~inside] == 0) and np.abs(out_in[inside]).max() == pytest.approx(1.0, abs=1e-6)


def test_ms_rc_3d_out_channels_one_is_rc_aug_on_two_channels():
    x, inside = _zero_background_ball((9, 10, 11, 2), seed=1)
    aug = presets.ms_rc_3d(probability=1.0, out_channels=1)
    params = aug.sample(jax.random.key(3), x)
    kernels = [k for k, _, _, _ in _stack_layers(params)]
    assert [k.shape for k in kernels] == [(3, 3, 3, 2, 1), (3, 3, 3, 1, 1), (3, 3, 3, 1, 1)]  # C -> 1 -> 1 -> 1
    out = jax.jit(aug.apply)(x, params)
    assert out.shape == x.shape[:-1] + (1,)
    oracle.assert_close(np.asarray(out)[..., 0], sources.rc_aug_linear(x, kernels), **TOL)


# --- GIN: cheng-01037/Causality-Medical-Image-Domain-Generalization @d4d5056, models/imagefilter(3d).py ---


def _gin_official_layers(params, n):
    """Per block the official ``(ker (out * nb, in, *k), shift (out * nb,))`` from batched GINParams."""
    layers = []
    for stack in params.layers.stacks:
        for r in range(stack.kernels.shape[1]):
            k = stack.kernel_sizes[int(stack.size_index[r])]  # one size for the whole batch
            kers, shifts = [], []
            for i in range(n):
                kers.append(_torch_weight(_central(stack.kernels[i, r], k)))
                shifts.append(np.asarray(stack.biases[i, r], np.float64))
            layers.append((np.concatenate(kers), np.concatenate(shifts)))
    return layers


@pytest.mark.parametrize("shape", [(3, 10, 11, 3), (2, 5, 6, 7, 1)], ids=["2d", "3d"])
def test_gin_batches_are_the_official_gin_group_conv(shape):
    images = jnp.asarray(np.random.default_rng(2).standard_normal(shape).astype(np.float32))
    aug = presets.for_batches("gin")
    apply = jax.jit(aug.apply)
    for seed in range(3):
        params = aug.sample(jax.random.key(seed), images)
        for stack in params.layers.stacks:
            assert stack.size_index.shape == (stack.kernels.shape[1],)  # shared: no batch axis
            assert not np.array_equal(stack.kernels[0], stack.kernels[1])  # weights per sample
        assert len(np.unique(np.asarray(params.alpha))) == shape[0]  # alpha per sample
        want = sources.gin_group_conv(
            np.moveaxis(np.asarray(images, np.float64), -1, 1),
            _gin_official_layers(params, shape[0]),
            np.asarray(params.alpha),
        )
        oracle.assert_close(apply(images, params), np.moveaxis(want, 1, -1), rtol=1e-5, scale_atol=1e-5)


def test_gin_batch_sizes_vary_between_calls_and_sharing_can_be_turned_off():
    images = jnp.zeros((4, 6, 7, 2), jnp.float32)
    sizes = set()
    for seed in range(8):
        params = presets.for_batches("gin").sample(jax.random.key(seed), images)
        sizes.add(tuple(int(i) for s in params.layers.stacks for i in np.asarray(s.size_index)))
    assert len(sizes) > 1
    per_image = presets.for_batches("gin", sharing="batch_mode").sample(jax.random.key(0), images)
    per_image_sizes = np.concatenate([np.asarray(s.size_index) for s in per_image.layers.stacks], axis=1)
    assert per_image_sizes.shape[0] == 4 and len({tuple(r) for r in per_image_sizes}) > 1


def test_ipa_blend_mask_is_adv_bias():
    # AdvBias (blend_grid_size=24, downscale 2, order 2) on 96x96 slices, the control points given.
    spatial = (96, 96)
    grid = tuple(_gin._blend_matrix(s, 24, 2.0, 2).shape[1] for s in spatial)
    control = np.random.default_rng(7).standard_normal((2, 1) + grid)
    want = sources.ipa_blend_mask(control, spatial)
    for i in range(2):
        got = _gin._blend_mask_from_control(jnp.asarray(control[i, 0], jnp.float32), spatial)
        oracle.assert_close(got, want[i], **TOL)


def test_gin_ipa_batches_are_the_official_first_copy():
    images = jnp.asarray(np.random.default_rng(8).standard_normal((2, 48, 48, 3)).astype(np.float32))
    aug = presets.for_batches("gin_ipa")
    params = aug.sample(jax.random.key(1), images)
    x = np.moveaxis(np.asarray(images, np.float64), -1, 1)
    a = sources.gin_group_conv(x, _gin_official_layers(params.first, 2), np.asarray(params.first.alpha))
    b = sources.gin_group_conv(x, _gin_official_layers(params.second, 2), np.asarray(params.second.alpha))
    copy1, _ = sources.gin_ipa_copies(a, b, np.asarray(params.blend, np.float64))
    oracle.assert_close(jax.jit(aug.apply)(images, params), np.moveaxis(copy1, 1, -1), **TOL)


# --- Pro-RandConv: no official code; the reproductions share the block and draw offsets per image -------


def test_pro_randconv_batches_share_the_block_and_draw_offsets_per_image():
    images = jnp.asarray(np.random.default_rng(9).uniform(-1, 1, (3, 7, 8, 2)).astype(np.float32))
    aug = presets.for_batches("pro_randconv")
    params = aug.sample(jax.random.key(2), images)
    assert params.weights.shape == (3, 3, 2, 2) and params.offset_key.shape[0] == 3
    params = dataclasses.replace(params, repeats=jnp.int32(2))
    out = np.asarray(jax.jit(aug.apply)(images, params), np.float64)
    offsets = []
    for i in range(3):
        one = dataclasses.replace(params, offset_key=params.offset_key[i])
        off = np.asarray(rc.pro_randconv_offsets(one, (7, 8)), np.float64)
        offsets.append(off)
        want = np.asarray(images[i], np.float64)
        for _ in range(2):
            want = oracle.pro_randconv_block(want, np.asarray(one.kernel), off, one.gamma, one.beta)
        oracle.assert_close(out[i], want, rtol=1e-4, scale_atol=1e-4)
    assert not np.allclose(offsets[0], offsets[1])
    shared = presets.for_batches("pro_randconv", sharing="batch_mode").sample(jax.random.key(2), images)
    assert shared.offset_key.shape == params.offset_key.shape[1:]


@pytest.mark.parametrize("name", ["gin", "pro_randconv"])
def test_source_sharing_batches_chunk_and_mask_like_batched(name):
    images = jnp.asarray(np.random.default_rng(10).uniform(-1, 1, (3, 6, 7, 2)).astype(np.float32))
    masks = np.random.default_rng(11).random((3, 6, 7)) < 0.7
    key = jax.random.key(5)
    whole = presets.for_batches(name, max_repeats=2) if name == "pro_randconv" else presets.for_batches(name)
    chunked = (
        presets.for_batches(name, chunk_size=2, max_repeats=2)
        if name == "pro_randconv"
        else presets.for_batches(name, chunk_size=2)
    )
    params = whole.sample(key, images)
    a = np.asarray(jax.jit(whole.apply)(images, params, mask=masks))
    b = np.asarray(jax.jit(chunked.apply)(images, params, mask=masks))
    oracle.assert_close(a, b, rtol=1e-6, scale_atol=1e-6)
    np.testing.assert_array_equal(a[~masks], np.asarray(images)[~masks])
