"""Metric writers: JSON lines and TensorBoard event files (tensorboardX; TensorFlow not needed).

Same call shape as clu's ``metric_writers``: ``write_scalars(step, {name: value})``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path


class MetricWriter:
    """Appends ``{"step": s, **scalars}`` to ``<workdir>/metrics.jsonl`` and to a TensorBoard
    event file under ``<workdir>/tensorboard/``. Non-finite values are written as null (JSON)."""

    def __init__(self, workdir: str | os.PathLike, *, tensorboard: bool = True):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._jsonl = open(self.workdir / "metrics.jsonl", "a", encoding="utf-8")  # noqa: SIM115
        self._tb = None
        if tensorboard:
            from tensorboardX import SummaryWriter

            self._tb = SummaryWriter(str(self.workdir / "tensorboard"), flush_secs=30)

    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        row = {"step": int(step)}
        for name, value in scalars.items():
            value = float(value)
            row[name] = value if math.isfinite(value) else None
            if self._tb is not None:
                self._tb.add_scalar(name, value, int(step))
        self._jsonl.write(json.dumps(row) + "\n")
        self._jsonl.flush()

    def close(self) -> None:
        self._jsonl.close()
        if self._tb is not None:
            self._tb.close()

    def __enter__(self) -> MetricWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_metrics(path: str | os.PathLike) -> list[dict]:
    """Rows of a ``metrics.jsonl`` file."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
