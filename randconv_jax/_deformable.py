"""Deformable convolution (2D and 3D): every tap of every output position reads the input at a
real-valued, per-position offset, interpolated bilinearly (2D) or trilinearly (3D), zero outside.

``out[p, o] = sum_t sum_i kernel[t, i, o] * interp(x_i, p + (t - k // 2) + offsets[p, t])``

for output position ``p``, tap ``t`` of the ``k^d`` grid (row-major order, as
``itertools.product(range(k_0), ..., range(k_{d-1}))``), and ``interp`` the multilinear
interpolation of channel ``i`` with zero padding: a corner outside the image contributes 0,
as in torchvision's ``deform_conv2d`` (Dai et al., ICCV 2017). Offsets are in pixels
(voxels), one ``d``-vector per output position and tap.

JAX has no deformable convolution. This one runs tap by tap in a ``lax.fori_loop`` that
accumulates into the output: per tap it gathers the ``2^d`` interpolation corners as rows of
the flattened, zero-ringed channels-last image (one index fetches all channels). Only one
tap's offsets, indices and samples are alive at a time, so memory is a few copies of the
image, never ``k^d`` shifted copies; offsets may even be generated per tap (see
:mod:`randconv_jax._pro_randconv`, which draws them from a key inside the loop).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import cast

import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from randconv_jax import _validation

TapOffsets = Callable[[jax.Array], jax.Array]
"""``tap_offsets(t) -> (V, d)`` float32 offsets of tap ``t`` (a traced int32) for the ``V`` positions."""


def _zeros_on_mesh_of(x: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """float32 zeros of ``shape`` on the mesh of ``x`` (replicated). A loop carry created without
    the mesh cannot take the batch sharding that ``vmap`` gives it on a batch sharded over a mesh
    with Explicit axes (JAX: "Resource axis ... is not found in mesh: ()")."""
    zeros = jnp.zeros(shape, jnp.float32)
    mesh = getattr(jax.typeof(x).sharding, "mesh", None)
    if mesh is None or mesh.empty:
        return zeros
    out: jax.Array = jax.sharding.reshard(zeros, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec()))
    return out


def deform_conv_flat(
    x: jax.Array,
    spatial: tuple[int, ...],
    kernel: jax.Array,
    tap_offsets: TapOffsets,
    bias: jax.Array | None = None,
) -> jax.Array:
    """Internal: deformable conv of a flat channels-last ``x (V, C_in)``; returns ``(V, C_out)`` float32.

    ``kernel``: ``(*k, C_in, C_out)``; ``tap_offsets(t)``: ``(V, d)`` offsets of tap ``t``.
    """
    d = len(spatial)
    ks = kernel.shape[:d]
    c_in, c_out = kernel.shape[-2:]
    n_taps = math.prod(ks)
    weights = kernel.reshape(n_taps, c_in, c_out)
    # A zero ring of width 1: corner indices are clipped into [0, S + 1], so any corner
    # outside the image lands on the ring and reads 0 (bilinear zero padding, exactly).
    padded = jnp.pad(x.reshape(spatial + (c_in,)), [(1, 1)] * d + [(0, 0)])
    rows = padded.reshape(-1, c_in)
    padded_shape = tuple(s + 2 for s in spatial)
    strides = [math.prod(padded_shape[a + 1 :]) for a in range(d)]
    grid = jnp.stack(
        [g.reshape(-1) for g in jnp.meshgrid(*(jnp.arange(s, dtype=jnp.float32) for s in spatial), indexing="ij")],
        axis=-1,
    )  # (V, d) position of every output voxel
    tap_table = jnp.asarray(list(itertools.product(*(range(k) for k in ks))), jnp.float32) - jnp.asarray(
        [k // 2 for k in ks], jnp.float32
    )  # (n_taps, d) integer displacement of each tap
    upper = jnp.asarray([s + 1 for s in spatial], jnp.float32)

    def body(t: jax.Array, acc: jax.Array) -> jax.Array:
        pos = grid + tap_table[t] + tap_offsets(t).astype(jnp.float32) + 1.0  # in padded coordinates
        floor = jnp.floor(pos)
        frac = pos - floor
        lo = jnp.clip(floor, 0.0, upper).astype(jnp.int32)
        hi = jnp.clip(floor + 1.0, 0.0, upper).astype(jnp.int32)
        terms = []
        for corner in itertools.product((0, 1), repeat=d):
            index = sum((hi if c else lo)[:, a] * strides[a] for a, c in enumerate(corner))
            weight = cast(jax.Array, math.prod((frac[:, a] if c else 1.0 - frac[:, a]) for a, c in enumerate(corner)))
            value = rows.at[index].get(mode="promise_in_bounds")
            terms.append(value * weight[:, None])
        sampled = terms[0]
        for term in terms[1:]:
            sampled = sampled + term
        return acc + sampled @ weights[t]

    out: jax.Array = lax.fori_loop(0, n_taps, body, _zeros_on_mesh_of(x, (x.shape[0], c_out)))
    if bias is not None:
        out = out + bias
    return out


def deform_conv(
    image: ArrayLike,
    kernel: ArrayLike,
    offsets: ArrayLike,
    *,
    bias: ArrayLike | None = None,
) -> jax.Array:
    """Deformable cross-correlation of one channels-last image (bilinear 2D / trilinear 3D sampling).

    ``out[p, o] = sum_t sum_i kernel[t, i, o] * interp(image[..., i], p + (t - k // 2) + offsets[p, t])
    (+ bias[o])``, zero outside the image (a corner outside contributes 0), stride 1,
    output the input's spatial size. With zero offsets it is :func:`randconv_jax.convolve`
    (zero 'SAME' padding); with integer offsets it reads shifted pixels exactly. Offsets are
    per position and per tap, as in torchvision's ``deform_conv2d`` (Dai et al., ICCV 2017),
    but channels last and with the tap as its own axis.

    Args:
      image: ``(H, W, C_in)`` or ``(D, H, W, C_in)`` float array.
      kernel: ``(*k, C_in, C_out)`` (HWIO / DHWIO), odd sizes.
      offsets: ``(*spatial, k^d, d)`` float offsets in pixels (voxels): ``offsets[p, t, a]`` moves
        tap ``t`` (row-major over the kernel grid) of output position ``p`` along spatial axis ``a``.
      bias: optional ``(C_out,)``.

    Returns:
      ``(*spatial, C_out)`` array in the image's dtype (computed in float32).
    """
    image = _validation.check_image(image)
    kernel = jnp.asarray(kernel)
    offsets = jnp.asarray(offsets)
    spatial, d = image.shape[:-1], image.ndim - 1
    if kernel.ndim != d + 2 or kernel.shape[-2] != image.shape[-1] or any(k % 2 == 0 for k in kernel.shape[:d]):
        raise ValueError(
            f"kernel must have shape (*k, C_in, C_out) with {d} odd spatial sizes and C_in = {image.shape[-1]}, "
            f"got shape {kernel.shape}"
        )
    n_taps = math.prod(kernel.shape[:d])
    if offsets.shape != spatial + (n_taps, d):
        raise ValueError(f"offsets must have shape (*spatial, k^d, d) = {spatial + (n_taps, d)}, got {offsets.shape}")
    flat_offsets = offsets.reshape(-1, n_taps, d).astype(jnp.float32)
    x = image.astype(jnp.float32).reshape(-1, image.shape[-1])
    b = None if bias is None else jnp.asarray(bias, jnp.float32)
    out = deform_conv_flat(
        x, spatial, kernel.astype(jnp.float32), lambda t: lax.dynamic_index_in_dim(flat_offsets, t, 1, False), b
    )
    return out.reshape(spatial + (kernel.shape[-1],)).astype(image.dtype)
