"""Jitted throughput of randconv_jax against PyTorch references of the same operations (CPU, float32).

Usage::

    python benchmarks/bench_rc.py [--quick] [--runs N] [--threads all|1|both] [--out FILE.md]

Options:

* ``--threads all``: XLA's default thread pool and ``torch.set_num_threads(os.cpu_count())``.
  ``--threads 1``: ``XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"``
  (set before JAX is imported) and ``torch.set_num_threads(1)``. ``--threads both`` (default) runs the
  all-thread half in this process and the 1-thread half in a child process, then merges the tables.
* ``--quick``: smaller inputs, fewer rows and repetitions; it checks that the script works (about a
  minute for both halves) and its numbers mean little.
* ``--runs N``: timed runs per case (default 3, quick 2).
* ``--out FILE.md``: also write the markdown report to this file.

Cases (full sizes; JAX takes channels-last input, PyTorch channels-first):

1. RandConv 2D on PACS 64x224x224x3: ``k`` fixed in {1, 3, 5, 7} and multi-scale ``ks=(1, 3, 5, 7)``,
   one kernel per batch, plus per-sample kernels for k=3, k=7 and the multi-scale; the ``randconv``
   preset (``variant="img"`` and ``"mix"``). Reference: the official RandConv module's operation.
2. The same on digits 32x32x32x3 (k=3 and the multi-scale).
3. A 3D patch 2x128^3x2 and a brain 1x160x192x160x2: one linear 3^3 layer 2->2 (per batch and per
   sample, with and without buffer donation; achieved GFLOP/s and the multiple of the compute bound
   at the measured XLA matmul rate), 3 stacked layers and the ``ms_rc_3d`` preset, and the
   ``nnunet_rc`` preset against a PyTorch re-implementation of the nnU-Net transform (the fork's
   master: joint statistics, construction-time biases).
4. Depth scaling on the patch: L = 1, 2, 3, 5 layers per sample, and t(L) / (L * t(1)).
5. GIN on a patch 2x128^3x1, the brain 1x160x192x160x2 and 2D slices 20x192x192x3 (the official
   GIN op, rewritten in PyTorch, against the ``gin`` and ``gin_ipa`` presets), and Pro-RandConv at a
   fixed L = 2 on PACS 64x224x224x3 and the patch 2x128^3x2 (a PyTorch ``grid_sample`` version of
   the same block against the ``pro_randconv`` preset with L fixed to 2 on both sides).
   ``--only TEXT`` keeps the cases whose name contains TEXT (e.g. ``--only GIN --only Pro``).

Protocol: every call draws new random weights (a new PRNG key per JAX call) and is followed by
``block_until_ready``. Each row gets a first call (for JAX: trace + compile + run of a fresh
``jax.jit``, reported as "first call s") and an uncounted warm-up, then ``runs`` runs; in each run
every row of the case is timed in turn (so the ratios within a case are measured side by side), for
``samples`` samples of a block of back-to-back calls. median = median of the per-run medians of the
per-call time; min and max over all samples. Donated rows use ``jax.jit(f, donate_argnums=1)`` and
feed each output back as the next input.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib
import importlib.metadata
import json
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # time the checkout's randconv_jax

ONE_THREAD_XLA_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
MATMUL_N = 2048
MULTI_SCALE = (1, 3, 5, 7)
MAX_BLOCK = 200


# --------------------------------------------------------------------------- configuration


@dataclasses.dataclass(frozen=True)
class Config:
    quick: bool
    runs: int
    samples: int  # timed samples per row and run
    min_sample_s: float  # a sample times back-to-back calls lasting at least this long
    random_block: int  # at least this many calls per sample where k or a coin is drawn per call
    pacs: tuple[int, ...]
    pacs_ks: tuple[int, ...]
    pacs_per_sample_ks: tuple[int, ...]
    digits: tuple[int, ...]
    volumes: tuple[tuple[str, tuple[int, ...]], ...]
    depths: tuple[int, ...]
    gin_shapes: tuple[tuple[str, tuple[int, ...]], ...] = (
        ("patch", (2, 128, 128, 128, 1)),
        ("brain", (1, 160, 192, 160, 2)),
        ("slices", (20, 192, 192, 3)),
    )
    pro_shapes: tuple[tuple[str, tuple[int, ...]], ...] = (
        ("PACS", (64, 224, 224, 3)),
        ("patch", (2, 128, 128, 128, 2)),
    )
    only: tuple[str, ...] = ()  # keep only cases whose name contains one of these


FULL = Config(
    quick=False,
    runs=3,
    samples=5,
    min_sample_s=0.05,
    random_block=8,
    pacs=(64, 224, 224, 3),
    pacs_ks=(1, 3, 5, 7),
    pacs_per_sample_ks=(3, 7),
    digits=(32, 32, 32, 3),
    volumes=(("patch", (2, 128, 128, 128, 2)), ("brain", (1, 160, 192, 160, 2))),
    depths=(1, 2, 3, 5),
)
QUICK = dataclasses.replace(
    FULL,
    quick=True,
    runs=2,
    samples=2,
    min_sample_s=0.005,
    random_block=4,
    pacs=(8, 64, 64, 3),
    pacs_ks=(3,),
    pacs_per_sample_ks=(3,),
    volumes=(("patch", (2, 32, 32, 32, 2)),),
    depths=(1, 2),
    gin_shapes=(("patch", (2, 32, 32, 32, 1)), ("slices", (4, 64, 64, 3))),
    pro_shapes=(("PACS", (4, 64, 64, 3)), ("patch", (2, 24, 24, 24, 2))),
)


CHUNK = 4  # images per chunk for the chunked rows of the PACS-size RGB cases (batched(..., chunk_size=4))


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _import_torch():
    """PyTorch, or None (with a note) when it is not installed."""
    try:
        import torch
    except ImportError:
        _log("note: PyTorch is not installed; the PyTorch reference rows are skipped")
        return None
    return torch


def _reference():
    """The PyTorch reference ops, imported on first use (``--help`` and JAX-only rows need no torch)."""
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    return importlib.import_module("_torch_reference")


# --------------------------------------------------------------------------- runners


class Inputs:
    """One case's input, drawn once: channels-last for JAX, channels-first for PyTorch."""

    def __init__(self, shape: tuple[int, ...], seed: int = 0):
        self.host = np.random.default_rng(seed).uniform(size=shape).astype(np.float32)
        self._jax = None
        self._torch = None

    @property
    def jax(self):
        if self._jax is None:
            import jax.numpy as jnp

            self._jax = jnp.asarray(self.host).block_until_ready()
        return self._jax

    @property
    def torch(self):
        if self._torch is None:
            import torch

            self._torch = torch.from_numpy(np.ascontiguousarray(np.moveaxis(self.host, -1, 1)))
        return self._torch


