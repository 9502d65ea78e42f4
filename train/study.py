"""Domain-generalization study: does RC help out of domain, and which depth L and kernel size k?

``python -m train.study --config train/configs/study_2d.py --workdir DIR``

1. Every method of ``config.study.methods`` is trained on the source scanner with each seed of
   ``config.study.seeds`` and evaluated on held-out subjects of every scanner and on a
   validation split of the source scanner.
2. The seed RC is swept over ``sweep_depths`` x ``sweep_kernel_sizes``; for each setting two
   training-free diagnostics (:mod:`train.diagnostics`) are computed on the augmented images.
   L and k are chosen (a) by the training-free rule "maximize structure x variety" and (b) by
   Dice on the source validation split; the unseen scanners are only looked at afterwards.
3. The report (``config.study.report``, default ``docs/results.md``) is written with the tables,
   the sweep heatmaps, an augmentation gallery and example predictions (PNGs next to it).

Runs are resumable: a run whose ``summary.json`` exists is not trained again.
"""

from __future__ import annotations

import contextlib
import datetime
import importlib.metadata
import json
import math
import os
import platform
import shlex
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import ml_collections
import numpy as np

from train.augment import make_augment
from train.data import SCANNERS, phantom_cases, preprocess_case
from train.diagnostics import augmentation_diagnostics
from train.intensity import nnunet_intensity
from train.plots import new_figure
from train.train import evaluate, evaluation_domains, predict_case, train

VAL_SEED_OFFSET = 2_000_029
"""Source validation subjects use ``seed + VAL_SEED_OFFSET``: neither training nor test subjects."""
METRICS = ("dice", "ndsc", "lesion_f1")
METRIC_NAMES = {"dice": "Dice", "ndsc": "nDSC", "lesion_f1": "lesion F1"}


def _val_domain(source: str) -> str:
    return f"{source} (validation)"


def run_config(base: ml_collections.ConfigDict, method: Mapping[str, Any], seed: int) -> ml_collections.ConfigDict:
    """The training config of one (method, seed) run."""
    cfg = ml_collections.ConfigDict(base.to_dict())
    del cfg["study"]
    cfg.seed = int(seed)
    cfg.variants = ()
    cfg.intensity_augment = bool(method["intensity"])
    cfg.randconv.preset = method["preset"]
    cfg.randconv.overrides = dict(method.get("overrides") or {})
    return cfg


def _domains_for_seed(cfg: ml_collections.ConfigDict, n_val: int) -> dict:
    domains = dict(evaluation_domains(cfg))
    source = cfg.data.source
    val = phantom_cases(source, n=n_val, dims=int(cfg.data.dims), shape=tuple(cfg.data.shape),
                        seed=int(cfg.seed) + VAL_SEED_OFFSET, channels=tuple(cfg.data.channels))
    domains[_val_domain(source)] = [(c, preprocess_case(c)) for c in val]
    return domains


def run_one(cfg: ml_collections.ConfigDict, run_dir: Path, domains: Mapping) -> dict:
    """Trains and evaluates one run, or loads its ``summary.json`` if it finished before."""
    summary_path = run_dir / "summary.json"
    if summary_path.exists():
        return json.loads(summary_path.read_text())
    result = train(cfg, run_dir, progress=False, resume=(run_dir / "checkpoints").exists())
    return evaluate(result.graphdef, result.state.params, domains, cfg, run_dir)


def _run_seconds(run_dir: Path) -> float:
    """Wall time of one run (training + evaluation): from its ``config.json`` (written when training
    starts) to its ``summary.json`` (written when evaluation ends)."""
    try:
        return max(0.0, (run_dir / "summary.json").stat().st_mtime - (run_dir / "config.json").stat().st_mtime)
    except FileNotFoundError:
        return 0.0


