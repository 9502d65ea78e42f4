"""The study's report (Markdown): setup, per-domain tables, the comparison with the baseline, the sweep."""

from __future__ import annotations

import contextlib
import datetime
import importlib.metadata
import math
import os
import platform
import warnings
from collections.abc import Sequence
from pathlib import Path

import jax
import numpy as np

from train.data.phantom import SCANNERS
from train.study.scores import domain_means, ood_mean, sweep_grids, val_domain

__all__ = ["METRICS", "METRIC_NAMES", "fmt", "metric_table", "render_report", "welch_p"]

METRICS = ("dice", "ndsc", "lesion_f1")
METRIC_NAMES = {"dice": "Dice", "ndsc": "nDSC", "lesion_f1": "lesion F1"}


def fmt(values: Sequence[float]) -> str:
    """``"mean ± std"`` (NaN-aware, population std) with three decimals, or ``"n/a"``."""
    v = np.asarray(values, float)
    if v.size == 0 or np.all(np.isnan(v)):
        return "n/a"
    return f"{np.nanmean(v):.3f} ± {np.nanstd(v):.3f}"


def welch_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p of Welch's t-test; NaN with fewer than two values per side or no spread at all."""
    from scipy import stats

    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2 or len(b) < 2 or (np.std(a) == 0 and np.std(b) == 0):
        return float("nan")
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def _versions() -> str:
    names = ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "grain", "numpy", "scipy")
    out = []
    for n in names:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            out.append(f"{n} {importlib.metadata.version(n)}")
    return ", ".join(out)


