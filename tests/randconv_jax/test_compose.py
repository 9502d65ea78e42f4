"""Wrappers: with_probability, mix_with_input, chain, batched."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import randconv_jax as rc

from . import oracle

Z = 5.0  # standard errors allowed in frequency / mean checks (fixed keys: deterministic)
SHAPE = (8, 9, 2)
INNER = rc.make_random_conv(kernel_size=3, normalize="zscore_restore")


def _image(shape=SHAPE, seed=0):
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


def _mask(spatial=SHAPE[:-1], seed=0):
    return np.random.default_rng(seed + 50).random(spatial) < 0.5


def _keys(n, seed=0):
    return jax.random.split(jax.random.key(seed), n)


# --- with_probability ----------------------------------------------------------------------------


def test_with_probability_zero_is_the_identity_bitwise():
    aug = rc.with_probability(INNER, 0.0)
    x = _image()
    keys = _keys(64)
    params = jax.jit(jax.vmap(aug.sample, in_axes=(0, None)))(keys, x)
    assert not np.any(params.applied)
    out = jax.jit(jax.vmap(aug, in_axes=(0, None)))(keys, x)
    for o in np.asarray(out):
        np.testing.assert_array_equal(o, x)
    np.testing.assert_array_equal(jax.jit(aug)(keys[0], x), x)


def test_with_probability_one_always_applies_the_inner_params():
    aug = rc.with_probability(INNER, 1.0)
    x = _image(seed=1)
    keys = _keys(32, seed=1)
    params = jax.jit(jax.vmap(aug.sample, in_axes=(0, None)))(keys, x)
    assert np.all(params.applied)
    out = jax.jit(jax.vmap(aug, in_axes=(0, None)))(keys, x)
    want = jax.jit(jax.vmap(INNER.apply, in_axes=(None, 0)))(x, params.inner)
    oracle.assert_close(out, want, rtol=1e-6, scale_atol=1e-6)
    # The inner params are those of the second half of the split key.
    inner_keys = jax.vmap(lambda k: jax.random.split(k)[1])(keys)
    direct = jax.jit(jax.vmap(INNER.sample, in_axes=(0, None)))(inner_keys, x)
    jax.tree.map(np.testing.assert_array_equal, params.inner, direct)


@pytest.mark.parametrize("p", [0.3, 0.5, 0.9])
def test_with_probability_frequency_is_p(p):
    aug = rc.with_probability(INNER, p)
    x = _image(seed=2)
    n = 4000
    applied = np.asarray(jax.jit(jax.vmap(lambda k: aug.sample(k, x).applied))(_keys(n, seed=2)))
    assert applied.dtype == bool and applied.shape == (n,)
    assert abs(applied.mean() - p) <= Z * math.sqrt(p * (1 - p) / n), applied.mean()


def test_with_probability_output_is_inner_or_input_according_to_the_coin():
    aug = rc.with_probability(INNER, 0.5)
    x = _image(seed=3)
    mask = _mask(seed=3)
    keys = _keys(24, seed=3)
    params = jax.jit(jax.vmap(aug.sample, in_axes=(0, None)))(keys, x)
    applied = np.asarray(params.applied)
    assert applied.any() and not applied.all()
    out = np.asarray(jax.jit(jax.vmap(lambda p: aug.apply(x, p, mask=mask)))(params))
    inner = np.asarray(jax.jit(jax.vmap(lambda p: INNER.apply(x, p, mask=mask)))(params.inner))
    for i in range(len(keys)):
        if applied[i]:
            oracle.assert_close(out[i], inner[i], rtol=1e-6, scale_atol=1e-6)
            assert not np.allclose(out[i], x, atol=1e-3)
        else:
            np.testing.assert_array_equal(out[i], x)
        np.testing.assert_array_equal(out[i][~mask], np.asarray(x)[~mask])


# --- mix_with_input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("alpha_range", [(0.0, 1.0), (0.2, 0.6)])
def test_mix_alpha_is_uniform_in_range(alpha_range):
    low, high = alpha_range
    aug = rc.mix_with_input(INNER, alpha_range=alpha_range)
    x = _image(seed=4)
    n = 4000
    alpha = np.asarray(jax.jit(jax.vmap(lambda k: aug.sample(k, x).alpha))(_keys(n, seed=4)), np.float64)
    assert alpha.shape == (n,)
    assert np.all(alpha >= low) and np.all(alpha <= high)
    width = high - low
    assert abs(alpha.mean() - (low + high) / 2) <= Z * width / math.sqrt(12 * n)
    # Sample std of a uniform: SE = sigma * sqrt((kurtosis - 1) / (4 n)) = sigma * sqrt(0.2 / n).
    sigma = width / math.sqrt(12)
    assert abs(alpha.std() - sigma) <= Z * sigma * math.sqrt(0.2 / n)


def test_mix_output_is_alpha_blend_of_aug_and_input():
    aug = rc.mix_with_input(INNER, alpha_range=(0.0, 1.0))
    x = _image(seed=5)
    for seed in range(4):
        key = jax.random.key(seed)
        params = aug.sample(key, x)
        assert params.alpha.shape == () and params.alpha.dtype == jnp.float32
        y = np.asarray(INNER.apply(x, params.inner), np.float64)
        a = float(params.alpha)
        want = a * y + (1 - a) * np.asarray(x, np.float64)
        oracle.assert_close(aug(key, x), want)
        oracle.assert_close(aug.apply(x, params), want)


def test_mix_alpha_one_is_the_augmentation():
    aug = rc.mix_with_input(INNER, alpha_range=(1.0, 1.0))
    x = _image(seed=6)
    key = jax.random.key(6)
    params = aug.sample(key, x)
    assert float(params.alpha) == 1.0
    _, k_inner = jax.random.split(key)
    oracle.assert_close(aug(key, x), INNER(k_inner, x), rtol=1e-6, scale_atol=1e-6)
    zero = rc.mix_with_input(INNER, alpha_range=(0.0, 0.0))
    np.testing.assert_array_equal(zero(key, x), x)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_mix_with_mask_keeps_the_background_bitwise(dtype):
    """Outside the mask the inner augmentation returns the input, so the blend must too.

    Every other augmentation keeps background voxels bit for bit (the ``_normalize`` contract:
    "voxels outside the mask keep their input value"); ``alpha * x + (1 - alpha) * x`` rounded in
    float32 does not always give back ``x``.
    """
    aug = rc.mix_with_input(INNER, alpha_range=(0.0, 1.0))
    x = _image(seed=12).astype(dtype)
    mask = _mask(seed=12)
    for seed in range(8):
        out = aug(jax.random.key(seed), x, mask=mask)
        assert out.dtype == dtype
        np.testing.assert_array_equal(
            np.asarray(out, np.float32)[~mask], np.asarray(x, np.float32)[~mask], err_msg=f"seed {seed}"
        )


# --- chain --------------------------------------------------------------------------------------------


def test_chain_applies_members_in_order_with_split_keys():
    first = rc.make_random_conv(kernel_size=(1, 3), depth=2)
    second = rc.with_probability(rc.make_random_conv(kernel_size=3, normalize="frobenius"), 1.0)
    third = rc.mix_with_input(rc.make_random_conv(kernel_size=1), alpha_range=(0.3, 0.7))
    aug = rc.chain(first, second, third)
    x = _image(seed=7)
    mask = _mask(seed=7)
    key = jax.random.key(7)
    params = aug.sample(key, x)
    assert isinstance(params, tuple) and len(params) == 3
    k1, k2, k3 = jax.random.split(key, 3)
    for p, member, k in zip(params, (first, second, third), (k1, k2, k3), strict=True):
        jax.tree.map(np.testing.assert_array_equal, p, member.sample(k, x))
    want = third.apply(second.apply(first.apply(x, params[0]), params[1]), params[2])
    oracle.assert_close(aug.apply(x, params), want, rtol=1e-6, scale_atol=1e-6)
    oracle.assert_close(aug(key, x), want, rtol=1e-6, scale_atol=1e-6)
    # Order matters: the reversed chain is a different map.
    reversed_want = first.apply(second.apply(third.apply(x, params[2]), params[1]), params[0])
    assert not np.allclose(np.asarray(want), np.asarray(reversed_want), atol=1e-3)
    # The mask reaches every member: statistics inside, background untouched.
    masked = aug(key, x, mask=mask)
    want_masked = third.apply(
        second.apply(first.apply(x, params[0], mask=mask), params[1], mask=mask), params[2], mask=mask
    )
    oracle.assert_close(masked, want_masked, rtol=1e-6, scale_atol=1e-6)
    # (bitwise for the members that do not mix; see test_mix_with_mask_keeps_the_background_bitwise)
    oracle.assert_close(np.asarray(masked)[~mask], np.asarray(x)[~mask], rtol=1e-6, scale_atol=1e-6)
    masked_no_mix = rc.chain(first, second)(key, x, mask=mask)
    np.testing.assert_array_equal(np.asarray(masked_no_mix)[~mask], np.asarray(x)[~mask])


def test_chain_of_one_is_the_member_with_a_split_key():
    x = _image(seed=8)
    key = jax.random.key(8)
    (k,) = jax.random.split(key, 1)
    np.testing.assert_array_equal(rc.chain(INNER)(key, x), INNER(k, x))


# --- batched with masks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", rc.BATCH_MODES)
def test_batched_applies_per_image_masks(mode):
    n = 3
    images = jnp.stack([_image(seed=10 + i) for i in range(n)])
    masks = np.stack([_mask(seed=10 + i) for i in range(n)])
    aug = rc.batched(INNER, mode=mode)
    key = jax.random.key(9)
    params = jax.jit(aug.sample)(key, images)
    apply = jax.jit(aug.apply)
    out = np.asarray(apply(images, params, mask=masks))
    apply_one = jax.jit(INNER.apply)
    for i in range(n):
        p = jax.tree.map(lambda a, i=i: a[i], params) if mode == "per_sample" else params
        oracle.assert_close(out[i], apply_one(images[i], p, mask=masks[i]), rtol=1e-6, scale_atol=1e-6)
        np.testing.assert_array_equal(out[i][~masks[i]], np.asarray(images[i])[~masks[i]])
    oracle.assert_close(jax.jit(aug)(key, images, mask=masks), out, rtol=1e-6, scale_atol=1e-6)
    # A mask with a trailing channel axis of 1 is accepted per image too.
    oracle.assert_close(apply(images, params, mask=masks[..., None]), out, rtol=1e-6, scale_atol=1e-6)


@pytest.mark.parametrize("mode", rc.BATCH_MODES)
def test_batched_chunk_size_gives_the_unchunked_result(mode):
    n = 5  # not a multiple of the chunk size
    images = jnp.stack([_image(seed=20 + i) for i in range(n)])
    masks = np.stack([_mask(seed=20 + i) for i in range(n)])
    key = jax.random.key(10)
    whole = rc.batched(INNER, mode=mode)
    chunked = rc.batched(INNER, mode=mode, chunk_size=2)
    params = jax.jit(whole.sample)(key, images)
    jax.tree.map(np.testing.assert_array_equal, jax.jit(chunked.sample)(key, images), params)
    for mask in (None, masks):
        want = jax.jit(whole.apply)(images, params, mask=mask)
        got = jax.jit(chunked.apply)(images, params, mask=mask)
        oracle.assert_close(got, want, rtol=1e-6, scale_atol=1e-6)
    aug = rc.presets.for_batches("nnunet_rc", chunk_size=2)
    out = jax.jit(aug)(key, images)
    oracle.assert_close(out, jax.jit(rc.presets.for_batches("nnunet_rc"))(key, images), rtol=1e-6, scale_atol=1e-6)
