"""Flax NNX convolution layers whose parameters match ``nnx.Conv`` / ``nnx.ConvTranspose``.

Same parameter names, shapes, initializers and key consumption (kernel ``lecun_normal`` from
``rngs.params()``, then a zero bias), so a U-Net built from these layers has the pytree of
one built from Flax's, and checkpoints move between them. The computation is
:mod:`train.models.conv`'s, in the form chosen by ``impl`` (``"auto"``: fast XLA:CPU forms on
the CPU, ``lax`` convolutions on GPU/TPU).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from train.models import conv as conv_ops

_KERNEL_INIT = nnx.initializers.lecun_normal()  # nnx.Conv's default_kernel_init
_BIAS_INIT = nnx.initializers.zeros_init()  # nnx.Conv's default_bias_init


class _ConvBase(nnx.Module):
    def __init__(self, in_features: int, out_features: int, kernel_size: Sequence[int], *, use_bias: bool,
                 impl: str, rngs: nnx.Rngs):
        conv_ops.resolve_impl(impl)  # fail at construction on a bad name
        self.in_features = in_features
        self.out_features = out_features
        self.kernel_size = tuple(int(k) for k in kernel_size)
        self.impl = impl
        self.kernel = nnx.Param(_KERNEL_INIT(rngs.params(), self.kernel_size + (in_features, out_features),
                                             jnp.float32))
        self.bias = nnx.Param(_BIAS_INIT(rngs.params(), (out_features,), jnp.float32)) if use_bias else nnx.data(None)

    def _add_bias(self, y: jax.Array) -> jax.Array:
        return y if self.bias is None else y + self.bias[...]


class Conv(_ConvBase):
    """``nnx.Conv(in, out, kernel_size, strides=stride, padding="SAME")`` computed by :func:`conv_ops.conv`.

    A ``1^d`` kernel at stride 1 runs as :func:`conv_ops.pointwise`. Call:
    ``(N, *spatial, in_features)`` -> ``(N, *ceil(spatial / stride), out_features)``.
    """

    def __init__(self, in_features: int, out_features: int, kernel_size: Sequence[int], *, stride: int = 1,
                 use_bias: bool = True, impl: str = "auto", rngs: nnx.Rngs):
        super().__init__(in_features, out_features, kernel_size, use_bias=use_bias, impl=impl, rngs=rngs)
        self.stride = int(stride)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self._add_bias(conv_ops.conv(x, self.kernel[...], stride=self.stride, impl=self.impl))


class ConvTranspose(_ConvBase):
    """``nnx.ConvTranspose(in, out, kernel_size, strides=kernel_size, padding="VALID")``.

    Computed by :func:`conv_ops.conv_transpose`. Call: ``(N, *spatial, in_features)`` ->
    ``(N, *(kernel_size · spatial), out_features)``.
    """

    def __init__(self, in_features: int, out_features: int, kernel_size: Sequence[int], *, use_bias: bool = True,
                 impl: str = "auto", rngs: nnx.Rngs):
        super().__init__(in_features, out_features, kernel_size, use_bias=use_bias, impl=impl, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self._add_bias(conv_ops.conv_transpose(x, self.kernel[...], impl=self.impl))
