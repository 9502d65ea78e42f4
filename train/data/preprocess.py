"""nnU-Net-style preprocessing: crop to the foreground, per-channel z-score, optional resampling; cached.

For each case (all steps as nnU-Net's defaults for MRI):

1. Foreground mask: ``Case.mask`` (the reader's nonzero mask: union over channels of
   ``image != 0``, holes filled).
2. Per-channel z-score inside the mask (mean / std of the voxels in the mask, eps 1e-8); voxels
   outside the mask are set to exactly 0.
3. Crop to the bounding box of the mask; the box and the raw spatial shape are recorded
   (``Case.crop_box``, ``Case.raw_shape``) so that :func:`uncrop` can paste predictions back.
4. Optional resampling to ``target_spacing`` (mm per spatial axis): images with cubic splines
   (order 3), labels and mask with nearest neighbour (order 0), both on pixel-aligned grids
   (``scipy.ndimage.zoom(grid_mode=True)``); the image is re-zeroed outside the resampled mask.
   The new shape is ``round(shape * spacing / target_spacing)``; the recorded spacing is the
   exact one of that grid (``spacing * shape / new_shape``) and the affine is updated to match.

:func:`load_dataset` reads an nnU-Net raw data set and preprocesses it once: results are cached
as one ``.npz`` per case under a key made of the source files' names, sizes and modification
times and the preprocessing settings; every cache file is written atomically
(:mod:`train._io`), and the manifest is written last.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import ndimage

from train._io import atomic_write, write_json
from train.data.cases import Case
from train.data.nnunet import read_dataset

__all__ = ["PREPROCESS_VERSION", "load_dataset", "preprocess_case", "uncrop"]

log = logging.getLogger(__name__)

PREPROCESS_VERSION = 1  # bump when the preprocessing output changes, to invalidate caches
_EPS = 1e-8


def _check_target_spacing(target_spacing: Sequence[float] | None, rank: int, where: str) -> tuple[float, ...] | None:
    if target_spacing is None:
        return None
    try:
        t = tuple(float(s) for s in target_spacing)
    except TypeError as err:
        raise ValueError(f"target_spacing must be a sequence of floats, got {target_spacing!r}") from err
    if len(t) != rank or not all(np.isfinite(s) and s > 0 for s in t):
        raise ValueError(f"target_spacing must be {rank} positive numbers for {where}, got {target_spacing!r}")
    return t


def preprocess_case(case: Case, *, target_spacing: Sequence[float] | None = None) -> Case:
    """Z-score per channel inside the mask, crop to the mask's bounding box, optionally resample.

    Args:
        case: a raw case (``crop_box is None``), image ``(*spatial, C)`` float32.
        target_spacing: mm per spatial axis, or None (keep the grid).

    Returns:
        A new case: ``image`` ``(*cropped_or_resampled, C)`` float32 (0 outside the mask),
        ``label`` int32 (or None), ``mask`` bool, updated ``affine`` and ``spacing``,
        ``crop_box`` ``((start, stop), ...)`` in the raw grid and ``raw_shape``.
    """
    if case.crop_box is not None:
        raise ValueError(f"case {case.name!r} is already preprocessed (crop_box={case.crop_box})")
    rank = case.image.ndim - 1
    target = _check_target_spacing(target_spacing, rank, f"case {case.name!r}")
    mask = case.mask
    if not mask.any():
        raise ValueError(f"case {case.name!r}: empty foreground mask (all voxels zero), cannot preprocess")
    coords = np.nonzero(mask)
    box = tuple((int(c.min()), int(c.max()) + 1) for c in coords)
    sl = tuple(slice(a, b) for a, b in box)
    img = case.image[sl].astype(np.float32)
    m = mask[sl]
    out = np.zeros_like(img)
    for c in range(img.shape[-1]):
        vals = img[..., c][m].astype(np.float64)
        mean, std = vals.mean(), vals.std()
        out[..., c][m] = ((vals - mean) / max(std, _EPS)).astype(np.float32)
    label = None if case.label is None else case.label[sl].astype(np.int32)
    affine = np.asarray(case.affine, np.float64).copy()
    start = np.array([a for a, _ in box] + [0] * (3 - rank), np.float64)
    affine[:3, 3] = affine[:3, :3] @ start + affine[:3, 3]
    spacing = tuple(float(s) for s in case.spacing)
    if target is not None:
        old = np.array(m.shape)
        new = np.maximum(np.round(old * np.array(spacing) / np.array(target)).astype(int), 1)
        if tuple(new) != tuple(old):
            out, m, label = _resample(out, m, label, tuple(int(x) for x in new))
            scale = old / new
            spacing = tuple(float(s * f) for s, f in zip(spacing, scale, strict=True))
            t = np.eye(4)
            t[:rank, :rank] = np.diag(scale)
            t[:rank, 3] = 0.5 * scale - 0.5
            affine = affine @ t
    return dataclasses.replace(
        case,
        image=out,
        label=label,
        mask=m,
        affine=affine,
        spacing=spacing,
        crop_box=box,
        raw_shape=tuple(int(s) for s in case.image.shape[:-1]),
    )


def _zoom_to(x: np.ndarray, shape: tuple[int, ...], order: int) -> np.ndarray:
    factors = [n / o for n, o in zip(shape, x.shape, strict=True)]
    y = ndimage.zoom(x, factors, order=order, mode="nearest", grid_mode=True)
    if y.shape != shape:  # guard against rounding in zoom's output shape
        raise AssertionError(f"resampling produced {y.shape}, expected {shape}")
    return y


def _resample(
    image: np.ndarray, mask: np.ndarray, label: np.ndarray | None, shape: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    m = _zoom_to(mask.astype(np.uint8), shape, 0).astype(bool)
    chans = [_zoom_to(image[..., c], shape, 3) for c in range(image.shape[-1])]
    img = np.stack(chans, axis=-1).astype(np.float32) * m[..., None]
    lab = None if label is None else _zoom_to(label, shape, 0).astype(np.int32)
    return img, m, lab


def uncrop(pred: np.ndarray, case: Case) -> np.ndarray:
    """Paste a prediction on a preprocessed case's grid back onto the raw grid.

    Args:
        pred: ``(*case.spatial_shape)`` or ``(*case.spatial_shape, K)`` (e.g. labels or
            probabilities) on the cropped (and possibly resampled) grid.
        case: the preprocessed case (``crop_box`` and ``raw_shape`` set).

    Returns:
        ``(*case.raw_shape[, K])`` array of ``pred``'s dtype: resampled back to the crop box size
        if needed (nearest neighbour for integer / bool, linear for float), zero outside the box.
    """
    if case.crop_box is None or case.raw_shape is None:
        raise ValueError(f"case {case.name!r} has no crop_box / raw_shape: not a preprocessed case")
    pred = np.asarray(pred)
    dtype = pred.dtype
    spatial = case.spatial_shape
    if pred.shape[: len(spatial)] != spatial or pred.ndim not in (len(spatial), len(spatial) + 1):
        raise ValueError(f"pred shape {pred.shape} must be {spatial} or {spatial} + (K,) for case {case.name!r}")
    box_shape = tuple(b - a for a, b in case.crop_box)
    if spatial != box_shape:
        order = 1 if np.issubdtype(pred.dtype, np.floating) else 0
        if pred.ndim == len(spatial):
            pred = _zoom_to(pred.astype(np.float32) if order else pred.astype(np.int64), box_shape, order)
        else:
            pred = np.stack(
                [
                    _zoom_to(pred[..., k].astype(np.float32 if order else np.int64), box_shape, order)
                    for k in range(pred.shape[-1])
                ],
                axis=-1,
            )
    out = np.zeros(tuple(case.raw_shape) + pred.shape[len(spatial) :], dtype=dtype)
    out[tuple(slice(a, b) for a, b in case.crop_box)] = pred.astype(dtype, copy=False)
    return out


# ----------------------------------------------------------------------------- cache


def _cache_key(root: Path, split: str, target_spacing: tuple[float, ...] | None) -> str:
    files = [root / "dataset.json"]
    for sub in (f"images{split}", "labelsTr" if split == "Tr" else None):
        if sub and (root / sub).is_dir():
            files += sorted(p for p in (root / sub).iterdir() if not p.name.startswith("."))
    h = hashlib.sha256()
    h.update(json.dumps({"version": PREPROCESS_VERSION, "split": split, "target_spacing": target_spacing}).encode())
    for p in files:
        st = p.stat()
        h.update(f"{p.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:20]


def _save_case(path: Path, case: Case) -> None:
    arrays = {
        "image": case.image,
        "mask": case.mask,
        "affine": case.affine,
        "spacing": np.asarray(case.spacing, np.float64),
        "crop_box": np.asarray(case.crop_box, np.int64),
        "raw_shape": np.asarray(case.raw_shape, np.int64),
    }
    if case.label is not None:
        arrays["label"] = case.label
    atomic_write(path, lambda f: np.savez(f, **arrays))


def _load_case(path: Path, name: str, domain: str, channel_names: tuple[str, ...]) -> Case:
    with np.load(path) as z:
        return Case(
            name=name,
            image=z["image"],
            label=z["label"] if "label" in z.files else None,
            mask=z["mask"],
            affine=z["affine"],
            spacing=tuple(float(s) for s in z["spacing"]),
            domain=domain,
            channel_names=channel_names,
            crop_box=tuple((int(a), int(b)) for a, b in z["crop_box"]),
            raw_shape=tuple(int(s) for s in z["raw_shape"]),
        )


def load_dataset(
    root: str | os.PathLike,
    *,
    target_spacing: Sequence[float] | None = None,
    cache_dir: str | os.PathLike | None = None,
    split: str = "Tr",
) -> list[Case]:
    """Read an nnU-Net raw data set and preprocess it (:func:`preprocess_case`), with a disk cache.

    Args:
        root: data set folder (``dataset.json``, ``imagesTr``, ``labelsTr``).
        target_spacing: mm per spatial axis, or None (no resampling).
        cache_dir: cache folder; default ``<root>/.preprocessed`` (ignored by the reader). The
            entry ``<cache_dir>/<key>/`` is keyed on the source files (name, size, mtime), the
            split, the settings and :data:`PREPROCESS_VERSION`; a hit reads no NIfTI file. A
            damaged cache file is named in a warning and its entry rebuilt; a cache that cannot be
            written (a read-only data folder) is skipped with a warning that says to set
            ``data.cache_dir``.
        split: "Tr" or "Ts" (as :func:`~train.data.nnunet.read_dataset`).

    Returns:
        Preprocessed cases sorted by name.
    """
    root = Path(root)
    if not (root / "dataset.json").is_file():
        read_dataset(root, split=split)  # raises the reader's error naming the file
    target = None if target_spacing is None else tuple(float(s) for s in target_spacing)
    key = _cache_key(root, split, target)
    entry = Path(cache_dir) if cache_dir is not None else root / ".preprocessed"
    entry = entry / f"{split}_{key}"
    manifest = entry / "manifest.json"
    if manifest.is_file():
        cached = _load_entry(entry)
        if cached is not None:
            return cached
    cases = [preprocess_case(c, target_spacing=target) for c in read_dataset(root, split=split)]
    info = {
        "cases": [c.name for c in cases],
        "domain": cases[0].domain if cases else root.name,
        "channel_names": list(cases[0].channel_names) if cases else [],
        "target_spacing": target,
        "version": PREPROCESS_VERSION,
    }
    try:
        entry.mkdir(parents=True, exist_ok=True)
        for i, c in enumerate(cases):
            _save_case(entry / f"{i:05d}.npz", c)
        write_json(manifest, info)
    except OSError as err:  # a read-only data folder (or a full disk): train anyway, uncached
        where = "data.cache_dir" if cache_dir is not None else "the data folder"
        log.warning("cannot write the preprocessing cache in %s (%s: %s); the data set is preprocessed in memory, "
                    "again on every run. Set data.cache_dir (--config.data.cache_dir=DIR) to a writable folder to "
                    "cache it.", entry, where, err)
    return cases


def _load_entry(entry: Path) -> list[Case] | None:
    """The cached cases of ``entry``, or None (with a warning naming the file) if a file is damaged."""
    path = entry / "manifest.json"
    try:
        info = json.loads(path.read_text())
        ch = tuple(info["channel_names"])
        out = []
        for i, name in enumerate(info["cases"]):
            path = entry / f"{i:05d}.npz"
            out.append(_load_case(path, name, info["domain"], ch))
        return out
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as err:
        log.warning("preprocessing cache file %s is unreadable (%s: %s); rebuilding the cache entry %s", path,
                    type(err).__name__, err, entry)
        return None
