"""What each normalization mode preserves, checked on random-convolution outputs."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import randconv_jax as rc

SHAPES = {"2d": (12, 13, 3), "3d": (6, 7, 8, 2)}


def _image(shape, seed=0):
    rng = np.random.default_rng(seed)
    # Channels with different means and scales, so a channel-mixing bug would show.
    x = rng.standard_normal(shape) * np.arange(1, shape[-1] + 1) + 10.0 * np.arange(shape[-1])
    return x.astype(np.float32)


def _mask(spatial, seed=0):
    rng = np.random.default_rng(seed + 100)
    mask = rng.random(spatial) < 0.6
    assert mask.any() and not mask.all()
    return mask


@functools.cache
def _jitted(mode, ndim, sigma):
    # 2D: a multiscale two-layer stack; 3D: a fixed 3^3 one (taps compile time grows as k^d).
    kw = dict(kernel_size=(1, 3), depth=2, hidden_channels=4) if ndim == 3 else dict(kernel_size=3, depth=2)
    return jax.jit(lambda k, im, m: rc.random_conv(k, im, normalize=mode, mask=m, sigma=sigma, **kw))


def _run(x, mode, mask, key=0, sigma=None):
    fn = _jitted(mode, x.ndim, sigma)
    return np.asarray(fn(jax.random.key(key), jnp.asarray(x), mask), np.float64)


@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "mask"])
@pytest.mark.parametrize("dim", list(SHAPES))
def test_zscore_restore_keeps_channel_mean_and_std(dim, masked):
    shape = SHAPES[dim]
    x = _image(shape)
    mask = _mask(shape[:-1]) if masked else None
    inside = np.ones(shape[:-1], bool) if mask is None else mask
    for key in range(3):
        y = _run(x, "zscore_restore", mask, key=key)
        xi, yi = x[inside].astype(np.float64), y[inside]
        np.testing.assert_allclose(yi.mean(0), xi.mean(0), rtol=1e-5, atol=1e-5 * np.abs(xi).max())
        np.testing.assert_allclose(yi.std(0), xi.std(0), rtol=1e-5)
        if masked:
            np.testing.assert_array_equal(y[~mask], x[~mask])
        assert not np.allclose(y, x, atol=1e-2)  # it did change the image


@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "mask"])
@pytest.mark.parametrize("dim", list(SHAPES))
def test_frobenius_keeps_the_norm(dim, masked):
    shape = SHAPES[dim]
    x = _image(shape, seed=1)
    mask = _mask(shape[:-1], seed=1) if masked else None
    inside = np.ones(shape[:-1], bool) if mask is None else mask
    # With a mask the convolution sees the image zeroed outside it (the documented masked conv).
    raw = _run(x if mask is None else np.where(mask[..., None], x, 0.0).astype(x.dtype), "none", None, key=2)
    y = _run(x, "frobenius", mask, key=2)
    norm_x = np.linalg.norm(x[inside].astype(np.float64))
    norm_y = np.linalg.norm(y[inside])
    # y * ||x|| / (||y_raw|| + 1e-5): the norm is kept up to the documented 1e-5 epsilon.
    norm_raw = np.linalg.norm(raw[inside])
    np.testing.assert_allclose(norm_y, norm_x * norm_raw / (norm_raw + 1e-5), rtol=1e-5)
    np.testing.assert_allclose(norm_y, norm_x, rtol=1e-4)
    # One global scale: the output is proportional to the raw output inside.
    ratio = y[inside] / raw[inside]
    np.testing.assert_allclose(ratio, ratio.flat[0], rtol=1e-4)
    if masked:
        np.testing.assert_array_equal(y[~mask], x[~mask])


@pytest.mark.parametrize("masked", [False, True], ids=["nonzero-foreground", "mask"])
@pytest.mark.parametrize("dim", list(SHAPES))
def test_minmax_foreground_maps_foreground_to_unit_range(dim, masked):
    shape = SHAPES[dim]
    x = np.abs(_image(shape, seed=2)) + 0.1
    x[..., :2, :] = 0.0  # background strip (zero in every channel)
    mask = _mask(shape[:-1], seed=2) if masked else None
    foreground = mask if masked else np.any(x != 0, axis=-1)
    assert foreground.any() and not foreground.all()
    y = _run(x, "minmax_foreground", mask, key=3)
    fg = y[foreground]
    np.testing.assert_allclose(fg.min(axis=0), 0.0, atol=1e-6)
    np.testing.assert_allclose(fg.max(axis=0), 1.0, atol=1e-6)
    assert fg.min() >= 0.0 and fg.max() <= 1.0
    np.testing.assert_array_equal(y[~foreground], x[~foreground])


@pytest.mark.parametrize("mode", rc.NORMALIZE_MODES)
@pytest.mark.parametrize("dim", list(SHAPES))
def test_background_outside_mask_is_bitwise_the_input(dim, mode):
    shape = SHAPES[dim]
    mask = _mask(shape[:-1], seed=3)
    for dtype in (jnp.float32, jnp.bfloat16):
        x = jnp.asarray(_image(shape, seed=3), dtype)
        out = rc.random_conv(jax.random.key(4), x, kernel_size=3, normalize=mode, mask=mask)
        assert out.dtype == dtype
        got = np.asarray(out.astype(jnp.float32))
        np.testing.assert_array_equal(got[~mask], np.asarray(x.astype(jnp.float32))[~mask])


def test_clamp_to_input_range_stays_within_channel_range():
    shape = SHAPES["2d"]
    x = _image(shape, seed=4)
    y = _run(x, "clamp_to_input_range", None, key=5, sigma=3.0)  # large sigma: the clip is active
    lo, hi = x.min(axis=(0, 1)), x.max(axis=(0, 1))
    assert np.all(y >= lo) and np.all(y <= hi)
    assert np.any(y == lo) or np.any(y == hi)
