"""Tests of the MS-lesion metrics on hand-made masks and against direct (loop-based) oracles."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import pytest
from scipy import ndimage

from train.report.metrics import (
    case_metrics,
    dice,
    lesion_detection,
    lesion_f1,
    ndsc,
    remove_small_lesions,
)

SHAPE = (16, 16, 16)


def _box(*slices, shape=SHAPE):
    m = np.zeros(shape, bool)
    m[slices] = True
    return m


# ------------------------------------------------------------------ empty masks


def test_both_empty():
    e = np.zeros(SHAPE, bool)
    assert dice(e, e) == 1.0
    assert math.isnan(dice(e, e, empty=float("nan")))
    assert ndsc(e, e) == 1.0
    det = lesion_detection(e, e)
    assert det["f1"] == 1.0 and det["n_pred"] == det["n_gt"] == 0
    assert math.isnan(det["tpr"]) and math.isnan(det["ppv"])


def test_pred_only_and_target_only():
    e = np.zeros(SHAPE, bool)
    m = _box(slice(2, 6), slice(2, 6), slice(2, 6))
    for p, g in [(m, e), (e, m)]:
        assert dice(p, g) == 0.0 and dice(p, g, empty=float("nan")) == 0.0
        assert ndsc(p, g) == 0.0
        assert lesion_f1(p, g) == 0.0
    d = lesion_detection(m, e)
    assert (d["tp"], d["fp"], d["fn"], d["ppv"]) == (0, 1, 0, 0.0) and math.isnan(d["tpr"])
    d = lesion_detection(e, m)
    assert (d["tp"], d["fp"], d["fn"], d["tpr"]) == (0, 0, 1, 0.0) and math.isnan(d["ppv"])


# ------------------------------------------------------------------ one lesion


def test_one_lesion_exact_match():
    m = _box(slice(2, 6), slice(2, 6), slice(2, 6))
    assert dice(m, m) == 1.0 and ndsc(m, m) == 1.0
    d = lesion_detection(m, m.astype(np.uint8))
    assert (d["n_pred"], d["n_gt"], d["tp"], d["fp"], d["fn"]) == (1, 1, 1, 0, 0)
    assert d["f1"] == d["tpr"] == d["ppv"] == 1.0


@pytest.mark.parametrize(
    ("shift", "iou", "threshold", "matched"),
    [
        (1, 48 / 80, 0.5, True),
        (1, 48 / 80, 0.6, True),
        (1, 48 / 80, 0.61, False),
        (2, 32 / 96, 0.5, False),
        (2, 32 / 96, 0.25, True),
    ],
)
def test_one_lesion_partial_overlap(shift, iou, threshold, matched):
    g = _box(slice(2, 6), slice(2, 6), slice(2, 6))  # 64 voxels
    p = _box(slice(2 + shift, 6 + shift), slice(2, 6), slice(2, 6))
    inter = 16 * (4 - shift)
    assert dice(p, g) == pytest.approx(2 * inter / 128)
    assert inter / (128 - inter) == pytest.approx(iou)
    d = lesion_detection(p, g, iou_threshold=threshold)
    if matched:
        assert (d["tp"], d["fp"], d["fn"], d["f1"]) == (1, 0, 0, 1.0)
    else:
        assert (d["tp"], d["fp"], d["fn"], d["f1"]) == (0, 1, 1, 0.0)


# ------------------------------------------------------------------ connectivity, min size, split lesions


def test_corner_touching_lesions_depend_on_connectivity():
    a = _box(slice(0, 3), slice(0, 3), slice(0, 3))  # 27 voxels
    b = _box(slice(3, 6), slice(3, 6), slice(3, 6))  # touches a only at a corner
    g = a | b
    for conn, n_gt in [(1, 2), (2, 2), (3, 1)]:
        assert lesion_detection(g, g, connectivity=conn)["n_gt"] == n_gt
    # Predict only a: under 6-connectivity one of two GT lesions is found; under 26 the single GT lesion has IoU
    # 27/54 = 0.5, which meets the threshold (>=).
    d6 = lesion_detection(a, g, connectivity=1)
    assert (d6["tp"], d6["fp"], d6["fn"]) == (1, 0, 1)
    assert d6["f1"] == pytest.approx(2 / 3) and d6["tpr"] == 0.5 and d6["ppv"] == 1.0
    d26 = lesion_detection(a, g, connectivity=3)
    assert (d26["tp"], d26["fp"], d26["fn"], d26["f1"]) == (1, 0, 0, 1.0)
    assert lesion_f1(a, g, connectivity=3, iou_threshold=0.51) == 0.0


def test_edge_touching_lesions_connected_under_18():
    g = _box(slice(0, 3), slice(0, 3), slice(0, 3)) | _box(slice(3, 6), slice(3, 6), slice(0, 3))
    assert [lesion_detection(g, g, connectivity=c)["n_gt"] for c in (1, 2, 3)] == [2, 1, 1]


def test_small_lesions_removed():
    big = _box(slice(0, 2), slice(0, 5), slice(0, 1))  # 10 voxels: kept
    small = _box(slice(8, 11), slice(8, 11), slice(8, 9))  # 9 voxels: removed
    m = big | small
    np.testing.assert_array_equal(remove_small_lesions(m), big)
    np.testing.assert_array_equal(remove_small_lesions(m, min_size=11), np.zeros(SHAPE, bool))
    np.testing.assert_array_equal(remove_small_lesions(m, min_size=1), m)
    # Removed from both masks before matching: a 9-voxel FP and a 9-voxel FN do not count.
    d = lesion_detection(m, big | _box(slice(12, 15), slice(12, 15), slice(0, 1)))
    assert (d["n_pred"], d["n_gt"], d["tp"], d["fp"], d["fn"]) == (1, 1, 1, 0, 0)
    assert lesion_detection(m, big, min_size=1)["fp"] == 1
    # A 9-voxel diagonal line is one lesion only under 26-connectivity.
    diag = np.zeros(SHAPE, bool)
    diag[np.arange(12), np.arange(12), np.arange(12)] = True
    assert remove_small_lesions(diag, connectivity=3).sum() == 12
    assert remove_small_lesions(diag, connectivity=1).sum() == 0


def test_split_lesion_gives_two_fp_and_one_fn():
    g = _box(slice(2, 8), slice(2, 6), slice(2, 6))  # 96 voxels
    p = _box(slice(2, 4), slice(2, 6), slice(2, 6)) | _box(slice(6, 8), slice(2, 6), slice(2, 6))  # 2 x 32, IoU 1/3
    d = lesion_detection(p, g, iou_threshold=0.5)
    assert (d["n_pred"], d["n_gt"], d["tp"], d["fp"], d["fn"], d["f1"]) == (2, 1, 0, 2, 1, 0.0)
    d = lesion_detection(p, g, iou_threshold=0.25)  # the Shifts function default
    assert (d["tp"], d["fp"], d["fn"], d["n_gt_detected"], d["f1"]) == (2, 0, 0, 1, 1.0)


def _oracle_detection(p, g, tau, conn, min_size):
    """Loop-over-lesions oracle: IoU of every (pred, gt) component pair from explicit masks."""
    st = ndimage.generate_binary_structure(p.ndim, conn)
    lp, n_p = ndimage.label(p, st)
    lg, n_g = ndimage.label(g, st)
    preds = [lp == i for i in range(1, n_p + 1) if (lp == i).sum() >= min_size]
    gts = [lg == j for j in range(1, n_g + 1) if (lg == j).sum() >= min_size]

    def best(a, others):
        ious = [(a & b).sum() / (a | b).sum() for b in others if (a & b).any()]
        return max(ious, default=0.0)

    tp = sum(best(a, gts) >= tau for a in preds)
    fn = sum(best(b, preds) < tau for b in gts)
    fp = len(preds) - tp
    f1 = 1.0 if not preds and not gts else tp / (tp + 0.5 * (fp + fn))
    return len(preds), len(gts), tp, fp, fn, f1


@pytest.mark.parametrize("seed", range(4))
def test_lesion_detection_matches_loop_oracle(seed):
    rng = np.random.default_rng(seed)
    shape = (20, 20, 20)
    g = ndimage.binary_dilation(rng.random(shape) < 0.003, iterations=2)
    # Prediction: GT with holes, plus small spurious blobs, shifted by one voxel for odd seeds.
    p = (g & (rng.random(shape) < 0.85)) | ndimage.binary_dilation(rng.random(shape) < 0.002, iterations=1)
    p = np.roll(p, seed % 2, axis=0)
    for tau, conn, min_size in [(0.5, 1, 10), (0.25, 2, 1), (0.1, 3, 5)]:
        d = lesion_detection(p, g, iou_threshold=tau, connectivity=conn, min_size=min_size)
        got = (d["n_pred"], d["n_gt"], d["tp"], d["fp"], d["fn"])
        expected = _oracle_detection(p, g, tau, conn, min_size)
        assert got == expected[:5]
        assert d["f1"] == pytest.approx(expected[5])


def test_lesion_metrics_2d():
    g = np.zeros((12, 12), bool)
    g[1:5, 1:5] = True
    g[5:9, 5:9] = True  # corner-touching squares: 2 lesions with connectivity 1, 1 with 2
    assert lesion_detection(g, g)["n_gt"] == 2
    assert lesion_detection(g, g, connectivity=2)["n_gt"] == 1


# ------------------------------------------------------------------ nDSC


def _ndsc_direct(p, g, r):
    p, g = p.ravel().astype(float), g.ravel().astype(float)
    if p.sum() + g.sum() == 0:
        return 1.0
    k = 1.0 if g.sum() == 0 else (1 - r) * g.sum() / (r * (len(g) - g.sum()))
    tp, fp, fn = (p * g).sum(), (p * (1 - g)).sum(), ((1 - p) * g).sum()
    return 2 * tp / (2 * tp + k * fp + fn)


@pytest.mark.parametrize("r", [0.001, 0.01, 0.1])
def test_ndsc_matches_direct_formula(r):
    rng = np.random.default_rng(3)
    for _ in range(5):
        g = rng.random(SHAPE) < rng.uniform(0.001, 0.05)
        p = (g & (rng.random(SHAPE) < 0.8)) | (rng.random(SHAPE) < 0.01)
        assert ndsc(p, g, r=r) == pytest.approx(_ndsc_direct(p, g, r), rel=1e-12)


def test_ndsc_r_dependence_and_equals_dice_at_reference_load():
    g = np.zeros((10, 10, 10), bool)
    g[0, 0, :10] = True  # |G| / N = 0.01
    p = g.copy()
    p[0, 0, :3] = False
    p[5, 5, :4] = True  # FP = 4, FN = 3, TP = 7
    assert ndsc(p, g, r=0.01) == pytest.approx(dice(p, g)) == pytest.approx(14 / 21)
    # Larger r -> smaller k -> false positives weigh less -> higher nDSC.
    values = [ndsc(p, g, r=r) for r in (0.001, 0.005, 0.01, 0.05, 0.2)]
    assert all(a < b for a, b in zip(values, values[1:], strict=False))
    # Hand value at the default r = 0.001: k = (1 - r) |G| / (r (N - |G|)).
    k = 0.999 * 10 / (0.001 * 990)
    assert ndsc(p, g) == pytest.approx(14 / (14 + 4 * k + 3))
    # Without false positives nDSC equals Dice for any r; cropping changes N, hence k.
    assert ndsc(g & p, g, r=0.3) == pytest.approx(dice(g & p, g))
    assert ndsc(p[:6], g[:6]) != pytest.approx(ndsc(p, g))
    assert ndsc(np.ones(5, bool), np.ones(5, bool)) == 1.0  # G fills the array: no FP, k*FP = 0


# ------------------------------------------------------------------ case metrics, summaries


def test_case_metrics_keys_and_postprocess():
    g = _box(slice(2, 6), slice(2, 6), slice(2, 6))
    p = g | _box(slice(10, 12), slice(10, 12), slice(10, 11))  # plus a 4-voxel blob
    m = case_metrics(p, g, voxel_volume=0.5)
    assert m["dice"] == pytest.approx(128 / 132) and m["vol_pred"] == 34.0 and m["vol_gt"] == 32.0
    assert m["lesion_f1"] == 1.0 and m["n_lesions_pred"] == 1.0  # the blob is below min_size
    m2 = case_metrics(p, g, postprocess=True)
    assert m2["dice"] == 1.0 and m2["ndsc"] == 1.0
    assert set(m) == {
        "dice",
        "ndsc",
        "lesion_f1",
        "lesion_tpr",
        "lesion_ppv",
        "n_lesions_pred",
        "n_lesions_gt",
        "lesion_tp",
        "lesion_fp",
        "lesion_fn",
        "vol_pred",
        "vol_gt",
    }
    assert all(isinstance(v, float) for v in m.values())
    assert math.isnan(case_metrics(g & False, g & False, dice_empty=float("nan"))["dice"])


# ------------------------------------------------------------------ input validation


def test_accepts_int_and_jax_masks():
    g = _box(slice(2, 6), slice(2, 6), slice(2, 6))
    assert dice(jnp.asarray(g), g.astype(np.int32)) == 1.0
    assert ndsc(g.astype(np.uint8), g) == 1.0


def test_bad_inputs():
    g = np.zeros(SHAPE, bool)
    with pytest.raises(ValueError, match="same shape"):
        dice(g, g[:-1])
    with pytest.raises(ValueError, match="pred must be binary"):
        dice(np.full(SHAPE, 2), g)
    with pytest.raises(ValueError, match="target must be a binary mask"):
        ndsc(g, g.astype(np.float32))
    with pytest.raises(ValueError, match="pred must be an array"):
        lesion_f1([[0, 1]], np.zeros((1, 2), bool))
    with pytest.raises(ValueError, match="mask must be"):
        remove_small_lesions(None)
    with pytest.raises(ValueError, match="connectivity"):
        lesion_detection(g, g, connectivity=4)
    with pytest.raises(ValueError, match="iou_threshold"):
        lesion_detection(g, g, iou_threshold=0.0)
    with pytest.raises(ValueError, match="min_size"):
        remove_small_lesions(g, min_size=0)
    with pytest.raises(ValueError, match="r must be"):
        ndsc(g, g, r=0.0)
