"""Deterministic N-D convolution (cross-correlation) with zero 'SAME' padding, stride 1.

Two formulations of the same operation, chosen per backend behind one API:

* ``"taps"``: an explicit sum over the k^d taps of shifted slices of the padded
  input times scalar weights, summed as a balanced tree. XLA:CPU fuses it into
  one loop per output channel; for the small channel counts of random
  convolutions (C <= ~8) it is several times faster than ``lax.conv`` on CPU and
  per-sample kernels (under ``vmap``) cost almost nothing extra. The balanced
  tree matters: a sequential sum is a chain of dependent adds that is latency
  bound (k=7: 1.7x slower).
* ``"lax"``: ``lax.conv_general_dilated`` (cuDNN on GPU). On XLA:CPU it is 10-20x
  slower than taps for C <= 3 (see docs/benchmarks.md). Under ``vmap`` with a kernel per
  sample it takes the taps form (``_lax_conv``'s docstring says why: JAX's grouped-convolution
  batching fails on a batch sharded over a mesh).

``impl="auto"`` picks taps when JAX's default backend is the CPU and lax otherwise
(GPU/TPU), at trace time.

Internally arrays are channels-first ``(C, *spatial)`` so the innermost, vectorized
axis is a spatial one; the public :func:`convolve` takes channels-last images.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from randconv_jax import _validation

IMPLS = ("auto", "taps", "lax")


def tree_sum(terms: list[jax.Array]) -> jax.Array:
    """Sums arrays pairwise (depth log2 n) so the adds are independent, not chained."""
    terms = list(terms)
    while len(terms) > 1:
        paired = [terms[i] + terms[i + 1] for i in range(0, len(terms) - 1, 2)]
        if len(terms) % 2:
            paired.append(terms[-1])
        terms = paired
    return terms[0]


def _taps_one_output(padded: jax.Array, weights: jax.Array, first_input: int, spatial: tuple[int, ...]) -> jax.Array:
    """``sum_{t, i} padded[first_input + i, shifted by t] * weights[t + (i,)]`` as a balanced tree."""
    ks = weights.shape[:-1]
    terms = []
    for offset in itertools.product(*(range(k) for k in ks)):
        window = tuple(slice(t, t + s) for t, s in zip(offset, spatial, strict=True))
        for i in range(weights.shape[-1]):
            terms.append(padded[(first_input + i,) + window] * weights[offset + (i,)])
    return tree_sum(terms)


# From this many output channels (and more than one tap) each output channel is
# computed in its own iteration of a loop. Unrolled, XLA:CPU fuses the tap sums
# of 3+ channels into the channels-last output transpose and iterates with the
# channel innermost, which vectorizes badly: vmapped over 64x224x224x3 the loop
# takes 60 ms (k=3) and 100-140 ms (k=7) against 100 and 440 ms unrolled, and
# 39 against 127 ms on 2x96^3x3. With 1-2 channels the unrolled form is faster
# (2x128^3x2: 25-45 vs 58 ms), so it is kept there.
_LOOP_OVER_CHANNELS_FROM = 3


def _conv_taps_cf(x: jax.Array, kernel: jax.Array, bias: jax.Array | None, groups: int) -> jax.Array:
    """Taps convolution of a channels-first ``x (C_in, *S)`` with ``kernel (*k, C_in/g, C_out)``.

    Weights are indexed straight from the kernel (or from the loop's per-channel
    slice): taking an intermediate slice such as ``kernel[..., o]`` inside the
    unrolled form made XLA:CPU 3-4x slower (2x128^3x2: 137 vs 36 ms).
    """
    ks = kernel.shape[:-2]
    cin_g, cout = kernel.shape[-2:]
    cout_g = cout // groups
    spatial = x.shape[1:]
    padded = jnp.pad(x, [(0, 0)] + [(k // 2, k // 2) for k in ks])
    if cout >= _LOOP_OVER_CHANNELS_FROM and math.prod(ks) > 1:
        per_channel = jnp.moveaxis(kernel, -1, 0)  # (C_out, *k, C_in/g)

        def one_group(group: int) -> jax.Array:
            weights = per_channel[group * cout_g : (group + 1) * cout_g]
            out: jax.Array = lax.map(lambda w: _taps_one_output(padded, w, group * cin_g, spatial), weights)
            return out

        out = jnp.concatenate([one_group(g) for g in range(groups)], axis=0)
        if bias is not None:
            out = out + bias.reshape((-1,) + (1,) * len(spatial))
        return out
    outputs = []
    for o in range(cout):
        first_input = (o // cout_g) * cin_g
        terms = []
        for offset in itertools.product(*(range(k) for k in ks)):
            window = tuple(slice(t, t + s) for t, s in zip(offset, spatial, strict=True))
            for i in range(cin_g):
                terms.append(padded[(first_input + i,) + window] * kernel[offset + (i, o)])
        out = tree_sum(terms)
        if bias is not None:
            out = out + bias[o]
        outputs.append(out)
    return jnp.stack(outputs, axis=0)


# --------------------------------------------------------------------------- multi-scale layers
#
# A layer that draws its size k from ``kernel_sizes`` holds a ``k_max`` kernel, zero outside the
# drawn size, and a ``lax.switch`` runs only the drawn size's k^d taps. With the size shared by a
# batch (``vmap`` with an unbatched size) the switch stays a switch over the whole batch. With a
# size per image, ``vmap`` would turn the switch into a select over every branch (1 + 9 + 25 + 49
# taps for (1, 3, 5, 7) in 2D); a ``custom_vmap`` rule instead runs each image's own branch in
# turn (``lax.map``), so each image costs its own k^d taps and gets the bits of a one-image call.


def _multiscale_switch(
    x: jax.Array,
    kernel: jax.Array,
    bias: jax.Array | None,
    index: jax.Array,
    *,
    groups: int,
    kernel_sizes: tuple[int, ...],
    impl: str,
) -> jax.Array:
    d = x.ndim - 1
    c = kernel.shape[0] // 2

    def branch(k: int) -> Callable[[jax.Array, jax.Array], jax.Array]:
        r = k // 2

        def run(a: jax.Array, w: jax.Array) -> jax.Array:
            return conv_channels_first(a, w[(slice(c - r, c + r + 1),) * d], bias, groups=groups, impl=impl)

        return run

    out: jax.Array = lax.switch(index, [branch(k) for k in kernel_sizes], x, kernel)
    return out


def _sharded_leading_axis(a: jax.Array) -> bool:
    """Whether ``a``'s type says its leading axis is sharded (explicit sharding)."""
    spec: Any = getattr(getattr(jax.typeof(a), "sharding", None), "spec", None)
    return spec is not None and len(spec) > 0 and spec[0] is not None


