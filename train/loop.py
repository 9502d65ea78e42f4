"""The training loop: data, model, RC-augmented train step, checkpoints, metrics.

:func:`train` is the one place that trains (the CLI, the notebooks and the study call it).
``workdir`` receives::

    checkpoints/<step>/    orbax checkpoints (state, data-iterator position, config)
    best/<step>/           with ``validation.every``: the checkpoint of the best source-validation Dice
    config.json            the resolved config
    metrics.jsonl          training scalars, one JSON object per logged step
    tensorboard/           the same scalars as a TensorBoard event file

Validation and early stopping (``config.validation``): every ``validation.every`` steps (and at
the last step) the model is scored on the source-validation cases
(:func:`train.data.sources.validation_cases`, mean lesion Dice, ``val_dice`` in
``metrics.jsonl``). A score above the best so far by more than ``validation.min_delta`` is a new
best: it is saved to ``best/`` (with a regular checkpoint of the same step, so a resumed run
always knows its best). After ``validation.patience`` scores without a new best, training stops
there (``num_steps`` is the common maximal budget). The state of this rule is saved with every
checkpoint, so a resumed run scores, keeps and stops exactly as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import ml_collections
import numpy as np
from flax import nnx

from train._io import write_text
from train.build import make_model, make_step_factory
from train.checkpoint import Checkpointer
from train.config import check_config
from train.data.loader import make_train_iterator
from train.data.sources import training_cases, validation_cases
from train.distributed import is_primary
from train.evaluate import validation_dice
from train.lock import WorkdirLock
from train.models import UNet
from train.optim import make_optimizer
from train.parallel import make_runner, state_sharding
from train.report.writers import MetricWriter, NullWriter
from train.rng import Stream, stream_key
from train.step import TrainState, create_train_state, make_predict_fn

__all__ = ["NonFiniteLossError", "TrainResult", "train"]

log = logging.getLogger(__name__)


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN/Inf loss; the last good checkpoint was kept."""