class JaxRunner:
    """Calls ``jax.jit(aug)`` with a new key per call; with ``donate``, each output is the next input."""

    def __init__(self, aug: Callable, x, *, donate: bool = False):
        import jax

        self._jax = jax
        # A new function object per row, so its first call traces and compiles from scratch.
        self._fn = jax.jit(lambda key, images: aug(key, images), donate_argnums=(1,) if donate else ())
        self._x = x
        self._donate = donate
        self._base = jax.random.key(0)
        self._blocks = 0

    def _keys(self, n: int) -> list:
        random = self._jax.random
        keys = random.split(random.fold_in(self._base, self._blocks), n)
        self._blocks += 1
        return list(keys)

    def _input(self):
        if not self._donate:
            return self._x
        # A donated buffer is consumed: each block starts from a fresh, already written copy.
        return self._jax.numpy.copy(self._x).block_until_ready()

    def first_call(self) -> float:
        (key,) = self._keys(1)
        x = self._input()
        start = time.perf_counter()
        self._fn(key, x).block_until_ready()
        return time.perf_counter() - start

    def run(self, n: int) -> tuple[float, float]:
        """Wall and CPU seconds of ``n`` back-to-back calls (keys and input made beforehand)."""
        keys, x = self._keys(n), self._input()
        cpu, wall = time.process_time(), time.perf_counter()
        for key in keys:
            out = self._fn(key, x).block_until_ready()
            if self._donate:
                x = out
        return time.perf_counter() - wall, time.process_time() - cpu


