"""Phantom generation cost: ``python benchmarks/bench_phantom.py [--anatomy template|procedural]``.

Times :func:`train.data.phantom.make_subject` per subject (after a first call that fills the
in-memory caches) and :func:`train.data.phantom.render` of the source scanner, for 2D 96 x 96,
2D 128 x 128 (24 seeds each) and 3D 96^3 (4 seeds). Prints one line per shape.
"""

from __future__ import annotations

import argparse
import inspect
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from train.data.phantom import make_subject, render  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--anatomy", default=None, help="make_subject's anatomy (default: its default)")
    args = parser.parse_args()
    kw = {} if args.anatomy is None else {"anatomy": args.anatomy}
    if kw and "anatomy" not in inspect.signature(make_subject).parameters:
        parser.error("this version of make_subject has no anatomy argument")
    for shape, n in (((96, 96), 24), ((128, 128), 24), ((96, 96, 96), 4)):
        t = time.perf_counter()
        make_subject(0, shape=shape, **kw)
        first = time.perf_counter() - t
        t = time.perf_counter()
        for i in range(1, n + 1):
            s = make_subject(i, shape=shape, **kw)
        per_subject = (time.perf_counter() - t) / n
        t = time.perf_counter()
        for i in range(n):
            render(s, "site_a_1.5t", seed=i)
        per_render = (time.perf_counter() - t) / n
        print(
            f"{'x'.join(map(str, shape))}: first call {first * 1e3:.0f} ms, make_subject {per_subject * 1e3:.1f} ms"
            f"/subject, render {per_render * 1e3:.1f} ms (n={n})",
            flush=True,
        )


if __name__ == "__main__":
    main()
