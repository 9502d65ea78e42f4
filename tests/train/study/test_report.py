"""The study report's pieces: mean ± std over seeds, Welch's test against its formula, the metric table."""

import math

import numpy as np
import pytest
from scipy import special

from train.study.report import fmt, metric_table, welch_p
from train.study.scores import val_domain


def test_fmt_is_nan_aware_mean_and_population_std():
    assert fmt([0.5, 0.7, float("nan")]) == "0.600 ± 0.100"
    assert fmt([]) == "n/a" and fmt([float("nan")]) == "n/a"


def _welch_oracle(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    t = (a.mean() - b.mean()) / math.sqrt(va + vb)
    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return 2 * special.stdtr(dof, -abs(t))  # two-sided, Welch-Satterthwaite degrees of freedom


def test_welch_p_against_its_formula():
    a, b = [0.61, 0.64, 0.58], [0.52, 0.55, 0.57, 0.50]
    assert welch_p(a, b) == pytest.approx(_welch_oracle(a, b), rel=1e-9)
    assert math.isnan(welch_p([0.5], b)) and math.isnan(welch_p([0.5, 0.5], [0.5, 0.5]))


def test_metric_table_rows_per_method_with_the_unseen_mean():
    def s(a, e):
        return {"per_domain": {"site_a_1.5t": {"dice": {"mean": a}}, "site_e_3t_ti2500": {"dice": {"mean": e}},
                               val_domain("site_a_1.5t"): {"dice": {"mean": 0.5}}}}

    text = metric_table({"baseline": [s(0.8, 0.2), s(0.6, 0.4)]}, "site_a_1.5t", "dice")
    lines = text.splitlines()
    assert lines[0].startswith("| method | site_a_1.5t (in-domain) | site_b_3t")
    row = lines[2].split(" | ")
    assert row[0] == "| baseline" and row[1] == "0.700 ± 0.100"
    assert row[-1] == "0.300 ± 0.100 |"  # unseen mean per seed: 0.2 and 0.4 (only site_e has values)
