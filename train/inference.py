"""Sliding-window (patch-based) inference with Gaussian or constant blending, in JAX.

Conventions follow MONAI ``sliding_window_inference`` and nnU-Net v2 ``nnUNetPredictor``:

* windows of ``patch_size`` with stride ``max(1, int(patch * (1 - overlap)))`` per axis; the last window on each axis
  is shifted back so that it ends exactly at the border (MONAI). nnU-Net instead spreads its windows evenly over the
  axis; both cover every voxel.
* ``overlap`` default 0.5 (nnU-Net ``tile_step_size=0.5``; MONAI's default is 0.25).
* Gaussian blending with sigma = ``sigma_scale * patch`` per axis, ``sigma_scale = 0.125`` (nnU-Net: 1/8 of the
  patch; MONAI's ``sigma_scale`` default is also 0.125), peak 1, strictly positive.
* images smaller than the patch on some axis are zero-padded (symmetrically, as MONAI) and the output cropped back.

Design (why a host loop): the windows are processed in fixed-size batches by a Python loop that calls three
compiled pieces -- a gather (``lax.dynamic_slice`` under ``vmap``), the user's ``predict_fn`` and a weighted
scatter-add into a donated accumulator (``lax.dynamic_update_slice`` in a ``lax.fori_loop``). Every call to
``predict_fn`` has the same shape ``(batch_size, *patch_size, C)``, so the network compiles **once per patch size**,
whatever the image shape; compiling the whole inference as one function would recompile the network for every new
image shape, which on CPU costs far more than the per-batch dispatch it saves: the network's forward pass dominates
the run time and the accumulator is updated in place either way (on a small 3D conv net, 64^3 image, 32^3 patches,
27 windows, the steady-state times of the two designs were within 5 % of each other). Pass a jitted
``predict_fn``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

__all__ = ["gaussian_importance_map", "sliding_window_inference", "window_starts"]

PredictFn = Callable[[jax.Array], Any]


def _as_tuple(value: float | Sequence[float], ndim: int, name: str) -> tuple[float, ...]:
    if isinstance(value, int | float | np.integer | np.floating):
        return (float(value),) * ndim
    out = tuple(float(v) for v in value)
    if len(out) != ndim:
        raise ValueError(f"{name} must be a scalar or have {ndim} entries, got {value!r}")
    return out


def gaussian_importance_map(
    patch_size: Sequence[int],
    *,
    sigma_scale: float | Sequence[float] = 0.125,
    min_weight: float | None = None,
) -> np.ndarray:
    """Separable Gaussian blending weights for one window (nnU-Net style).

    ``w(x) = prod_a exp(-(x_a - c_a)^2 / (2 sigma_a^2)) / max(...)`` with ``sigma_a = sigma_scale_a * patch_a`` and
    centre ``c_a = (patch_a - 1) / 2`` (the geometric centre, so the map is mirror-symmetric; nnU-Net puts the peak
    on voxel ``patch_a // 2``, half a voxel off for even sizes). The map is evaluated analytically (nnU-Net filters a
    delta with ``scipy.ndimage.gaussian_filter``, truncated at 4 sigma, which is the same up to that truncation and
    the half-voxel shift) and normalized so its maximum is exactly 1.

    Strict positivity: with ``min_weight=None`` (default) any weight that is 0 after casting to float32 is replaced
    by the smallest nonzero weight, as nnU-Net does (subnormal weights are treated as 0 here, since XLA may flush
    them to zero) (with the default ``sigma_scale`` no weight underflows: the
    corner of a 3D patch has weight ``exp(-8)^3 ~ 4e-11``). With a float ``min_weight`` the map is clamped below at
    it instead (MONAI clamps at ``max(min, 1e-3)``; pass ``1e-3`` for that).

    Args:
      patch_size: window shape, e.g. ``(96, 96, 96)``; positive ints.
      sigma_scale: sigma as a fraction of the patch size, scalar or per axis. Default 0.125 (= 1/8).
      min_weight: optional lower clamp, see above. Default None.

    Returns:
      float32 array of shape ``patch_size``, maximum 1, all entries > 0.
    """
    patch = tuple(int(p) for p in patch_size)
    if not patch or any(p < 1 for p in patch):
        raise ValueError(f"patch_size must be a non-empty sequence of positive ints, got {patch_size!r}")
    scales = _as_tuple(sigma_scale, len(patch), "sigma_scale")
    if any(s <= 0 for s in scales):
        raise ValueError(f"sigma_scale must be > 0, got {sigma_scale!r}")
    w = np.ones((), dtype=np.float64)
    for p, s in zip(patch, scales, strict=True):
        x = np.arange(p, dtype=np.float64) - (p - 1) / 2.0
        g = np.exp(-0.5 * (x / (s * p)) ** 2)
        w = np.multiply.outer(w, g / g.max())
    w = w.astype(np.float32)
    if min_weight is None:
        tiny = w < np.finfo(np.float32).tiny  # zero or subnormal (XLA on CPU may flush subnormals to zero)
        if tiny.any():
            w[tiny] = w[~tiny].min()
    else:
        if not 0 < min_weight <= 1:
            raise ValueError(f"min_weight must be in (0, 1], got {min_weight!r}")
        w = np.maximum(w, np.float32(min_weight))
    return w


def window_starts(size: int, patch: int, overlap: float) -> np.ndarray:
    """Start indices of the windows along one axis (MONAI rule).

    Stride ``max(1, int(patch * (1 - overlap)))``; ``ceil((size - patch) / stride) + 1`` windows starting at
    ``i * stride``, the last one moved back to ``size - patch`` so it ends at the border. ``size <= patch`` gives
    ``[0]`` (the image is padded to the patch).

    Args:
      size: image extent along the axis (after any padding to the patch size).
      patch: window extent, >= 1.
      overlap: fraction of overlap between neighbouring windows, 0 <= overlap < 1.

    Returns:
      int64 array of strictly increasing starts; ``starts[0] = 0`` and ``starts[-1] = max(size - patch, 0)``.
    """
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must be in [0, 1), got {overlap!r}")
    if patch < 1:
        raise ValueError(f"patch must be >= 1, got {patch}")
    if size <= patch:
        return np.zeros(1, dtype=np.int64)
    stride = max(1, int(patch * (1.0 - overlap)))
    n = math.ceil((size - patch) / stride) + 1
    return np.minimum(np.arange(n, dtype=np.int64) * stride, size - patch)


@functools.partial(jax.jit, static_argnames=("patch",))
def _gather(image: jax.Array, starts: jax.Array, patch: tuple[int, ...]) -> jax.Array:
    """``(*spatial, C)`` image, ``(B, d)`` starts -> ``(B, *patch, C)`` windows."""
    channels = image.shape[-1]

    def one(s: jax.Array) -> jax.Array:
        return lax.dynamic_slice(image, (*(s[i] for i in range(len(patch))), 0), (*patch, channels))

    return jax.vmap(one)(starts)


@functools.partial(jax.jit, donate_argnums=(0,))
def _accumulate(
    acc: jax.Array, preds: jax.Array, weight: jax.Array, starts: jax.Array, n_valid: jax.Array
) -> jax.Array:
    """Add ``weight * preds[i]`` into ``acc`` at ``starts[i]`` for ``i < n_valid`` (in place; ``acc`` is donated).

    ``acc``: ``(*spatial, K + 1)`` float32, the last channel accumulating the weights themselves; ``preds``:
    ``(B, *patch, K)``; ``weight``: ``(*patch, 1)`` float32; ``starts``: ``(B, d)`` int32.
    """
    d = starts.shape[1]
    k1 = acc.shape[-1]

    def body(i: jax.Array, acc: jax.Array) -> jax.Array:
        s = starts[i]
        idx = (*(s[a] for a in range(d)), 0)
        cur = lax.dynamic_slice(acc, idx, (*weight.shape[:-1], k1))
        upd = jnp.concatenate([preds[i].astype(jnp.float32) * weight, weight], axis=-1)
        return lax.dynamic_update_slice(acc, cur + upd, idx)

    return lax.fori_loop(0, n_valid, body, acc)


@functools.partial(jax.jit, static_argnames=("crop",))
def _finalize(acc: jax.Array, crop: tuple[tuple[int, int], ...]) -> jax.Array:
    out = acc[..., :-1] / acc[..., -1:]
    return out[tuple(slice(lo, hi) for lo, hi in crop)]


def sliding_window_inference(
    predict_fn: PredictFn,
    image: Any,
    *,
    patch_size: Sequence[int | None],
    overlap: float = 0.5,
    batch_size: int = 4,
    blend: str = "gaussian",
    sigma_scale: float | Sequence[float] = 0.125,
) -> jax.Array:
    """Predict a whole image window by window and blend the window outputs.

    Args:
      predict_fn: maps windows ``(B, *patch_size, C)`` (dtype of ``image``) to outputs ``(B, *patch_size, K)`` (e.g.
        logits; any float dtype, cast to float32). Always called with ``B = batch_size``; jit it for speed (it then
        compiles once per patch size).
      image: ONE channels-last image ``(*spatial, C)``, 2D (``(H, W, C)``) or 3D (``(D, H, W, C)``), any float dtype.
      patch_size: window shape, one entry per spatial axis; an entry ``None`` or ``<= 0`` means the full image extent
        on that axis (MONAI).
      overlap: overlap fraction between neighbouring windows, ``0 <= overlap < 1``. Default 0.5 (nnU-Net; MONAI
        uses 0.25).
      batch_size: windows per ``predict_fn`` call; the last batch is padded by repeating its last window and the
        extra outputs are discarded. Default 4 (Shifts baseline ``sw_batch_size``).
      blend: ``"gaussian"`` (default; :func:`gaussian_importance_map`) or ``"constant"`` (plain average).
      sigma_scale: Gaussian sigma as a fraction of the patch, scalar or per axis. Default 0.125 (nnU-Net 1/8).

    Returns:
      ``(*spatial, K)`` float32 ``jax.Array``: at every voxel, the weighted average of the outputs of all windows
      covering it, ``sum_w w * out / sum_w w``.
    """
    img = jnp.asarray(image)
    if img.ndim < 2:
        raise ValueError(f"image must be channels-last (*spatial, C), got shape {img.shape}")
    spatial = tuple(img.shape[:-1])
    d = len(spatial)
    if len(patch_size) != d:
        raise ValueError(f"patch_size must have {d} entries (one per spatial axis of {img.shape}), got {patch_size!r}")
    patch = tuple(s if p is None or int(p) <= 0 else int(p) for p, s in zip(patch_size, spatial, strict=True))
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if blend not in ("gaussian", "constant"):
        raise ValueError(f"blend must be 'gaussian' or 'constant', got {blend!r}")
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must be in [0, 1), got {overlap!r}")

    # Zero-pad axes smaller than the patch (symmetrically, like MONAI); crop back at the end.
    pads = [((p - s) // 2, (p - s) - (p - s) // 2) if s < p else (0, 0) for s, p in zip(spatial, patch, strict=True)]
    if any(lo or hi for lo, hi in pads):
        img = jnp.pad(img, [*pads, (0, 0)])
    padded = tuple(img.shape[:-1])
    crop = tuple((lo, lo + s) for (lo, _), s in zip(pads, spatial, strict=True))

    axes = [window_starts(s, p, overlap) for s, p in zip(padded, patch, strict=True)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, d).astype(np.int32)
    n_win = grid.shape[0]
    n_batches = -(-n_win // batch_size)
    grid = np.concatenate([grid, np.repeat(grid[-1:], n_batches * batch_size - n_win, axis=0)])

    if blend == "gaussian":
        weight = gaussian_importance_map(patch, sigma_scale=sigma_scale)
    else:
        weight = np.ones(patch, dtype=np.float32)
    weight = jnp.asarray(weight[..., None])

    acc = None
    for b in range(n_batches):
        starts = jnp.asarray(grid[b * batch_size : (b + 1) * batch_size])
        preds = jnp.asarray(predict_fn(_gather(img, starts, patch)))
        if preds.ndim != d + 2 or preds.shape[:-1] != (batch_size, *patch):
            raise ValueError(
                "predict_fn must return shape (batch_size, *patch_size, K) = "
                f"({batch_size}, {', '.join(map(str, patch))}, K), got {preds.shape}"
            )
        if acc is None:
            acc = jnp.zeros((*padded, preds.shape[-1] + 1), dtype=jnp.float32)
        n_valid = jnp.asarray(min(batch_size, n_win - b * batch_size), dtype=jnp.int32)
        acc = _accumulate(acc, preds, weight, starts, n_valid)
    assert acc is not None  # n_batches >= 1
    return _finalize(acc, crop)
