"""PyTorch re-implementations of the reference operations that ``bench_rc.py`` times.

Each class is a callable ``op(x) -> output`` that, like the reference code, draws new
random weights on every call ("randomize + forward"). Inputs are channels-first float32
tensors: ``(N, C, H, W)`` or ``(N, C, D, H, W)``. Weights are plain tensors: no autograd
graph is built (with or without it the forward pass takes the same time).

* :class:`RandConv2d`: the operation of the official RandConv module (Xu et al., ICLR 2021):
  per call pick ``k`` uniformly from the list, draw ``(C, C, k, k)`` weights with
  ``kaiming_normal_(nonlinearity='conv2d')`` and run ``F.conv2d`` with padding ``k // 2``;
  the ``"img"`` variant returns the input unchanged with probability 0.5, the ``"mix"``
  variant returns ``alpha * out + (1 - alpha) * x`` with ``alpha ~ U(0, 1)``.
* :class:`StackedConv3d`: ``layers`` linear 3^3 convolutions ``C -> C``, one weight per batch.
* :class:`NnUNetRC`: the MS group's nnU-Net ``RandomConvolutionTransform`` (master), per sample.
* :class:`GIN`: the official GIN-IPA ``GINGroupConv`` operation (grouped conv per sample).
* :class:`ProRandConv`: a Pro-RandConv block with ``grid_sample`` deformable sampling.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

RANDCONV_VARIANTS = ("plain", "img", "mix")


def _kaiming(shape: tuple[int, ...], **kwargs) -> torch.Tensor:
    weight = torch.empty(shape)
    nn.init.kaiming_normal_(weight, **kwargs)
    return weight


class RandConv2d:
    """One random ``C -> C`` 2D convolution per call, shared by the batch."""

    def __init__(
        self,
        kernel_sizes: Sequence[int],
        *,
        channels: int = 3,
        variant: str = "plain",
        identity_prob: float = 0.5,
        seed: int = 0,
    ):
        if variant not in RANDCONV_VARIANTS:
            raise ValueError(f"variant must be one of {RANDCONV_VARIANTS}, got {variant!r}")
        self.kernel_sizes = tuple(kernel_sizes)
        self.channels = channels
        self.variant = variant
        self.identity_prob = identity_prob
        self.rng = random.Random(seed)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.variant == "img" and self.rng.random() < self.identity_prob:
            return x
        k = self.rng.choice(self.kernel_sizes)
        weight = _kaiming((self.channels, self.channels, k, k), nonlinearity="conv2d")
        out = F.conv2d(x, weight, padding=k // 2)
        if self.variant == "mix":
            alpha = self.rng.random()
            out = alpha * out + (1.0 - alpha) * x
        return out


class StackedConv3d:
    """``layers`` linear 3^3 convolutions ``C -> C`` with new weights per call, shared by the batch."""

    def __init__(self, *, channels: int = 2, layers: int = 1, kernel_size: int = 3):
        self.channels = channels
        self.layers = layers
        self.kernel_size = kernel_size

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        c, k = self.channels, self.kernel_size
        for _ in range(self.layers):
            weight = _kaiming((c, c, k, k, k), nonlinearity="conv3d")
            x = F.conv3d(x, weight, padding=k // 2)
        return x


class NnUNetRC:
    """The fork's transform (master ``77dedc7``), per sample: grouped 3^3 conv ``C -> 4``, grouped 1^3 back.

    As ``RandomConvolutionTransform``: the conv layers (with PyTorch's default biases, made once
    and never re-drawn) are built on the first call, weights are re-drawn with
    ``kaiming_normal_`` on every call, and one mean and one (Bessel) std over all modalities
    are stored before and restored after a joint z-score. Samples are transformed one by one,
    as a data loader does; the outputs come back as a list (no stacking copy).
    """

    def __init__(self, *, hidden_channels: int = 4, kernel_size: int = 3):
        self.hidden = hidden_channels
        self.kernel_size = kernel_size
        self.layers = None

    def _build(self, c: int) -> None:
        k = self.kernel_size
        self.layers = (
            nn.Conv3d(c, self.hidden, k, padding="same", groups=c).requires_grad_(False),
            nn.Conv3d(self.hidden, c, 1, groups=c).requires_grad_(False),
        )

    def transform(self, sample: torch.Tensor) -> torch.Tensor:
        """``sample (C, D, H, W)`` -> same shape."""
        if self.layers is None:
            self._build(sample.shape[0])
        for layer in self.layers:
            nn.init.kaiming_normal_(layer.weight)  # defaults: leaky_relu, a=0 -> gain sqrt(2)
        x = sample[None]
        dims = tuple(range(1, x.ndim))
        mean = x.mean(dim=dims, keepdim=True)
        std = x.std(dim=dims, keepdim=True) + 1e-5
        for layer in self.layers:
            x = layer(x)
        x = (x - x.mean(dim=dims, keepdim=True)) / (x.std(dim=dims, keepdim=True) + 1e-5)
        return (x * std + mean)[0]

    def __call__(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [self.transform(sample) for sample in x]


class GIN:
    """The operation of the official GIN (``GINGroupConv``, Ouyang et al., IEEE TMI 2022), 2D or 3D.

    Written from the official ``models/imagefilter.py`` / ``imagefilter3d.py``: per layer a kernel
    size from ``[1, 3]`` shared by the batch, per-sample weights ``(out * N, in, k, ...)`` and
    shifts ~ N(0, 1) run as one grouped convolution (``groups=N``), LeakyReLU(0.01) except after
    the last layer; ``alpha ~ U(0, 1)`` per sample; Frobenius rescale to the input's norm.
    """

    def __init__(self, *, channels: int, hidden: int = 2, n_layers: int = 4, kernel_sizes=(1, 3), seed: int = 0):
        self.widths = [channels] + [hidden] * (n_layers - 1) + [channels]
        self.kernel_sizes = tuple(kernel_sizes)
        self.rng = random.Random(seed)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        n, c, *spatial = x.shape
        d = len(spatial)
        conv = F.conv2d if d == 2 else F.conv3d
        h = x
        for layer, (c_in, c_out) in enumerate(zip(self.widths[:-1], self.widths[1:], strict=True)):
            k = self.rng.choice(self.kernel_sizes)
            weight = torch.randn((c_out * n, c_in) + (k,) * d)
            shift = torch.randn((c_out * n,) + (1,) * d)
            h = conv(h.reshape((1, n * c_in, *spatial)), weight, padding=k // 2, groups=n) + shift
            if layer < len(self.widths) - 2:
                h = F.leaky_relu(h)
            h = h.reshape((n, c_out, *spatial))
        alpha = torch.rand((n,) + (1,) * (d + 1))
        mixed = alpha * h + (1.0 - alpha) * x
        norm_in = torch.linalg.vector_norm(x.reshape(n, -1), dim=1).reshape((n,) + (1,) * (d + 1))
        norm_mixed = torch.linalg.vector_norm(mixed.reshape(n, -1), dim=1).reshape((n,) + (1,) * (d + 1))
        return mixed * (norm_in / (norm_mixed + 1e-5))


class ProRandConv:
    """A PyTorch Pro-RandConv block (Choi et al., CVPR 2023; no official code), 2D or 3D, per batch.

    Same operation as ``randconv_jax.presets.for_batches("pro_randconv")``: 3^d kernel
    ~ N(0, 1/(C 3^d)) times a Gaussian window, offsets ~ N(0, sigma_delta^2) per sample, position
    and tap, deformable conv by bilinear / trilinear ``grid_sample`` (zero padding) tap by tap,
    standardize, affine, tanh, repeated L ~ U{1..10} times. ``repeats`` fixes L (for timing a known depth).
    """

    def __init__(self, *, channels: int, max_repeats: int = 10, offset_bound: float = 0.5, repeats=None, seed=0):
        self.channels = channels
        self.max_repeats = max_repeats
        self.offset_bound = offset_bound
        self.repeats = repeats
        self.rng = random.Random(seed)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        n, c, *spatial = x.shape
        d = len(spatial)
        taps = list(itertools.product(range(3), repeat=d))
        sigma_g = self.rng.uniform(0.01, 1.0)
        sigma_delta = self.rng.uniform(0.01, self.offset_bound)
        weight = torch.randn((len(taps), c, c)) / math.sqrt(c * 3**d)
        window = torch.tensor([math.exp(-sum((t - 1) ** 2 for t in tap) / (2 * sigma_g**2)) for tap in taps])
        weight = weight * window[:, None, None]
        gamma, beta = torch.randn(c) * 0.5, torch.randn(c) * 0.5
        offsets = torch.randn((len(taps), n, *spatial, d)) * sigma_delta
        repeats = self.repeats or self.rng.randint(1, self.max_repeats)
        axes = torch.meshgrid(*(torch.arange(s, dtype=torch.float32) for s in spatial), indexing="ij")
        base = torch.stack(axes[::-1], dim=-1)  # grid_sample wants (x, y[, z]) = reversed axes
        size = torch.tensor(spatial[::-1], dtype=torch.float32)
        y = x
        for _ in range(repeats):
            out = torch.zeros_like(y)
            for t, tap in enumerate(taps):
                shift = torch.tensor([o - 1 for o in tap][::-1], dtype=torch.float32)
                pos = base + shift + offsets[t].flip(-1)
                grid = 2.0 * pos / (size - 1) - 1.0  # align_corners=True
                sampled = F.grid_sample(y, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
                out = out + torch.einsum("nc...,co->no...", sampled, weight[t])
            dims = tuple(range(2, 2 + d))
            z = (out - out.mean(dim=dims, keepdim=True)) / (out.std(dim=dims, keepdim=True, unbiased=False) + 1e-5)
            y = torch.tanh(gamma.reshape((1, c) + (1,) * d) * z + beta.reshape((1, c) + (1,) * d))
        return y
