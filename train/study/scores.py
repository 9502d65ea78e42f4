"""Numbers the study reads from its runs' summaries: per-domain means, unseen-scanner means, sweep grids."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from train.data.phantom import SCANNERS

__all__ = ["best_by_validation", "domain_means", "ood_mean", "sweep_grids", "val_domain"]


def val_domain(source: str) -> str:
    """The domain name of the source scanner's validation split."""
    return f"{source} (validation)"


def domain_means(summary: Mapping, metric: str) -> dict[str, float]:
    """``{domain: mean of metric}`` of one run's ``summary.json`` (NaN where the metric has no value)."""
    out = {}
    for domain, stats in summary["per_domain"].items():
        s = stats.get(metric)
        out[domain] = float("nan") if s is None or s["mean"] is None else float(s["mean"])
    return out


def ood_mean(per_domain: Mapping[str, float], source: str) -> float:
    """The mean over the phantom scanners other than ``source`` (the unseen ones), ignoring NaN."""
    vals = [v for d, v in per_domain.items() if d != source and d in SCANNERS]
    return float(np.nanmean(vals)) if vals else float("nan")


def sweep_grids(sweep, source):
    """``(depths, kernel_sizes, grids)``: per sweep setting (L, k), the unseen-mean, validation and
    in-domain Dice (means over the setting's seeds) and the two diagnostics, as ``(L, k)`` arrays."""
    depths = sorted({s["depth"] for s in sweep})
    ks = sorted({s["kernel_size"] for s in sweep})
    grids = {n: np.full((len(depths), len(ks)), np.nan) for n in ("ood", "val", "id", "structure", "variety")}
    for s in sweep:
        i, j = depths.index(s["depth"]), ks.index(s["kernel_size"])
        per_seed = [domain_means(x, "dice") for x in s["summaries"]]
        grids["ood"][i, j] = np.nanmean([ood_mean(d, source) for d in per_seed])
        grids["val"][i, j] = np.nanmean([d.get(val_domain(source), np.nan) for d in per_seed])
        grids["id"][i, j] = np.nanmean([d.get(source, np.nan) for d in per_seed])
        grids["structure"][i, j] = s["structure"]
        grids["variety"][i, j] = s["variety"]
    return depths, ks, grids


def best_by_validation(results, source) -> str:
    """The RC method with the best mean source-validation Dice (never looks at unseen scanners)."""
    scores = {}
    for name, summaries in results.items():
        if name in ("baseline", "no_augmentation"):
            continue
        scores[name] = np.nanmean([domain_means(s, "dice").get(val_domain(source), np.nan) for s in summaries])
    return max(scores, key=lambda n: -np.inf if math.isnan(scores[n]) else scores[n]) if scores else "baseline"
