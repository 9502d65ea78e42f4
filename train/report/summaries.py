"""Aggregating per-case metric rows: per-domain / overall mean and std, ``summary.json``, text tables.

``summary.json`` follows nnU-Net's ``summary.json`` (``metric_per_case``, per-domain means; NaN
written as ``null``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from train._io import write_json

__all__ = ["TABLE_METRICS", "format_table", "summarize", "write_summary"]


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool | np.bool_)


def _stats(values: Sequence[float], ddof: int) -> dict[str, float]:
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[~np.isnan(arr)]
    n = int(arr.size)
    mean = float(arr.mean()) if n else math.nan
    std = float(arr.std(ddof=ddof)) if n > ddof else math.nan
    return {"mean": mean, "std": std, "n": n}


def summarize(rows: Iterable[Mapping[str, Any]], *, ddof: int = 0) -> dict[str, Any]:
    """Per-domain and overall mean / std of per-case metric rows.

    Args:
      rows: one mapping per case with keys ``"case"`` and ``"domain"`` (e.g. ``"in"`` / ``"out"`` or a scanner name)
        plus numeric metric values (e.g. the output of :func:`case_metrics`). Non-numeric extra fields are kept in
        the per-case list but not aggregated; a metric missing from a row counts as NaN for that row.
      ddof: delta degrees of freedom of the standard deviation. Default 0 (population std, ``numpy.nanstd``).

    Returns:
      ``{"metric_per_case": [row, ...], "metrics": [name, ...], "per_domain": {domain: {metric: {"mean", "std",
      "n"}}}, "overall": {metric: {"mean", "std", "n"}}}``. Means and stds ignore NaN (``nanmean`` / ``nanstd``);
      ``n`` is the number of non-NaN values; mean is NaN when ``n = 0`` and std is NaN when ``n <= ddof``. Domains
      and metrics keep their order of first appearance.
    """
    rows = [dict(r) for r in rows]
    metrics: list[str] = []
    domains: list[Any] = []
    for i, row in enumerate(rows):
        for key in ("case", "domain"):
            if key not in row:
                raise ValueError(f"rows[{i}] has no {key!r} key")
        if row["domain"] not in domains:
            domains.append(row["domain"])
        for k, v in row.items():
            if k not in ("case", "domain") and _is_number(v) and k not in metrics:
                metrics.append(k)

    def column(subset: list[dict[str, Any]], m: str) -> list[float]:
        return [float(r[m]) if _is_number(r.get(m)) else math.nan for r in subset]

    per_domain = {
        str(d): {m: _stats(column([r for r in rows if r["domain"] == d], m), ddof) for m in metrics} for d in domains
    }
    overall = {m: _stats(column(rows, m), ddof) for m in metrics}
    return {"metric_per_case": rows, "metrics": metrics, "per_domain": per_domain, "overall": overall}


def _jsonable(obj: Any) -> Any:
    """Recursively convert NumPy scalars/arrays to Python and non-finite floats to ``None``."""
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_summary(path: str | os.PathLike[str], summary: Mapping[str, Any]) -> None:
    """Write ``summary`` as JSON atomically; NaN and infinities become ``null``.

    Written atomically (:func:`train._io.write_json`: the destination folder is created if missing,
    readers never see a partial file), mode 0644.
    """
    write_json(path, _jsonable(summary))


TABLE_METRICS = ("dice", "ndsc", "lesion_f1", "lesion_tpr", "lesion_ppv")
"""The columns of :func:`format_table` by default."""


def format_table(summaries: Mapping[str, Mapping[str, Any]], metrics: Sequence[str] = TABLE_METRICS, *,
                 groups: Mapping[str, str] | None = None) -> str:
    """A per-domain text table (mean ± std over the domain's cases) of one or more runs' ``summary.json``
    contents; with ``groups`` (``{domain: group}``, e.g. :func:`train.data.sources.domain_groups`) a
    column says which group each domain belongs to (the source, a mild or a strong shift)."""
    header = ["run", "domain", *(["group"] if groups else []), "n"] + list(metrics)
    lines = []
    for run, summary in summaries.items():
        for domain, stats in summary["per_domain"].items():
            cells = [run, domain, *([groups.get(domain, "")] if groups else []),
                     str(next(iter(stats.values()))["n"]) if stats else "0"]
            for m in metrics:
                s = stats.get(m)
                cells.append(_mean_std(s))
            lines.append(cells)
    widths = [max(len(r[i]) for r in [header, *lines]) for i in range(len(header))]
    fmt = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True))  # noqa: E731
    return "\n".join([fmt(header), fmt(["-" * w for w in widths]), *map(fmt, lines)])


def _mean_std(stats: Mapping[str, Any] | None) -> str:
    mean = None if stats is None else stats.get("mean")
    if mean is None or not math.isfinite(mean):
        return "n/a"
    return f"{mean:.3f} ± {stats['std']:.3f}"