def _domain_means(summary: Mapping, metric: str) -> dict[str, float]:
    out = {}
    for domain, stats in summary["per_domain"].items():
        s = stats.get(metric)
        out[domain] = float("nan") if s is None or s["mean"] is None else float(s["mean"])
    return out


def _ood_mean(per_domain: Mapping[str, float], source: str) -> float:
    vals = [v for d, v in per_domain.items() if d != source and d in SCANNERS]
    return float(np.nanmean(vals)) if vals else float("nan")


def _fmt(values: Sequence[float]) -> str:
    v = np.asarray(values, float)
    if v.size == 0 or np.all(np.isnan(v)):
        return "n/a"
    return f"{np.nanmean(v):.3f} ± {np.nanstd(v):.3f}"


def _welch_p(a: Sequence[float], b: Sequence[float]) -> float:
    from scipy import stats

    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2 or len(b) < 2 or (np.std(a) == 0 and np.std(b) == 0):
        return float("nan")
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def run_study(config: ml_collections.ConfigDict, workdir: str | os.PathLike, *, command: str = "") -> Path:
    """Runs the whole study (module docstring) and writes the report; returns its path."""
    t_start = time.perf_counter()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
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
            method = {"preset": "random_conv", "intensity": True, "overrides": {"depth": int(depth),
                                                                              "kernel_size": int(k)}}
            dirs = [workdir / "sweep" / f"L{depth}_k{k}" / f"seed{s}" for s in st.sweep_seeds]
            run_dirs.extend(dirs)
            summaries = [run_one(run_config(config, method, s), d, domains(int(s)))
                         for s, d in zip(st.sweep_seeds, dirs, strict=True)]
            diag = _diagnostics(config, method, domains(seeds[0]))
            sweep.append({"depth": int(depth), "kernel_size": int(k), "summaries": summaries, **diag})
            print(f"[study] sweep L={depth} k={k}: done ({time.perf_counter() - t_start:.0f} s)", flush=True)

    report = Path(st.report) if st.report else workdir / "results.md"
    report.parent.mkdir(parents=True, exist_ok=True)
    figures = report.parent / "results"
    figures.mkdir(exist_ok=True)
    _plot_sweep(sweep, source, figures / "sweep.png")
    _plot_gallery(config, domains(seeds[0])[_val_domain(source)][0][1], figures / "gallery.png")
    best = _best_by_validation(results, source)
    _plot_predictions(config, workdir, seeds[0], best, domains(seeds[0]), figures / "predictions.png")
    wall = time.perf_counter() - t_start
    runs_s = sum(_run_seconds(d) for d in run_dirs)
    text = _report(config, results, sweep, best, command=command, wall_s=wall, runs_s=runs_s, figures=figures,
                   report=report)
    tmp = report.with_name(report.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, report)
    return report


# ----------------------------------------------------------------------------- diagnostics and figures


def _diagnostics(config, method, domains) -> dict[str, float]:
    pairs = domains[_val_domain(config.data.source)][: int(config.study.diagnostic_images)]
    aug = make_augment(method["preset"], **dict(method["overrides"]))
    return augmentation_diagnostics(jax.random.key(123), aug.one, [p.image for _, p in pairs],
                                    [p.mask for _, p in pairs], draws=int(config.study.diagnostic_draws))


def _sweep_grids(sweep, source):
    depths = sorted({s["depth"] for s in sweep})
    ks = sorted({s["kernel_size"] for s in sweep})
    grids = {n: np.full((len(depths), len(ks)), np.nan) for n in ("ood", "val", "id", "structure", "variety")}
    for s in sweep:
        i, j = depths.index(s["depth"]), ks.index(s["kernel_size"])
        per_seed = [_domain_means(x, "dice") for x in s["summaries"]]
        grids["ood"][i, j] = np.nanmean([_ood_mean(d, source) for d in per_seed])
        grids["val"][i, j] = np.nanmean([d.get(_val_domain(source), np.nan) for d in per_seed])
        grids["id"][i, j] = np.nanmean([d.get(source, np.nan) for d in per_seed])
        grids["structure"][i, j] = s["structure"]
        grids["variety"][i, j] = s["variety"]
    return depths, ks, grids




