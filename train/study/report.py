"""The study's report (Markdown), rendered from its data files only (:mod:`train.study.data`).

``python -m train.study.report --data docs/results --name study_2d --out docs/results.md``
regenerates ``docs/results.md`` and its data figures (validation curves, intervals) from the
committed CSV and JSON files, without training anything.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from train.study.data import CASE_COLUMNS, CURVE_COLUMNS, read_csv
from train.study.stats import Interval, paired_bootstrap, paired_differences

__all__ = ["METRICS", "METRIC_NAMES", "fmt", "group_means", "intervals", "metric_table", "render_report", "versions"]

METRICS = ("dice", "ndsc", "lesion_f1")
METRIC_NAMES = {"dice": "Dice", "ndsc": "nDSC", "lesion_f1": "lesion F1"}
_SHIFT_GROUPS = ("mild shift", "strong shift")


def fmt(values: Sequence[float]) -> str:
    """``"mean ± std"`` (NaN-aware, population std) with three decimals; one value alone has no spread and
    is written bare; ``"n/a"`` without values."""
    v = np.asarray(values, float)
    if v.size == 0 or np.all(np.isnan(v)):
        return "n/a"
    if np.count_nonzero(~np.isnan(v)) == 1:
        return f"{np.nanmean(v):.3f}"
    return f"{np.nanmean(v):.3f} ± {np.nanstd(v):.3f}"


def versions() -> str:
    """The versions of the packages a result depends on, as one line."""
    names = ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "grain", "numpy", "scipy")
    out = []
    for n in names:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            out.append(f"{n} {importlib.metadata.version(n)}")
    return ", ".join(out)


def _values(rows: Iterable[Mapping[str, Any]], metric: str, domains: Sequence[str]) -> dict[tuple[int, str], float]:
    """``{(seed, subject): value}``: the metric per subject, averaged over ``domains`` (NaN-aware)."""
    acc: dict[tuple[int, str], list[float]] = {}
    wanted = set(domains)
    for r in rows:
        if r["domain"] in wanted:
            acc.setdefault((int(r["seed"]), str(r["subject"])), []).append(float(r[metric]))
    out = {}
    for key, vals in acc.items():
        v = np.asarray(vals, float)
        out[key] = float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")
    return out


def _by_method(rows: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    out: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:
        out.setdefault(str(r["method"]), []).append(r)
    return out


def _per_seed_means(values: Mapping[tuple[int, str], float]) -> list[float]:
    seeds: dict[int, list[float]] = {}
    for (seed, _), v in values.items():
        seeds.setdefault(seed, []).append(v)
    return [float(np.nanmean(v)) if np.isfinite(v).any() else float("nan") for _, v in sorted(seeds.items())]


def group_domains(groups: Mapping[str, str]) -> dict[str, list[str]]:
    """``{"in-domain": [source], "mild shift": [...], "strong shift": [...], "unseen": [...]}``."""
    out = {"in-domain": [d for d, g in groups.items() if g == "source"]}
    for g in _SHIFT_GROUPS:
        out[g] = [d for d, gg in groups.items() if gg == g]
    out["unseen"] = [d for d, g in groups.items() if g != "source"]
    return {k: v for k, v in out.items() if v}


def group_means(rows: Sequence[Mapping[str, Any]], metric: str, domains: Sequence[str]) -> str:
    """``"mean ± std"`` over seeds of each seed's mean over subjects (a subject's value averaged over ``domains``)."""
    return fmt(_per_seed_means(_values(rows, metric, domains)))


def metric_table(rows: Sequence[Mapping[str, Any]], groups: Mapping[str, str], metric: str, *,
                 columns: str = "groups") -> str:
    """A Markdown table, one row per method: mean ± std over seeds per group of scanners
    (``columns="groups"``) or per scanner (``"scanners"``)."""
    by = _by_method(rows)
    cols = group_domains(groups) if columns == "groups" else {d: [d] for d in groups}
    head = ["method", "seeds", *cols]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, mrows in by.items():
        n_seeds = len({int(r["seed"]) for r in mrows})
        lines.append("| " + " | ".join([name, str(n_seeds), *(group_means(mrows, metric, d) for d in cols.values())])
                     + " |")
    return "\n".join(lines)


def intervals(rows: Sequence[Mapping[str, Any]], groups: Mapping[str, str], metric: str, *, baseline: str = "baseline",
              n_boot: int = 10_000) -> dict[str, dict[str, Interval]]:
    """``{method: {group: Interval}}``: the paired difference ``method - baseline`` per (seed, subject),
    a subject's value averaged over the group's scanners, with its two-stage bootstrap 95 % interval."""
    by = _by_method(rows)
    cols = group_domains(groups)
    base = by.get(baseline, [])
    out = {}
    for name, mrows in by.items():
        if name == baseline:
            continue
        out[name] = {g: paired_bootstrap(paired_differences(_values(mrows, metric, d), _values(base, metric, d)),
                                         n_boot=n_boot) for g, d in cols.items()}
    return out


def _verdict(iv: Interval, *, cost: bool) -> str:
    if not np.isfinite(iv.mean):
        return "n/a"
    if not iv.excludes_zero():
        return "no difference detected (the interval includes 0)"
    if iv.mean > 0:
        return "better than the baseline"
    return "an in-domain cost" if cost else "worse than the baseline"


def _convergence(meta: Mapping[str, Any], curves: Sequence[Mapping[str, Any]]) -> str:
    """One row per method: how its runs ended, where their best was, the soft Dice on their own
    augmented training batches at that best step (``curves``' ``train_dice``), and their time."""
    lines = ["| method | runs | stopped by the rule (converged) | used the whole budget | best step: median (range) "
             "| training soft Dice at the best step: median (range) | minutes per run (median) |",
             "|---|---|---|---|---|---|---|"]
    train_dice = {(r["method"], int(r["seed"]), int(r["step"])): r["train_dice"] for r in curves}
    by: dict[str, list[Mapping[str, Any]]] = {}
    for r in meta["runs"]:
        by.setdefault(r["method"], []).append(r)
    for name, runs in by.items():
        stopped = sum(r.get("stopped_at") is not None for r in runs)
        budget = sum(r.get("stopped_at") is None and r.get("steps") == r.get("budget") for r in runs)
        best = [r["best_step"] for r in runs if r.get("best_step") is not None]
        best_s = f"{int(np.median(best))} ({min(best)}–{max(best)})" if best else "n/a"
        fit = [d for r in runs if r.get("best_step") is not None
               and np.isfinite(d := train_dice.get((name, int(r["seed"]), int(r["best_step"])), np.nan))]
        fit_s = f"{np.median(fit):.2f} ({min(fit):.2f}–{max(fit):.2f})" if fit else "n/a"
        mins = np.median([r["seconds"] for r in runs]) / 60
        lines.append(f"| {name} | {len(runs)} | {stopped} | {budget} | {best_s} | {fit_s} | {mins:.1f} |")
    return "\n".join(lines)


def _validation_choice(rows: Sequence[Mapping[str, Any]], meta: Mapping[str, Any]) -> str:
    refs = set(meta["references"])
    by = _by_method(r for r in rows if r["group"] == "validation")
    screen = set(int(s) for s in meta["config"]["study"]["screen_seeds"])
    lines = ["| method | source-validation Dice (screening seeds) |", "|---|---|"]
    for name, mrows in by.items():
        if name in refs or name == meta["best_consistency"]:
            continue
        vals = _values([r for r in mrows if int(r["seed"]) in screen], "dice", sorted({r["domain"] for r in mrows}))
        mark = " ← chosen" if name == meta["best"] else ""
        lines.append(f"| {name}{mark} | {fmt(_per_seed_means(vals))} |")
    return "\n".join(lines)


def _except(meta: Mapping[str, Any]) -> str:
    names = meta.get("screen_references") or []
    return f" (except {', '.join(f'`{n}`' for n in names)}: the screening seeds only, for context)" if names else ""


def _partial_banner(meta: Mapping[str, Any]) -> list[str]:
    """A warning heading the report while runs of the plan are missing (the study was interrupted or is running)."""
    if meta.get("complete", True):
        return []
    return [f"> **Partial: {len(meta['runs'])} of {meta['planned_runs']} planned runs have finished.** The study was "
            "interrupted or is still running; every number below covers the finished runs only, and the methods "
            "have fewer seeds than planned where the `seeds` column says so. Rerun the command above to resume.", ""]


def plot_curves(curves: Sequence[Mapping[str, Any]], path: Path, *, study: str) -> Path:
    """Source-validation Dice against the step, one panel per method, one line per seed (PNG)."""
    from train._io import atomic_save
    from train.report.plots import layout_under_title, new_figure

    by = _by_method(curves)
    n = max(len(by), 1)
    cols = min(n, 4)
    fig = new_figure(figsize=(3.2 * cols, 2.4 * ((n + cols - 1) // cols)))
    axes = np.atleast_1d(fig.subplots((n + cols - 1) // cols, cols, squeeze=False)).ravel()
    for ax, (name, rows) in zip(axes, by.items(), strict=False):
        for seed in sorted({int(r["seed"]) for r in rows}):
            pts = sorted((int(r["step"]), float(r["val_dice"])) for r in rows if int(r["seed"]) == seed)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], lw=0.9, label=f"seed {seed}")
        ax.set_title(name, fontsize=8)
        ax.set_xlabel("step", fontsize=7)
        ax.set_ylabel("validation Dice", fontsize=7)
        ax.tick_params(labelsize=6)
    for ax in axes[len(by):]:
        ax.axis("off")
    fig.suptitle(f"study {study}: source-validation Dice while training (each run stops by the same rule)",
                 fontsize=9)
    layout_under_title(fig)
    return atomic_save(path, lambda tmp: fig.savefig(tmp, dpi=80))


def _sweep_table(sweep: Sequence[Mapping[str, Any]]) -> str:
    lines = ["| L | k | structure S | variety V | S·V | source val Dice | in-domain Dice | unseen Dice |",
             "|---|---|---|---|---|---|---|---|"]
    for r in sweep:
        lines.append(f"| {r['depth']} | {r['kernel_size']} | {r['structure']:.3f} | {r['variety']:.3f} | "
                     f"{r['structure'] * r['variety']:.3f} | {r['val']:.3f} | {r['id']:.3f} | {r['ood']:.3f} |")
    return "\n".join(lines)


def render_report(data_dir: str | os.PathLike, name: str, *, report: str | os.PathLike,
                  figures: str | os.PathLike | None = None, n_boot: int = 10_000) -> str:
    """The Markdown report of study ``name`` from ``data_dir``'s ``<name>_cases.csv``,
    ``<name>_curves.csv`` and ``<name>_meta.json``; writes the curve figure to ``figures``
    (default: ``results/`` next to ``report``)."""
    import json

    data_dir, report = Path(data_dir), Path(report)
    figures = report.parent / "results" if figures is None else Path(figures)
    figures.mkdir(parents=True, exist_ok=True)
    rows = read_csv(data_dir / f"{name}_cases.csv", CASE_COLUMNS)
    curves = read_csv(data_dir / f"{name}_curves.csv", CURVE_COLUMNS)
    meta = json.loads((data_dir / f"{name}_meta.json").read_text())
    cfg = meta["config"]
    groups = {d: g for d, g in meta["groups"].items()}
    test_rows = [r for r in rows if r["group"] != "validation"]
    rel = os.path.relpath(figures, report.parent)
    plot_curves(curves, figures / "validation_curves.png", study=name)
    data_rel = os.path.relpath(data_dir, report.parent)
    seeds, screen = cfg["study"]["seeds"], cfg["study"]["screen_seeds"]
    v = cfg["validation"]
    n_subjects = len({r["subject"] for r in test_rows if int(r["seed"]) == seeds[0]})
    minutes = sum(r["seconds"] for r in meta["runs"]) / 60
    methods = []
    for mname, m in cfg["study"]["methods"].items():
        recipe = f"preset `{m['preset']}`" + (f" {m['overrides']}" if m["overrides"] else "")
        recipe += "" if m.get("probability") is None else f", on a fraction p = {m['probability']} of the samples"
        recipe += ", nnU-Net intensity augmentations" if m["intensity"] else ", no augmentation at all"
        if mname not in meta["references"]:
            recipe += f"; consistency variant: `{m['consistency']}` with λ = {m['consistency_weight']}"
        methods.append(f"* `{mname}`: {recipe}")
    scanners = ["| scanner | group |", "|---|---|"] + [f"| `{d}` | {g} |" for d, g in groups.items()]
    parts = [
        "# Domain-generalization study on the multi-scanner phantom",
        "",
        "Generated from the data files in "
        f"[`{data_rel}/`]({data_rel}/) (`{name}_cases.csv`: every test case; `{name}_curves.csv`: every "
        f"validation score; `{name}_meta.json`: setup and run times); do not edit by hand. Regenerate without "
        "training:",
        "",
        f"```bash\npython -m train.study.report --data {os.path.relpath(data_dir)} --name {name} --out "
        f"{os.path.relpath(report)}\n```",
        "",
        f"and reproduce everything (resumable) with `{meta['command']}`.",
        "",
        *_partial_banner(meta),
        "## Setup (fixed before any result was seen)",
        "",
        f"* Date {meta['date']}; {meta['hardware']}.",
        f"* {len(meta['runs'])} runs, {minutes:.0f} min of training and evaluation in all.",
        f"* Data: 2D phantom slices {tuple(cfg['data']['shape'])}, channels {tuple(cfg['data']['channels'])}; "
        f"{cfg['data']['n_train']} training subjects from `{meta['source']}` only; {n_subjects} test subjects per "
        "scanner and seed (the same subjects under every scanner, other subjects for every seed); "
        f"{v['n_cases']} further source subjects per seed as the validation split of every choice.",
        f"* Training: U-Net {tuple(cfg['model']['features'])}, {cfg['optim']['name']} lr "
        f"{cfg['optim']['learning_rate']} {cfg['optim']['schedule']}, batch {cfg['data']['batch_size']}, Dice + CE; "
        f"budget {cfg['num_steps']} steps; the source-validation Dice every {v['every']} steps; each run "
        f"keeps its best checkpoint and stops after {v['patience']} scores without a gain above {v['min_delta']} "
        "(the same rule for every method); the best checkpoint is evaluated.",
        f"* Seeds {tuple(seeds)} for the references{_except(meta)}, the chosen RC method and its consistency "
        f"variant; the other RC methods with the screening seeds {tuple(screen)}. The RC method is chosen by its "
        f"source-validation Dice (chosen: `{meta['best']}`); consistency variants train "
        f"{cfg['study']['num_copies']} augmented copies per image.",
        f"* Metrics on the raw grid: Dice, nDSC (r = {cfg['eval']['ndsc_r']}), lesion F1 (IoU ≥ "
        f"{cfg['eval']['iou_threshold']}, lesions ≥ {cfg['eval']['min_lesion_size']} voxels).",
        "",
        "Methods:",
        "",
        *methods,
        "",
        "Scanners and their groups (set from the physics in `train/data/sources.py`, not from results):",
        "",
        *scanners,
        "",
        "## Convergence",
        "",
        _convergence(meta, curves),
        "",
        "The training soft Dice is the mean over the logging interval ending at the best step, on the "
        "augmented batches the model was fitted to; a low value means the model could not fit its own "
        "augmented data.",
        "",
        f"![validation curves]({rel}/validation_curves.png)",
        "",
        "## Choosing the RC method (source validation only)",
        "",
        _validation_choice(rows, meta),
        "",
    ]
    for metric in METRICS:
        parts += [f"## {METRIC_NAMES[metric]}", "", "Mean ± std over seeds of each seed's mean over test subjects "
                  "(a group's value per subject is its mean over the group's scanners).", "",
                  metric_table(test_rows, groups, metric), "", "<details><summary>per scanner</summary>", "",
                  metric_table(test_rows, groups, metric, columns="scanners"), "", "</details>", ""]
    parts += ["## Against the baseline: paired differences with 95 % intervals", "",
              "Each cell: mean of `method − baseline` over (seed, test subject) pairs, and its two-stage bootstrap "
              "95 % interval (seeds resampled, then subjects within each seed; `train/study/stats.py`).", ""]
    findings = []
    for metric in METRICS:
        ivs = intervals(test_rows, groups, metric, n_boot=n_boot)
        cols = list(group_domains(groups))
        parts += [f"### {METRIC_NAMES[metric]}", "", "| method | " + " | ".join(cols) + " |",
                  "|" + "---|" * (len(cols) + 1)]
        for mname, by_group in ivs.items():
            parts.append(f"| {mname} | " + " | ".join(by_group[c].text() for c in cols) + " |")
            if metric == "dice" and mname in (meta["best"], meta["best_consistency"]):
                cost, gain = by_group.get("in-domain"), by_group.get("unseen")
                findings.append(f"* `{mname}` ({cost.n_seeds} seeds, {cost.n_subjects} subject pairs per scanner "
                                f"group): in-domain Δ Dice {cost.text()}: {_verdict(cost, cost=True)}; unseen-scanner "
                                f"Δ Dice {gain.text()}: {_verdict(gain, cost=False)}"
                                + "".join(f"; {g} {by_group[g].text()}" for g in _SHIFT_GROUPS if g in by_group)
                                + ".")
        parts.append("")
    if meta.get("sweep"):
        parts += ["## L × k sweep of the seed RC", "", f"![sweep]({rel}/sweep.png)", "", _sweep_table(meta["sweep"]),
                  ""]
    parts += ["## Findings (generated from the intervals above)", "", *findings, "",
              "## Limits", "",
              "* A phantom: real MNI152 anatomy and MR signal equations, but simulated lesions, scanners and "
              "artefacts; the unseen scanners are protocols defined in code, not real sites.",
              "* 2D slices and a small U-Net at a CPU budget; 3D and full-size nnU-Net training were not run.",
              *_limits_of_the_plan(cfg["study"]),
              "", "## Augmentation gallery and example predictions", "",
              f"![gallery]({rel}/gallery.png)", "", f"![predictions]({rel}/predictions.png)", ""]
    return "\n".join(parts) + "\n"


PAPERS_COPIES = 3
"""Augmented copies per image in RandConv's and GIN-IPA's consistency training (Xu'21, Ouyang'22)."""


def _limits_of_the_plan(study: Mapping[str, Any]) -> list[str]:
    """The report's limits that follow from the study's plan: the screened methods' seeds and the
    consistency variants' copies (``study`` is the ``study`` section of the meta file's config)."""
    lines = []
    if len(study["screen_seeds"]) < len(study["seeds"]):
        lines.append(f"* The screened RC methods ran on the screening seeds {tuple(study['screen_seeds'])} only: "
                     "their intervals resample subjects but cannot show the spread between seeds.")
    copies = int(study["num_copies"])
    if copies < PAPERS_COPIES:
        lines.append(f"* The consistency variants train {copies} augmented copies per image where the papers "
                     f"use {PAPERS_COPIES} (`study.num_copies`).")
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m train.study.report``: regenerates a report from its data files."""
    from train._io import write_text

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="folder of <name>_cases.csv, <name>_curves.csv, <name>_meta.json")
    p.add_argument("--name", required=True, help="the study's name (study.name), e.g. study_2d")
    p.add_argument("--out", required=True, help="the report to write, e.g. docs/results.md")
    args = p.parse_args(argv)
    for suffix in ("_cases.csv", "_curves.csv", "_meta.json"):
        f = Path(args.data) / f"{args.name}{suffix}"
        if not f.is_file():
            p.error(f"--data {args.data}: {f.name} not found")
    out = Path(args.out)
    write_text(out, render_report(args.data, args.name, report=out))
    print(f"report: {out}")


if __name__ == "__main__":
    main()
