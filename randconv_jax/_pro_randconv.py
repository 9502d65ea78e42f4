"""Pro-RandConv (Choi et al., CVPR 2023): one random block repeated L ~ U{1..L_max} times.

The block (same weights, offsets, gamma and beta at every repeat):

1. a deformable ``3^d`` convolution ``C -> C`` (bilinear / trilinear sampling, zero outside) whose
   weights ~ N(0, 1/(C * 3^d)) are multiplied by a Gaussian window
   ``g[t] = exp(-|t|^2 / (2 sigma_g^2))`` over the tap grid ``t in {-1, 0, 1}^d``, with
   ``sigma_g ~ U(eps, b_g)``; offsets ~ N(0, sigma_delta^2) per position, tap and axis, with
   ``sigma_delta ~ U(eps, b_delta)`` (optionally smoothed into a Gaussian random field);
2. per-channel standardization over the spatial axes (``(z - mean) / (std + 1e-5)``);
3. a random affine ``gamma_c * z + beta_c``, ``gamma, beta ~ N(0, 0.5^2)`` per channel;
4. ``tanh``.

There is no official code (the paper's authors did not release it). Each choice follows the
third-party reproductions, which agree on it unless noted in :func:`sample_pro_randconv`.

Offsets are not stored: they are a pure function of ``offset_key`` (drawn per tap inside the
convolution's tap loop, see :func:`pro_randconv_offsets`), so a 160x192x160 volume never holds
the ``27 * 3`` offset fields at once.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.typing import ArrayLike

from randconv_jax import _deformable, _normalize, _validation
from randconv_jax._typing import PRNGKey

KERNEL_SIZE = 3  # the paper's k (fixed).
MAX_REPEATS = 10  # L_max of the paper.
SIGMA_G_BOUND = 1.0  # b_g.
OFFSET_BOUND = 0.5  # b_delta for 224x224 images (PACS); also our choice for 3D volumes.
DIGITS_OFFSET_BOUND = 0.2  # b_delta for 32x32 digits.
AFFINE_STD = 0.5  # sigma_gamma = sigma_beta.
EPSILON = 0.01  # the "small value" eps of U(eps, b); reproductions use 1e-4 to 1e-2.
STANDARDIZE_EPS = 1e-5


@functools.partial(
    jax.tree_util.register_dataclass,
    data_fields=["weights", "sigma_g", "offset_sigma", "offset_key", "gamma", "beta", "repeats"],
    meta_fields=["offset_smoothing"],
)
@dataclasses.dataclass(frozen=True)
class ProRandConvParams:
    """What one Pro-RandConv block drew (a pytree; batched under a per-sample ``vmap``).

    Attributes:
      weights: ``(3,)*d + (C, C)`` float32 raw kernel (HWIO / DHWIO) ~ N(0, 1/(C * 3^d)),
        before the Gaussian window; :attr:`kernel` is the windowed kernel the block uses.
      sigma_g: float32 scalar, the Gaussian window's width.
      offset_sigma: float32 scalar sigma_delta, the offsets' std in pixels (voxels).
      offset_key: uint32 key data (``jax.random.key_data``) from which the offsets are drawn,
        one ``(V, d)`` field per tap; :func:`pro_randconv_offsets` materializes them.
      gamma, beta: ``(C,)`` float32 affine parameters.
      repeats: int32 scalar L, how many times the block runs.
      offset_smoothing: static; None for white-noise offsets, else the Gaussian correlation
        length (pixels) of the smoothed offset field.

    Source: Choi et al., CVPR 2023, as reconstructed by the third-party reproductions.
    """

    weights: jax.Array
    sigma_g: jax.Array
    offset_sigma: jax.Array
    offset_key: jax.Array
    gamma: jax.Array
    beta: jax.Array
    repeats: jax.Array
    offset_smoothing: float | None = None

    @property
    def kernel(self) -> jax.Array:
        """The windowed kernel ``weights * g`` with ``g[t] = exp(-|t|^2 / (2 sigma_g^2))``."""
        d = self.weights.ndim - 2
        return self.weights * gaussian_window(self.sigma_g, d, self.weights.shape[0])[..., None, None]


def gaussian_window(sigma_g: ArrayLike, spatial_dims: int, size: int = KERNEL_SIZE) -> jax.Array:
    """``(size,)*d`` float32 window ``exp(-(i^2 + j^2 [+ l^2]) / (2 sigma_g^2))``, taps centred on 0."""
    r = np.arange(size, dtype=np.float32) - size // 2
    sq = sum(np.meshgrid(*([r * r] * spatial_dims), indexing="ij"))
    sigma = jnp.asarray(sigma_g, jnp.float32)
    return jnp.exp(-jnp.asarray(sq) / (2.0 * sigma * sigma))


def _smooth_field(noise: jax.Array, spatial: tuple[int, ...], length: float) -> jax.Array:
    """``(V, d)`` white noise -> a periodic Gaussian random field with unit marginal std per component.

    White noise filtered by a Gaussian of std ``length`` pixels (via FFT), divided by the
    filter's exact gain ``sqrt(mean |H|^2)``, so every value is N(0, 1) (neighbours correlated).
    """
    field = noise.reshape(spatial + (noise.shape[-1],))
    axes = tuple(range(len(spatial)))
    gains = [np.exp(-0.5 * (2.0 * np.pi * np.fft.fftfreq(s) * length) ** 2) for s in spatial]
    full = gains[0]
    for g in gains[1:]:
        full = np.multiply.outer(full, g)
    scale = 1.0 / np.sqrt(np.mean(full**2))
    transfer = full[..., : spatial[-1] // 2 + 1] * scale  # the rfft half of the last axis
    smooth = jnp.fft.irfftn(
        jnp.fft.rfftn(field, axes=axes) * transfer.astype(np.float32)[..., None], s=spatial, axes=axes
    )
    return smooth.reshape(noise.shape).astype(jnp.float32)


def _tap_offsets(params: ProRandConvParams, spatial: tuple[int, ...]) -> _deformable.TapOffsets:
    key = jax.random.wrap_key_data(params.offset_key)
    n_voxels, d = math.prod(spatial), len(spatial)

    def offsets(t: jax.Array) -> jax.Array:
        noise = jax.random.normal(jax.random.fold_in(key, t), (n_voxels, d), jnp.float32)
        if params.offset_smoothing is not None:
            noise = _smooth_field(noise, spatial, params.offset_smoothing)
        return noise * params.offset_sigma

    return offsets


def pro_randconv_offsets(params: ProRandConvParams, spatial_shape: tuple[int, ...]) -> jax.Array:
    """The offsets the block uses on an image of spatial shape ``spatial_shape``, materialized.

    Returns:
      ``(*spatial, 3^d, d)`` float32, in the layout of :func:`randconv_jax.deform_conv`.
      Memory: ``3^d * d`` times one channel of the image (for inspection and tests).

    Source: offsets ~ N(0, sigma_delta^2) per position and tap (Choi et al. 2023, as the
    reproductions draw them).
    """
    spatial = tuple(int(s) for s in spatial_shape)
    offsets = _tap_offsets(jax.tree.map(lax.stop_gradient, params), spatial)
    n_taps = KERNEL_SIZE ** len(spatial)
    return jnp.stack([offsets(jnp.int32(t)) for t in range(n_taps)], axis=1).reshape(spatial + (n_taps, len(spatial)))


def check_hyper_parameters(
    *, sigma_g_bound: ArrayLike, offset_bound: ArrayLike, affine_std: ArrayLike, epsilon: ArrayLike
) -> None:
    """ValueError naming the argument for a NaN, infinite, negative or inverted concrete value."""
    for name, value in (
        ("sigma_g_bound", sigma_g_bound),
        ("offset_bound", offset_bound),
        ("affine_std", affine_std),
        ("epsilon", epsilon),
    ):
        _validation.check_number(value, name=name, minimum=0.0)
    _validation.check_ordered(epsilon, sigma_g_bound, low_name="epsilon", high_name="sigma_g_bound")
    _validation.check_ordered(epsilon, offset_bound, low_name="epsilon", high_name="offset_bound")


def sample_pro_randconv(
    key: PRNGKey,
    image: ArrayLike | jax.ShapeDtypeStruct,
    *,
    max_repeats: int = MAX_REPEATS,
    sigma_g_bound: ArrayLike = SIGMA_G_BOUND,
    offset_bound: ArrayLike = OFFSET_BOUND,
    affine_std: ArrayLike = AFFINE_STD,
    epsilon: ArrayLike = EPSILON,
    offset_smoothing: float | None = None,
    check_layout: bool = True,
) -> ProRandConvParams:
    """Draws one Pro-RandConv block and its repeat count L (reads only the image's shape).

    Defaults and their sources (Choi et al., CVPR 2023; no official code, so each follows
    the reproductions, which agree on it):

    * kernel ``3^d``, weights ~ N(0, 1/(C * 3^d)) (He fan-in law, gain 1; the medical
      ``pro_randconv()`` copy uses 1/K^2, a deviation we do not follow);
    * ``sigma_g ~ U(epsilon, sigma_g_bound)``, ``sigma_g_bound = 1``;
    * ``sigma_delta ~ U(epsilon, offset_bound)``: 0.5 for 224x224 images (PACS) by default,
      0.2 for 32x32 digits (:data:`DIGITS_OFFSET_BOUND`); for 3D volumes we keep 0.5
      (no 3D reproduction exists; brain MRI at ~1 mm is closer in size to 224^2 images);
    * ``epsilon = 0.01`` (the medical reproduction; others use 1e-4 to 1e-2);
    * ``gamma, beta ~ N(0, affine_std^2)`` per channel, ``affine_std = 0.5``;
    * ``L ~ U{1, ..., max_repeats}``, ``max_repeats = 10``.

    Args:
      key: PRNG key (typed or legacy).
      image: ``(H, W, C)`` or ``(D, H, W, C)`` float array or ``jax.ShapeDtypeStruct``.
      max_repeats: L_max (a Python int; it changes no shape).
      sigma_g_bound, offset_bound, affine_std, epsilon: as above; may be traced scalars.
      offset_smoothing: None (default: white-noise offsets, as most reproductions) or a
        correlation length in pixels: offsets become a periodic Gaussian random field
        (white noise filtered by a Gaussian, rescaled to std sigma_delta), the paper's
        second option (one reproduction uses a power-law spectrum instead).
      check_layout: refuse channels-first or batch-like shapes (False opts out).

    Concrete bounds, stds and ``epsilon`` must be finite and >= 0, with ``epsilon`` at most
    ``sigma_g_bound`` and ``offset_bound`` (they bound uniform draws); traced values are the
    caller's responsibility.

    Returns:
      :class:`ProRandConvParams`.
    """
    image = _validation.check_image_or_struct(image, layout=check_layout)
    check_hyper_parameters(
        sigma_g_bound=sigma_g_bound, offset_bound=offset_bound, affine_std=affine_std, epsilon=epsilon
    )
    max_repeats = _validation.check_positive_int(max_repeats, name="max_repeats")
    if offset_smoothing is not None:
        if not isinstance(offset_smoothing, (int, float)) or offset_smoothing <= 0:
            raise ValueError(f"offset_smoothing must be None or a positive float, got {offset_smoothing!r}")
        offset_smoothing = float(offset_smoothing)
    channels, d = image.shape[-1], len(image.shape) - 1
    k_w, k_g, k_off_sigma, k_off, k_gamma, k_beta, k_l = jax.random.split(key, 7)
    eps = jnp.asarray(epsilon, jnp.float32)
    std = 1.0 / math.sqrt(channels * KERNEL_SIZE**d)
    weights = jax.random.normal(k_w, (KERNEL_SIZE,) * d + (channels, channels), jnp.float32) * std
    sigma_g = jax.random.uniform(k_g, (), jnp.float32, eps, jnp.asarray(sigma_g_bound, jnp.float32))
    offset_sigma = jax.random.uniform(k_off_sigma, (), jnp.float32, eps, jnp.asarray(offset_bound, jnp.float32))
    affine = jnp.asarray(affine_std, jnp.float32)
    gamma = jax.random.normal(k_gamma, (channels,), jnp.float32) * affine
    beta = jax.random.normal(k_beta, (channels,), jnp.float32) * affine
    repeats = jax.random.randint(k_l, (), 1, max_repeats + 1, jnp.int32)
    return ProRandConvParams(
        weights, sigma_g, offset_sigma, jax.random.key_data(k_off), gamma, beta, repeats, offset_smoothing
    )


def _standardize(z: jax.Array, m: jax.Array | None) -> jax.Array:
    """Per-channel ``(z - mean) / (std + eps)`` over positions of a flat ``(V, C)`` array (inside ``m``)."""
    mean, std = _normalize.moments(z, None if m is None else m[:, None], (0,))
    return (z - mean) / (std + STANDARDIZE_EPS)


def apply_pro_randconv(image: ArrayLike, params: ProRandConvParams, *, mask: ArrayLike | None = None) -> jax.Array:
    """Runs the drawn block ``params.repeats`` times on one image (deterministic).

    ``y <- tanh(gamma * standardize(deform_conv(y, kernel, offsets)) + beta)``, L times, with
    the same kernel, offsets, gamma and beta each time. L is traced: a ``lax.fori_loop`` with a
    dynamic trip count runs exactly L blocks (under a per-sample ``vmap`` it becomes a loop to
    the batch's largest L that keeps finished images unchanged). A new L never recompiles.

    Args:
      image: ``(H, W, C)`` or ``(D, H, W, C)`` float array. The reproductions feed images
        scaled to about [-1, 1].
      params: :class:`ProRandConvParams` for this rank and channel count.
      mask: optional ``(*spatial,)`` foreground mask (bool or 0/1 integers): voxels outside it
        are zeroed before every convolution, standardization statistics are taken inside it,
        and voxels outside keep their input value in the output.

    Returns:
      Array of the image's shape and dtype, in [-1, 1] (tanh) inside the mask. No gradient
      flows into ``params``.

    Source: Choi et al., CVPR 2023 (no official code; the reproductions' block).
    """
    image = _validation.check_image(image)
    params = jax.tree.map(lax.stop_gradient, params)
    spatial, channels, d = image.shape[:-1], image.shape[-1], image.ndim - 1
    if params.weights.shape != (KERNEL_SIZE,) * d + (channels, channels):
        raise ValueError(
            f"params.weights has shape {params.weights.shape}, expected {(KERNEL_SIZE,) * d + (channels, channels)} "
            f"for an image of shape {image.shape}"
        )
    m = _validation.check_mask(mask, image)
    m_flat = None if m is None else m.reshape(-1)
    x = image.astype(jnp.float32).reshape(-1, channels)
    kernel = params.kernel
    tap_offsets = _tap_offsets(params, spatial)

    def block(_: jax.Array, y: jax.Array) -> jax.Array:
        if m_flat is not None:
            y = jnp.where(m_flat[:, None], y, jnp.zeros((), y.dtype))
        z = _deformable.deform_conv_flat(y, spatial, kernel, tap_offsets)
        return jnp.tanh(params.gamma * _standardize(z, m_flat) + params.beta)

    y: jax.Array = lax.fori_loop(0, params.repeats, block, x)
    if m_flat is not None:
        y = jnp.where(m_flat[:, None], y, x)
    return y.reshape(image.shape).astype(image.dtype)


def pro_randconv(
    key: PRNGKey,
    image: ArrayLike,
    *,
    max_repeats: int = MAX_REPEATS,
    sigma_g_bound: ArrayLike = SIGMA_G_BOUND,
    offset_bound: ArrayLike = OFFSET_BOUND,
    affine_std: ArrayLike = AFFINE_STD,
    epsilon: ArrayLike = EPSILON,
    offset_smoothing: float | None = None,
    mask: ArrayLike | None = None,
    check_layout: bool = True,
) -> jax.Array:
    """Pro-RandConv (Choi et al., CVPR 2023) of one image: a random block repeated L times.

    ``apply_pro_randconv(image, sample_pro_randconv(key, image, ...), mask=mask)``; see
    those two functions for the block, the defaults and their sources.

    Returns:
      Array of the image's shape and dtype, in [-1, 1].

    References:
      Choi, Das, Choi, Yang, Park, Yun, `Progressive Random Convolutions for Single Domain
      Generalization <https://arxiv.org/abs/2304.00424>`_, CVPR 2023 (no official code).

    Examples:
      >>> import jax, jax.numpy as jnp, randconv_jax
      >>> randconv_jax.pro_randconv(jax.random.key(0), jnp.ones((16, 16, 3))).shape
      (16, 16, 3)
    """
    params = sample_pro_randconv(
        key,
        image,
        max_repeats=max_repeats,
        sigma_g_bound=sigma_g_bound,
        offset_bound=offset_bound,
        affine_std=affine_std,
        epsilon=epsilon,
        offset_smoothing=offset_smoothing,
        check_layout=check_layout,
    )
    return apply_pro_randconv(image, params, mask=mask)