def _plot_sweep(sweep, source, path: Path) -> None:
    depths, ks, g = _sweep_grids(sweep, source)
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
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def _plot_gallery(config, case, path: Path, draws: int = 4) -> None:
    methods = [(n, m) for n, m in config.study.methods.items() if m["preset"] != "none" or m["intensity"]]
    fig = new_figure(figsize=(1.8 * (draws + 1), 1.8 * len(methods)))
    axes = fig.subplots(len(methods), draws + 1, squeeze=False)
    image, mask = case.image, case.mask
    for row, (name, m) in zip(axes, methods, strict=True):
        if m["preset"] == "none":
            fn = lambda k, x, mask: nnunet_intensity(k, x, mask)  # noqa: E731
        else:
            fn = make_augment(m["preset"], **dict(m["overrides"])).one
        row[0].imshow(image[..., 0], cmap="gray")
        row[0].set_ylabel(name, fontsize=7)
        for j in range(draws):
            out = np.asarray(fn(jax.random.key(j), image, mask=mask))
            row[j + 1].imshow(out[..., 0], cmap="gray")
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0][0].set_title("input (FLAIR)", fontsize=7)
    for j in range(draws):
        axes[0][j + 1].set_title(f"draw {j + 1}", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=60)


def _best_by_validation(results, source) -> str:
    """The RC method with the best mean source-validation Dice (never looks at unseen scanners)."""
    scores = {}
    for name, summaries in results.items():
        if name in ("baseline", "no_augmentation"):
            continue
        scores[name] = np.nanmean([_domain_means(s, "dice").get(_val_domain(source), np.nan) for s in summaries])
    return max(scores, key=lambda n: -np.inf if math.isnan(scores[n]) else scores[n]) if scores else "baseline"


def _plot_predictions(config, workdir: Path, seed: int, best: str, domains, path: Path) -> None:
    from train.predict import load_model
    from train.step import make_predict_fn

    shown = [n for n in ("baseline", best) if (workdir / "runs" / n / f"seed{seed}").exists()]
    models = {}
    for n in shown:
        graphdef, params, cfg, _ = load_model(workdir / "runs" / n / f"seed{seed}")
        models[n] = (jax.jit(make_predict_fn(graphdef)), params, cfg)
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
    fig.tight_layout()
    fig.savefig(path, dpi=90)


# ----------------------------------------------------------------------------- report


def _versions() -> str:
    names = ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "grain", "numpy", "scipy")
    out = []
    for n in names:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            out.append(f"{n} {importlib.metadata.version(n)}")
    return ", ".join(out)


