"""Train and evaluate one run or several variants of a config in a work dir.

:func:`variant_config` is the one way to derive a run's config from a base config (another
preset, its overrides, the intensity augmentation, a seed): the ``variants`` of a config and the
study's methods both use it. :func:`train_and_evaluate` trains each run with
:func:`train.loop.train` and scores it with :func:`train.evaluate.evaluate`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ml_collections

from train._io import write_text
from train.config import check_config
from train.data.sources import GROUP_NOTES, domain_groups, evaluation_domains
from train.evaluate import evaluate
from train.lock import WorkdirLock
from train.loop import train
from train.report.plots import plot_training_curves
from train.report.summaries import format_table

__all__ = ["train_and_evaluate", "variant_config", "where_lines"]


def variant_config(config: ml_collections.ConfigDict, *, preset: str | None = None,
                   overrides: Mapping[str, Any] | None = None, intensity: bool | None = None,
                   seed: int | None = None) -> ml_collections.ConfigDict:
    """A copy of ``config`` for one run, with ``variants`` cleared.

    Args:
        config: the base config.
        preset: the random-convolution preset of the run; a preset other than the base's drops
            the base's ``randconv.overrides`` (they belong to the base's preset).
        overrides: the preset's keyword arguments (default: the base's, or none for another preset).
        intensity: ``intensity_augment`` of the run (default: the base's).
        seed: ``seed`` of the run (default: the base's).
    """
    cfg = ml_collections.ConfigDict(config.to_dict())
    cfg.variants = ()
    if preset is not None and preset != cfg.randconv.preset:
        cfg.randconv.preset = preset
        cfg.randconv.overrides = {}
    if overrides is not None:
        cfg.randconv.overrides = dict(overrides)
    if intensity is not None:
        cfg.intensity_augment = bool(intensity)
    if seed is not None:
        cfg.seed = int(seed)
    return cfg


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | os.PathLike, *,
                       resume: bool = False, progress: bool = True) -> dict[str, Any]:
    """Trains on ``config.data.source`` and evaluates on every ``config.data.eval_domains``.

    With ``config.variants`` (e.g. ``("none", "randconv")``) each listed random-convolution
    preset is trained in ``workdir/<variant>`` with otherwise identical settings, and the
    per-domain table compares them. Returns ``{run: summary}``.
    """
    check_config(config)
    workdir = Path(workdir)
    variants = tuple(config.variants)
    runs = ({v: variant_config(config, preset=v) for v in variants} if variants
            else {config.randconv.preset: config})
    run_dirs = {name: workdir / name if variants else workdir for name in runs}
    with contextlib.ExitStack() as stack:
        if variants:  # the runs' folders are locked one by one; the top folder (results.txt) throughout
            stack.enter_context(WorkdirLock(workdir))
        domains = evaluation_domains(config)
        summaries, steps = {}, {}
        for name, cfg in runs.items():
            run_dir, label = run_dirs[name], f"{workdir.name}/{name}" if variants else workdir.name
            with WorkdirLock(run_dir) as lock:  # through training and evaluation
                result = train(cfg, run_dir, resume=resume, progress=progress, lock=lock)
                plot_training_curves(run_dir / "metrics.jsonl", run_dir / "curves.png", run=label)
                summaries[name] = evaluate(result.graphdef, result.state.params, domains, cfg, run_dir, run=label,
                                           progress=progress)
                steps[name] = int(result.state.step)
        groups = domain_groups(config)
        legend = "\n".join(f"  {g}: {GROUP_NOTES[g]}" for g in dict.fromkeys(groups.values()))
        table = (f"{format_table(summaries, groups=groups)}\n\nmean ± std over each domain's evaluation cases; "
                 f"groups:\n{legend}")
        write_text(workdir / "results.txt", table + "\n")
    print(table)
    print(where_lines(workdir, run_dirs, steps))
    return summaries


def where_lines(workdir: Path, run_dirs: Mapping[str, Path], steps: Mapping[str, int]) -> str:
    """The closing lines of a run: where its table, summaries, figures and checkpoints are."""
    dirs = list(run_dirs.values())
    rows = [
        ("results table", f"{workdir / 'results.txt'} (the table above)"),
        ("summaries", ", ".join(str(d / "summary.json") for d in dirs) + " (every case, per domain, overall)"),
        ("figures", ", ".join(f"{d / 'prediction.png'}, {d / 'curves.png'}" for d in dirs)),
        ("checkpoints", ", ".join(f"{run_dirs[n] / 'checkpoints'} (step {steps[n]})" for n in run_dirs)),
        ("TensorBoard", f"tensorboard --logdir {workdir}"),
        ("predict", f"python -m train.predict --checkpoint {dirs[-1]} --input DIR --output DIR"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k + ':':<{width + 1}} {v}" for k, v in rows)
