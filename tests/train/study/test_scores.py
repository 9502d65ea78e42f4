"""The study's numbers from summaries: per-domain means, the unseen-scanner mean, sweep grids, and the
choice by source validation only."""

import math

import numpy as np

from train.study.scores import best_by_validation, domain_means, ood_mean, sweep_grids, val_domain

SOURCE = "site_a_1.5t"


def _s(source, b, e, val):
    return {"per_domain": {SOURCE: {"dice": {"mean": source}}, "site_b_3t": {"dice": {"mean": b}},
                           "site_e_3t_ti2500": {"dice": {"mean": e}}, val_domain(SOURCE): {"dice": {"mean": val}}}}


def test_domain_and_unseen_means():
    s = _s(0.8, 0.6, 0.2, 0.7)
    s["per_domain"]["site_c_1.5t_se"] = {"dice": {"mean": None}}  # no value (written as null)
    means = domain_means(s, "dice")
    assert means[SOURCE] == 0.8 and math.isnan(means["site_c_1.5t_se"])
    assert ood_mean(means, SOURCE) == np.mean([0.6, 0.2])  # unseen scanners only, NaN ignored
    assert math.isnan(ood_mean({SOURCE: 0.9}, SOURCE))


def test_the_choice_looks_at_source_validation_only():
    results = {"baseline": [_s(0.9, 0.9, 0.9, 0.99)], "rc_a": [_s(0.5, 0.9, 0.9, 0.6), _s(0.5, 0.9, 0.9, 0.8)],
               "rc_b": [_s(0.9, 0.1, 0.1, 0.75)]}
    assert best_by_validation(results, SOURCE) == "rc_b"  # 0.75 > mean(0.6, 0.8) = 0.7; unseen Dice ignored
    assert best_by_validation({"baseline": results["baseline"]}, SOURCE) == "baseline"


def test_sweep_grids_place_each_setting():
    sweep = [{"depth": d, "kernel_size": k, "summaries": [_s(0.1 * d, 0.01 * k, 0.03 * k, 0.5)],
              "structure": d + k, "variety": d * k} for d in (1, 3) for k in (1, 5)]
    depths, ks, g = sweep_grids(sweep, SOURCE)
    assert depths == [1, 3] and ks == [1, 5]
    np.testing.assert_allclose(g["structure"], [[2, 6], [4, 8]])
    np.testing.assert_allclose(g["ood"], [[0.02, 0.1], [0.02, 0.1]])
    np.testing.assert_allclose(g["id"], [[0.1, 0.1], [0.3, 0.3]])
    np.testing.assert_allclose(g["val"], 0.5)
