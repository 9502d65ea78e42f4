"""Per-domain / overall summaries and the atomic summary.json writer."""

import json
import math

import numpy as np
import pytest

from train.report.summaries import format_table, summarize, write_summary


def _rows():
    return [
        {"case": "a", "domain": "in", "dice": 0.5, "f1": 1.0},
        {"case": "b", "domain": "in", "dice": 0.7, "f1": float("nan")},
        {"case": "c", "domain": "out", "dice": 0.2, "f1": 0.0, "note": "scanner X"},
        {"case": "d", "domain": "in", "dice": 0.9},
    ]


def test_summarize_hand_values():
    s = summarize(_rows())
    assert s["metrics"] == ["dice", "f1"]
    assert [r["case"] for r in s["metric_per_case"]] == ["a", "b", "c", "d"]
    assert list(s["per_domain"]) == ["in", "out"]
    din = s["per_domain"]["in"]
    assert din["dice"]["mean"] == pytest.approx(0.7) and din["dice"]["n"] == 3
    assert din["dice"]["std"] == pytest.approx(math.sqrt((0.04 + 0 + 0.04) / 3))
    assert din["f1"] == {"mean": 1.0, "std": 0.0, "n": 1}
    assert s["per_domain"]["out"]["dice"] == {"mean": pytest.approx(0.2), "std": 0.0, "n": 1}
    assert s["overall"]["dice"]["mean"] == pytest.approx(0.575) and s["overall"]["dice"]["n"] == 4
    assert s["overall"]["f1"]["mean"] == pytest.approx(0.5) and s["overall"]["f1"]["n"] == 2
    s1 = summarize(_rows(), ddof=1)
    assert s1["per_domain"]["in"]["dice"]["std"] == pytest.approx(0.2)
    assert math.isnan(s1["per_domain"]["in"]["f1"]["std"])
    with pytest.raises(ValueError, match="domain"):
        summarize([{"case": "x", "dice": 1.0}])


def test_write_summary_round_trip(tmp_path):
    s = summarize(_rows())
    s["extra"] = {"arr": np.array([1.0, np.nan]), "i": np.int64(3), "inf": float("inf")}
    path = tmp_path / "sub" / "summary.json"
    write_summary(path, s)
    write_summary(path, s)  # overwrite in place
    loaded = json.loads(path.read_text())
    assert loaded["metric_per_case"][1]["f1"] is None
    assert loaded["extra"] == {"arr": [1.0, None], "i": 3, "inf": None}
    assert loaded["per_domain"]["in"]["dice"]["n"] == 3
    assert loaded["overall"]["dice"]["mean"] == pytest.approx(0.575)
    assert [p.name for p in path.parent.iterdir()] == ["summary.json"]  # no temp file left behind


def test_format_table_marks_each_domains_group():
    s = summarize(_rows())
    plain = format_table({"run1": s}, metrics=("dice",)).splitlines()
    assert plain[0].split() == ["run", "domain", "n", "dice"]
    assert plain[2].split() == ["run1", "in", "3", "0.700", "±", "0.163"]
    grouped = format_table({"run1": s}, metrics=("dice",), groups={"in": "source", "out": "strong shift"})
    lines = grouped.splitlines()
    assert lines[0].split() == ["run", "domain", "group", "n", "dice"]
    assert lines[2].split()[:4] == ["run1", "in", "source", "3"]
    assert lines[3].split()[:5] == ["run1", "out", "strong", "shift", "1"]
