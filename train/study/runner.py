"""Domain-generalization study: does RC help a lesion segmenter on unseen scanners, and at what cost in domain?

``python -m train.study --config train/configs/study_2d.py --workdir DIR``

Every run trains on the source scanner only, scores the source-validation split every
``validation.every`` steps, keeps its best checkpoint and stops by the same rule
(:mod:`train.loop`) under one step budget; it is evaluated (best checkpoint) on held-out subjects
of every scanner. In order:

1. The references (``study.references``: no augmentation, and nnU-Net's intensity augmentations
   alone, the baseline) with every seed of ``study.seeds``; those of ``study.screen_references``
   (context, e.g. no augmentation) with the screening seeds only.
2. Every random-convolution method of ``study.methods`` with the ``study.screen_seeds``.
3. The best of them by source-validation Dice (never by an unseen scanner) with the remaining
   seeds, and the same method with its consistency loss (``consistency``,
   ``consistency_weight``; ``study.num_copies`` augmented copies) with every seed.
4. Optionally the seed RC's L x k sweep (``study.sweep_depths`` x ``sweep_kernel_sizes``; empty: none).

The per-case metrics and validation curves are written as CSV to ``study.data_dir``
(:mod:`train.study.data`), and the report (``study.report``) is rendered from those files
(:func:`train.study.report.render_report`), so it can be regenerated without retraining.
Runs are resumable: a run whose ``summary.json`` exists is loaded, an interrupted one resumes.
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
from train.data.sources import domain_groups, evaluation_domains, validation_pairs
from train.evaluate import evaluate
from train.lock import WorkdirLock
from train.loop import train
from train.rng import Stream, stream_key
from train.study.data import CASE_COLUMNS, CURVE_COLUMNS, case_rows, curve_rows, write_csv, write_json
from train.study.diagnostics import augmentation_diagnostics
from train.study.figures import plot_gallery, plot_predictions, plot_sweep
from train.study.report import render_report
from train.study.scores import best_by_validation, sweep_grids, val_domain
from train.variants import recipe_config

__all__ = ["check_study", "consistency_method", "run_config", "run_one", "run_study"]

_METHOD_KEYS = {"preset", "intensity", "overrides", "probability", "consistency", "consistency_weight"}


def run_config(base: ml_collections.ConfigDict, method: Mapping[str, Any], seed: int, *,
               num_copies: int = 1) -> ml_collections.ConfigDict:
    """The training config of one (method, seed) run (:func:`train.runs.recipe_config`); a method
    with ``use_consistency`` trains ``num_copies`` copies with its consistency loss."""
    cfg = recipe_config(base, method, seed=seed)
    if method.get("use_consistency"):
        cfg.loss.consistency = method["consistency"]
        cfg.loss.consistency_weight = float(method["consistency_weight"])
        cfg.loss.num_copies = int(num_copies)
    del cfg["study"]
    return cfg


def consistency_method(method: Mapping[str, Any]) -> dict[str, Any]:
    """``method`` trained with its consistency loss (the papers' lever against the in-domain cost)."""
    return {**dict(method), "use_consistency": True}


def _domains_for_seed(cfg: ml_collections.ConfigDict) -> dict:
    domains = dict(evaluation_domains(cfg))
    domains[val_domain(cfg.data.source)] = validation_pairs(cfg)
    return domains


def run_one(cfg: ml_collections.ConfigDict, run_dir: Path, domains: Mapping) -> dict:
    """Trains and evaluates one run, or loads its ``summary.json`` if it finished before."""
    with WorkdirLock(run_dir) as lock:  # through training and evaluation
        summary_path = run_dir / "summary.json"
        if summary_path.exists():
            return json.loads(summary_path.read_text())
        result = train(cfg, run_dir, progress=False, resume=(run_dir / "checkpoints").exists(), lock=lock)
        summary = evaluate(result.graphdef, result.eval_params, domains, cfg, run_dir,
                           run=f"{run_dir.parent.name}/{run_dir.name}")
        rec = result.validation
        training = {"steps": int(result.state.step), "budget": int(cfg.num_steps),
                    "best_step": None if rec is None else rec.best_step,
                    "stopped_at": None if rec is None else rec.stopped_at}
        write_text(run_dir / "training.json", json.dumps(training, indent=2) + "\n")
        return summary


def _run_seconds(run_dir: Path) -> float:
    """Wall time of one run (training + evaluation): from its ``config.json`` (written when training
    starts) to its ``summary.json`` (written when evaluation ends)."""
    try:
        return max(0.0, (run_dir / "summary.json").stat().st_mtime - (run_dir / "config.json").stat().st_mtime)
    except FileNotFoundError:
        return 0.0


_STUDY_KEYS = {"name", "seeds", "screen_seeds", "references", "screen_references", "methods", "num_copies",
               "sweep_depths", "sweep_kernel_sizes", "sweep_seeds", "diagnostic_images", "diagnostic_draws",
               "data_dir", "report"}


def _ints(value: Any, key: str, *, allow_empty: bool = False) -> tuple[int, ...]:
    if isinstance(value, str) or not isinstance(value, tuple | list) or (not value and not allow_empty) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
        raise ValueError(f"study.{key} must be a {'' if allow_empty else 'non-empty '}tuple of ints >= 0, "
                         f"got {value!r}")
    return tuple(value)


def check_study(config: ml_collections.ConfigDict) -> None:
    """Checks the training keys (:func:`train.config.check_config`), the ``study`` section, and every
    method's run config (with and without its consistency loss), so a bad method fails before the
    first run trains."""
    check_config(config, extra_sections=("study",))
    st = config.get("study")
    if st is None:
        raise ValueError("config has no 'study' section (use train/configs/study_2d.py or study_3d.py)")
    if set(st) != _STUDY_KEYS:
        raise ValueError(f"config.study must have the keys {sorted(_STUDY_KEYS)}, got {sorted(st)}")
    seeds = _ints(st.seeds, "seeds")
    screen = _ints(st.screen_seeds, "screen_seeds")
    if not set(screen) <= set(seeds):
        raise ValueError(f"study.screen_seeds {screen} must be among study.seeds {seeds}")
    depths = _ints(st.sweep_depths, "sweep_depths", allow_empty=True)
    ks = _ints(st.sweep_kernel_sizes, "sweep_kernel_sizes", allow_empty=True)
    if bool(depths) != bool(ks):
        raise ValueError("study.sweep_depths and study.sweep_kernel_sizes must both be empty (no sweep) or both "
                         f"be set, got {depths!r} and {ks!r}")
    if depths:
        _ints(st.sweep_seeds, "sweep_seeds")
    for key, lo in (("diagnostic_images", 1), ("diagnostic_draws", 2), ("num_copies", 2)):
        if not isinstance(st[key], int) or st[key] < lo:
            raise ValueError(f"study.{key} must be an int >= {lo}, got {st[key]!r}")
    for key in ("name", "data_dir"):
        if not isinstance(st[key], str) or not st[key]:
            raise ValueError(f"study.{key} must be a non-empty string, got {st[key]!r}")
    if st.report is not None and (not isinstance(st.report, str) or not st.report):
        raise ValueError(f"study.report must be None (results.md in the work dir) or a file, got {st.report!r}")
    if config.validation.every is None:
        raise ValueError("the study chooses by source-validation Dice and keeps each run's best checkpoint: set "
                         "validation.every (and validation.patience for early stopping)")
    refs = tuple(st.references)
    if "baseline" not in refs:
        raise ValueError(f"study.references must include 'baseline' (the reference of every comparison), got {refs}")
    for name in refs:
        if name not in st.methods:
            raise ValueError(f"study.references names {name!r}, which is not in study.methods")
    screen_refs = tuple(st.screen_references)
    if not set(screen_refs) <= set(refs) - {"baseline"}:
        raise ValueError(f"study.screen_references {screen_refs} must be references other than 'baseline' "
                         f"(study.references: {refs})")
    if not any(n not in refs for n in st.methods):
        raise ValueError("study.methods has no random-convolution method besides the references")
    for name, method in st.methods.items():
        if set(method) != _METHOD_KEYS:
            raise ValueError(f"study.methods[{name!r}] must have the keys {sorted(_METHOD_KEYS)}, got "
                             f"{sorted(method)}")
        variants = [method] if name in refs else [method, consistency_method(method)]
        for m in variants:
            try:
                check_config(run_config(config, m, seeds[0], num_copies=int(st.num_copies)))
            except ValueError as err:
                raise ValueError(f"study.methods[{name!r}]: {err}") from err
    for depth in depths:
        for k in ks:
            check_config(run_config(config, _sweep_method(depth, k), st.sweep_seeds[0]))


def _sweep_method(depth: int, kernel_size: int) -> dict[str, Any]:
    return {"preset": "random_conv", "intensity": True, "overrides": {"depth": int(depth),
                                                                      "kernel_size": int(kernel_size)}}


def run_study(config: ml_collections.ConfigDict, workdir: str | os.PathLike, *, command: str = "") -> Path:
    """Runs the whole study (module docstring), writes its data files and the report; returns the report's path."""
    check_study(config)
    with WorkdirLock(workdir):  # one study per work dir (each run's folder is locked too)
        return _run_study(config, Path(workdir), command)


def _run_study(config: ml_collections.ConfigDict, workdir: Path, command: str) -> Path:
    t_start = time.perf_counter()
    st = config.study
    source = config.data.source
    seeds = tuple(int(s) for s in st.seeds)
    screen = tuple(int(s) for s in st.screen_seeds)
    refs = tuple(st.references)
    screen_refs = tuple(st.screen_references)  # references on the screening seeds only
    copies = int(st.num_copies)
    domain_cache: dict[int, dict] = {}
    groups = domain_groups(config)

    def domains(seed: int) -> dict:
        if seed not in domain_cache:
            domain_cache[seed] = _domains_for_seed(run_config(config, {"preset": "none", "intensity": False}, seed))
        return domain_cache[seed]

    results: dict[str, list[dict]] = {}
    cases: list[dict] = []
    curves: list[dict] = []
    runs: list[dict] = []

    trained_here = False  # whether this process has trained a run (a resumed one first loads the finished runs)

    def run(name: str, method: Mapping[str, Any], seed: int) -> None:
        nonlocal trained_here
        run_dir = workdir / "runs" / name / f"seed{seed}"
        trained = not (run_dir / "summary.json").exists()  # else loaded: the files on disk already hold it
        summary = run_one(run_config(config, method, seed, num_copies=copies), run_dir, domains(seed))
        results.setdefault(name, []).append(summary)
        cases.extend(case_rows(summary, method=name, seed=seed, groups=groups))
        curves.extend(curve_rows(run_dir / "metrics.jsonl", method=name, seed=seed))
        info = json.loads((run_dir / "training.json").read_text()) if (run_dir / "training.json").exists() else {}
        runs.append({"method": name, "seed": seed, "seconds": _run_seconds(run_dir), **info})
        print(f"[study] {name} seed {seed}: {'done' if trained else 'loaded'} ({time.perf_counter() - t_start:.0f} s)",
              flush=True)
        if trained:  # a resumed study neither shrinks the data files while it loads nor redraws for each run
            trained_here = True
            write_results(complete=False)

    candidates = [n for n in st.methods if n not in refs]
    planned = (len(refs) * len(seeds) - len(screen_refs) * (len(seeds) - len(screen)) + len(candidates) * len(screen)
               + 2 * len(seeds) - len(screen))
    chosen: dict[str, str] = {}

    def write_results(*, complete: bool) -> Path | None:
        """The data files of the runs finished so far, and the report once the RC method is chosen (marked
        partial until every run has finished), so an interrupted study leaves usable, honest files."""
        write_csv(data_dir / f"{st.name}_cases.csv", cases, CASE_COLUMNS)
        write_csv(data_dir / f"{st.name}_curves.csv", curves, CURVE_COLUMNS)
        meta = _meta(config, command, chosen.get("best"), chosen.get("best_cons"), runs, groups)
        meta["planned_runs"] = planned  # the sweep is reported apart
        meta["complete"] = complete
        meta["sweep"] = _sweep_rows(sweep, source)
        write_json(data_dir / f"{st.name}_meta.json", meta)
        if "best" not in chosen:
            return None
        if sweep:
            plot_sweep(sweep, source, figures / "sweep.png", study=st.name)
        plot_gallery(config, domains(seeds[0])[val_domain(source)][0][1], figures / "gallery.png",
                     study=st.name)
        plot_predictions(config, workdir, seeds[0], chosen["best"], domains(seeds[0]), figures / "predictions.png",
                         study=st.name)
        write_text(report, render_report(data_dir, st.name, report=report, figures=figures))
        return report

    report = workdir / "results.md" if st.report is None else Path(st.report)
    data_dir = Path(st.data_dir) if st.report is not None else workdir / "results"
    figures = report.parent / "results"
    figures.mkdir(parents=True, exist_ok=True)
    sweep: list[dict] = []

    # Most informative first, so an interrupted study has its headline pairs: the screening seeds of
    # the references and of every RC method, then the baseline and the chosen method seed by seed,
    # the consistency variant, and last the other references' remaining seeds.
    for seed in screen:
        for name in refs:
            run(name, st.methods[name], seed)
    for name in candidates:
        for seed in screen:
            run(name, st.methods[name], seed)
    best = best_by_validation({n: results[n] for n in candidates}, source)
    chosen.update(best=best, best_cons=f"{best} + {st.methods[best]['consistency']}")
    if trained_here:
        write_results(complete=False)  # the first report: the screening's choice
    rest = [s for s in seeds if s not in screen]
    for seed in rest:
        run("baseline", st.methods["baseline"], seed)
        run(best, st.methods[best], seed)
    for seed in seeds:
        run(chosen["best_cons"], consistency_method(st.methods[best]), seed)
    for name in refs:
        if name != "baseline" and name not in screen_refs:
            for seed in rest:
                run(name, st.methods[name], seed)

    for depth in st.sweep_depths:
        for k in st.sweep_kernel_sizes:
            method = _sweep_method(depth, k)
            dirs = [workdir / "sweep" / f"L{depth}_k{k}" / f"seed{s}" for s in st.sweep_seeds]
            summaries = [run_one(run_config(config, method, s), d, domains(int(s)))
                         for s, d in zip(st.sweep_seeds, dirs, strict=True)]
            diag = _diagnostics(config, method, domains(seeds[0]))
            sweep.append({"depth": int(depth), "kernel_size": int(k), "summaries": summaries, **diag})
            print(f"[study] sweep L={depth} k={k}: done ({time.perf_counter() - t_start:.0f} s)", flush=True)

    final = write_results(complete=True)
    assert final is not None  # the method was chosen above
    return final


def _sweep_rows(sweep, source) -> list[dict[str, Any]]:
    """The sweep as data: per (L, k) the diagnostics and the mean source-validation, in-domain and
    unseen Dice over the sweep's seeds."""
    if not sweep:
        return []
    depths, ks, g = sweep_grids(sweep, source)
    return [{"depth": d, "kernel_size": k, **{n: float(g[n][i, j]) for n in g}}
            for i, d in enumerate(depths) for j, k in enumerate(ks)]


def _meta(config, command, best, best_cons, runs, groups) -> dict[str, Any]:
    """What the report states besides the numbers: the setup, the choice made on validation, run times
    (each run's own, ``runs[i]["seconds"]``: the process that writes the files may only have loaded them)."""
    import datetime
    import platform

    import jax

    from train.study.report import versions

    st = config.study
    return {
        "command": command or f"python -m train.study --config train/configs/{st.name}.py --workdir runs/{st.name}",
        "date": datetime.date.today().isoformat(),
        "hardware": f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}), JAX backend "
                    f"{jax.devices()[0].platform}; Python {platform.python_version()}; {versions()}",
        "config": json.loads(config.to_json()),
        "source": config.data.source,
        "groups": dict(groups),
        "references": list(st.references),
        "screen_references": list(st.screen_references),
        "best": best,
        "best_consistency": best_cons,
        "runs": runs,
    }


def _diagnostics(config, method, domains) -> dict[str, float]:
    pairs = domains[val_domain(config.data.source)][: int(config.study.diagnostic_images)]
    aug = make_augment(method["preset"], **dict(method["overrides"]))
    key = stream_key(int(config.seed), Stream.DIAGNOSTICS)
    return augmentation_diagnostics(key, aug.one, [p.image for _, p in pairs], [p.mask for _, p in pairs],
                                    draws=int(config.study.diagnostic_draws))
