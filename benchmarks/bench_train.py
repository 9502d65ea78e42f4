"""Train-step throughput of the U-Net with and without random convolutions in the step.

Usage::

    python benchmarks/bench_train.py [--quick] [--runs N] [--gpu] [--out FILE.md]

For each model (2D and 3D) the jitted train step is timed without augmentation and with each RC
preset inside the step, side by side in every run (the rows of one model alternate), together with
the RC alone (the same batched augmentation, jitted by itself). Reported per row: median step
time, steps/s, images/s, and the RC share of the step = (t_with_RC - t_without) / t_with_RC; the
target is under 5 %.

Sizes: on CPU (default) the quickstart 2D model (features 16-32-64) on 8x96x96x2 slices and a
3D model (features 8-16-32) on 2x64^3x2 patches; with ``--gpu`` the default config's 2D model
(16-...-128) on 32x128x128x2 and the ``ms_3d`` config's model (32-...-320) on 2x96^3x2 patches.
``--quick`` shrinks everything to check the script. Every step gets a new key (fold_in of the
step number, as in training) and is followed by ``block_until_ready``; median of ``runs`` runs of
``samples`` steps each, after a first (compiling) call and a warm-up.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import platform
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from train.augment import make_augment  # noqa: E402
from train.models import UNet  # noqa: E402
from train.optim import make_optimizer  # noqa: E402
from train.step import create_train_state, make_train_step  # noqa: E402


@dataclasses.dataclass(frozen=True)
class Model:
    name: str
    features: tuple[int, ...]
    batch: tuple[int, ...]  # (B, *spatial, C)
    presets: tuple[str, ...]


def models(quick: bool, gpu: bool) -> list[Model]:
    rc2d = ("randconv", "nnunet_rc", "gin", "pro_randconv")
    rc3d = ("nnunet_rc", "ms_rc_3d", "gin")
    if quick:
        return [Model("2D quick", (8, 16), (4, 32, 32, 2), rc2d), Model("3D quick", (4, 8), (1, 16, 16, 16, 2), rc3d)]
    if gpu:
        return [Model("2D default", (16, 32, 64, 128), (32, 128, 128, 2), rc2d),
                Model("3D ms_3d", (32, 64, 128, 256, 320), (2, 96, 96, 96, 2), rc3d)]
    return [Model("2D quickstart", (16, 32, 64), (8, 96, 96, 2), rc2d),
            Model("3D small", (8, 16, 32), (2, 64, 64, 64, 2), rc3d)]


def available(preset: str) -> bool:
    from randconv_jax import presets

    return preset in presets.BATCH_MODE


def _batch(shape, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape).astype(np.float32)
    return {"image": jnp.asarray(x), "label": jnp.asarray((x[..., 0] > 1.5).astype(np.int32)),
            "mask": jnp.asarray(np.abs(x[..., -1]) < 2.5)}


def _time_calls(fn, n):
    t = []
    for i in range(n):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(i))
        t.append(time.perf_counter() - t0)
    return t


def bench_model(m: Model, runs: int, samples: int) -> list[dict]:
    spatial_dims = len(m.batch) - 2
    net = UNet(in_channels=m.batch[-1], num_classes=2, features=m.features, spatial_dims=spatial_dims,
               rngs=nnx.Rngs(0))
    tx, _ = make_optimizer({"learning_rate": 1e-3}, 1000)
    graphdef, state0 = create_train_state(net, tx)
    batch = _batch(m.batch)
    base = jax.random.key(0)
    rows = {}
    presets = ["none"] + [p for p in m.presets if available(p)]
    for preset in presets:
        aug = make_augment(preset)
        step = jax.jit(make_train_step(graphdef, tx, augment=aug))
        t0 = time.perf_counter()
        state, _ = step(state0, batch, base)
        jax.block_until_ready(state)
        first = time.perf_counter() - t0
        holder = {"state": state}

        def call(i, step=step, holder=holder):
            holder["state"], metrics = step(holder["state"], batch, base)
            return metrics

        rc_alone = None
        if aug is not None:
            rc_alone = jax.jit(lambda k, x, mk, aug=aug: aug(k, x, mk))
            jax.block_until_ready(rc_alone(base, batch["image"], batch["mask"]))
        rows[preset] = {"call": call, "rc": rc_alone, "first": first, "times": [], "rc_times": []}
        call(0)  # warm-up
    for _ in range(runs):
        for r in rows.values():
            r["times"].append(statistics.median(_time_calls(r["call"], samples)))
            if r["rc"] is not None:
                rc = r["rc"]
                r["rc_times"].append(statistics.median(_time_calls(
                    lambda i, rc=rc: rc(jax.random.fold_in(base, i), batch["image"], batch["mask"]), samples)))
    base_t = statistics.median(rows["none"]["times"])
    out = []
    for preset, r in rows.items():
        t = statistics.median(r["times"])
        rc_t = statistics.median(r["rc_times"]) if r["rc_times"] else float("nan")
        out.append({"model": m.name, "batch": "x".join(map(str, m.batch)), "preset": preset, "step_ms": 1e3 * t,
                    "steps_s": 1 / t, "images_s": m.batch[0] / t, "rc_alone_ms": 1e3 * rc_t,
                    "rc_share": (t - base_t) / t if preset != "none" else float("nan"), "first_s": r["first"]})
    return out


def table(rows: list[dict]) -> str:
    head = ("| model | batch (B×spatial×C) | RC in step | step ms (median) | steps/s | images/s | RC alone ms | "
            "RC share of step | first call s |")
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        share = "—" if np.isnan(r["rc_share"]) else f"{100 * r['rc_share']:.1f} %"
        alone = "—" if np.isnan(r["rc_alone_ms"]) else f"{r['rc_alone_ms']:.1f}"
        lines.append(f"| {r['model']} | {r['batch']} | {r['preset']} | {r['step_ms']:.1f} | {r['steps_s']:.2f} | "
                     f"{r['images_s']:.1f} | {alone} | {share} | {r['first_s']:.1f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--gpu", action="store_true", help="GPU sizes (see the module docstring)")
    p.add_argument("--runs", type=int, default=None)
    p.add_argument("--samples", type=int, default=None)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    runs = args.runs or (2 if args.quick else 3)
    samples = args.samples or (3 if args.quick else 5)
    rows = []
    for m in models(args.quick, args.gpu):
        rows += bench_model(m, runs, samples)
        print(f"done {m.name}", file=sys.stderr)
    dev = jax.devices()[0]
    header = (f"{datetime.date.today().isoformat()}; JAX {jax.__version__} on {dev.platform} ({dev.device_kind}); "
              f"{platform.processor() or platform.machine()}; runs={runs}, samples={samples}")
    report = f"{header}\n\n{table(rows)}\n"
    print(report)
    if args.out:
        args.out.write_text(report, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
