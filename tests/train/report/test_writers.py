"""The metric writer: JSON lines (non-finite values as null) and TensorBoard."""

from train.report.writers import MetricWriter, read_metrics


def test_metric_writer_jsonl_nan_as_null(tmp_path):
    with MetricWriter(tmp_path) as w:
        w.write_scalars(1, {"loss": 0.5})
        w.write_scalars(2, {"loss": float("nan")})
    rows = read_metrics(tmp_path / "metrics.jsonl")
    assert rows == [{"step": 1, "loss": 0.5}, {"step": 2, "loss": None}]
