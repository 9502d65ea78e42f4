"""Paired differences against the baseline, with bootstrap confidence intervals over seeds and subjects.

A study's unit of comparison is one test subject of one seed: every method of a seed is evaluated on
the same subjects (the phantom draws them from the seed), so ``method - baseline`` is a paired
difference per ``(seed, subject)``. Seeds differ in training (initialization, batches, augmentation
draws) and in their test subjects, so both are sources of variation: :func:`paired_bootstrap`
resamples seeds with replacement and, inside each drawn seed, its subjects with replacement (the
two-stage bootstrap of Davison & Hinkley, *Bootstrap Methods and their Application*, 1997, §3.8),
and reports the percentile interval of the mean difference.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["Interval", "paired_bootstrap", "paired_differences"]


@dataclasses.dataclass(frozen=True)
class Interval:
    """A mean difference with its bootstrap percentile interval.

    Attributes:
        mean: the mean over seeds of each seed's mean difference over subjects (seeds weigh alike).
        low, high: the ``level`` percentile interval (NaN without data).
        n_seeds, n_subjects: seeds and ``(seed, subject)`` pairs behind it.
        level: the interval's coverage (0.95).
    """

    mean: float
    low: float
    high: float
    n_seeds: int
    n_subjects: int
    level: float = 0.95

    def excludes_zero(self) -> bool:
        """The interval lies entirely above or below 0."""
        return bool(self.low > 0 or self.high < 0)

    def text(self, digits: int = 3) -> str:
        """``"+0.012 [-0.003, +0.027]"``, or ``"n/a"``."""
        if not np.isfinite(self.mean):
            return "n/a"
        return f"{self.mean:+.{digits}f} [{self.low:+.{digits}f}, {self.high:+.{digits}f}]"


def paired_differences(method: Mapping[tuple[int, str], float],
                       baseline: Mapping[tuple[int, str], float]) -> dict[int, np.ndarray]:
    """``{seed: differences (n,) float64}`` of ``method - baseline`` over the ``(seed, subject)`` keys both
    have a finite value for (sorted by subject, so the result does not depend on dict order)."""
    out: dict[int, list[float]] = {}
    for key in sorted(set(method) & set(baseline)):
        a, b = float(method[key]), float(baseline[key])
        if np.isfinite(a) and np.isfinite(b):
            out.setdefault(int(key[0]), []).append(a - b)
    return {s: np.asarray(v, np.float64) for s, v in out.items()}


def paired_bootstrap(differences: Mapping[int, Sequence[float]], *, n_boot: int = 10_000, level: float = 0.95,
                     seed: int = 0) -> Interval:
    """The mean paired difference and its two-stage bootstrap percentile interval (module docstring).

    Args:
        differences: ``{seed: per-subject differences}`` (:func:`paired_differences`); empty seeds are ignored.
        n_boot: bootstrap replicates.
        level: coverage of the interval, in (0, 1).
        seed: of the resampling (NumPy ``default_rng``), so a report is reproducible.

    With one seed only the subjects are resampled (the interval then ignores training variation, and
    says so through ``n_seeds``).
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    groups = [np.asarray(v, np.float64) for _, v in sorted(differences.items()) if len(v)]
    n_subjects = sum(len(g) for g in groups)
    if not groups:
        return Interval(float("nan"), float("nan"), float("nan"), 0, 0, level)
    mean = float(np.mean([g.mean() for g in groups]))
    rng = np.random.default_rng(seed)
    k = len(groups)
    picks = rng.integers(0, k, size=(n_boot, k)) if k > 1 else np.zeros((n_boot, 1), int)
    replicate = np.zeros(n_boot)
    for i in range(k):  # slot i of every replicate: seed picks[:, i], its subjects resampled afresh
        for j, g in enumerate(groups):
            means = g[rng.integers(0, len(g), size=(n_boot, len(g)))].mean(axis=1)
            replicate += np.where(picks[:, i] == j, means, 0.0)
    replicate /= k
    alpha = (1 - level) / 2
    low, high = np.quantile(replicate, [alpha, 1 - alpha])
    return Interval(mean, float(low), float(high), k, n_subjects, level)
