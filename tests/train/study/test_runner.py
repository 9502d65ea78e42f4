"""The study runner end to end at smoke size: the choice, the data files, the report regenerated from them,
and resumability."""

import json

import pytest

import train.study.runner as runner
from train.configs import study_2d
from train.study import run_study
from train.study.data import CASE_COLUMNS, read_csv
from train.study.report import main as report_main


def test_study_smoke_writes_data_and_a_report_that_regenerates_and_resumes(tmp_path, monkeypatch, capsys):
    config = study_2d.get_config("smoke")
    command = "python -m train.study --config train/configs/study_2d.py:smoke"
    real_run_one = runner.run_one

    def interrupted(cfg, run_dir, domains):
        if "consistency" in run_dir.parent.name:
            raise KeyboardInterrupt  # the study stops after the screening runs
        return real_run_one(cfg, run_dir, domains)

    monkeypatch.setattr(runner, "run_one", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_study(config, tmp_path, command=command)
    partial = (tmp_path / "results.md").read_text()  # the finished runs' data and report are on disk, marked
    assert "**Partial: 2 of 3 planned runs have finished.**" in partial
    meta = json.loads((tmp_path / "results" / "study_2d_meta.json").read_text())
    assert meta["complete"] is False and [r["method"] for r in meta["runs"]] == ["baseline", "gin_ipa"]
    monkeypatch.setattr(runner, "run_one", real_run_one)

    report = run_study(config, tmp_path, command=command)  # resumes: finishes the plan
    text = report.read_text()
    assert "Partial" not in text
    for heading in ("## Convergence", "## Choosing the RC method", "## Dice", "## nDSC", "## lesion F1",
                    "paired differences with 95 % intervals", "## L × k sweep", "## Findings", "## Limits"):
        assert heading in text, heading
    for png in ("sweep.png", "gallery.png", "predictions.png", "validation_curves.png"):
        assert (tmp_path / "results" / png).stat().st_size > 0
    meta = json.loads((tmp_path / "results" / "study_2d_meta.json").read_text())
    assert meta["complete"] is True and meta["planned_runs"] == len(meta["runs"]) == 3
    best = meta["best"]
    assert best == "gin_ipa" and meta["best_consistency"] == "gin_ipa + gin_consistency"
    rows = read_csv(tmp_path / "results" / "study_2d_cases.csv", CASE_COLUMNS)
    seeds_of = {m: sorted({r["seed"] for r in rows if r["method"] == m}) for m in {r["method"] for r in rows}}
    assert seeds_of == {"baseline": [0], "gin_ipa": [0], "gin_ipa + gin_consistency": [0]}
    domains = {r["domain"] for r in rows}
    assert domains == {"site_a_1.5t", "site_e_3t_ti2500", "site_a_1.5t (validation)"}
    for run in ("baseline", "gin_ipa"):  # every run kept and evaluated its best validation checkpoint
        assert (tmp_path / "runs" / run / "seed0" / "best").is_dir()
    # the report is a function of the data files alone
    report.unlink()
    report_main(["--data", str(tmp_path / "results"), "--name", "study_2d", "--out", str(report)])
    assert report.read_text() == text
    summary = tmp_path / "runs" / "gin_ipa" / "seed0" / "summary.json"
    mtime = summary.stat().st_mtime
    cases = (tmp_path / "results" / "study_2d_cases.csv").read_text()
    capsys.readouterr()
    run_study(config, tmp_path)  # finished runs are loaded, not retrained
    assert summary.stat().st_mtime == mtime
    out = capsys.readouterr().out
    assert "[study] gin_ipa seed 0: loaded" in out and "seed 0: done" not in out
    assert (tmp_path / "results" / "study_2d_cases.csv").read_text() == cases
