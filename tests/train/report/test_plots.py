"""Figures name their run and label what they plot; they are written atomically as PNG; the session's
matplotlib backend is left alone."""

import matplotlib
import numpy as np

from train.data import phantom_cases
from train.report.plots import (
    CURVES,
    new_figure,
    plot_predictions,
    plot_training_curves,
    predictions_figure,
    training_curves_figure,
)
from train.report.writers import MetricWriter


def _rows():
    return [{"step": s, "loss": 1.0 / s, "dice": 0.1 * s, "ce": 0.5, "learning_rate": 1e-3} for s in (1, 2, 3)]


def test_training_curves_name_the_run_and_say_dice_is_the_training_soft_dice():
    fig = training_curves_figure(_rows(), run="quickstart/randconv")
    assert fig._suptitle.get_text().startswith("quickstart/randconv: training curves")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == [CURVES[k] for k in ("loss", "dice", "ce", "learning_rate")]
    assert "soft Dice on training batches" in titles[1] and "augmented" in titles[1]
    assert all(ax.get_xlabel() == "step" for ax in fig.axes)
    np.testing.assert_allclose(fig.axes[1].lines[0].get_ydata(), [0.1, 0.2, 0.3])  # what was logged


def test_validation_dice_gets_its_own_panel_at_its_scoring_steps():
    rows = _rows()
    rows[1]["val_dice"] = 0.61
    fig = training_curves_figure(rows, run="r")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == [CURVES[k] for k in ("loss", "dice", "ce", "val_dice", "learning_rate")]
    assert "source-validation Dice" in titles[3]
    np.testing.assert_allclose(fig.axes[3].lines[0].get_xdata(), [2])
    np.testing.assert_allclose(fig.axes[3].lines[0].get_ydata(), [0.61])


def test_prediction_figure_names_the_run_the_domain_and_the_case():
    case = phantom_cases(n=1, dims=2, shape=(32, 32))[0]
    fig = predictions_figure({"site_a_1.5t": (case, case.label == 1)}, run="quickstart/none")
    assert fig._suptitle.get_text() == "quickstart/none: one evaluation case per domain"
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0] == "site_a_1.5t: phantom_0000\nFLAIR" and titles[1] == "T1w"
    assert "reference (green)" in titles[2] and "prediction (red)" in titles[2]


def test_pngs_are_written_and_the_backend_is_untouched(tmp_path):
    backend = matplotlib.get_backend()
    with MetricWriter(tmp_path, tensorboard=False) as w:
        for r in _rows():
            w.write_scalars(r["step"], {k: v for k, v in r.items() if k != "step"})
    out = plot_training_curves(tmp_path / "metrics.jsonl", tmp_path / "curves.png", run="r")
    case = phantom_cases(n=1, dims=3, shape=(16, 24, 24))[0]  # 3D: the slice with the most lesion
    out2 = plot_predictions({"d": (case, case.label == 1)}, tmp_path / "prediction.png", run="r")
    for p in (out, out2):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert matplotlib.get_backend() == backend
    assert type(new_figure(figsize=(1, 1))).__name__ == "Figure"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves.png", "metrics.jsonl", "prediction.png"]
