"""The study's figures: the L x k sweep heatmaps, the augmentation gallery, example predictions."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np

from train._io import atomic_save
from train.augment import make_augment, nnunet_intensity
from train.data.phantom import SCANNERS
from train.evaluate import load_model, predict_case
from train.report.plots import layout_under_title, new_figure
from train.rng import Stream, stream_key
from train.step import make_predict_fn
from train.study.scores import sweep_grids

__all__ = [
    "gallery_figure",
    "plot_gallery",
    "plot_predictions",
    "plot_sweep",
    "predictions_figure",
    "sweep_figure",
]


def sweep_figure(sweep, source, *, study: str):
    """Heatmaps over depth L x kernel size k of the seed RC: unseen-scanner Dice, validation Dice, and the
    two training-free diagnostics, under a title naming the study."""
    depths, ks, g = sweep_grids(sweep, source)
    panels = [("ood", "OOD Dice (mean over unseen scanners)"), ("val", "source validation Dice"),
              ("structure", "structure kept S"), ("variety", "appearance varied V")]
    fig = new_figure(figsize=(15, 3.4))
    axes = fig.subplots(1, 4)
    for ax, (key, title) in zip(axes, panels, strict=True):
        im = ax.imshow(g[key], cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(ks)), [str(k) for k in ks])
        ax.set_yticks(range(len(depths)), [str(d) for d in depths])
        ax.set_xlabel("kernel size k")
        ax.set_ylabel("depth L")
        ax.set_title(title, fontsize=9)
        for i in range(len(depths)):
            for j in range(len(ks)):
                ax.text(j, i, f"{g[key][i, j]:.2f}", ha="center", va="center", color="w", fontsize=7)
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.suptitle(f"study {study}: seed RC sweep over depth L x kernel size k (means over sweep seeds)", fontsize=10)
    layout_under_title(fig)
    return fig


def gallery_figure(config, case, *, study: str, draws: int = 4):
    """One row per augmenting method: a source-validation slice (FLAIR) and ``draws`` augmentations of it."""
    methods = [(n, m) for n, m in config.study.methods.items() if m["preset"] != "none" or m["intensity"]]
    fig = new_figure(figsize=(1.8 * (draws + 1), 1.8 * len(methods)))
    axes = fig.subplots(len(methods), draws + 1, squeeze=False)
    image, mask = case.image, case.mask
    gallery_key = stream_key(int(config.seed), Stream.GALLERY)
    for row, (name, m) in zip(axes, methods, strict=True):
        if m["preset"] == "none":
            fn = lambda k, x, mask: nnunet_intensity(k, x, mask)  # noqa: E731
        else:
            fn = make_augment(m["preset"], **dict(m["overrides"])).one
        row[0].imshow(image[..., 0], cmap="gray")
        row[0].set_ylabel(name, fontsize=7)
        for j in range(draws):
            out = np.asarray(fn(jax.random.fold_in(gallery_key, j), image, mask=mask))
            row[j + 1].imshow(out[..., 0], cmap="gray")
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0][0].set_title("input (FLAIR)", fontsize=7)
    for j in range(draws):
        axes[0][j + 1].set_title(f"draw {j + 1}", fontsize=7)
    fig.suptitle(f"study {study}: augmentation gallery (FLAIR channel of one source-validation slice)", fontsize=9)
    layout_under_title(fig)
    return fig


def predictions_figure(config, workdir: Path, seed: int, best: str, domains, *, study: str):
    """One row per test scanner: FLAIR, the reference lesions and the predictions of the baseline and of
    ``best`` (seed ``seed``) on the test case with the largest lesion load."""
    shown = [n for n in ("baseline", best) if (workdir / "runs" / n / f"seed{seed}").exists()]
    models = {}
    for n in shown:
        model = load_model(workdir / "runs" / n / f"seed{seed}")
        models[n] = (jax.jit(make_predict_fn(model.graphdef)), model.params, model.config)
    test = [d for d in domains if d in SCANNERS]
    fig = new_figure(figsize=(2.2 * (2 + len(shown)), 2.2 * len(test)))
    axes = fig.subplots(len(test), 2 + len(shown), squeeze=False)
    for row, domain in zip(axes, test, strict=True):
        raw, pre = max(domains[domain], key=lambda p: int(p[0].label.sum()))
        row[0].imshow(pre.image[..., 0], cmap="gray")
        row[0].set_ylabel(domain, fontsize=7)
        row[1].imshow(pre.image[..., 0], cmap="gray")
        row[1].contour(pre.label == 1, levels=[0.5], colors="lime", linewidths=0.7)
        for j, n in enumerate(shown):
            predict, params, cfg = models[n]
            mask = predict_case(predict, params, pre, cfg)
            ax = row[2 + j]
            ax.imshow(pre.image[..., 0], cmap="gray")
            if mask.any():
                ax.contour(mask, levels=[0.5], colors="red", linewidths=0.7)
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
    titles = ["FLAIR", "reference"] + [f"{n} (seed {seed})" for n in shown]
    for ax, t in zip(axes[0], titles, strict=True):
        ax.set_title(t, fontsize=7)
    fig.suptitle(f"study {study}: test predictions, seed {seed} (reference green, prediction red)", fontsize=9)
    layout_under_title(fig)
    return fig


def plot_sweep(sweep, source, path: Path, *, study: str) -> Path:
    """Writes :func:`sweep_figure` to ``path`` (PNG)."""
    fig = sweep_figure(sweep, source, study=study)
    return atomic_save(path, lambda tmp: fig.savefig(tmp, dpi=90))


def plot_gallery(config, case, path: Path, *, study: str, draws: int = 4) -> Path:
    """Writes :func:`gallery_figure` to ``path`` (PNG)."""
    fig = gallery_figure(config, case, study=study, draws=draws)
    return atomic_save(path, lambda tmp: fig.savefig(tmp, dpi=60))


def plot_predictions(config, workdir: Path, seed: int, best: str, domains, path: Path, *, study: str) -> Path:
    """Writes :func:`predictions_figure` to ``path`` (PNG)."""
    fig = predictions_figure(config, workdir, seed, best, domains, study=study)
    return atomic_save(path, lambda tmp: fig.savefig(tmp, dpi=90))
