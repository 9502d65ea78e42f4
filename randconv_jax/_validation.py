"""Trace-time argument checks with messages that name the argument and the expectation.

Numbers are checked when they are concrete (Python or NumPy numbers, concrete arrays); a
traced value (an argument of a jitted or vmapped function, a schedule) cannot be inspected
while tracing and is the caller's responsibility.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

MAX_CHANNELS_BEFORE_LAYOUT_CHECK = 16
"""A last axis longer than this and than a spatial axis looks like a spatial axis (channels-first input)."""

BATCH_RATIO = 8
"""A rank-4 input whose first axis is at most 1/8 of the next two looks like a batch of 2D images."""


def concrete_value(value: object) -> np.ndarray | None:
    """``value`` as a NumPy array when it is concrete, None when it is traced (or not numeric)."""
    if isinstance(value, jax.core.Tracer):
        return None
    if isinstance(value, (bool, int, float, np.number, np.ndarray, jax.Array)):
        try:
            return np.asarray(value)
        except (TypeError, jax.errors.ConcretizationTypeError):  # pragma: no cover - defensive
            return None
    return None


def check_number(
    value: ArrayLike | None,
    *,
    name: str,
    minimum: float | None = None,
    strictly: bool = False,
    allow_none: bool = False,
) -> None:
    """Raises a ValueError naming ``name`` if a concrete ``value`` is NaN, infinite or below ``minimum``.

    ``strictly=True`` also refuses ``value == minimum``. Traced values pass unchecked.
    """
    if value is None:
        if allow_none:
            return
        raise ValueError(f"{name} must be a number, got None")
    if isinstance(value, (str, bytes)) or (isinstance(value, (list, tuple)) and not value):
        raise ValueError(f"{name} must be a number, got {value!r}")
    v = concrete_value(value)
    if v is None:
        return
    if not (np.issubdtype(v.dtype, np.floating) or np.issubdtype(v.dtype, np.integer) or v.dtype == np.bool_):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    v = v.astype(np.float64)
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if minimum is not None:
        bad = np.any(v <= minimum) if strictly else np.any(v < minimum)
        if bad:
            relation = ">" if strictly else ">="
            raise ValueError(f"{name} must be {relation} {minimum:g}, got {value!r}")


def check_layout(shape: Sequence[int], *, name: str = "image") -> None:
    """Refuses shapes that look like a channels-first image or a batch of 2D images.

    * channels-first: the last axis (taken as C) is longer than 16 and than a spatial axis,
      e.g. ``(3, 224, 224)``, which would otherwise run as 224 channels;
    * a batch: rank 4 with a first axis at most 1/8 of the next two, e.g. ``(8, 224, 224, 3)``,
      which would otherwise run as one 8-slice volume. (A batch whose first axis is comparable
      to the image size, such as 32 digits of 32x32, cannot be told from a volume.)

    Callers whose input really has that layout pass ``check_layout=False`` to the function.
    """
    shape = tuple(int(s) for s in shape)
    spatial, channels = shape[:-1], shape[-1]
    if channels > MAX_CHANNELS_BEFORE_LAYOUT_CHECK and channels > min(spatial):
        raise ValueError(
            f"{name} of shape {shape} looks channels-first: its last axis ({channels}) is taken as the "
            f"channel axis C and is longer than a spatial axis. Expected a channels-last image (H, W, C) or "
            f"(D, H, W, C) (e.g. jnp.moveaxis({name}, 0, -1)); pass check_layout=False if it really has "
            f"{channels} channels"
        )
    if len(shape) == 4 and shape[0] * BATCH_RATIO <= min(shape[1], shape[2]):
        raise ValueError(
            f"{name} of shape {shape} looks like a batch of {shape[0]} 2D images (N, H, W, C), but one "
            f"unbatched image (H, W, C) or volume (D, H, W, C) is expected: batch with jax.vmap or "
            f"randconv_jax.batched; pass check_layout=False if it is one volume of {shape[0]} slices"
        )


def check_shape(shape: Sequence[int], *, name: str = "image") -> None:
    """Rank 3 or 4, no empty axis (C = 0 included)."""
    shape = tuple(shape)
    if len(shape) not in (3, 4):
        raise ValueError(
            f"{name} must be one unbatched channels-last image of shape (H, W, C) "
            f"or (D, H, W, C), got shape {shape}; batch with jax.vmap or "
            "randconv_jax.batched"
        )
    if any(s == 0 for s in shape):
        what = "no channels (C = 0)" if shape[-1] == 0 else "an empty spatial axis"
        raise ValueError(f"{name} of shape {shape} has {what}; every axis must have at least one element")


def check_image(image: ArrayLike, *, name: str = "image") -> jax.Array:
    """Returns ``image`` as an array after checking it is one float image of rank 3 or 4, no axis empty."""
    if isinstance(image, (list, tuple)):
        raise TypeError(f"{name} must be an array, got a {type(image).__name__}")
    image = jnp.asarray(image)
    if not jnp.issubdtype(image.dtype, jnp.floating):
        raise TypeError(
            f"{name} must have a floating-point dtype (float32, bfloat16, float16, "
            f"...), got {image.dtype}; convert it with image.astype(jnp.float32)"
        )
    check_shape(image.shape, name=name)
    return image


def check_image_or_struct(
    image: ArrayLike | jax.ShapeDtypeStruct, *, name: str = "image", layout: bool = True
) -> jax.ShapeDtypeStruct:
    """For samplers, which read only the shape: an image (checked as :func:`check_image`) or a
    ``jax.ShapeDtypeStruct``, returned as a struct; with ``layout`` the shape must also pass
    :func:`check_layout`."""
    if isinstance(image, jax.ShapeDtypeStruct):
        check_shape(image.shape, name=name)
        struct = image
    else:
        checked = check_image(image, name=name)
        struct = jax.ShapeDtypeStruct(checked.shape, checked.dtype)
    if layout:
        check_layout(struct.shape, name=name)
    return struct


def check_mask(
    mask: ArrayLike | None, image: jax.Array | jax.ShapeDtypeStruct, *, name: str = "mask"
) -> jax.Array | None:
    """Returns ``mask`` as a boolean array of the image's spatial shape, or None.

    Boolean masks are taken as they are. Integer (and float) masks must hold only 0 and 1:
    a concrete mask with another value (0.5, 2, NaN, ...) raises a ValueError; a traced
    numeric mask cannot be checked and is taken as ``mask != 0`` (the caller's responsibility).
    """
    if mask is None:
        return None
    if isinstance(mask, (list, tuple)):
        mask = np.asarray(mask)
    concrete = concrete_value(mask)
    mask = jnp.asarray(mask)
    spatial = image.shape[:-1]
    if mask.shape == spatial + (1,):
        mask = mask[..., 0]
        concrete = None if concrete is None else concrete[..., 0]
    if mask.shape != spatial:
        raise ValueError(
            f"{name} must have the image's spatial shape {spatial} (or {spatial + (1,)}), got shape {mask.shape}"
        )
    if mask.dtype == jnp.bool_:
        return mask
    if not (jnp.issubdtype(mask.dtype, jnp.integer) or jnp.issubdtype(mask.dtype, jnp.floating)):
        raise TypeError(f"{name} must be boolean or numeric with only the values 0 and 1, got {mask.dtype}")
    if concrete is not None:
        values = concrete.astype(np.float64)
        bad = ~((values == 0) | (values == 1))
        if np.any(bad):
            example = values[bad].flat[0]
            raise ValueError(
                f"{name} must be boolean or hold only 0 and 1, got a {mask.dtype} mask with the value "
                f"{example:g} ({int(bad.sum())} such voxels); threshold it first, e.g. {name} > 0.5"
            )
    return mask != 0


def check_kernel_sizes(kernel_size: int | Sequence[int], *, name: str = "kernel_size") -> tuple[int, ...]:
    """Returns a tuple of odd positive kernel sizes (one entry for a fixed size)."""
    sizes: tuple[int, ...]
    if isinstance(kernel_size, (int, np.integer)):
        sizes = (kernel_size,)
    else:
        try:
            sizes = tuple(kernel_size)
        except TypeError:
            raise ValueError(f"{name} must be an odd positive int or a tuple of them, got {kernel_size!r}") from None
    if not sizes:
        raise ValueError(f"{name} must be an odd positive int or a non-empty tuple of them, got ()")
    for k in sizes:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1 or k % 2 == 0:
            raise ValueError(
                f"{name} must be an odd positive int or a tuple of them (zero 'SAME' "
                f"padding needs a centre tap), got {kernel_size!r}"
            )
    return tuple(int(k) for k in sizes)


def check_positive_int(value: int, *, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def check_probability(value: ArrayLike, *, name: str = "probability") -> jax.Array:
    """Checks a concrete probability is a finite number in [0, 1]; traced values pass unchecked."""
    v = concrete_value(value)
    if v is not None:
        v = v.astype(np.float64)
        if not np.all(np.isfinite(v)) or np.any(v < 0.0) or np.any(v > 1.0):
            raise ValueError(f"{name} must lie in [0, 1], got {value!r}")
    elif isinstance(value, (str, bytes)) or value is None:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    return jnp.asarray(value, jnp.float32)


def check_range(value: tuple[ArrayLike, ArrayLike], *, name: str) -> tuple[jax.Array, jax.Array]:
    """Checks a (low, high) pair; concrete bounds must be finite with low <= high."""
    try:
        low, high = value
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (low, high), got {value!r}") from None
    check_number(low, name=f"{name}[0]")
    check_number(high, name=f"{name}[1]")
    lo, hi = concrete_value(low), concrete_value(high)
    if lo is not None and hi is not None and np.any(lo.astype(np.float64) > hi.astype(np.float64)):
        raise ValueError(f"{name} must satisfy low <= high, got {value!r}")
    return jnp.asarray(low, jnp.float32), jnp.asarray(high, jnp.float32)


def check_ordered(low: ArrayLike, high: ArrayLike, *, low_name: str, high_name: str) -> None:
    """Concrete ``low`` and ``high`` (bounds of one uniform draw) must satisfy low <= high."""
    lo, hi = concrete_value(low), concrete_value(high)
    if lo is not None and hi is not None and np.any(lo.astype(np.float64) > hi.astype(np.float64)):
        raise ValueError(f"{low_name} ({low!r}) must not exceed {high_name} ({high!r}): they bound one uniform draw")
