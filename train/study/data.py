"""The study's results as data: per-case metrics and validation curves, written as CSV and read back.

``docs/results/<study>_cases.csv`` (one row per method, seed, domain and test subject) and
``<study>_curves.csv`` (one row per method, seed and validation step) hold everything the report's
tables, intervals and curve figures are computed from, so :func:`train.study.report.render_report`
regenerates ``docs/results.md`` from them without retraining (``python -m train.study.report``).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from train._io import write_text
from train.report.writers import read_metrics

__all__ = ["CASE_COLUMNS", "CURVE_COLUMNS", "case_rows", "curve_rows", "read_csv", "write_csv"]

CASE_COLUMNS = ("method", "seed", "domain", "group", "subject", "dice", "ndsc", "lesion_f1")
CURVE_COLUMNS = ("method", "seed", "step", "val_dice", "loss", "train_dice")
"""``loss`` and ``train_dice`` (the soft Dice on the augmented training batches) are the means over
the logging interval that ends at ``step``."""
_NUMERIC = {"seed": int, "step": int, "dice": float, "ndsc": float, "lesion_f1": float, "val_dice": float,
            "loss": float, "train_dice": float}


def case_rows(summary: Mapping[str, Any], *, method: str, seed: int, groups: Mapping[str, str]) -> list[dict]:
    """The per-case rows of one run's ``summary.json`` (:func:`train.evaluate.evaluate`), with the
    method, the seed and each domain's group (``groups``; a domain not in it is ``"validation"``)."""
    out = []
    for row in summary["metric_per_case"]:
        domain = str(row["domain"])
        out.append({"method": method, "seed": int(seed), "domain": domain, "group": groups.get(domain, "validation"),
                    "subject": str(row["case"]), **{m: _number(row.get(m)) for m in ("dice", "ndsc", "lesion_f1")}})
    return out


def curve_rows(metrics_jsonl: str | os.PathLike, *, method: str, seed: int) -> list[dict]:
    """The validation rows (``val_dice``) of one run's ``metrics.jsonl``, with its training loss and
    soft Dice on the training batches (``dice`` there)."""
    return [{"method": method, "seed": int(seed), "step": int(r["step"]), "val_dice": _number(r.get("val_dice")),
             "loss": _number(r.get("loss")), "train_dice": _number(r.get("dice"))}
            for r in read_metrics(metrics_jsonl) if "val_dice" in r]


def _number(v: Any) -> float:
    return float("nan") if v is None else float(v)


def write_csv(path: str | os.PathLike, rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> Path:
    """Writes ``rows`` as CSV with ``columns`` (atomically; floats with 6 significant digits, NaN empty)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n", extrasaction="raise")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if isinstance(v, float) and math.isnan(v) else f"{v:.6g}" if isinstance(v, float)
                             else v) for k, v in row.items()})
    return write_text(Path(path), buf.getvalue())


def read_csv(path: str | os.PathLike, columns: Sequence[str]) -> list[dict]:
    """Rows of a CSV written by :func:`write_csv`, numbers parsed (empty = NaN).

    Raises:
        ValueError: the header is not ``columns`` (names the file).
    """
    path = Path(path)
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != tuple(columns):
            raise ValueError(f"{path}: expected the columns {list(columns)}, got {reader.fieldnames}")
        return [{k: (_NUMERIC[k](v) if v != "" else float("nan")) if k in _NUMERIC else v for k, v in row.items()}
                for row in reader]


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Writes ``obj`` as indented JSON (atomically)."""
    return write_text(Path(path), json.dumps(obj, indent=2, sort_keys=True) + "\n")
