"""Metric writers: JSON lines and TensorBoard event files (tensorboardX; TensorFlow not needed).

Same call shape as clu's ``metric_writers``: ``write_scalars(step, {name: value})``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path

from train._io import write_text


class MetricWriter:
    """Appends ``{"step": s, **scalars}`` to ``<workdir>/metrics.jsonl`` and to a TensorBoard
    event file under ``<workdir>/tensorboard/``. Non-finite values are written as null (JSON).

    Args:
        workdir: the run's folder.
        start_step: the step training (re)starts from (the restored checkpoint's, 0 for a new
            run). Rows of an earlier run past it (written after its last checkpoint, before it was
            interrupted) are dropped from ``metrics.jsonl``, so every step appears once, and
            TensorBoard is told to discard its events past it (``purge_step``).
        tensorboard: also write the TensorBoard event file.
    """

    def __init__(self, workdir: str | os.PathLike, *, start_step: int = 0, tensorboard: bool = True):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        path = self.workdir / "metrics.jsonl"
        self.dropped = drop_rows_after(path, int(start_step)) if path.exists() else 0
        """Rows of ``metrics.jsonl`` past ``start_step`` that were dropped."""
        self._jsonl = open(path, "a", encoding="utf-8")  # noqa: SIM115
        self._tb = None
        if tensorboard:
            from tensorboardX import SummaryWriter

            purge = int(start_step) + 1 if self.dropped or start_step else None
            self._tb = SummaryWriter(str(self.workdir / "tensorboard"), flush_secs=30, purge_step=purge)

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


def drop_rows_after(path: str | os.PathLike, step: int) -> int:
    """Rewrites ``metrics.jsonl`` (atomically) without its rows past ``step``; returns how many went.

    A last line cut short (a process killed while writing it) is dropped too.
    """
    kept, dropped = [], 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                dropped += 1
                continue
            if int(row.get("step", 0)) <= step:
                kept.append(line if line.endswith("\n") else line + "\n")
            else:
                dropped += 1
    if dropped:
        write_text(path, "".join(kept))
    return dropped


def read_metrics(path: str | os.PathLike) -> list[dict]:
    """Rows of a ``metrics.jsonl`` file."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
