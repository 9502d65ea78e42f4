"""Training and evaluation loop: data, model, RC-augmented train step, checkpoints, metrics.

``train_and_evaluate(config, workdir)`` is the entry point (the CLI in ``train/main.py`` is a thin
wrapper, so notebooks can call this directly). ``config`` is the ``ml_collections.ConfigDict``
of a file in ``train/configs/``; ``workdir`` receives::

    checkpoints/<step>/    orbax checkpoints (state, data-iterator position, config)
    config.json            the resolved config
    metrics.jsonl          training scalars, one JSON object per logged step
    tensorboard/           the same scalars as a TensorBoard event file
    summary.json           per-case, per-domain and overall evaluation metrics
    curves.png             training curves
    prediction.png         an example prediction per evaluation domain
"""

from __future__ import annotations

import dataclasses
import functools
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

from train import metrics as lesion_metrics
from train.augment import make_augment
from train.checkpoint import Checkpointer
from train.data import (
    SCANNERS,
    Case,
    load_dataset,
    make_train_iterator,
    phantom_cases,
    preprocess_case,
    read_dataset,
    uncrop,
)
from train.inference import sliding_window_inference
from train.models import UNet
from train.optim import make_optimizer
from train.parallel import make_runner
from train.step import TrainState, create_train_state, make_predict_fn, make_train_step
from train.writers import MetricWriter

log = logging.getLogger(__name__)

LESION_CLASS = 1
EVAL_SEED_OFFSET = 1_000_003
"""Phantom evaluation subjects use ``config.seed + EVAL_SEED_OFFSET``: never the training subjects."""


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN/Inf loss; the last good checkpoint was kept."""


@dataclasses.dataclass
class TrainResult:
    """What :func:`train` returns: the model's graph definition and the final state (host)."""

    graphdef: nnx.GraphDef
    state: TrainState
    steps_per_second: float


# ----------------------------------------------------------------------------- data


def _is_phantom(spec: str) -> bool:
    return spec in SCANNERS


def _domain_name(spec: str) -> str:
    return spec if _is_phantom(spec) else Path(spec).name


def _phantom(spec: str, data: ml_collections.ConfigDict, *, n: int, seed: int) -> list[Case]:
    shape = tuple(data.shape) if data.shape else None
    return phantom_cases(spec, n=n, dims=int(data.dims), shape=shape, seed=seed, channels=tuple(data.channels))


def _target_spacing(data: ml_collections.ConfigDict) -> tuple[float, ...] | None:
    return tuple(data.target_spacing) if data.get("target_spacing") else None


def training_cases(config: ml_collections.ConfigDict) -> list[Case]:
    """Preprocessed training cases of ``config.data.source`` (a phantom scanner name or an
    nnU-Net raw data set folder; for a folder the last ``data.n_eval`` cases are held out)."""
    data = config.data
    if _is_phantom(data.source):
        return [preprocess_case(c) for c in _phantom(data.source, data, n=int(data.n_train), seed=int(config.seed))]
    cases = load_dataset(data.source, target_spacing=_target_spacing(data), cache_dir=data.get("cache_dir") or None)
    n_eval = int(data.n_eval)
    if len(cases) <= n_eval:
        raise ValueError(f"data.source {data.source!r} has {len(cases)} cases; need more than data.n_eval={n_eval} "
                         f"(the last n_eval cases are held out for evaluation)")
    return cases[: len(cases) - n_eval]


def evaluation_domains(config: ml_collections.ConfigDict) -> dict[str, list[tuple[Case, Case]]]:
    """``{domain: [(raw case, preprocessed case), ...]}`` for every evaluation domain.

    ``data.eval_domains``: phantom scanner names, nnU-Net folders, or ``"all"`` (every phantom
    scanner). The source domain is evaluated on held-out subjects/cases.
    """
    data = config.data
    specs: list[str] = []
    for spec in data.eval_domains:
        specs.extend(SCANNERS if spec == "all" else [spec])
    out: dict[str, list[tuple[Case, Case]]] = {}
    n_eval = int(data.n_eval)
    for spec in dict.fromkeys(specs):
        if _is_phantom(spec):
            raw = _phantom(spec, data, n=n_eval, seed=int(config.seed) + EVAL_SEED_OFFSET)
        else:
            raw = read_dataset(spec)[-n_eval:]
        out[_domain_name(spec)] = [(c, preprocess_case(c, target_spacing=_target_spacing(data))) for c in raw]
    return out


# ----------------------------------------------------------------------------- model and state