class TorchRunner:
    """Calls a PyTorch reference op (it draws its own weights per call) on a fixed input."""

    def __init__(self, op: Callable, x):
        self._op = op
        self._x = x

    def first_call(self) -> float:
        return self.run(1)[0]

    def run(self, n: int) -> tuple[float, float]:
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(n):
            self._op(self._x)
        return time.perf_counter() - wall, time.process_time() - cpu


# --------------------------------------------------------------------------- cases


@dataclasses.dataclass(frozen=True)
class RowSpec:
    impl: str
    build: Callable[[Inputs], JaxRunner | TorchRunner]
    torch: bool = False  # the case's PyTorch reference row
    random_draw: bool = False  # draws k or a coin per call: time at least ``random_block`` calls per sample
    flops: float | None = None  # per call, for the lower-bound columns
    pair: str | None = None  # the per-batch twin in the case, for the per-sample/per-batch note
    depth: int | None = None  # layers, for the depth-scaling line
    full_only: bool = False  # left out by --quick


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    shape: tuple[int, ...]  # channels-last (N, *spatial, C)
    rows: tuple[RowSpec, ...]
    full_only: bool = False


def _rc(kernel_size, mode: str, depth: int = 1, chunk_size: int | None = None, multiscale: str = "switch"):
    import randconv_jax

    aug = randconv_jax.make_random_conv(kernel_size=kernel_size, depth=depth, multiscale=multiscale)
    return randconv_jax.batched(aug, mode=mode, chunk_size=chunk_size)


def _rc_every_size(kernel_size, chunk_size: int | None = None):
    """Per-sample multi-scale without the batching rule: ``vmap`` turns the switch into a select
    that runs every size (what ``multiscale="switch"`` did before the rule; same outputs)."""
    import jax.numpy as jnp

    import randconv_jax
    from randconv_jax import _conv

    aug = randconv_jax.make_random_conv(kernel_size=kernel_size)

    def apply(image, params, *, mask=None):
        (stack,) = params.stacks
        x = jnp.moveaxis(image, -1, 0)
        y = _conv._multiscale_switch(
            x, stack.kernels[0], None, stack.size_index[0], groups=1, kernel_sizes=tuple(kernel_size), impl="taps"
        )
        return jnp.moveaxis(y, 0, -1)

    return randconv_jax.batched(randconv_jax.Augmentation(aug.sample, apply), mode="per_sample", chunk_size=chunk_size)


def _preset(name: str, chunk_size: int | None = None, **overrides):
    import randconv_jax

    return randconv_jax.presets.for_batches(name, chunk_size=chunk_size, **overrides)


def jax_row(impl: str, make_aug: Callable, *, donate: bool = False, **fields) -> RowSpec:
    return RowSpec(impl, lambda inputs: JaxRunner(make_aug(), inputs.jax, donate=donate), **fields)


def torch_row(impl: str, make_op: Callable, **fields) -> RowSpec:
    return RowSpec(impl, lambda inputs: TorchRunner(make_op(), inputs.torch), torch=True, **fields)


def _fmt_shape(shape: tuple[int, ...]) -> str:
    return "×".join(map(str, shape))


