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


def _validating(**kw):
    c = _config(num_steps=6, ckpt_every=6, log_every=3)
    c.validation.every = 1
    c.validation.n_cases = 2
    for k, v in kw.items():
        c.validation[k] = v
    return c


def test_early_stopping_stops_after_patience_scores_without_a_gain_and_keeps_the_best(tmp_path):
    from train.data.sources import validation_cases
    from train.evaluate import validation_dice
    from train.step import make_predict_fn

    # min_delta 1: only the first score (above -inf) can be a gain, so the rule stops at step 1 + patience
    config = _validating(patience=2, min_delta=1.0)
    result = train(config, tmp_path, progress=False)
    rec = result.validation
    assert rec.stopped_at == 3 and int(result.state.step) == 3
    assert [s for s, _ in rec.history] == [1, 2, 3] and rec.best_step == 1 and rec.since_best == 2
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3]  # every validation step is logged, nothing after the stop
    assert [r["val_dice"] for r in rows] == [s for _, s in rec.history]
    assert Checkpointer(tmp_path / "best", read_only=True).all_steps() == [1]
    assert 3 in Checkpointer(tmp_path / "checkpoints", read_only=True).all_steps()
    # the kept best is the state that was scored: re-scoring it gives the recorded best
    predict = jax.jit(make_predict_fn(result.graphdef))
    again = validation_dice(predict, result.best_state.params, validation_cases(config), config)
    assert again == pytest.approx(rec.best_score, abs=1e-6)
    assert int(result.best_state.step) == 1
    assert _leaves_equal(result.eval_params, result.best_state.params)
    # a stopped run resumed does not train further
    again = train(config, tmp_path, progress=False, resume=True)
    assert int(again.state.step) == 3 and again.validation.stopped_at == 3


def test_validation_resume_is_exact_and_without_patience_trains_the_budget(tmp_path):
    config = _validating(min_delta=0.0)
    whole = train(config, tmp_path / "whole", progress=False)
    assert int(whole.state.step) == 6 and whole.validation.stopped_at is None
    assert len(whole.validation.history) == 6
    train(config, tmp_path / "split", progress=False, stop_at=4)
    # a best checkpoint newer than the checkpoint resumed from is dropped and found again
    resumed = train(config, tmp_path / "split", progress=False, resume=True)
    assert resumed.validation.history == whole.validation.history
    assert resumed.validation.best_step == whole.validation.best_step
    assert _leaves_equal(whole.best_state.params, resumed.best_state.params)
    assert _leaves_equal(whole.state.params, resumed.state.params)
    best_dir = Checkpointer(tmp_path / "split" / "best", read_only=True).all_steps()
    assert best_dir == [whole.validation.best_step]


def test_validation_record_rule():
    from train.loop import Validation

    rec = Validation()
    gains = [rec.update(s, v, min_delta=0.01, patience=2) for s, v in [(1, 0.5), (2, 0.505), (3, 0.52), (4, 0.5)]]
    assert gains == [True, False, True, False] and rec.best_step == 3 and rec.stopped_at is None
    rec.update(5, 0.529, min_delta=0.01, patience=2)  # +0.009 is not above min_delta
    assert rec.stopped_at == 5 and rec.since_best == 2
    assert Validation.from_json(json.loads(json.dumps(rec.to_json()))) == rec
