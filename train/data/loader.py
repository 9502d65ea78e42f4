"""Deterministic, checkpointable training loader on grain's ``MapDataset`` API.

Pipeline: ``MapDataset.range(n_cases).shuffle(seed).repeat()`` (reshuffled every epoch, infinite)
-> ``map_with_index`` (sample one patch; its randomness comes from ``(seed, stream index)`` only)
-> ``batch(B)`` -> ``to_iter_dataset()`` [-> ``mp_prefetch(num_workers)``]. Every batch is a pure
function of ``seed`` and its position in the stream, so it is the same with 0 or N workers, and
``get_state()`` / ``set_state()`` resume exactly at the next batch.

Patch sampling (as nnU-Net's data loader):

* Modes: 3D patches from 3D cases; 2D patches from 2D cases (the whole image, cropped / padded
  to the patch size); 2D slices of 3D cases (``spatial_dims=2``): a random slice along
  ``slice_axis``, then a 2D patch of it.
* Placement: uniform over positions where the patch lies inside the image; on an axis where the
  image is smaller than the patch, the image is placed at a uniform offset inside the patch.
  Padding is 0 for the image and the label, False for the mask.
* Foreground oversampling: in each batch of ``B`` the last ``round(B * oversample_foreground)``
  samples are forced to contain foreground: a random foreground class of the case, then a random
  voxel of it is the patch centre (clipped so the patch stays in range; the voxel is always in the
  patch; in slice mode the slice through that voxel). Cases without foreground fall back to
  uniform placement.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from train.data.cases import Case

__all__ = ["PatchSampler", "die_with_parent", "make_train_iterator"]


PARENT_POLL_S = 0.5
"""How often a loader worker checks that the training process that started it is alive."""


def _exit_with_parent(parent: int, poll_s: float) -> None:
    while os.getppid() == parent:
        time.sleep(poll_s)
    os._exit(0)  # the parent died (even by SIGKILL): its orphaned worker stops, it does not keep running


def die_with_parent(worker_index: int, worker_count: int, *, parent: int) -> None:
    """grain ``worker_init_fn`` (bound with ``parent=os.getpid()`` in the training process): ends the
    worker process when that parent is gone.

    A worker whose parent was killed is re-parented (to init or a subreaper); a daemon thread sees
    ``os.getppid()`` differ from ``parent`` within :data:`PARENT_POLL_S` seconds and exits the
    process (at once if the parent died while the worker was still starting). Without it, a
    training killed with SIGKILL or by the out-of-memory killer left its loader workers running.
    """
    del worker_index, worker_count
    threading.Thread(target=_exit_with_parent, args=(parent, PARENT_POLL_S), daemon=True,
                     name="die-with-parent").start()


def _mark_absl_flags_parsed() -> None:
    """grain's worker processes read absl flags; outside ``absl.app.run`` they are unparsed."""
    from absl import flags

    if not flags.FLAGS.is_parsed():
        flags.FLAGS.mark_as_parsed()