def _randconv_case(
    name: str,
    shape,
    ks,
    per_sample: bool,
    full_only: bool = False,
    per_sample_full_only: bool = False,
    chunked: bool = False,
) -> Case:
    """One kernel size (or the multi-scale tuple): official-module op vs JAX per batch (and per sample)."""
    sizes = ks if isinstance(ks, tuple) else (ks,)
    random_draw = len(sizes) > 1
    label = "ks=" + ",".join(map(str, sizes)) if random_draw else f"k={ks}"
    rows = [
        torch_row("torch RandConv op (F.conv2d)", lambda: _reference().RandConv2d(sizes), random_draw=random_draw),
        jax_row("JAX per batch", lambda: _rc(ks, "per_batch"), random_draw=random_draw),
    ]
    if per_sample:
        rows.append(
            jax_row(
                "JAX per sample",
                lambda: _rc(ks, "per_sample"),
                random_draw=random_draw,
                pair="JAX per batch",
                full_only=per_sample_full_only,
            )
        )
        if random_draw:
            rows.append(
                jax_row(
                    "JAX per sample, multiscale='full'",
                    lambda: _rc(ks, "per_sample", multiscale="full"),
                    random_draw=random_draw,
                    pair="JAX per batch",
                    full_only=per_sample_full_only,
                )
            )
            rows.append(
                jax_row(
                    "JAX per sample, every size (vmapped switch, no batching rule)",
                    lambda: _rc_every_size(ks),
                    random_draw=random_draw,
                    pair="JAX per batch",
                    full_only=True,
                )
            )
    if chunked:
        rows.append(
            jax_row(
                f"JAX per batch, chunk_size={CHUNK}",
                lambda: _rc(ks, "per_batch", chunk_size=CHUNK),
                random_draw=random_draw,
            )
        )
        if per_sample:
            rows.append(
                jax_row(
                    f"JAX per sample, chunk_size={CHUNK}",
                    lambda: _rc(ks, "per_sample", chunk_size=CHUNK),
                    random_draw=random_draw,
                    pair=f"JAX per batch, chunk_size={CHUNK}",
                )
            )
    return Case(f"{name} · {label}", shape, tuple(rows), full_only)


def _preset_case(name: str, shape, variant: str, full_only: bool = False, chunked: bool = False) -> Case:
    """RC_img / RC_mix: the official module's variant vs ``presets.for_batches("randconv", variant=...)``."""
    rows = (
        torch_row(
            f"torch RandConv RC_{variant}",
            lambda: _reference().RandConv2d(MULTI_SCALE, variant=variant),
            random_draw=True,
        ),
        jax_row(f"JAX preset randconv({variant})", lambda: _preset("randconv", variant=variant), random_draw=True),
    )
    if chunked:
        rows += (
            jax_row(
                f"JAX preset randconv({variant}), chunk_size={CHUNK}",
                lambda: _preset("randconv", chunk_size=CHUNK, variant=variant),
                random_draw=True,
            ),
        )
    return Case(f"{name} · RC_{variant} ks=1,3,5,7", shape, rows, full_only)


def cases_2d(cfg: Config) -> Iterator[Case]:
    name = f"PACS {_fmt_shape(cfg.pacs)}"
    for k in cfg.pacs_ks:
        yield _randconv_case(name, cfg.pacs, k, per_sample=k in cfg.pacs_per_sample_ks, chunked=True)
    yield _randconv_case(name, cfg.pacs, MULTI_SCALE, per_sample=True, full_only=True, chunked=True)
    for variant in ("img", "mix"):
        yield _preset_case(name, cfg.pacs, variant, chunked=True)
    name = f"digits {_fmt_shape(cfg.digits)}"
    yield _randconv_case(name, cfg.digits, 3, per_sample=True, per_sample_full_only=True)
    yield _randconv_case(name, cfg.digits, MULTI_SCALE, per_sample=True, full_only=True)
    for variant in ("img", "mix"):
        yield _preset_case(name, cfg.digits, variant, full_only=True)


def _layer_case(name: str, shape) -> Case:
    """One linear 3^3 layer C -> C, with the FLOP count for the lower-bound columns."""
    n, *spatial, c = shape
    flops = 2 * 27 * c * c * math.prod(spatial) * n
    rows = (
        torch_row("torch F.conv3d per batch", lambda: _reference().StackedConv3d(channels=c), flops=flops),
        jax_row("JAX per batch", lambda: _rc(3, "per_batch"), flops=flops),
        jax_row("JAX per sample", lambda: _rc(3, "per_sample"), flops=flops, pair="JAX per batch"),
        jax_row("JAX per batch, donated", lambda: _rc(3, "per_batch"), donate=True, flops=flops, full_only=True),
        jax_row(
            "JAX per sample, donated",
            lambda: _rc(3, "per_sample"),
            donate=True,
            flops=flops,
            pair="JAX per batch, donated",
        ),
    )
    return Case(f"{name} · 3³ layer {c}→{c}", shape, rows)


