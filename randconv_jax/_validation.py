"""Trace-time argument checks with messages that name the argument and the expectation."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike


def check_image(image: ArrayLike, *, name: str = "image") -> jax.Array:
    """Returns ``image`` as an array after checking it is one float image of rank 3 or 4."""
    if isinstance(image, (list, tuple)):
        raise TypeError(f"{name} must be an array, got a {type(image).__name__}")
    image = jnp.asarray(image)
    if not jnp.issubdtype(image.dtype, jnp.floating):
        raise TypeError(
            f"{name} must have a floating-point dtype (float32, bfloat16, float16, "
            f"...), got {image.dtype}; convert it with image.astype(jnp.float32)"
        )
    if image.ndim not in (3, 4):
        raise ValueError(
            f"{name} must be one unbatched channels-last image of shape (H, W, C) "
            f"or (D, H, W, C), got shape {image.shape}; batch with jax.vmap or "
            "randconv_jax.batched"
        )
    return image


def check_mask(mask: ArrayLike | None, image: jax.Array, *, name: str = "mask") -> jax.Array | None:
    """Returns ``mask`` as a boolean array of the image's spatial shape, or None."""
    if mask is None:
        return None
    mask = jnp.asarray(mask)
    spatial = image.shape[:-1]
    if mask.shape == spatial + (1,):
        mask = mask[..., 0]
    if mask.shape != spatial:
        raise ValueError(
            f"{name} must have the image's spatial shape {spatial} (or {spatial + (1,)}), got shape {mask.shape}"
        )
    if mask.dtype == jnp.bool_:
        return mask
    if not (jnp.issubdtype(mask.dtype, jnp.integer) or jnp.issubdtype(mask.dtype, jnp.floating)):
        raise TypeError(f"{name} must be boolean or numeric with values in {{0, 1}}, got {mask.dtype}")
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
    """Checks a concrete probability lies in [0, 1]; traced values pass unchecked."""
    if isinstance(value, (int, float, np.number)) and not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {value}")
    return jnp.asarray(value, jnp.float32)


def check_range(value: tuple[ArrayLike, ArrayLike], *, name: str) -> tuple[jax.Array, jax.Array]:
    """Checks a (low, high) pair; concrete values must satisfy low <= high."""
    try:
        low, high = value
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (low, high), got {value!r}") from None
    if isinstance(low, (int, float)) and isinstance(high, (int, float)) and low > high:
        raise ValueError(f"{name} must satisfy low <= high, got {value!r}")
    return jnp.asarray(low, jnp.float32), jnp.asarray(high, jnp.float32)
