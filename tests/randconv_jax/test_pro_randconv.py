"""Pro-RandConv: block oracle, repeats, determinism, range, Gaussian window, batching, dtypes, bad input."""

from __future__ import annotations

import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import randconv_jax as rc
from randconv_jax import presets

from . import oracle


def _image(shape, seed=0):
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


def _numpy_block_params(params, spatial):
    offsets = np.asarray(rc.pro_randconv_offsets(params, spatial), np.float64)
    return np.asarray(params.kernel, np.float64), offsets, np.asarray(params.gamma), np.asarray(params.beta)


@pytest.mark.parametrize("shape", [(6, 7, 2), (4, 4, 5, 2)], ids=["2d", "3d"])
def test_one_and_three_repeats_match_the_block_oracle(shape):
    x = _image(shape, 1)
    params = rc.sample_pro_randconv(jax.random.key(0), x)
    kernel, offsets, gamma, beta = _numpy_block_params(params, shape[:-1])
    apply = jax.jit(rc.apply_pro_randconv)
    want = np.asarray(x, np.float64)
    for repeats in (1, 2, 3):
        want = oracle.pro_randconv_block(want, kernel, offsets, gamma, beta)
        if repeats == 2:
            continue
        out = apply(x, dataclasses.replace(params, repeats=jnp.int32(repeats)))
        oracle.assert_close(out, want, rtol=1e-4, scale_atol=1e-4)


def test_same_key_same_repeats_and_output_and_jit_matches_eager():
    x = _image((10, 11, 3), 2)
    key = jax.random.key(3)
    f = jax.jit(rc.pro_randconv)
    a, b = f(key, x), f(key, x)
    np.testing.assert_array_equal(a, b)
    assert int(rc.sample_pro_randconv(key, x).repeats) == int(jax.jit(rc.sample_pro_randconv)(key, x).repeats)
    oracle.assert_close(rc.pro_randconv(key, x), a, rtol=1e-5, scale_atol=1e-5)
    np.testing.assert_array_equal(f(jax.random.PRNGKey(3), x), f(jax.random.PRNGKey(3), x))
    assert not np.array_equal(a, f(jax.random.key(4), x))


def test_repeats_follow_u_1_to_max_and_output_lies_in_minus_one_one():
    x = _image((8, 9, 2), 4) * 10
    keys = jax.random.split(jax.random.key(5), 400)
    repeats = np.asarray(jax.vmap(lambda k: rc.sample_pro_randconv(k, x).repeats)(keys))
    assert repeats.min() == 1 and repeats.max() == 10 and len(np.unique(repeats)) == 10
    three = np.asarray(jax.vmap(lambda k: rc.sample_pro_randconv(k, x, max_repeats=3).repeats)(keys))
    assert set(np.unique(three)) == {1, 2, 3}
    out = np.asarray(jax.jit(jax.vmap(rc.pro_randconv, in_axes=(0, None)))(keys[:4], x))
    assert np.all(np.abs(out) <= 1.0) and out.std() > 0.1


def test_sampled_laws():
    x = jax.ShapeDtypeStruct((8, 8, 3), jnp.float32)
    keys = jax.random.split(jax.random.key(6), 300)
    p = jax.vmap(lambda k: rc.sample_pro_randconv(k, x))(keys)
    w = np.asarray(p.weights)
    assert w.shape == (300, 3, 3, 3, 3)
    assert abs(w.std() - 1 / np.sqrt(27)) < 0.01 and abs(w.mean()) < 0.01
    for values, lo, hi in ((p.sigma_g, 0.01, 1.0), (p.offset_sigma, 0.01, 0.5)):
        v = np.asarray(values)
        assert v.min() >= lo and v.max() <= hi and abs(v.mean() - (lo + hi) / 2) < 0.05
    assert abs(np.asarray(p.gamma).std() - 0.5) < 0.05 and abs(np.asarray(p.beta).std() - 0.5) < 0.05
    one = rc.sample_pro_randconv(jax.random.key(7), x)
    offsets = np.asarray(rc.pro_randconv_offsets(one, (8, 8)))
    assert offsets.shape == (8, 8, 9, 2)
    assert abs(offsets.std() / float(one.offset_sigma) - 1) < 0.1


def test_gaussian_window_with_huge_sigma_is_the_plain_kernel():
    x = _image((7, 8, 2), 8)
    params = rc.sample_pro_randconv(jax.random.key(9), x)
    wide = dataclasses.replace(params, sigma_g=jnp.float32(1e6))
    np.testing.assert_allclose(np.asarray(wide.kernel), np.asarray(params.weights), rtol=1e-6)
    window = np.asarray(rc._pro_randconv.gaussian_window(0.5, 2))
    np.testing.assert_allclose(window, np.exp(-(np.add.outer([1, 0, 1], [1, 0, 1])) / 0.5), rtol=1e-6)
    # With zero offsets and a flat window one repeat is: standardize(conv(x, weights)), affine, tanh.
    flat = dataclasses.replace(wide, offset_sigma=jnp.float32(0.0), repeats=jnp.int32(1))
    z = oracle.correlate_same(x, np.asarray(params.weights))
    z = (z - z.mean(axis=(0, 1))) / (z.std(axis=(0, 1)) + 1e-5)
    want = np.tanh(np.asarray(params.gamma) * z + np.asarray(params.beta))
    oracle.assert_close(rc.apply_pro_randconv(x, flat), want, rtol=1e-4, scale_atol=1e-4)


