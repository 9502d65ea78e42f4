"""The study runner end to end at smoke size, and its resumability."""

import json

from train.configs import study_2d
from train.study import run_study
from train.study.figures import predictions_figure
from train.study.runner import _domains_for_seed, run_config


def test_study_smoke_writes_report_and_figures_and_resumes(tmp_path):
    config = study_2d.get_config("smoke")
    report = run_study(config, tmp_path, command="python -m train.study --config train/configs/study_2d.py:smoke")
    text = report.read_text()
    for heading in ("## Dice", "## nDSC", "## lesion F1", "## L × k sweep", "Training-free rule", "## Findings"):
        assert heading in text, heading
    for png in ("sweep.png", "gallery.png", "predictions.png"):
        assert (tmp_path / "results" / png).stat().st_size > 0
    summary = tmp_path / "runs" / "gin_ipa" / "seed0" / "summary.json"
    assert "site_a_1.5t (validation)" in json.loads(summary.read_text())["per_domain"]
    mtime = summary.stat().st_mtime
    run_study(config, tmp_path)  # finished runs are loaded, not retrained
    assert summary.stat().st_mtime == mtime
    domains = _domains_for_seed(run_config(config, {"preset": "none", "intensity": False}, 0), 1)
    fig = predictions_figure(config, tmp_path, 0, "gin_ipa", domains, study=tmp_path.name)
    title = f"study {tmp_path.name}: test predictions, seed 0 (reference green, prediction red)"
    assert fig._suptitle.get_text() == title
    assert [ax.get_title() for ax in fig.axes[:4]] == ["FLAIR", "reference", "baseline (seed 0)", "gin_ipa (seed 0)"]
