"""Random-convolution augmentation of training batches, on device, inside the train step."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

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

PRESETS: dict[str, tuple[Callable[..., rcj.Augmentation], str]] = {
    SEED_RC: (rcj.make_random_conv, "per_sample"),
    "randconv": (presets.randconv, presets.BATCH_MODE["randconv"]),
    "ms_rc_3d": (presets.ms_rc_3d, presets.BATCH_MODE["ms_rc_3d"]),
    "nnunet_rc": (presets.nnunet_rc, presets.BATCH_MODE["nnunet_rc"]),
    "pro_randconv": (presets.pro_randconv, presets.BATCH_MODE["pro_randconv"]),
    "gin": (presets.gin, presets.BATCH_MODE["gin"]),
    "gin_ipa": (presets.gin_ipa, presets.BATCH_MODE["gin_ipa"]),
}
"""``config.randconv.preset`` -> (factory, the paper's sharing of draws). ``"none"`` is no
augmentation. A name that is not here is an error when the config is read."""
PRESET_NAMES = (NONE, *PRESETS)


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
        preset: ``"none"`` (no augmentation: returns None) or a name of :data:`PRESETS`
            (``"random_conv"``, the seed RC, or a :mod:`randconv_jax.presets` factory).
        batch_mode: ``"per_sample"``/``"per_batch"``; None takes the preset paper's sharing.
        chunk_size: see :func:`randconv_jax.batched`.
        overrides: keyword arguments of the preset factory.

    Raises:
        ValueError: an unknown preset or batch mode, overrides with ``"none"``, or overrides the
            factory does not take (naming them).
    """
    if preset == NONE:
        if overrides:
            raise ValueError(f"randconv overrides {sorted(overrides)} given with preset 'none'")
        return None
    if preset not in PRESETS:
        raise ValueError(f"randconv preset must be one of {list(PRESET_NAMES)}, got {preset!r}")
    factory, default_mode = PRESETS[preset]
    try:
        one = factory(**overrides)
    except TypeError as err:  # an override the factory does not take
        raise ValueError(f"randconv overrides {dict(overrides)} do not fit preset {preset!r}: {err}") from err
    mode = default_mode if batch_mode is None else batch_mode
    if mode not in rcj.BATCH_MODES:
        raise ValueError(f"randconv batch_mode must be one of {rcj.BATCH_MODES} or None, got {batch_mode!r}")
    return BatchAugment(one, mode, chunk_size)

