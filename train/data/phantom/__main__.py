"""Command line: ``python -m train.data.phantom --out DIR [--scanner NAME|all] [--n N] [--dims 2|3] ...``.

Exports the phantom as nnU-Net raw data sets, one per scanner profile (see :func:`main`).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence as Seq
from pathlib import Path

from train.data.nnunet import write_dataset
from train.data.phantom.dataset import dataset_dir_name, phantom_cases, subject_seeds
from train.data.phantom.scanners import SCANNERS

__all__ = ["main"]


def main(argv: Seq[str] | None = None) -> int:
    """``python -m train.data.phantom --out DIR [--scanner NAME|all] [--n N] [--dims 2|3] [--shape ...] [--seed S]``.

    Writes one nnU-Net raw data set per scanner, ``DIR/<dataset_dir_name(scanner, dims)>``, with the
    same subjects (same ``--seed``) under every scanner. Returns the exit status.
    """
    parser = argparse.ArgumentParser(prog="python -m train.data.phantom", description=main.__doc__)
    parser.add_argument("--out", required=True, help="output folder (one data set folder per scanner inside)")
    parser.add_argument("--scanner", default="all", choices=[*SCANNERS, "all"], help="scanner profile or 'all'")
    parser.add_argument("--n", type=int, default=20, help="number of cases per scanner")
    parser.add_argument("--dims", type=int, default=2, choices=(2, 3), help="2D slices or 3D volumes")
    parser.add_argument("--shape", type=int, nargs="+", default=None, help="spatial shape (default 128 128 / 96^3)")
    parser.add_argument("--seed", type=int, default=0, help="data set seed (same subjects for every scanner)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing data set folders")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error(f"--n must be >= 1, got {args.n}")
    if args.shape is not None and len(args.shape) != args.dims:
        parser.error(f"--shape needs {args.dims} sizes for --dims {args.dims}, got {args.shape}")
    scanners = list(SCANNERS) if args.scanner == "all" else [args.scanner]
    for name in scanners:
        cases = phantom_cases(name, n=args.n, dims=args.dims, shape=args.shape, seed=args.seed)
        extra = {
            "description": f"Synthetic MS phantom as acquired on scanner profile {name} (train.data.phantom)",
            "phantom": {
                "scanner": name,
                "seed": args.seed,
                "dims": args.dims,
                "shape": list(cases[0].spatial_shape),
                "subject_seeds": [subject_seeds(args.seed, i)[0] for i in range(args.n)],
                "acquisition_seeds": [subject_seeds(args.seed, i)[1] for i in range(args.n)],
            },
        }
        root = Path(args.out) / dataset_dir_name(name, args.dims)
        write_dataset(root, cases, overwrite=args.overwrite, extra=extra)
        print(root)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
