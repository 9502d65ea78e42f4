"""The training CLI end to end on the phantom: what it writes, and refusing to overwrite a run."""

import json
import os
import stat

import numpy as np

from tests.train.conftest import run_module


def test_cli_smoke_run_writes_everything(smoke_run):
    workdir, proc = smoke_run
    assert "site_e_3t_ti2500" in proc.stdout and "ndsc" in proc.stdout
    table = proc.stdout.splitlines()
    source = next(line for line in table if " site_a_1.5t " in line)
    shifted = next(line for line in table if " site_e_3t_ti2500 " in line)
    assert " source " in source and " strong shift " in shifted  # the table marks the groups
    assert "strong shift: a scanner whose FLAIR does not null CSF" in proc.stdout
    last = table[-6:]  # the last lines say where everything is
    assert last[0] == f"results table: {workdir / 'results.txt'} (the table above)"
    assert last[1].startswith(f"summaries:     {workdir / 'summary.json'}")
    assert last[2] == f"figures:       {workdir / 'prediction.png'}, {workdir / 'curves.png'}"
    assert last[3] == f"checkpoints:   {workdir / 'checkpoints'} (step 4)"
    assert last[4] == f"TensorBoard:   tensorboard --logdir {workdir}"
    assert last[5].startswith("predict:       python -m train.predict --checkpoint")
    assert "evaluate smoke" in proc.stderr  # evaluation shows progress
    summary = json.loads((workdir / "summary.json").read_text())
    assert set(summary["per_domain"]) == {"site_a_1.5t", "site_e_3t_ti2500"}
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4] and all(np.isfinite(r["loss"]) for r in rows)
    assert (workdir / "checkpoints" / "4").is_dir()
    for name in ("curves.png", "prediction.png", "config.json", "results.txt", "summary.json"):
        assert (workdir / name).stat().st_size > 0, name
        assert stat.S_IMODE((workdir / name).stat().st_mode) == 0o644, name  # not mkstemp's 0600
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(workdir / "tensorboard"))


def test_cli_refuses_to_overwrite_a_run(smoke_run):
    workdir, _ = smoke_run
    proc = run_module("train", "--config", "train/configs/smoke.py", "--workdir", str(workdir), "--noprogress",
                      check=False)
    assert proc.returncode != 0 and "--resume" in proc.stderr


def test_cli_refuses_a_bad_number_before_writing_anything(tmp_path):
    workdir = tmp_path / "run"
    proc = run_module("train", "--config", "train/configs/smoke.py", "--workdir", str(workdir), "--noprogress",
                      "--config.ckpt_every=0", check=False)
    assert proc.returncode != 0 and "error: ckpt_every must be >= 1, got 0" in proc.stderr
    assert "Traceback" not in proc.stderr and not workdir.exists()
