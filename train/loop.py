"""The training loop: data, model, RC-augmented train step, checkpoints, metrics.

:func:`train` is the one place that trains (the CLI, the notebooks and the study call it).
``workdir`` receives::

    checkpoints/<step>/    orbax checkpoints (state, data-iterator position, config)
    config.json            the resolved config
    metrics.jsonl          training scalars, one JSON object per logged step
    tensorboard/           the same scalars as a TensorBoard event file
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
from train.data.sources import training_cases
from train.lock import WorkdirLock
from train.models import UNet
from train.optim import make_optimizer
from train.parallel import make_runner
from train.report.writers import MetricWriter
from train.rng import Stream, stream_key
from train.step import TrainState, create_train_state

__all__ = ["NonFiniteLossError", "TrainResult", "train"]

log = logging.getLogger(__name__)


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN/Inf loss; the last good checkpoint was kept."""


@dataclasses.dataclass
class TrainResult:
    """What :func:`train` returns: the model's graph definition and the final state (host)."""

    graphdef: nnx.GraphDef
    state: TrainState
    steps_per_second: float


def _config_json(config: ml_collections.ConfigDict) -> dict:
    return json.loads(config.to_json())


def _check_patch(config: ml_collections.ConfigDict, model: UNet) -> None:
    patch = tuple(config.data.patch_size)
    if len(patch) != model.spatial_dims or any(p % model.divisor for p in patch):
        raise ValueError(f"data.patch_size {patch} must have {model.spatial_dims} entries divisible by "
                         f"{model.divisor} (2 ** number of U-Net downsamplings)")


def _check_devices(config: ml_collections.ConfigDict) -> None:
    """The batch splits evenly over the devices of ``config.parallel`` (checked before anything is written)."""
    n = {"single": 1, "mesh": jax.device_count(), "pmap": jax.local_device_count()}[config.parallel]
    per_process = int(config.data.batch_size) * (jax.process_count() if config.parallel == "mesh" else 1)
    if per_process % n:
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
                                      num_workers=int(d.num_workers))
    elif in_channels is None:
        raise ValueError("in_channels is required when batches are given")
    model = make_model(config, in_channels)
    _check_patch(config, model)
    num_steps = int(config.num_steps)
    tx, schedule = make_optimizer(config.optim, num_steps)
    graphdef, state = create_train_state(model, tx)
    checkpointer = Checkpointer(workdir / "checkpoints", max_to_keep=int(config.keep_checkpoints))
    try:
        steps = checkpointer.all_steps()
        if steps and not resume:
            raise FileExistsError(f"{workdir / 'checkpoints'} already holds checkpoint step {steps[-1]}; pass "
                                  f"--resume to continue it, or choose another --workdir")
        if steps:
            abstract = state
            step, (state, data_state, saved_run), skipped = checkpointer.newest_restorable(
                lambda s: checkpointer.restore(abstract, step=s))
            for bad, error in skipped:
                kept = checkpointer.set_aside(bad)
                log.warning("checkpoint step %d could not be restored (%s); skipped it and kept it as %s (not "
                            "deleted: inspect or remove it yourself)", bad, error, kept)
            if skipped:
                log.warning("resuming from step %d, the newest checkpoint that restores", step)
            _warn_config_changes(saved_run.get("config", {}), _config_json(config))
            if data_state:
                if not hasattr(batches, "set_state"):
                    raise ValueError("the checkpoint holds a data-iterator position but the batches cannot be "
                                     "repositioned (no set_state)")
                batches.set_state(data_state)
            log.info("resumed from step %d", int(state.step))
        write_text(workdir / "config.json", config.to_json(indent=2) + "\n")
        run_info = {"config": _config_json(config), "in_channels": int(in_channels), "channel_names": channel_names}
        return _loop(config, workdir, graphdef, tx, state, batches, checkpointer, schedule, progress, stop_at,
                     run_info)
    finally:
        checkpointer.close()


def _warn_config_changes(saved: Mapping[str, Any], current: Mapping[str, Any]) -> None:
    changed = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
    if changed:
        log.warning("resuming with a config that differs from the checkpoint's in %s; the run will not "
                    "reproduce an uninterrupted one exactly", changed)


def _loop(config, workdir, graphdef, tx, state, batches, checkpointer, schedule, progress, stop_at,
          run_info) -> TrainResult:
    from tqdm.auto import tqdm

    num_steps = int(config.num_steps)
    last_step = num_steps if stop_at is None else min(int(stop_at), num_steps)
    log_every, ckpt_every = int(config.log_every), int(config.ckpt_every)
    runner = make_runner(config.parallel, make_step_factory(config, graphdef, tx))
    base_key = stream_key(int(config.seed), Stream.STEP)
    start = int(state.step)
    last_good = checkpointer.latest_step()
    state = runner.put_state(state)
    pending: list[dict[str, jax.Array]] = []
    t_last, n_images, steps_per_s = time.perf_counter(), 0, float("nan")
    bar = tqdm(total=num_steps, initial=start, disable=not progress, desc=f"train {workdir.name}", unit="step",
               dynamic_ncols=True)
    with MetricWriter(workdir, start_step=start) as writer:
        if writer.dropped:
            log.warning("dropped %d rows of %s past step %d (written after the restored checkpoint)", writer.dropped,
                        workdir / "metrics.jsonl", start)
        for step in range(start + 1, last_step + 1):
            batch = next(batches)
            n_images += int(np.shape(batch["image"])[0])
            state, step_metrics = runner.step(state, runner.put_batch(batch), base_key)
            pending.append(step_metrics)
            bar.update(1)
            if step % log_every and step % ckpt_every and step != last_step:
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
            writer.write_scalars(step, scalars)
            bar.set_postfix(loss=f"{scalars['loss']:.4f}", img_s=f"{scalars['images_per_second']:.1f}")
            t_last, n_images = now, 0
            if step % ckpt_every == 0 or step == last_step:
                data_state = batches.get_state() if hasattr(batches, "get_state") else {}
                checkpointer.save(step, runner.get_state(state), data_state=data_state, config=run_info)
                last_good = step
    bar.close()
    checkpointer.wait()
    return TrainResult(graphdef, jax.device_get(runner.get_state(state)), steps_per_s)


def _first_bad(host: Sequence[Mapping[str, Any]]) -> int:
    return next(i for i, m in enumerate(host) if not math.isfinite(float(m["loss"])))
