"""Healthy anatomy of a phantom subject: MNI152 template brains varied per subject, or procedural ovoids.

Both builders return an :class:`Anatomy`: partial-volume tissue fractions (lesion channel 0) and
the fields that lesion placement needs, on the phantom grid.

Template anatomy (:func:`template_anatomy`, the default; see
:mod:`train.data.phantom.templates` for the maps). Phantom voxel ``k`` sits at
``q = (k - (n - 1) / 2) * voxel_mm`` in the subject's frame (axes ``(z, y, x)`` = inferior ->
superior, anterior -> posterior, patient right -> left, so that an axial slice shown with
``imshow`` is in the radiological view: anterior up, patient right on the left; 2D slices are
``z = 0``). It samples the template at

    t = c + R P ((q + u(q)) / s)

with ``P`` the fixed axis permutation to MNI (X = -x, Y = -y, Z = z) and, drawn per subject:

- ``s``: global scale, U(0.86, 0.96) times a per-axis factor exp(N(0, 0.025²)) (MNI152 space is
  larger than the average adult brain; at 0.91 the brain spans about 165 mm front to back and
  fits the 180 mm field of view);
- ``R``: rotation, yaw U(-8°, 8°), pitch U(-6°, 6°), roll U(-4°, 4°);
- ``u``: smooth displacement (:func:`~train.data.phantom.warp.random_displacement`, RMS
  U(2, 5) mm before the Jacobian bound (about 1.5-4 mm after it), correlation length 40 mm,
  displacement-gradient row sums <= 0.3, so the Jacobian determinant of the warp lies in
  [0.7^d, 1.3^d]; in 2D it acts in the slice plane);
- ``c``: the template point at the centre of the field of view: the brain's centre (0, -17, 5)
  MNI mm in 3D; in 2D (0, -17, z) with the slice position z ~ U(0, 25) MNI mm (from the third
  ventricle and basal ganglia to the bodies of the lateral ventricles); plus N(0, 2²) mm in X, Y
  (and Z in 3D).

Atrophy, per subject: ventricular enlargement (tissue within U(0, 3.5) mm of the ventricles
becomes ventricular CSF) and cortical thinning (cortical GM within U(0, 0.6) mm of the outer
surface becomes sulcal CSF), both with one-voxel partial-volume edges on the interpolated
distance maps, so they act below the voxel size. Fractions: background = 1 - brain,
CSF = brain - GM - WM.

Procedural anatomy (:func:`procedural_anatomy`, ``anatomy="procedural"``, for tests that must be
tiny): perturbed ellipsoids give background, a sulcal CSF rim, a GM shell, WM and two elliptical
lateral ventricles.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from train.data.phantom.fields import normalized_coords, soft_inside, wave_field
from train.data.phantom.physics import BACKGROUND, CSF, GM, N_CLASSES, WM
from train.data.phantom.templates import TemplateMaps
from train.data.phantom.warp import random_displacement, rotation_matrix

__all__ = [
    "BRAIN_CENTER_MNI",
    "SLICE_Z_RANGE_MNI",
    "Anatomy",
    "infratentorial",
    "procedural_anatomy",
    "template_anatomy",
]

BRAIN_CENTER_MNI = (0.0, -17.0, 5.0)  # centre of the template brain's bounding box, MNI mm
SLICE_Z_RANGE_MNI = (0.0, 25.0)  # 2D slice positions, MNI z in mm
_TO_MNI = np.array([[0.0, 0.0, -1.0], [0.0, -1.0, 0.0], [1.0, 0.0, 0.0]])  # (z, y, x) -> (X, Y, Z)


@dataclasses.dataclass(frozen=True, eq=False)
class Anatomy:
    """Healthy anatomy on the phantom grid.

    Attributes:
        fractions: ``(*shape, 5)`` float32 partial-volume fractions in label order, summing to 1;
            the lesion channel is 0.
        vent_dist: ``(*shape)`` float32 signed distance to the ventricle surface in mm (negative inside).
        cortex_dist: ``(*shape)`` float32 distance to the cortical GM in mm (0 in it).
        infratentorial: ``(*shape)`` bool, brainstem and cerebellum.
        params: the per-subject draws (scale, angles, slice position, atrophy, ...), floats.
    """

    fractions: np.ndarray
    vent_dist: np.ndarray
    cortex_dist: np.ndarray
    infratentorial: np.ndarray
    params: dict[str, float]


def infratentorial(points_mm: np.ndarray) -> np.ndarray:
    """Brainstem or cerebellum at MNI points ``(..., 3)``: ``(...)`` bool (an approximate geometric rule).

    Brainstem: |X| < 14, -45 < Y < -12, Z < -8. Cerebellum: Y < -42 and below the tentorium,
    approximated by the plane Z < -12 - 0.25 (-42 - Y) (mm).
    """
    x, y, z = points_mm[..., 0], points_mm[..., 1], points_mm[..., 2]
    brainstem = (np.abs(x) < 14) & (y > -45) & (y < -12) & (z < -8)
    cerebellum = (y < -42) & (z < -12 - 0.25 * (-42 - y))
    return brainstem | cerebellum


def _removal_factor(dist: np.ndarray, by_mm: float, width: float) -> np.ndarray:
    """Share of tissue kept when the region ``dist < 0`` grows by ``by_mm`` (soft edges ``width`` wide).

    Exactly 1 where ``by_mm`` = 0.
    """
    before = 1 - soft_inside(dist, width)
    after = 1 - soft_inside(dist - np.float32(by_mm), width)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(before > 1e-6, after / before, np.where(after >= before, 1.0, 0.0))
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def template_anatomy(
    rng: np.random.Generator,
    shape: tuple[int, ...],
    voxel_mm: float,
    maps: TemplateMaps,
    *,
    atrophy_mm: tuple[float, float] | None = None,
) -> Anatomy:
    """A subject on the MNI152 anatomy (module docstring): warped, scaled, rotated, atrophied.

    Args:
        rng: NumPy generator (all draws come from it).
        shape: ``(H, W)`` or ``(D, H, W)``.
        voxel_mm: isotropic voxel size in mm.
        maps: :func:`~train.data.phantom.templates.template_maps` for ``voxel_mm``.
        atrophy_mm: (ventricular enlargement, cortical thinning) in mm replacing the drawn ones
            (the draws still happen, so everything else stays the same); for checks.
    """
    d = len(shape)
    s0 = rng.uniform(0.86, 0.96)
    scale = s0 * np.exp(rng.normal(0.0, 0.025, size=3))
    angles = (rng.uniform(-8, 8), rng.uniform(-6, 6), rng.uniform(-4, 4))
    rms = rng.uniform(2.0, 5.0)
    center = np.array(BRAIN_CENTER_MNI) + np.concatenate([rng.normal(0.0, 2.0, size=2), [0.0]])
    if d == 2:
        center[2] = rng.uniform(*SLICE_Z_RANGE_MNI)
    else:
        center[2] += rng.normal(0.0, 2.0)
    enlarge = rng.uniform(0.0, 3.5)
    thinning = rng.uniform(0.0, 0.6)
    if atrophy_mm is not None:
        enlarge, thinning = (float(a) for a in atrophy_mm)
        if enlarge < 0 or thinning < 0:
            raise ValueError(f"atrophy_mm must be non-negative, got {atrophy_mm}")
    disp = random_displacement(rng, shape, voxel_mm, rms_mm=rms)

    axes = [(np.arange(n, dtype=np.float64) - (n - 1) / 2) * voxel_mm for n in shape]
    q = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1) + np.moveaxis(disp, 0, -1)
    if d == 2:
        q = np.concatenate([np.zeros((*shape, 1)), q], axis=-1)
    q /= scale  # (z, y, x) per-axis scale
    t = center + q @ (rotation_matrix(*angles) @ _TO_MNI).T
    f = maps.fractions.sample(t)
    inside = f["brain"] > 0
    dist = {k: v * np.float32(s0) for k, v in maps.distances.sample(t, inside).items()}  # template -> subject mm

    brain = np.clip(f["brain"], 0.0, 1.0)
    wm = np.clip(f["wm"], 0.0, brain)
    gm = np.clip(f["gm"], 0.0, brain - wm)
    deep_gm = np.minimum(gm, np.clip(f["deep"], 0.0, 1.0))
    keep_vent = _removal_factor(dist["vent_dist"], enlarge, voxel_mm)
    keep_cortex = _removal_factor(dist["pial_depth"], thinning, voxel_mm)  # grows "outside the tissue"
    gm = (deep_gm + (gm - deep_gm) * keep_cortex) * keep_vent
    wm = wm * keep_vent

    frac = np.zeros((*shape, N_CLASSES), np.float32)
    frac[..., BACKGROUND] = 1 - brain
    frac[..., GM] = gm
    frac[..., WM] = wm
    frac[..., CSF] = np.clip(brain - gm - wm, 0.0, 1.0)
    params = {
        "scale": float(s0),
        "yaw_deg": float(angles[0]),
        "pitch_deg": float(angles[1]),
        "roll_deg": float(angles[2]),
        "warp_rms_mm": float(np.sqrt(np.mean(np.sum(disp.astype(np.float64) ** 2, axis=0)))),
        "center_x_mm": float(center[0]),
        "center_y_mm": float(center[1]),
        "center_z_mm": float(center[2]),
        "ventricle_enlargement_mm": float(enlarge),
        "cortical_thinning_mm": float(thinning),
    }
    return Anatomy(
        fractions=frac,
        vent_dist=(dist["vent_dist"] - np.float32(enlarge)).astype(np.float32),
        cortex_dist=dist["cortex_dist"].astype(np.float32),
        infratentorial=infratentorial(t),
        params=params,
    )


def _ellipsoid_r(coords: list[np.ndarray], center: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """Normalized ellipsoid radius |(x - c) / a| (1 on the surface)."""
    sq = sum(((c - np.float32(m)) / np.float32(a)) ** 2 for c, m, a in zip(coords, center, axes, strict=True))
    return np.sqrt(sq)


def _soft_r(r: np.ndarray, radius: float | np.ndarray, scale_vox: float) -> np.ndarray:
    """Partial-volume fraction of 'r < radius' with a one-voxel linear edge (scale: voxels per unit r)."""
    return np.clip(0.5 + (radius - r) * np.float32(scale_vox), 0.0, 1.0).astype(np.float32)


def procedural_anatomy(rng: np.random.Generator, shape: tuple[int, ...], voxel_mm: float) -> Anatomy:
    """Perturbed-ellipsoid anatomy (module docstring); the healthy-tissue draws of the original phantom."""
    d = len(shape)
    coords = normalized_coords(shape)
    half = np.array(shape, np.float64) / 2
    brain_axes = np.array([0.82, 0.88, 0.78][-d:]) * rng.uniform(0.92, 1.05, size=d)
    brain_center = rng.normal(0, 0.02, size=d)
    r_brain = _ellipsoid_r(coords, brain_center, brain_axes)
    r_brain = r_brain * (1 + np.float32(0.035) * wave_field(rng, coords, 6, 1.5))
    scale = float(np.min(brain_axes * half))  # voxels per unit r at the brain surface

    rim = rng.uniform(0.93, 0.96)  # inner edge of the sulcal CSF rim
    wm_edge = rng.uniform(0.74, 0.82) + np.float32(0.03) * wave_field(rng, coords, 6, 2.0)  # cortex thickness
    b = _soft_r(r_brain, 1.0, scale)
    c = np.minimum(_soft_r(r_brain, rim, scale), b)
    w = np.minimum(_soft_r(r_brain, wm_edge, scale), c)
    sulci = np.clip(0.5 + (wave_field(rng, coords, 10, 4.0) - rng.uniform(0.7, 1.1)) * 2.0, 0.0, 1.0)

    vent_scale = rng.uniform(0.7, 1.4)  # atrophy / ventricle size variation
    vent_axes = np.array([0.16, 0.30, 0.085][-d:]) * vent_scale * brain_axes / np.array([0.82, 0.88, 0.78][-d:])
    offset = rng.uniform(0.09, 0.13) * vent_scale**0.5
    r_vent = None
    for side in (-1.0, 1.0):
        center = np.array(brain_center, np.float64)
        center[-1] += side * offset
        center[:-1] += rng.normal(0, 0.015, size=d - 1)
        r_side = _ellipsoid_r(coords, center, vent_axes * rng.uniform(0.9, 1.1, size=d))
        r_vent = r_side if r_vent is None else np.minimum(r_vent, r_side)
    v = _soft_r(r_vent, 1.0, float(np.min(vent_axes * half)))

    frac = np.zeros((*shape, N_CLASSES), np.float32)
    frac[..., BACKGROUND] = 1 - b
    frac[..., CSF] = (b - c) + (c - w) * sulci + w * v
    frac[..., GM] = (c - w) * (1 - sulci)
    frac[..., WM] = w * (1 - v)
    # distances from the ellipsoid radii (first order: radius offset x axis length), no distance transform
    vent_mm = float(np.min(vent_axes * half)) * voxel_mm
    wm_mm = float(np.min(brain_axes * half)) * voxel_mm
    return Anatomy(
        fractions=frac,
        vent_dist=((r_vent - 1) * np.float32(vent_mm)).astype(np.float32),
        cortex_dist=np.maximum((wm_edge - r_brain) * np.float32(wm_mm), 0.0).astype(np.float32),
        infratentorial=np.zeros(shape, bool),
        params={"ventricle_scale": float(vent_scale)},
    )