def _three_layer_case(name: str, shape) -> Case:
    c = shape[-1]
    rows = (
        torch_row("torch 3× F.conv3d per batch", lambda: _reference().StackedConv3d(channels=c, layers=3)),
        jax_row("JAX L=3 per sample", lambda: _rc(3, "per_sample", depth=3)),
        jax_row("JAX L=3 per sample, donated", lambda: _rc(3, "per_sample", depth=3), donate=True, full_only=True),
        jax_row("JAX preset ms_rc_3d (p=1)", lambda: _preset("ms_rc_3d", probability=1.0), full_only=True),
        jax_row(
            "JAX preset ms_rc_3d (p=1), donated",
            lambda: _preset("ms_rc_3d", probability=1.0),
            donate=True,
            full_only=True,
        ),
    )
    return Case(f"{name} · 3 layers 3³", shape, rows)


def _nnunet_case(name: str, shape) -> Case:
    rows = (
        torch_row("torch nnU-Net RC transform (per sample)", lambda: _reference().NnUNetRC()),
        jax_row("JAX preset nnunet_rc (p=1)", lambda: _preset("nnunet_rc", probability=1.0)),
        jax_row(
            "JAX preset nnunet_rc (p=1), donated",
            lambda: _preset("nnunet_rc", probability=1.0),
            donate=True,
            full_only=True,
        ),
    )
    return Case(f"{name} · nnU-Net RC", shape, rows)


def _depth_case(name: str, shape, depths) -> Case:
    def row(depth: int) -> RowSpec:
        return jax_row(f"JAX L={depth} per sample", lambda: _rc(3, "per_sample", depth=depth), depth=depth)

    return Case(f"{name} · depth scaling", shape, tuple(row(depth) for depth in depths))


def cases_3d(cfg: Config) -> Iterator[Case]:
    for label, shape in cfg.volumes:
        name = f"{label} {_fmt_shape(shape)}"
        yield _layer_case(name, shape)
        yield _three_layer_case(name, shape)
        yield _nnunet_case(name, shape)
    label, shape = cfg.volumes[0]
    yield _depth_case(f"{label} {_fmt_shape(shape)}", shape, cfg.depths)


def _pro_fixed_repeats(repeats: int):
    """``presets.for_batches("pro_randconv")`` (one block per batch, offsets per image) with L fixed."""
    import jax.numpy as jnp

    import randconv_jax

    aug = randconv_jax.presets.for_batches("pro_randconv")

    def sample(key, images):
        return dataclasses.replace(aug.sample(key, images), repeats=jnp.int32(repeats))

    return randconv_jax.Augmentation(sample, aug.apply)


def _method_cases(cfg: Config) -> Iterator[Case]:
    """GIN (vs the official op), GIN-IPA, and Pro-RandConv at a fixed L (vs a PyTorch re-implementation)."""
    gin_shapes = cfg.gin_shapes
    for label, shape in gin_shapes:
        c = shape[-1]
        rows = (
            torch_row("torch official GIN op", lambda c=c: _reference().GIN(channels=c), random_draw=True),
            jax_row("JAX preset gin (per sample)", lambda: _preset("gin"), random_draw=True),
            jax_row("JAX preset gin_ipa (per sample, 2 GINs)", lambda: _preset("gin_ipa"), random_draw=True),
        )
        yield Case(f"{label} {_fmt_shape(shape)} · GIN", shape, rows)
    for label, shape in cfg.pro_shapes:
        c = shape[-1]
        rows = (
            torch_row(
                "torch Pro-RandConv (grid_sample), L=2",
                lambda c=c: _reference().ProRandConv(channels=c, repeats=2),
            ),
            jax_row("JAX pro_randconv (block per batch, offsets per image), L=2", lambda: _pro_fixed_repeats(2)),
        )
        yield Case(f"{label} {_fmt_shape(shape)} · Pro-RandConv L=2", shape, rows)


def all_cases(cfg: Config) -> list[Case]:
    cases = (*cases_2d(cfg), *cases_3d(cfg), *_method_cases(cfg))
    cases = [case for case in cases if not (cfg.quick and case.full_only)]
    if cfg.only:
        cases = [case for case in cases if any(word in case.name for word in cfg.only)]
    return cases


# --------------------------------------------------------------------------- measuring


