"""Figures written to the work dir: training curves and example predictions (matplotlib, Agg)."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from train._io import atomic_save
from train.report.writers import read_metrics

_CURVES = ("loss", "dice", "ce", "learning_rate")


def new_figure(*, figsize):
    """A matplotlib ``Figure`` not attached to pyplot, so the session's backend is never changed
    (calling ``matplotlib.use`` would turn off inline plots in notebooks)."""
    from matplotlib.figure import Figure

    return Figure(figsize=figsize)


def _save(fig, path: Path) -> None:
    atomic_save(path, lambda tmp: fig.savefig(tmp, dpi=90))


def plot_training_curves(metrics_jsonl: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Loss, soft Dice, cross-entropy and learning rate against the step, one panel each."""
    rows = read_metrics(metrics_jsonl)
    names = [n for n in _CURVES if any(n in r for r in rows)]
    fig = new_figure(figsize=(3.2 * max(len(names), 1), 2.8))
    axes = fig.subplots(1, max(len(names), 1), squeeze=False)
    for ax, name in zip(axes[0], names, strict=False):
        pts = [(r["step"], r[name]) for r in rows if r.get(name) is not None]
        if pts:
            ax.plot(*zip(*pts, strict=True))
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    out = Path(out)
    _save(fig, out)
    return out


def _middle_slice(a: np.ndarray, spatial_rank: int, weights: np.ndarray | None) -> np.ndarray:
    if spatial_rank == 2:
        return a
    if weights is not None and weights.any():
        z = int(np.argmax(weights.reshape(weights.shape[0], -1).sum(axis=1)))
    else:
        z = a.shape[0] // 2
    return a[z]


def plot_predictions(examples: Mapping[str, tuple], out: str | os.PathLike) -> Path:
    """One row per domain: each image channel, then the reference and predicted lesion outlines.

    ``examples``: ``{domain: (raw Case, predicted lesion mask on the raw grid)}``; 3D cases show
    the axial slice with the most reference lesion.
    """
    n = max(len(examples), 1)
    n_ch = max((case.image.shape[-1] for case, _ in examples.values()), default=1)
    fig = new_figure(figsize=(2.4 * (n_ch + 1), 2.4 * n))
    axes = fig.subplots(n, n_ch + 1, squeeze=False)
    for row, (domain, (case, pred)) in zip(axes, examples.items(), strict=False):
        rank = case.image.ndim - 1
        target = case.label == 1
        sl = functools.partial(_middle_slice, spatial_rank=rank, weights=target)
        image = sl(case.image)
        for c in range(n_ch):
            ax = row[c]
            if c < image.shape[-1]:
                ax.imshow(image[..., c], cmap="gray")
                ax.set_title(f"{domain}\n{case.channel_names[c]}" if c == 0 else case.channel_names[c], fontsize=7)
            ax.axis("off")
        ax = row[n_ch]
        ax.imshow(image[..., 0], cmap="gray")
        if sl(target).any():
            ax.contour(sl(target), levels=[0.5], colors="lime", linewidths=0.8)
        if sl(pred).any():
            ax.contour(sl(pred), levels=[0.5], colors="red", linewidths=0.8)
        ax.set_title("reference (green) / prediction (red)", fontsize=7)
        ax.axis("off")
    fig.tight_layout()
    out = Path(out)
    _save(fig, out)
    return out
