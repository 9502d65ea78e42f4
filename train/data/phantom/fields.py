"""Small numerical helpers shared by the phantom's anatomy and acquisition: grids, smooth fields, soft masks."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["normalized_coords", "signed_distance", "soft_inside", "wave_field"]


def normalized_coords(shape: tuple[int, ...]) -> list[np.ndarray]:
    """Open-grid normalized coordinates in [-1, 1] per axis (broadcastable float32 arrays)."""
    out = []
    for axis, n in enumerate(shape):
        c = (np.arange(n, dtype=np.float32) - (n - 1) / 2) / (n / 2)
        out.append(c.reshape([n if i == axis else 1 for i in range(len(shape))]))
    return out


def wave_field(rng: np.random.Generator, coords: list[np.ndarray], n_waves: int, max_freq: float) -> np.ndarray:
    """Random smooth field: a sum of ``n_waves`` plane waves, about unit std; shape of the broadcast coords.

    Wave vectors have random directions and lengths in [0.3, 1] * ``max_freq`` cycles per unit of
    the coordinates; phases are uniform. float32.
    """
    d = len(coords)
    total = np.zeros(np.broadcast_shapes(*(c.shape for c in coords)), np.float32)
    for _ in range(n_waves):
        k = rng.normal(size=d)
        k *= rng.uniform(0.3, 1.0) * max_freq / max(np.linalg.norm(k), 1e-6)
        phase = sum((np.float32(2 * np.pi * ki) * c for ki, c in zip(k, coords, strict=True)), np.float32(0))
        total += np.cos(phase + np.float32(rng.uniform(0, 2 * np.pi)))
    return total * np.float32(np.sqrt(2.0 / n_waves))


def soft_inside(dist: np.ndarray, width: float) -> np.ndarray:
    """Partial-volume fraction of 'inside' from a signed distance (negative inside): a linear edge ``width`` wide.

    ``clip(0.5 - dist / width, 0, 1)`` as float32; ``dist`` and ``width`` in the same unit.
    """
    return np.clip(np.float32(0.5) - dist / np.float32(width), 0.0, 1.0).astype(np.float32)


def signed_distance(mask: np.ndarray) -> np.ndarray:
    """Signed Euclidean distance (voxels) to the boundary of a boolean ``mask``, negative inside: float32.

    Measured between voxel centres and shifted by half a voxel, so the boundary lies at 0. An
    empty (full) mask gives 1e4 (-1e4) everywhere.
    """
    if not mask.any() or mask.all():
        return np.full(mask.shape, -1e4 if mask.any() else 1e4, np.float32)
    outside = ndimage.distance_transform_edt(~mask) - 0.5
    inside = ndimage.distance_transform_edt(mask) - 0.5
    return np.where(mask, -inside, outside).astype(np.float32)
