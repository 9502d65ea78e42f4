"""Output re-normalization modes for random convolutions.

Each mode maps the raw random-convolution output ``y`` back towards the input
``x``'s intensity scale. Statistics are taken inside ``mask`` when one is given
(voxels outside it are never read, so a NaN there cannot spread), and voxels outside
the mask keep their input value, so RC never paints signal outside the head. Modes and
their sources:

============================  ==============================================================
``"none"``                    ``y`` as is (RandConv paper runs, Xu et al. 2021).
``"clamp_to_input_range"``    clip each channel to the input channel's [min, max]
                              (RandConv ``--clamp_output``, with the input's range).
``"frobenius"``               ``y * ||x||_F / (||y||_F + 1e-5)`` over all channels (GIN,
                              Ouyang et al. 2022).
``"zscore_restore"``          per channel: z-score ``y``, then give it the input channel's
                              mean and std (population std, ``+ 1e-8``): the project's
                              per-modality form of the MS group's nnU-Net transform.
``"zscore_restore_joint"``    one mean and one std over all channels and positions, before
                              and after: ``(y - mean(y)) / (std(y) + 1e-5) * (std(x) + 1e-5)
                              + mean(x)`` with Bessel-corrected std, as the nnU-Net fork's
                              ``RandomConvolutionTransform`` (master ``77dedc7``) does.
``"zscore_no_restore"``       per channel ``(y - mean(y)) / (std(y) + 1e-5)`` (Bessel), no
                              restore: the fork's ``rc-augs`` branch (``9ee43a3``).
``"minmax_foreground"``       per channel: min-max ``y`` to [0, 1] over the foreground
                              (``rc_aug``-style, for inputs in [0, 1]). Without a mask the
                              foreground is where the *input* is non-zero in any channel;
                              the background keeps its input value.
``"minmax_nonzero"``          per channel, exactly ``rc_aug`` (Scholz et al. 2025): over the
                              voxels where the *output* is non-zero, subtract the minimum,
                              then divide by the maximum; voxels where the output is zero
                              stay 0. A linear RC spreads a zero-background head into a halo
                              of ``depth * (k // 2)`` voxels, which this mode normalizes too.
============================  ==============================================================

Statistics are computed in float32 (at least) and scaled by a power of two near the data's
largest magnitude, so images of any finite magnitude (bfloat16 near 1e38 included) give
finite statistics; for ordinary magnitudes the scaling is exact.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from randconv_jax import _validation

MODES = (
    "none",
    "clamp_to_input_range",
    "frobenius",
    "zscore_restore",
    "zscore_restore_joint",
    "zscore_no_restore",
    "minmax_foreground",
    "minmax_nonzero",
)
FROBENIUS_EPS = 1e-5  # GIN's official code.
ZSCORE_EPS = 1e-8
FORK_EPS = 1e-5  # the nnU-Net fork adds 1e-5 to both Bessel-corrected stds.
MINMAX_EPS = 1e-8


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"normalize must be one of {MODES}, got {mode!r}")
    return mode


def _pow2_at_least(value: jax.Array) -> jax.Array:
    """The smallest power of two >= ``value`` (1 where ``value`` is 0 or not finite)."""
    _, exponent = jnp.frexp(value)
    scale = jnp.ldexp(jnp.ones_like(value), exponent)
    return jnp.where(jnp.isfinite(value) & (value > 0), scale, jnp.ones_like(value))


def _inside(a: jax.Array, m: jax.Array | None, fill: float) -> jax.Array:
    return a if m is None else jnp.where(m, a, jnp.asarray(fill, a.dtype))


def moments(a: jax.Array, m: jax.Array | None, axes: tuple[int, ...], *, ddof: int = 0) -> tuple[jax.Array, jax.Array]:
    """Mean and std of ``a`` over ``axes`` inside the boolean mask ``m`` (broadcast to ``a``).

    Never reads ``a`` outside ``m``. The mean sums ``a / n``; the variance sums squares of
    ``(a - mean) / s`` with ``s`` a power of two >= ``max |a|``, so neither overflows.
    """
    mean, std, _ = _scaled_moments(a, m, axes, ddof)
    return mean, std


def _scaled_moments(
    a: jax.Array, m: jax.Array | None, axes: tuple[int, ...], ddof: int
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """:func:`moments` and the power-of-two scale ``s`` it used."""
    if m is None:
        count = jnp.asarray(float(math.prod(a.shape[i] for i in axes)), a.dtype)
    else:
        count = jnp.sum(jnp.broadcast_to(m, a.shape), axis=axes, keepdims=True).astype(a.dtype)
    count = jnp.maximum(count, 1.0)
    inside = _inside(a, m, 0.0)
    mean = jnp.sum(inside * (1.0 / count), axis=axes, keepdims=True)
    scale = _pow2_at_least(jnp.max(jnp.abs(inside), axis=axes, keepdims=True))
    # a / s - mean / s is (a - mean) / s exactly (s a power of two) but cannot overflow.
    centred = _inside(a / scale - mean / scale, m, 0.0)
    var = jnp.sum(jnp.square(centred), axis=axes, keepdims=True) / jnp.maximum(count - ddof, 1.0)
    return mean, jnp.sqrt(var) * scale, scale


def _zscore(y: jax.Array, m: jax.Array | None, axes: tuple[int, ...], eps: float, ddof: int) -> jax.Array:
    """``(y - mean) / (std + eps)`` with the statistics of ``y`` inside ``m``, computed on ``y / s``
    (``s`` the power of two of :func:`moments`: exact, and no intermediate overflow)."""
    mean, std, scale = _scaled_moments(y, m, axes, ddof)
    return (y / scale - mean / scale) / (std / scale + eps / scale)


def frobenius_norm(a: jax.Array, m: jax.Array | None) -> jax.Array:
    """``||a||_F`` over everything inside ``m``, overflow-free (scaled by a power of two)."""
    inside = _inside(a, m, 0.0)
    scale = _pow2_at_least(jnp.max(jnp.abs(inside)))
    return jnp.sqrt(jnp.sum(jnp.square(inside / scale))) * scale


def _masked_min_max(a: jax.Array, m: jax.Array | None, spatial_axes: tuple[int, ...]) -> tuple[jax.Array, jax.Array]:
    if m is None:
        return (jnp.min(a, axis=spatial_axes, keepdims=True), jnp.max(a, axis=spatial_axes, keepdims=True))
    lo = jnp.min(jnp.where(m, a, jnp.inf), axis=spatial_axes, keepdims=True)
    hi = jnp.max(jnp.where(m, a, -jnp.inf), axis=spatial_axes, keepdims=True)
    return lo, hi


def _minmax(y: jax.Array, m: jax.Array | None, spatial_axes: tuple[int, ...]) -> jax.Array:
    lo, hi = _masked_min_max(y, m, spatial_axes)
    # Scaled by a power of two >= max(|lo|, |hi|) so that y - lo cannot overflow.
    scale = _pow2_at_least(jnp.maximum(jnp.abs(lo), jnp.abs(hi)))
    return (y / scale - lo / scale) / ((hi - lo) / scale + MINMAX_EPS / scale)


def normalize_channels_first(y: jax.Array, x: jax.Array, mode: str, mask: jax.Array | None) -> jax.Array:
    """``y``, ``x``: ``(C, *S)`` float arrays; ``mask``: ``(*S,)`` bool or None."""
    spatial_axes = tuple(range(1, y.ndim))
    all_axes = tuple(range(y.ndim))
    m = None if mask is None else mask[None]
    if mode == "none":
        out = y
    elif mode == "clamp_to_input_range":
        lo, hi = _masked_min_max(x, m, spatial_axes)
        out = jnp.clip(y, lo, hi)
    elif mode == "frobenius":
        out = y * (frobenius_norm(x, m) / (frobenius_norm(y, m) + FROBENIUS_EPS))
    elif mode == "zscore_restore":
        mean_x, std_x = moments(x, m, spatial_axes)
        out = _zscore(y, m, spatial_axes, ZSCORE_EPS, 0) * std_x + mean_x
    elif mode == "zscore_restore_joint":
        mean_x, std_x = moments(x, m, all_axes, ddof=1)
        out = _zscore(y, m, all_axes, FORK_EPS, 1) * (std_x + FORK_EPS) + mean_x
    elif mode == "zscore_no_restore":
        out = _zscore(y, m, spatial_axes, FORK_EPS, 1)
    elif mode == "minmax_foreground":
        fg = jnp.any(x != 0, axis=0)[None] if m is None else m
        out = _minmax(y, fg, spatial_axes)
        m = fg
    elif mode == "minmax_nonzero":
        nonzero = y != 0
        fg = nonzero if m is None else nonzero & m
        out = jnp.where(fg, _minmax(y, fg, spatial_axes), jnp.zeros((), y.dtype))
    else:
        raise ValueError(f"normalize must be one of {MODES}, got {mode!r}")
    if m is not None:
        out = jnp.where(m, out, x)
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
      output: ``(*spatial, C)`` float array (float32, bfloat16, float16, ...), e.g. a raw
        random-convolution output.
      reference: the input image, same shape.
      mode: one of :data:`MODES` (see the module docstring for each mode's formula and source).
      mask: optional ``(*spatial,)`` boolean (or 0/1 integer) foreground mask; statistics are
        computed inside it (values outside are never read) and voxels outside keep the
        reference's value.

    Returns:
      ``(*spatial, C)`` array in ``output``'s dtype (computed in float32 at least).

    Source: the formulas of the module table (GIN, the nnU-Net fork, ``rc_aug``, RandConv).

    Examples:
      >>> import jax.numpy as jnp, randconv_jax as rcj
      >>> x = jnp.arange(1.0, 13.0).reshape(2, 2, 3)
      >>> y = rcj.normalize_output(3.0 * x - 1.0, x, mode="zscore_restore")
      >>> bool(jnp.allclose(y, x, atol=1e-5))  # an affine change of contrast is undone
      True
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
