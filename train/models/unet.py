"""A U-Net for 2D and 3D segmentation from one definition (Flax NNX), nnU-Net style.

Each resolution stage is two ``conv 3^d -> norm -> LeakyReLU(0.01)`` blocks, as in nnU-Net's
``PlainConvUNet`` (Isensee et al., Nature Methods 2021); the encoder downsamples with a strided
``2^d`` convolution (nnU-Net) rather than max pooling, the decoder upsamples with a ``2^d``
transposed convolution and concatenates the skip connection. Instance normalization is the
default (nnU-Net); group normalization and no normalization are options. Batch normalization is
deliberately not offered: its running statistics would add mutable state to the functional train
step and make data-parallel results depend on the device count.

Layout is channels-last, as everywhere in this project: ``(N, H, W, C)`` or ``(N, D, H, W, C)``.
Spatial sizes must be divisible by ``2 ** (len(features) - 1)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from train.models.conv import CONV_IMPLS
from train.models.layers import Conv, ConvTranspose

NORMS = ("instance", "group", "none")
"""Normalization layers :class:`UNet` accepts."""

_LEAKY_SLOPE = 0.01  # nnU-Net's LeakyReLU negative slope


class _Identity(nnx.Module):
    def __call__(self, x: jax.Array) -> jax.Array:
        return x


def _norm(kind: str, features: int, rngs: nnx.Rngs) -> nnx.Module:
    if kind == "instance":
        return nnx.InstanceNorm(features, epsilon=1e-5, rngs=rngs)
    if kind == "group":
        return nnx.GroupNorm(features, num_groups=min(8, features), epsilon=1e-5, rngs=rngs)
    return _Identity()


class ConvNormAct(nnx.Module):
    """``conv k^d (stride s) -> norm -> LeakyReLU(0.01)``."""

    def __init__(self, in_features: int, out_features: int, *, spatial_dims: int, norm: str, stride: int = 1,
                 conv_impl: str = "auto", rngs: nnx.Rngs):
        self.conv = Conv(in_features, out_features, (3,) * spatial_dims, stride=stride, use_bias=norm == "none",
                         impl=conv_impl, rngs=rngs)
        self.norm = _norm(norm, out_features, rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return jax.nn.leaky_relu(self.norm(self.conv(x)), _LEAKY_SLOPE)


class Stage(nnx.Module):
    """Two :class:`ConvNormAct` blocks; the first may downsample with stride 2."""

    def __init__(self, in_features: int, out_features: int, *, spatial_dims: int, norm: str, downsample: bool,
                 conv_impl: str = "auto", rngs: nnx.Rngs):
        self.first = ConvNormAct(in_features, out_features, spatial_dims=spatial_dims, norm=norm,
                                 stride=2 if downsample else 1, conv_impl=conv_impl, rngs=rngs)
        self.second = ConvNormAct(out_features, out_features, spatial_dims=spatial_dims, norm=norm,
                                  conv_impl=conv_impl, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.second(self.first(x))


class UNet(nnx.Module):
    """U-Net for 2D or 3D images, channels last.

    Args:
        in_channels: number of image channels ``C`` (e.g. 2 for FLAIR + T1w).
        num_classes: number of output classes ``K`` (background included; 2 for lesion vs rest).
        features: channel width of each resolution stage, finest first; ``len(features) - 1``
            downsamplings. nnU-Net starts at 32 and doubles (capped at 320 in 3D).
        spatial_dims: 2 or 3.
        norm: one of :data:`NORMS` (default ``"instance"``, as nnU-Net).
        conv_impl: how the convolutions are computed, one of
            :data:`~train.models.conv.CONV_IMPLS`: ``"auto"`` (default) takes the forms XLA:CPU
            differentiates fast on the CPU and ``lax`` convolutions (cuDNN) on GPU/TPU; the
            parameters are the same under every choice (:mod:`train.models.conv`).
        rngs: ``nnx.Rngs`` for the initial weights.

    Call: ``(N, *spatial, C)`` float -> ``(N, *spatial, K)`` float32 logits.
    """

    def __init__(self, *, in_channels: int, num_classes: int, features: Sequence[int] = (32, 64, 128, 256),
                 spatial_dims: int = 3, norm: str = "instance", conv_impl: str = "auto", rngs: nnx.Rngs):
        features = tuple(int(f) for f in features)
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims!r}")
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        if conv_impl not in CONV_IMPLS:
            raise ValueError(f"conv_impl must be one of {CONV_IMPLS}, got {conv_impl!r}")
        if len(features) < 1 or any(f < 1 for f in features):
            raise ValueError(f"features must be a non-empty sequence of positive ints, got {features!r}")
        if in_channels < 1 or num_classes < 1:
            raise ValueError(f"in_channels and num_classes must be >= 1, got {in_channels}, {num_classes}")
        self.spatial_dims = spatial_dims
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.features = features
        encoder = []
        previous = in_channels
        for i, f in enumerate(features):
            encoder.append(Stage(previous, f, spatial_dims=spatial_dims, norm=norm, downsample=i > 0,
                                 conv_impl=conv_impl, rngs=rngs))
            previous = f
        self.encoder = nnx.List(encoder)
        ups, decoder = [], []
        for f in reversed(features[:-1]):
            ups.append(ConvTranspose(previous, f, (2,) * spatial_dims, impl=conv_impl, rngs=rngs))
            decoder.append(Stage(2 * f, f, spatial_dims=spatial_dims, norm=norm, downsample=False,
                                 conv_impl=conv_impl, rngs=rngs))
            previous = f
        self.ups = nnx.List(ups)
        self.decoder = nnx.List(decoder)
        self.head = Conv(previous, num_classes, (1,) * spatial_dims, impl=conv_impl, rngs=rngs)

    @property
    def divisor(self) -> int:
        """Spatial sizes must be multiples of this."""
        return 2 ** (len(self.features) - 1)

    def __call__(self, x: jax.Array) -> jax.Array:
        if x.ndim != self.spatial_dims + 2 or x.shape[-1] != self.in_channels:
            raise ValueError(f"x must have shape (N, *spatial[{self.spatial_dims}], {self.in_channels}), "
                             f"got {x.shape}")
        bad = [s for s in x.shape[1:-1] if s % self.divisor]
        if bad:
            raise ValueError(f"x spatial shape {x.shape[1:-1]} must be divisible by {self.divisor} "
                             f"(2 ** number of downsamplings)")
        skips = []
        for stage in self.encoder:
            x = stage(x)
            skips.append(x)
        for up, stage, skip in zip(self.ups, self.decoder, reversed(skips[:-1]), strict=True):
            x = stage(jnp.concatenate([up(x), skip], axis=-1))
        return self.head(x).astype(jnp.float32)


def tiny_unet(*, in_channels: int = 2, num_classes: int = 2, spatial_dims: int = 2, seed: int = 0) -> UNet:
    """A two-level, 4/8-channel U-Net for tests (compiles in about a second on a CPU)."""
    return UNet(in_channels=in_channels, num_classes=num_classes, features=(4, 8), spatial_dims=spatial_dims,
                norm="instance", rngs=nnx.Rngs(seed))
