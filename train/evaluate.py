"""Evaluation: the one place that predicts cases with a trained model and scores them.

:func:`predict_case` (sliding windows over one preprocessed case) serves evaluation, the
prediction CLI and the study alike; :func:`evaluate` scores evaluation domains and writes
``summary.json`` and ``prediction.png``; :func:`load_model` rebuilds a trained model from its
checkpoint.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import ml_collections
import numpy as np
from flax import nnx

from train.build import make_model
from train.checkpoint import Checkpointer
from train.data.cases import Case
from train.data.preprocess import uncrop
from train.inference import sliding_window_inference
from train.optim import make_optimizer
from train.report import metrics as lesion_metrics
from train.report.plots import plot_predictions
from train.report.summaries import summarize, write_summary
from train.step import create_train_state, make_predict_fn

__all__ = ["LESION_CLASS", "TrainedModel", "evaluate", "load_model", "predict_case"]

log = logging.getLogger(__name__)

LESION_CLASS = 1


def checkpoint_dir(path: str | os.PathLike) -> Path:
    """The checkpoint folder of a training work dir, or ``path`` itself if it is one.

    Raises:
        FileNotFoundError: ``path`` is missing or holds no checkpoints.
        ValueError: ``path`` is a work dir of several runs (``config.variants``); the message
            lists them, to pass one.
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"--checkpoint {path}: folder not found")
    if (path / "checkpoints").is_dir():
        return path / "checkpoints"
    if any(p.is_dir() and p.name.isdigit() for p in path.iterdir()):
        return path  # a checkpoints/ folder itself
    runs = sorted(p.name for p in path.iterdir() if (p / "checkpoints").is_dir())
    if runs:
        listing = ", ".join(f"{r}/" for r in runs)
        raise ValueError(f"--checkpoint {path} holds {len(runs)} runs ({listing}); pass one of them, e.g. "
                         f"--checkpoint {path / runs[0]}")
    raise FileNotFoundError(f"--checkpoint {path}: no checkpoints/ folder in it (not a training work dir)")


@dataclasses.dataclass(frozen=True)
class TrainedModel:
    """A model restored from a checkpoint: what :func:`predict_case` needs, and where it came from."""

    graphdef: nnx.GraphDef
    params: Any
    config: ml_collections.ConfigDict
    channel_names: tuple[str, ...]
    """The image channels the model was trained on, in order."""
    step: int
    directory: Path
    skipped: tuple[tuple[int, str], ...] = ()
    """Newer checkpoints that did not restore: ``(step, error)``."""


def _restore_run(ckpt: Checkpointer, step: int) -> tuple[nnx.GraphDef, Any, dict]:
    run = ckpt.restore_config(step=step)
    if "config" not in run or "in_channels" not in run:
        raise ValueError(f"{ckpt.directory}: checkpoint {step} has no run config; was it written by train.loop?")
    config = ml_collections.ConfigDict(run["config"])
    tx, _ = make_optimizer(config.optim, int(config.num_steps))
    graphdef, abstract = nnx.eval_shape(lambda: create_train_state(make_model(config, int(run["in_channels"])), tx))
    state, _, _ = ckpt.restore(abstract, step=step)
    return graphdef, state.params, run


def load_model(checkpoint: str | os.PathLike, *, step: int | None = None) -> TrainedModel:
    """The model of a training work dir (or its ``checkpoints/`` folder), opened read-only.

    Args:
        checkpoint: the work dir or its checkpoint folder; it may be in use by a running training
            (a reader writes and deletes nothing, see :mod:`train.checkpoint`).
        step: the checkpoint step; default: the newest checkpoint that restores (newer ones that
            do not are reported in ``TrainedModel.skipped`` and logged).
    """
    directory = checkpoint_dir(checkpoint)
    with Checkpointer(directory, read_only=True) as ckpt:
        if step is None:
            step, (graphdef, params, run), skipped = ckpt.newest_restorable(lambda s: _restore_run(ckpt, s))
            for bad, error in skipped:
                log.warning("checkpoint step %d in %s could not be restored (%s); using step %d", bad, directory,
                            error, step)
        else:
            if int(step) not in ckpt.all_steps():
                raise FileNotFoundError(f"{directory}: no complete checkpoint of step {step} (have "
                                        f"{ckpt.all_steps()})")
            (graphdef, params, run), skipped = _restore_run(ckpt, int(step)), []
    return TrainedModel(graphdef, params, ml_collections.ConfigDict(run["config"]), tuple(run["channel_names"]),
                        int(step), directory, tuple(skipped))


