"""nnU-Net's default intensity augmentations, on device, per sample and per channel.

The baseline every random-convolution method is compared with: what nnU-Net v2 applies to
every training patch (``nnUNetTrainer.get_training_transforms``), in its order and with its
probabilities, parameters drawn per sample and, except for the noise, per channel
(``synchronize_channels=False``):

==================================  ====  ==========================================
transform                           p     parameters
==================================  ====  ==========================================
Gaussian noise                      0.1   variance ~ U(0, 0.1), one per sample
Gaussian blur (each channel p 0.5)  0.2   σ ~ U(0.5, 1) voxels, per channel
brightness (multiplicative)         0.15  × U(0.75, 1.25), per channel
contrast                            0.15  × U(0.75, 1.25) around the mean, range kept
gamma on the inverted image         0.1   γ ~ U(0.7, 1.5), mean and std restored
gamma                               0.3   γ ~ U(0.7, 1.5), mean and std restored
==================================  ====  ==========================================

Voxels outside the mask are reset to their input value afterwards (nnU-Net's
``MaskImageTransform``). Not included: the low-resolution simulation (its random resize is a
dynamic shape under ``jit``) and all spatial transforms (rotation, scaling, mirroring).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from train.rng import sample_keys

_EPS = 1e-7


def _gaussian_blur(x: jax.Array, sigma: jax.Array) -> jax.Array:
    """Separable Gaussian blur of one channel ``(*spatial,)``; radius 3 voxels (σ <= 1), zero padding."""
    taps = jnp.arange(-3, 4, dtype=x.dtype)
    w = jnp.exp(-0.5 * (taps / sigma) ** 2)
    w = w / w.sum()
    for axis in range(x.ndim):
        padded = jnp.pad(x, [(3, 3) if a == axis else (0, 0) for a in range(x.ndim)])
        n = x.shape[axis]
        x = sum(w[i] * lax.slice_in_dim(padded, i, i + n, axis=axis) for i in range(7))
    return x


def _gamma(x: jax.Array, gamma: jax.Array, invert: bool) -> jax.Array:
    """nnU-Net ``GammaTransform`` on one channel, ``retain_stats=True``."""
    sign = -1.0 if invert else 1.0
    x = sign * x
    mean, std = x.mean(), x.std()
    lo, hi = x.min(), x.max()
    rng = hi - lo
    y = jnp.power((x - lo) / (rng + _EPS), gamma) * (rng + _EPS) + lo
    y = (y - y.mean()) / (y.std() + 1e-8) * std + mean
    return sign * y


def nnunet_intensity(key: jax.Array, image: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    """Applies the transforms of the module docstring to one image.

    Args:
        key: a PRNG key.
        image: ``(*spatial, C)`` float, channels last (2D or 3D).
        mask: ``(*spatial)`` bool foreground, or None.

    Returns:
        The augmented image, same shape and dtype.
    """
    x = image.astype(jnp.float32)
    c = x.shape[-1]
    k = jax.random.split(key, 12)
    u = lambda i, shape=(): jax.random.uniform(k[i], shape)  # noqa: E731

    # Gaussian noise, p 0.1, variance ~ U(0, 0.1)
    noise_std = jnp.sqrt(0.1 * u(0))
    x = jnp.where(u(1) < 0.1, x + noise_std * jax.random.normal(k[2], x.shape), x)

    # Gaussian blur, p 0.2 per sample, then p 0.5 per channel, sigma ~ U(0.5, 1)
    sigmas = 0.5 + 0.5 * u(3, (c,))
    blur_channel = (u(4) < 0.2) & (u(5, (c,)) < 0.5)
    blurred = jnp.stack([_gaussian_blur(x[..., i], sigmas[i]) for i in range(c)], axis=-1)
    x = jnp.where(blur_channel, blurred, x)

    # brightness, p 0.15, x U(0.75, 1.25) per channel
    x = jnp.where(u(6) < 0.15, x * (0.75 + 0.5 * u(7, (c,))), x)

    # contrast, p 0.15, per channel factor around the mean, clipped to the original range
    spatial = tuple(range(x.ndim - 1))
    factor = 0.75 + 0.5 * u(8, (c,))
    mean = x.mean(axis=spatial)
    lo, hi = x.min(axis=spatial), x.max(axis=spatial)
    contrasted = jnp.clip((x - mean) * factor + mean, lo, hi)
    x = jnp.where(u(9) < 0.15, contrasted, x)

    # gamma on the inverted image (p 0.1) and gamma (p 0.3), gamma ~ U(0.7, 1.5) per channel
    kg = jax.random.split(k[10], 4)
    for j, (p, invert) in enumerate(((0.1, True), (0.3, False))):
        gammas = 0.7 + 0.8 * jax.random.uniform(kg[2 * j], (c,))
        gam = jnp.stack([_gamma(x[..., i], gammas[i], invert) for i in range(c)], axis=-1)
        x = jnp.where(jax.random.uniform(kg[2 * j + 1]) < p, gam, x)

    if mask is not None:
        x = jnp.where(mask[..., None], x, image.astype(jnp.float32))
    return lax.stop_gradient(x.astype(image.dtype))


def intensity_batch(key: jax.Array, images: jax.Array, masks: jax.Array | None, index: ArrayLike) -> jax.Array:
    """:func:`nnunet_intensity` per sample over ``(B, *spatial, C)``.

    Sample ``i`` draws with ``fold_in(key, index[i])`` (:func:`train.rng.sample_keys`; ``index``
    ``(B,)`` int, the samples' indices in the data stream), so data-parallel runs draw as one device.
    """
    keys = sample_keys(key, index)
    if masks is None:
        return jax.vmap(lambda kk, x: nnunet_intensity(kk, x))(keys, images)
    return jax.vmap(nnunet_intensity)(keys, images, masks)
