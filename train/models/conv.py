"""The U-Net's convolutions, in the form each backend runs fastest, with identical parameters.

Three operations make up the U-Net (channels last, ``(N, *spatial, C)``, kernels
``(*k, C_in, C_out)`` as in Flax):

* :func:`conv`: a ``k^d`` cross-correlation, stride 1 or 2, ``SAME`` zero padding;
* :func:`conv_transpose`: the decoder's ``2^d`` stride-2 transposed convolution (``VALID``,
  Flax's ``transpose_kernel=False`` convention: the kernel is applied flipped);
* :func:`pointwise`: the ``1^d`` classification head.

``impl="lax"`` is ``lax.conv_general_dilated`` / ``lax.conv_transpose`` throughout (what
``nnx.Conv`` and ``nnx.ConvTranspose`` call; cuDNN on GPU, the TPU's native convolution).
``impl="cpu"`` uses the forms that XLA:CPU differentiates fast (``benchmarks/bench_conv.py``
measures every alternative, ``docs/benchmarks.md`` has the table):

* the transposed convolution is one matmul over the channel axis followed by a
  depth-to-space reshape (it has exactly ``2^d`` taps that never overlap); its gradients are
  matmuls too, where XLA:CPU's gradient of ``lax.conv_transpose`` (an input-dilated
  convolution) is ~20x slower;
* the head is a matmul over the channel axis;
* a 3D ``3^3`` convolution is computed as 2D convolutions over depth slices: the three
  depth-shifted copies of the input are stacked on the channel axis and one ``3x3`` 2D
  convolution over ``(N·D', H, W, 3·C_in)`` does the rest. XLA:CPU's 3D convolution and its
  gradients run at a few GFLOP/s for the U-Net's 8-32 channels, its 2D convolution near
  its matmul rate;
* 2D ``3x3`` convolutions stay ``lax.conv`` (already the fastest form on XLA:CPU, forward
  and backward, of those measured).

``impl="auto"`` (the default) picks ``"cpu"`` when ``jax.default_backend()`` is ``"cpu"`` at
trace time, ``"lax"`` otherwise, as ``randconv_jax``'s ``impl="auto"`` does. Every form
computes the same function with the same parameters, so a checkpoint trained under one
predicts under the other (to float32 rounding; ``tests/train/test_conv.py``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

CONV_IMPLS = ("auto", "lax", "cpu")
"""Values of ``impl`` (and of the config key ``model.conv_impl``)."""


def resolve_impl(impl: str) -> str:
    """``"auto"`` -> ``"cpu"`` on the CPU backend, ``"lax"`` elsewhere; other values unchanged."""
    if impl not in CONV_IMPLS:
        raise ValueError(f"conv impl must be one of {CONV_IMPLS}, got {impl!r}")
    if impl == "auto":
        return "cpu" if jax.default_backend() == "cpu" else "lax"
    return impl


def _layout(spatial_dims: int) -> tuple[str, str, str]:
    sp = "DHW"[-spatial_dims:]
    return f"N{sp}C", f"{sp}IO", f"N{sp}C"


def _check(x: jax.Array, kernel: jax.Array, what: str) -> int:
    d = kernel.ndim - 2
    if d not in (2, 3) or x.ndim != d + 2:
        raise ValueError(f"{what}: x must be (N, *spatial, C) with the kernel's spatial rank; got x {x.shape}, "
                         f"kernel {kernel.shape}")
    if x.shape[-1] != kernel.shape[-2]:
        raise ValueError(f"{what}: x has {x.shape[-1]} channels, the kernel expects {kernel.shape[-2]}")
    return d


def _same_padding(size: int, k: int, stride: int) -> tuple[int, int, int]:
    """XLA's ``SAME`` padding ``(low, high)`` and the output size for one axis."""
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return total // 2, total - total // 2, out


def _lax_conv(x: jax.Array, kernel: jax.Array, stride: int) -> jax.Array:
    d = kernel.ndim - 2
    dn = lax.conv_dimension_numbers(x.shape, kernel.shape, _layout(d))
    return lax.conv_general_dilated(x, kernel, (stride,) * d, "SAME", dimension_numbers=dn)