def predict_case(predict, params, case: Case, config: ml_collections.ConfigDict) -> np.ndarray:
    """Lesion mask ``(*spatial,)`` bool of a preprocessed case, on its (cropped) grid.

    ``predict(params, windows)`` should be jitted (once, for all cases: a new ``jax.jit`` per case
    would recompile the network every time). A 2D model predicts a 3D volume slice by slice
    along axis 0. Windows of
    ``data.patch_size`` overlap by ``eval.overlap`` and are blended with a Gaussian
    (nnU-Net: 50 %, σ = patch/8); the class is the argmax of the blended logits.
    """
    patch = tuple(config.data.patch_size)
    ev = config.eval
    fn = functools.partial(predict, params)
    window = functools.partial(sliding_window_inference, fn, patch_size=patch, overlap=float(ev.overlap),
                               batch_size=int(ev.batch_size))
    image = case.image
    if image.ndim - 1 == len(patch):
        logits = np.asarray(window(image))
    elif image.ndim - 1 == len(patch) + 1:
        logits = np.stack([np.asarray(window(image[z])) for z in range(image.shape[0])])
    else:
        raise ValueError(f"case {case.name!r}: image shape {image.shape} does not fit patch_size {patch}")
    return np.argmax(logits, axis=-1) == LESION_CLASS


def evaluate(graphdef: nnx.GraphDef, params: Any, domains: Mapping[str, Sequence[tuple[Case, Case]]],
             config: ml_collections.ConfigDict, workdir: str | os.PathLike, *, run: str | None = None,
             progress: bool = False) -> dict[str, Any]:
    """Predicts every evaluation case (no augmentation), writes ``summary.json`` and ``prediction.png``.

    Metrics (see :mod:`train.report.metrics`) are computed on the raw image grid (predictions pasted
    back with :func:`train.data.preprocess.uncrop`), so nDSC's voxel count N is the whole scan as in the
    Shifts challenge.

    Args:
        graphdef, params: the model (:class:`train.step.TrainState` params).
        domains: ``{domain: [(raw case, preprocessed case), ...]}`` (:func:`train.data.sources.evaluation_domains`).
        config: the run's config (patch size, ``eval`` section).
        workdir: where ``summary.json`` and ``prediction.png`` go.
        run: the run's name in the figure's title (default: the work dir's name).
        progress: a progress bar over the cases (tqdm).
    """
    from tqdm.auto import tqdm

    run = Path(workdir).name if run is None else run
    predict = jax.jit(make_predict_fn(graphdef))
    ev = config.eval
    rows, examples = [], {}
    pairs_of = [(domain, raw, pre) for domain, pairs in domains.items() for raw, pre in pairs]
    for domain, raw, pre in tqdm(pairs_of, desc=f"evaluate {run}", unit="case", disable=not progress,
                                 dynamic_ncols=True):
        pred = uncrop(predict_case(predict, params, pre, config), pre).astype(bool)
        target = raw.label == LESION_CLASS
        row = lesion_metrics.case_metrics(pred, target, r=float(ev.ndsc_r), iou_threshold=float(ev.iou_threshold),
                                          connectivity=int(ev.connectivity), min_size=int(ev.min_lesion_size),
                                          voxel_volume=float(np.prod(raw.spacing)))
        rows.append({"case": raw.name, "domain": domain, **row})
        examples.setdefault(domain, (raw, pred))
    summary = summarize(rows)
    write_summary(Path(workdir) / "summary.json", summary)
    plot_predictions(examples, Path(workdir) / "prediction.png", run=run)
    return summary