def test_smoothed_offsets_are_smooth_and_keep_their_std():
    x = jax.ShapeDtypeStruct((32, 32, 1), jnp.float32)
    params = rc.sample_pro_randconv(jax.random.key(10), x, offset_smoothing=4.0)
    offsets = np.asarray(rc.pro_randconv_offsets(params, (32, 32)))
    assert abs(np.sqrt(np.mean(offsets**2)) / float(params.offset_sigma) - 1) < 0.2
    rough = np.abs(np.diff(offsets, axis=0)).mean() / offsets.std()
    assert rough < 0.3  # white noise gives ~1.13
    out = jax.jit(rc.apply_pro_randconv)(_image((32, 32, 1), 11), params)
    assert np.all(np.abs(np.asarray(out)) <= 1)


def test_new_key_and_new_repeats_do_not_retrace_and_per_batch_is_shared():
    aug = presets.pro_randconv()
    x = _image((9, 10, 2), 12)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def f(key, image):
        return aug(key, image)

    try:
        outs = [f(jax.random.key(s), x) for s in range(3)]
    finally:
        chex.clear_trace_counter()
    assert not np.array_equal(outs[0], outs[1])
    batch = jnp.stack([x, x, x])
    shared = np.asarray(jax.jit(presets.for_batches("pro_randconv", sharing="batch_mode"))(jax.random.key(13), batch))
    np.testing.assert_array_equal(shared[1], shared[0])
    # As the reproductions: one block per batch, offsets per image (so identical images differ).
    source = presets.for_batches("pro_randconv")
    params = source.sample(jax.random.key(13), batch)
    assert params.weights.shape == (3, 3, 2, 2) and params.offset_key.shape[0] == 3
    per_image_offsets = np.asarray(jax.jit(source.apply)(batch, params))
    assert not np.allclose(per_image_offsets[0], per_image_offsets[1])
    per_sample = np.asarray(jax.jit(rc.batched(aug, mode="per_sample"))(jax.random.key(13), batch))
    assert not np.allclose(per_sample[0], per_sample[1])
    assert presets.BATCH_MODE["pro_randconv"] == "per_batch"


def test_pmap_matches_vmap():
    xs = _image((8, 6, 7, 2), 14)
    keys = jax.random.split(jax.random.key(15), 8)
    aug = presets.pro_randconv(max_repeats=3)
    oracle.assert_close(jax.pmap(aug)(keys, xs), jax.jit(jax.vmap(aug))(keys, xs), rtol=1e-5, scale_atol=1e-5)


def test_mask_keeps_background_and_stats_come_from_foreground():
    x = _image((8, 9, 2), 16)
    mask = np.zeros((8, 9), bool)
    mask[2:6, 2:7] = True
    out = np.asarray(rc.pro_randconv(jax.random.key(17), x, mask=mask))
    np.testing.assert_array_equal(out[~mask], np.asarray(x)[~mask])
    assert np.all(np.abs(out[mask]) <= 1)


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16], ids=["bfloat16", "float16"])
def test_dtype_is_kept(dtype):
    x = _image((6, 7, 2), 18)
    out = jax.jit(rc.pro_randconv)(jax.random.key(19), x.astype(dtype))
    assert out.dtype == dtype
    want = jax.jit(rc.pro_randconv)(jax.random.key(19), x.astype(dtype).astype(jnp.float32))
    np.testing.assert_allclose(np.asarray(out, np.float32), np.asarray(want.astype(dtype), np.float32), atol=1e-2)


def test_bad_input():
    key = jax.random.key(0)
    with pytest.raises(TypeError, match=r"image must have a floating-point dtype"):
        rc.pro_randconv(key, jnp.ones((5, 6, 2), jnp.int32))
    with pytest.raises(ValueError, match=r"image must be one unbatched"):
        rc.pro_randconv(key, jnp.ones((5, 6)))
    with pytest.raises(ValueError, match=r"max_repeats must be a positive int"):
        rc.sample_pro_randconv(key, jnp.ones((5, 6, 2)), max_repeats=0)
    with pytest.raises(ValueError, match=r"offset_smoothing"):
        rc.sample_pro_randconv(key, jnp.ones((5, 6, 2)), offset_smoothing=-1.0)
    params = rc.sample_pro_randconv(key, jnp.ones((5, 6, 2)))
    with pytest.raises(ValueError, match=r"params.weights has shape"):
        rc.apply_pro_randconv(jnp.ones((5, 6, 3)), params)
    with pytest.raises(ValueError, match=r"mask must have the image's spatial shape"):
        rc.apply_pro_randconv(jnp.ones((5, 6, 2)), params, mask=jnp.ones((4, 6)))
