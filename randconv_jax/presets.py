"""Published random-convolution methods as named presets.

Each factory returns a one-image :class:`~randconv_jax.Augmentation`
(``aug(key, image, mask=None)``, image ``(H, W, C)`` or ``(D, H, W, C)``, float) whose
defaults reproduce the cited code at that code's own settings; each docstring says where a
default comes from, and the project's own choices are named options whose docstrings say
why and how they differ. How the presets relate to their sources:

* exact (the official code's forward, transcribed to NumPy in the tests, gives the same
  output from the same draws to float32 rounding): :func:`randconv` (``wildphoton/RandConv``),
  :func:`ms_rc_3d` (``ai-idt/rc_aug``), :func:`nnunet_rc` (``daniel-scholz/nnUNet``, master and
  its ``rc-augs`` branch), :func:`gin` and :func:`gin_ipa` (the official GIN-IPA code);
* reproduction: :func:`pro_randconv` (the authors released no code; it follows the
  third-party reproductions).

The papers differ in how draws are shared across a mini-batch: :data:`BATCH_MODE` records
each one's, and :func:`for_batches` lifts a preset to batches exactly as its source shares
its draws (GIN's kernel sizes once per batch, Pro-RandConv's offsets per image).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.typing import ArrayLike

from randconv_jax import _gin, _kernels, _normalize, _pro_randconv, _random_conv, _validation
from randconv_jax._compose import batched, check_batch, check_batch_mask, mix_with_input, with_probability
from randconv_jax._kernels import ConvStack, sample_conv_stack
from randconv_jax._random_conv import RandomConvParams, make_random_conv
from randconv_jax._typing import Augmentation, Params, PRNGKey

RANDCONV_VARIANTS = ("img", "mix")
HE_GAIN = math.sqrt(2.0)  # Kaiming/He gain for ReLU-family layers (PyTorch default leaky_relu a=0).
MS_FOREGROUNDS = ("output", "input")
NNUNET_VARIANTS = ("master", "rc_augs")
NNUNET_STATISTICS = ("joint", "per_channel", "zscore")
SHARINGS = ("source", "batch_mode")

# The nnU-Net fork's settings per variant: hidden maps in total, 3^d layers, statistics.
_NNUNET: dict[str, dict[str, Any]] = {
    "master": dict(hidden=4, spatial_layers=1, statistics="joint"),  # nnUNetTrainerRC: n_hidden_layers=2
    "rc_augs": dict(hidden=32, spatial_layers=3, statistics="zscore"),  # branch rc-augs: n_hidden_layers=4
}
_STATISTICS_MODE = {"joint": "zscore_restore_joint", "per_channel": "zscore_restore", "zscore": "zscore_no_restore"}


def _check_gain(gain: ArrayLike) -> ArrayLike:
    _validation.check_number(gain, name="gain", minimum=0.0)
    return gain


def randconv(
    *,
    variant: str = "img",
    kernel_sizes: Sequence[int] = (1, 3, 5, 7),
    identity_probability: ArrayLike = 0.5,
    alpha_range: tuple[ArrayLike, ArrayLike] = (0.0, 1.0),
    gain: ArrayLike = 1.0,
    impl: str = "auto",
    check_layout: bool = True,
) -> Augmentation:
    """RandConv (Xu et al., ICLR 2021), as the official digits scripts run it. Exact.

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

    Images: ``(H, W, C)`` float (2D as the paper; ``(D, H, W, C)`` runs k^3 kernels);
    output of the same shape and dtype. ``check_layout=False`` accepts shapes that look
    channels-first or batched.

    References:
      Xu, Liu, Yang, Raffel, Niethammer, `Robust and Generalizable Visual
      Representation Learning via Random Convolutions
      <https://arxiv.org/abs/2007.13003>`_, ICLR 2021; code ``wildphoton/RandConv``
      (``lib/networks/rand_conv.py`` at ``861a231``, ``exp_mnist10k.sh``).
    """
    if variant not in RANDCONV_VARIANTS:
        raise ValueError(f"variant must be one of {RANDCONV_VARIANTS}, got {variant!r}")
    sizes = _validation.check_kernel_sizes(kernel_sizes, name="kernel_sizes")
    rc = make_random_conv(
        kernel_size=sizes, depth=1, gain=_check_gain(gain), normalize="none", impl=impl, check_layout=check_layout
    )
    if variant == "mix":
        _validation.check_range(alpha_range, name="alpha_range")
        return mix_with_input(rc, alpha_range=alpha_range)
    p_identity = _validation.check_probability(identity_probability, name="identity_probability")
    return with_probability(rc, 1.0 - p_identity)


# --------------------------------------------------------------------------- ms_rc_3d (rc_aug)


def ms_rc_3d(
    *,
    depth: int = 3,
    kernel_size: int = 3,
    gain: ArrayLike = HE_GAIN,
    probability: ArrayLike = 0.5,
    foreground: str = "output",
    out_channels: int | None = None,
    impl: str = "auto",
    check_layout: bool = True,
) -> Augmentation:
    """The 3D MRI random convolution of Scholz et al. (2025), code ``ai-idt/rc_aug``. Exact.

    ``randConv_linear``: three stacked linear 3^3 convolutions (``n_layers=3``, k = 3,
    ``n_filters=1``, no activation), Keras ``HeNormal`` weights (a normal truncated at 2 std,
    rescaled so the std is sqrt(2 / fan_in): gain sqrt(2), ``truncate=2``), zero biases
    (Keras' default, so none are drawn); then ``rc_aug``'s renormalization: over the voxels
    where the RC *output* is non-zero, subtract the minimum, then divide by the maximum, and
    the voxels where it is zero stay 0 (``foreground="output"``). A linear RC spreads a
    zero-background head by ``depth * (k // 2)`` = 3 voxels, and that halo is normalized with
    the head, as in ``rc_aug``. Applied with probability 0.5, a new random network per image
    (``BATCH_MODE["ms_rc_3d"] == "per_sample"``). ``rc_aug`` min-max normalizes its input to
    [0, 1] first; do the same for this preset.

    Options (the project's choices, not ``rc_aug``'s):

    * ``foreground="input"``: min-max over the voxels where the *input* is non-zero (in any
      channel) and keep every other voxel at its input value, so RC paints no halo of signal
      around the head; with a ``mask`` both take the statistics inside the mask only and
      keep the input outside it.
    * ``out_channels``: None (default) keeps ``C -> C`` kernels spanning all channels, so a
      C-channel model takes the output; every channel is renormalized as ``rc_aug``
      renormalizes its one channel. With C = 1 this is exactly ``rc_aug``. ``out_channels=1``
      is ``rc_aug``'s own map for C > 1 (first layer ``C -> 1``, then ``1 -> 1``): the output is
      ``(..., 1)``, background 0 outside a mask, and as the unaugmented image would keep its
      C channels it needs ``probability=1.0`` (the returned augmentation then has no coin).

    The same preset runs on 2D images (3^2 kernels) for 2D studies. Images are float
    (float32, bfloat16, ...); the output keeps their dtype.

    Args:
      depth: stacked layers (``n_layers``). kernel_size: odd k. gain: HeNormal's sqrt(2).
      probability: of applying (``augmentation_probability`` 0.5).
      foreground: ``"output"`` (``rc_aug``) or ``"input"`` (see above).
      out_channels: None or 1 (see above).
      impl: convolution implementation. check_layout: False accepts channels-first-looking shapes.

    References:
      Scholz, Erdur, Peeken, Varma, Graf, Kirschke, Rueckert, Wiestler, `Random
      Convolutions for Domain Generalization of Deep Learning-based Medical Image
      Segmentation Models <https://doi.org/10.1148/ryai.240502>`_, Radiology: AI
      2025; code ``ai-idt/rc_aug`` (``randconv.py`` at ``772437f``, 2024-11-24).
    """
    depth = _validation.check_positive_int(depth, name="depth")
    sizes = _validation.check_kernel_sizes(kernel_size, name="kernel_size")
    _check_gain(gain)
    if foreground not in MS_FOREGROUNDS:
        raise ValueError(f"foreground must be one of {MS_FOREGROUNDS}, got {foreground!r}")
    if out_channels not in (None, 1):
        raise ValueError(f"out_channels must be None (keep C) or 1 (rc_aug's C -> 1), got {out_channels!r}")
    if impl not in ("auto", "taps", "lax"):
        raise ValueError(f"impl must be one of ('auto', 'taps', 'lax'), got {impl!r}")
    p = _validation.check_probability(probability, name="probability")
    if out_channels == 1:
        concrete = _validation.concrete_value(probability)
        if concrete is None or float(concrete) != 1.0:
            raise ValueError(
                f"ms_rc_3d(out_channels=1) changes the channel count, so it cannot leave images unaugmented: "
                f"pass probability=1.0 (got {probability!r})"
            )

    def sample(key: PRNGKey, image: ArrayLike | jax.ShapeDtypeStruct) -> RandomConvParams:
        if out_channels is None:
            return _random_conv.sample_random_conv(
                key, image, kernel_size=sizes, depth=depth, gain=gain, truncate=2.0, check_layout=check_layout
            )
        image = _validation.check_image_or_struct(image, layout=check_layout)
        channels, d = image.shape[-1], len(image.shape) - 1
        widths = [channels] + [1] * depth
        keys = jax.random.split(key, depth)
        stacks = tuple(
            sample_conv_stack(
                k, spatial_dims=d, in_channels=c_in, out_channels=c_out, kernel_sizes=sizes, gain=gain, truncate=2.0
            )
            for k, c_in, c_out in zip(keys, widths[:-1], widths[1:], strict=True)
        )
        return RandomConvParams(_merge_equal_stacks(stacks))

    def apply(image: ArrayLike, params: RandomConvParams, *, mask: ArrayLike | None = None) -> jax.Array:
        image = _validation.check_image(image)
        _check_stack_input(params, image)
        m = _validation.check_mask(mask, image)
        x = jnp.moveaxis(image.astype(jnp.promote_types(image.dtype, jnp.float32)), -1, 0)
        y = _random_conv.conv_stacks_channels_first(x, params, mask=m, impl=impl)
        reference = x if y.shape[0] == x.shape[0] else jnp.zeros_like(y)
        if foreground == "output":
            out = _normalize.normalize_channels_first(y, reference, "minmax_nonzero", m)
        else:
            fg = jnp.any(x != 0, axis=0) if m is None else m
            out = _normalize.normalize_channels_first(y, reference, "minmax_foreground", fg)
        return jnp.moveaxis(out, 0, -1).astype(image.dtype)

    rc = Augmentation(sample, apply)
    return rc if out_channels == 1 else with_probability(rc, p)


def _merge_equal_stacks(stacks: Sequence[ConvStack]) -> tuple[ConvStack, ...]:
    """Runs of single layers of equal shape as one scanned stack (keeps XLA from fusing them)."""
    merged: list[ConvStack] = []
    for stack in stacks:
        prev = merged[-1] if merged else None
        if (
            prev is not None
            and prev.kernels.shape[1:] == stack.kernels.shape[1:]
            and prev.groups == stack.groups
            and prev.kernel_sizes == stack.kernel_sizes
            and (prev.biases is None) == (stack.biases is None)
        ):
            biases = (
                None if prev.biases is None or stack.biases is None else jnp.concatenate([prev.biases, stack.biases])
            )
            merged[-1] = ConvStack(
                jnp.concatenate([prev.kernels, stack.kernels]),
                biases,
                jnp.concatenate([prev.size_index, stack.size_index]),
                prev.kernel_sizes,
                prev.groups,
            )
        else:
            merged.append(stack)
    return tuple(merged)


def _check_stack_input(params: RandomConvParams, image: jax.Array) -> None:
    if not isinstance(params, RandomConvParams):
        raise TypeError(f"params must be RandomConvParams from this preset's sample, got {type(params).__name__}")
    first = params.stacks[0]
    d = image.ndim - 1
    if first.kernels.ndim != d + 3 or first.in_channels != image.shape[-1]:
        raise ValueError(
            f"params (first kernels of shape {first.kernels.shape}) were drawn for another image than one "
            f"of shape {image.shape}"
        )


# --------------------------------------------------------------------------- nnunet_rc


def nnunet_rc(
    *,
    variant: str = "master",
    hidden_per_channel: int | None = None,
    statistics: str | None = None,
    bias: bool = True,
    bias_seed: int = 0,
    kernel_size: int = 3,
    gain: ArrayLike = HE_GAIN,
    probability: ArrayLike = 0.5,
    impl: str = "auto",
    check_layout: bool = True,
) -> Augmentation:
    """The MS group's nnU-Net v2 ``RandomConvolutionTransform`` (``daniel-scholz/nnUNet``). Exact.

    ``variant="master"`` (default; ``nnUNetTrainerRC`` at ``77dedc7``: ``n_hidden_layers=2,
    k=3, non_linearity=False``): per modality (``groups = C``, modalities never mix) a 3^3
    convolution to the fork's ``h_hidden_channels = 4`` maps in total (4 at C = 1, 2 per
    modality at C = 2), then a 1^3 convolution back to one map per modality; weights re-drawn
    on every call with ``kaiming_normal_`` defaults (gain sqrt(2), fan_in = in/groups * k^3).
    The statistics are joint: one mean and one (Bessel) std over all modalities and voxels,
    stored before the convolutions and restored after a joint z-score,
    ``(y - mean_y) / (std_y + 1e-5) * (std_x + 1e-5) + mean_x`` (``statistics="joint"``).
    Applied with probability 0.5 per sample (``RandomTransform(rc, apply_probability=0.5)``;
    ``BATCH_MODE["nnunet_rc"] == "per_sample"``).

    ``variant="rc_augs"`` (the branch ``rc-augs`` at ``9ee43a3``, ``n_hidden_layers=4``): three
    stacked 3^3 convolutions of 32 maps in total (16 per modality at C = 2), then 1^3 back;
    a per-channel z-score ``(y - mean) / (std + 1e-5)`` without restoring (``"zscore"``); the
    transform skips itself with probability 0.5.

    Biases (``bias=True``): the fork's ``nn.Conv3d`` layers keep the biases PyTorch gave them at
    construction, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and never re-draw them (only weights are
    re-initialized per call). A pure function cannot keep state, so the biases are drawn from
    the fixed ``jax.random.key(bias_seed)``, not from the call's key: every call, every image
    and every device gets the same biases, as every call of one transform object does. Under
    joint statistics they matter (a per-modality offset shifts the modalities against each
    other); near the borders of the stacked ``rc_augs`` layers they matter too.

    Options (the project's choices):

    * ``statistics="per_channel"``: z-score every modality on its own and restore its own mean
      and std. For multi-modal MRI this keeps each modality's intensity scale: under joint
      statistics the random per-modality gains move the modalities' intensities against each
      other, so on a 2-modality volume the two forms' outputs differ by whole intensity units.
      ``"joint"`` and ``"zscore"`` select the fork's forms for either variant.
    * ``hidden_per_channel``: None (default) uses the fork's total (4 or 32), which must be
      divisible by C (the fork raises for C = 3 at construction); an int gives that many maps
      per modality for any C.
    * ``bias=False``: no biases (they cancel exactly under per-channel statistics for
      ``"master"``).

    The 1^3 layer is folded into the 3^3 layer before it when applied (exact), which halves
    the work. Works on 2D images too (3^2 then 1^2). Images are float ``(D, H, W, C)`` or
    ``(H, W, C)``; the output keeps their shape and dtype (statistics in float32). ``mask``: voxels outside are zeroed
    before the convolutions, statistics come from inside, and the input is kept outside.

    Args:
      variant, hidden_per_channel, statistics, bias, bias_seed: as above.
      kernel_size: odd k (3). gain: sqrt(2). probability: 0.5. impl: convolution implementation.
      check_layout: False accepts shapes that look channels-first or batched.

    References:
      ``daniel-scholz/nnUNet`` (master ``77dedc7``, branch ``rc-augs`` ``9ee43a3``),
      ``nnunetv2/training/data_augmentation/custom_transforms/random_convolution.py`` and
      ``nnUNetTrainerRC.py``, 2025.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from randconv_jax import presets
      >>> flair_t1 = jnp.stack([jnp.full((12, 12), 0.3), jnp.full((12, 12), 5.0)], -1)
      >>> flair_t1 = flair_t1 + jax.random.normal(jax.random.key(1), flair_t1.shape)
      >>> out = jax.jit(presets.nnunet_rc(probability=1.0))(jax.random.key(0), flair_t1)
      >>> round(float(out.mean()), 3) == round(float(flair_t1.mean()), 3)  # joint mean kept
      True
      >>> presets.nnunet_rc()(jax.random.key(0), jnp.ones((8, 8, 8, 3)))
      Traceback (most recent call last):
      ValueError: nnunet_rc(variant='master') uses the fork's 4 hidden maps, which 3 channels do not divide ...
      >>> jax.eval_shape(presets.nnunet_rc(hidden_per_channel=2), jax.random.key(0), jnp.ones((8, 8, 8, 3))).shape
      (8, 8, 8, 3)
    """
    if variant not in NNUNET_VARIANTS:
        raise ValueError(f"variant must be one of {NNUNET_VARIANTS}, got {variant!r}")
    setting = _NNUNET[variant]
    statistics = setting["statistics"] if statistics is None else statistics
    if statistics not in NNUNET_STATISTICS:
        raise ValueError(f"statistics must be one of {NNUNET_STATISTICS} or None, got {statistics!r}")
    (k,) = _validation.check_kernel_sizes(kernel_size, name="kernel_size")
    if hidden_per_channel is not None:
        hidden_per_channel = _validation.check_positive_int(hidden_per_channel, name="hidden_per_channel")
    if not isinstance(bias, bool):
        raise ValueError(f"bias must be True or False, got {bias!r}")
    if isinstance(bias_seed, bool) or not isinstance(bias_seed, (int, np.integer)):
        raise ValueError(f"bias_seed must be an int, got {bias_seed!r}")
    _check_gain(gain)
    p = _validation.check_probability(probability, name="probability")
    mode = _STATISTICS_MODE[statistics]

    def hidden_total(channels: int) -> int:
        if hidden_per_channel is not None:
            return hidden_per_channel * channels
        total = int(setting["hidden"])
        if total % channels:
            raise ValueError(
                f"nnunet_rc(variant={variant!r}) uses the fork's {total} hidden maps, which {channels} channels "
                f"do not divide (the fork fails for them too); pass hidden_per_channel=2 for any channel count"
            )
        return total

    def sample(key: PRNGKey, image: ArrayLike | jax.ShapeDtypeStruct) -> RandomConvParams:
        image = _validation.check_image_or_struct(image, layout=check_layout)
        channels, d = image.shape[-1], len(image.shape) - 1
        hidden = hidden_total(channels)
        widths = [channels] + [hidden] * setting["spatial_layers"] + [channels]
        sizes = [k] * setting["spatial_layers"] + [1]
        keys = jax.random.split(key, len(sizes))
        bias_keys = jax.random.split(jax.random.key(bias_seed), len(sizes))
        stacks = []
        for layer, (c_in, c_out, size) in enumerate(zip(widths[:-1], widths[1:], sizes, strict=True)):
            stack = sample_conv_stack(
                keys[layer],
                spatial_dims=d,
                in_channels=c_in,
                out_channels=c_out,
                kernel_sizes=(size,),
                groups=channels,
                gain=gain,
            )
            if bias:
                fan_in = c_in // channels * size**d
                b = _kernels.pytorch_default_bias(bias_keys[layer], fan_in=fan_in, out_channels=c_out)
                stack = dataclasses.replace(stack, biases=b[None])
            stacks.append(stack)
        return RandomConvParams(tuple(stacks))

    def apply(image: ArrayLike, params: RandomConvParams, *, mask: ArrayLike | None = None) -> jax.Array:
        return _random_conv.apply_random_conv(image, params, normalize=mode, mask=mask, impl=impl)

    return with_probability(Augmentation(sample, apply), p)


# --------------------------------------------------------------------------- Pro-RandConv, GIN


def pro_randconv(
    *,
    max_repeats: int = _pro_randconv.MAX_REPEATS,
    sigma_g_bound: ArrayLike = _pro_randconv.SIGMA_G_BOUND,
    offset_bound: ArrayLike = _pro_randconv.OFFSET_BOUND,
    affine_std: ArrayLike = _pro_randconv.AFFINE_STD,
    epsilon: ArrayLike = _pro_randconv.EPSILON,
    offset_smoothing: float | None = None,
    check_layout: bool = True,
) -> Augmentation:
    """Pro-RandConv (Choi et al., CVPR 2023): one random block repeated L ~ U{1..10} times. Reproduction.

    The block: a 3^d deformable convolution whose N(0, 1/(C * 3^d)) weights are multiplied by
    a Gaussian window (sigma_g ~ U(0.01, 1)), with offsets ~ N(0, sigma_delta^2) per position
    and tap (sigma_delta ~ U(0.01, 0.5)), then per-channel standardization, a random affine
    (gamma, beta ~ N(0, 0.5^2)) and tanh. Defaults: ``L_max = 10``, ``b_g = 1``, ``sigma_gamma =
    sigma_beta = 0.5`` (the paper as quoted by the reproductions); ``b_delta = 0.5`` (the
    224x224 PACS setting; pass ``offset_bound=0.2`` for 32x32 digits; 0.5 is our choice for
    3D); ``eps = 0.01`` (the medical reproduction). There is no official code; see
    :func:`randconv_jax.sample_pro_randconv` for which reproduction each choice follows.

    Sharing: one block (weights, window, sigma_delta, gamma, beta, L) per mini-batch
    (``BATCH_MODE["pro_randconv"] == "per_batch"``) with offsets drawn per image, shape
    ``(N, 2 k^2, H, W)`` in the reproductions: :func:`for_batches` does exactly that. No extra
    loss (plain ERM on the augmented images).

    Images: ``(H, W, C)`` or ``(D, H, W, C)`` float, scaled to about [-1, 1]; output of the same
    shape and dtype in [-1, 1]. ``check_layout=False`` accepts channels-first-looking shapes.

    References:
      Choi, Das, Choi, Yang, Park, Yun, `Progressive Random Convolutions for Single Domain
      Generalization <https://arxiv.org/abs/2304.00424>`_, CVPR 2023.
    """
    _pro_randconv.check_hyper_parameters(
        sigma_g_bound=sigma_g_bound, offset_bound=offset_bound, affine_std=affine_std, epsilon=epsilon
    )
    kw: dict[str, Any] = dict(
        max_repeats=_validation.check_positive_int(max_repeats, name="max_repeats"),
        sigma_g_bound=sigma_g_bound,
        offset_bound=offset_bound,
        affine_std=affine_std,
        epsilon=epsilon,
        offset_smoothing=offset_smoothing,
        check_layout=check_layout,
    )
    return Augmentation(functools.partial(_pro_randconv.sample_pro_randconv, **kw), _pro_randconv.apply_pro_randconv)


def _gin_kwargs(
    n_layers: int,
    hidden_channels: int,
    kernel_sizes: Sequence[int],
    alpha_range: tuple[ArrayLike, ArrayLike],
    check_layout: bool,
) -> dict[str, Any]:
    _validation.check_range(alpha_range, name="alpha_range")
    return dict(
        n_layers=_validation.check_positive_int(n_layers, name="n_layers"),
        hidden_channels=_validation.check_positive_int(hidden_channels, name="hidden_channels"),
        kernel_sizes=_validation.check_kernel_sizes(kernel_sizes, name="kernel_sizes"),
        alpha_range=alpha_range,
        check_layout=check_layout,
    )


def gin(
    *,
    n_layers: int = _gin.N_LAYERS,
    hidden_channels: int = _gin.HIDDEN_CHANNELS,
    kernel_sizes: Sequence[int] = _gin.KERNEL_SIZES,
    alpha_range: tuple[ArrayLike, ArrayLike] = (0.0, 1.0),
    impl: str = "auto",
    check_layout: bool = True,
) -> Augmentation:
    """GIN (Ouyang et al., IEEE TMI 2022), the official ``GINGroupConv`` defaults. Exact.

    Four random convolutions ``C -> 2 -> 2 -> 2 -> C`` (``n_layer=4``, ``interm_channel=2``),
    each drawing its size from ``{1, 3}`` (``scale_pool``), weights and biases ~ N(0, 1),
    LeakyReLU(0.01) between layers; ``alpha ~ U(0, 1)`` mix with the input; the result rescaled
    to the input's Frobenius norm (``out_norm='frob'``). A new network per image
    (``BATCH_MODE["gin"] == "per_sample"``); the official code draws each layer's kernel size
    once per call, shared by the mini-batch, which :func:`for_batches` reproduces (weights,
    biases and alpha stay per image). Train with the KL consistency ``losses.gin_consistency``
    (lambda = 10) over three copies (see :func:`gin_ipa`).

    Images: ``(H, W, C)`` or ``(D, H, W, C)`` float; output of the same shape and dtype.

    References:
      Ouyang et al., `Causality-inspired Single-source Domain Generalization for Medical
      Image Segmentation <https://arxiv.org/abs/2111.12525>`_, IEEE TMI 2022; code
      ``cheng-01037/Causality-Medical-Image-Domain-Generalization`` (``models/imagefilter.py``,
      ``models/imagefilter3d.py`` at ``d4d5056``).
    """
    kw = _gin_kwargs(n_layers, hidden_channels, kernel_sizes, alpha_range, check_layout)
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
    check_layout: bool = True,
) -> Augmentation:
    """GIN-IPA (Ouyang et al., IEEE TMI 2022): two GIN draws blended by a smooth random mask. Exact in 2D.

    ``a(x) * m + b(x) * (1 - m)`` with ``a``, ``b`` independent :func:`gin` networks and ``m`` the
    IPA mask (random control grid every ``control_spacing = 24`` pixels at ``downscale = 2``,
    quadratic B-spline, min-max to [0, 1]; ``blend_grid_size=24`` and ``AdvBias`` in the official
    code). This is the paper's first training copy; :func:`randconv_jax.gin_ipa_views` makes all
    three (``[a m + b (1-m), a (1-m) + b m, c]``) for ``losses.gin_consistency`` (lambda = 10).
    2D and 3D (the authors released 2D IPA only; 3D applies the construction along every
    axis). Per sample (``BATCH_MODE["gin_ipa"]``); :func:`for_batches` shares each GIN's kernel
    sizes across the batch as the official code does.

    Images: ``(H, W, C)`` or ``(D, H, W, C)`` float; output of the same shape and dtype.

    References:
      Ouyang et al., IEEE TMI 2022; code ``cheng-01037/Causality-Medical-Image-Domain-Generalization``
      (``models/exp_trainer.py``, ``biasfield_interpolate_cchen/adv_bias.py`` at ``d4d5056``).
    """
    gin_kw = _gin_kwargs(n_layers, hidden_channels, kernel_sizes, alpha_range, check_layout)
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
"""How each preset's paper/code shares draws across a mini-batch (``"per_batch"`` or ``"per_sample"``).

GIN (sizes per batch) and Pro-RandConv (offsets per image) mix the two; :func:`for_batches`
reproduces that."""

_FACTORIES: dict[str, Callable[..., Augmentation]] = {
    "randconv": randconv,
    "ms_rc_3d": ms_rc_3d,
    "nnunet_rc": nnunet_rc,
    "pro_randconv": pro_randconv,
    "gin": gin,
    "gin_ipa": gin_ipa,
}


# --------------------------------------------------------------------------- batches


def _is_size_index(path: tuple[Any, ...]) -> bool:
    return any(getattr(entry, "name", None) == "size_index" for entry in path)


def _is_offset_key(path: tuple[Any, ...]) -> bool:
    return any(getattr(entry, "name", None) == "offset_key" for entry in path)


def _mixed_batches(
    aug: Augmentation,
    sample_batch: Callable[[PRNGKey, jax.Array], Params],
    batched_leaf: Callable[[tuple[Any, ...]], bool],
    chunk_size: int | None,
) -> Augmentation:
    """A batch augmentation whose params are per image where ``batched_leaf(path)`` and shared elsewhere."""

    def sample(key: PRNGKey, images: ArrayLike) -> Params:
        return sample_batch(key, check_batch(images))

    def apply(images: ArrayLike, params: Params, *, mask: ArrayLike | None = None) -> jax.Array:
        images = check_batch(images)
        mask = check_batch_mask(images, mask)
        leaves, treedef = jax.tree_util.tree_flatten_with_path(params)
        per_image = [batched_leaf(path) for path, _ in leaves]
        values = [leaf for _, leaf in leaves]

        def one(x: jax.Array, image_leaves: list[Any], m: jax.Array | None) -> jax.Array:
            it = iter(image_leaves)
            merged = [next(it) if b else v for v, b in zip(values, per_image, strict=True)]
            return aug.apply(x, jax.tree_util.tree_unflatten(treedef, merged), mask=m)

        image_leaves = [v for v, b in zip(values, per_image, strict=True) if b]
        n = images.shape[0]
        out: jax.Array
        if chunk_size is None or chunk_size >= n:
            out = jax.vmap(one, in_axes=(0, 0, None if mask is None else 0))(images, image_leaves, mask)
        else:
            out = lax.map(lambda xs: one(*xs), (images, image_leaves, mask), batch_size=chunk_size)
        return out

    return Augmentation(sample, apply)


def _gin_batches(aug: Augmentation, chunk_size: int | None) -> Augmentation:
    """GIN / GIN-IPA with each layer's kernel size drawn once per batch, the rest per image."""

    sample_one: Any = aug.sample  # the GIN samplers, which take a struct and size_key

    def sample_batch(key: PRNGKey, images: jax.Array) -> Params:
        k_size, k_each = jax.random.split(key)
        image = jax.ShapeDtypeStruct(images.shape[1:], images.dtype)
        keys = jax.random.split(k_each, images.shape[0])
        params = jax.vmap(lambda k: sample_one(k, image, size_key=k_size))(keys)
        # Every image drew the same sizes (from k_size): keep one copy, unbatched.
        return jax.tree_util.tree_map_with_path(lambda p, leaf: leaf[0] if _is_size_index(p) else leaf, params)

    return _mixed_batches(aug, sample_batch, lambda path: not _is_size_index(path), chunk_size)


def _pro_randconv_batches(aug: Augmentation, chunk_size: int | None) -> Augmentation:
    """Pro-RandConv with one block per batch and offsets drawn per image (as the reproductions)."""

    sample_one: Any = aug.sample  # sample_pro_randconv, which takes a struct

    def sample_batch(key: PRNGKey, images: jax.Array) -> Params:
        params = sample_one(key, jax.ShapeDtypeStruct(images.shape[1:], images.dtype))
        keys = jax.random.split(jax.random.wrap_key_data(params.offset_key), images.shape[0])
        return dataclasses.replace(params, offset_key=jax.vmap(jax.random.key_data)(keys))

    return _mixed_batches(aug, sample_batch, _is_offset_key, chunk_size)


def for_batches(name: str, *, chunk_size: int | None = None, sharing: str = "source", **overrides: Any) -> Augmentation:
    """The preset ``name`` lifted to batches ``(N, *spatial, C)``, sharing draws as its source does.

    ``overrides`` go to the preset's factory, e.g. ``for_batches("randconv", variant="mix")``;
    ``chunk_size`` works as in :func:`~randconv_jax.batched` (same results, chunks of images).

    ``sharing="source"`` (default) shares exactly what the cited code shares: RandConv one draw
    per batch; the MS group's transforms everything per image; GIN and GIN-IPA each layer's
    kernel size once per batch call (``GradlessGCReplayNonlinBlock.forward``) with weights,
    biases and alpha per image; Pro-RandConv one block per batch with offsets per image (the
    reproductions' ``(N, 2 k^2, H, W)`` offsets). ``sharing="batch_mode"`` applies
    :data:`BATCH_MODE` to every draw (GIN sizes per image; Pro-RandConv offsets shared): the
    same as ``randconv_jax.batched(preset, mode=BATCH_MODE[name])``.

    Returns:
      An :class:`~randconv_jax.Augmentation` over float batches: ``sample(key, images)``,
      ``apply(images, params, *, mask=None)`` with bool masks ``(N, *spatial)``; output of
      the batch's shape and dtype.

    Source: each preset's code as cited in its factory (``BATCH_MODE`` and the notes above).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from randconv_jax import presets
      >>> aug = presets.for_batches("gin")
      >>> images = jnp.ones((4, 16, 16, 3))
      >>> jax.eval_shape(aug, jax.random.key(0), images).shape
      (4, 16, 16, 3)
      >>> params = jax.eval_shape(aug.sample, jax.random.key(0), images)
      >>> params.layers.stacks[0].size_index.shape, params.alpha.shape  # sizes per batch, alpha per image
      ((1,), (4,))
    """
    if name not in _FACTORIES:
        raise ValueError(f"name must be one of {sorted(_FACTORIES)}, got {name!r}")
    if sharing not in SHARINGS:
        raise ValueError(f"sharing must be one of {SHARINGS}, got {sharing!r}")
    if chunk_size is not None:
        chunk_size = _validation.check_positive_int(chunk_size, name="chunk_size")
    one = _FACTORIES[name](**overrides)
    if sharing == "source" and name in ("gin", "gin_ipa"):
        return _gin_batches(one, chunk_size)
    if sharing == "source" and name == "pro_randconv":
        return _pro_randconv_batches(one, chunk_size)
    return batched(one, mode=BATCH_MODE[name], chunk_size=chunk_size)
