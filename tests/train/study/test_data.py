"""The study's data files: rows from summaries and metrics, written and read back without loss."""

import json
import math

import pytest

from train.study.data import CASE_COLUMNS, CURVE_COLUMNS, case_rows, curve_rows, read_csv, write_csv


def test_case_rows_round_trip_through_csv(tmp_path):
    summary = {"metric_per_case": [
        {"case": "phantom_0000", "domain": "site_a_1.5t", "dice": 0.8123456789, "ndsc": 0.7, "lesion_f1": None},
        {"case": "phantom_0000", "domain": "site_a_1.5t (validation)", "dice": 0.5, "ndsc": 0.4, "lesion_f1": 1.0},
    ]}
    rows = case_rows(summary, method="rc + js", seed=3, groups={"site_a_1.5t": "source"})
    assert [r["group"] for r in rows] == ["source", "validation"] and math.isnan(rows[0]["lesion_f1"])
    path = write_csv(tmp_path / "cases.csv", rows, CASE_COLUMNS)
    back = read_csv(path, CASE_COLUMNS)
    assert back[0]["dice"] == pytest.approx(0.812346, abs=1e-9)  # 6 significant digits
    assert back[1] == rows[1] and back[0]["seed"] == 3 and math.isnan(back[0]["lesion_f1"])
    with pytest.raises(ValueError, match="cases.csv: expected the columns"):
        read_csv(path, CURVE_COLUMNS)


def test_curve_rows_keep_the_validation_steps_only(tmp_path):
    lines = [{"step": 50, "loss": 0.9, "dice": 0.1}, {"step": 100, "loss": 0.5, "dice": 0.55, "val_dice": 0.61},
             {"step": 200, "loss": 0.4, "val_dice": None}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    rows = curve_rows(tmp_path / "metrics.jsonl", method="baseline", seed=0)
    assert [r["step"] for r in rows] == [100, 200] and rows[0]["val_dice"] == 0.61 and math.isnan(rows[1]["val_dice"])
    assert rows[0]["train_dice"] == 0.55 and math.isnan(rows[1]["train_dice"])  # the training batches' soft Dice
    back = read_csv(write_csv(tmp_path / "c.csv", rows, CURVE_COLUMNS), CURVE_COLUMNS)
    assert back[0] == rows[0]