def _metric_table(results, source, metric) -> str:
    unseen = [d for d in SCANNERS if d != source]
    head = ["method", f"{source} (in-domain)", *unseen, "unseen mean"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, summaries in results.items():
        per_seed = [_domain_means(s, metric) for s in summaries]
        cells = [name, _fmt([d.get(source, np.nan) for d in per_seed])]
        cells += [_fmt([d.get(u, np.nan) for d in per_seed]) for u in unseen]
        cells.append(_fmt([_ood_mean(d, source) for d in per_seed]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _hardest_shift_notes(results, source) -> list[str]:
    """Per method, Δ Dice vs the baseline on the unseen scanner where the baseline is worst, and the
    source-validation Dice (a method far below the baseline there is underfitted, not only shifted)."""
    base = [_domain_means(s, "dice") for s in results.get("baseline", [])]
    unseen = [d for d in SCANNERS if d != source and base and d in base[0]]
    if not unseen:
        return []
    hardest = min(unseen, key=lambda d: np.nanmean([b.get(d, np.nan) for b in base]))
    b_h = [b.get(hardest, np.nan) for b in base]
    b_v = np.nanmean([b.get(_val_domain(source), np.nan) for b in base])
    notes = [f"Hardest unseen scanner for the baseline: `{hardest}` (Dice {_fmt(b_h)}); source-validation "
             f"Dice of the baseline {b_v:.3f}."]
    for name, summaries in results.items():
        if name == "baseline":
            continue
        per = [_domain_means(s, "dice") for s in summaries]
        m_h = [d.get(hardest, np.nan) for d in per]
        m_v = np.nanmean([d.get(_val_domain(source), np.nan) for d in per])
        notes.append(f"{name} on `{hardest}`: {_fmt(m_h)} (Δ {np.nanmean(m_h) - np.nanmean(b_h):+.3f}, Welch p "
                     f"{_welch_p(m_h, b_h):.3f}); source-validation Dice {m_v:.3f} (Δ {m_v - b_v:+.3f})")
    return notes


def _comparison(results, source) -> tuple[str, list[str]]:
    base = [_domain_means(s, "dice") for s in results.get("baseline", [])]
    if not base:
        return "", []
    b_id = [d.get(source, np.nan) for d in base]
    b_ood = [_ood_mean(d, source) for d in base]
    lines = ["| method | Δ in-domain Dice | p (Welch) | Δ unseen-mean Dice | p (Welch) | verdict |",
             "|---|---|---|---|---|---|"]
    notes = []
    for name, summaries in results.items():
        if name == "baseline":
            continue
        per = [_domain_means(s, "dice") for s in summaries]
        m_id = [d.get(source, np.nan) for d in per]
        m_ood = [_ood_mean(d, source) for d in per]
        d_id, d_ood = np.nanmean(m_id) - np.nanmean(b_id), np.nanmean(m_ood) - np.nanmean(b_ood)
        p_id, p_ood = _welch_p(m_id, b_id), _welch_p(m_ood, b_ood)
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

    depths, ks, g = _sweep_grids(sweep, source)
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


def _report(config, results, sweep, best, *, command, wall_s, runs_s, figures: Path, report: Path) -> str:
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
        "Written by `train/study.py`; do not edit by hand. Reproduce with:",
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
        "(`train/intensity.py`); `baseline` is those alone.",
        "",
        "Methods:",
        "",
        methods,
        "",
    ]
    for metric in METRICS:
        parts += [f"## {METRIC_NAMES[metric]}", "", _metric_table(results, source, metric), ""]
    if comparison:
        parts += ["## Against the baseline (Dice)", "",
                  f"Welch t-test over {len(seeds)} seeds per method; with so few seeds only large effects can "
                  "reach p < 0.05, and 'within the seed spread' means |Δ| ≤ the larger of the two stds.", "",
                  comparison, ""]
    parts += ["## L × k sweep of the seed RC", "",
              f"Seeds {tuple(config.study.sweep_seeds)}; diagnostics on {config.study.diagnostic_images} "
              f"source validation slices × {config.study.diagnostic_draws} draws (`train/diagnostics.py`).", "",
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


def main(argv: Sequence[str] | None = None) -> None:
    from absl import app, flags, logging
    from ml_collections import config_flags

    flags.DEFINE_string("workdir", None, "Folder for the study's runs.")
    config_flags.DEFINE_config_file("config", None, "train/configs/study_2d.py (or :smoke).", lock_config=True)
    flags.mark_flags_as_required(["config", "workdir"])

    def _main(args):
        if not flags.FLAGS["verbosity"].present:
            logging.set_verbosity(logging.WARNING)
        command = "python -m train.study " + " ".join(shlex.quote(a) for a in args[0:1] and sys.argv[1:])
        path = run_study(flags.FLAGS.config, flags.FLAGS.workdir, command=command)
        print(f"report: {path}")

    app.run(_main, argv=argv)


if __name__ == "__main__":
    main()