def make_model(config: ml_collections.ConfigDict, in_channels: int) -> UNet:
    m = config.model
    return UNet(in_channels=in_channels, num_classes=int(m.num_classes), features=tuple(m.features),
                spatial_dims=int(config.data.spatial_dims), norm=m.norm,
                # Checkpoints written before model.conv_impl existed hold no value: the parameters are
                # the same under every implementation, so the backend's default is right for them.
                conv_impl=m.get("conv_impl", "auto"),
                rngs=nnx.Rngs(int(config.seed)))


def _augment(config: ml_collections.ConfigDict):
    rc = config.randconv
    return make_augment(rc.preset, batch_mode=rc.get("batch_mode") or None, chunk_size=rc.get("chunk_size") or None,
                        **dict(rc.get("overrides") or {}))


def _step_factory(config: ml_collections.ConfigDict, graphdef, tx):
    loss = config.loss
    return functools.partial(make_train_step, graphdef, tx, augment=_augment(config),
                             intensity=bool(config.get("intensity_augment", False)),
                             dice_weight=float(loss.dice_weight), ce_weight=float(loss.ce_weight),
                             consistency=loss.get("consistency") or None,
                             consistency_weight=float(loss.consistency_weight), num_copies=int(loss.num_copies))


def _config_json(config: ml_collections.ConfigDict) -> dict:
    return json.loads(config.to_json())


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- training


def _check_patch(config: ml_collections.ConfigDict, model: UNet) -> None:
    patch = tuple(config.data.patch_size)
    if len(patch) != model.spatial_dims or any(p % model.divisor for p in patch):
        raise ValueError(f"data.patch_size {patch} must have {model.spatial_dims} entries divisible by "
                         f"{model.divisor} (2 ** number of U-Net downsamplings)")


def train(config: ml_collections.ConfigDict, workdir: str | os.PathLike, *,
          batches: Iterator[Mapping[str, np.ndarray]] | None = None, in_channels: int | None = None,
          resume: bool = False, progress: bool = True, stop_at: int | None = None) -> TrainResult:
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

    Raises:
        NonFiniteLossError: a NaN/Inf loss; nothing after the last good checkpoint is saved.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
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
        latest = checkpointer.latest_step()
        if latest is not None and not resume:
            raise FileExistsError(f"{workdir / 'checkpoints'} already holds checkpoint step {latest}; pass "
                                  f"--resume to continue it, or choose another --workdir")
        if latest is not None:
            state, data_state, saved_run = checkpointer.restore(state)
            _warn_config_changes(saved_run.get("config", {}), _config_json(config))
            if data_state:
                if not hasattr(batches, "set_state"):
                    raise ValueError("the checkpoint holds a data-iterator position but the batches cannot be "
                                     "repositioned (no set_state)")
                batches.set_state(data_state)
            log.info("resumed from step %d", int(state.step))
        _atomic_write_text(workdir / "config.json", config.to_json(indent=2))
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
    runner = make_runner(config.parallel, _step_factory(config, graphdef, tx))
    base_key = jax.random.fold_in(jax.random.key(int(config.seed)), 1)
    start = int(state.step)
    last_good = checkpointer.latest_step()
    state = runner.put_state(state)
    pending: list[dict[str, jax.Array]] = []
    t_last, n_images, steps_per_s = time.perf_counter(), 0, float("nan")
    bar = tqdm(total=num_steps, initial=start, disable=not progress, desc=f"train {workdir.name}", unit="step",
               dynamic_ncols=True)
    with MetricWriter(workdir) as writer:
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


# ----------------------------------------------------------------------------- evaluation


def predict_case(predict, params, case: Case, config: ml_collections.ConfigDict) -> np.ndarray:
    """Lesion mask ``(*spatial,)`` bool of a preprocessed case, on its (cropped) grid.

    ``predict(params, windows)`` should be jitted (once, for all cases: a new ``jax.jit`` per case
    would recompile the network every time). A 2D model predicts a 3D volume slice by slice
    along axis 0. Windows of
    ``data.patch_size`` overlap by ``eval.overlap`` and are blended with a Gaussian
    (nnU-Net: 50 %, σ = patch/8); the class is the argmax of the blended logits.
    """
    patch = tuple(config.data.patch_size)
    ev = config.eval
    fn = functools.partial(predict, params)
    window = functools.partial(sliding_window_inference, fn, patch_size=patch, overlap=float(ev.overlap),
                               batch_size=int(ev.batch_size))
    image = case.image
    if image.ndim - 1 == len(patch):
        logits = np.asarray(window(image))
    elif image.ndim - 1 == len(patch) + 1:
        logits = np.stack([np.asarray(window(image[z])) for z in range(image.shape[0])])
    else:
        raise ValueError(f"case {case.name!r}: image shape {image.shape} does not fit patch_size {patch}")
    return np.argmax(logits, axis=-1) == LESION_CLASS