@functools.cache
def _multiscale_layer(groups: int, kernel_sizes: tuple[int, ...], has_bias: bool, impl: str) -> Any:
    """``layer(x, kernel, bias, index)``: a switch, batched image by image when ``index`` is batched.

    Without a bias, ``bias`` is a placeholder of shape ``(0,)`` and is ignored.
    """

    def switch(x: jax.Array, kernel: jax.Array, bias: jax.Array, index: jax.Array) -> jax.Array:
        return _multiscale_switch(
            x, kernel, bias if has_bias else None, index, groups=groups, kernel_sizes=kernel_sizes, impl=impl
        )

    @jax.custom_batching.custom_vmap
    def batched_layer(x: jax.Array, kernel: jax.Array, bias: jax.Array, index: jax.Array) -> jax.Array:
        return switch(x, kernel, bias, index)

    @batched_layer.def_vmap
    def _rule(
        axis_size: int, in_batched: Sequence[bool], x: jax.Array, kernel: jax.Array, bias: jax.Array, index: jax.Array
    ) -> tuple[jax.Array, bool]:
        args = (x, kernel, bias, index)
        if not in_batched[3]:  # one size for the batch: the switch runs once, on the whole batch
            axes = tuple(0 if b else None for b in in_batched)
            return jax.vmap(switch, in_axes=axes, axis_size=axis_size)(*args), True
        mapped = [a for a, b in zip(args, in_batched, strict=True) if b]
        if any(_sharded_leading_axis(a) for a in mapped):
            # Explicitly sharded along the batch (a mesh with Explicit axes): lax.map cannot
            # iterate over a sharded axis, so the batch runs the vmapped switch (a select).
            axes = tuple(0 if b else None for b in in_batched)
            return jax.vmap(switch, in_axes=axes, axis_size=axis_size)(*args), True
        # A size per image: each image runs its own branch in turn (k^d taps each).

        def one(image_args: list[jax.Array]) -> jax.Array:
            it = iter(image_args)
            return switch(*[next(it) if b else a for a, b in zip(args, in_batched, strict=True)])

        out: jax.Array = lax.map(one, mapped)
        return out, True

    # A custom_vmap function cannot be transposed, so derivatives go through the k_max kernel
    # (zero outside the drawn size): linear in the image and in the kernel, the same maths.
    @jax.custom_jvp
    def layer(x: jax.Array, kernel: jax.Array, bias: jax.Array, index: jax.Array) -> jax.Array:
        out: jax.Array = batched_layer(x, kernel, bias, index)
        return out

    def _jvp(primals: tuple[jax.Array, ...], tangents: tuple[Any, ...]) -> tuple[jax.Array, jax.Array]:
        x, kernel, bias, index = primals
        tx, tk, tb, _ = tangents
        out = layer(x, kernel, bias, index)
        zero = jax.custom_derivatives.SymbolicZero
        tangent = jnp.zeros_like(out)
        if not isinstance(tx, zero):
            tangent = tangent + conv_channels_first(tx, kernel, None, groups=groups, impl=impl)
        if not isinstance(tk, zero):
            tangent = tangent + conv_channels_first(x, tk, None, groups=groups, impl=impl)
        if has_bias and not isinstance(tb, zero):
            tangent = tangent + tb.reshape((-1,) + (1,) * (x.ndim - 1))
        return out, tangent

    layer.defjvp(_jvp, symbolic_zeros=True)
    return layer


