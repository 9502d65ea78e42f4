"""Figures of the phantom: ``python -m train.data.figures [--out docs/phantom_scanners.png]``.

:func:`scanner_figure` shows one subject under every scanner profile: FLAIR and T1w rows, one
column per scanner, the lesion label outlined in red.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from train.data.phantom import SCANNERS, make_subject, render

__all__ = ["scanner_figure"]


def scanner_figure(out: str | Path, *, seed: int = 7, shape: Sequence[int] = (80, 112, 112)) -> Path:
    """Render one 3D subject under every scanner and save the axial slice with most lesion to ``out`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    subject = make_subject(seed, shape=shape, lesion_load="moderate")
    k = int(np.argmax(subject.lesion.reshape(subject.shape[0], -1).sum(1)))
    channels = ("FLAIR", "T1w")
    fig, axes = plt.subplots(len(channels), len(SCANNERS), figsize=(2.2 * len(SCANNERS), 2.4 * len(channels)))
    for j, name in enumerate(SCANNERS):
        img = render(subject, name, channels=channels, seed=seed)[k] * subject.brain_mask[k][..., None]
        for i, ch in enumerate(channels):
            ax = axes[i, j]
            x = img[..., i]
            ax.imshow(x, cmap="gray", vmin=0, vmax=float(np.percentile(x[subject.brain_mask[k]], 99.5)))
            ax.contour(subject.lesion[k], levels=[0.5], colors="red", linewidths=0.6)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                sc = SCANNERS[name]
                ax.set_title(f"{name}\n{sc.field_t:g} T, {sc.inplane_mm:g}x{sc.slice_mm:g} mm", fontsize=8)
            if j == 0:
                ax.set_ylabel(ch)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m train.data.figures", description=__doc__)
    parser.add_argument("--out", default="docs/phantom_scanners.png", help="output PNG")
    parser.add_argument("--seed", type=int, default=7, help="subject seed")
    args = parser.parse_args(argv)
    print(scanner_figure(args.out, seed=args.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
