"""Every random stream of a run, named in one place.

A run has one integer ``config.seed``. JAX draws come from ``stream_key(seed, stream)`` (the key
of :func:`jax.random.key` folded with the stream's number), so no two uses share a key by accident
and adding a stream never changes another one's draws. Inside the train step the step's key is
``fold_in(stream_key(seed, Stream.STEP), step)`` and each augmentation takes its own stream of
it; an augmentation drawn per sample gives sample ``i`` of the batch the key
``fold_in(that_key, batch["index"][i])`` (:func:`sample_keys`), where ``batch["index"]`` is the
sample's position in the data stream (the loaders carry it). A sample's draw therefore depends on
the seed, the step and the sample only: never on the batch's position on a device, so
``"single"``, ``"mesh"`` and ``"pmap"`` draw the same, and a resumed run draws what an
uninterrupted one would.

NumPy streams (on the host, in the data pipeline) are seeded from the same ``seed``: the loader's
shuffle and patch placement use ``(seed, sample index)``; the phantom's evaluation and validation
subjects use ``seed +`` :data:`PHANTOM_EVAL_OFFSET` / :data:`PHANTOM_VAL_OFFSET`, so they are never
training subjects.
"""

from __future__ import annotations

import enum

import jax
from jax.typing import ArrayLike

__all__ = ["PHANTOM_EVAL_OFFSET", "PHANTOM_VAL_OFFSET", "Stream", "sample_keys", "stream_key"]


class Stream(enum.IntEnum):
    """JAX random streams of a run; the value is what the run's root key is folded with."""

    PARAMS = 0
    """The U-Net's initial parameters."""
    STEP = 1
    """The train step's base key; step ``s`` uses ``fold_in(base, s)``."""
    AUGMENT = 2
    """Random convolutions in the step (copy ``c`` of a consistency loss: ``fold_in(., c)``)."""
    INTENSITY = 3
    """nnU-Net's intensity augmentations in the step."""
    DIAGNOSTICS = 4
    """The study's training-free augmentation diagnostics."""
    GALLERY = 5
    """The study's augmentation gallery (draw ``j``: ``fold_in(., j)``)."""


PHANTOM_EVAL_OFFSET = 1_000_003
"""Phantom evaluation subjects are drawn with ``seed + PHANTOM_EVAL_OFFSET``."""
PHANTOM_VAL_OFFSET = 2_000_029
"""The study's source-validation subjects are drawn with ``seed + PHANTOM_VAL_OFFSET``."""


def stream_key(seed: int, stream: Stream) -> jax.Array:
    """The typed key of ``stream`` for a run seeded with ``seed``."""
    if not isinstance(stream, Stream):
        raise TypeError(f"stream must be a train.rng.Stream, got {stream!r}")
    return jax.random.fold_in(jax.random.key(int(seed)), int(stream))


def sample_keys(key: jax.Array, index: ArrayLike) -> jax.Array:
    """Per-sample keys ``fold_in(key, index[i])`` for a batch's sample indices ``index`` ``(B,)`` int."""
    return jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, index)