def conv_multiscale_channels_first(
    x: jax.Array,
    kernel: jax.Array,
    bias: jax.Array | None,
    size_index: jax.Array,
    *,
    kernel_sizes: tuple[int, ...],
    groups: int = 1,
    impl: str = "auto",
) -> jax.Array:
    """A layer of drawn size ``kernel_sizes[size_index]`` whose ``k_max`` kernel is zero outside it.

    Taps: runs only the drawn size's taps, once for a batch that shares the size and image by
    image under a per-sample ``vmap`` (see the comment above). ``lax``: a switch over
    ``lax.conv`` of the central taps, which a per-sample ``vmap`` turns into a select over every
    size (batched convolutions suit GPUs; unmeasured here).
    """
    if impl == "auto":
        impl = "taps" if jax.default_backend() == "cpu" else "lax"
    if impl not in ("taps", "lax"):
        raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
    if impl == "lax":  # on GPU/TPU a per-sample vmap keeps the select over every size (batched convs)
        return _multiscale_switch(x, kernel, bias, size_index, groups=groups, kernel_sizes=kernel_sizes, impl=impl)
    layer = _multiscale_layer(int(groups), tuple(int(k) for k in kernel_sizes), bias is not None, impl)
    out: jax.Array = layer(x, kernel, bias if bias is not None else jnp.zeros((0,), x.dtype), size_index)
    return out


def _lax_conv_nchw(x: jax.Array, kernel: jax.Array, groups: int) -> jax.Array:
    """``lax.conv_general_dilated`` of a batch ``x (N, C_in, *S)`` with one ``kernel (*k, C_in/g, C_out)``."""
    d = x.ndim - 2
    spatial = "DHW"[-d:]  # d is 2 or 3: images are checked to be (H, W, C) or (D, H, W, C)
    dims = lax.conv_dimension_numbers(x.shape, kernel.shape, ("NC" + spatial, spatial + "IO", "NC" + spatial))
    return lax.conv_general_dilated(
        x,
        kernel,
        window_strides=(1,) * d,
        padding="SAME",
        dimension_numbers=dims,
        feature_group_count=groups,
    )


