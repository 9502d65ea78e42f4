"""Install this checkout into the running Python without replacing the JAX that is already there.

Colab (and many GPU images) ship JAX together with its accelerator plugin (``jax-cuda12-plugin``
and ``jax-cuda12-pjrt`` on GPU runtimes, ``libtpu`` on TPU runtimes). A plain
``pip install -e .[train]`` may upgrade ``jax`` to satisfy a dependency's floor and leave the
plugin behind: JAX then falls back to the CPU without an error. This script pins every installed
JAX distribution (``jax``, ``jaxlib``, ``jax-cuda*``, ``jax-rocm*``, ``libtpu*``) to its installed
version in a pip constraints file, then runs ``pip install -c <that file> -e <checkout>[<extras>]``,
so pip chooses dependency versions that fit the installed JAX (or fails, naming the conflict,
instead of switching to the CPU). Without an installed JAX nothing is pinned.

Usage (the notebooks' setup cell runs it)::

    python colab/install.py [--extras train] [--constraints FILE] [--dry-run]

Uses only the standard library, so it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
JAX_DISTRIBUTIONS = re.compile(r"^(jax|jaxlib|jax[-_]cuda\d*[-_].+|jax[-_]rocm\d*[-_].+|libtpu([-_].+)?)$")
"""Names of the distributions that make up an installed JAX and its accelerator plugins."""


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_jax() -> dict[str, str]:
    """``{distribution: version}`` of the JAX distributions installed in this Python."""
    found: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name and JAX_DISTRIBUTIONS.match(_canonical(name)):
            found[_canonical(name)] = dist.version
    return dict(sorted(found.items()))


def constraints_text(pins: dict[str, str]) -> str:
    """A pip constraints file pinning ``pins`` exactly."""
    return "".join(f"{name}=={version}\n" for name, version in pins.items())


def install_command(constraints: Path, extras: str) -> list[str]:
    target = f"{ROOT}[{extras}]" if extras else str(ROOT)
    return [sys.executable, "-m", "pip", "install", "-q", "-c", str(constraints), "-e", target]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--extras", default="train", help="extras of the checkout to install (default: train)")
    parser.add_argument("--constraints", type=Path, default=Path("jax-constraints.txt"),
                        help="where to write the constraints file (default: ./jax-constraints.txt)")
    parser.add_argument("--dry-run", action="store_true", help="write the constraints and print the command only")
    args = parser.parse_args(argv)
    pins = installed_jax()
    args.constraints.write_text(constraints_text(pins), encoding="utf-8")
    print("keeping the installed JAX: " + (", ".join(f"{k}=={v}" for k, v in pins.items()) or "(none installed)"))
    cmd = install_command(args.constraints, args.extras)
    print(" ".join(cmd))
    if args.dry_run:
        return 0
    return subprocess.run(cmd, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
