"""The phantom as a data set: :class:`~train.data.cases.Case` objects generated in memory.

This is the default training data (no files needed). The same cases can be exported to the
nnU-Net raw layout with :func:`train.data.nnunet.write_dataset` (see ``python -m train.data.phantom``)
and read back identically with :func:`train.data.nnunet.read_dataset`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from train.data.cases import Case, foreground_mask
from train.data.phantom.render import render
from train.data.phantom.scanners import SCANNERS, SOURCE_SCANNER
from train.data.phantom.subject import make_subject

__all__ = ["DEFAULT_SHAPES", "dataset_dir_name", "phantom_cases", "subject_seeds"]

DEFAULT_SHAPES: dict[int, tuple[int, ...]] = {2: (128, 128), 3: (96, 96, 96)}


def subject_seeds(seed: int, i: int) -> tuple[int, int]:
    """(subject seed, acquisition seed) of case ``i`` for a data set seed; independent of the scanner."""
    state = np.random.SeedSequence([int(seed), int(i)]).generate_state(2, dtype=np.uint32)
    return int(state[0]), int(state[1])


def phantom_cases(
    scanner: str = SOURCE_SCANNER,
    *,
    n: int,
    dims: int = 2,
    shape: Sequence[int] | None = None,
    seed: int = 0,
    channels: Sequence[str] = ("FLAIR", "T1w"),
    anatomy: str = "template",
) -> list[Case]:
    """Generate ``n`` raw (unpreprocessed) phantom cases as acquired on ``scanner``.

    Case ``i`` is subject ``make_subject(s_i, shape=shape, anatomy=anatomy)`` rendered with acquisition seed
    ``a_i``, where ``(s_i, a_i) = subject_seeds(seed, i)``: the same subjects for every scanner
    given the same ``seed``, so domains differ only by the scanner. Images are skull-stripped
    (zero outside ``Subject.brain_mask``), as released MS data sets are, so the nnU-Net nonzero
    mask equals the brain mask.

    Args:
        scanner: a name in :data:`~train.data.phantom.SCANNERS`.
        n: number of cases (>= 1).
        dims: spatial rank, 2 (axial slices) or 3 (volumes).
        shape: spatial shape of rank ``dims``; default (128, 128) in 2D, (96, 96, 96) in 3D.
        seed: data set seed.
        channels: channel names among the scanner's sequences.
        anatomy: "template" (MNI152, default) or "procedural", see :func:`~train.data.phantom.make_subject`.

    Returns:
        Cases named ``phantom_0000``..., ``image`` ``(*shape, C)`` float32, ``label`` ``(*shape)``
        int32 in {0, 1} (lesion), ``mask`` bool, ``affine`` ``diag(v, v, v, 1)`` with the
        subject's isotropic voxel size ``v`` mm (2D: of the ``(H, W, 1)`` volume), ``domain`` the
        scanner name.
    """
    if scanner not in SCANNERS:
        raise ValueError(f"scanner must be one of {sorted(SCANNERS)}, got {scanner!r}")
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n must be an int >= 1, got {n!r}")
    if dims not in (2, 3):
        raise ValueError(f"dims must be 2 or 3, got {dims!r}")
    shape_t = DEFAULT_SHAPES[dims] if shape is None else tuple(int(s) for s in shape)
    if len(shape_t) != dims:
        raise ValueError(f"shape {shape_t} must have rank dims={dims}")
    channels_t = tuple(channels)
    cases = []
    for i in range(int(n)):
        subject_seed, acq_seed = subject_seeds(seed, i)
        subject = make_subject(subject_seed, shape=shape_t, anatomy=anatomy)
        image = render(subject, scanner, channels=channels_t, seed=acq_seed)
        image = image * subject.brain_mask[..., None].astype(np.float32)
        v = subject.voxel_mm
        cases.append(
            Case(
                name=f"phantom_{i:04d}",
                image=image,
                label=subject.lesion.astype(np.int32),
                mask=foreground_mask(image),
                affine=np.diag([v, v, v, 1.0]),
                spacing=(v,) * dims,
                domain=scanner,
                channel_names=channels_t,
            )
        )
    return cases


def dataset_dir_name(scanner: str, dims: int) -> str:
    """nnU-Net folder name of the exported phantom data set of ``scanner``.

    IDs 501-505 (2D) and 511-515 (3D) in :data:`SCANNERS` order (IDs 001-010 are reserved for the
    Medical Segmentation Decathlon), e.g. ``Dataset501_PhantomSiteA1p5t``.
    """
    names = list(SCANNERS)
    if scanner not in SCANNERS:
        raise ValueError(f"scanner must be one of {names}, got {scanner!r}")
    if dims not in (2, 3):
        raise ValueError(f"dims must be 2 or 3, got {dims!r}")
    ident = 501 + names.index(scanner) + (10 if dims == 3 else 0)
    words = "".join(ch if ch.isalnum() else " " for ch in scanner.replace(".", "p")).split()
    return f"Dataset{ident:03d}_Phantom{''.join(w[:1].upper() + w[1:] for w in words)}"
