"""The seed random convolution: L stacked random k^d convolutions, linear by default.

``random_conv(key, image)`` = ``apply_random_conv(image, sample_random_conv(key, image))``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from randconv_jax import _conv, _kernels, _normalize, _validation
from randconv_jax._kernels import ConvStack
from randconv_jax._typing import Augmentation, PRNGKey


@functools.partial(jax.tree_util.register_dataclass, data_fields=["stacks"], meta_fields=[])
@dataclasses.dataclass(frozen=True)
class RandomConvParams:
    """What one random convolution drew: a sequence of :class:`ConvStack`.

    Layers run in order: every layer of ``stacks[0]`` (``stacks[0].repeats`` of
    them), then ``stacks[1]``, and so on; the first takes the image's ``C``
    channels and the last gives ``C`` back. No nonlinearity sits between layers.
    Each stack holds float32 kernels ``(repeats, *k_max, C_in/groups, C_out)``, optional
    float32 biases ``(repeats, C_out)`` and int32 sizes ``(repeats,)``.

    Source: the project's own container (the seed RC; RandConv, Xu et al. 2021, is one layer).
    """

    stacks: tuple[ConvStack, ...]

    @property
    def depth(self) -> int:
        return sum(s.repeats for s in self.stacks)

    def layer_kernels(self) -> list[jax.Array]:
        """The ``depth`` per-layer kernels ``(*k_max, C_in/groups, C_out)``, in order."""
        return [s.kernels[r] for s in self.stacks for r in range(s.repeats)]


def _central(kernel: jax.Array, k: int, spatial_dims: int) -> jax.Array:
    c, r = kernel.shape[0] // 2, k // 2
    return kernel[(slice(c - r, c + r + 1),) * spatial_dims]


MULTISCALE_MODES = ("switch", "full")


def _apply_layer(
    x: jax.Array,
    kernel: jax.Array,
    bias: jax.Array | None,
    size_index: jax.Array,
    kernel_sizes: tuple[int, ...],
    groups: int,
    impl: str,
    multiscale: str,
) -> jax.Array:
    d = x.ndim - 1
    k_max = kernel.shape[0]
    if len(kernel_sizes) == 1 or multiscale == "full":
        return _conv.conv_channels_first(x, _central(kernel, k_max, d), bias, groups=groups, impl=impl)
    return _conv.conv_multiscale_channels_first(
        x, kernel, bias, size_index, kernel_sizes=kernel_sizes, groups=groups, impl=impl
    )


def _apply_stack(x: jax.Array, stack: ConvStack, impl: str, multiscale: str) -> jax.Array:
    def layer(a: jax.Array, kernel: jax.Array, bias: jax.Array | None, index: jax.Array) -> jax.Array:
        return _apply_layer(a, kernel, bias, index, stack.kernel_sizes, stack.groups, impl, multiscale)

    if stack.repeats == 1:
        bias = None if stack.biases is None else stack.biases[0]
        return layer(x, stack.kernels[0], bias, stack.size_index[0])
    # A scan keeps XLA from fusing consecutive layers into one loop nest, which
    # recomputes the earlier layers per output tap (3 unrolled layers: ~32x one).
    biases = stack.biases if stack.biases is not None else jnp.zeros((stack.repeats, 0))

    def body(a: jax.Array, layer_params: tuple[jax.Array, jax.Array, jax.Array]) -> tuple[jax.Array, None]:
        kernel, bias, index = layer_params
        return layer(a, kernel, bias if stack.biases is not None else None, index), None

    out: jax.Array
    out, _ = lax.scan(body, x, (stack.kernels, biases, stack.size_index))
    return out


def _fold_pointwise(stacks: Sequence[ConvStack]) -> list[ConvStack]:
    """Folds each single 1^d layer into the single layer before it (exact for linear maps).

    A 1^d layer after a k^d layer with the same groups is a per-voxel channel mix,
    so the pair equals one k^d layer with kernel ``K1 @ W2`` (per group) and bias
    ``b1 @ W2 + b2`` at every voxel, borders included. This halves the work of the
    MS group's nnU-Net transform (3^3 to 2 maps per modality, then 1^3 back).
    """
    folded: list[ConvStack] = []
    for stack in stacks:
        prev = folded[-1] if folded else None
        if (
            prev is None
            or stack.kernel_sizes != (1,)
            or stack.repeats != 1
            or prev.repeats != 1
            or prev.groups != stack.groups
        ):
            folded.append(stack)
            continue
        g = stack.groups
        k1 = prev.kernels[0]  # (*k, cin_g, cmid)
        w2 = stack.kernels[0].reshape(stack.kernels.shape[-2:])  # (cmid_g, cout)
        cmid_g, cout = w2.shape
        cout_g = cout // g
        blocks, bias_blocks = [], []
        for j in range(g):
            w2_j = w2[:, j * cout_g : (j + 1) * cout_g]
            blocks.append(jnp.einsum("...im,mo->...io", k1[..., j * cmid_g : (j + 1) * cmid_g], w2_j))
            if prev.biases is not None:
                bias_blocks.append(prev.biases[0, j * cmid_g : (j + 1) * cmid_g] @ w2_j)
        kernel = jnp.concatenate(blocks, axis=-1)[None]
        bias = None
        if prev.biases is not None or stack.biases is not None:
            bias = jnp.zeros((cout,), kernel.dtype)
            if bias_blocks:
                bias = bias + jnp.concatenate(bias_blocks)
            if stack.biases is not None:
                bias = bias + stack.biases[0]
            bias = bias[None]
        folded[-1] = ConvStack(kernel, bias, prev.size_index, prev.kernel_sizes, g)
    return folded


def _check_impl_multiscale(impl: str, multiscale: str) -> None:
    if impl not in _conv.IMPLS:
        raise ValueError(f"impl must be one of {_conv.IMPLS}, got {impl!r}")
    if multiscale not in MULTISCALE_MODES:
        raise ValueError(f"multiscale must be one of {MULTISCALE_MODES}, got {multiscale!r}")


def check_params(params: RandomConvParams, image: jax.Array) -> None:
    """Raises a ValueError naming what does not match between ``params`` and ``image``."""
    if not isinstance(params, RandomConvParams):
        raise TypeError(f"params must be RandomConvParams from sample_random_conv, got {type(params).__name__}")
    d, channels = image.ndim - 1, image.shape[-1]
    expected_in = channels
    for n, stack in enumerate(params.stacks):
        if stack.kernels.ndim != d + 3:
            raise ValueError(
                f"params.stacks[{n}].kernels has shape {stack.kernels.shape}, which does not "
                f"fit a {d}D image of shape {image.shape}: expected (repeats, *k, C_in/groups, "
                f"C_out) with {d} spatial axes (batched params need jax.vmap over apply)"
            )
        if stack.in_channels != expected_in:
            raise ValueError(
                f"params.stacks[{n}] takes {stack.in_channels} channels but receives "
                f"{expected_in} (image has shape {image.shape})"
            )
        expected_in = stack.out_channels
    if expected_in != channels:
        raise ValueError(f"params end with {expected_in} channels but the image has {channels}")


def apply_random_conv_channels_first(
    x: jax.Array,
    params: RandomConvParams,
    *,
    normalize: str,
    mask: jax.Array | None,
    impl: str,
    multiscale: str = "switch",
) -> jax.Array:
    """Internal: ``x (C, *S)`` float32 -> ``(C, *S)``; voxels outside ``mask`` are zeroed before the convolution."""
    y = conv_stacks_channels_first(x, params, mask=mask, impl=impl, multiscale=multiscale)
    return _normalize.normalize_channels_first(y, x, normalize, mask)


def conv_stacks_channels_first(
    x: jax.Array, params: RandomConvParams, *, mask: jax.Array | None, impl: str, multiscale: str = "switch"
) -> jax.Array:
    """Internal: the raw layers on ``x (C, *S)`` (zeroed outside ``mask``); any output channel count."""
    params = jax.tree.map(lax.stop_gradient, params)
    y = x if mask is None else jnp.where(mask[None], x, jnp.zeros((), x.dtype))
    for stack in _fold_pointwise(params.stacks):
        y = _apply_stack(y, stack, impl, multiscale)
    return y


def apply_random_conv(
    image: ArrayLike,
    params: RandomConvParams,
    *,
    normalize: str = "none",
    mask: ArrayLike | None = None,
    impl: str = "auto",
    multiscale: str = "switch",
) -> jax.Array:
    """Applies drawn random-convolution params to one image (deterministic).

    Args:
      image: ``(H, W, C)`` or ``(D, H, W, C)`` float array (float32, bfloat16, float16, ...).
      params: :class:`RandomConvParams` from :func:`sample_random_conv` for this
        image's rank and channel count (unbatched; ``jax.vmap`` this function for
        batched params).
      normalize: output re-normalization, one of
        ``randconv_jax.NORMALIZE_MODES`` (see :func:`normalize_output`).
      mask: optional ``(*spatial,)`` foreground mask (bool, or integers 0 and 1): voxels
        outside it are zeroed before the convolution (they never reach the output or the
        statistics, not even a NaN there), statistics are taken inside it, and voxels outside
        keep their input value.
      impl: ``"auto"`` (taps on CPU, ``lax.conv`` on GPU/TPU), ``"taps"`` or ``"lax"``.
      multiscale: how layers with several possible kernel sizes run. ``"switch"``
        (default) runs only the drawn size's k^d taps and picks the cheaper batched form
        itself: with the size shared by a batch (per-batch draws) one ``lax.switch`` for
        the batch; under a per-sample ``vmap`` a batching rule runs each image's own
        branch in turn, instead of the select over every size a vmapped switch would
        compute (1+9+25+49 taps for (1, 3, 5, 7) in 2D); every image then gets the bits of
        a one-image call. ``"full"`` always convolves with the ``k_max`` kernel (zeros
        outside the drawn size): the same maths, other rounding. With ``impl="lax"`` a
        per-sample ``vmap`` of ``"switch"`` runs every size.

    Returns:
      Array of the image's shape and dtype. No gradient flows into ``params``.

    Source: zero 'SAME' padding and stride 1 as ``F.conv2d(padding=k // 2)`` in RandConv
    (Xu et al. 2021); normalizations as listed in :func:`normalize_output`.
    """
    image = _validation.check_image(image)
    _normalize.check_mode(normalize)
    _check_impl_multiscale(impl, multiscale)
    check_params(params, image)
    m = _validation.check_mask(mask, image)
    compute = jnp.promote_types(image.dtype, jnp.float32)
    x = jnp.moveaxis(image.astype(compute), -1, 0)
    y = apply_random_conv_channels_first(x, params, normalize=normalize, mask=m, impl=impl, multiscale=multiscale)
    return jnp.moveaxis(y, 0, -1).astype(image.dtype)


def sample_random_conv(
    key: PRNGKey,
    image: ArrayLike | jax.ShapeDtypeStruct,
    *,
    kernel_size: int | Sequence[int] = 3,
    depth: int = 1,
    sigma: ArrayLike | None = None,
    gain: ArrayLike = 1.0,
    groups: int = 1,
    hidden_channels: int | None = None,
    bias_std: ArrayLike | None = None,
    truncate: float | None = None,
    size_key: PRNGKey | None = None,
    check_layout: bool = True,
) -> RandomConvParams:
    """Draws the kernels of a ``depth``-layer random convolution for ``image``.

    Only the image's shape is read. Each of the ``depth`` layers gets a fresh
    kernel with entries ~ N(0, sigma^2) spanning all channels (``groups=1``) or
    each channel group separately (``groups=C`` keeps MRI modalities apart, as the
    MS group's nnU-Net transform does).

    Args:
      key: PRNG key (typed or legacy).
      image: ``(H, W, C)`` or ``(D, H, W, C)`` float array or ``jax.ShapeDtypeStruct``.
      kernel_size: odd int, or a tuple of odd sizes from which each layer draws
        one uniformly (RandConv's multi-scale ``(1, 3, 5, 7)``); a new key never
        recompiles.
      depth: number of stacked layers L (static).
      sigma: kernel std; None (default) means ``gain / sqrt(C_in/groups * k^d)``
        (with gain 1 the official RandConv law, Xu et al. 2021). May be traced.
      gain: gain of the default law (sqrt(2) = He). May be traced.
      groups: feature groups; must divide C (and ``hidden_channels``).
      hidden_channels: channels between layers (default C); the last layer maps back to C.
      bias_std: None (default, no bias) or the std of N(0, bias_std^2) biases.
      truncate: draw from a normal truncated at +-``truncate`` std, rescaled to
        keep the std (Keras ``HeNormal``: 2). None draws a plain normal.
      size_key: None (default) draws every layer's size from ``key``; a key here draws the
        sizes from it instead (shared by every call given the same ``size_key``).
      check_layout: refuse shapes that look channels-first (last axis > 16 and longer than
        a spatial axis) or like a batch of 2D images; False accepts them as given.

    Concrete ``sigma``, ``gain``, ``bias_std`` must be finite and >= 0 and ``truncate``
    finite and > 0 (a ValueError names the argument); traced values are the caller's
    responsibility.

    Returns:
      :class:`RandomConvParams`: per-layer kernels ``(*k_max, C_in/groups, C_out)``
      (zeros outside a layer's drawn size), optional biases, and the drawn sizes.
    """
    image = _validation.check_image_or_struct(image, layout=check_layout)
    sizes = _validation.check_kernel_sizes(kernel_size)
    _kernels.check_law(sigma=sigma, gain=gain, truncate=truncate, bias_std=bias_std)
    depth = _validation.check_positive_int(depth, name="depth")
    groups = _validation.check_positive_int(groups, name="groups")
    channels, d = image.shape[-1], len(image.shape) - 1
    hidden = (
        channels if hidden_channels is None else _validation.check_positive_int(hidden_channels, name="hidden_channels")
    )
    if channels % groups or hidden % groups:
        raise ValueError(
            f"groups={groups} must divide the image's channels ({channels}) and hidden_channels ({hidden})"
        )
    widths = [channels] + [hidden] * (depth - 1) + [channels]
    # Runs of layers with equal shape share one ConvStack (applied with lax.scan).
    runs: list[tuple[int, int, int]] = []  # (c_in, c_out, repeats)
    for c_in, c_out in zip(widths[:-1], widths[1:], strict=True):
        if runs and runs[-1][:2] == (c_in, c_out):
            runs[-1] = (c_in, c_out, runs[-1][2] + 1)
        else:
            runs.append((c_in, c_out, 1))
    keys = jax.random.split(key, len(runs))
    size_keys = [None] * len(runs) if size_key is None else list(jax.random.split(size_key, len(runs)))
    stacks = tuple(
        _kernels.sample_conv_stack(
            k,
            spatial_dims=d,
            in_channels=c_in,
            out_channels=c_out,
            kernel_sizes=sizes,
            groups=groups,
            repeats=n,
            sigma=sigma,
            gain=gain,
            truncate=truncate,
            bias_std=bias_std,
            size_key=sk,
        )
        for k, sk, (c_in, c_out, n) in zip(keys, size_keys, runs, strict=True)
    )
    return RandomConvParams(stacks)


def random_conv(
    key: PRNGKey,
    image: ArrayLike,
    *,
    kernel_size: int | Sequence[int] = 3,
    depth: int = 1,
    sigma: ArrayLike | None = None,
    gain: ArrayLike = 1.0,
    groups: int = 1,
    hidden_channels: int | None = None,
    bias_std: ArrayLike | None = None,
    truncate: float | None = None,
    normalize: str = "none",
    mask: ArrayLike | None = None,
    impl: str = "auto",
    multiscale: str = "switch",
    check_layout: bool = True,
) -> jax.Array:
    """Random convolution of one image: ``depth`` stacked random k^d convolutions.

    ``y = conv(... conv(conv(x, W_1), W_2) ..., W_L)`` with zero 'SAME' padding,
    stride 1, no bias and no nonlinearity by default, ``W_l`` entries ~ N(0, sigma^2)
    drawn from ``key``; then ``normalize``. The seed RC of the project; RandConv
    (Xu et al. 2021) is ``depth=1, kernel_size=(1, 3, 5, 7)``. Arguments are those
    of :func:`sample_random_conv` and :func:`apply_random_conv`.

    Returns:
      Array of the image's shape and dtype.

    Examples:
      >>> import jax, jax.numpy as jnp, randconv_jax
      >>> x = jnp.ones((32, 32, 3))
      >>> randconv_jax.random_conv(jax.random.key(0), x, kernel_size=(1, 3, 5, 7)).shape
      (32, 32, 3)
    """
    params = sample_random_conv(
        key,
        image,
        kernel_size=kernel_size,
        depth=depth,
        sigma=sigma,
        gain=gain,
        groups=groups,
        hidden_channels=hidden_channels,
        bias_std=bias_std,
        truncate=truncate,
        check_layout=check_layout,
    )
    return apply_random_conv(image, params, normalize=normalize, mask=mask, impl=impl, multiscale=multiscale)


def make_random_conv(
    *,
    kernel_size: int | Sequence[int] = 3,
    depth: int = 1,
    sigma: ArrayLike | None = None,
    gain: ArrayLike = 1.0,
    groups: int = 1,
    hidden_channels: int | None = None,
    bias_std: ArrayLike | None = None,
    truncate: float | None = None,
    normalize: str = "none",
    impl: str = "auto",
    multiscale: str = "switch",
    check_layout: bool = True,
) -> Augmentation:
    """:func:`random_conv` as an :class:`Augmentation` (``sample``/``apply`` pair) for composing.

    Hyper-parameters are checked now, so a bad value fails at construction. The
    augmentation takes one float image ``(H, W, C)`` or ``(D, H, W, C)`` and returns the
    same shape and dtype.

    Source: the seed RC of the project; RandConv (Xu et al. 2021) is ``depth=1,
    kernel_size=(1, 3, 5, 7)``.
    """
    _validation.check_kernel_sizes(kernel_size)
    _validation.check_positive_int(depth, name="depth")
    _validation.check_positive_int(groups, name="groups")
    if hidden_channels is not None:
        _validation.check_positive_int(hidden_channels, name="hidden_channels")
    _kernels.check_law(sigma=sigma, gain=gain, truncate=truncate, bias_std=bias_std)
    _normalize.check_mode(normalize)
    _check_impl_multiscale(impl, multiscale)
    sample = functools.partial(
        sample_random_conv,
        kernel_size=kernel_size,
        depth=depth,
        sigma=sigma,
        gain=gain,
        groups=groups,
        hidden_channels=hidden_channels,
        bias_std=bias_std,
        truncate=truncate,
        check_layout=check_layout,
    )
    apply = functools.partial(apply_random_conv, normalize=normalize, impl=impl, multiscale=multiscale)
    return Augmentation(sample, apply)