def evaluate(graphdef: nnx.GraphDef, params: Any, domains: Mapping[str, Sequence[tuple[Case, Case]]],
             config: ml_collections.ConfigDict, workdir: str | os.PathLike) -> dict[str, Any]:
    """Predicts every evaluation case (no augmentation) and writes ``summary.json``.

    Metrics (see :mod:`train.metrics`) are computed on the raw image grid (predictions pasted
    back with :func:`train.data.uncrop`), so nDSC's voxel count N is the whole scan as in the
    Shifts challenge.
    """
    predict = jax.jit(make_predict_fn(graphdef))
    ev = config.eval
    rows, examples = [], {}
    for domain, pairs in domains.items():
        for raw, pre in pairs:
            pred = uncrop(predict_case(predict, params, pre, config), pre).astype(bool)
            target = raw.label == LESION_CLASS
            row = lesion_metrics.case_metrics(pred, target, r=float(ev.ndsc_r), iou_threshold=float(ev.iou_threshold),
                                              connectivity=int(ev.connectivity), min_size=int(ev.min_lesion_size),
                                              voxel_volume=float(np.prod(raw.spacing)))
            rows.append({"case": raw.name, "domain": domain, **row})
            examples.setdefault(domain, (raw, pred))
    summary = lesion_metrics.summarize(rows)
    lesion_metrics.write_summary(Path(workdir) / "summary.json", summary)
    _plot_predictions(examples, Path(workdir) / "prediction.png")
    return summary


# ----------------------------------------------------------------------------- reporting

TABLE_METRICS = ("dice", "ndsc", "lesion_f1", "lesion_tpr", "lesion_ppv")


def format_table(summaries: Mapping[str, Mapping[str, Any]], metrics: Sequence[str] = TABLE_METRICS) -> str:
    """A per-domain text table (mean ± std) of one or more runs' ``summary.json`` contents."""
    header = ["run", "domain", "n"] + list(metrics)
    lines = []
    for run, summary in summaries.items():
        for domain, stats in summary["per_domain"].items():
            cells = [run, domain, str(next(iter(stats.values()))["n"]) if stats else "0"]
            for m in metrics:
                s = stats.get(m)
                cells.append(_mean_std(s))
            lines.append(cells)
    widths = [max(len(r[i]) for r in [header, *lines]) for i in range(len(header))]
    fmt = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True))  # noqa: E731
    return "\n".join([fmt(header), fmt(["-" * w for w in widths]), *map(fmt, lines)])


def _mean_std(stats: Mapping[str, Any] | None) -> str:
    mean = None if stats is None else stats.get("mean")
    if mean is None or not math.isfinite(mean):
        return "n/a"
    return f"{mean:.3f} ± {stats['std']:.3f}"


def _plot_curves(workdir: Path) -> None:
    from train.plots import plot_training_curves

    plot_training_curves(workdir / "metrics.jsonl", workdir / "curves.png")


def _plot_predictions(examples, path: Path) -> None:
    from train.plots import plot_predictions

    plot_predictions(examples, path)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | os.PathLike, *,
                       resume: bool = False, progress: bool = True) -> dict[str, Any]:
    """Trains on ``config.data.source`` and evaluates on every ``config.data.eval_domains``.

    With ``config.variants`` (e.g. ``("none", "randconv")``) each listed random-convolution
    preset is trained in ``workdir/<variant>`` with otherwise identical settings, and the
    per-domain table compares them. Returns ``{run: summary}``.
    """
    workdir = Path(workdir)
    variants = tuple(config.get("variants") or ())
    runs = {v: _with_preset(config, v) for v in variants} if variants else {config.randconv.preset: config}
    domains = evaluation_domains(config)
    summaries = {}
    for name, cfg in runs.items():
        run_dir = workdir / name if variants else workdir
        result = train(cfg, run_dir, resume=resume, progress=progress)
        _plot_curves(run_dir)
        summaries[name] = evaluate(result.graphdef, result.state.params, domains, cfg, run_dir)
    table = format_table(summaries)
    _atomic_write_text(workdir / "results.txt", table + "\n")
    print(table)
    return summaries


def _with_preset(config: ml_collections.ConfigDict, preset: str) -> ml_collections.ConfigDict:
    cfg = ml_collections.ConfigDict(config.to_dict())
    cfg.variants = ()
    if preset != cfg.randconv.preset:
        cfg.randconv.preset = preset
        cfg.randconv.overrides = {}
    return cfg
