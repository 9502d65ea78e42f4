"""Domain-generalization study: does RC help out of domain, and which depth L and kernel size k?

``python -m train.study --config train/configs/study_2d.py --workdir DIR``

1. Every method of ``config.study.methods`` is trained on the source scanner with each seed of
   ``config.study.seeds`` and evaluated on held-out subjects of every scanner and on a
   validation split of the source scanner.
2. The seed RC is swept over ``sweep_depths`` x ``sweep_kernel_sizes``; for each setting two
   training-free diagnostics (:mod:`train.study.diagnostics`) are computed on the augmented
   images. L and k are chosen (a) by the training-free rule "maximize structure x variety" and
   (b) by Dice on the source validation split; the unseen scanners are only looked at afterwards.
3. The report (``config.study.report``, default ``docs/results.md``) is written with the tables,
   the sweep heatmaps, an augmentation gallery and example predictions (PNGs next to it).

Runs are resumable: a run whose ``summary.json`` exists is not trained again.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ml_collections

from train._io import write_text
from train.augment import make_augment
from train.config import check_config
from train.data.phantom import phantom_cases
from train.data.preprocess import preprocess_case
from train.data.sources import evaluation_domains, target_spacing
from train.evaluate import evaluate
from train.lock import WorkdirLock
from train.loop import train
from train.rng import PHANTOM_VAL_OFFSET, Stream, stream_key
from train.runs import variant_config
from train.study.diagnostics import augmentation_diagnostics
from train.study.figures import plot_gallery, plot_predictions, plot_sweep
from train.study.report import render_report
from train.study.scores import best_by_validation, val_domain

__all__ = ["check_study", "run_config", "run_one", "run_study"]

def run_config(base: ml_collections.ConfigDict, method: Mapping[str, Any], seed: int) -> ml_collections.ConfigDict:
    """The training config of one (method, seed) run (:func:`train.runs.variant_config`)."""
    cfg = variant_config(base, preset=method["preset"], overrides=dict(method.get("overrides") or {}),
                         intensity=bool(method["intensity"]), seed=seed)
    del cfg["study"]
    return cfg


def _domains_for_seed(cfg: ml_collections.ConfigDict, n_val: int) -> dict:
    domains = dict(evaluation_domains(cfg))
    source = cfg.data.source
    val = phantom_cases(source, n=n_val, dims=int(cfg.data.spatial_dims), shape=tuple(cfg.data.shape),
                        seed=int(cfg.seed) + PHANTOM_VAL_OFFSET, channels=tuple(cfg.data.channels))
    domains[val_domain(source)] = [(c, preprocess_case(c, target_spacing=target_spacing(cfg.data))) for c in val]
    return domains


def run_one(cfg: ml_collections.ConfigDict, run_dir: Path, domains: Mapping) -> dict:
    """Trains and evaluates one run, or loads its ``summary.json`` if it finished before."""
    with WorkdirLock(run_dir) as lock:  # through training and evaluation
        summary_path = run_dir / "summary.json"
        if summary_path.exists():
            return json.loads(summary_path.read_text())
        result = train(cfg, run_dir, progress=False, resume=(run_dir / "checkpoints").exists(), lock=lock)
        return evaluate(result.graphdef, result.state.params, domains, cfg, run_dir,
                        run=f"{run_dir.parent.name}/{run_dir.name}")


def _run_seconds(run_dir: Path) -> float:
    """Wall time of one run (training + evaluation): from its ``config.json`` (written when training
    starts) to its ``summary.json`` (written when evaluation ends)."""
    try:
        return max(0.0, (run_dir / "summary.json").stat().st_mtime - (run_dir / "config.json").stat().st_mtime)
    except FileNotFoundError:
        return 0.0


_STUDY_KEYS = {"seeds", "n_val", "methods", "sweep_depths", "sweep_kernel_sizes", "sweep_seeds", "diagnostic_images",
               "diagnostic_draws", "report"}


def check_study(config: ml_collections.ConfigDict) -> None:
    """Checks the training keys (:func:`train.config.check_config`), the ``study`` section, and every
    method's and sweep setting's run config, so a bad method fails before the first run trains."""
    check_config(config, extra_sections=("study",))
    st = config.get("study")
    if st is None:
        raise ValueError("config has no 'study' section (use train/configs/study_2d.py or study_3d.py)")
    if set(st) != _STUDY_KEYS:
        raise ValueError(f"config.study must have the keys {sorted(_STUDY_KEYS)}, got {sorted(st)}")
    for key in ("seeds", "sweep_depths", "sweep_kernel_sizes", "sweep_seeds"):
        if not st[key] or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in st[key]):
            raise ValueError(f"study.{key} must be a non-empty tuple of ints >= 0, got {st[key]!r}")
    for key, lo in (("n_val", 1), ("diagnostic_images", 1), ("diagnostic_draws", 2)):
        if not isinstance(st[key], int) or st[key] < lo:
            raise ValueError(f"study.{key} must be an int >= {lo}, got {st[key]!r}")
    if st.report is not None and (not isinstance(st.report, str) or not st.report):
        raise ValueError(f"study.report must be None (results.md in the work dir) or a file, got {st.report!r}")
    if "baseline" not in st.methods:
        raise ValueError(f"study.methods must include 'baseline' (the reference of every comparison), got "
                         f"{sorted(st.methods)}")
    for name, method in st.methods.items():
        if set(method) != {"preset", "intensity", "overrides"}:
            raise ValueError(f"study.methods[{name!r}] must have the keys preset, intensity, overrides, got "
                             f"{sorted(method)}")
        try:
            check_config(run_config(config, method, st.seeds[0]))
        except ValueError as err:
            raise ValueError(f"study.methods[{name!r}]: {err}") from err
    for depth in st.sweep_depths:
        for k in st.sweep_kernel_sizes:
            check_config(run_config(config, _sweep_method(depth, k), st.sweep_seeds[0]))


def _sweep_method(depth: int, kernel_size: int) -> dict[str, Any]:
    return {"preset": "random_conv", "intensity": True, "overrides": {"depth": int(depth),
                                                                      "kernel_size": int(kernel_size)}}


def run_study(config: ml_collections.ConfigDict, workdir: str | os.PathLike, *, command: str = "") -> Path:
    """Runs the whole study (module docstring) and writes the report; returns its path."""
    check_study(config)
    with WorkdirLock(workdir):  # one study per work dir (each run's folder is locked too)
        return _run_study(config, Path(workdir), command)


def _run_study(config: ml_collections.ConfigDict, workdir: Path, command: str) -> Path:
    t_start = time.perf_counter()
    st = config.study
    source = config.data.source
    seeds = tuple(int(s) for s in st.seeds)
    domain_cache: dict[int, dict] = {}

    def domains(seed: int) -> dict:
        if seed not in domain_cache:
            domain_cache[seed] = _domains_for_seed(run_config(config, {"preset": "none", "intensity": False}, seed),
                                                   int(st.n_val))
        return domain_cache[seed]

    results: dict[str, list[dict]] = {}
    run_dirs: list[Path] = []
    for name, method in st.methods.items():
        for seed in seeds:
            cfg = run_config(config, method, seed)
            run_dirs.append(workdir / "runs" / name / f"seed{seed}")
            summary = run_one(cfg, run_dirs[-1], domains(seed))
            results.setdefault(name, []).append(summary)
            print(f"[study] {name} seed {seed}: done ({time.perf_counter() - t_start:.0f} s)", flush=True)

    sweep = []
    for depth in st.sweep_depths:
        for k in st.sweep_kernel_sizes:
            method = _sweep_method(depth, k)
            dirs = [workdir / "sweep" / f"L{depth}_k{k}" / f"seed{s}" for s in st.sweep_seeds]
            run_dirs.extend(dirs)
            summaries = [run_one(run_config(config, method, s), d, domains(int(s)))
                         for s, d in zip(st.sweep_seeds, dirs, strict=True)]
            diag = _diagnostics(config, method, domains(seeds[0]))
            sweep.append({"depth": int(depth), "kernel_size": int(k), "summaries": summaries, **diag})
            print(f"[study] sweep L={depth} k={k}: done ({time.perf_counter() - t_start:.0f} s)", flush=True)

    report = workdir / "results.md" if st.report is None else Path(st.report)
    report.parent.mkdir(parents=True, exist_ok=True)
    figures = report.parent / "results"
    figures.mkdir(exist_ok=True)
    plot_sweep(sweep, source, figures / "sweep.png", study=workdir.name)
    plot_gallery(config, domains(seeds[0])[val_domain(source)][0][1], figures / "gallery.png",
                 study=workdir.name)
    best = best_by_validation(results, source)
    plot_predictions(config, workdir, seeds[0], best, domains(seeds[0]), figures / "predictions.png",
                     study=workdir.name)
    wall = time.perf_counter() - t_start
    runs_s = sum(_run_seconds(d) for d in run_dirs)
    text = render_report(config, results, sweep, best, command=command, wall_s=wall, runs_s=runs_s, figures=figures,
                   report=report)
    write_text(report, text)
    return report


def _diagnostics(config, method, domains) -> dict[str, float]:
    pairs = domains[val_domain(config.data.source)][: int(config.study.diagnostic_images)]
    aug = make_augment(method["preset"], **dict(method["overrides"]))
    key = stream_key(int(config.seed), Stream.DIAGNOSTICS)
    return augmentation_diagnostics(key, aug.one, [p.image for _, p in pairs], [p.mask for _, p in pairs],
                                    draws=int(config.study.diagnostic_draws))
