"""Published random-convolution methods as named presets.

Each factory returns a one-image :class:`~randconv_jax.Augmentation`
(``aug(key, image, mask=None)``, image ``(H, W, C)`` or ``(D, H, W, C)``) whose
defaults are those of the cited paper or code (each docstring says where a default
comes from and which third-party copies deviate). The papers differ in how draws are shared across a
mini-batch; :data:`BATCH_MODE` records each one's and :func:`for_batches` wraps a
preset accordingly.

``"per_batch"`` presets share one draw across the batch, which is what the
papers did; ``"per_sample"`` ones draw per image, as their data loaders did.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from randconv_jax import _gin, _pro_randconv, _validation
from randconv_jax._compose import batched, mix_with_input, with_probability
from randconv_jax._kernels import sample_conv_stack
from randconv_jax._random_conv import RandomConvParams, apply_random_conv, make_random_conv
from randconv_jax._typing import Augmentation, PRNGKey

RANDCONV_VARIANTS = ("img", "mix")
HE_GAIN = math.sqrt(2.0)  # Kaiming/He gain for ReLU-family layers (PyTorch default leaky_relu a=0).


def randconv(
    *,
    variant: str = "img",
    kernel_sizes: Sequence[int] = (1, 3, 5, 7),
    identity_probability: ArrayLike = 0.5,
    alpha_range: tuple[ArrayLike, ArrayLike] = (0.0, 1.0),
    gain: ArrayLike = 1.0,
    impl: str = "auto",
) -> Augmentation:
    """RandConv (Xu et al., ICLR 2021), as the official digits scripts run it.

    One random convolution ``C -> C`` whose size is drawn from ``kernel_sizes``
    (paper and code: ``-ks 1 3 5 7``), weights ~ N(0, 1/(C * k^d)) (code:
    ``kaiming_normal_(nonlinearity='conv2d')``, gain 1, fan_in), no bias (code
    default), zero padding ``k // 2``, no clamping or re-normalization (the paper
    scripts do not pass ``--clamp_output``). Every output channel mixes every input
    channel (no groups).

    * ``variant="img"`` (RC_img): the input is returned unchanged with probability
      ``identity_probability`` = 0.5 (``-idp 0.5``).
    * ``variant="mix"`` (RC_mix): ``alpha * RC(x) + (1 - alpha) * x`` with
      alpha ~ U(0, 1) (``-mix``; the code's "res_dist" is uniform).

    Sharing: the official module draws one kernel, size, alpha and identity coin
    per mini-batch (``BATCH_MODE["randconv"] == "per_batch"``). The consistency
    loss of the paper (lambda 5 for img, 10 for mix) lives in the losses module.

    References:
      Xu, Liu, Yang, Raffel, Niethammer, `Robust and Generalizable Visual
      Representation Learning via Random Convolutions
      <https://arxiv.org/abs/2007.13003>`_, ICLR 2021; code ``wildphoton/RandConv``
      (``lib/networks/rand_conv.py``, ``exp_mnist10k.sh``).
    """
    if variant not in RANDCONV_VARIANTS:
        raise ValueError(f"variant must be one of {RANDCONV_VARIANTS}, got {variant!r}")
    rc = make_random_conv(kernel_size=tuple(kernel_sizes), depth=1, gain=gain, normalize="none", impl=impl)
    if variant == "mix":
        return mix_with_input(rc, alpha_range)
    p_identity = _validation.check_probability(identity_probability, name="identity_probability")
    return with_probability(rc, 1.0 - p_identity)


def ms_rc_3d(
    *,
    depth: int = 3,
    kernel_size: int = 3,
    gain: ArrayLike = HE_GAIN,
    probability: ArrayLike = 0.5,
    impl: str = "auto",
) -> Augmentation:
    """The 3D MRI random convolution of Scholz et al. (2025), code ``ai-idt/rc_aug``.

    ``randConv_linear``: three stacked linear 3^3 convolutions (``n_layers=3``,
    k = 3, no activation), Keras ``HeNormal`` weights (a normal truncated at 2 std,
    rescaled so the std is sqrt(2 / fan_in): gain sqrt(2), ``truncate=2``), zero
    bias; then min-max to [0, 1] over the foreground (``rc_aug`` subtracts the
    minimum over non-zero voxels and divides by the maximum; the background stays
    at its input value). Applied with probability 0.5, a new random network per
    image (``BATCH_MODE["ms_rc_3d"] == "per_sample"``). ``rc_aug`` min-max
    normalizes its input to [0, 1] first; do the same for this preset.

    Channels: ``rc_aug`` was written for one channel (Conv3D with 1 filter). For a
    multi-channel image this preset keeps ``C -> C`` kernels spanning all
    channels (the seed RC's choice); with C = 1 it is exactly ``rc_aug``. The same
    preset runs on 2D images (3^2 kernels) for 2D studies.

    References:
      Scholz, Erdur, Peeken, Varma, Graf, Kirschke, Rueckert, Wiestler, `Random
      Convolutions for Domain Generalization of Deep Learning-based Medical Image
      Segmentation Models <https://doi.org/10.1148/ryai.240502>`_, Radiology: AI
      2025; code ``ai-idt/rc_aug`` (``randconv.py``, 2024-11-24).
    """
    rc = make_random_conv(
        kernel_size=kernel_size, depth=depth, gain=gain, truncate=2.0, normalize="minmax_foreground", impl=impl
    )
    return with_probability(rc, probability)


def nnunet_rc(
    *,
    hidden_per_channel: int = 2,
    kernel_size: int = 3,
    gain: ArrayLike = HE_GAIN,
    probability: ArrayLike = 0.5,
    impl: str = "auto",
) -> Augmentation:
    """The MS group's nnU-Net v2 ``RandomConvolutionTransform`` (``nnUNetTrainerRC``).

    Per modality (``groups = C``, modalities never mix): a 3^3 convolution to
    ``hidden_per_channel`` = 2 maps (``Conv3d(C, 4, 3, groups=C)`` for C = 2), then
    a 1^3 convolution back to one map (``Conv3d(4, C, 1, groups=C)``); no
    nonlinearity (``non_linearity=False``); weights re-drawn on every call with
    ``kaiming_normal_`` defaults (gain sqrt(2), fan_in = in/groups * k^3); biases
    omitted (the fork never re-draws them and they vanish in the z-score). Then
    per channel: z-score and restore the input's mean and std. Applied with
    probability 0.5 per sample (``RandomTransform(rc, apply_probability=0.5)``;
    ``BATCH_MODE["nnunet_rc"] == "per_sample"``).

    Unlike the fork, any channel count works (its hidden width 4 breaks for C = 3).
    The 1^3 layer is folded into the 3^3 one when applied (exact), which halves
    the work. Works on 2D images too (3^2 then 1^2).

    References:
      ``daniel-scholz/nnUNet`` (master ``77dedc7``), ``nnunetv2/training/
      data_augmentation/custom_transforms/random_convolution.py`` and
      ``nnUNetTrainerRC.py``, 2025.
    """
    _validation.check_kernel_sizes(kernel_size)
    hidden = _validation.check_positive_int(hidden_per_channel, name="hidden_per_channel")

    def sample(key: PRNGKey, image: ArrayLike | jax.ShapeDtypeStruct) -> RandomConvParams:
        shape = jnp.shape(image)
        channels, d = shape[-1], len(shape) - 1
        if d not in (2, 3):
            raise ValueError(f"image must have shape (H, W, C) or (D, H, W, C), got {shape}")
        k_spatial, k_point = jax.random.split(key)
        common: dict[str, Any] = dict(spatial_dims=d, groups=channels, gain=gain)
        first = sample_conv_stack(
            k_spatial, in_channels=channels, out_channels=hidden * channels, kernel_sizes=(kernel_size,), **common
        )
        second = sample_conv_stack(
            k_point, in_channels=hidden * channels, out_channels=channels, kernel_sizes=(1,), **common
        )
        return RandomConvParams((first, second))

    def apply(image: ArrayLike, params: RandomConvParams, *, mask: ArrayLike | None = None) -> jax.Array:
        return apply_random_conv(image, params, normalize="zscore_restore", mask=mask, impl=impl)

    return with_probability(Augmentation(sample, apply), probability)


def pro_randconv(
    *,
    max_repeats: int = _pro_randconv.MAX_REPEATS,
    sigma_g_bound: ArrayLike = _pro_randconv.SIGMA_G_BOUND,
    offset_bound: ArrayLike = _pro_randconv.OFFSET_BOUND,
    affine_std: ArrayLike = _pro_randconv.AFFINE_STD,
    epsilon: ArrayLike = _pro_randconv.EPSILON,
    offset_smoothing: float | None = None,
) -> Augmentation:
    """Pro-RandConv (Choi et al., CVPR 2023): one random block repeated L ~ U{1..10} times.

    The block: a 3^d deformable convolution whose N(0, 1/(C * 3^d)) weights are multiplied by
    a Gaussian window (sigma_g ~ U(0.01, 1)), with offsets ~ N(0, sigma_delta^2) per position
    and tap (sigma_delta ~ U(0.01, 0.5)), then per-channel standardization, a random affine
    (gamma, beta ~ N(0, 0.5^2)) and tanh. Defaults: ``L_max = 10``, ``b_g = 1``, ``sigma_gamma =
    sigma_beta = 0.5`` (the paper as quoted by the reproductions); ``b_delta = 0.5`` (the
    224x224 PACS setting; pass ``offset_bound=0.2`` for 32x32 digits; 0.5 is our choice for
    3D); ``eps = 0.01`` (the medical reproduction). There is no official code; see
    :func:`randconv_jax.sample_pro_randconv` for which reproduction each choice follows.

    Sharing: one block, offsets and L per mini-batch (``BATCH_MODE["pro_randconv"] ==
    "per_batch"``). The reproductions draw the offsets per image within the batch; under our
    per-batch sharing they are shared too (use per-sample draws for fresh offsets per image).
    No extra loss (plain ERM on the augmented images).

    References:
      Choi, Das, Choi, Yang, Park, Yun, `Progressive Random Convolutions for Single Domain
      Generalization <https://arxiv.org/abs/2304.00424>`_, CVPR 2023.
    """
    kw: dict[str, Any] = dict(
        max_repeats=_validation.check_positive_int(max_repeats, name="max_repeats"),
        sigma_g_bound=sigma_g_bound,
        offset_bound=offset_bound,
        affine_std=affine_std,
        epsilon=epsilon,
        offset_smoothing=offset_smoothing,
    )
    return Augmentation(functools.partial(_pro_randconv.sample_pro_randconv, **kw), _pro_randconv.apply_pro_randconv)


def gin(
    *,
    n_layers: int = _gin.N_LAYERS,
    hidden_channels: int = _gin.HIDDEN_CHANNELS,
    kernel_sizes: Sequence[int] = _gin.KERNEL_SIZES,
    alpha_range: tuple[ArrayLike, ArrayLike] = (0.0, 1.0),
    impl: str = "auto",
) -> Augmentation:
    """GIN (Ouyang et al., IEEE TMI 2022), the official ``GINGroupConv`` defaults.

    Four random convolutions ``C -> 2 -> 2 -> 2 -> C`` (``n_layer=4``, ``interm_channel=2``),
    each drawing its size from ``{1, 3}`` (``scale_pool``), weights and biases ~ N(0, 1),
    LeakyReLU(0.01) between layers; ``alpha ~ U(0, 1)`` mix with the input; the result rescaled
    to the input's Frobenius norm (``out_norm='frob'``). A new network per image
    (``BATCH_MODE["gin"] == "per_sample"``). Train with the KL consistency
    ``losses.gin_consistency`` (lambda = 10) over three copies (see :func:`gin_ipa`).

    References:
      Ouyang et al., `Causality-inspired Single-source Domain Generalization for Medical
      Image Segmentation <https://arxiv.org/abs/2111.12525>`_, IEEE TMI 2022; code
      ``cheng-01037/Causality-Medical-Image-Domain-Generalization`` (``models/imagefilter.py``).
    """
    kw: dict[str, Any] = dict(
        n_layers=_validation.check_positive_int(n_layers, name="n_layers"),
        hidden_channels=_validation.check_positive_int(hidden_channels, name="hidden_channels"),
        kernel_sizes=_validation.check_kernel_sizes(tuple(kernel_sizes), name="kernel_sizes"),
        alpha_range=alpha_range,
    )
    return Augmentation(functools.partial(_gin.sample_gin, **kw), functools.partial(_gin.apply_gin, impl=impl))


def gin_ipa(
    *,
    n_layers: int = _gin.N_LAYERS,
    hidden_channels: int = _gin.HIDDEN_CHANNELS,
    kernel_sizes: Sequence[int] = _gin.KERNEL_SIZES,
    alpha_range: tuple[ArrayLike, ArrayLike] = (0.0, 1.0),
    control_spacing: int = _gin.CONTROL_SPACING,
    downscale: float = _gin.DOWNSCALE,
    order: int = _gin.SPLINE_ORDER,
    impl: str = "auto",
) -> Augmentation:
    """GIN-IPA (Ouyang et al., IEEE TMI 2022): two GIN draws blended by a smooth random mask.

    ``a(x) * m + b(x) * (1 - m)`` with ``a``, ``b`` independent :func:`gin` networks and ``m`` the
    IPA mask (random control grid every ``control_spacing = 24`` pixels at ``downscale = 2``,
    quadratic B-spline, min-max to [0, 1]; ``blend_grid_size=24`` and ``AdvBias`` in the official
    code). This is the paper's first training copy; :func:`randconv_jax.gin_ipa_views` makes all
    three (``[a m + b (1-m), a (1-m) + b m, c]``) for ``losses.gin_consistency`` (lambda = 10).
    2D and 3D (the authors released 2D IPA only). Per sample (``BATCH_MODE["gin_ipa"]``).
    """
    gin_kw: dict[str, Any] = dict(
        n_layers=_validation.check_positive_int(n_layers, name="n_layers"),
        hidden_channels=_validation.check_positive_int(hidden_channels, name="hidden_channels"),
        kernel_sizes=_validation.check_kernel_sizes(tuple(kernel_sizes), name="kernel_sizes"),
        alpha_range=alpha_range,
    )
    sample = functools.partial(
        _gin.sample_gin_ipa, control_spacing=control_spacing, downscale=downscale, order=order, **gin_kw
    )
    return Augmentation(sample, functools.partial(_gin.apply_gin_ipa, impl=impl))


BATCH_MODE = {
    "randconv": "per_batch",
    "ms_rc_3d": "per_sample",
    "nnunet_rc": "per_sample",
    "pro_randconv": "per_batch",
    "gin": "per_sample",
    "gin_ipa": "per_sample",
}
"""How each preset's paper/code shares draws across a mini-batch."""

_FACTORIES: dict[str, Callable[..., Augmentation]] = {
    "randconv": randconv,
    "ms_rc_3d": ms_rc_3d,
    "nnunet_rc": nnunet_rc,
    "pro_randconv": pro_randconv,
    "gin": gin,
    "gin_ipa": gin_ipa,
}


def for_batches(name: str, *, chunk_size: int | None = None, **overrides: Any) -> Augmentation:
    """The preset ``name`` lifted to batches ``(N, *spatial, C)`` with its paper's sharing.

    ``overrides`` go to the preset's factory, e.g.
    ``for_batches("randconv", variant="mix")``; ``chunk_size`` goes to
    :func:`~randconv_jax.batched`.
    """
    if name not in _FACTORIES:
        raise ValueError(f"name must be one of {sorted(_FACTORIES)}, got {name!r}")
    return batched(_FACTORIES[name](**overrides), mode=BATCH_MODE[name], chunk_size=chunk_size)
