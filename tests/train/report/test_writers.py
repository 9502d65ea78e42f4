"""The metric writer: JSON lines (non-finite values as null) and TensorBoard."""

from train.report.writers import MetricWriter, drop_rows_after, read_metrics


def test_metric_writer_jsonl_nan_as_null(tmp_path):
    with MetricWriter(tmp_path) as w:
        w.write_scalars(1, {"loss": 0.5})
        w.write_scalars(2, {"loss": float("nan")})
    rows = read_metrics(tmp_path / "metrics.jsonl")
    assert rows == [{"step": 1, "loss": 0.5}, {"step": 2, "loss": None}]


def test_restarting_at_a_step_drops_the_rows_past_it(tmp_path):
    with MetricWriter(tmp_path, tensorboard=False) as w:
        for step in (1, 2, 3, 4):
            w.write_scalars(step, {"loss": float(step)})
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"step": 5, "lo')  # a line cut short by a kill
    with MetricWriter(tmp_path, start_step=2, tensorboard=False) as w:
        assert w.dropped == 3
        w.write_scalars(3, {"loss": 30.0})
    assert read_metrics(tmp_path / "metrics.jsonl") == [{"step": 1, "loss": 1.0}, {"step": 2, "loss": 2.0},
                                                         {"step": 3, "loss": 30.0}]
    assert drop_rows_after(tmp_path / "metrics.jsonl", 3) == 0
    assert drop_rows_after(tmp_path / "metrics.jsonl", 0) == 3
    assert (tmp_path / "metrics.jsonl").read_text() == ""
