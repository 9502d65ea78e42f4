"""Training batches from in-memory arrays: deterministic, checkpointable (no files, no workers)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


class ArrayBatches:
    """Endless batches from arrays, reshuffled every epoch from ``seed``.

    Args:
        images: ``(N, *spatial, C)`` float32.
        labels: ``(N, *spatial)`` int.
        masks: ``(N, *spatial)`` bool, or None (all foreground).
        batch_size: images per batch (``<= N``); an epoch drops the remainder.
        seed: shuffling seed; the order of epoch ``e`` depends only on ``(seed, e)``.

    Yields ``{"image", "label", "mask", "index"}`` (``index`` ``(B,)`` int32: each sample's position
    in the stream, ``epoch · B · (N // B) + position in the epoch``; its augmentation key in the
    train step, see :mod:`train.rng`); ``get_state()``/``set_state()`` give and restore the
    position, so a resumed run sees exactly the batches an uninterrupted one would.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, masks: np.ndarray | None = None, *,
                 batch_size: int, seed: int = 0):
        images, labels = np.asarray(images), np.asarray(labels)
        if images.ndim not in (4, 5):
            raise ValueError(f"images must be (N, *spatial, C) with 2 or 3 spatial axes, got shape {images.shape}")
        if labels.shape != images.shape[:-1]:
            raise ValueError(f"labels must have shape {images.shape[:-1]}, got {labels.shape}")
        masks = np.ones(labels.shape, bool) if masks is None else np.asarray(masks, bool)
        if masks.shape != labels.shape:
            raise ValueError(f"masks must have shape {labels.shape}, got {masks.shape}")
        if not 1 <= batch_size <= images.shape[0]:
            raise ValueError(f"batch_size must be in [1, {images.shape[0]}], got {batch_size}")
        self._images = images.astype(np.float32)
        self._labels = labels.astype(np.int32)
        self._masks = masks
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self._epoch, self._index = 0, 0

    def _order(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(self._images.shape[0])

    def __iter__(self) -> ArrayBatches:
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        if self._index + self.batch_size > self._images.shape[0]:
            self._epoch, self._index = self._epoch + 1, 0
        idx = self._order(self._epoch)[self._index:self._index + self.batch_size]
        per_epoch = self.batch_size * (self._images.shape[0] // self.batch_size)
        first = self._epoch * per_epoch + self._index
        self._index += self.batch_size
        index = np.arange(first, first + self.batch_size, dtype=np.int32)
        return {"image": self._images[idx], "label": self._labels[idx], "mask": self._masks[idx], "index": index}

    def get_state(self) -> dict[str, int]:
        return {"epoch": self._epoch, "index": self._index}

    def set_state(self, state: Mapping[str, Any]) -> None:
        try:
            epoch, index = int(state["epoch"]), int(state["index"])
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"state must be {{'epoch': int, 'index': int}} from get_state(), got {state!r}") from e
        self._epoch, self._index = epoch, index
