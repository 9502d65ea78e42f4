"""MS lesions placed by anatomy: periventricular, juxtacortical, deep white matter, infratentorial.

:func:`lesion_field` draws the number and radii of the lesions from the load
(:data:`LESION_LOADS`, as in the original phantom: they roughly span BrainWeb's mild to severe
loads) and, per lesion, a kind with probabilities :data:`KIND_PROBS`, then a centre among the
white-matter voxels (WM fraction > 0.9 unless said otherwise) that fit the kind:

- periventricular: within the lesion's radius (+ half a voxel) of the ventricle surface, so the
  lesion touches the ventricle; ovoid with its long axis along the ventricle's normal at the
  centre (perpendicular to the wall, as Dawson's fingers), short axes 0.4-0.7 of the long one;
- juxtacortical: within the radius (+ half a voxel) of the cortical grey matter, so it touches
  the cortex (WM fraction > 0.6 suffices here: the grey-white junction is partial volume);
- deep white matter: more than 6 mm from the ventricles and more than 4 mm from the cortex;
- infratentorial: in the brainstem or cerebellum (:func:`train.data.phantom.anatomy.infratentorial`;
  WM fraction > 0.7 there, the cerebellar WM being thin).

Where a kind has no candidate voxel (e.g. no infratentorial tissue in a supratentorial 2D slice),
the lesion becomes a deep-WM lesion, and failing that one anywhere in WM (counted as deep). Non-periventricular
lesions are ovoids with axes ratio 0.5-1 in a random orientation. Radii in mm are at least 1.2
voxels; edges are one voxel soft. The caller takes the lesion fraction from WM only
(``lesion = soft * WM``), so a lesion never occupies CSF, GM or background.
"""

from __future__ import annotations

import numpy as np

from train.data.phantom.anatomy import Anatomy
from train.data.phantom.physics import WM

__all__ = ["KIND_PROBS", "LESION_KINDS", "LESION_LOADS", "lesion_field"]

LESION_LOADS: dict[str, tuple[tuple[int, int], tuple[float, float]]] = {  # (count range, radius range mm)
    "none": ((0, 0), (1.5, 6.0)),
    "mild": ((2, 5), (1.5, 3.5)),
    "moderate": ((5, 10), (1.5, 5.0)),
    "severe": ((10, 20), (2.0, 6.0)),
}
LESION_KINDS = ("periventricular", "juxtacortical", "deep", "infratentorial")
KIND_PROBS = (0.45, 0.20, 0.25, 0.10)


def _random_rotation(rng: np.random.Generator, d: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(d, d)))
    return q * np.sign(np.diag(r))


def _rotation_with_first_axis(rng: np.random.Generator, axis: np.ndarray) -> np.ndarray:
    """Orthonormal ``(d, d)`` whose first column is ``axis`` (unit); the others random."""
    d = axis.shape[0]
    m = np.concatenate([axis[:, None], rng.normal(size=(d, d - 1))], axis=1)
    q, r = np.linalg.qr(m)
    q = q * np.sign(np.diag(r))
    return q


class _Candidates:
    """Where lesions of each kind may be centred: flat voxel indices, filtered per lesion radius.

    The WM voxels and their distances are gathered once per subject, so each lesion only
    filters those short arrays (indices stay in ascending order, as ``np.flatnonzero`` gives them).
    """

    def __init__(self, anatomy: Anatomy, voxel_mm: float) -> None:
        wm = anatomy.fractions[..., WM].reshape(-1)
        self.voxel_mm = voxel_mm
        self.wm_idx = np.flatnonzero(wm > 0.6)  # the loosest WM threshold of any kind
        self.wm = wm[self.wm_idx]
        self.vent = anatomy.vent_dist.reshape(-1)[self.wm_idx]
        self.cortex = anatomy.cortex_dist.reshape(-1)[self.wm_idx]
        self.infra = anatomy.infratentorial.reshape(-1)[self.wm_idx]

    def __call__(self, kind: str, radius_mm: float) -> np.ndarray:
        """Flat indices of the WM voxels where a lesion of ``kind`` and radius ``radius_mm`` may be centred."""
        core = self.wm > 0.9
        reach = radius_mm + self.voxel_mm / 2
        if kind == "periventricular":
            mask = core & (self.vent > 0) & (self.vent <= reach)
        elif kind == "juxtacortical":  # at the grey-white junction, where the WM fraction falls off
            mask = self.cortex <= reach
        elif kind == "deep":
            mask = core & (self.vent > 6.0) & (self.cortex > 4.0)
        elif kind == "infratentorial":
            mask = (self.wm > 0.7) & self.infra
        else:
            mask = core
        return self.wm_idx[mask]


