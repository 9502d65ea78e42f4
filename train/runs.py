"""Train and evaluate one run or several variants of a config in a work dir.

The run configs come from :mod:`train.variants` (re-exported here), the one way to derive a run's
config from a base config: the ``variants`` of a config and the study's methods both use it.
:func:`train_and_evaluate` trains each run with
:func:`train.loop.train` and scores it with :func:`train.evaluate.evaluate`.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ml_collections

from train._io import write_text
from train.config import check_config
from train.data.sources import GROUP_NOTES, domain_groups, evaluation_domains
from train.distributed import barrier, is_primary
from train.evaluate import evaluate
from train.lock import WorkdirLock
from train.loop import TrainResult, train
from train.report.plots import plot_training_curves
from train.report.summaries import format_table
from train.variants import recipe_config, run_configs, variant_config

__all__ = ["EVALUATION_TIMEOUT_S", "recipe_config", "run_configs", "train_and_evaluate", "training_line",
           "variant_config", "where_lines"]  # the run configs' derivation lives in train.variants

EVALUATION_TIMEOUT_S = 24 * 3600
"""How long the processes other than 0 of a multi-process run wait for process 0's evaluation."""


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | os.PathLike, *,
                       resume: bool = False, progress: bool = True) -> dict[str, Any]:
    """Trains on ``config.data.source`` and evaluates on every ``config.data.eval_domains``.

    With ``config.variants`` (e.g. ``("none", "randconv")``) each listed random-convolution
    preset, or recipe of ``config.recipes`` (e.g. the quickstart's ``no_augmentation`` against
    an RC recipe), is trained in ``workdir/<variant>`` with otherwise identical settings, and the
    per-domain table compares them. Returns ``{run: summary}``.

    In a run of several processes (:mod:`train.distributed`) all of them train; process 0 alone
    evaluates (whole held-out cases through sliding windows on one device, with the trained
    parameters it holds: a few cases, and one summary to write) and writes the figures, tables and
    summaries, while the others wait for it at a barrier (at most :data:`EVALUATION_TIMEOUT_S`;
    if process 0 dies they stop through the runtime's heartbeat) and return ``{}``.
    """
    check_config(config)
    workdir = Path(workdir)
    variants = tuple(config.variants)
    runs = run_configs(config)
    run_dirs = {name: workdir / name if variants else workdir for name in runs}
    with contextlib.ExitStack() as stack:
        if variants:  # the runs' folders are locked one by one; the top folder (results.txt) throughout
            stack.enter_context(WorkdirLock(workdir))
        domains = evaluation_domains(config) if is_primary() else {}  # process 0 evaluates
        summaries, steps, stopping = {}, {}, {}
        for name, cfg in runs.items():
            run_dir, label = run_dirs[name], f"{workdir.name}/{name}" if variants else workdir.name
            with WorkdirLock(run_dir) as lock:  # through training and evaluation
                t_run = time.perf_counter()
                result = train(cfg, run_dir, resume=resume, progress=progress, lock=lock)
                if is_primary():
                    plot_training_curves(run_dir / "metrics.jsonl", run_dir / "curves.png", run=label)
                    summaries[name] = evaluate(result.graphdef, result.eval_params, domains, cfg, run_dir,
                                               run=label, progress=progress)
                barrier(f"evaluated:{run_dir}", timeout_s=EVALUATION_TIMEOUT_S)
                steps[name] = int(result.state.step)
                minutes = (time.perf_counter() - t_run) / 60
                stopping[name] = f"{training_line(cfg, result)}; {minutes:.1f} min of training and evaluation"
        if not is_primary():
            return {}
        groups = domain_groups(config)
        legend = "\n".join(f"  {g}: {GROUP_NOTES[g]}" for g in dict.fromkeys(groups.values()))
        trained = "\n".join(f"  {name}: {line}" for name, line in stopping.items())
        table = (f"{format_table(summaries, groups=groups)}\n\nmean ± std over each domain's evaluation cases; "
                 f"groups:\n{legend}\ntraining:\n{trained}")
        write_text(workdir / "results.txt", table + "\n")
    print(table)
    print(where_lines(workdir, run_dirs, steps))
    return summaries


def training_line(config: ml_collections.ConfigDict, result: TrainResult) -> str:
    """One line on how a run's training ended: its steps, and with validation which checkpoint is
    evaluated and whether the stopping rule was met (converged) or the step budget ran out first."""
    steps, budget = int(result.state.step), int(config.num_steps)
    rec = result.validation
    if rec is None:
        return f"{steps} of {budget} steps, no validation (the last step is evaluated)"
    if rec.best_step is None:
        return f"{steps} of {budget} steps, no validation score yet (the last step is evaluated)"
    best = f"best validation Dice {rec.best_score:.3f} at step {rec.best_step} (evaluated)"
    if rec.stopped_at is not None:
        return (f"converged: stopped at step {rec.stopped_at} after {rec.since_best} scores without a gain above "
                f"{float(config.validation.min_delta):g}; {best}")
    if steps < budget:
        return f"interrupted at step {steps} of {budget}; {best}"
    rule = ("" if config.validation.patience is None
            else f" (stopping rule: {int(config.validation.patience)} scores without a gain)")
    return f"NOT converged: used the whole budget of {budget} steps before the stopping rule was met{rule}; {best}"


def where_lines(workdir: Path, run_dirs: Mapping[str, Path], steps: Mapping[str, int]) -> str:
    """The closing lines of a run: where its table, summaries, figures and checkpoints are."""
    dirs = list(run_dirs.values())
    rows = [
        ("results table", f"{workdir / 'results.txt'} (the table above)"),
        ("summaries", ", ".join(str(d / "summary.json") for d in dirs) + " (every case, per domain, overall)"),
        ("figures", ", ".join(f"{d / 'prediction.png'}, {d / 'curves.png'}" for d in dirs)),
        ("checkpoints", ", ".join(f"{run_dirs[n] / 'checkpoints'} (step {steps[n]})" for n in run_dirs)
         + ("; best validation checkpoints in best/ (what was evaluated)" if any((d / "best").is_dir() for d in dirs)
            else "")),
        ("TensorBoard", f"tensorboard --logdir {workdir}"),
        ("predict", f"python -m train.predict --checkpoint {dirs[-1]} --input DIR --output DIR"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k + ':':<{width + 1}} {v}" for k, v in rows)
