"""Segmentation models (Flax NNX)."""

from train.models.unet import NORMS, UNet, tiny_unet

__all__ = ["NORMS", "UNet", "tiny_unet"]
