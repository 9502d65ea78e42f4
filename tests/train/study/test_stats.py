"""Paired bootstrap intervals: against normal theory, invariances, and coverage."""

import numpy as np
import pytest

from train.study.stats import Interval, paired_bootstrap, paired_differences


def test_one_seed_interval_matches_the_normal_theory_interval_of_a_mean():
    rng = np.random.default_rng(0)
    d = rng.normal(0.03, 0.05, size=400)
    iv = paired_bootstrap({0: d}, n_boot=20_000)
    half = 1.96 * d.std() / np.sqrt(len(d))  # oracle: the CLT interval of the mean
    assert iv.mean == pytest.approx(d.mean())
    assert iv.low == pytest.approx(d.mean() - half, abs=0.15 * half)
    assert iv.high == pytest.approx(d.mean() + half, abs=0.15 * half)
    assert iv.n_seeds == 1 and iv.n_subjects == 400 and iv.excludes_zero()


def test_seed_variation_widens_the_interval_and_constant_differences_give_a_point():
    rng = np.random.default_rng(1)
    shifts = rng.normal(0, 0.05, size=5)  # training variation between seeds
    with_seeds = {s: shifts[s] + rng.normal(0, 0.01, size=16) for s in range(5)}
    without = {s: rng.normal(0, 0.01, size=16) for s in range(5)}
    wide, narrow = paired_bootstrap(with_seeds), paired_bootstrap(without)
    assert wide.high - wide.low > 3 * (narrow.high - narrow.low)
    point = paired_bootstrap({0: np.full(8, 0.2), 1: np.full(8, 0.2)})
    assert point.low == pytest.approx(0.2) and point.high == pytest.approx(0.2) and point.mean == pytest.approx(0.2)


def test_coverage_is_near_the_level():
    rng = np.random.default_rng(2)
    covered = 0
    for _ in range(200):  # true mean difference 0.0; five seeds with their own offsets
        data = {s: rng.normal(0, 0.03) + rng.normal(0, 0.05, size=16) for s in range(5)}
        iv = paired_bootstrap(data, n_boot=1000, seed=int(rng.integers(1 << 30)))
        covered += iv.low <= 0.0 <= iv.high
    assert 0.80 <= covered / 200 <= 0.99  # percentile intervals undercover a little with 5 clusters


def test_paired_differences_pair_by_seed_and_subject_and_skip_missing_values():
    method = {(0, "a"): 0.9, (0, "b"): 0.8, (1, "a"): 0.7, (1, "c"): float("nan")}
    base = {(0, "b"): 0.5, (0, "a"): 0.6, (1, "a"): 0.7, (1, "c"): 0.1, (2, "z"): 0.3}
    d = paired_differences(method, base)
    assert sorted(d) == [0, 1]
    np.testing.assert_allclose(d[0], [0.3, 0.3])
    np.testing.assert_allclose(d[1], [0.0])


def test_empty_and_bad_arguments():
    iv = paired_bootstrap({})
    assert np.isnan(iv.mean) and iv.text() == "n/a" and isinstance(iv, Interval)
    with pytest.raises(ValueError, match="level"):
        paired_bootstrap({0: [1.0]}, level=1.5)
    assert paired_bootstrap({0: [0.1, 0.3]}).text() .startswith("+0.200 [")
