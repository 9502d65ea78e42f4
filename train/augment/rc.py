"""Random-convolution augmentation of training batches, on device, inside the train step."""

from __future__ import annotations

import dataclasses

import jax
from jax import lax
from jax.typing import ArrayLike

import randconv_jax as rcj
from randconv_jax import presets
from train.rng import sample_keys

NONE = "none"
SEED_RC = "random_conv"
"""The seed RC (:func:`randconv_jax.make_random_conv`; overrides are its keyword arguments),
drawn per sample unless ``batch_mode`` says otherwise."""


@dataclasses.dataclass(frozen=True)
class BatchAugment:
    """A one-image augmentation applied to a batch with a paper's sharing of draws.

    ``__call__(key, images, masks, index)``: ``images`` ``(B, *spatial, C)`` float, ``masks``
    ``(B, *spatial)`` bool or None, ``index`` ``(B,)`` int, each sample's index in the data
    stream (``batch["index"]``). Per sample, sample ``i`` draws with
    ``fold_in(key, index[i])`` (:func:`train.rng.sample_keys`): its draw depends on the sample,
    not on where it sits in the batch or on which device, so data-parallel runs draw exactly as
    one device. Per batch, every sample shares the draw of ``key``.
    """

    one: rcj.Augmentation
    mode: str
    chunk_size: int | None = None

    def __call__(self, key: jax.Array, images: jax.Array, masks: jax.Array | None,
                 index: ArrayLike) -> jax.Array:
        lifted = rcj.batched(self.one, mode=self.mode, chunk_size=self.chunk_size)
        if self.mode == "per_batch":
            params = lifted.sample(key, images)
        else:  # batched(...).sample would split the key by position; the sample's index decides here
            params = jax.vmap(self.one.sample)(sample_keys(key, index), images)
        out = lifted.apply(images, params, mask=masks)
        return lax.stop_gradient(out.astype(images.dtype))


def make_augment(preset: str, *, batch_mode: str | None = None, chunk_size: int | None = None,
                 **overrides) -> BatchAugment | None:
    """The :mod:`randconv_jax.presets` factory ``preset`` (or ``"none"``) for training batches.

    Args:
        preset: ``"none"`` (no augmentation: returns None), ``"random_conv"`` (the seed RC) or a
            name in ``randconv_jax.presets.BATCH_MODE``.
        batch_mode: ``"per_sample"``/``"per_batch"``; None takes the preset paper's sharing.
        chunk_size: see :func:`randconv_jax.batched`.
        overrides: keyword arguments of the preset factory.
    """
    if preset == NONE:
        if overrides:
            raise ValueError(f"randconv overrides {sorted(overrides)} given with preset 'none'")
        return None
    if preset == SEED_RC:
        one, default_mode = rcj.make_random_conv(**overrides), "per_sample"
    elif preset in presets.BATCH_MODE:
        one, default_mode = getattr(presets, preset)(**overrides), presets.BATCH_MODE[preset]
    else:
        raise ValueError(f"randconv preset must be 'none', 'random_conv' or one of {sorted(presets.BATCH_MODE)}, "
                         f"got {preset!r}")
    mode = batch_mode or default_mode
    if mode not in rcj.BATCH_MODES:
        raise ValueError(f"randconv batch_mode must be one of {rcj.BATCH_MODES} or None, got {batch_mode!r}")
    return BatchAugment(one, mode, chunk_size)

