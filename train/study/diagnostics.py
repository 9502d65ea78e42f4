"""Training-free diagnostics of an augmentation: does it keep structure, does it vary appearance?

Both are computed on augmented images alone (no model), inside the foreground mask:

* **structure kept** ``S``: Pearson correlation between the gradient magnitude of the input and
  of the augmented image (each summed over channels), averaged over images and draws. 1 means
  the edges are where they were with proportional strength; RC that distorts anatomy (large
  ``L`` or ``k``) blurs and displaces edges and lowers it.
* **appearance varied** ``V``: every draw is standardized per channel inside the mask; ``V`` is
  the per-voxel standard deviation across draws, averaged over voxels, channels and images. 0
  means every draw is the input up to a global affine map of each channel (no new contrast);
  draws whose contrasts are unrelated give values near 1.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np


def _grad_magnitude(x: jax.Array) -> jax.Array:
    """``(*spatial, C)`` -> ``(*spatial)``: sum over channels of the central-difference gradient norm."""
    spatial = x.ndim - 1
    sq = sum(jnp.gradient(x, axis=a) ** 2 for a in range(spatial))
    return jnp.sqrt(sq).sum(axis=-1)


def _masked_corr(a: jax.Array, b: jax.Array, mask: jax.Array) -> jax.Array:
    w = mask.astype(jnp.float32)
    n = jnp.maximum(w.sum(), 1.0)
    am, bm = (a * w).sum() / n, (b * w).sum() / n
    cov = ((a - am) * (b - bm) * w).sum()
    return cov / jnp.sqrt(((a - am) ** 2 * w).sum() * ((b - bm) ** 2 * w).sum() + 1e-12)


def _standardize(x: jax.Array, mask: jax.Array) -> jax.Array:
    w = mask[..., None].astype(jnp.float32)
    axes = tuple(range(x.ndim - 1))
    n = jnp.maximum(w.sum(axis=axes), 1.0)
    mean = (x * w).sum(axis=axes) / n
    std = jnp.sqrt((((x - mean) ** 2) * w).sum(axis=axes) / n)
    return (x - mean) / (std + 1e-6)


def augmentation_diagnostics(key: jax.Array, augment: Callable, images: Sequence[np.ndarray],
                             masks: Sequence[np.ndarray], *, draws: int = 8) -> dict[str, float]:
    """``{"structure": S, "variety": V}`` (module docstring) of ``augment`` on ``images``.

    Args:
        key: PRNG key.
        augment: ``augment(key, image, mask=mask) -> image`` for one ``(*spatial, C)`` image.
        images: float32 ``(*spatial, C)`` images (e.g. preprocessed validation slices).
        masks: matching ``(*spatial)`` bool foreground masks.
        draws: augmentations per image.
    """
    if len(images) == 0 or len(images) != len(masks):
        raise ValueError(f"need matching non-empty images and masks, got {len(images)} and {len(masks)}")
    if draws < 2:
        raise ValueError(f"draws must be >= 2 (variety is a spread across draws), got {draws}")

    @jax.jit
    def one(k, x, m):
        outs = jax.vmap(lambda kk: augment(kk, x, mask=m))(jax.random.split(k, draws)).astype(jnp.float32)
        g0 = _grad_magnitude(x)
        s = jnp.mean(jax.vmap(lambda y: _masked_corr(g0, _grad_magnitude(y), m))(outs))
        z = jax.vmap(lambda y: _standardize(y, m))(outs)
        spread = z.std(axis=0).mean(axis=-1)
        v = (spread * m).sum() / jnp.maximum(m.sum(), 1)
        return s, v

    s_all, v_all = [], []
    for i, (x, m) in enumerate(zip(images, masks, strict=True)):
        s, v = one(jax.random.fold_in(key, i), jnp.asarray(x, jnp.float32), jnp.asarray(m, bool))
        s_all.append(float(s))
        v_all.append(float(v))
    return {"structure": float(np.mean(s_all)), "variety": float(np.mean(v_all))}
