"""One-command accelerator check: backend and devices, the library's tests there, then timings.

Usage::

    python benchmarks/device_check.py [--quick] [--no-tests] [--only TEXT] [--runs N] [--out FILE.md]

Needs nothing from the network: from a plain checkout, install the wheels carried in first, e.g.
(a folder ``wheels/`` filled beforehand with ``pip download -d wheels "jax[cuda12]==<version>"
-e ".[test]"`` on a machine with network)::

    pip install --no-index --find-links wheels/ "jax[cuda12]" -e ".[test]"
    python benchmarks/device_check.py --out device_check.md

Steps (sized to fit in 8 min on one GPU, not yet timed on one; ``--quick`` shrinks every size to
check the script on a CPU):

1. the date, host, JAX and jaxlib versions, the default backend and every device;
2. the library's tests on that backend (``pytest`` in a child process, the default device being
   the accelerator): every preset per sample and per batch under ``jit``, ``vmap`` and a
   ``NamedSharding`` mesh over the devices, ``impl="lax"`` on a sharded batch with Explicit and
   Auto mesh axes (``tests/randconv_jax/test_sharded_lax.py``), and the keys/batching tests;
3. timings, each the median of ``runs`` blocks of back-to-back calls after a compiling first call
   and a warm-up (``block_until_ready`` after every call, a new key per call): RandConv on PACS
   64×224²×3 (per batch, the paper's sharing, and per sample), the ``nnunet_rc`` and ``ms_rc_3d``
   transforms on a whole brain 160×192×160×2 (per sample; the target is < 1 ms), GIN and
   GIN-IPA (per sample) and Pro-RandConv (per batch) on PACS, and U-Net train steps (forward,
   backward, AdamW) in 2D (the default config's model, 32×128²×2) and 3D (the ``ms_3d`` config's
   model, 2×96³×2) without and with RC in the step, with the RC share of the step
   ``(t_RC - t_none) / t_RC`` (the target is ≤ 2 % in 3D).

The result is a markdown report (stdout, and ``--out``) whose table fits ``docs/benchmarks.md``.
The timing helpers are those of ``bench_rc.py`` (``JaxRunner``) and ``bench_train.py``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for path in (str(ROOT), str(HERE)):
    if path not in sys.path:
        sys.path.insert(0, path)

TEST_FILES = (
    "tests/randconv_jax/test_sharded_lax.py",
    "tests/randconv_jax/test_keys_jit_batching.py",
    "tests/randconv_jax/test_presets.py",
    "tests/randconv_jax/test_conv_oracle.py",
)


@dataclasses.dataclass(frozen=True)
class Sizes:
    pacs: tuple[int, ...]
    brain: tuple[int, ...]
    unet_2d: tuple[tuple[int, ...], tuple[int, ...]]  # features, batch (B, *spatial, C)
    unet_3d: tuple[tuple[int, ...], tuple[int, ...]]


FULL = Sizes(pacs=(64, 224, 224, 3), brain=(1, 160, 192, 160, 2),
             unet_2d=((16, 32, 64, 128), (32, 128, 128, 2)), unet_3d=((32, 64, 128, 256, 320), (2, 96, 96, 96, 2)))
QUICK = Sizes(pacs=(4, 32, 32, 3), brain=(1, 16, 24, 16, 2), unet_2d=((4, 8), (4, 32, 32, 2)),
              unet_3d=((4, 8), (1, 16, 16, 16, 2)))


def header() -> list[str]:
    import jax
    import jaxlib

    devices = jax.devices()
    kinds = sorted({d.device_kind for d in devices})
    return [
        f"date: {datetime.datetime.now(datetime.UTC).isoformat(timespec='seconds')}",
        f"host: {platform.node()} ({platform.machine()}, {os.cpu_count()} CPU threads)",
        f"JAX {jax.__version__}, jaxlib {jaxlib.__version__}, Python {platform.python_version()}",
        f"backend: {jax.default_backend()}; {len(devices)} device(s) of {jax.process_count()} process(es): "
        f"{', '.join(kinds)}",
        "devices: " + ", ".join(str(d) for d in devices),
    ]


def run_tests(timeout_s: float) -> tuple[str, bool]:
    """The library's test subset in a child process on the default backend; (summary line, passed)."""
    env = dict(os.environ)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", *TEST_FILES]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return f"tests: stopped after {timeout_s:.0f} s (timeout)", False
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    summary = lines[-1] if lines else "(no output)"
    if proc.returncode:
        failed = [line for line in lines if line.startswith(("FAILED", "ERROR"))]
        summary += "\n" + "\n".join(failed[:40]) + ("\n" + proc.stderr[-2000:] if not failed else "")
    return f"tests ({time.perf_counter() - start:.0f} s): {summary}", proc.returncode == 0


def _median_ms(call: Callable[[], None], runs: int, per_run: int) -> tuple[float, float]:
    """(first call s, median ms per call) of ``runs`` blocks of ``per_run`` calls after a warm-up."""
    start = time.perf_counter()
    call()
    first = time.perf_counter() - start
    call()
    blocks = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(per_run):
            call()
        blocks.append((time.perf_counter() - start) / per_run)
    return first, 1e3 * statistics.median(blocks)


