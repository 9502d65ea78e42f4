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
* :class:`NnUNetRC`: the MS group's nnU-Net ``RandomConvolutionTransform``, per sample.
"""

from __future__ import annotations

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
    """Per sample: grouped 3^3 conv ``C -> hidden*C``, grouped 1^3 conv back, z-score, restore mean and std.

    Samples are transformed one by one, as a data loader does; the outputs come back
    as a list (no stacking copy).
    """

    def __init__(self, *, hidden_per_channel: int = 2, kernel_size: int = 3, eps: float = 1e-8):
        self.hidden = hidden_per_channel
        self.kernel_size = kernel_size
        self.eps = eps

    def transform(self, sample: torch.Tensor) -> torch.Tensor:
        """``sample (C, D, H, W)`` -> same shape."""
        c, k = sample.shape[0], self.kernel_size
        dims = tuple(range(1, sample.ndim))
        mean = sample.mean(dim=dims, keepdim=True)
        std = sample.std(dim=dims, keepdim=True)
        w1 = _kaiming((self.hidden * c, 1, k, k, k))  # defaults: leaky_relu, a=0 -> gain sqrt(2)
        w2 = _kaiming((c, self.hidden, 1, 1, 1))
        h = F.conv3d(sample[None], w1, padding=k // 2, groups=c)
        h = F.conv3d(h, w2, groups=c)[0]
        h = (h - h.mean(dim=dims, keepdim=True)) / (h.std(dim=dims, keepdim=True) + self.eps)
        return h * std + mean

    def __call__(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [self.transform(sample) for sample in x]