def lesion_field(
    rng: np.random.Generator,
    anatomy: Anatomy,
    load: str,
    voxel_mm: float,
    *,
    kind_probs: tuple[float, float, float, float] = KIND_PROBS,
) -> tuple[np.ndarray, dict[str, float]]:
    """Soft lesion indicator ``(*shape)`` float32 in [0, 1] and the lesion counts per kind.

    Args:
        rng: NumPy generator.
        anatomy: the subject's healthy anatomy.
        load: a key of :data:`LESION_LOADS`.
        voxel_mm: isotropic voxel size in mm.
        kind_probs: probabilities of :data:`LESION_KINDS` (default :data:`KIND_PROBS`).

    Returns:
        ``(soft, counts)``; ``counts`` maps ``"lesions_<kind>"`` to the number placed.
    """
    shape = anatomy.fractions.shape[:-1]
    d = len(shape)
    out = np.zeros(shape, np.float32)
    counts = {f"lesions_{k}": 0.0 for k in LESION_KINDS}
    (n_lo, n_hi), (r_lo, r_hi) = LESION_LOADS[load]
    n = int(rng.integers(n_lo, n_hi + 1))
    normals = np.stack(np.gradient(anatomy.vent_dist), axis=-1) if n else None
    candidates = _Candidates(anatomy, voxel_mm) if n else None
    for _ in range(n):
        kind = str(rng.choice(LESION_KINDS, p=kind_probs))
        radius = max(rng.uniform(r_lo, r_hi) / voxel_mm, 1.2)  # voxels
        pool = candidates(kind, radius * voxel_mm)
        for fallback in ("deep", "any"):
            if pool.size:
                break
            kind, pool = fallback, candidates(fallback, radius * voxel_mm)
        if pool.size == 0:
            break
        flat = int(rng.choice(pool))
        center = np.array(np.unravel_index(flat, shape), np.float64)
        normal = normals[tuple(center.astype(int))] if normals is not None else np.zeros(d)
        if kind == "periventricular" and np.linalg.norm(normal) > 1e-6:
            axes = radius * np.concatenate([[1.0], rng.uniform(0.4, 0.7, size=d - 1)])
            rot = _rotation_with_first_axis(rng, normal / np.linalg.norm(normal))
        else:
            axes = radius * np.concatenate([[1.0], rng.uniform(0.5, 1.0, size=d - 1)])
            rot = _random_rotation(rng, d)
        counts[f"lesions_{kind if kind != 'any' else 'deep'}"] += 1
        lo = np.maximum(np.floor(center - radius - 2), 0).astype(int)
        hi = np.minimum(np.ceil(center + radius + 3), shape).astype(int)
        box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
        grid = np.stack(np.meshgrid(*(np.arange(a, b) for a, b in zip(lo, hi, strict=True)), indexing="ij"), -1)
        local = (grid - center) @ rot  # offsets in the lesion's frame, voxels
        r = np.sqrt(np.sum((local / axes) ** 2, axis=-1))
        out[box] = np.maximum(out[box], np.clip(0.5 + (1.0 - r) * axes.min(), 0.0, 1.0))
    return out, counts
