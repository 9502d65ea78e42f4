"""Tests of sliding-window inference against NumPy oracles written independently of the implementation."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from train.inference import gaussian_importance_map, sliding_window_inference, window_starts

# ------------------------------------------------------------------ window positions


@pytest.mark.parametrize(
    ("size", "patch", "overlap", "expected"),
    [
        (20, 8, 0.5, [0, 4, 8, 12]),  # divisible: stride 4, last window ends at 20
        (23, 8, 0.5, [0, 4, 8, 12, 15]),  # not divisible: last window moved back to 23 - 8
        (17, 8, 0.0, [0, 8, 9]),
        (182, 96, 0.25, [0, 72, 86]),  # MONAI default overlap on a 1 mm MNI axis
        (182, 96, 0.5, [0, 48, 86]),
        (8, 8, 0.5, [0]),
        (5, 8, 0.5, [0]),  # smaller than the patch: padded, one window
        (4, 1, 0.5, [0, 1, 2, 3]),  # stride int(0.5) = 0 -> 1
        (10, 3, 0.9, list(range(8))),
    ],
)
def test_window_starts_hand_values(size, patch, overlap, expected):
    np.testing.assert_array_equal(window_starts(size, patch, overlap), expected)


@pytest.mark.parametrize("overlap", [0.0, 0.25, 0.5, 0.75])
def test_window_starts_cover_and_end_at_border(overlap):
    for size, patch in itertools.product(range(1, 40, 3), (1, 2, 5, 8, 16)):
        starts = window_starts(size, patch, overlap)
        stride = max(1, int(patch * (1 - overlap)))
        assert starts[0] == 0
        assert starts[-1] == max(size - patch, 0)
        assert np.all(np.diff(starts) > 0) and np.all(np.diff(starts) <= stride)
        covered = np.zeros(max(size, patch), bool)
        for s in starts:
            covered[s : s + patch] = True
        assert covered.all()


def test_window_starts_rejects_bad_overlap():
    with pytest.raises(ValueError, match="overlap"):
        window_starts(10, 4, 1.0)


# ------------------------------------------------------------------ importance map


def test_importance_map_peak_positive_separable_sigma():
    patch = (9, 16, 7)
    w = gaussian_importance_map(patch)
    assert w.shape == patch and w.dtype == np.float32
    assert w.max() == 1.0 and np.all(w > 0)
    # Separable: the product of its 1-D profiles through the peak.
    g0, g1, g2 = w[:, 7, 3], w[4, :, 3], w[4, 7, :]
    np.testing.assert_allclose(w, np.einsum("i,j,k->ijk", g0, g1, g2), rtol=1e-6)
    # sigma = patch / 8 per axis, centred at (p - 1) / 2.
    for g, p in zip((g0, g1, g2), patch, strict=True):
        x = np.arange(p) - (p - 1) / 2
        oracle = np.exp(-(x**2) / (2 * (p / 8) ** 2))
        np.testing.assert_allclose(g, oracle / oracle.max(), rtol=1e-6)
        np.testing.assert_allclose(g, g[::-1], rtol=1e-6)  # mirror-symmetric


def test_importance_map_per_axis_sigma_and_clamps():
    w = gaussian_importance_map((11, 11), sigma_scale=(0.125, 0.25))
    x = np.arange(11) - 5.0
    np.testing.assert_allclose(w[:, 5], np.exp(-(x**2) / (2 * (11 / 8) ** 2)), rtol=1e-6)
    np.testing.assert_allclose(w[5, :], np.exp(-(x**2) / (2 * (11 / 4) ** 2)), rtol=1e-6)
    # MONAI-style lower clamp.
    assert gaussian_importance_map((32, 32), min_weight=1e-3).min() == np.float32(1e-3)
    # Underflowing (zero or subnormal) weights are replaced by the smallest normal one (nnU-Net's rule).
    tiny = gaussian_importance_map((64,), sigma_scale=0.01)
    x = np.arange(64) - 31.5
    exact = np.exp(-(x**2) / (2 * 0.64**2))
    exact = (exact / exact.max()).astype(np.float32)
    smallest_normal = exact[exact >= np.finfo(np.float32).tiny].min()
    assert tiny.min() == smallest_normal and np.count_nonzero(tiny == smallest_normal) > 2
    np.testing.assert_array_equal(tiny[exact >= smallest_normal], exact[exact >= smallest_normal])


# ------------------------------------------------------------------ sliding window


def _identity(x):
    return x


@pytest.mark.parametrize(
    ("shape", "patch", "overlap", "blend"),
    [
        ((20, 20, 2), (8, 8), 0.5, "gaussian"),  # divisible by the stride
        ((17, 23, 1), (8, 8), 0.5, "constant"),  # not divisible
        ((5, 30, 2), (8, 8), 0.25, "gaussian"),  # smaller than the patch on axis 0
        ((10, 13, 7, 1), (6, 6, 6), 0.5, "gaussian"),
        ((4, 9, 11, 2), (6, 6, 6), 0.0, "constant"),  # smaller than the patch on axis 0
        ((3, 5, 4, 1), (6, 6, 6), 0.5, "gaussian"),  # smaller on every axis
    ],
)
def test_identity_reproduces_input(shape, patch, overlap, blend):
    img = np.random.default_rng(0).random(shape, dtype=np.float32)
    out = sliding_window_inference(_identity, img, patch_size=patch, overlap=overlap, batch_size=3, blend=blend)
    assert out.shape == shape and out.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(out), img, rtol=1e-6, atol=1e-6)


def test_constant_output_other_dtype_and_batches_always_full():
    calls = []

    def predict(x):
        calls.append(x.shape)
        return jnp.full((*x.shape[:-1], 3), 2.5, dtype=jnp.bfloat16)

    out = sliding_window_inference(predict, np.zeros((23, 20, 1), np.float32), patch_size=(8, 8), batch_size=6)
    assert out.shape == (23, 20, 3) and out.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(out), 2.5, rtol=1e-6)
    # 5 x 4 = 20 windows -> 4 calls of 6 windows (the last one padded by repetition).
    assert calls == [(6, 8, 8, 1)] * 4


def test_jitted_predict_and_full_axis_patch():
    predict = jax.jit(lambda x: 2.0 * x[..., :1] + 1.0)
    img = np.random.default_rng(1).random((12, 10, 2), dtype=np.float32)
    out = sliding_window_inference(predict, img, patch_size=(5, None), overlap=0.5, batch_size=2)
    np.testing.assert_allclose(np.asarray(out), 2.0 * img[..., :1] + 1.0, rtol=1e-6, atol=1e-6)


def _oracle_blend(point, starts_per_axis, patch, value_of_window, blend):
    """Weighted average at one point, computed directly from hand-listed window starts."""
    num = den = 0.0
    for starts in itertools.product(*starts_per_axis):
        if all(s <= q < s + p for q, s, p in zip(point, starts, patch, strict=True)):
            if blend == "gaussian":
                w = 1.0
                for q, s, p in zip(point, starts, patch, strict=True):
                    w *= np.exp(-((q - s - (p - 1) / 2) ** 2) / (2 * (p / 8) ** 2))
            else:
                w = 1.0
            num += w * value_of_window(starts)
            den += w
    return num / den


@pytest.mark.parametrize("blend", ["gaussian", "constant"])
def test_per_window_constant_blending_matches_oracle(blend):
    # Channels hold the voxel coordinates; each window outputs the constant (start_y + 10 * start_x) everywhere,
    # read from its own first voxel, so the blended value exposes the blending weights.
    patch = (8, 8)
    yy, xx = np.meshgrid(np.arange(20), np.arange(23), indexing="ij")
    img = np.stack([yy, xx], -1).astype(np.float32)

    def predict(x):
        v = x[:, :1, :1, 0:1] + 10.0 * x[:, :1, :1, 1:2]
        return jnp.broadcast_to(v, (*x.shape[:-1], 1))

    out = np.asarray(sliding_window_inference(predict, img, patch_size=patch, overlap=0.5, batch_size=4, blend=blend))
    starts = ([0, 4, 8, 12], [0, 4, 8, 12, 15])
    for point in [(0, 0), (5, 5), (9, 14), (13, 16), (19, 22), (10, 3)]:
        expected = _oracle_blend(point, starts, patch, lambda s: s[0] + 10.0 * s[1], blend)
        np.testing.assert_allclose(out[point][0], expected, rtol=1e-5)


def test_3d_per_window_constant_gaussian_oracle():
    shape, patch = (10, 7, 9), (6, 4, 6)
    grids = np.meshgrid(*(np.arange(s) for s in shape), indexing="ij")
    img = np.stack(grids, -1).astype(np.float32)

    def predict(x):
        v = x[:, :1, :1, :1, 0:1] + 10.0 * x[:, :1, :1, :1, 1:2] + 100.0 * x[:, :1, :1, :1, 2:3]
        return jnp.broadcast_to(v, (*x.shape[:-1], 1))

    out = np.asarray(sliding_window_inference(predict, img, patch_size=patch, overlap=0.5, batch_size=5))
    starts = ([0, 3, 4], [0, 2, 3], [0, 3])
    for point in [(0, 0, 0), (4, 3, 4), (9, 6, 8), (5, 2, 3)]:
        expected = _oracle_blend(point, starts, patch, lambda s: s[0] + 10.0 * s[1] + 100.0 * s[2], "gaussian")
        np.testing.assert_allclose(out[point][0], expected, rtol=1e-5)


def test_bad_arguments():
    img = np.zeros((8, 8, 1), np.float32)
    with pytest.raises(ValueError, match="patch_size"):
        sliding_window_inference(_identity, img, patch_size=(4, 4, 4))
    with pytest.raises(ValueError, match="blend"):
        sliding_window_inference(_identity, img, patch_size=(4, 4), blend="mean")
    with pytest.raises(ValueError, match="predict_fn"):
        sliding_window_inference(lambda x: x[:, :2], img, patch_size=(4, 4))
    with pytest.raises(ValueError, match="batch_size"):
        sliding_window_inference(_identity, img, patch_size=(4, 4), batch_size=0)