@functools.cache
def _lax_conv(groups: int) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """``conv(x (C_in, *S), kernel) -> (C_out, *S)`` by ``lax.conv``, with its own batching rule.

    Under ``vmap`` with a kernel shared by the batch (one draw, ``per_batch``) the batch is the
    convolution's batch axis: one ``lax.conv`` (cuDNN on GPU). With a kernel per sample
    (``per_sample``) it takes the taps form, vmapped. JAX's own rule folds the batch into
    feature groups instead (one grouped ``lax.conv``), and on a batch sharded over a mesh that
    fails: under Explicit mesh axes JAX refuses the reshape of the sharded batch axis into the
    channel axis ("This reshape is not supported"), and under Auto axes XLA's SPMD partitioner
    splits the grouped kernel without splitting the groups ("Expected output feature dimension
    ... divisible by feature_group_count"). Derivatives are the taps form's (the convolution is
    linear in the image and in the kernel), so ``grad`` works through either path.
    """

    @jax.custom_batching.custom_vmap
    def vmappable(x: jax.Array, kernel: jax.Array) -> jax.Array:
        return _lax_conv_nchw(x[None], kernel, groups)[0]

    @vmappable.def_vmap
    def _batched(axis_size: int, in_batched: list[bool], x: jax.Array, kernel: jax.Array) -> tuple[jax.Array, bool]:
        x_batched, kernel_batched = in_batched
        if not x_batched:
            x = jnp.broadcast_to(x, (axis_size,) + x.shape)
        if kernel_batched:
            out = jax.vmap(lambda a, w: _conv_taps_cf(a, w, None, groups))(x, kernel)
        else:
            out = _lax_conv_nchw(x, kernel, groups)
        return out, True

    @jax.custom_jvp
    def conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
        out: jax.Array = vmappable(x, kernel)
        return out

    @conv.defjvp
    def _jvp(primals: tuple[jax.Array, jax.Array],
             tangents: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        (x, kernel), (dx, dkernel) = primals, tangents
        tangent = _conv_taps_cf(dx, kernel, None, groups) + _conv_taps_cf(x, dkernel, None, groups)
        return conv(x, kernel), tangent

    return conv


def _conv_lax_cf(x: jax.Array, kernel: jax.Array, bias: jax.Array | None, groups: int) -> jax.Array:
    out = _lax_conv(int(groups))(x, kernel)
    if bias is not None:
        out = out + bias.reshape((-1,) + (1,) * (x.ndim - 1))
    return out


def conv_channels_first(
    x: jax.Array,
    kernel: jax.Array,
    bias: jax.Array | None = None,
    *,
    groups: int = 1,
    impl: str = "auto",
) -> jax.Array:
    """Convolves a channels-first ``(C_in, *S)`` array; returns ``(C_out, *S)``."""
    if impl == "taps":
        return _conv_taps_cf(x, kernel, bias, groups)
    if impl == "lax":
        return _conv_lax_cf(x, kernel, bias, groups)
    if impl == "auto":
        # Resolved at trace time from the default backend. (lax.platform_dependent
        # would defer the choice to lowering, but it traces both branches, and the
        # lax branch's vmap rule for per-sample kernels reshapes the batch into
        # channels, which explicit-axes meshes reject.)
        chosen = "taps" if jax.default_backend() == "cpu" else "lax"
        return conv_channels_first(x, kernel, bias, groups=groups, impl=chosen)
    raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")


def check_kernel(kernel: jax.Array, in_channels: int, spatial_dims: int, groups: int, *, name: str = "kernel") -> None:
    if kernel.ndim != spatial_dims + 2:
        raise ValueError(
            f"{name} must have shape (*k, C_in/groups, C_out) with {spatial_dims} spatial "
            f"axes for this image, got shape {kernel.shape}"
        )
    ks = kernel.shape[:spatial_dims]
    if any(k % 2 == 0 for k in ks):
        raise ValueError(f"{name} spatial sizes must be odd, got {ks}")
    if in_channels % groups or kernel.shape[-1] % groups:
        raise ValueError(
            f"groups={groups} must divide the input channels ({in_channels}) and the "
            f"output channels ({kernel.shape[-1]})"
        )
    if kernel.shape[-2] != in_channels // groups:
        raise ValueError(
            f"{name} has {kernel.shape[-2]} input channels per group but the image has "
            f"{in_channels} channels in {groups} group(s): expected {in_channels // groups}"
        )


def convolve(
    image: ArrayLike,
    kernel: ArrayLike,
    *,
    bias: ArrayLike | None = None,
    groups: int = 1,
    impl: str = "auto",
) -> jax.Array:
    """Cross-correlates one channels-last image with a kernel: zero 'SAME' padding, stride 1.

    ``out[p, o] = sum_{t, i} kernel[t, i, o] * image_padded[p + t - k//2, g(o)*C_in/groups + i]
    (+ bias[o])``, the convention of ``lax.conv_general_dilated`` and PyTorch's
    ``conv2d``/``conv3d`` (no kernel flip).

    Args:
      image: ``(H, W, C_in)`` or ``(D, H, W, C_in)`` float array.
      kernel: ``(*k, C_in // groups, C_out)`` with odd spatial sizes ``k`` (HWIO/DHWIO layout).
      bias: optional ``(C_out,)``.
      groups: feature groups; output channel ``o`` reads input group
        ``o // (C_out // groups)``, as ``feature_group_count`` / PyTorch ``groups``.
      impl: ``"auto"`` (taps on CPU, ``lax.conv`` elsewhere), ``"taps"`` or ``"lax"``.

    Returns:
      ``(*spatial, C_out)`` array in the image's dtype (computed in float32 at least).

    Source: PyTorch's ``F.conv2d`` / ``F.conv3d`` semantics (zero padding ``k // 2``), as the
    RandConv, GIN and nnU-Net codes call them.
    """
    image = _validation.check_image(image)
    kernel = jnp.asarray(kernel)
    groups = _validation.check_positive_int(groups, name="groups")
    check_kernel(kernel, image.shape[-1], image.ndim - 1, groups)
    compute = jnp.promote_types(image.dtype, jnp.float32)
    x = jnp.moveaxis(image.astype(compute), -1, 0)
    b = None if bias is None else jnp.asarray(bias, compute)
    out = conv_channels_first(x, kernel.astype(compute), b, groups=groups, impl=impl)
    return jnp.moveaxis(out, 0, -1).astype(image.dtype)
