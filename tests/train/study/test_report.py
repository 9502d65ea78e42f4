"""The study report's pieces, from per-case rows: mean ± std over seeds, group tables, paired intervals."""

import numpy as np
import pytest

from train.study.report import (
    PAPERS_COPIES,
    _convergence,
    _limits_of_the_plan,
    fmt,
    group_means,
    intervals,
    metric_table,
)

GROUPS = {"site_a_1.5t": "source", "site_b_3t": "mild shift", "site_e_3t_ti2500": "strong shift"}


def _rows(method, values):
    """values: {(seed, subject): (a, b, e)} Dice on the three scanners."""
    out = []
    for (seed, subject), vals in values.items():
        for domain, v in zip(GROUPS, vals, strict=True):
            out.append({"method": method, "seed": seed, "domain": domain, "group": GROUPS[domain],
                        "subject": subject, "dice": v, "ndsc": v, "lesion_f1": v})
    return out


def test_fmt_is_nan_aware_mean_and_population_std():
    assert fmt([0.5, 0.7, float("nan")]) == "0.600 ± 0.100"
    assert fmt([]) == "n/a" and fmt([float("nan")]) == "n/a"
    assert fmt([0.5, float("nan")]) == "0.500"  # one seed: no spread to show


def test_group_means_average_subjects_within_a_seed_then_seeds():
    rows = _rows("m", {(0, "s1"): (0.8, 0.6, 0.2), (0, "s2"): (0.6, 0.4, 0.0), (1, "s1"): (1.0, 0.5, 0.5)})
    # seed 0: mean over subjects 0.7; seed 1: 1.0 -> 0.85 ± 0.15
    assert group_means(rows, "dice", ["site_a_1.5t"]) == "0.850 ± 0.150"
    # unseen per subject: mean of b and e -> seed 0: (0.4 + 0.2) / 2 = 0.3, seed 1: 0.5
    assert group_means(rows, "dice", ["site_b_3t", "site_e_3t_ti2500"]) == "0.400 ± 0.100"
    lines = metric_table(rows, GROUPS, "dice").splitlines()
    assert lines[0] == "| method | seeds | in-domain | mild shift | strong shift | unseen |"
    assert lines[2] == "| m | 2 | 0.850 ± 0.150 | 0.500 ± 0.000 | 0.300 ± 0.200 | 0.400 ± 0.100 |"
    assert metric_table(rows, GROUPS, "dice", columns="scanners").splitlines()[0] == (
        "| method | seeds | site_a_1.5t | site_b_3t | site_e_3t_ti2500 |")


def test_intervals_are_paired_per_seed_and_subject():
    rng = np.random.default_rng(0)
    base, gain = {}, {}
    for seed in range(3):
        for i in range(20):
            a, b, e = rng.uniform(0.5, 0.9, size=3)
            base[(seed, f"s{i}")] = (a, b, e)
            gain[(seed, f"s{i}")] = (a - 0.05, b + 0.1, e + 0.1)  # exactly -0.05 in domain, +0.1 unseen
    rows = _rows("baseline", base) + _rows("rc", gain)
    iv = intervals(rows, GROUPS, "dice", n_boot=500)["rc"]
    # pairing removes the between-subject spread: the intervals are points at the exact differences
    assert iv["in-domain"].mean == pytest.approx(-0.05) and iv["in-domain"].high == pytest.approx(-0.05)
    assert iv["unseen"].mean == pytest.approx(0.1) and iv["unseen"].low == pytest.approx(0.1)
    assert iv["unseen"].n_seeds == 3 and iv["unseen"].n_subjects == 60


def test_limits_name_the_screening_seeds_and_fewer_copies_than_the_papers():
    plan = {"seeds": (0, 1, 2), "screen_seeds": (0,), "num_copies": 2}
    text = " ".join(_limits_of_the_plan(plan))
    assert "screening seeds (0,) only" in text and "2 augmented copies per image where the papers use 3" in text
    # every method on every seed, the papers' copies: neither limit applies
    assert _limits_of_the_plan({"seeds": (0, 1), "screen_seeds": (0, 1), "num_copies": PAPERS_COPIES}) == []


def test_convergence_gives_the_training_soft_dice_at_each_runs_best_step():
    meta = {"runs": [
        {"method": "a", "seed": 0, "steps": 600, "budget": 1000, "best_step": 200, "stopped_at": 600, "seconds": 60},
        {"method": "a", "seed": 1, "steps": 1000, "budget": 1000, "best_step": 900, "stopped_at": None,
         "seconds": 180},
        {"method": "b", "seed": 0, "steps": 400, "budget": 1000, "best_step": None, "stopped_at": 400, "seconds": 30},
    ]}
    curves = [{"method": "a", "seed": 0, "step": 200, "train_dice": 0.5},
              {"method": "a", "seed": 0, "step": 300, "train_dice": 0.99},  # after the best: not counted
              {"method": "a", "seed": 1, "step": 900, "train_dice": 0.7}]
    rows = {line.split(" | ")[0].strip("| "): line for line in _convergence(meta, curves).splitlines()[2:]}
    # a: 2 runs, 1 stopped, 1 used the budget, best 550 (200-900), soft Dice median 0.60 (0.50-0.70), 2.0 min
    assert rows["a"] == "| a | 2 | 1 | 1 | 550 (200–900) | 0.60 (0.50–0.70) | 2.0 |"
    assert rows["b"] == "| b | 1 | 1 | 0 | n/a | n/a | 0.5 |"
