"""The project's U-Net train step in PyTorch, for ``bench_train.py``'s side-by-side rows.

Same architecture as :class:`train.models.UNet` (nnU-Net's ``PlainConvUNet`` style): per
resolution stage two ``conv 3^d -> InstanceNorm(affine) -> LeakyReLU(0.01)`` blocks, the first
of every stage but the finest with stride 2, ``2^d`` stride-2 transposed convolutions up,
skip concatenation, a ``1^d`` head; convolutions followed by a norm have no bias. Same loss
(cross-entropy + 1 - soft Dice without the background class, per-sample, smooth 1e-5, as
``train.losses.dice_ce_loss``) and optimizer (global-norm clip at 12, AdamW). Channels-first
tensors ``(N, C, *spatial)``, as PyTorch's convolutions want.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

DICE_SMOOTH = 1e-5


def _block(c_in: int, c_out: int, d: int, stride: int) -> nn.Sequential:
    conv = (nn.Conv2d if d == 2 else nn.Conv3d)(c_in, c_out, 3, stride=stride, padding=1, bias=False)
    norm = (nn.InstanceNorm2d if d == 2 else nn.InstanceNorm3d)(c_out, eps=1e-5, affine=True)
    return nn.Sequential(conv, norm, nn.LeakyReLU(0.01))


class TorchUNet(nn.Module):
    """``(N, C, *spatial)`` -> ``(N, K, *spatial)`` logits."""

    def __init__(self, *, in_channels: int, num_classes: int, features: Sequence[int], spatial_dims: int):
        super().__init__()
        d = spatial_dims
        self.encoder = nn.ModuleList()
        previous = in_channels
        for i, f in enumerate(features):
            self.encoder.append(nn.Sequential(_block(previous, f, d, 2 if i else 1), _block(f, f, d, 1)))
            previous = f
        up = nn.ConvTranspose2d if d == 2 else nn.ConvTranspose3d
        self.ups, self.decoder = nn.ModuleList(), nn.ModuleList()
        for f in reversed(features[:-1]):
            self.ups.append(up(previous, f, 2, stride=2))
            self.decoder.append(nn.Sequential(_block(2 * f, f, d, 1), _block(f, f, d, 1)))
            previous = f
        self.head = (nn.Conv2d if d == 2 else nn.Conv3d)(previous, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for stage in self.encoder:
            x = stage(x)
            skips.append(x)
        for up, stage, skip in zip(self.ups, self.decoder, reversed(skips[:-1]), strict=True):
            x = stage(torch.cat([up(x), skip], dim=1))
        return self.head(x)


def dice_ce_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``mean_n(CE_n + 1 - Dice_n)``; logits ``(N, K, *spatial)``, labels ``(N, *spatial)`` int64."""
    ce = F.cross_entropy(logits, labels, reduction="none").flatten(1).mean(1)
    probs = logits.softmax(1)
    onehot = F.one_hot(labels, logits.shape[1]).movedim(-1, 1).to(probs.dtype)
    axes = tuple(range(2, logits.ndim))
    tp = (probs * onehot).sum(axes)
    fp = (probs * (1 - onehot)).sum(axes)
    fn = ((1 - probs) * onehot).sum(axes)
    dice = ((2 * tp + DICE_SMOOTH) / (2 * tp + fp + fn + DICE_SMOOTH).clamp_min(1e-8))[:, 1:].mean(1)
    return (ce + 1 - dice).mean()


class TorchTrainStep:
    """``step(x, labels)``: forward, loss, backward, clip, AdamW; ``augment`` (optional) runs first."""

    def __init__(self, net: nn.Module, *, learning_rate: float = 1e-3, weight_decay: float = 1e-4,
                 clip: float = 12.0, augment=None):
        self.net = net
        self.opt = torch.optim.AdamW(net.parameters(), lr=learning_rate, weight_decay=weight_decay)
        self.clip = clip
        self.augment = augment

    def _inputs(self, x: torch.Tensor) -> torch.Tensor:
        if self.augment is None:
            return x
        with torch.no_grad():
            out = self.augment(x)
        return torch.stack(out) if isinstance(out, list) else out

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The forward pass and loss, with autograd recording (the first part of a step)."""
        return dice_ce_loss(self.net(self._inputs(x)), labels)

    def forward_backward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        self.opt.zero_grad(set_to_none=True)
        loss = self.forward(x, labels)
        loss.backward()
        return loss

    def __call__(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        loss = self.forward_backward(x, labels)
        nn.utils.clip_grad_norm_(self.net.parameters(), self.clip)
        self.opt.step()
        return loss