def metric_table(results, source, metric) -> str:
    """A Markdown table: one row per method, mean ± std over seeds per scanner and of the unseen mean."""
    unseen = [d for d in SCANNERS if d != source]
    head = ["method", f"{source} (in-domain)", *unseen, "unseen mean"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, summaries in results.items():
        per_seed = [domain_means(s, metric) for s in summaries]
        cells = [name, fmt([d.get(source, np.nan) for d in per_seed])]
        cells += [fmt([d.get(u, np.nan) for d in per_seed]) for u in unseen]
        cells.append(fmt([ood_mean(d, source) for d in per_seed]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _hardest_shift_notes(results, source) -> list[str]:
    """Per method, Δ Dice vs the baseline on the unseen scanner where the baseline is worst, and the
    source-validation Dice (a method far below the baseline there is underfitted, not only shifted)."""
    base = [domain_means(s, "dice") for s in results.get("baseline", [])]
    unseen = [d for d in SCANNERS if d != source and base and d in base[0]]
    if not unseen:
        return []
    hardest = min(unseen, key=lambda d: np.nanmean([b.get(d, np.nan) for b in base]))
    b_h = [b.get(hardest, np.nan) for b in base]
    b_v = np.nanmean([b.get(val_domain(source), np.nan) for b in base])
    notes = [f"Hardest unseen scanner for the baseline: `{hardest}` (Dice {fmt(b_h)}); source-validation "
             f"Dice of the baseline {b_v:.3f}."]
    for name, summaries in results.items():
        if name == "baseline":
            continue
        per = [domain_means(s, "dice") for s in summaries]
        m_h = [d.get(hardest, np.nan) for d in per]
        m_v = np.nanmean([d.get(val_domain(source), np.nan) for d in per])
        notes.append(f"{name} on `{hardest}`: {fmt(m_h)} (Δ {np.nanmean(m_h) - np.nanmean(b_h):+.3f}, Welch p "
                     f"{welch_p(m_h, b_h):.3f}); source-validation Dice {m_v:.3f} (Δ {m_v - b_v:+.3f})")
    return notes


def _comparison(results, source) -> tuple[str, list[str]]:
    base = [domain_means(s, "dice") for s in results.get("baseline", [])]
    if not base:
        return "", []
    b_id = [d.get(source, np.nan) for d in base]
    b_ood = [ood_mean(d, source) for d in base]
    lines = ["| method | Δ in-domain Dice | p (Welch) | Δ unseen-mean Dice | p (Welch) | verdict |",
             "|---|---|---|---|---|---|"]
    notes = []
    for name, summaries in results.items():
        if name == "baseline":
            continue
        per = [domain_means(s, "dice") for s in summaries]
        m_id = [d.get(source, np.nan) for d in per]
        m_ood = [ood_mean(d, source) for d in per]
        d_id, d_ood = np.nanmean(m_id) - np.nanmean(b_id), np.nanmean(m_ood) - np.nanmean(b_ood)
        p_id, p_ood = welch_p(m_id, b_id), welch_p(m_ood, b_ood)
        spread = max(np.nanstd(m_ood), np.nanstd(b_ood))
        if not math.isnan(p_ood) and p_ood < 0.05:
            verdict = "unseen Dice higher than baseline" if d_ood > 0 else "unseen Dice lower than baseline"
        elif abs(d_ood) <= spread:
            verdict = "difference within the seed spread"
        else:
            verdict = f"larger than the seed spread, not significant at n={len(m_ood)}"
        lines.append(f"| {name} | {d_id:+.3f} | {p_id:.3f} | {d_ood:+.3f} | {p_ood:.3f} | {verdict} |")
        notes.append(f"{name}: {verdict} (Δ {d_ood:+.3f}); in-domain Δ {d_id:+.3f}")
    return "\n".join(lines), notes


def _sweep_section(sweep, source) -> str:
    from scipy import stats

    depths, ks, g = sweep_grids(sweep, source)
    lines = ["| L | k | structure S | variety V | S·V | source val Dice | in-domain Dice | unseen-mean Dice |",
             "|---|---|---|---|---|---|---|---|"]
    flat = []
    for i, d in enumerate(depths):
        for j, k in enumerate(ks):
            s, v = g["structure"][i, j], g["variety"][i, j]
            flat.append((d, k, s, v, s * v, g["val"][i, j], g["id"][i, j], g["ood"][i, j]))
            lines.append(f"| {d} | {k} | {s:.3f} | {v:.3f} | {s * v:.3f} | {g['val'][i, j]:.3f} | "
                         f"{g['id'][i, j]:.3f} | {g['ood'][i, j]:.3f} |")
    arr = np.array([f[2:] for f in flat], float)
    ood = arr[:, 5]
    rule = flat[int(np.nanargmax(arr[:, 2]))]
    by_val = flat[int(np.nanargmax(arr[:, 3]))]
    oracle = flat[int(np.nanargmax(ood))]
    def rank(x):
        with warnings.catch_warnings():  # a constant column (e.g. all-zero Dice at smoke size) has no rank
            warnings.simplefilter("ignore")
            return stats.spearmanr(x, ood, nan_policy="omit").statistic

    text = "\n".join(lines)
    text += (
        f"\n\nSpearman rank correlation with the unseen-mean Dice across the {len(flat)} settings: "
        f"structure S {rank(arr[:, 0]):+.2f}, variety V {rank(arr[:, 1]):+.2f}, S·V {rank(arr[:, 2]):+.2f}, "
        f"source validation Dice {rank(arr[:, 3]):+.2f}.\n\n"
        f"* Training-free rule (maximize S·V): L = {rule[0]}, k = {rule[1]} → unseen-mean Dice {rule[7]:.3f} "
        f"(rank {int((ood > rule[7]).sum()) + 1} of {len(flat)}).\n"
        f"* Chosen on the source validation split: L = {by_val[0]}, k = {by_val[1]} → unseen-mean Dice "
        f"{by_val[7]:.3f} (rank {int((ood > by_val[7]).sum()) + 1} of {len(flat)}).\n"
        f"* For reference only (it looks at the unseen scanners, so it is not a valid choice): the best "
        f"setting was L = {oracle[0]}, k = {oracle[1]} with {oracle[7]:.3f}.\n"
    )
    return text


def render_report(config, results, sweep, best, *, command, wall_s, runs_s, figures: Path, report: Path) -> str:
    source = config.data.source
    rel = os.path.relpath(figures, report.parent)
    seeds = tuple(config.study.seeds)
    cpu = platform.processor() or platform.machine()
    device = jax.devices()[0]
    methods = "\n".join(f"* `{n}`: preset `{m['preset']}`"
                        + (f" with {dict(m['overrides'])}" if m["overrides"] else "")
                        + ("" if m["intensity"] else ", no intensity augmentation")
                        for n, m in config.study.methods.items())
    comparison, notes = _comparison(results, source)
    parts = [
        "# Domain-generalization study on the multi-scanner phantom",
        "",
        "Written by `train/study/`; do not edit by hand. Reproduce with:",
        "",
        f"```bash\n{command or 'python -m train.study --config train/configs/study_2d.py --workdir runs/study'}\n```",
        "",
        f"* Date: {datetime.date.today().isoformat()}. Wall time: {runs_s / 60:.0f} min summed over the "
        f"{len(results) * len(seeds) + len(sweep) * len(config.study.sweep_seeds)} runs (training + evaluation, "
        f"from each run's files), {wall_s / 60:.1f} min for this invocation (runs finished by an earlier "
        "invocation are loaded, not retrained).",
        f"* Hardware: {os.cpu_count()} CPU cores ({cpu}), JAX backend {device.platform}; Python "
        f"{platform.python_version()}; {_versions()}.",
        f"* Data: 2D phantom slices {tuple(config.data.shape)}, channels {tuple(config.data.channels)}; "
        f"{config.data.n_train} training subjects from `{source}` only; {config.data.n_eval} held-out test "
        f"subjects per scanner (the same subjects under every scanner); {config.study.n_val} further "
        f"source subjects as the validation split used for every choice.",
        f"* Model and training: U-Net features {tuple(config.model.features)}, instance norm, "
        f"{config.num_steps} steps of batch {config.data.batch_size}, AdamW lr {config.optim.learning_rate} "
        f"cosine; Dice + CE; seeds {seeds}. Metrics on the raw grid: Dice, nDSC (r = {config.eval.ndsc_r}), "
        f"lesion F1 (IoU ≥ {config.eval.iou_threshold}, min size {config.eval.min_lesion_size} voxels, "
        f"connectivity {config.eval.connectivity}); each cell is mean ± std over seeds of the per-seed "
        "mean over test subjects.",
        "* Every method except `no_augmentation` includes nnU-Net's default intensity augmentations "
        "(`train/augment/intensity.py`); `baseline` is those alone.",
        "",
        "Methods:",
        "",
        methods,
        "",
    ]
    for metric in METRICS:
        parts += [f"## {METRIC_NAMES[metric]}", "", metric_table(results, source, metric), ""]
    if comparison:
        parts += ["## Against the baseline (Dice)", "",
                  f"Welch t-test over {len(seeds)} seeds per method; with so few seeds only large effects can "
                  "reach p < 0.05, and 'within the seed spread' means |Δ| ≤ the larger of the two stds.", "",
                  comparison, ""]
    parts += ["## L × k sweep of the seed RC", "",
              f"Seeds {tuple(config.study.sweep_seeds)}; diagnostics on {config.study.diagnostic_images} "
              f"source validation slices × {config.study.diagnostic_draws} draws (`train/study/diagnostics.py`).", "",
              f"![sweep]({rel}/sweep.png)", "", _sweep_section(sweep, source), "",
              "## Augmentation gallery", "", f"![gallery]({rel}/gallery.png)", "",
              "## Example predictions", "",
              f"Seed {seeds[0]}, the test subject with the largest lesion load per scanner; `{best}` is the RC "
              "method with the best source-validation Dice.", "", f"![predictions]({rel}/predictions.png)", "",
              "## Findings (generated from the numbers above)", "",
              "Unseen-mean Dice against the baseline:", ""]
    parts += [f"* {n}" for n in notes]
    hard = _hardest_shift_notes(results, source)
    if hard:
        parts += ["", hard[0], ""] + [f"* {n}" for n in hard[1:]]
    parts += ["", "A method whose source-validation Dice is far below the baseline's is underfitted at this "
              f"training length ({config.num_steps} steps), so its unseen-scanner Dice mixes the cost of the "
              "harder training task with any gain in robustness; longer training (e.g. `--config.num_steps`) "
              "separates the two."]
    return "\n".join(parts) + "\n"
