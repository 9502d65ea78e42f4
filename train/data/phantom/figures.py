"""Figures of the phantom: ``python -m train.data.phantom.figures [--out docs/phantom_scanners.png]``.

:func:`scanner_figure` shows one 3D subject (MNI152 anatomy, moderate lesion load) under every
scanner profile: FLAIR and T1w rows, one column per scanner, an axial slice at the lateral
ventricles, the lesion label outlined in red.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from train.data.phantom.render import render
from train.data.phantom.scanners import SCANNERS
from train.data.phantom.subject import Subject, make_subject

__all__ = ["figure_slice", "scanner_figure"]


def figure_slice(subject: Subject, z_range_mni: tuple[float, float] = (8.0, 30.0)) -> int:
    """Axial slice index of a 3D subject to show: the one with most lesion among the slices at the
    lateral ventricles (template MNI z in ``z_range_mni``, from the subject's centre, scale and voxel
    size, rotation ignored); any slice for the procedural anatomy."""
    per_slice = subject.lesion.reshape(subject.shape[0], -1).sum(1).astype(float)
    if subject.anatomy == "template":
        d = subject.shape[0]
        z = subject.params["center_z_mm"] + (np.arange(d) - (d - 1) / 2) * subject.voxel_mm / subject.params["scale"]
        per_slice[(z < z_range_mni[0]) | (z > z_range_mni[1])] = -1
    return int(np.argmax(per_slice))


def scanner_figure(out: str | Path, *, seed: int = 1, shape: Sequence[int] = (96, 128, 128)) -> Path:
    """Render one 3D subject under every scanner and save an axial slice (:func:`figure_slice`) to ``out`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    subject = make_subject(seed, shape=shape, lesion_load="moderate")
    k = figure_slice(subject)
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
    parser = argparse.ArgumentParser(prog="python -m train.data.phantom.figures", description=__doc__)
    parser.add_argument("--out", default="docs/phantom_scanners.png", help="output PNG")
    parser.add_argument("--seed", type=int, default=1, help="subject seed")
    args = parser.parse_args(argv)
    print(scanner_figure(args.out, seed=args.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