@dataclasses.dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        graphdef: the model's graph definition.
        state: the state at the last step trained (host).
        steps_per_second: of the last logging interval.
        best_state: with ``validation.every``: the state of the best source-validation Dice (host).
        validation: with ``validation.every``: the early-stopping record (:class:`Validation`).
    """

    graphdef: nnx.GraphDef
    state: TrainState
    steps_per_second: float
    best_state: TrainState | None = None
    validation: Validation | None = None

    @property
    def eval_params(self) -> Any:
        """The parameters to evaluate: the best checkpoint's with validation, else the last step's."""
        return (self.best_state if self.best_state is not None else self.state).params


@dataclasses.dataclass
class Validation:
    """The early-stopping record of a run (saved with every checkpoint as JSON).

    Attributes:
        history: ``[[step, val_dice], ...]`` of every score so far.
        best_step: the step of the best score (None before the first).
        best_score: the best score (``-inf`` before the first).
        since_best: scores since the best one.
        stopped_at: the step training stopped early at, or None.
    """

    history: list[list[float]] = dataclasses.field(default_factory=list)
    best_step: int | None = None
    best_score: float = -math.inf
    since_best: int = 0
    stopped_at: int | None = None

    def update(self, step: int, score: float, *, min_delta: float, patience: int | None) -> bool:
        """Records ``score`` at ``step``; returns whether it is a new best."""
        self.history.append([int(step), float(score)])
        improved = score > self.best_score + min_delta
        if improved:
            self.best_step, self.best_score, self.since_best = int(step), float(score), 0
        else:
            self.since_best += 1
            if patience is not None and self.since_best >= patience:
                self.stopped_at = int(step)
        return improved

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["best_score"] = None if not math.isfinite(self.best_score) else self.best_score
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any] | None) -> Validation:
        if not d:
            return cls()
        best = d.get("best_score")
        return cls(history=[list(r) for r in d.get("history", [])], best_step=d.get("best_step"),
                   best_score=-math.inf if best is None else float(best), since_best=int(d.get("since_best", 0)),
                   stopped_at=d.get("stopped_at"))


def _config_json(config: ml_collections.ConfigDict) -> dict:
    return json.loads(config.to_json())


def _check_patch(config: ml_collections.ConfigDict, model: UNet) -> None:
    patch = tuple(config.data.patch_size)
    if len(patch) != model.spatial_dims or any(p % model.divisor for p in patch):
        raise ValueError(f"data.patch_size {patch} must have {model.spatial_dims} entries divisible by "
                         f"{model.divisor} (2 ** number of U-Net downsamplings)")


def _check_devices(config: ml_collections.ConfigDict) -> None:
    """The batch splits evenly over the devices of ``config.parallel`` (checked before anything is written).

    ``data.batch_size`` is the global batch: with several processes (``"mesh"`` only) each one
    loads ``batch_size / process_count`` samples of it."""
    if jax.process_count() > 1 and config.parallel != "mesh":
        raise ValueError(f"parallel={config.parallel!r} runs in one process; a run of {jax.process_count()} "
                         f"processes needs --config.parallel=mesh")
    if jax.process_count() > 1 and config.validation.every is not None:
        raise ValueError(f"validation.every is {config.validation.every}, but validation scores, the best checkpoint "
                         f"and early stopping run in one process only (this run has {jax.process_count()}); set "
                         "--config.validation.every=None --config.validation.patience=None")
    n = {"single": 1, "mesh": jax.device_count(), "pmap": jax.local_device_count()}[config.parallel]
    if int(config.data.batch_size) % n:
        raise ValueError(f"data.batch_size {config.data.batch_size} must be divisible by the {n} devices of "
                         f"parallel={config.parallel!r} (or use --config.parallel=single)")


def train(config: ml_collections.ConfigDict, workdir: str | os.PathLike, *,
          batches: Iterator[Mapping[str, np.ndarray]] | None = None, in_channels: int | None = None,
          resume: bool = False, progress: bool = True, stop_at: int | None = None,
          lock: WorkdirLock | None = None) -> TrainResult:
    """Trains ``config.num_steps`` steps; checkpoints every ``config.ckpt_every`` and at the end.

    Args:
        config: the run's config.
        workdir: output folder (checkpoints, metrics).
        batches: an iterator of ``{"image", "label", "mask"}`` NumPy batches; default: built
            from ``config.data``. If it has ``get_state``/``set_state`` its position is
            checkpointed and restored.
        in_channels: image channels (needed with ``batches``; otherwise read from the data).
        resume: continue from the latest checkpoint in ``workdir`` (exactly: same batches and
            keys as an uninterrupted run). Without it, existing checkpoints are an error.
        progress: show a tqdm progress bar.
        stop_at: stop after this step (saving a checkpoint there) as if interrupted; a later
            ``resume=True`` call continues to ``config.num_steps``. For time-limited jobs and tests.
        lock: the caller's held :class:`~train.lock.WorkdirLock` of ``workdir`` (to keep the work
            dir locked beyond training, e.g. through evaluation); default: ``train`` takes the lock
            for its own duration.

    Raises:
        WorkdirLockedError: another training holds ``workdir``'s lock (the message names it).
        ValueError: a bad config key or value (:func:`train.config.check_config`), before anything
            is written.
        NonFiniteLossError: a NaN/Inf loss; nothing after the last good checkpoint is saved.
    """
    check_config(config)  # before anything is written
    _check_devices(config)
    workdir = Path(workdir)
    if lock is None:
        with WorkdirLock(workdir):
            return _train(config, workdir, batches, in_channels, resume, progress, stop_at)
    if not lock.held or lock.workdir.resolve() != workdir.resolve():
        raise ValueError(f"lock must be the held WorkdirLock of {workdir}, got one of {lock.workdir} "
                         f"(held: {lock.held})")
    return _train(config, workdir, batches, in_channels, resume, progress, stop_at)


def _train(config, workdir: Path, batches, in_channels, resume, progress, stop_at) -> TrainResult:
    channel_names = tuple(config.data.channels)
    if batches is None:
        cases = training_cases(config)
        in_channels = cases[0].image.shape[-1]
        channel_names = tuple(cases[0].channel_names)
        d = config.data
        batches = make_train_iterator(cases, patch_size=tuple(d.patch_size), batch_size=int(d.batch_size),
                                      seed=int(config.seed), spatial_dims=int(d.spatial_dims),
                                      oversample_foreground=float(d.oversample_foreground),
                                      num_workers=int(d.num_workers), process_index=jax.process_index(),
                                      process_count=jax.process_count())
    elif in_channels is None:
        raise ValueError("in_channels is required when batches are given")
    model = make_model(config, in_channels)
    _check_patch(config, model)
    num_steps = int(config.num_steps)
    tx, schedule = make_optimizer(config.optim, num_steps)
    graphdef, state = create_train_state(model, tx)
    checkpointer = Checkpointer(workdir / "checkpoints", max_to_keep=int(config.keep_checkpoints))
    validating = config.validation.every is not None
    best_ckpt = Checkpointer(workdir / "best", max_to_keep=1) if validating else None
    record = Validation() if validating else None
    try:
        steps = checkpointer.all_steps()
        if steps and not resume:
            raise FileExistsError(f"{workdir / 'checkpoints'} already holds checkpoint step {steps[-1]}; pass "
                                  f"--resume to continue it, or choose another --workdir")
        if steps:
            sharding = state_sharding(config.parallel)  # every process restores its own copy
            abstract = state if sharding is None else jax.tree.map(
                lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), state)
            step, (state, data_state, saved_run), skipped = checkpointer.newest_restorable(
                lambda s: checkpointer.restore(abstract, step=s))
            for bad, error in skipped:
                kept = checkpointer.set_aside(bad)
                log.warning("checkpoint step %d could not be restored (%s); skipped it and kept it as %s (not "
                            "deleted: inspect or remove it yourself)", bad, error, kept)
            if skipped:
                log.warning("resuming from step %d, the newest checkpoint that restores", step)
            _warn_config_changes(saved_run.get("config", {}), _config_json(config))
            if validating:
                record = Validation.from_json(saved_run.get("validation"))
                _drop_best_after(best_ckpt, int(state.step))
            if data_state:
                if not hasattr(batches, "set_state"):
                    raise ValueError("the checkpoint holds a data-iterator position but the batches cannot be "
                                     "repositioned (no set_state)")
                batches.set_state(data_state)
            log.info("resumed from step %d", int(state.step))
        if is_primary():
            write_text(workdir / "config.json", config.to_json(indent=2) + "\n")
        run_info = {"config": _config_json(config), "in_channels": int(in_channels), "channel_names": channel_names}
        return _loop(config, workdir, graphdef, tx, state, batches, checkpointer, schedule, progress, stop_at,
                     run_info, best_ckpt, record)
    finally:
        checkpointer.close()
        if best_ckpt is not None:
            best_ckpt.close()


def _drop_best_after(best_ckpt: Checkpointer, step: int) -> None:
    """Removes best checkpoints newer than the restored ``step``: the resumed run trains those steps
    again and finds the same best (bit for bit), which it saves anew."""
    for s in best_ckpt.all_steps():
        if s > step:
            log.warning("best checkpoint step %d is newer than the resumed step %d; removed (the resumed run "
                        "reaches it again)", s, step)
            best_ckpt.remove(s)


def _warn_config_changes(saved: Mapping[str, Any], current: Mapping[str, Any]) -> None:
    changed = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
    if changed:
        log.warning("resuming with a config that differs from the checkpoint's in %s; the run will not "
                    "reproduce an uninterrupted one exactly", changed)


def _loop(config, workdir, graphdef, tx, state, batches, checkpointer, schedule, progress, stop_at,
          run_info, best_ckpt=None, record=None) -> TrainResult:
    from tqdm.auto import tqdm

    num_steps = int(config.num_steps)
    last_step = num_steps if stop_at is None else min(int(stop_at), num_steps)
    log_every, ckpt_every = int(config.log_every), int(config.ckpt_every)
    v = config.validation
    val_every = None if record is None else int(v.every)
    if record is not None and record.stopped_at is not None:  # a resumed run that had stopped early
        last_step = int(state.step)
    if record is not None:
        val_cases = validation_cases(config)
        predict = jax.jit(make_predict_fn(graphdef))
        val_final = last_step == num_steps
    runner = make_runner(config.parallel, make_step_factory(config, graphdef, tx))
    base_key = stream_key(int(config.seed), Stream.STEP)
    start = int(state.step)
    last_good = checkpointer.latest_step()
    state = runner.put_state(state)
    pending: list[dict[str, jax.Array]] = []
    t_last, n_images, steps_per_s = time.perf_counter(), 0, float("nan")
    bar = tqdm(total=num_steps, initial=start, disable=not (progress and is_primary()), desc=f"train {workdir.name}",
               unit="step", dynamic_ncols=True)
    with MetricWriter(workdir, start_step=start) if is_primary() else NullWriter() as writer:
        if writer.dropped:
            log.warning("dropped %d rows of %s past step %d (written after the restored checkpoint)", writer.dropped,
                        workdir / "metrics.jsonl", start)
        for step in range(start + 1, last_step + 1):
            batch = next(batches)
            n_images += int(np.shape(batch["image"])[0])
            state, step_metrics = runner.step(state, runner.put_batch(batch), base_key)
            pending.append(step_metrics)
            bar.update(1)
            validate = val_every is not None and (step % val_every == 0 or (step == last_step and val_final))
            if step % log_every and step % ckpt_every and step != last_step and not validate:
                continue
            host = jax.device_get(pending)
            pending = []
            if any(not math.isfinite(float(m["loss"])) for m in host):
                raise NonFiniteLossError(f"non-finite loss at step {step - len(host) + 1 + _first_bad(host)}; "
                                         f"training stopped; last good checkpoint: step {last_good} in "
                                         f"{checkpointer.directory}")
            now = time.perf_counter()
            steps_per_s = len(host) / (now - t_last)
            scalars = {k: float(np.mean([m[k] for m in host])) for k in host[-1]}
            scalars.update(learning_rate=float(schedule(step - 1)), steps_per_second=steps_per_s,
                           images_per_second=n_images / (now - t_last))
            new_best = False
            if validate:
                score = validation_dice(predict, runner.get_state(state).params, val_cases, config)
                new_best = record.update(step, score, min_delta=float(v.min_delta), patience=v.patience)
                scalars["val_dice"] = score
                if record.stopped_at is not None:
                    log.info("early stop at step %d: no validation Dice above %.4f + %g for %d scores (best at "
                             "step %d)", step, record.best_score, float(v.min_delta), record.since_best,
                             record.best_step)
            writer.write_scalars(step, scalars)
            bar.set_postfix(loss=f"{scalars['loss']:.4f}", img_s=f"{scalars['images_per_second']:.1f}")
            stop = record is not None and record.stopped_at is not None
            if step % ckpt_every == 0 or step == last_step or new_best or stop:
                data_state = batches.get_state() if hasattr(batches, "get_state") else {}
                info = run_info if record is None else {**run_info, "validation": record.to_json()}
                host_state = runner.get_state(state)
                checkpointer.save(step, host_state, data_state=data_state, config=info)
                if new_best:
                    best_ckpt.save(step, host_state, config=info)
                last_good = step
            t_last, n_images = time.perf_counter(), 0  # validation and saving are not training time
            if stop:
                break
    bar.close()
    checkpointer.wait()
    final = jax.device_get(runner.get_state(state))
    best = None
    if record is not None and record.best_step is not None:
        best_ckpt.wait()
        best, _, _ = best_ckpt.restore(final, step=record.best_step)
    return TrainResult(graphdef, final, steps_per_s, best_state=best, validation=record)


def _first_bad(host: Sequence[Mapping[str, Any]]) -> int:
    return next(i for i, m in enumerate(host) if not math.isfinite(float(m["loss"])))
