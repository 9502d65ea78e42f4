"""Figures written to the work dir: training curves and example predictions (matplotlib, Agg)."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from train._io import atomic_save
from train.report.writers import read_metrics

CURVES = {
    "loss": "training loss (CE + 1 - soft Dice)",
    "dice": "soft Dice on training batches\n(augmented patches, not evaluation)",
    "ce": "cross-entropy on training batches",
    "consistency": "consistency term (copies of a batch)",
    "val_dice": "source-validation Dice (held-out subjects,\nno augmentation; picks the best checkpoint)",
    "learning_rate": "learning rate",
}
"""The panels of :func:`plot_training_curves`: ``metrics.jsonl`` key -> what the panel shows."""


def new_figure(*, figsize):
    """A matplotlib ``Figure`` not attached to pyplot, so the session's backend is never changed
    (calling ``matplotlib.use`` would turn off inline plots in notebooks)."""
    from matplotlib.figure import Figure

    return Figure(figsize=figsize)


def layout_under_title(fig) -> None:
    """``tight_layout`` that keeps 0.4 in at the top for the figure's ``suptitle`` (plain
    ``tight_layout`` lets the panels' titles run into it)."""
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / fig.get_figheight()))


def _save(fig, path: Path) -> None:
    atomic_save(path, lambda tmp: fig.savefig(tmp, dpi=90))


def plot_training_curves(metrics_jsonl: str | os.PathLike, out: str | os.PathLike, *, run: str) -> Path:
    """Writes :func:`training_curves_figure` of ``metrics_jsonl`` to ``out`` (PNG)."""
    out = Path(out)
    _save(training_curves_figure(read_metrics(metrics_jsonl), run=run), out)
    return out


def training_curves_figure(rows: Sequence[Mapping[str, Any]], *, run: str):
    """The training scalars of :data:`CURVES` against the step, one labelled panel each, under a title
    naming ``run``. Values are the means over each logging interval of the training batches (after
    augmentation): they show the optimization, not the evaluation (``summary.json``); with
    validation, ``val_dice`` is the score on the source-validation subjects at each scoring step."""
    names = [n for n in CURVES if any(n in r for r in rows)]
    fig = new_figure(figsize=(3.4 * max(len(names), 1), 3.2))
    axes = fig.subplots(1, max(len(names), 1), squeeze=False)
    for ax, name in zip(axes[0], names, strict=False):
        pts = [(r["step"], r[name]) for r in rows if r.get(name) is not None]
        if pts:
            ax.plot(*zip(*pts, strict=True))
        ax.set_title(CURVES[name], fontsize=8)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.suptitle(f"{run}: training curves (means over each logging interval)", fontsize=9)
    layout_under_title(fig)
    return fig


def _middle_slice(a: np.ndarray, spatial_rank: int, weights: np.ndarray | None) -> np.ndarray:
    if spatial_rank == 2:
        return a
    if weights is not None and weights.any():
        z = int(np.argmax(weights.reshape(weights.shape[0], -1).sum(axis=1)))
    else:
        z = a.shape[0] // 2
    return a[z]


def plot_predictions(examples: Mapping[str, tuple], out: str | os.PathLike, *, run: str) -> Path:
    """Writes :func:`predictions_figure` to ``out`` (PNG)."""
    out = Path(out)
    _save(predictions_figure(examples, run=run), out)
    return out


def predictions_figure(examples: Mapping[str, tuple], *, run: str):
    """One row per domain: each image channel, then the reference and predicted lesion outlines,
    under a title naming ``run``.

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
                ax.set_title(f"{domain}: {case.name}\n{case.channel_names[c]}" if c == 0 else case.channel_names[c],
                             fontsize=7)
            ax.axis("off")
        ax = row[n_ch]
        ax.imshow(image[..., 0], cmap="gray")
        if sl(target).any():
            ax.contour(sl(target), levels=[0.5], colors="lime", linewidths=0.8)
        if sl(pred).any():
            ax.contour(sl(pred), levels=[0.5], colors="red", linewidths=0.8)
        ax.set_title("lesions: reference (green),\nprediction (red)", fontsize=7)
        ax.axis("off")
    fig.suptitle(f"{run}: one evaluation case per domain", fontsize=9)
    layout_under_title(fig)
    return fig
