"""A phantom subject: healthy anatomy plus MS lesions as partial-volume tissue fractions and labels.

:func:`make_subject` builds the anatomy (:mod:`train.data.phantom.anatomy`: the MNI152 template
anatomy by default, or ``anatomy="procedural"``), places lesions by anatomy
(:mod:`train.data.phantom.lesions`), takes the lesion fraction from white matter only, and
derives the label maps. Everything is a function of ``seed`` (``numpy.random.default_rng``):
the same seed gives the same subject bit for bit.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from collections.abc import Sequence as Seq

import numpy as np

from train.data.phantom.anatomy import procedural_anatomy, template_anatomy
from train.data.phantom.lesions import LESION_LOADS, lesion_field
from train.data.phantom.physics import BACKGROUND, LESION, N_CLASSES, WM
from train.data.phantom.templates import template_maps

__all__ = ["ANATOMIES", "Subject", "check_shape", "make_subject"]

ANATOMIES = ("template", "procedural")


@dataclasses.dataclass(frozen=True, eq=False)
class Subject:
    """One subject on an isotropic grid (arrays are read-only).

    Attributes:
        tissue: ``(*spatial)`` int8 label map, labels in
            :data:`~train.data.phantom.physics.TISSUE_LABELS` (4 = lesion): the lesion where the
            lesion label is 1, else the largest healthy fraction (lesion fraction counted as WM).
        lesion: ``(*spatial)`` uint8 0/1 lesion label (lesion fraction > 0.5).
        brain_mask: ``(*spatial)`` bool, inside the brain (background fraction < 0.5; CSF included).
        fractions: ``(*spatial, 5)`` float32 partial-volume fractions per label, summing to 1.
        param_jitter: ``(5, 4)`` float64 per-subject multiplicative jitter of (T1, T2, T2*, PD).
        voxel_mm: isotropic native voxel size in mm.
        seed: the seed the subject was made from.
        anatomy: "template" or "procedural".
        params: the per-subject draws (geometry, atrophy, lesion load and counts per kind), read-only.
    """

    tissue: np.ndarray
    lesion: np.ndarray
    brain_mask: np.ndarray
    fractions: np.ndarray
    param_jitter: np.ndarray
    voxel_mm: float
    seed: int
    anatomy: str = "template"
    params: Mapping[str, float | str] = dataclasses.field(default_factory=lambda: types.MappingProxyType({}))

    @property
    def shape(self) -> tuple[int, ...]:
        """Spatial shape."""
        return tuple(self.tissue.shape)


def check_shape(shape: Seq[int]) -> tuple[int, ...]:
    """``shape`` as a tuple of 2 or 3 ints >= 16, or a ``ValueError`` naming it."""
    try:
        shape_t = tuple(int(s) for s in shape)
    except TypeError as err:
        raise ValueError(f"shape must be a sequence of 2 or 3 ints, got {shape!r}") from err
    if len(shape_t) not in (2, 3):
        raise ValueError(f"shape must have rank 2 (H, W) or 3 (D, H, W), got rank {len(shape_t)}: {shape_t}")
    if any(s <= 0 for s in shape_t):
        raise ValueError(f"shape sizes must be positive, got {shape_t}")
    if min(shape_t) < 16:
        raise ValueError(f"shape sizes must be >= 16 to hold the anatomy, got {shape_t}")
    return shape_t


def make_subject(
    seed: int,
    *,
    shape: Seq[int] = (96, 96, 96),
    voxel_mm: float | None = None,
    lesion_load: str | None = None,
    anatomy: str = "template",
) -> Subject:
    """Make an MS subject (deterministic in ``seed``).

    Args:
        seed: integer seed for ``numpy.random.default_rng``.
        shape: spatial shape, ``(D, H, W)`` (3D) or ``(H, W)`` (2D axial slice); sizes >= 16.
        voxel_mm: isotropic voxel size in mm; default ``180 / max(shape)`` (a 180 mm field of view).
        lesion_load: "none", "mild", "moderate", "severe" or None (random among the three with lesions).
        anatomy: "template" (MNI152 anatomy varied per subject; needs nilearn, the ``train`` extra)
            or "procedural" (perturbed ellipsoids; tiny and dependency-free).

    Returns:
        A :class:`Subject`; lesions lie inside WM (lesion fraction is taken from WM only).
    """
    shape_t = check_shape(shape)
    if voxel_mm is None:
        voxel_mm = 180.0 / max(shape_t)
    if not voxel_mm > 0:
        raise ValueError(f"voxel_mm must be positive, got {voxel_mm}")
    if lesion_load is not None and lesion_load not in LESION_LOADS:
        raise ValueError(f"lesion_load must be one of {sorted(LESION_LOADS)} or None, got {lesion_load!r}")
    if anatomy not in ANATOMIES:
        raise ValueError(f"anatomy must be one of {ANATOMIES}, got {anatomy!r}")
    voxel_mm = float(voxel_mm)
    maps = template_maps(voxel_mm) if anatomy == "template" else None
    rng = np.random.default_rng(seed)
    load = lesion_load or str(rng.choice(["mild", "moderate", "severe"]))
    if maps is not None:
        anat = template_anatomy(rng, shape_t, voxel_mm, maps)
    else:
        anat = procedural_anatomy(rng, shape_t, voxel_mm)
    soft, counts = lesion_field(rng, anat, load, voxel_mm)
    frac = anat.fractions
    lesion_frac = soft * frac[..., WM]
    frac[..., WM] -= lesion_frac
    frac[..., LESION] = lesion_frac
    lesion = (lesion_frac > 0.5).astype(np.uint8)
    healthy = frac[..., :LESION].copy()
    healthy[..., WM] += lesion_frac
    tissue = np.argmax(healthy, axis=-1).astype(np.int8)
    tissue[lesion.astype(bool)] = LESION
    jitter = np.exp(rng.normal(0.0, 0.02, size=(N_CLASSES, 4)))
    brain_mask = frac[..., BACKGROUND] < 0.5
    for a in (tissue, lesion, brain_mask, frac, jitter):
        a.setflags(write=False)
    params = types.MappingProxyType({**anat.params, "lesion_load": load, **counts})
    return Subject(tissue, lesion, brain_mask, frac, jitter, voxel_mm, int(seed), anatomy, params)
