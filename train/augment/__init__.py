"""Augmentations that run on device inside the train step: random convolutions and intensity."""

from train.augment.intensity import intensity_batch, nnunet_intensity
from train.augment.rc import NONE, PRESET_NAMES, PRESETS, SEED_RC, BatchAugment, make_augment

__all__ = [
    "NONE",
    "PRESETS",
    "PRESET_NAMES",
    "SEED_RC",
    "BatchAugment",
    "intensity_batch",
    "make_augment",
    "nnunet_intensity",
]