@dataclasses.dataclass
class Result:
    case: str
    impl: str
    threads: str
    torch: bool
    median_ms: float
    min_ms: float
    max_ms: float
    throughput: float
    unit: str
    block: int
    cpu_util: float
    first_call_s: float | None
    flops: float | None
    pair: str | None
    depth: int | None


def _block_size(seconds_per_call: float, spec: RowSpec, cfg: Config) -> int:
    block = math.ceil(cfg.min_sample_s / max(seconds_per_call, 1e-7))
    if spec.random_draw:
        block = max(block, cfg.random_block)
    return max(1, min(block, MAX_BLOCK))


def _throughput(shape: tuple[int, ...], seconds: float) -> tuple[float, str]:
    n, *spatial, _ = shape
    if len(spatial) == 2:
        return n / seconds, "images/s"
    return n * math.prod(spatial) / seconds / 1e6, "Mvox/s"


def measure_case(case: Case, cfg: Config, threads: str, have_torch: bool) -> list[Result]:
    """Warms every row up, then times the rows in turn within each of ``cfg.runs`` runs."""
    inputs = Inputs(case.shape)
    specs = [s for s in case.rows if (have_torch or not s.torch) and not (cfg.quick and s.full_only)]
    rows = []
    for spec in specs:
        runner = spec.build(inputs)
        first = runner.first_call()
        warm = cfg.random_block if spec.random_draw else 1
        wall, _ = runner.run(warm)
        rows.append((spec, runner, None if spec.torch else first, _block_size(wall / warm, spec, cfg)))
    times = {spec.impl: [[] for _ in range(cfg.runs)] for spec in specs}
    cpu = {spec.impl: [0.0, 0.0] for spec in specs}
    for run in range(cfg.runs):
        for spec, runner, _, block in rows:
            for _ in range(cfg.samples):
                wall, cpu_s = runner.run(block)
                times[spec.impl][run].append(wall / block)
                cpu[spec.impl][0] += cpu_s
                cpu[spec.impl][1] += wall
    results = []
    for spec, _, first, block in rows:
        per_run = times[spec.impl]
        median = statistics.median(statistics.median(samples) for samples in per_run)
        flat = [t for samples in per_run for t in samples]
        rate, unit = _throughput(case.shape, median)
        results.append(
            Result(
                case=case.name,
                impl=spec.impl,
                threads=threads,
                torch=spec.torch,
                median_ms=median * 1e3,
                min_ms=min(flat) * 1e3,
                max_ms=max(flat) * 1e3,
                throughput=rate,
                unit=unit,
                block=block,
                cpu_util=cpu[spec.impl][0] / cpu[spec.impl][1],
                first_call_s=first,
                flops=spec.flops,
                pair=spec.pair,
                depth=spec.depth,
            )
        )
    return results


def matmul_peak_gflops(samples: int = 15) -> float:
    """Median GFLOP/s of a jitted ``MATMUL_N``² float32 matmul: the compute bound used below."""
    import jax
    import jax.numpy as jnp

    a = jax.random.normal(jax.random.key(1), (MATMUL_N, MATMUL_N), jnp.float32)
    matmul = jax.jit(jnp.matmul)
    matmul(a, a).block_until_ready()
    rates = []
    for _ in range(samples):
        start = time.perf_counter()
        matmul(a, a).block_until_ready()
        rates.append(2 * MATMUL_N**3 / (time.perf_counter() - start) / 1e9)
    return statistics.median(rates)


