"""Output re-normalization modes for random convolutions.

Each mode maps the raw random-convolution output ``y`` back towards the input
``x``'s intensity scale. Statistics are taken inside ``mask`` when one is given,
and voxels outside the mask keep their input value, so RC never paints signal
outside the head. Modes and their sources:

============================  ==============================================================
``"none"``                    ``y`` as is (RandConv paper runs, Xu et al. 2021).
``"clamp_to_input_range"``    clip each channel to the input channel's [min, max]
                              (RandConv ``--clamp_output``, with the input's range).
``"frobenius"``               ``y * ||x||_F / (||y||_F + 1e-5)`` over all channels (GIN,
                              Ouyang et al. 2022).
``"zscore_restore"``          per channel: z-score ``y``, then give it the input channel's
                              mean and std (the MS group's nnU-Net transform).
``"minmax_foreground"``       per channel: min-max ``y`` to [0, 1] over the foreground
                              (``rc_aug``, Scholz et al. 2025, whose inputs are in [0, 1]).
                              Without a mask the foreground is where the input is non-zero
                              in any channel; the background keeps its input value.
============================  ==============================================================
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from randconv_jax import _validation

MODES = ("none", "clamp_to_input_range", "frobenius", "zscore_restore", "minmax_foreground")
FROBENIUS_EPS = 1e-5  # GIN's official code.
ZSCORE_EPS = 1e-8
MINMAX_EPS = 1e-8


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"normalize must be one of {MODES}, got {mode!r}")
    return mode


def _masked_stats(a: jax.Array, m: jax.Array | None, spatial_axes: tuple[int, ...]) -> tuple[jax.Array, jax.Array]:
    """Per-channel mean and std of a channels-first array inside a spatial mask."""
    if m is None:
        mean = jnp.mean(a, axis=spatial_axes, keepdims=True)
        std = jnp.sqrt(jnp.mean(jnp.square(a - mean), axis=spatial_axes, keepdims=True))
        return mean, std
    w = m.astype(a.dtype)[None]
    count = jnp.maximum(jnp.sum(w), 1.0)
    mean = jnp.sum(a * w, axis=spatial_axes, keepdims=True) / count
    var = jnp.sum(jnp.square(a - mean) * w, axis=spatial_axes, keepdims=True) / count
    return mean, jnp.sqrt(var)


def _masked_min_max(a: jax.Array, m: jax.Array | None, spatial_axes: tuple[int, ...]) -> tuple[jax.Array, jax.Array]:
    if m is None:
        return (jnp.min(a, axis=spatial_axes, keepdims=True), jnp.max(a, axis=spatial_axes, keepdims=True))
    inside = m[None]
    lo = jnp.min(jnp.where(inside, a, jnp.inf), axis=spatial_axes, keepdims=True)
    hi = jnp.max(jnp.where(inside, a, -jnp.inf), axis=spatial_axes, keepdims=True)
    return lo, hi


def normalize_channels_first(y: jax.Array, x: jax.Array, mode: str, mask: jax.Array | None) -> jax.Array:
    """``y``, ``x``: ``(C, *S)`` float arrays; ``mask``: ``(*S,)`` bool or None."""
    spatial_axes = tuple(range(1, y.ndim))
    if mode == "minmax_foreground" and mask is None:
        mask = jnp.any(x != 0, axis=0)
    if mode == "none":
        out = y
    elif mode == "clamp_to_input_range":
        lo, hi = _masked_min_max(x, mask, spatial_axes)
        out = jnp.clip(y, lo, hi)
    elif mode == "frobenius":
        w = 1.0 if mask is None else mask.astype(y.dtype)[None]
        norm_x = jnp.sqrt(jnp.sum(jnp.square(x) * w))
        norm_y = jnp.sqrt(jnp.sum(jnp.square(y) * w))
        out = y * (norm_x / (norm_y + FROBENIUS_EPS))
    elif mode == "zscore_restore":
        mean_x, std_x = _masked_stats(x, mask, spatial_axes)
        mean_y, std_y = _masked_stats(y, mask, spatial_axes)
        out = (y - mean_y) * (std_x / (std_y + ZSCORE_EPS)) + mean_x
    elif mode == "minmax_foreground":
        lo, hi = _masked_min_max(y, mask, spatial_axes)
        out = (y - lo) / (hi - lo + MINMAX_EPS)
    else:
        raise ValueError(f"normalize must be one of {MODES}, got {mode!r}")
    if mask is not None:
        out = jnp.where(mask[None], out, x)
    return out


def normalize_output(
    output: ArrayLike,
    reference: ArrayLike,
    *,
    mode: str,
    mask: ArrayLike | None = None,
) -> jax.Array:
    """Re-normalizes ``output`` against ``reference`` (the augmentation's input).

    Args:
      output: ``(*spatial, C)`` float array, e.g. a raw random-convolution output.
      reference: the input image, same shape.
      mode: one of :data:`MODES` (see the module docstring for each mode's formula and source).
      mask: optional ``(*spatial,)`` boolean or {0, 1} foreground mask; statistics are
        computed inside it and voxels outside keep the reference's value.

    Returns:
      ``(*spatial, C)`` array in ``output``'s dtype (computed in float32 at least).
    """
    output = _validation.check_image(output, name="output")
    reference = _validation.check_image(reference, name="reference")
    if output.shape != reference.shape:
        raise ValueError(f"output shape {output.shape} must equal reference shape {reference.shape}")
    check_mode(mode)
    m = _validation.check_mask(mask, reference)
    compute = jnp.promote_types(output.dtype, jnp.float32)
    y = jnp.moveaxis(output.astype(compute), -1, 0)
    x = jnp.moveaxis(reference.astype(compute), -1, 0)
    return jnp.moveaxis(normalize_channels_first(y, x, mode, m), 0, -1).astype(output.dtype)
