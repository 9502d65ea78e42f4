"""U-Net train-step throughput: JAX (both convolution forms, with and without RC) against PyTorch.

Usage::

    python benchmarks/bench_train.py [--quick] [--runs N] [--samples N] [--only 2d|3d]
                                     [--no-torch] [--presets a,b] [--gpu] [--out FILE.md]

Each framework runs in its own worker process (in one process PyTorch's and XLA's thread pools
disturb each other and PyTorch's times swing 5x). The parent builds every row in its worker,
then asks for the rows in turn, round after round (A, B, C, A, B, C, ...), so slow phases of a
shared machine hit every row alike; each request times ``samples`` calls after a warm-up and
the table reports the median over all of them.

Rows per model: JAX with ``conv_impl="cpu"`` (what ``"auto"`` picks on a CPU) and ``"lax"``,
PyTorch (``benchmarks/_torch_unet.py``, same architecture, loss and optimizer), each without
augmentation; then with random convolutions in the step: JAX for every preset in
``--presets`` and PyTorch with the reference operation of the first one that has one
(``_torch_reference.py``: RandConv's for 2D, the nnU-Net transform for 3D). For each row:
the step (forward, backward, clip, AdamW), the forward pass alone, and the backward (step
without the optimizer, minus the forward); the ratio to PyTorch's step; GFLOP/s of the step from
XLA's cost analysis of the ``lax`` step; the RC share of the step, ``(t_RC - t_none) / t_RC``;
the RC alone (the same batched augmentation jitted by itself, the sharper figure when the share
is within the step's noise); and the first (compiling) call. Each worker also times a 2048^2
float32 matmul, the machine's reachable rate.

Sizes: on CPU the quickstart 2D model (features 16-32-64) on 8x96x96x2 slices and a 3D model
(8-16-32) on 2x64^3x2 patches; ``--gpu`` uses the default config's 2D model on 32x128^2x2 and the
``ms_3d`` config's model on 2x96^3x2, without the PyTorch rows; ``--quick`` shrinks everything
to check the script.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclasses.dataclass(frozen=True)
class Model:
    name: str
    features: tuple[int, ...]
    batch: tuple[int, ...]  # (B, *spatial, C)
    presets: tuple[str, ...]

    @property
    def spatial_dims(self) -> int:
        return len(self.batch) - 2


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


def _numpy_batch(shape, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape).astype(np.float32)
    return x, (x[..., 0] > 1.5).astype(np.int32), np.abs(x[..., -1]) < 2.5


def _optim_config():
    """The default config's optimizer (AdamW, clip 12); PyTorch's rows use the same values."""
    sys.path.insert(0, str(ROOT))
    from train.configs import default

    return default.get_config().optim


def _time(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


# ----------------------------------------------------------------------------------------- workers


def _jax_rows(m: Model, presets: list[str]) -> dict:
    import jax
    import jax.numpy as jnp
    from flax import nnx

    sys.path.insert(0, str(ROOT))
    from train.augment import make_augment
    from train.losses import dice_ce_loss
    from train.models import UNet
    from train.optim import make_optimizer
    from train.step import create_train_state, make_train_step

    x, y, mask = (jnp.asarray(a) for a in _numpy_batch(m.batch))
    batch = {"image": x, "label": y, "mask": mask}
    base = jax.random.key(0)
    rows = {}
    specs = [("cpu", "none"), ("lax", "none")] + [("cpu", p) for p in presets]
    flops = None
    for impl, preset in specs:
        net = UNet(in_channels=m.batch[-1], num_classes=2, features=m.features, spatial_dims=m.spatial_dims,
                   conv_impl=impl, rngs=nnx.Rngs(0))
        tx, _ = make_optimizer(_optim_config(), 1000)
        graphdef, state0 = create_train_state(net, tx)
        aug = make_augment(preset)
        step = jax.jit(make_train_step(graphdef, tx, augment=aug))
        t0 = time.perf_counter()
        jax.block_until_ready(step(state0, batch, base))
        first = time.perf_counter() - t0
        if impl == "lax" and preset == "none":
            flops = {"step": step.lower(state0, batch, base).compile().cost_analysis().get("flops")}

        def loss(params, graphdef=graphdef):
            return dice_ce_loss(nnx.merge(graphdef, params)(x), y)[0]

        fwd = jax.jit(loss)
        fwd_bwd = jax.jit(jax.grad(loss))
        holder = {"state": state0}

        def run_step(step=step, holder=holder):
            holder["state"], metrics = step(holder["state"], batch, base)
            jax.block_until_ready(metrics)

        def run_fwd(fwd=fwd, holder=holder):
            jax.block_until_ready(fwd(holder["state"].params))

        def run_fwd_bwd(fwd_bwd=fwd_bwd, holder=holder):
            jax.block_until_ready(fwd_bwd(holder["state"].params))

        row = {"step": run_step, "fwd": run_fwd, "fwd_bwd": run_fwd_bwd, "first": first}
        if aug is not None:
            index = jnp.arange(m.batch[0], dtype=jnp.int32)
            rc_alone = jax.jit(lambda k, x, mk, aug=aug, index=index: aug(k, x, mk, index))
            counter = iter(range(10 ** 9))
            row["rc"] = lambda rc_alone=rc_alone, counter=counter: jax.block_until_ready(
                rc_alone(jax.random.fold_in(base, next(counter)), x, mask))
        for f in row.values():
            if callable(f):
                f()
                f()
        rows[f"jax {impl} {preset}"] = row
    a = jnp.ones((2048, 2048), jnp.float32)
    mm = jax.jit(lambda a: a @ a)
    jax.block_until_ready(mm(a))
    rows["matmul"] = {"step": lambda: jax.block_until_ready(mm(a))}
    return {"rows": rows, "flops": flops}


def _torch_rows(m: Model, presets: list[str]) -> dict:
    import torch

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import _torch_reference as ref
    from _torch_unet import TorchTrainStep, TorchUNet

    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(0)
    x, y, _ = _numpy_batch(m.batch)
    xt = torch.from_numpy(x).movedim(-1, 1).contiguous()
    yt = torch.from_numpy(y).long()
    rows = {}
    augs = {"none": None}
    if m.spatial_dims == 2 and "randconv" in presets:
        augs["randconv"] = ref.RandConv2d((1, 3, 5, 7), channels=m.batch[-1], variant="img")
    elif m.spatial_dims == 3 and "nnunet_rc" in presets:
        augs["nnunet_rc"] = ref.NnUNetRC()
    for name, aug in augs.items():
        net = TorchUNet(in_channels=m.batch[-1], num_classes=2, features=m.features, spatial_dims=m.spatial_dims)
        o = _optim_config()
        step = TorchTrainStep(net, learning_rate=o.learning_rate, weight_decay=o.weight_decay,
                              clip=o.grad_clip_norm, augment=aug)
        t0 = time.perf_counter()
        step(xt, yt)
        first = time.perf_counter() - t0

        def run_fwd(step=step):
            step.forward(xt, yt)  # autograd records, as inside a step; the graph is dropped

        for f in (lambda step=step: step(xt, yt), run_fwd, lambda step=step: step.forward_backward(xt, yt)):
            f()
        rows[f"torch {name}"] = {"step": lambda step=step: step(xt, yt), "fwd": run_fwd,
                                 "fwd_bwd": lambda step=step: step.forward_backward(xt, yt), "first": first}
    a = torch.ones((2048, 2048))
    rows["matmul"] = {"step": lambda: a @ a}
    return {"rows": rows, "flops": None}


def worker(framework: str, model_json: str, presets: list[str]) -> int:
    m = Model(**{k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(model_json).items()})
    built = _jax_rows(m, presets) if framework == "jax" else _torch_rows(m, presets)
    rows = built["rows"]
    info = {name: {"first": r.get("first"), "kinds": [k for k in ("step", "fwd", "fwd_bwd", "rc") if k in r]}
            for name, r in rows.items()}
    print(json.dumps({"ready": info, "flops": built["flops"]}), flush=True)
    for line in sys.stdin:
        name, kind, n = line.split("\t")
        print(json.dumps(_time(rows[name][kind], int(n))), flush=True)
    return 0


# ------------------------------------------------------------------------------------------ parent


class _Worker:
    def __init__(self, framework: str, m: Model, presets: list[str]):
        cmd = [sys.executable, __file__, "--worker", framework, "--model", json.dumps(dataclasses.asdict(m)),
               "--presets", ",".join(presets)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the {framework} worker exited before it was ready (see its stderr above)")
        hello = json.loads(line)
        self.rows, self.flops = hello["ready"], hello["flops"]

    def time(self, name: str, kind: str, n: int) -> list[float]:
        self.proc.stdin.write(f"{name}\t{kind}\t{n}\n")
        return json.loads(self.proc.stdout.readline())

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def _available(presets: tuple[str, ...]) -> list[str]:
    sys.path.insert(0, str(ROOT))
    from randconv_jax import presets as rc_presets

    return [p for p in presets if p in rc_presets.BATCH_MODE]


def bench_model(m: Model, runs: int, samples: int, presets: list[str], torch_rows: bool) -> list[dict]:
    workers = [_Worker("jax", m, presets)]
    if torch_rows:
        workers.append(_Worker("torch", m, presets))
    times: dict[tuple[str, str], list[float]] = {}
    try:
        order = [(w, name, kind) for w in workers for name, r in w.rows.items() for kind in r["kinds"]]
        # Interleave frameworks: jax row 1, torch row 1, jax row 2, ...
        per_worker = [[o for o in order if o[0] is w] for w in workers]
        interleaved = [o for group in zip(*per_worker, strict=False) for o in group]
        interleaved += [o for group in per_worker for o in group[min(map(len, per_worker)):]]
        for _ in range(runs):
            for w, name, kind in interleaved:
                fw = "jax" if w is workers[0] else "torch"
                times.setdefault((f"{fw}:{name}", kind), []).extend(w.time(name, kind, samples))
    finally:
        for w in workers:
            w.close()
    med = {k: statistics.median(v) for k, v in times.items()}
    step_flops = (workers[0].flops or {}).get("step")
    torch_none = med.get(("torch:torch none", "step"))
    jax_none = med.get(("jax:jax cpu none", "step"))
    out = []
    for w in workers:
        fw = "jax" if w is workers[0] else "torch"
        for name, r in w.rows.items():
            if name == "matmul":
                continue
            t = med[(f"{fw}:{name}", "step")]
            fwd = med.get((f"{fw}:{name}", "fwd"))
            fb = med.get((f"{fw}:{name}", "fwd_bwd"))
            rc = med.get((f"{fw}:{name}", "rc"))
            preset = name.split()[-1]
            base = jax_none if fw == "jax" else torch_none
            out.append({
                "model": m.name, "batch": "x".join(map(str, m.batch)), "row": name, "step_ms": 1e3 * t,
                "fwd_ms": 1e3 * fwd if fwd else None, "bwd_ms": 1e3 * (fb - fwd) if fb and fwd else None,
                "vs_torch": t / torch_none if torch_none else None,
                "gflops": step_flops / t / 1e9 if step_flops else None,
                "rc_share": (t - base) / t if preset != "none" and base else None,
                "rc_alone_ms": 1e3 * rc if rc else None,
                "first_s": r["first"],
            })
        mm = med.get((f"{fw}:matmul", "step"))
        if mm:
            out.append({"model": m.name, "batch": "2048x2048", "row": f"{fw} matmul (fp32)", "step_ms": 1e3 * mm,
                        "gflops": 2 * 2048 ** 3 / mm / 1e9})
    return out


def table(rows: list[dict]) -> str:
    head = ("| model | batch | row | step ms | fwd ms | bwd ms | bwd/fwd | vs PyTorch step | GFLOP/s | "
            "RC alone ms | RC share of step | first call s |")
    lines = [head, "|" + "---|" * 12]

    def f(v, fmt):
        return "—" if v is None else format(v, fmt)

    for r in rows:
        ratio = r["bwd_ms"] / r["fwd_ms"] if r.get("bwd_ms") and r.get("fwd_ms") else None
        share = None if r.get("rc_share") is None else 100 * r["rc_share"]
        lines.append(f"| {r['model']} | {r['batch']} | {r['row']} | {r['step_ms']:.1f} | {f(r.get('fwd_ms'), '.1f')} | "
                     f"{f(r.get('bwd_ms'), '.1f')} | {f(ratio, '.2f')} | {f(r.get('vs_torch'), '.2f')} | "
                     f"{f(r.get('gflops'), '.0f')} | {f(r.get('rc_alone_ms'), '.1f')} | "
                     f"{'—' if share is None else f'{share:.1f} %'} | "
                     f"{f(r.get('first_s'), '.1f')} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--gpu", action="store_true", help="GPU sizes, JAX rows only (see the module docstring)")
    p.add_argument("--runs", type=int, default=None, help="rounds over all rows (default 3, quick 2)")
    p.add_argument("--samples", type=int, default=None, help="timed calls per row and round (default 3)")
    p.add_argument("--only", choices=("2d", "3d"), default=None)
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch rows")
    p.add_argument("--presets", default=None, help="comma-separated RC presets (default: all of the model's)")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--worker", choices=("jax", "torch"), help=argparse.SUPPRESS)
    p.add_argument("--model", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.model, [s for s in (args.presets or "").split(",") if s])
    runs = args.runs or (2 if args.quick else 3)
    samples = args.samples or 3
    if runs * samples < 5:
        p.error("--runs x --samples must be >= 5 (medians of at least 5 samples)")
    rows = []
    for m in models(args.quick, args.gpu):
        if args.only and not m.name.lower().startswith(args.only):
            continue
        presets = _available(tuple(args.presets.split(",")) if args.presets else m.presets)
        rows += bench_model(m, runs, samples, presets, torch_rows=not (args.no_torch or args.gpu))
        print(f"done {m.name}", file=sys.stderr)
    import jax

    dev = jax.devices()[0]
    header = (f"{datetime.date.today().isoformat()}; JAX {jax.__version__} on {dev.platform} ({dev.device_kind}); "
              f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; runs={runs}, "
              f"samples={samples}; medians")
    report = f"{header}\n\n{table(rows)}\n"
    print(report)
    if args.out:
        args.out.write_text(report, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
