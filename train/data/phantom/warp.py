"""Random smooth subject geometry: rotations and a displacement field with a bounded Jacobian.

:func:`random_displacement` draws i.i.d. Gaussian noise on a coarse control grid, smooths it
with a Gaussian (the correlation length), scales it to a target RMS displacement and then, if
needed, down so that every row of its finite-difference Jacobian has an absolute sum of at most
``max_gradient``. The field on the phantom grid is the multilinear interpolation of the control
grid, whose partial derivatives are convex combinations of those finite differences, so the
bound holds everywhere: all eigenvalues of the displacement gradient lie within
``max_gradient`` of 0, and ``x -> x + u(x)`` has a Jacobian determinant in
``[(1 - max_gradient)^d, (1 + max_gradient)^d]`` (positive: no folding, invertible).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["jacobian_determinant", "random_displacement", "rotation_matrix", "upsample_control"]


def rotation_matrix(yaw_deg: float, pitch_deg: float, roll_deg: float) -> np.ndarray:
    """``(3, 3)`` rotation in MNI axes (X, Y, Z): yaw about Z (in the axial plane), pitch about X, roll about Y."""
    a, b, c = np.deg2rad([yaw_deg, pitch_deg, roll_deg])
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    ry = np.array([[np.cos(c), 0, np.sin(c)], [0, 1, 0], [-np.sin(c), 0, np.cos(c)]])
    return rz @ rx @ ry


def random_displacement(
    rng: np.random.Generator,
    shape: tuple[int, ...],
    voxel_mm: float,
    *,
    rms_mm: float,
    correlation_mm: float = 40.0,
    max_gradient: float = 0.3,
) -> np.ndarray:
    """A smooth random displacement field on a centred grid: ``(d, *shape)`` float32 in mm.

    Args:
        rng: NumPy generator.
        shape: spatial shape ``(H, W)`` or ``(D, H, W)``; component ``i`` displaces along axis ``i``.
        voxel_mm: grid spacing in mm.
        rms_mm: root-mean-square displacement on the control grid before the Jacobian bound is applied.
        correlation_mm: Gaussian smoothing length of the control noise (control spacing = half of it).
        max_gradient: bound on every row's absolute sum of the displacement gradient (< 1).
    """
    if not 0 <= max_gradient < 1:
        raise ValueError(f"max_gradient must be in [0, 1), got {max_gradient}")
    d = len(shape)
    spacing = correlation_mm / 2
    extent = np.array(shape, np.float64) * voxel_mm
    n_ctrl = tuple(int(np.ceil(e / spacing)) + 5 for e in extent)
    noise = rng.standard_normal((d, *n_ctrl))
    ctrl = np.stack([ndimage.gaussian_filter(c, correlation_mm / spacing, mode="wrap") for c in noise])
    ctrl *= rms_mm / max(float(np.sqrt(np.mean(np.sum(ctrl**2, axis=0)))), 1e-12)
    grad = np.array([[np.abs(np.diff(ctrl[i], axis=j)).max() / spacing for j in range(d)] for i in range(d)])
    worst = float(grad.sum(axis=1).max())
    if worst > max_gradient:
        ctrl *= max_gradient / worst
    return upsample_control(ctrl.astype(np.float32), spacing, shape, voxel_mm)


def upsample_control(ctrl: np.ndarray, spacing_mm: float, shape: tuple[int, ...], voxel_mm: float) -> np.ndarray:
    """Multilinear interpolation of a centred control grid ``(d, *m)`` onto a centred grid: ``(d, *shape)``.

    Grid point ``k`` along an axis of ``n`` points sits at ``(k - (n - 1) / 2) * voxel_mm``, control
    point ``j`` of ``m`` at ``(j - (m - 1) / 2) * spacing_mm``; the control grid must cover the
    grid. Separable: one ``(n, m)`` interpolation matrix per axis (the same values as
    ``scipy.ndimage.map_coordinates(..., order=1)``, much faster for 3D grids).
    """
    out = np.asarray(ctrl, np.float32)
    for axis, (n, m) in enumerate(zip(shape, out.shape[1:], strict=True)):
        pos = ((np.arange(n) - (n - 1) / 2) * voxel_mm) / spacing_mm + (m - 1) / 2
        lo = np.clip(np.floor(pos).astype(int), 0, m - 2)
        if pos.min() < 0 or pos.max() > m - 1:
            raise ValueError(f"control grid of {m} points at {spacing_mm} mm does not cover {n} at {voxel_mm} mm")
        frac = (pos - lo).astype(np.float32)
        mat = np.zeros((n, m), np.float32)
        mat[np.arange(n), lo] = 1 - frac
        mat[np.arange(n), lo + 1] = frac
        out = np.moveaxis(np.tensordot(mat, out, axes=([1], [axis + 1])), 0, axis + 1)
    return np.ascontiguousarray(out)


def jacobian_determinant(displacement: np.ndarray, voxel_mm: float) -> np.ndarray:
    """det(I + grad u) of a displacement ``(d, *shape)`` in mm on a grid of ``voxel_mm``: ``(*shape)`` float64.

    Central differences inside, one-sided at the border (:func:`numpy.gradient`).
    """
    d = displacement.shape[0]
    jac = np.empty((*displacement.shape[1:], d, d))
    for i in range(d):
        grads = np.gradient(displacement[i].astype(np.float64), voxel_mm)
        for j in range(d):
            jac[..., i, j] = (grads[j] if d > 1 else grads) + (i == j)
    return np.linalg.det(jac)
