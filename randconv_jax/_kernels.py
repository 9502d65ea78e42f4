"""Random kernel sampling: the N(0, sigma^2) law with an explicit gain, multi-scale sizes.

The standard deviation is always explicit (several third-party RandConv copies hide it):
``sigma = gain / sqrt(fan_in)`` with ``fan_in = C_in / groups * k^d`` for the
drawn kernel size ``k`` and spatial rank ``d``, or a number given by the caller.

* gain 1: the official RandConv law, PyTorch ``kaiming_normal_(w,
  nonlinearity='conv2d')`` (Xu et al. 2021);
* gain sqrt(2): He / Kaiming with PyTorch's default ``leaky_relu`` gain (the MS
  group's nnU-Net transform) and Keras ``HeNormal`` (``rc_aug``, Scholz et al.
  2025; Keras truncates at 2 sigma and rescales so the std is still sqrt(2/fan_in),
  see ``truncate``);
* sigma 1: GIN (Ouyang et al. 2022), whose Frobenius re-normalization makes the scale moot.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from randconv_jax import _validation
from randconv_jax._typing import PRNGKey


def truncated_normal_std(bound: float) -> float:
    """Standard deviation of N(0, 1) truncated to [-bound, bound] (0.87962566 for 2)."""
    z = math.erf(bound / math.sqrt(2.0))  # P(|X| < bound)
    pdf = math.exp(-0.5 * bound * bound) / math.sqrt(2.0 * math.pi)
    return math.sqrt(1.0 - 2.0 * bound * pdf / z)


@functools.partial(
    jax.tree_util.register_dataclass,
    data_fields=["kernels", "biases", "size_index"],
    meta_fields=["kernel_sizes", "groups"],
)
@dataclasses.dataclass(frozen=True)
class ConvStack:
    """``repeats`` convolution layers of identical shape, drawn independently.

    Attributes:
      kernels: ``(repeats, *[k_max]*d, C_in // groups, C_out)`` float32, HWIO/DHWIO layout
        per layer. A layer whose drawn size ``k`` is below ``k_max`` holds zeros
        outside its central ``k^d`` taps, so the array alone defines the maths (an
        oracle may convolve with it directly).
      biases: ``(repeats, C_out)`` float32, or None for no bias.
      size_index: ``(repeats,)`` int32 index into ``kernel_sizes``: the size each
        layer drew (used to run only the needed taps).
      kernel_sizes: static tuple of the odd sizes a layer may draw from.
      groups: static feature-group count (``groups=C_in`` keeps channels apart).

    Source: the project's own container; the law is ``kaiming_normal_``'s (see the module).
    """

    kernels: jax.Array
    biases: jax.Array | None
    size_index: jax.Array
    kernel_sizes: tuple[int, ...]
    groups: int

    @property
    def repeats(self) -> int:
        """Layers in the stack (for unbatched params)."""
        return self.kernels.shape[0]

    @property
    def spatial_dims(self) -> int:
        return self.kernels.ndim - 3

    @property
    def in_channels(self) -> int:
        return self.kernels.shape[-2] * self.groups

    @property
    def out_channels(self) -> int:
        return self.kernels.shape[-1]


def check_law(
    *,
    sigma: ArrayLike | None = None,
    gain: ArrayLike = 1.0,
    truncate: float | None = None,
    bias_std: ArrayLike | None = None,
) -> None:
    """Concrete ``sigma``, ``gain``, ``bias_std`` must be finite and >= 0, ``truncate`` finite and > 0.

    Traced values (schedules) cannot be checked while tracing: keeping them finite and
    non-negative is the caller's responsibility.
    """
    _validation.check_number(sigma, name="sigma", minimum=0.0, allow_none=True)
    _validation.check_number(gain, name="gain", minimum=0.0)
    _validation.check_number(bias_std, name="bias_std", minimum=0.0, allow_none=True)
    if truncate is not None:
        if isinstance(truncate, jax.core.Tracer):
            raise ValueError("truncate must be a Python float (it is a static bound of the draw), got a traced value")
        _validation.check_number(truncate, name="truncate", minimum=0.0, strictly=True)


def pytorch_default_bias(key: PRNGKey, *, fan_in: int, out_channels: int) -> jax.Array:
    """``(out_channels,)`` float32 biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)).

    How PyTorch's ``nn.Conv2d`` / ``nn.Conv3d`` initialize their bias at construction
    (``reset_parameters``, with ``fan_in = C_in / groups * prod(kernel_size)``).
    """
    bound = 1.0 / math.sqrt(fan_in)
    return jax.random.uniform(key, (out_channels,), jnp.float32, -bound, bound)


def sample_conv_stack(
    key: PRNGKey,
    *,
    spatial_dims: int,
    in_channels: int,
    out_channels: int,
    kernel_sizes: tuple[int, ...],
    groups: int = 1,
    repeats: int = 1,
    sigma: ArrayLike | None = None,
    gain: ArrayLike = 1.0,
    truncate: float | None = None,
    bias_std: ArrayLike | None = None,
    size_key: PRNGKey | None = None,
) -> ConvStack:
    """Draws ``repeats`` independent conv layers ``C_in -> C_out``; see :class:`ConvStack`.

    Args:
      key: PRNG key.
      spatial_dims: 2 or 3.
      in_channels, out_channels: channel counts, both divisible by ``groups``.
      kernel_sizes: odd sizes; each layer draws one uniformly (RandConv's multi-scale).
      groups: feature groups.
      repeats: number of layers of this shape.
      sigma: kernel std; None means ``gain / sqrt(C_in / groups * k^d)`` for the drawn ``k``.
      gain: the gain of that law (1: RandConv; sqrt(2): He). May be a traced scalar.
      truncate: if set, entries are drawn from a normal truncated at +-``truncate``
        standard deviations and rescaled so their std is still ``sigma`` (Keras
        ``HeNormal`` uses 2).
      bias_std: None for no bias, else biases ~ N(0, bias_std^2) (GIN uses 1).
      size_key: None (default) draws the sizes from ``key``; a key here draws them from it
        instead, so calls that share ``size_key`` share their sizes (GIN's official code draws
        one size per layer for the whole mini-batch, weights per sample).

    Returns:
      :class:`ConvStack` with float32 kernels ``(repeats, *[k_max]*d, C_in/groups, C_out)``.

    Source: the N(0, gain^2 / fan_in) law of ``kaiming_normal_`` (Xu et al. 2021 with gain 1).
    """
    check_law(sigma=sigma, gain=gain, truncate=truncate, bias_std=bias_std)
    k_size, k_weight, k_bias = jax.random.split(key, 3)
    if size_key is not None:
        k_size = size_key
    cin_g = in_channels // groups
    k_max = max(kernel_sizes)
    size_index = jax.random.randint(k_size, (repeats,), 0, len(kernel_sizes), dtype=jnp.int32)
    # A select chain, not a gather: gathers need explicit output shardings under
    # explicit-axes meshes, and the table has at most a handful of entries.
    sizes = jnp.zeros_like(size_index)
    for j, k in enumerate(kernel_sizes):
        sizes = jnp.where(size_index == j, k, sizes)
    shape = (repeats,) + (k_max,) * spatial_dims + (cin_g, out_channels)
    if truncate is None:
        raw = jax.random.normal(k_weight, shape, jnp.float32)
    else:
        bound = float(truncate)
        raw = jax.random.truncated_normal(k_weight, -bound, bound, shape, jnp.float32)
        raw = raw / truncated_normal_std(bound)
    if sigma is None:
        fan_in = cin_g * sizes.astype(jnp.float32) ** spatial_dims
        std = jnp.asarray(gain, jnp.float32) / jnp.sqrt(fan_in)
    else:
        std = jnp.broadcast_to(jnp.asarray(sigma, jnp.float32), (repeats,))
    kernels = raw * std.reshape((repeats,) + (1,) * (spatial_dims + 2))
    if len(kernel_sizes) > 1:
        offsets = np.abs(np.arange(k_max) - k_max // 2)
        radius = (sizes // 2).reshape((repeats,) + (1,) * spatial_dims)
        inside = jnp.ones((repeats,) + (k_max,) * spatial_dims, bool)
        for axis in range(spatial_dims):
            o = offsets.reshape((1,) + tuple(k_max if a == axis else 1 for a in range(spatial_dims)))
            inside = inside & (o <= radius)
        kernels = kernels * inside[..., None, None]
    biases = None
    if bias_std is not None:
        biases = jax.random.normal(k_bias, (repeats, out_channels), jnp.float32)
        biases = biases * jnp.asarray(bias_std, jnp.float32)
    return ConvStack(kernels, biases, size_index, tuple(kernel_sizes), groups)