def configure_threads(threads: str) -> None:
    """For the 1-thread half: pins the process to one CPU and sets XLA_FLAGS (before JAX is imported).

    XLA:CPU's runtime keeps a thread pool of its own that the flags do not shrink
    (1-thread rows showed ~1.8 CPU-seconds per second with the flags alone), so the
    process is pinned to a single core with ``os.sched_setaffinity``; the CPU util
    column shows whether that held.
    """
    if threads != "1":
        return
    if "jax" in sys.modules:
        raise RuntimeError("the 1-thread XLA flags must be set before JAX is imported")
    flags = os.environ.get("XLA_FLAGS", "")
    if ONE_THREAD_XLA_FLAGS not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {ONE_THREAD_XLA_FLAGS}".strip()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def run_half(cfg: Config, threads: str) -> dict:
    """Measures every case with one thread setting (``"all"`` or ``"1"``) in this process."""
    configure_threads(threads)
    torch = _import_torch()
    torch_threads = None
    if torch is not None:
        torch_threads = os.cpu_count() if threads == "all" else 1
        torch.set_num_threads(torch_threads)
    start = time.perf_counter()
    _log(f"[threads {threads}] matmul peak ...")
    peak = matmul_peak_gflops(5 if cfg.quick else 15)
    results = []
    for case in all_cases(cfg):
        _log(f"[threads {threads}] {time.perf_counter() - start:6.1f}s  {case.name}")
        results += measure_case(case, cfg, threads, torch is not None)
    _log(f"[threads {threads}] done in {time.perf_counter() - start:.1f}s")
    return {
        "threads": threads,
        "peak_gflops": peak,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "torch_threads": torch_threads,
        "results": [dataclasses.asdict(r) for r in results],
    }


