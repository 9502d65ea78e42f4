"""The MNI152 tissue templates behind the phantom's anatomy: located, derived, resampled, cached.

Source: the ICBM 2009a nonlinear symmetric MNI152 template (Fonov et al., NeuroImage 47 S102,
2009 and 54:313, 2011; Collins et al. 1999) as shipped inside the ``nilearn`` wheel
(``nilearn/datasets/data/mni_icbm152_{gm,wm,t1}_tal_nlin_sym_09a_converted.nii.gz``: grey- and
white-matter probability maps and the skull-stripped T1 template, uint8, 1 mm, 197 x 233 x 189,
RAS axes). The files are located with :func:`importlib.util.find_spec` and read with nibabel, so
nilearn itself (and its pandas / scikit-learn imports) is never imported. Licence of the
template (McConnell Brain Imaging Centre): see :data:`TEMPLATE_NOTICE`; the notice is stored in
every cache file.

Derived maps on the template's 1 mm grid (cropped to the brain plus a margin), in template index
order ``(X, Y, Z)`` = (left -> right, posterior -> anterior, inferior -> superior), MNI mm:

- ``gm``, ``wm``: the probability maps / 255; ``brain`` = max(T1 > 0, gm + wm) (the T1 template
  is skull-stripped); CSF is ``brain - gm - wm``.
- ``vent``: ventricles = connected components (faces) of CSF > 0.5 of at least 1 mL whose
  centroid lies within 20 mm of the midline and which stay within 40 mm of it (the sulcal CSF
  around the brain spans the whole width).
- ``deep``: deep grey matter = GM > 0.3 inside the WM hull (per axial slice, the holes of
  WM > 0.5 or ventricle closed with a 4 mm disk, eroded by 3 mm), within 35 mm of the midline,
  components of at least 0.2 mL (caudate, putamen, thalamus; the template's deep nuclei are
  partly WM-like, so their GM fraction stays below 1).
- ``vent_dist``: signed distance to the ventricle surface, mm (negative inside).
- ``pial_depth``: depth below the outer brain surface, mm (distance into the tissue of gm + wm >
  0.5 or ventricle; negative outside).
- ``cortex_dist``: distance to the nearest cortical GM voxel (GM > 0.5 outside ``deep``), mm.

:func:`template_maps` resamples them for a phantom voxel size: the fraction maps are averaged
over the phantom voxel's footprint in template space (block means over ``f`` mm cubes, ``f`` =
max(1, round(footprint / 2)), then a Gaussian prefilter such that block, prefilter and the
sampler's linear interpolation together have the variance of a box of the footprint's size,
skipped below 0.5 mm); the
distance maps, which are smooth, are subsampled to a grid of max(2, ``f``) mm. Cost: the
derived 1 mm maps take 15-30 s once and are cached on disk (uncompressed ``npz``, 56 MB, keyed by the
template files' content and :data:`DERIVATION_VERSION`, written atomically); the resampled maps
are kept in memory per resampling (:func:`functools.lru_cache`, a pure function of its
arguments and the files' content).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.util
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
from scipy import ndimage

from train.data.phantom.fields import signed_distance

__all__ = [
    "DERIVATION_VERSION",
    "FRACTION_MAPS",
    "DISTANCE_MAPS",
    "NOMINAL_SCALE",
    "TEMPLATE_NOTICE",
    "MapGrid",
    "TemplateMaps",
    "default_cache_dir",
    "derived_maps",
    "template_maps",
    "template_paths",
]

DERIVATION_VERSION = 2  # bump when the derivation below changes (invalidates disk caches)
FRACTION_MAPS = ("gm", "wm", "brain", "deep")
DISTANCE_MAPS = ("vent_dist", "pial_depth", "cortex_dist")
# Outside a map's grid: no tissue, far from ventricles and cortex, outside the brain.
_OUTSIDE = {"vent_dist": 100.0, "pial_depth": -100.0, "cortex_dist": 100.0}
NOMINAL_SCALE = 0.91  # mean subject size relative to the template (anatomy draws 0.86-0.96)
_FILES = {k: f"mni_icbm152_{k}_tal_nlin_sym_09a_converted.nii.gz" for k in ("gm", "wm", "t1")}
_MARGIN_VOX = 6
TEMPLATE_NOTICE = (
    "ICBM 2009a Nonlinear Symmetric MNI152 template. Copyright (C) 1993-2009 Louis Collins, McConnell "
    "Brain Imaging Centre, Montreal Neurological Institute, McGill University. Permission to use, copy, "
    "modify, and distribute this software and its documentation for any purpose and without fee is hereby "
    "granted, provided that the above copyright notice appear in all copies. The authors and McGill "
    "University make no representations about the suitability of this software for any purpose. It is "
    'provided "as is" without express or implied warranty. The authors are not responsible for any data '
    "loss, equipment damage, property loss, or injury to subjects or patients resulting from the use or "
    "misuse of the software package."
)


_PAD = 2
_BLOCK = 8  # voxels per side of the occupancy blocks


@dataclasses.dataclass(frozen=True, eq=False)
class MapGrid:
    """Maps on one regular grid in template space, index order ``(X, Y, Z)`` (read-only).

    Attributes:
        names: the map names, in the order of ``stack``.
        stack: ``(nz + 4, ny + 4, nx + 4, len(names))`` float32 (Z-major, so that an axial slice
            reads a thin contiguous slab), each map padded by 2 voxels with its value outside the
            grid (0 for fractions; 100 mm distance; -100 mm depth).
        origin_mm: ``(3,)`` MNI coordinates (mm) of the first unpadded voxel.
        spacing_mm: isotropic grid spacing in mm.
        occupied: bool per block of 8^3 voxels of ``stack``: some map differs from its outside
            value in the block or a neighbouring one (points elsewhere skip the interpolation).
    """

    names: tuple[str, ...]
    stack: np.ndarray
    origin_mm: np.ndarray
    spacing_mm: float
    occupied: np.ndarray

    @classmethod
    def from_maps(cls, maps: dict[str, np.ndarray], origin_mm: np.ndarray, spacing_mm: float) -> MapGrid:
        """Stack and pad ``maps`` (name -> ``(nx, ny, nz)``) into a grid."""
        names = tuple(maps)
        outside = np.array([_OUTSIDE.get(k, 0.0) for k in names], np.float32)
        nx, ny, nz = maps[names[0]].shape
        stack = np.empty((nz + 2 * _PAD, ny + 2 * _PAD, nx + 2 * _PAD, len(names)), np.float32)
        stack[...] = outside
        inner = (slice(_PAD, -_PAD),) * 3
        for c, k in enumerate(names):
            stack[(*inner, c)] = maps[k].T
        differs = np.any(stack != outside, axis=-1)
        differs = np.pad(differs, [(0, (-n) % _BLOCK) for n in differs.shape])
        bz, by, bx = (n // _BLOCK for n in differs.shape)
        blocks = differs.reshape(bz, _BLOCK, by, _BLOCK, bx, _BLOCK).any(axis=(1, 3, 5))
        occupied = ndimage.binary_dilation(blocks, np.ones((3, 3, 3), bool))
        origin = np.asarray(origin_mm, np.float64).copy()
        for a in (stack, origin, occupied):
            a.setflags(write=False)
        return cls(names, stack, origin, float(spacing_mm), occupied)

    def sample(self, points_mm: np.ndarray, active: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Trilinear interpolation of every map at ``points_mm`` ``(..., 3)`` MNI mm: name -> ``(...)`` float32.

        Outside the grid each map takes its outside value (points are clamped into the padding),
        and so do points in blocks of the grid where every map has its outside value
        (``occupied``), and points where ``active`` ``(...)`` bool is False.
        """
        pts = np.asarray(points_mm, np.float64)
        shape = pts.shape[:-1]
        scaled = (pts.reshape(-1, 3) - self.origin_mm) / self.spacing_mm + _PAD
        idx = scaled[:, ::-1].astype(np.float32)  # (Z, Y, X) order; float32 keeps 1e-5 voxel precision here
        size = np.array(self.stack.shape[:3])
        np.clip(idx, 0.0, (size - 1.001).astype(np.float32), out=idx)
        nb = np.array(self.occupied.shape)
        block = np.minimum((idx // _BLOCK).astype(np.intp), nb - 1) @ np.array([nb[1] * nb[2], nb[2], 1], np.intp)
        keep = np.take(self.occupied.reshape(-1), block)
        if active is not None:
            keep &= np.asarray(active, bool).reshape(-1)
        sel = np.flatnonzero(keep)
        idx = idx[sel]
        i0 = idx.astype(np.intp)  # floor: idx >= 0
        w1 = idx - i0
        w0 = 1 - w1
        strides = np.array([size[1] * size[2], size[2], 1], np.intp)
        base = i0 @ strides
        flat = self.stack.reshape(-1, len(self.names))
        acc = np.zeros((base.shape[0], len(self.names)), np.float32)
        wyx = {(by, bx): (w1 if by else w0)[:, 1] * (w1 if bx else w0)[:, 2] for by in (0, 1) for bx in (0, 1)}
        for bz in (0, 1):
            wz = (w1 if bz else w0)[:, 0]
            for (by, bx), w in wyx.items():
                values = np.take(flat, base + (bz * strides[0] + by * strides[1] + bx), axis=0)  # faster than []
                values *= (wz * w)[:, None]
                acc += values
        out = {}
        for c, k in enumerate(self.names):
            full = np.full(keep.shape[0], _OUTSIDE.get(k, 0.0), np.float32)
            full[sel] = acc[:, c]
            out[k] = full.reshape(shape)
        return out


@dataclasses.dataclass(frozen=True, eq=False)
class TemplateMaps:
    """Template maps resampled for one phantom voxel size (see the module docstring).

    Attributes:
        fractions: the fraction maps :data:`FRACTION_MAPS` (footprint-averaged).
        distances: the distance maps :data:`DISTANCE_MAPS` in template mm.
        voxel_mm: the phantom voxel size they were made for.
        key: content key of the template files and the derivation.
    """

    fractions: MapGrid
    distances: MapGrid
    voxel_mm: float
    key: str


def template_paths() -> dict[str, Path]:
    """Paths of the MNI152 GM, WM and T1 templates inside the installed nilearn package (not imported).

    Raises:
        ModuleNotFoundError: nilearn is not installed (it comes with the ``train`` extra).
        FileNotFoundError: a template file is missing from the installed package.
    """
    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "the phantom's template anatomy needs the MNI152 templates shipped with nilearn: "
            "pip install -e '.[train]' (or pass anatomy='procedural')"
        )
    root = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    paths = {k: root / name for k, name in _FILES.items()}
    for k, p in paths.items():
        if not p.is_file():
            raise FileNotFoundError(f"MNI152 {k} template not found at {p} (nilearn installation incomplete?)")
    return paths


def default_cache_dir() -> Path:
    """Disk cache folder: ``$RCJ_PHANTOM_CACHE``, else ``$XDG_CACHE_HOME/randconv_jax/phantom`` (``~/.cache``)."""
    if os.environ.get("RCJ_PHANTOM_CACHE"):
        return Path(os.environ["RCJ_PHANTOM_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "randconv_jax" / "phantom"


def _content_key(paths: dict[str, Path]) -> str:
    h = hashlib.sha256(f"derivation {DERIVATION_VERSION}".encode())
    for k in sorted(paths):
        h.update(k.encode())
        h.update(paths[k].read_bytes())
    return h.hexdigest()[:20]


def _derive(paths: dict[str, Path]) -> dict[str, np.ndarray]:
    """The derived 1 mm maps of the module docstring (compact dtypes) plus ``origin_mm``."""
    import nibabel as nib

    imgs = {k: nib.load(p) for k, p in paths.items()}
    affine = imgs["gm"].affine
    if not np.allclose(affine[:3, :3], np.eye(3)) or any(not np.allclose(i.affine, affine) for i in imgs.values()):
        raise ValueError(f"MNI152 templates: expected 1 mm RAS grids with one affine, got {affine.tolist()}")
    raw = {k: np.asarray(i.dataobj) for k, i in imgs.items()}
    gm = raw["gm"].astype(np.float32) / 255
    wm = raw["wm"].astype(np.float32) / 255
    brain = np.clip(np.maximum((raw["t1"] > 0).astype(np.float32), gm + wm), 0.0, 1.0)
    lo = np.maximum(np.argwhere(brain > 0).min(0) - _MARGIN_VOX, 0)
    hi = np.minimum(np.argwhere(brain > 0).max(0) + _MARGIN_VOX + 1, brain.shape)
    crop = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    gm, wm, brain = gm[crop], wm[crop], brain[crop]
    origin = affine[:3, 3] + lo
    x_mm = (origin[0] + np.arange(gm.shape[0]))[:, None, None]

    csf = brain - gm - wm
    lab, _ = ndimage.label(csf > 0.5)
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    vent = np.zeros(gm.shape, bool)
    for comp in np.flatnonzero(sizes >= 1000):  # >= 1 mL at 1 mm
        xs = np.broadcast_to(x_mm, gm.shape)[lab == comp]
        if abs(xs.mean()) < 20 and np.abs(xs).max() < 40:
            vent |= lab == comp

    wm_or_vent = (wm > 0.5) | vent
    disk = ndimage.iterate_structure(ndimage.generate_binary_structure(2, 1), 4)
    hull = np.zeros(gm.shape, bool)
    for k in range(gm.shape[2]):
        if wm_or_vent[..., k].any():
            closed = ndimage.binary_closing(np.pad(wm_or_vent[..., k], 6), disk)[6:-6, 6:-6]
            hull[..., k] = ndimage.binary_fill_holes(closed)
    inner = ndimage.binary_erosion(hull, ndimage.generate_binary_structure(3, 1), iterations=3)
    deep = inner & (gm > 0.3) & (np.abs(x_mm) < 35)
    lab, _ = ndimage.label(deep)
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    deep = np.isin(lab, np.flatnonzero(sizes >= 200))

    tissue = ((gm + wm) > 0.5) | vent
    cortex = (gm > 0.5) & ~deep
    return {
        "gm": raw["gm"][crop],
        "wm": raw["wm"][crop],
        "brain": np.round(brain * 255).astype(np.uint8),
        "vent": vent.astype(np.uint8),
        "deep": deep.astype(np.uint8),
        "vent_dist": signed_distance(vent).astype(np.float16),
        "pial_depth": (-signed_distance(tissue)).astype(np.float16),
        "cortex_dist": ndimage.distance_transform_edt(~cortex).astype(np.float16),
        "origin_mm": origin.astype(np.float64),
    }


def _write_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)  # uncompressed: about 56 MB, read 5x faster than compressed
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@functools.lru_cache(maxsize=1)
def _derived_cached(cache_dir: str | None) -> tuple[str, dict[str, np.ndarray]]:
    key, maps = derived_maps(cache_dir)
    for arr in maps.values():
        arr.setflags(write=False)
    return key, maps


def derived_maps(cache_dir: str | Path | None = None) -> tuple[str, dict[str, np.ndarray]]:
    """(content key, derived 1 mm maps), read from the disk cache or derived and written there.

    Args:
        cache_dir: cache folder; default :func:`default_cache_dir`. Where it cannot be written,
            the maps are derived in memory and a warning says so.
    """
    paths = template_paths()
    key = _content_key(paths)
    path = Path(cache_dir if cache_dir is not None else default_cache_dir()) / f"mni152_maps_{key}.npz"
    if path.is_file():
        try:
            with np.load(path) as z:
                return key, {k: z[k] for k in z.files if k != "notice"}
        except (OSError, ValueError, KeyError) as err:
            warnings.warn(f"phantom template cache {path} unreadable ({err}); deriving again", stacklevel=2)
    maps = _derive(paths)
    try:
        _write_atomic(path, {**maps, "notice": np.array(TEMPLATE_NOTICE)})
    except OSError as err:
        warnings.warn(f"phantom template cache not written to {path} ({err})", stacklevel=2)
    return key, maps


def _block_mean(arr: np.ndarray, f: int) -> np.ndarray:
    """Mean over ``f``-voxel cubes (the trailing partial cubes are padded with zeros): exact area averaging."""
    if f == 1:
        return arr
    pad = [(0, (-n) % f) for n in arr.shape]
    a = np.pad(arr, pad)
    nx, ny, nz = (n // f for n in a.shape)
    return a.reshape(nx, f, ny, f, nz, f).mean(axis=(1, 3, 5), dtype=np.float32)


@functools.lru_cache(maxsize=6)
def _fraction_grid(block: int, sigma: float, cache_dir: str | None) -> MapGrid:
    """Fraction maps as block means over ``block``-mm cubes, Gaussian-prefiltered by ``sigma`` mm if > 0."""
    _, base = _derived_cached(cache_dir)
    fractions = {}
    for k in FRACTION_MAPS:
        arr = base[k].astype(np.float32) * np.float32(1 / 255 if k in ("gm", "wm", "brain") else 1.0)
        arr = _block_mean(arr, block)
        if sigma > 0:
            arr = ndimage.gaussian_filter(arr, sigma / block, mode="constant", cval=0.0, truncate=3.0)
        fractions[k] = arr
    return MapGrid.from_maps(fractions, np.asarray(base["origin_mm"], np.float64) + (block - 1) / 2, block)


@functools.lru_cache(maxsize=3)
def _distance_grid(step: int, cache_dir: str | None) -> MapGrid:
    """Distance maps subsampled every ``step`` mm."""
    _, base = _derived_cached(cache_dir)
    distances = {k: base[k][::step, ::step, ::step] for k in DISTANCE_MAPS}
    return MapGrid.from_maps(distances, np.asarray(base["origin_mm"], np.float64), step)


def _resampling(voxel_mm: float) -> tuple[int, float]:
    """(block size in mm, prefilter sigma in mm) of the fraction maps for phantom voxels of ``voxel_mm``."""
    footprint = voxel_mm / NOMINAL_SCALE  # the phantom voxel's size in template mm
    f = max(1, int(footprint / 2 + 0.5))  # block size: about half the footprint
    # box variance footprint^2 / 12 = block-mean variance (f^2 - 1) / 12 + prefilter variance
    #                                 + linear-interpolation (tent) variance f^2 / 6
    sigma = float(np.sqrt(max(footprint**2 / 12 - (f**2 - 1) / 12 - f**2 / 6, 0.0)))
    return f, (round(sigma, 2) if sigma > 0.5 else 0.0)  # below 0.5 mm the interpolation's smoothing will do


def template_maps(voxel_mm: float, *, cache_dir: str | Path | None = None) -> TemplateMaps:
    """The template maps resampled for phantom voxels of ``voxel_mm`` mm.

    The grids are kept in memory (:func:`functools.lru_cache`) per resampling (block size and
    prefilter), so nearby voxel sizes share them.

    Args:
        voxel_mm: the phantom's isotropic voxel size in mm (> 0).
        cache_dir: disk cache of the derived 1 mm maps; default :func:`default_cache_dir`.
    """
    if not voxel_mm > 0:
        raise ValueError(f"voxel_mm must be positive, got {voxel_mm}")
    cache = None if cache_dir is None else str(cache_dir)
    block, sigma = _resampling(float(voxel_mm))
    key = _derived_cached(cache)[0]
    return TemplateMaps(_fraction_grid(block, sigma, cache), _distance_grid(max(2, block), cache), float(voxel_mm), key)
