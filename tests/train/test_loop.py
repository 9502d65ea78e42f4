"""The training loop: exact resume, falling back past a damaged newest checkpoint, one metrics row per step,
the NaN guard, refusing to overwrite a run."""

import json
import logging
import os

import jax
import numpy as np
import pytest

from tests.train.test_checkpoint import _corrupt_data
from train.checkpoint import UNRESTORABLE_SUFFIX, Checkpointer
from train.configs import smoke
from train.data.batches import ArrayBatches
from train.loop import NonFiniteLossError, train

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _config(**kw):
    c = smoke.get_config()
    c.num_steps = 4
    c.ckpt_every = 2
    c.log_every = 1
    for k, v in kw.items():
        c[k] = v
    return c


def _arrays(n=6, nan_from=None):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 32, 32, 2)).astype(np.float32)
    if nan_from is not None:
        x[nan_from:] = np.nan
    return x, (x[..., 0] > 1).astype(np.int32)


def _leaves_equal(a, b):
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(la) == len(lb)
    return all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(la, lb, strict=True))


@pytest.mark.parametrize("source", ["loader", "arrays"])
def test_resume_is_bitwise_exact(tmp_path, source):
    config = _config()

    def batches():
        if source == "loader":
            return None, None
        x, y = _arrays()
        return ArrayBatches(x, y, batch_size=2, seed=5), 2

    b, c = batches()
    whole = train(config, tmp_path / "whole", batches=b, in_channels=c, progress=False)
    b, c = batches()
    first = train(config, tmp_path / "split", batches=b, in_channels=c, progress=False, stop_at=2)
    assert int(first.state.step) == 2
    b, c = batches()
    second = train(config, tmp_path / "split", batches=b, in_channels=c, progress=False, resume=True)
    assert int(second.state.step) == 4
    assert _leaves_equal(whole.state.params, second.state.params)
    assert _leaves_equal(whole.state.opt_state, second.state.opt_state)
    assert not _leaves_equal(first.state.params, second.state.params)


def test_existing_checkpoints_need_resume(tmp_path):
    x, y = _arrays()
    train(_config(num_steps=2), tmp_path, batches=ArrayBatches(x, y, batch_size=2), in_channels=2, progress=False)
    with pytest.raises(FileExistsError, match="--resume"):
        train(_config(num_steps=2), tmp_path, batches=ArrayBatches(x, y, batch_size=2), in_channels=2,
              progress=False)


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    x, y = _arrays(n=6, nan_from=4)  # batches 1-2 finite (seedless order below), then NaN images
    batches = ArrayBatches(x, y, batch_size=2, seed=0)
    batches._order = lambda epoch: np.arange(6)  # fixed order: steps 1, 2 finite; step 3 sees NaN
    with pytest.raises(NonFiniteLossError, match=r"non-finite loss at step 3.*last good checkpoint: step 2"):
        train(_config(num_steps=6), tmp_path, batches=batches, in_channels=2, progress=False)
    with Checkpointer(tmp_path / "checkpoints") as ckpt:
        assert ckpt.all_steps() == [2]


def _steps(workdir):
    return [json.loads(line)["step"] for line in (workdir / "metrics.jsonl").read_text().splitlines()]


def test_resume_falls_back_past_a_damaged_newest_checkpoint_and_keeps_it(tmp_path, caplog):
    config = _config(num_steps=6)
    x, y = _arrays()
    whole = train(config, tmp_path / "whole", batches=ArrayBatches(x, y, batch_size=2, seed=5), in_channels=2,
                  progress=False)
    run = tmp_path / "run"
    train(config, run, batches=ArrayBatches(x, y, batch_size=2, seed=5), in_channels=2, progress=False, stop_at=4)
    _corrupt_data(run / "checkpoints" / "4")  # e.g. a disk error in the newest checkpoint
    with caplog.at_level(logging.WARNING, logger="train.loop"):
        resumed = train(config, run, batches=ArrayBatches(x, y, batch_size=2, seed=5), in_channels=2,
                        progress=False, resume=True)
    assert "checkpoint step 4 could not be restored" in caplog.text and "resuming from step 2" in caplog.text
    assert (run / "checkpoints" / f"4{UNRESTORABLE_SUFFIX}").is_dir()  # kept, not deleted
    assert _leaves_equal(whole.state.params, resumed.state.params)  # as if never interrupted
    assert _steps(run) == [1, 2, 3, 4, 5, 6]  # rows 3 and 4 of the first attempt dropped, not repeated
    with Checkpointer(run / "checkpoints", read_only=True) as ckpt:
        assert ckpt.all_steps() == [4, 6]


def test_metric_rows_past_the_restored_step_are_dropped(tmp_path, caplog):
    config = _config(num_steps=6)
    x, y = _arrays()
    train(config, tmp_path, batches=ArrayBatches(x, y, batch_size=2, seed=5), in_channels=2, progress=False,
          stop_at=4)
    with open(tmp_path / "metrics.jsonl", "a") as f:  # a run killed after logging steps 5, 6 (one cut short)
        f.write(json.dumps({"step": 5, "loss": 9.0}) + "\n" + json.dumps({"step": 6, "loss": 9.0}) + "\n")
        f.write('{"step": 7, "lo')
    with caplog.at_level(logging.WARNING, logger="train.loop"):
        train(config, tmp_path, batches=ArrayBatches(x, y, batch_size=2, seed=5), in_channels=2, progress=False,
              resume=True)
    assert "dropped 3 rows" in caplog.text
    assert _steps(tmp_path) == [1, 2, 3, 4, 5, 6]
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert all(r["loss"] != 9.0 for r in rows)
