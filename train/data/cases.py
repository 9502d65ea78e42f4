"""The in-memory case type shared by the nnU-Net reader, the phantom and the loader."""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import ndimage

__all__ = ["Case", "foreground_mask"]


@dataclasses.dataclass(frozen=True, eq=False)
class Case:
    """One subject (image, optional label, foreground mask and geometry), channels last.

    Attributes:
        name: case identifier (the nnU-Net case name, e.g. ``"case_0003"``).
        image: ``(*spatial, C)`` float32, channels last; spatial rank 2 or 3.
        label: ``(*spatial)`` int32 label map, or None for unlabeled cases (``imagesTs``).
        mask: ``(*spatial)`` bool foreground (brain) mask.
        affine: ``(4, 4)`` float64 voxel-to-world affine of the NIfTI (for 2D data: of the
            ``(H, W, 1)`` NIfTI).
        spacing: voxel size in mm per spatial axis.
        domain: data set / scanner name.
        channel_names: one name per channel, e.g. ``("FLAIR", "T1w")``.
        crop_box: preprocessing bookkeeping, ``(start, stop)`` per spatial axis in the raw array;
            None for raw (unpreprocessed) cases.
        raw_shape: spatial shape before crop / resampling; None for raw cases.
    """

    name: str
    image: np.ndarray
    label: np.ndarray | None
    mask: np.ndarray
    affine: np.ndarray
    spacing: tuple[float, ...]
    domain: str
    channel_names: tuple[str, ...]
    crop_box: tuple[tuple[int, int], ...] | None = None
    raw_shape: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        img = self.image
        if not isinstance(img, np.ndarray) or img.ndim not in (3, 4):
            raise ValueError(
                f"Case {self.name!r}: image must be a (*spatial, C) array with spatial rank 2 or 3, "
                f"got shape {getattr(img, 'shape', None)}"
            )
        spatial = img.shape[:-1]
        if img.shape[-1] != len(self.channel_names):
            raise ValueError(
                f"Case {self.name!r}: image has {img.shape[-1]} channels but channel_names has "
                f"{len(self.channel_names)}: {self.channel_names}"
            )
        if self.label is not None and self.label.shape != spatial:
            raise ValueError(f"Case {self.name!r}: label shape {self.label.shape} != image spatial shape {spatial}")
        if self.mask.shape != spatial:
            raise ValueError(f"Case {self.name!r}: mask shape {self.mask.shape} != image spatial shape {spatial}")
        if len(self.spacing) != len(spatial):
            raise ValueError(f"Case {self.name!r}: spacing {self.spacing} does not match spatial rank {len(spatial)}")
        if not all(np.isfinite(s) and s > 0 for s in self.spacing):
            raise ValueError(f"Case {self.name!r}: spacing {self.spacing} mm must be finite and positive")
        if np.shape(self.affine) != (4, 4):
            raise ValueError(f"Case {self.name!r}: affine must be (4, 4), got {np.shape(self.affine)}")

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        """Spatial shape ``image.shape[:-1]``."""
        return tuple(self.image.shape[:-1])


def foreground_mask(image: np.ndarray) -> np.ndarray:
    """nnU-Net's nonzero mask: union over channels of ``image != 0``, holes filled.

    Args:
        image: ``(*spatial, C)`` array, channels last.

    Returns:
        ``(*spatial)`` bool.
    """
    nonzero = np.any(image != 0, axis=-1)
    return ndimage.binary_fill_holes(nonzero)