class PatchSampler:
    """``map_with_index`` function: (stream index, case index) -> one sample dict (picklable).

    Args:
        cases: labeled cases, all of one spatial rank and channel count.
        patch_size: output spatial patch shape (rank ``spatial_dims``).
        batch_size: ``B``; sample ``i`` of the stream is at batch position ``i % B``.
        seed: base seed.
        spatial_dims: output spatial rank (2 or 3).
        slice_axis: axis of 3D cases to slice along in 2D mode.
        n_forced: number of forced-foreground samples at the end of each batch.
    """

    def __init__(
        self,
        cases: Sequence[Case],
        patch_size: tuple[int, ...],
        batch_size: int,
        seed: int,
        spatial_dims: int,
        slice_axis: int,
        n_forced: int,
    ) -> None:
        self.images = [c.image for c in cases]
        self.labels = [c.label for c in cases]
        self.masks = [c.mask for c in cases]
        # foreground voxel flat indices per class > 0, per case
        self.fg = []
        for lab in self.labels:
            flat = lab.ravel()
            classes = [int(k) for k in np.unique(flat) if k > 0]
            self.fg.append([np.flatnonzero(flat == k) for k in classes])
        self.patch_size = patch_size
        self.batch_size = batch_size
        self.seed = seed
        self.spatial_dims = spatial_dims
        self.slice_axis = slice_axis
        self.n_forced = n_forced

    def __call__(self, index: int, case_index: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng([self.seed, int(index)])
        img, lab, msk = self.images[case_index], self.labels[case_index], self.masks[case_index]
        shape = lab.shape
        forced = (index % self.batch_size) >= self.batch_size - self.n_forced and len(self.fg[case_index]) > 0
        center = None
        if forced:
            voxels = self.fg[case_index][int(rng.integers(len(self.fg[case_index])))]
            center = np.unravel_index(int(voxels[int(rng.integers(voxels.size))]), shape)
        if self.spatial_dims == 2 and len(shape) == 3:
            ax = self.slice_axis
            k = int(center[ax]) if center is not None else int(rng.integers(shape[ax]))
            img, lab, msk = (np.take(a, k, axis=ax) for a in (img, lab, msk))
            if center is not None:
                center = tuple(c for i, c in enumerate(center) if i != ax)
            shape = lab.shape
        starts = []
        for i, (n, p) in enumerate(zip(shape, self.patch_size, strict=True)):
            lo, hi = min(0, n - p), max(0, n - p)
            if center is None:
                starts.append(int(rng.integers(lo, hi + 1)))
            else:
                starts.append(int(np.clip(int(center[i]) - p // 2, lo, hi)))
        return {
            "image": _extract(img, starts, self.patch_size, 0.0).astype(np.float32, copy=False),
            "label": _extract(lab, starts, self.patch_size, 0).astype(np.int32, copy=False),
            "mask": _extract(msk, starts, self.patch_size, False).astype(bool, copy=False),
            "index": np.int32(index),
        }


def _extract(a: np.ndarray, starts: Sequence[int], size: Sequence[int], fill: Any) -> np.ndarray:
    """Window ``a[start:start + size]`` per leading spatial axis, padded with ``fill`` out of range."""
    d = len(size)
    out = np.full(tuple(size) + a.shape[d:], fill, dtype=a.dtype)
    src, dst = [], []
    for s, p, n in zip(starts, size, a.shape[:d], strict=True):
        a0, a1 = max(s, 0), min(s + p, n)
        src.append(slice(a0, a1))
        dst.append(slice(a0 - s, a1 - s))
    out[tuple(dst)] = a[tuple(src)]
    return out


def _validate(
    cases: Sequence[Case],
    patch_size: Sequence[int],
    batch_size: int,
    spatial_dims: int | None,
    slice_axis: int,
    oversample_foreground: float,
    num_workers: int,
) -> tuple[tuple[int, ...], int]:
    if isinstance(cases, Case) or not isinstance(cases, Sequence) or len(cases) == 0:
        raise ValueError(f"cases must be a non-empty sequence of Case, got {type(cases).__name__}")
    if not all(isinstance(c, Case) for c in cases):
        raise ValueError("cases must contain only Case objects")
    ranks = {c.image.ndim - 1 for c in cases}
    if len(ranks) != 1:
        raise ValueError(f"cases must all have one spatial rank, got ranks {sorted(ranks)}")
    channels = {c.image.shape[-1] for c in cases}
    if len(channels) != 1:
        raise ValueError(f"cases must all have the same number of channels, got {sorted(channels)}")
    unlabeled = [c.name for c in cases if c.label is None]
    if unlabeled:
        raise ValueError(f"cases: training needs labels; unlabeled cases {unlabeled[:5]}")
    rank = ranks.pop()
    if spatial_dims is None:
        spatial_dims = rank
    if spatial_dims not in (2, 3) or spatial_dims > rank:
        raise ValueError(f"spatial_dims must be 2 or 3 and <= the cases' spatial rank {rank}, got {spatial_dims!r}")
    if spatial_dims == 2 and rank == 3 and not (isinstance(slice_axis, int) and 0 <= slice_axis < 3):
        raise ValueError(f"slice_axis must be 0, 1 or 2, got {slice_axis!r}")
    try:
        patch = tuple(int(p) for p in patch_size)
    except TypeError as err:
        raise ValueError(f"patch_size must be a sequence of ints, got {patch_size!r}") from err
    if len(patch) != spatial_dims or any(p < 1 for p in patch):
        raise ValueError(f"patch_size must be {spatial_dims} positive ints (spatial_dims={spatial_dims}), got {patch}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    if not 0.0 <= float(oversample_foreground) <= 1.0:
        raise ValueError(f"oversample_foreground must be in [0, 1], got {oversample_foreground!r}")
    if isinstance(num_workers, bool) or not isinstance(num_workers, int | np.integer) or num_workers < 0:
        raise ValueError(f"num_workers must be an int >= 0, got {num_workers!r}")
    return patch, spatial_dims


def make_train_iterator(
    cases: Sequence[Case],
    *,
    patch_size: Sequence[int],
    batch_size: int,
    seed: int,
    spatial_dims: int | None = None,
    slice_axis: int = 0,
    oversample_foreground: float = 0.33,
    num_workers: int = 0,
) -> Iterator[dict[str, np.ndarray]]:
    """Infinite, deterministic, checkpointable iterator of training batches.

    Args:
        cases: labeled cases (typically preprocessed), one spatial rank and channel count.
        patch_size: spatial patch shape, length = output spatial rank.
        batch_size: ``B``.
        seed: determines the whole stream (case order per epoch and every patch).
        spatial_dims: output spatial rank; default the cases' rank; 2 with 3D cases = slice mode.
        slice_axis: axis of 3D cases sliced in slice mode (0 = axial for the phantom).
        oversample_foreground: fraction of each batch (the last ``round(B * f)`` samples) forced
            to contain foreground (nnU-Net's 0.33).
        num_workers: 0 = in-process; N > 0 = N worker processes (``mp_prefetch``); same batches.
            Workers end when the process that started them does (:func:`die_with_parent`).

    Returns:
        A grain ``DatasetIterator`` yielding dicts ``image`` ``(B, *patch, C)`` float32, ``label``
        ``(B, *patch)`` int32, ``mask`` ``(B, *patch)`` bool and ``index`` ``(B,)`` int32 (each
        sample's position in the stream: its augmentation key in the train step, see
        :mod:`train.rng`) (NumPy), with ``get_state()`` / ``set_state(state)`` for checkpoints.

    Raises:
        ValueError: bad arguments, naming them.
    """
    import grain  # imported here so that importing train.data stays light

    patch, dims = _validate(cases, patch_size, batch_size, spatial_dims, slice_axis, oversample_foreground, num_workers)
    n_forced = int(round(batch_size * float(oversample_foreground)))
    sampler = PatchSampler(cases, patch, int(batch_size), int(seed), dims, int(slice_axis), n_forced)
    ds = (
        grain.MapDataset.range(len(cases))
        .shuffle(seed=int(seed))
        .repeat(None)
        .map_with_index(sampler)
        .batch(int(batch_size), drop_remainder=True)
    )
    # bounded read-ahead (grain's default buffers 500 samples, too many for 3D patches)
    it_ds = ds.to_iter_dataset(grain.ReadOptions(num_threads=2, prefetch_buffer_size=2 * int(batch_size)))
    if num_workers > 0:
        _mark_absl_flags_parsed()
        it_ds = it_ds.mp_prefetch(grain.MultiprocessingOptions(num_workers=int(num_workers)),
                                  worker_init_fn=functools.partial(die_with_parent, parent=os.getpid()))
    return iter(it_ds)
