"""Segmentation metrics for MS lesion masks (host side, NumPy/SciPy).

All functions take **binary masks of any rank** (2D slices or 3D volumes), as NumPy arrays (or anything exposing
``__array__``, e.g. a ``jax.Array``) of dtype ``bool`` or an integer dtype holding only 0 and 1. Float arrays are
rejected on purpose: threshold probabilities first (``prob > 0.35`` in the Shifts 2022 MS baseline). Shape
mismatches, non-binary values and wrong types raise ``ValueError`` naming the offending argument.

Metrics
-------
* :func:`dice` -- voxel Dice, with an explicit convention for the both-empty case.
* :func:`ndsc` -- normalized Dice of the Shifts 2022 MS challenge (Raina, Molchanova et al., 2023).
* :func:`lesion_detection` / :func:`lesion_f1` -- lesion-wise (connected component) detection counts, F1, TPR, PPV
  with the Shifts matching rule (IoU threshold), explicit connectivity and minimum lesion size.
* :func:`remove_small_lesions` -- the usual post-processing (drop tiny connected components).
* :func:`case_metrics` -- all metrics of one case as one row (aggregated by :mod:`train.report.summaries`).

Empty-case conventions (see each docstring): Dice returns ``empty`` (default 1.0) when both masks are empty; nDSC
returns 1.0 then; lesion F1 returns 1.0 when neither mask has a lesion; lesion TPR is NaN without GT lesions and
lesion PPV is NaN without predicted lesions (undefined ratios, skipped by ``nanmean`` in
:func:`train.report.summaries.summarize`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import ndimage

__all__ = [
    "case_metrics",
    "dice",
    "lesion_detection",
    "lesion_f1",
    "ndsc",
    "remove_small_lesions",
]

# Defaults of the Shifts 2022 MS evaluation script (module constants, not state).
DEFAULT_IOU_THRESHOLD = 0.5
DEFAULT_CONNECTIVITY = 1
DEFAULT_MIN_SIZE = 10
DEFAULT_NDSC_R = 0.001


# ---------------------------------------------------------------------------------------------------- validation


def _as_mask(x: Any, name: str) -> np.ndarray:
    """Validate one binary mask and return it as a ``bool`` array (same shape, a view/copy of ``x``)."""
    if isinstance(x, np.ndarray):
        arr = x
    elif hasattr(x, "__array__") and not isinstance(x, str | bytes):
        arr = np.asarray(x)
    else:
        raise ValueError(
            f"{name} must be an array (numpy.ndarray or array-like with __array__), got {type(x).__name__}"
        )
    if arr.ndim < 1:
        raise ValueError(f"{name} must have at least one dimension, got a 0-d array")
    if arr.dtype == np.bool_:
        return arr
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(
            f"{name} must be a binary mask of dtype bool or an integer dtype with values in {{0, 1}}, got dtype "
            f"{arr.dtype}; threshold probabilities first (e.g. prob > 0.5) or cast exact 0/1 floats with .astype(bool)"
        )
    if arr.size and (arr.min() < 0 or arr.max() > 1):
        bad = np.unique(arr[(arr != 0) & (arr != 1)])[:5]
        raise ValueError(f"{name} must be binary (values in {{0, 1}}), found values such as {bad.tolist()}")
    return arr.astype(bool)


def _pair(pred: Any, target: Any) -> tuple[np.ndarray, np.ndarray]:
    p = _as_mask(pred, "pred")
    g = _as_mask(target, "target")
    if p.shape != g.shape:
        raise ValueError(f"pred and target must have the same shape, got pred {p.shape} and target {g.shape}")
    return p, g


def _check_connectivity(connectivity: int, ndim: int) -> None:
    if isinstance(connectivity, bool) or not isinstance(connectivity, int | np.integer):
        raise ValueError(f"connectivity must be an int in [1, {ndim}], got {connectivity!r}")
    if not 1 <= connectivity <= ndim:
        raise ValueError(f"connectivity must be in [1, {ndim}] for {ndim}-D masks, got {connectivity}")


def _check_min_size(min_size: int) -> None:
    if isinstance(min_size, bool) or not isinstance(min_size, int | np.integer) or min_size < 1:
        raise ValueError(f"min_size must be an int >= 1 (1 keeps every component), got {min_size!r}")


# ---------------------------------------------------------------------------------------------------- voxel metrics


def dice(pred: Any, target: Any, *, empty: float = 1.0) -> float:
    """Voxel Dice coefficient ``2TP / (2TP + FP + FN)`` of two binary masks.

    Args:
      pred: predicted mask, any shape, ``bool`` or integer 0/1.
      target: ground-truth mask, same shape as ``pred``.
      empty: value returned when both masks are empty (``TP + FP + FN = 0``). Default 1.0.

    Returns:
      Dice as a Python ``float`` in [0, 1] (or ``empty``).

    Conventions for empty masks differ between tools; pick one and report it:

    ================================  ======================  ==========================
    source                            GT empty, pred empty    GT empty, pred non-empty
    ================================  ======================  ==========================
    Shifts 2022 ``dice_metric``       1.0 (``empty=1.0``)     0.0
    nnU-Net v2 evaluation             NaN (``empty=nan``)     0.0
    MONAI ``DiceMetric`` (default     NaN                     NaN (any prediction)
    ``ignore_empty=True``)
    ================================  ======================  ==========================

    This function follows Shifts by default and nnU-Net with ``empty=float("nan")``; the MONAI behaviour (NaN for
    every empty-GT case) is not offered because it hides false positives on lesion-free scans.
    """
    p, g = _pair(pred, target)
    tp = int(np.count_nonzero(p & g))
    fp = int(np.count_nonzero(p)) - tp
    fn = int(np.count_nonzero(g)) - tp
    denom = 2 * tp + fp + fn
    if denom == 0:
        return float(empty)
    return 2.0 * tp / denom


def ndsc(pred: Any, target: Any, *, r: float = DEFAULT_NDSC_R) -> float:
    """Normalized Dice (nDSC) of the Shifts 2022 MS challenge.

    With ``G = target``, ``P = pred``, ``N`` the number of voxels of the arrays passed in, and reference lesion load
    ``r`` (default 0.001 = 0.1 %)::

        k    = (1 - r) |G| / (r (N - |G|))      (k = 1 if |G| = 0)
        nDSC = 2 TP / (2 TP + k FP + FN)        (1.0 if |P| + |G| = 0)

    ``k`` rescales the false positives as if every scan had lesion load ``r``, removing Dice's dependence on lesion
    load; nDSC equals Dice when ``|G| / N = r`` (then ``k = 1``). An empty target with a non-empty prediction gives 0.
    If ``G`` fills the whole array there can be no false positive and ``k FP`` is taken as 0.

    Note: ``N`` is the size of the array you pass, so cropping or masking the volume changes nDSC. Shifts reports it
    on the full (1 mm isotropic) volume after thresholding and small-lesion removal.

    Args:
      pred: predicted mask, any shape, ``bool`` or integer 0/1.
      target: ground-truth mask, same shape as ``pred``.
      r: reference lesion load, 0 < r < 1. Default 0.001 (Shifts).

    Returns:
      nDSC as a Python ``float`` in [0, 1].
    """
    if not (isinstance(r, int | float | np.floating) and 0.0 < float(r) < 1.0):
        raise ValueError(f"r must be a float in (0, 1), got {r!r}")
    p, g = _pair(pred, target)
    n = p.size
    n_g = int(np.count_nonzero(g))
    n_p = int(np.count_nonzero(p))
    if n_p + n_g == 0:
        return 1.0
    tp = int(np.count_nonzero(p & g))
    fp = n_p - tp
    fn = n_g - tp
    if fp == 0:
        k_fp = 0.0
    else:
        k = 1.0 if n_g == 0 else (1.0 - r) * n_g / (r * (n - n_g))
        k_fp = k * fp
    denom = 2.0 * tp + k_fp + fn
    return 2.0 * tp / denom if denom > 0 else 0.0


# ---------------------------------------------------------------------------------------------------- lesion metrics


def _components(mask: np.ndarray, connectivity: int, min_size: int) -> tuple[np.ndarray, int, np.ndarray]:
    """Label connected components and drop those with fewer than ``min_size`` voxels.

    Returns ``(labels, n, sizes)``: ``labels`` int array (0 = background, 1..n consecutive), ``sizes`` of shape
    ``(n + 1,)`` with ``sizes[0]`` the background count.
    """
    structure = ndimage.generate_binary_structure(mask.ndim, connectivity)
    labels, n = ndimage.label(mask, structure=structure)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    if min_size > 1 and n:
        keep = sizes >= min_size
        keep[0] = False
        new_id = np.zeros(n + 1, dtype=labels.dtype)
        n = int(np.count_nonzero(keep))
        new_id[keep] = np.arange(1, n + 1, dtype=labels.dtype)
        labels = new_id[labels]
        sizes = np.bincount(labels.ravel(), minlength=n + 1)
    return labels, n, sizes


def remove_small_lesions(
    mask: Any, *, min_size: int = DEFAULT_MIN_SIZE, connectivity: int = DEFAULT_CONNECTIVITY
) -> np.ndarray:
    """Remove connected components with fewer than ``min_size`` voxels.

    The Shifts 2022 MS baseline removes components of at most 9 voxels (it keeps components with more than
    ``l_min = 9`` voxels), i.e. it keeps ``>= 10`` voxels: ``min_size=10`` here (10 mm^3 at 1 mm isotropic).

    Args:
      mask: binary mask, any rank, ``bool`` or integer 0/1.
      min_size: smallest component size (voxels) that is kept. Default 10. ``1`` keeps everything.
      connectivity: ``scipy.ndimage.generate_binary_structure`` connectivity, 1..ndim; 1 (default) = faces only
        (6-neighbourhood in 3D, 4 in 2D, SciPy's and Shifts' default), 2 = 18-neighbourhood, 3 = 26-neighbourhood.

    Returns:
      ``bool`` array of the same shape.
    """
    m = _as_mask(mask, "mask")
    _check_connectivity(connectivity, m.ndim)
    _check_min_size(min_size)
    labels, _, _ = _components(m, connectivity, min_size)
    return labels > 0


def lesion_detection(
    pred: Any,
    target: Any,
    *,
    iou_threshold: float = DEFAULT_IOU_THRESHOLD,
    connectivity: int = DEFAULT_CONNECTIVITY,
    min_size: int = DEFAULT_MIN_SIZE,
) -> dict[str, float]:
    """Lesion-wise detection counts and F1 / TPR / PPV (Shifts 2022 matching rule).

    Lesions are the connected components of each mask (``scipy.ndimage.label`` with
    ``generate_binary_structure(ndim, connectivity)``); components with fewer than ``min_size`` voxels are removed
    from **both** masks before matching. Then, with IoU computed between every overlapping (predicted, GT) pair:

    * a predicted lesion is a **TP** if its largest IoU with the GT lesions it overlaps is ``>= iou_threshold``,
      otherwise an **FP**;
    * a GT lesion is an **FN** if its largest IoU with the predicted lesions it overlaps is ``< iou_threshold``;
      otherwise it is *detected*.

    TP and FP count predicted lesions, FN counts GT lesions, so a GT lesion split into two predicted pieces that each
    have IoU < threshold gives 2 FP + 1 FN. Derived scores:

    * ``f1  = TP / (TP + (FP + FN) / 2)``; **1.0** when neither mask has a lesion (Shifts).
    * ``tpr = n_gt_detected / n_gt = 1 - FN / n_gt`` (lesion-wise sensitivity); **NaN** when there is no GT lesion.
    * ``ppv = TP / n_pred`` (lesion-wise precision); **NaN** when there is no predicted lesion.

    For ``iou_threshold >= 0.5`` matches are one-to-one, so ``TP = n_gt_detected`` and F1 is the harmonic mean of TPR
    and PPV; for lower thresholds (several pieces can match one lesion) it need not be.

    Defaults follow the Shifts evaluation script (``iou_threshold=0.5``; the Shifts function's own default is 0.25),
    6-connectivity in 3D (SciPy's default structure; later code by the same authors uses 18-connectivity, i.e.
    ``connectivity=2``) and ``min_size=10`` (Shifts post-processing keeps components of more than 9 voxels).

    Args:
      pred: predicted mask, any rank, ``bool`` or integer 0/1.
      target: ground-truth mask, same shape.
      iou_threshold: IoU needed for a match, in (0, 1]. Default 0.5.
      connectivity: 1..ndim (1 = 6-, 2 = 18-, 3 = 26-neighbourhood in 3D). Default 1.
      min_size: components smaller than this (voxels) are ignored in both masks. Default 10; 1 keeps all.

    Returns:
      dict with int counts ``n_pred``, ``n_gt``, ``tp``, ``fp``, ``fn``, ``n_gt_detected`` and float ``f1``, ``tpr``,
      ``ppv``.
    """
    if not (isinstance(iou_threshold, int | float | np.floating) and 0.0 < float(iou_threshold) <= 1.0):
        raise ValueError(f"iou_threshold must be a float in (0, 1], got {iou_threshold!r}")
    p, g = _pair(pred, target)
    _check_connectivity(connectivity, p.ndim)
    _check_min_size(min_size)

    lp, n_pred, size_p = _components(p, connectivity, min_size)
    lg, n_gt, size_g = _components(g, connectivity, min_size)

    # Sparse contingency table over the overlap voxels only: (pred label, gt label) -> intersection size.
    both = (lp > 0) & (lg > 0)
    codes = lp[both].astype(np.int64) * (n_gt + 1) + lg[both].astype(np.int64)
    pair_codes, inter = np.unique(codes, return_counts=True)
    pi = pair_codes // (n_gt + 1)
    gi = pair_codes % (n_gt + 1)
    iou = inter / (size_p[pi] + size_g[gi] - inter)

    best_p = np.zeros(n_pred + 1)
    best_g = np.zeros(n_gt + 1)
    np.maximum.at(best_p, pi, iou)
    np.maximum.at(best_g, gi, iou)

    tp = int(np.count_nonzero(best_p[1:] >= iou_threshold))
    fp = n_pred - tp
    n_gt_detected = int(np.count_nonzero(best_g[1:] >= iou_threshold))
    fn = n_gt - n_gt_detected

    f1 = 1.0 if n_pred + n_gt == 0 else tp / (tp + 0.5 * (fp + fn))
    tpr = n_gt_detected / n_gt if n_gt else math.nan
    ppv = tp / n_pred if n_pred else math.nan
    return {
        "n_pred": int(n_pred),
        "n_gt": int(n_gt),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "n_gt_detected": n_gt_detected,
        "f1": float(f1),
        "tpr": float(tpr),
        "ppv": float(ppv),
    }


def lesion_f1(
    pred: Any,
    target: Any,
    *,
    iou_threshold: float = DEFAULT_IOU_THRESHOLD,
    connectivity: int = DEFAULT_CONNECTIVITY,
    min_size: int = DEFAULT_MIN_SIZE,
) -> float:
    """Lesion-wise F1 (Shifts 2022); the ``"f1"`` entry of :func:`lesion_detection` with the same arguments."""
    det = lesion_detection(pred, target, iou_threshold=iou_threshold, connectivity=connectivity, min_size=min_size)
    return det["f1"]


def case_metrics(
    pred: Any,
    target: Any,
    *,
    dice_empty: float = 1.0,
    r: float = DEFAULT_NDSC_R,
    iou_threshold: float = DEFAULT_IOU_THRESHOLD,
    connectivity: int = DEFAULT_CONNECTIVITY,
    min_size: int = DEFAULT_MIN_SIZE,
    postprocess: bool = False,
    voxel_volume: float = 1.0,
) -> dict[str, float]:
    """All metrics of one case as a flat ``dict[str, float]`` (one row for :func:`summarize`).

    Voxel metrics (Dice, nDSC, volumes) use the masks as given; lesion metrics ignore components smaller than
    ``min_size`` in both masks (see :func:`lesion_detection`). With ``postprocess=True`` the prediction is first
    passed through :func:`remove_small_lesions` (``min_size``, ``connectivity``), as in the Shifts pipeline where
    small-lesion removal precedes every metric.

    Args:
      pred, target: binary masks of the same shape (``bool`` or integer 0/1).
      dice_empty: Dice value when both masks are empty (1.0 Shifts, NaN nnU-Net). Default 1.0.
      r: nDSC reference lesion load. Default 0.001.
      iou_threshold, connectivity, min_size: lesion matching parameters (defaults 0.5, 1, 10).
      postprocess: remove small components from ``pred`` before all metrics. Default False.
      voxel_volume: volume of one voxel (e.g. mm^3), used for ``vol_pred`` / ``vol_gt``. Default 1.0 (voxels).

    Returns:
      ``dice``, ``ndsc``, ``lesion_f1``, ``lesion_tpr``, ``lesion_ppv``, ``n_lesions_pred``, ``n_lesions_gt``,
      ``lesion_tp``, ``lesion_fp``, ``lesion_fn``, ``vol_pred``, ``vol_gt`` (all Python floats).
    """
    p, g = _pair(pred, target)
    if postprocess:
        p = remove_small_lesions(p, min_size=min_size, connectivity=connectivity)
    det = lesion_detection(p, g, iou_threshold=iou_threshold, connectivity=connectivity, min_size=min_size)
    return {
        "dice": dice(p, g, empty=dice_empty),
        "ndsc": ndsc(p, g, r=r),
        "lesion_f1": det["f1"],
        "lesion_tpr": det["tpr"],
        "lesion_ppv": det["ppv"],
        "n_lesions_pred": float(det["n_pred"]),
        "n_lesions_gt": float(det["n_gt"]),
        "lesion_tp": float(det["tp"]),
        "lesion_fp": float(det["fp"]),
        "lesion_fn": float(det["fn"]),
        "vol_pred": float(np.count_nonzero(p)) * float(voxel_volume),
        "vol_gt": float(np.count_nonzero(g)) * float(voxel_volume),
    }
