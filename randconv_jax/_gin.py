"""GIN and IPA (Ouyang et al., IEEE TMI 2022), in 2D and 3D.

* GIN (global intensity non-linear augmentation), after the official ``GINGroupConv``
  (``models/imagefilter.py``, 3D in ``models/imagefilter3d.py``): ``n_layers = 4`` random
  convolutions ``C -> 2 -> 2 -> 2 -> C``, each with its own kernel size drawn from ``{1, 3}``,
  weights and biases ~ N(0, 1), LeakyReLU(0.01) after every layer but the last; then
  ``alpha * GIN(x) + (1 - alpha) * x`` with ``alpha ~ U(0, 1)``, rescaled to the input's
  Frobenius norm: ``mixed * ||x||_F / (||mixed||_F + 1e-5)``.
* IPA (interventional pseudo-correlation augmentation), after ``AdvBias``
  (``biasfield_interpolate_cchen/adv_bias.py``) as the training code uses it: a smooth random
  blend mask ``m`` in [0, 1] from a random control grid interpolated by a quadratic B-spline,
  mixing two GIN draws ``a(x) * m + b(x) * (1 - m)``. The authors released 2D IPA only; the 3D
  one here applies the same construction along every axis.

Code: ``cheng-01037/Causality-Medical-Image-Domain-Generalization`` (commit ``d4d5056``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.typing import ArrayLike

from randconv_jax import _normalize, _random_conv, _validation
from randconv_jax._random_conv import RandomConvParams
from randconv_jax._typing import PRNGKey

N_LAYERS = 4  # GINGroupConv n_layer.
HIDDEN_CHANNELS = 2  # interm_channel.
KERNEL_SIZES = (1, 3)  # scale_pool.
NEGATIVE_SLOPE = 0.01  # F.leaky_relu default.
CONTROL_SPACING = 24  # blend_grid_size (training scripts); AdvBias control_point_spacing.
DOWNSCALE = 2  # AdvBias downscale.
SPLINE_ORDER = 2  # AdvBias interpolation_order as the training code configures it.


@functools.partial(jax.tree_util.register_dataclass, data_fields=["layers", "alpha"], meta_fields=[])
@dataclasses.dataclass(frozen=True)
class GINParams:
    """What one GIN drew.

    Attributes:
      layers: :class:`~randconv_jax.RandomConvParams` of the ``n_layers`` convolutions
        (``layers.layer_kernels()``: kernels ``(3,)*d + (C_in, C_out)``, zero outside a layer's
        drawn size; biases ``(C_out,)``; LeakyReLU after all but the last).
      alpha: float32 scalar mixing weight of the GIN output.

    Source: ``GINGroupConv`` of the official GIN-IPA code (Ouyang et al. 2022).
    """

    layers: RandomConvParams
    alpha: jax.Array


def sample_gin(
    key: PRNGKey,
    image: ArrayLike | jax.ShapeDtypeStruct,
    *,
    n_layers: int = N_LAYERS,
    hidden_channels: int = HIDDEN_CHANNELS,
    kernel_sizes: Sequence[int] = KERNEL_SIZES,
    weight_std: ArrayLike = 1.0,
    bias_std: ArrayLike = 1.0,
    alpha_range: tuple[ArrayLike, ArrayLike] = (0.0, 1.0),
    size_key: PRNGKey | None = None,
    check_layout: bool = True,
) -> GINParams:
    """Draws one GIN network and its mixing weight (reads only the image's shape).

    Defaults are the official code's (``GINGroupConv`` and the training configs):
    ``n_layers = 4``, ``hidden_channels = 2``, ``kernel_sizes = (1, 3)`` (one size per layer),
    weights and biases ~ N(0, 1) (``torch.randn``: not Kaiming; the Frobenius
    re-normalization makes the scale moot), ``alpha ~ U(0, 1)``. Channels: ``C -> C`` (the
    official code tiles grayscale to 3 channels and uses in = out = 3).

    Kernel sizes: the official code draws one size per layer per call, shared by the whole
    mini-batch (weights, biases and alpha per sample). Here the sizes come from ``key``
    unless ``size_key`` is given: passing one ``size_key`` to every image of a batch (as
    ``presets.for_batches("gin")`` does) shares the sizes as the official code does.

    Args:
      key: PRNG key (typed or legacy).
      image: ``(H, W, C)`` or ``(D, H, W, C)`` float array or ``jax.ShapeDtypeStruct``.
      n_layers, hidden_channels, kernel_sizes, weight_std, bias_std, alpha_range: as above
        (concrete stds must be finite and >= 0, the range finite and ordered).
      size_key: optional key for the kernel sizes only (see above).
      check_layout: refuse channels-first or batch-like shapes (False opts out).

    Returns:
      :class:`GINParams` (float32 kernels and biases, float32 scalar alpha).

    Source: ``GINGroupConv`` / ``GradlessGCReplayNonlinBlock`` of
    ``cheng-01037/Causality-Medical-Image-Domain-Generalization`` (``models/imagefilter.py``).
    """
    image = _validation.check_image_or_struct(image, layout=check_layout)
    _validation.check_number(weight_std, name="weight_std", minimum=0.0)
    _validation.check_number(bias_std, name="bias_std", minimum=0.0)
    n_layers = _validation.check_positive_int(n_layers, name="n_layers")
    hidden = _validation.check_positive_int(hidden_channels, name="hidden_channels")
    sizes = _validation.check_kernel_sizes(tuple(kernel_sizes), name="kernel_sizes")
    low, high = _validation.check_range(alpha_range, name="alpha_range")
    k_layers, k_alpha = jax.random.split(key)
    layers = _random_conv.sample_random_conv(
        k_layers,
        jax.ShapeDtypeStruct(image.shape, image.dtype),
        kernel_size=sizes,
        depth=n_layers,
        sigma=weight_std,
        hidden_channels=hidden,
        bias_std=bias_std,
        size_key=size_key,
        check_layout=False,
    )
    alpha = jax.random.uniform(k_alpha, (), jnp.float32, low, high)
    return GINParams(layers, alpha)


def _gin_network_cf(
    x: jax.Array, layers: RandomConvParams, negative_slope: float, impl: str, multiscale: str
) -> jax.Array:
    """The raw network on a channels-first ``(C, *S)`` float32 array."""
    flat = [(s, r) for s in layers.stacks for r in range(s.repeats)]
    y = x
    for n, (stack, r) in enumerate(flat):
        if n:
            # Keeps XLA from fusing consecutive layers into one loop nest that recomputes the
            # earlier layers per tap of the later ones.
            y = lax.optimization_barrier(y)
        bias = None if stack.biases is None else stack.biases[r]
        y = _random_conv._apply_layer(
            y, stack.kernels[r], bias, stack.size_index[r], stack.kernel_sizes, stack.groups, impl, multiscale
        )
        if n < len(flat) - 1:
            y = jnp.where(y >= 0, y, negative_slope * y)
    return y


def _gin_cf(
    x: jax.Array, params: GINParams, m: jax.Array | None, negative_slope: float, impl: str, multiscale: str
) -> jax.Array:
    # Masked-out voxels never reach the network (nor the statistics); they keep x in the output.
    inside = x if m is None else jnp.where(m[None], x, jnp.zeros((), x.dtype))
    y = _gin_network_cf(inside, params.layers, negative_slope, impl, multiscale)
    alpha = params.alpha.astype(jnp.float32)
    mixed = alpha * y + (1.0 - alpha) * inside
    return _normalize.normalize_channels_first(mixed, x, "frobenius", m)


def _check_gin_params(params: GINParams, image: jax.Array, name: str = "params") -> None:
    if not isinstance(params, GINParams):
        raise TypeError(f"{name} must be GINParams (from sample_gin), got {type(params).__name__}")
    _random_conv.check_params(params.layers, image)


def apply_gin(
    image: ArrayLike,
    params: GINParams,
    *,
    mask: ArrayLike | None = None,
    negative_slope: float = NEGATIVE_SLOPE,
    impl: str = "auto",
    multiscale: str = "switch",
) -> jax.Array:
    """Applies a drawn GIN to one image (deterministic).

    ``h = conv_L(lrelu(... lrelu(conv_1(x) + b_1) ...)) + b_L`` (zero 'SAME' padding), then
    ``mixed = alpha * h + (1 - alpha) * x`` and ``mixed * ||x||_F / (||mixed||_F + 1e-5)``, the
    norms over all channels and positions of this image (inside ``mask`` when given; voxels
    outside keep their input value).

    Args:
      image: ``(H, W, C)`` or ``(D, H, W, C)`` float array.
      params: :class:`GINParams` from :func:`sample_gin` for this image's rank and channels.
      mask: optional ``(*spatial,)`` foreground mask.
      negative_slope: LeakyReLU slope (0.01, ``F.leaky_relu``'s default).
      impl: convolution implementation (see :func:`randconv_jax.convolve`).
      multiscale: ``"switch"`` runs only each layer's drawn size, ``"full"`` the 3^d kernel
        (see :func:`randconv_jax.apply_random_conv`); same output.

    Returns:
      Array of the image's shape and dtype. No gradient flows into ``params``.

    Source: ``GINGroupConv.forward`` (``models/imagefilter.py``, Ouyang et al. 2022).
    """
    image = _validation.check_image(image)
    _check_gin_params(params, image)
    params = jax.tree.map(lax.stop_gradient, params)
    m = _validation.check_mask(mask, image)
    x = jnp.moveaxis(image.astype(jnp.promote_types(image.dtype, jnp.float32)), -1, 0)
    y = _gin_cf(x, params, m, negative_slope, impl, multiscale)
    return jnp.moveaxis(y, 0, -1).astype(image.dtype)


def gin(
    key: PRNGKey,
    image: ArrayLike,
    *,
    n_layers: int = N_LAYERS,
    hidden_channels: int = HIDDEN_CHANNELS,
    kernel_sizes: Sequence[int] = KERNEL_SIZES,
    alpha_range: tuple[ArrayLike, ArrayLike] = (0.0, 1.0),
    mask: ArrayLike | None = None,
    impl: str = "auto",
    check_layout: bool = True,
) -> jax.Array:
    """GIN (Ouyang et al., IEEE TMI 2022) of one image: ``apply_gin(image, sample_gin(key, image))``.

    See :func:`sample_gin` (the draws and their defaults) and :func:`apply_gin` (the maths).
    For a batch, draw per sample as the paper does:
    ``jax.vmap(gin)(jax.random.split(key, n), images)``.

    Returns:
      Array of the image's shape and dtype, with the input's Frobenius norm.

    References:
      Ouyang, Chen, Li, Li, Qin, Bai, Rueckert, `Causality-inspired Single-source Domain
      Generalization for Medical Image Segmentation <https://arxiv.org/abs/2111.12525>`_,
      IEEE TMI 2022; code ``cheng-01037/Causality-Medical-Image-Domain-Generalization``.
    """
    params = sample_gin(
        key,
        image,
        n_layers=n_layers,
        hidden_channels=hidden_channels,
        kernel_sizes=kernel_sizes,
        alpha_range=alpha_range,
        check_layout=check_layout,
    )
    return apply_gin(image, params, mask=mask, impl=impl)


# --------------------------------------------------------------------------- IPA blend mask


def _bspline_kernel_1d(spacing: int, order: int) -> np.ndarray:
    """AdvBias' B-spline kernel along one axis: repeated box filtering, zero padded as the original."""
    kernel = np.ones(spacing)
    for i in range(1, order + 1):
        full = np.convolve(kernel, np.ones(spacing)) / spacing
        extra = i * spacing - (spacing - 1)  # conv2d padding i*spacing around a 'valid' box filter
        kernel = np.pad(full, extra) if extra > 0 else full[-extra : len(full) + extra]
    return kernel


@functools.lru_cache(maxsize=64)
def _blend_matrix(size: int, spacing: int, downscale: float, order: int) -> np.ndarray:
    """``(size, n_control)`` float32 map from one axis' control points to the full-resolution field.

    Follows ``AdvBias.init_bias_field`` / ``compute_smoothed_bias``: control grid
    ``ceil(size / downscale / spacing) + 2`` points, ``conv_transpose`` with the B-spline kernel
    at stride ``spacing``, the same crop, then linear resampling to ``size`` with
    ``align_corners=True`` (the original's bilinear ``Upsample``).
    """
    small = size / downscale
    n_inner = int(np.ceil(small / spacing))
    inner = spacing * n_inner - (spacing - 1)
    n_control = n_inner + 2
    diff = inner - small
    crop_start = int(np.floor(abs(diff) / 2) * np.sign(diff) + np.remainder(diff, 2) * np.sign(diff))
    crop_end = int(np.floor(abs(diff) / 2) * np.sign(diff))
    kernel = _bspline_kernel_1d(spacing, order)
    padding = (len(kernel) - 1) // 2
    length = (n_control - 1) * spacing - 2 * padding + len(kernel)
    transposed = np.zeros((length, n_control))
    for i in range(n_control):
        for j, w in enumerate(kernel):
            o = i * spacing + j - padding
            if 0 <= o < length:
                transposed[o, i] += w
    cropped = transposed[spacing + crop_start : length - spacing - crop_end]
    if cropped.shape[0] < 1:
        cropped = transposed[length // 2 : length // 2 + 1]
    m = cropped.shape[0]
    if m == size:
        return cropped.astype(np.float32)
    pos = np.arange(size) * ((m - 1) / (size - 1)) if size > 1 else np.zeros(1)
    lo = np.clip(np.floor(pos).astype(int), 0, m - 1)
    hi = np.clip(lo + 1, 0, m - 1)
    frac = pos - lo
    resample = np.zeros((size, m))
    resample[np.arange(size), lo] += 1 - frac
    resample[np.arange(size), hi] += frac
    return (resample @ cropped).astype(np.float32)


def sample_ipa_mask(
    key: PRNGKey,
    image: ArrayLike | jax.ShapeDtypeStruct,
    *,
    control_spacing: int = CONTROL_SPACING,
    downscale: float = DOWNSCALE,
    order: int = SPLINE_ORDER,
    check_layout: bool = True,
) -> jax.Array:
    """A smooth random blend mask for IPA, shaped like the image's spatial axes (2D or 3D).

    After the official ``AdvBias`` as GIN-IPA trains with it: control points ~ N(0, 1) on a
    grid of ``ceil(size / downscale / control_spacing) + 2`` points per axis, normalized to
    unit L2 norm, interpolated by a B-spline of order ``order`` (repeated box filtering,
    applied as a transposed convolution with stride ``control_spacing``), cropped as the
    original, resampled linearly (``align_corners=True``) to the image size, then ``exp`` and
    min-max to [0, 1] (the original rescales to [1 - 0.3, 1 + 0.3] first; the min-max makes
    that step moot). Separable: one static matrix per axis, so 3D costs no more than a few
    small matrix products. Defaults: ``control_spacing = 24`` (``blend_grid_size``),
    ``downscale = 2``, ``order = 2``. In 3D (never released by the authors) the same
    construction runs along every axis.

    Args:
      key: PRNG key.
      image: ``(H, W, C)`` or ``(D, H, W, C)`` float array or ``jax.ShapeDtypeStruct`` (only
        its spatial shape is read).
      control_spacing, downscale, order: as above.
      check_layout: refuse channels-first or batch-like shapes (False opts out).

    Returns:
      ``(*spatial,)`` float32 in [0, 1], shared by all channels.

    Source: ``AdvBias`` (``biasfield_interpolate_cchen/adv_bias.py``) of the official GIN-IPA code.
    """
    image = _validation.check_image_or_struct(image, layout=check_layout)
    spacing = _validation.check_positive_int(control_spacing, name="control_spacing")
    order = _validation.check_positive_int(order, name="order")
    if not isinstance(downscale, (int, float)) or downscale <= 0:
        raise ValueError(f"downscale must be a positive number, got {downscale!r}")
    spatial = tuple(image.shape[:-1])
    grid = tuple(_blend_matrix(s, spacing, float(downscale), order).shape[1] for s in spatial)
    control = jax.random.normal(key, grid, jnp.float32)
    return _blend_mask_from_control(control, spatial, control_spacing=spacing, downscale=downscale, order=order)


def _blend_mask_from_control(
    control: ArrayLike,
    spatial_shape: tuple[int, ...],
    *,
    control_spacing: int = CONTROL_SPACING,
    downscale: float = DOWNSCALE,
    order: int = SPLINE_ORDER,
) -> jax.Array:
    """Internal: the deterministic part of :func:`sample_ipa_mask` for given control points.

    ``control``: ``(n_1, ..., n_d)`` control-point values (N(0, 1) in the sampler);
    returns the ``(*spatial_shape,)`` float32 mask in [0, 1].
    """
    spatial = tuple(int(s) for s in spatial_shape)
    mats = [_blend_matrix(s, control_spacing, float(downscale), order) for s in spatial]
    control = jnp.asarray(control, jnp.float32)
    if control.shape != tuple(m.shape[1] for m in mats):
        raise ValueError(f"control must have shape {tuple(m.shape[1] for m in mats)}, got {control.shape}")
    control = control / jnp.sqrt(jnp.sum(jnp.square(control)))
    field = control
    for axis, mat in enumerate(mats):
        field = jnp.moveaxis(jnp.tensordot(jnp.asarray(mat), field, axes=[[1], [axis]]), 0, axis)
    field = jnp.exp(field)
    lo, hi = jnp.min(field), jnp.max(field)
    return lax.stop_gradient((field - lo) / jnp.maximum(hi - lo, 1e-12))


# --------------------------------------------------------------------------- GIN-IPA


@functools.partial(jax.tree_util.register_dataclass, data_fields=["first", "second", "blend"], meta_fields=[])
@dataclasses.dataclass(frozen=True)
class GinIpaParams:
    """Two GIN draws and the blend mask: the output is ``first(x) * blend + second(x) * (1 - blend)``.

    Attributes:
      first, second: :class:`GINParams`.
      blend: ``(*spatial,)`` float32 mask in [0, 1] from :func:`sample_ipa_mask`.

    Source: ``set_input_aug_sup`` of the official GIN-IPA code (Ouyang et al. 2022).
    """

    first: GINParams
    second: GINParams
    blend: jax.Array


def sample_gin_ipa(
    key: PRNGKey,
    image: ArrayLike | jax.ShapeDtypeStruct,
    *,
    control_spacing: int = CONTROL_SPACING,
    downscale: float = DOWNSCALE,
    order: int = SPLINE_ORDER,
    size_key: PRNGKey | None = None,
    check_layout: bool = True,
    **gin_kwargs: Any,
) -> GinIpaParams:
    """Draws two independent GINs (keyword arguments of :func:`sample_gin`) and an IPA blend mask.

    Args:
      key: PRNG key.
      image: ``(H, W, C)`` or ``(D, H, W, C)`` float array or ``jax.ShapeDtypeStruct``.
      control_spacing, downscale, order: the mask's (:func:`sample_ipa_mask`).
      size_key: optional key for the two GINs' kernel sizes (split in two; see :func:`sample_gin`).
      check_layout: refuse channels-first or batch-like shapes (False opts out).
      **gin_kwargs: keyword arguments of :func:`sample_gin`.

    Returns:
      :class:`GinIpaParams` (float32 kernels, scalar alphas, a ``(*spatial,)`` float32 mask).

    Source: the two GINs of ``set_input_aug_sup`` and ``AdvBias`` (official GIN-IPA code).
    """
    image = _validation.check_image_or_struct(image, layout=check_layout)
    k_a, k_b, k_m = jax.random.split(key, 3)
    s_a, s_b = (None, None) if size_key is None else tuple(jax.random.split(size_key))
    return GinIpaParams(
        sample_gin(k_a, image, size_key=s_a, check_layout=False, **gin_kwargs),
        sample_gin(k_b, image, size_key=s_b, check_layout=False, **gin_kwargs),
        sample_ipa_mask(
            k_m, image, control_spacing=control_spacing, downscale=downscale, order=order, check_layout=False
        ),
    )


def _blend(a: jax.Array, b: jax.Array, m_blend: jax.Array) -> jax.Array:
    return a * m_blend[None] + b * (1.0 - m_blend[None])


def apply_gin_ipa(
    image: ArrayLike,
    params: GinIpaParams,
    *,
    mask: ArrayLike | None = None,
    invert: bool = False,
    impl: str = "auto",
) -> jax.Array:
    """``first(x) * m + second(x) * (1 - m)`` (``invert=True``: ``m`` and ``1 - m`` swapped).

    The two are GIN's first and second training copies (``set_input_aug_sup`` of the
    official trainer). ``mask`` (foreground) is passed to both GINs: voxels outside keep
    their input value.

    Args:
      image: ``(H, W, C)`` or ``(D, H, W, C)`` float array.
      params: :class:`GinIpaParams` for this image (``blend`` of shape ``(*spatial,)``).
      mask: optional ``(*spatial,)`` bool (or 0/1 integer) foreground mask.
      invert: swap ``m`` and ``1 - m`` (the second copy).
      impl: convolution implementation.

    Returns:
      Array of the image's shape and dtype.

    Source: ``set_input_aug_sup`` (official GIN-IPA trainer, Ouyang et al. 2022).
    """
    image = _validation.check_image(image)
    if not isinstance(params, GinIpaParams):
        raise TypeError(f"params must be GinIpaParams (from sample_gin_ipa), got {type(params).__name__}")
    _check_gin_params(params.first, image, "params.first")
    _check_gin_params(params.second, image, "params.second")
    if params.blend.shape != image.shape[:-1]:
        raise ValueError(f"params.blend must have shape {image.shape[:-1]}, got {params.blend.shape}")
    params = jax.tree.map(lax.stop_gradient, params)
    m = _validation.check_mask(mask, image)
    x = jnp.moveaxis(image.astype(jnp.promote_types(image.dtype, jnp.float32)), -1, 0)
    a = _gin_cf(x, params.first, m, NEGATIVE_SLOPE, impl, "switch")
    b = _gin_cf(x, params.second, m, NEGATIVE_SLOPE, impl, "switch")
    blend = 1.0 - params.blend if invert else params.blend
    return jnp.moveaxis(_blend(a, b, blend), 0, -1).astype(image.dtype)


def gin_ipa(key: PRNGKey, image: ArrayLike, *, mask: ArrayLike | None = None, **kwargs: Any) -> jax.Array:
    """GIN-IPA of one image: two GIN draws blended by a smooth random mask (copy 1 of the paper).

    ``apply_gin_ipa(image, sample_gin_ipa(key, image, **kwargs), mask=mask)``. For the three
    copies the paper trains with, use :func:`gin_ipa_views`. Takes a float ``(H, W, C)`` or
    ``(D, H, W, C)`` image and returns its shape and dtype.

    Source: Ouyang et al., IEEE TMI 2022 (official ``set_input_aug_sup``, first copy).
    """
    return apply_gin_ipa(image, sample_gin_ipa(key, image, **kwargs), mask=mask)


def gin_ipa_views(key: PRNGKey, image: ArrayLike, *, mask: ArrayLike | None = None, **kwargs: Any) -> jax.Array:
    """The three training copies of GIN-IPA (official ``set_input_aug_sup``), stacked.

    With independent GINs ``a``, ``b``, ``c`` and one blend mask ``m``:
    ``[a(x) * m + b(x) * (1 - m), a(x) * (1 - m) + b(x) * m, c(x)]``. The paper computes the
    segmentation loss on copy 0 and the KL consistency (``losses.gin_consistency``,
    lambda = 10) over all three. ``a(x)`` and ``b(x)`` are computed once.

    Args:
      key: PRNG key.
      image: ``(H, W, C)`` or ``(D, H, W, C)`` float array.
      mask: optional foreground mask (voxels outside keep their input value).
      **kwargs: keyword arguments of :func:`sample_gin_ipa` (GIN and mask hyper-parameters,
        ``size_key``, ``check_layout``).

    Returns:
      ``(3, *image.shape)`` array in the image's dtype.

    Source: ``set_input_aug_sup`` of the official trainer (``models/exp_trainer.py``).
    """
    image = _validation.check_image(image)
    k_ab, k_c = jax.random.split(key)
    kwargs = dict(kwargs)
    size_key = kwargs.pop("size_key", None)
    s_ab, s_c = (None, None) if size_key is None else tuple(jax.random.split(size_key))
    params = sample_gin_ipa(k_ab, image, size_key=s_ab, **kwargs)
    gin_kwargs = {k: v for k, v in kwargs.items() if k not in ("control_spacing", "downscale", "order")}
    gin_kwargs["check_layout"] = False
    third = sample_gin(k_c, image, size_key=s_c, **gin_kwargs)
    params, third = jax.tree.map(lax.stop_gradient, (params, third))
    m = _validation.check_mask(mask, image)
    x = jnp.moveaxis(image.astype(jnp.promote_types(image.dtype, jnp.float32)), -1, 0)
    a = _gin_cf(x, params.first, m, NEGATIVE_SLOPE, "auto", "switch")
    b = _gin_cf(x, params.second, m, NEGATIVE_SLOPE, "auto", "switch")
    c = _gin_cf(x, third, m, NEGATIVE_SLOPE, "auto", "switch")
    views = jnp.stack([_blend(a, b, params.blend), _blend(b, a, params.blend), c])
    return jnp.moveaxis(views, 1, -1).astype(image.dtype)