def _conv3d_as_2d(x: jax.Array, kernel: jax.Array, stride: int) -> jax.Array:
    """A 3D ``SAME`` convolution as one 2D convolution over depth slices.

    The ``kd`` depth-shifted (and depth-strided) copies of the zero-padded input are stacked
    on the channel axis, ``(N, D', H, W, kd·C)``, and a ``kh x kw`` 2D convolution with the
    kernel reshaped to ``(kh, kw, kd·C_in, C_out)`` runs over ``(N·D', H, W, kd·C)``.
    Exactly the 3D cross-correlation: output depth ``o`` sums input depths
    ``o·stride + t - pad_low`` for the taps ``t``.
    """
    n, depth, h, w, c = x.shape
    kd = kernel.shape[0]
    low, high, out_d = _same_padding(depth, kd, stride)
    padded = jnp.pad(x, ((0, 0), (low, high), (0, 0), (0, 0), (0, 0)))
    span = (out_d - 1) * stride + 1
    stacked = jnp.concatenate([padded[:, t:t + span:stride] for t in range(kd)], axis=-1)
    kernel_2d = jnp.moveaxis(kernel, 0, 2).reshape(kernel.shape[1], kernel.shape[2], kd * c, kernel.shape[-1])
    y = _lax_conv(stacked.reshape(n * out_d, h, w, kd * c), kernel_2d, stride)
    return y.reshape(n, out_d, *y.shape[1:])


def conv(x: jax.Array, kernel: jax.Array, *, stride: int = 1, impl: str = "auto") -> jax.Array:
    """``k^d`` cross-correlation with ``SAME`` zero padding (as ``nnx.Conv(padding="SAME")``).

    Args:
        x: ``(N, *spatial, C_in)`` float, spatial rank 2 or 3.
        kernel: ``(*k, C_in, C_out)`` float, the same rank; odd or even ``k``.
        stride: the same stride on every spatial axis.
        impl: ``"auto"``, ``"lax"`` or ``"cpu"`` (module docstring).

    Returns:
        ``(N, *ceil(spatial / stride), C_out)`` in the promoted dtype of ``x`` and ``kernel``.
    """
    d = _check(x, kernel, "conv")
    if stride < 1:
        raise ValueError(f"conv: stride must be >= 1, got {stride}")
    impl = resolve_impl(impl)
    if impl == "cpu":
        if all(s == 1 for s in kernel.shape[:-2]) and stride == 1:
            return pointwise(x, kernel.reshape(kernel.shape[-2:]), impl="cpu")
        if d == 3:
            return _conv3d_as_2d(x, kernel, stride)
    return _lax_conv(x, kernel, stride)


def conv_transpose(x: jax.Array, kernel: jax.Array, *, impl: str = "auto") -> jax.Array:
    """Transposed convolution with stride equal to the kernel size, ``VALID`` (the decoder's upsampling).

    Computes ``nnx.ConvTranspose(kernel_size=k, strides=k, padding="VALID")``:
    ``y[n, k·i + a, o] = Σ_c x[n, i, c] · kernel[k - 1 - a, c, o]`` per spatial axis (Flax's
    default ``transpose_kernel=False`` applies the kernel flipped).

    Args:
        x: ``(N, *spatial, C_in)`` float, spatial rank 2 or 3.
        kernel: ``(*k, C_in, C_out)`` float.
        impl: ``"auto"``, ``"lax"`` or ``"cpu"``.

    Returns:
        ``(N, *(k · spatial), C_out)``.
    """
    d = _check(x, kernel, "conv_transpose")
    k = kernel.shape[:d]
    if resolve_impl(impl) == "lax":
        return lax.conv_transpose(x, kernel, k, "VALID", dimension_numbers=_layout(d))
    flipped = jnp.flip(kernel, axis=tuple(range(d)))
    # (N, *spatial, C) x (*k, C, O) -> (N, s1, k1, s2, k2, [s3, k3,] O), then merge each (s_i, k_i).
    letters_s, letters_k = "xyz"[:d], "abc"[:d]
    out = "n" + "".join(s + a for s, a in zip(letters_s, letters_k, strict=True)) + "o"
    y = jnp.einsum(f"n{letters_s}i,{letters_k}io->{out}", x, flipped)
    return y.reshape((x.shape[0],) + tuple(s * kk for s, kk in zip(x.shape[1:-1], k, strict=True))
                     + (kernel.shape[-1],))


def pointwise(x: jax.Array, kernel: jax.Array, *, impl: str = "auto") -> jax.Array:
    """``1^d`` convolution: ``(N, *spatial, C_in)`` x ``(C_in, C_out)`` -> ``(N, *spatial, C_out)``."""
    if kernel.ndim != 2 or x.shape[-1] != kernel.shape[0]:
        raise ValueError(f"pointwise: kernel must be (C_in={x.shape[-1]}, C_out), got {kernel.shape}")
    if resolve_impl(impl) == "lax":
        d = x.ndim - 2
        return _lax_conv(x, kernel.reshape((1,) * d + kernel.shape), 1)
    return jnp.einsum("...i,io->...o", x, kernel)