def rc_rows(sizes: Sizes, runs: int, only: list[str]) -> list[dict]:
    import numpy as np
    from bench_rc import Inputs, JaxRunner, _preset

    cases = [
        ("RandConv (randconv) per batch", sizes.pacs, lambda: _preset("randconv")),
        ("RandConv (randconv) per sample", sizes.pacs, lambda: _batched("randconv", "per_sample")),
        ("nnunet_rc per sample", sizes.brain, lambda: _preset("nnunet_rc")),
        ("ms_rc_3d per sample", sizes.brain, lambda: _preset("ms_rc_3d")),
        ("GIN per sample", sizes.pacs, lambda: _preset("gin")),
        ("GIN-IPA per sample", sizes.pacs, lambda: _preset("gin_ipa")),
        ("Pro-RandConv per batch", sizes.pacs, lambda: _preset("pro_randconv")),
    ]
    rows = []
    for name, shape, make in cases:
        if only and not any(o in name for o in only):
            continue
        runner = JaxRunner(make(), Inputs(shape).jax)
        first = runner.first_call()
        per_run = 5
        runner.run(2)
        times = [runner.run(per_run)[0] / per_run for _ in range(runs)]
        ms = 1e3 * statistics.median(times)
        rows.append({"what": name, "shape": "×".join(map(str, shape)), "ms": ms,
                     "per_sample_ms": ms / shape[0], "first_s": first,
                     "rate": f"{np.prod(shape[:-1]) / (ms / 1e3) / 1e6:.3g} Mvox/s"})
    return rows


def _batched(name: str, mode: str):
    import randconv_jax

    return randconv_jax.batched(getattr(randconv_jax.presets, name)(), mode=mode)


def unet_rows(sizes: Sizes, runs: int, only: list[str]) -> list[dict]:
    import jax
    import jax.numpy as jnp
    from bench_train import _numpy_batch, _optim_config
    from flax import nnx

    from train.augment import make_augment
    from train.models import UNet
    from train.optim import make_optimizer
    from train.step import create_train_state, make_train_step

    rows = []
    for label, (features, batch_shape), presets in (("2D U-Net", sizes.unet_2d, ("none", "randconv", "nnunet_rc")),
                                                    ("3D U-Net", sizes.unet_3d, ("none", "nnunet_rc", "ms_rc_3d"))):
        if only and not any(o in label for o in only):
            continue
        x, y, mask = (jnp.asarray(a) for a in _numpy_batch(batch_shape))
        batch = {"image": x, "label": y, "mask": mask, "index": jnp.arange(batch_shape[0], dtype=jnp.int32)}
        base = jax.random.key(0)
        none_ms = None
        for preset in presets:
            net = UNet(in_channels=batch_shape[-1], num_classes=2, features=features, spatial_dims=len(batch_shape) - 2,
                       conv_impl="auto", rngs=nnx.Rngs(0))
            tx, _ = make_optimizer(_optim_config(), 1000)
            graphdef, state = create_train_state(net, tx)
            step = jax.jit(make_train_step(graphdef, tx, augment=make_augment(preset)))
            holder = {"state": state}

            def call(step=step, holder=holder, batch=batch, base=base):
                holder["state"], metrics = step(holder["state"], batch, base)
                jax.block_until_ready(metrics)

            first, ms = _median_ms(call, runs, 3)
            share = "" if preset == "none" or none_ms is None else f"{100 * (ms - none_ms) / ms:.1f} %"
            none_ms = ms if preset == "none" else none_ms
            rows.append({"what": f"{label} train step, RC {preset}", "shape": "×".join(map(str, batch_shape)),
                         "ms": ms, "per_sample_ms": ms / batch_shape[0], "first_s": first, "rate": share})
    return rows


def table(rows: list[dict]) -> list[str]:
    out = ["| what | input | ms per call | ms per sample | first call s | rate / RC share of the step |",
           "|---|---|---:|---:|---:|---|"]
    for r in rows:
        out.append(f"| {r['what']} | {r['shape']} | {r['ms']:.3g} | {r['per_sample_ms']:.3g} | {r['first_s']:.1f} | "
                   f"{r['rate']} |")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes: checks the script (on a CPU too)")
    p.add_argument("--no-tests", action="store_true", help="skip step 2 (the tests)")
    p.add_argument("--only", action="append", default=[], help="keep the timing rows whose name contains TEXT")
    p.add_argument("--runs", type=int, default=5, help="timed blocks per row (default 5)")
    p.add_argument("--test-timeout", type=float, default=300.0, help="seconds for step 2 (default 300)")
    p.add_argument("--out", type=Path, help="also write the report to this markdown file")
    args = p.parse_args(argv)
    if args.runs < 1:
        p.error("--runs must be >= 1")
    started = time.perf_counter()
    lines = ["# Accelerator check", "", *(f"* {line}" for line in header()), ""]
    print("\n".join(lines), flush=True)
    passed = True
    if not args.no_tests:
        summary, passed = run_tests(args.test_timeout)
        lines += [f"* {summary}", ""]
        print(lines[-2], flush=True)
    sizes = QUICK if args.quick else FULL
    rows = rc_rows(sizes, args.runs, args.only) + unet_rows(sizes, args.runs, args.only)
    lines += table(rows)
    lines += ["", f"total {time.perf_counter() - started:.0f} s" + (" (--quick sizes: the figures mean little)"
                                                                     if args.quick else "")]
    report = "\n".join(lines) + "\n"
    print("\n".join(table(rows)) + "\n" + lines[-1])
    if args.out:
        args.out.write_text(report, encoding="utf-8")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
