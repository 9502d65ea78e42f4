"""Peak host memory of one Pro-RandConv call on a 3D brain volume (CPU).

Usage::

    python benchmarks/mem_pro_randconv.py [--shape 160 192 160] [--channels 2] [--repeats 1 10]

Each setting runs in a fresh child process: import JAX, create the float32 input, record the peak
resident set size (``ru_maxrss``), then compile and run ``pro_randconv`` with ``L`` fixed (the
sampled params with ``repeats`` replaced) and record the peak again. Reported: the input size, the
peak growth over the input-only baseline, and that growth in multiples of the input; a tap-stacked
implementation would need at least 27 shifted copies (27x the input) on top.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

_CHILD = r"""
import json, resource, sys, time
import jax, jax.numpy as jnp
import randconv_jax as rcj
shape, c, L = tuple(json.loads(sys.argv[1])), int(sys.argv[2]), int(sys.argv[3])
x = jax.random.normal(jax.random.key(0), (*shape, c), jnp.float32)
x.block_until_ready()
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
params = rcj.sample_pro_randconv(jax.random.key(1), x)
params = type(params)(**{**params.__dict__, "repeats": jnp.asarray(L, jnp.int32)})
f = jax.jit(rcj.apply_pro_randconv)
t = time.perf_counter()
f(x, params).block_until_ready()
first = time.perf_counter() - t
t = time.perf_counter()
f(x, params).block_until_ready()
run = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"base_kib": base, "peak_kib": peak, "first_s": first, "run_s": run}))
"""


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shape", type=int, nargs=3, default=[160, 192, 160])
    p.add_argument("--channels", type=int, default=2)
    p.add_argument("--repeats", type=int, nargs="+", default=[1, 10])
    args = p.parse_args(argv)
    input_mib = 4 * args.channels * args.shape[0] * args.shape[1] * args.shape[2] / 2**20
    print(f"input {tuple(args.shape)}x{args.channels} float32 = {input_mib:.0f} MiB")
    print("| L | peak growth over input-only baseline MiB | × input | run s | first call s |")
    print("|---|---|---|---|---|")
    for L in args.repeats:
        out = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(args.shape), str(args.channels), str(L)],
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        grow = (r["peak_kib"] - r["base_kib"]) / 1024
        print(f"| {L} | {grow:.0f} | {grow / input_mib:.1f} | {r['run_s']:.2f} | {r['first_s']:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
