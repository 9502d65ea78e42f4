"""What a config builds: the U-Net, the augmentation and the train step (one place for each)."""

from __future__ import annotations

import functools
from collections.abc import Callable

import ml_collections
import optax
from flax import nnx

from train.augment import BatchAugment, make_augment
from train.models import UNet
from train.rng import Stream, stream_key
from train.step import make_train_step

__all__ = ["make_augmentation", "make_model", "make_step_factory"]


def make_model(config: ml_collections.ConfigDict, in_channels: int) -> UNet:
    """The U-Net of ``config.model`` for ``in_channels`` image channels, initialized from
    ``config.seed`` (stream :attr:`train.rng.Stream.PARAMS`)."""
    m = config.model
    rngs = nnx.Rngs(stream_key(int(config.seed), Stream.PARAMS))
    return UNet(in_channels=in_channels, num_classes=int(m.num_classes), features=tuple(m.features),
                spatial_dims=int(config.data.spatial_dims), norm=m.norm,
                # Checkpoints written before model.conv_impl existed hold no value: the parameters are
                # the same under every implementation, so the backend's default is right for them.
                conv_impl=m.get("conv_impl", "auto"), rngs=rngs)


def make_augmentation(config: ml_collections.ConfigDict) -> BatchAugment | None:
    """The random convolutions of ``config.randconv`` (None for preset ``"none"``)."""
    rc = config.randconv
    return make_augment(rc.preset, batch_mode=rc.batch_mode, chunk_size=rc.chunk_size, **dict(rc.overrides))


def make_step_factory(config: ml_collections.ConfigDict, graphdef: nnx.GraphDef,
                      tx: optax.GradientTransformation) -> Callable[..., Callable]:
    """``factory(axis_name=None) -> train_step`` for :func:`train.parallel.make_runner`."""
    loss = config.loss
    return functools.partial(make_train_step, graphdef, tx, augment=make_augmentation(config),
                             intensity=bool(config.intensity_augment),
                             dice_weight=float(loss.dice_weight), ce_weight=float(loss.ce_weight),
                             consistency=loss.consistency,
                             consistency_weight=float(loss.consistency_weight), num_copies=int(loss.num_copies))