def run_child_half(args: argparse.Namespace) -> dict:
    """Runs the 1-thread half in a child process (XLA reads its flags once, at import)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "half.json"
        command = [sys.executable, str(Path(__file__).resolve()), "--threads", "1", "--json-out", str(path)]
        if args.quick:
            command.append("--quick")
        if args.runs is not None:
            command += ["--runs", str(args.runs)]
        for word in args.only:
            command += ["--only", word]
        env = dict(os.environ)
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {ONE_THREAD_XLA_FLAGS}".strip()
        subprocess.run(command, env=env, check=True)
        return json.loads(path.read_text())


# --------------------------------------------------------------------------- report


def _cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or platform.machine()


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine_info() -> list[str]:
    versions = ", ".join(f"{p} {_version(p)}" for p in ("jax", "jaxlib", "torch", "numpy"))
    return [
        f"* command: `{shlex.join(['python', *sys.argv])}`",
        f"* date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"* CPU: {_cpu_model()} ({platform.machine()}), nproc {os.cpu_count()}",
        f"* python {platform.python_version()}, {versions}",
    ]


def _ms(value: float) -> str:
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _rate(value: float, unit: str) -> str:
    return f"{value:,.0f} {unit}" if unit == "images/s" else f"{value:.1f} {unit}"


def _thread_label(half: dict) -> str:
    return "1" if half["threads"] == "1" else f"all ({half['torch_threads'] or os.cpu_count()})"


def _row_cells(r: dict, rows: dict, half: dict) -> list[str]:
    ref = next((x for x in rows.values() if x["torch"]), None)
    speedup = "—" if ref is None else f"{ref['median_ms'] / r['median_ms']:.2f}×"
    if r["torch"]:
        speedup = "1 (ref)"
    gflops = bound = ""
    if r["flops"]:
        gflops = f"{r['flops'] / r['median_ms'] / 1e6:.1f}"
        bound = f"{r['median_ms'] / (r['flops'] / half['peak_gflops'] / 1e6):.1f}×"
    notes = []
    if r["pair"] in rows:
        notes.append(f"per-sample/per-batch {r['median_ms'] / rows[r['pair']]['median_ms']:.2f}")
    if r["depth"]:
        one = next((x for x in rows.values() if x["depth"] == 1), None)
        if one and r["depth"] > 1:
            notes.append(f"t(L)/(L·t(1)) {r['median_ms'] / (r['depth'] * one['median_ms']):.2f}")
    if r["block"] > 1:
        notes.append(f"{r['block']} calls/sample")
    first = f"{r['first_call_s']:.2f}" if r["first_call_s"] is not None else ""
    return [
        r["case"],
        r["impl"],
        _thread_label(half),
        _ms(r["median_ms"]),
        _ms(r["min_ms"]),
        _ms(r["max_ms"]),
        _rate(r["throughput"], r["unit"]),
        speedup,
        first,
        gflops,
        bound,
        f"{r['cpu_util']:.2f}",
        "; ".join(notes),
    ]


HEADER = (
    "case",
    "implementation",
    "threads",
    "median ms",
    "min ms",
    "max ms",
    "throughput",
    "speed-up vs torch",
    "first call s",
    "GFLOP/s",
    "× bound",
    "CPU util",
    "notes",
)


def render_table(halves: list[dict]) -> list[str]:
    align = ["---"] * 3 + ["---:"] * (len(HEADER) - 4) + ["---"]
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "|".join(align) + "|"]
    order = list(dict.fromkeys(r["case"] for half in halves for r in half["results"]))
    for case in order:
        for half in halves:
            rows = {r["impl"]: r for r in half["results"] if r["case"] == case}
            lines += ["| " + " | ".join(_row_cells(r, rows, half)) + " |" for r in rows.values()]
    return lines


def depth_lines(halves: list[dict]) -> list[str]:
    lines = []
    for half in halves:
        rows = [r for r in half["results"] if r["depth"]]
        one = next((r for r in rows if r["depth"] == 1), None)
        if not one:
            continue
        ratios = ", ".join(f"L={r['depth']}: {r['median_ms'] / (r['depth'] * one['median_ms']):.2f}" for r in rows)
        lines.append(f"* {rows[0]['case']}, threads {_thread_label(half)}: t(L)/(L·t(1)) = {ratios}")
    return lines


def render(halves: list[dict], cfg: Config) -> str:
    lines = ["# randconv_jax throughput (CPU, float32, jitted)", "", *machine_info()]
    for half in halves:
        flags = half["xla_flags"] or "(unset)"
        torch_threads = half["torch_threads"] or "(no torch)"
        lines.append(
            f"* threads {_thread_label(half)}: XLA_FLAGS={flags}; torch threads {torch_threads}; "
            f"jitted {MATMUL_N}² float32 matmul {half['peak_gflops']:.0f} GFLOP/s (the compute bound of × bound)"
        )
    lines += [
        f"* protocol: {'QUICK (small inputs, numbers mean little); ' if cfg.quick else ''}{cfg.runs} runs × "
        f"{cfg.samples} samples per row, rows of a case interleaved within each run; a sample times ≥ "
        f"{cfg.min_sample_s * 1e3:.0f} ms of back-to-back calls (≥ {cfg.random_block} calls where k or a coin is "
        "drawn per call); median = median of per-run medians, min/max over all samples; new weights every call",
        "* speed-up vs torch = t(torch reference row of the case, same threads) / t(row); first call s = trace + "
        "compile + run of a fresh jit; CPU util = process CPU time / wall time; GFLOP/s and × bound (time / "
        "compute bound at the matmul rate) for the single 3³ layer rows, FLOPs = 2·27·C_in·C_out·voxels·N",
        "",
        *render_table(halves),
        "",
        *depth_lines(halves),
    ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- CLI


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Jitted throughput of randconv_jax against PyTorch references (CPU, float32).",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes and few repetitions, to check the script")
    parser.add_argument("--runs", type=_positive_int, help="timed runs per case (default 3; quick 2)")
    parser.add_argument(
        "--threads",
        choices=("all", "1", "both"),
        default="both",
        help="all threads, 1 thread, or both (1-thread half in a child process; default)",
    )
    parser.add_argument("--out", type=Path, help="also write the markdown report to this file")
    parser.add_argument(
        "--only", action="append", default=[], help="run only cases whose name contains this text (repeatable)"
    )
    parser.add_argument("--json-out", type=Path, help=argparse.SUPPRESS)  # internal: child half's results
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    cfg = QUICK if args.quick else FULL
    if args.runs is not None:
        cfg = dataclasses.replace(cfg, runs=args.runs)
    if args.only:
        cfg = dataclasses.replace(cfg, only=tuple(args.only))
    if args.json_out is not None:
        args.json_out.write_text(json.dumps(run_half(cfg, "1" if args.threads == "1" else "all")))
        return
    halves = []
    if args.threads in ("all", "both"):
        halves.append(run_half(cfg, "all"))
    if args.threads == "both":
        halves.append(run_child_half(args))
    if args.threads == "1":
        halves.append(run_half(cfg, "1"))
    report = render(halves, cfg)
    print(report, end="")
    if args.out is not None:
        args.out.write_text(report)


if __name__ == "__main__":
    main()
