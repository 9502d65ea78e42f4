"""Acquisition of a phantom subject: signal mixing, resolution blur, bias field, Rician noise.

:func:`render` turns a :class:`~train.data.phantom.subject.Subject` into MR images for a named
:class:`~train.data.phantom.scanners.Scanner` by

1. looking up the tissue MR parameters at the scanner's field strength
   (:func:`~train.data.phantom.physics.tissue_params`, with the subject's parameter jitter),
2. evaluating the signal equations per tissue and mixing them by the voxel's tissue fractions
   (partial volume; signed magnetizations are mixed before the magnitude is taken),
3. applying the scanner's acquisition effects: resolution / slice-thickness blur (Gaussian PSF,
   σ = 0.75 · acquired / native voxel size, after SynthSeg, Billot et al.), a smooth
   multiplicative bias field (intensity non-uniformity as in BrainWeb: 20 % = 0.90-1.10,
   40 % = 0.80-1.20), and Rician noise (magnitude of complex Gaussian noise, std given relative
   to the noise-free white-matter signal, as in BrainWeb's 0-9 %).

The slice axis of a scanner's slice thickness is axis 0 in 3D and does not exist in 2D (only the
in-plane resolution applies).
"""

from __future__ import annotations

from collections.abc import Sequence as Seq

import numpy as np
from scipy import ndimage

from train.data.phantom.fields import normalized_coords, wave_field
from train.data.phantom.physics import WM, tissue_params, tissue_signals
from train.data.phantom.scanners import SOURCE_SCANNER, Scanner, get_scanner
from train.data.phantom.subject import Subject

__all__ = ["render"]


def _bias_field(rng: np.random.Generator, shape: tuple[int, ...], level: float) -> np.ndarray:
    """Smooth multiplicative field ``(*shape)`` float32 spanning about 1 ± level / 2 (BrainWeb convention)."""
    g = wave_field(rng, normalized_coords(shape), 4, 0.6)
    g /= max(float(np.abs(g).max()), 1e-6)
    return np.exp(np.float32(np.log1p(level / 2)) * g).astype(np.float32)


def _blur_sigmas(scanner: Scanner, ndim: int, voxel_mm: float) -> tuple[float, ...]:
    """Gaussian PSF σ per axis in voxels: 0.75 · acquired / native (SynthSeg), 0 where not coarser."""
    acquired = ([scanner.slice_mm] if ndim == 3 else []) + [scanner.inplane_mm] * 2

    def sig(a: float) -> float:
        return 0.75 * a / voxel_mm if a > voxel_mm * 1.01 else 0.0

    return tuple(sig(a) for a in acquired)


def render(
    subject: Subject,
    scanner: str | Scanner = SOURCE_SCANNER,
    *,
    channels: Seq[str] = ("FLAIR", "T1w"),
    seed: int = 0,
    noise: bool = True,
    bias: bool = True,
    blur: bool = True,
) -> np.ndarray:
    """Render MR images of ``subject`` as acquired on ``scanner``.

    Args:
        subject: from :func:`make_subject`.
        scanner: a name in :data:`SCANNERS` or a :class:`Scanner`.
        channels: channel names among the scanner's sequences ("FLAIR", "T1w", "T2w", "PDw").
        seed: seed for the acquisition randomness (bias field, noise); deterministic.
        noise, bias, blur: switch the Rician noise / bias field / resolution blur off (for checks).

    Returns:
        ``(*spatial, C)`` float32, non-negative; noise-free WM of the source scanner's FLAIR is ~0.1
        (absolute signal units of the equations, PD in [0, 1]; no normalization applied).
    """
    sc = get_scanner(scanner)
    if isinstance(channels, str) or len(channels) == 0:
        raise ValueError(f"channels must be a non-empty sequence of channel names, got {channels!r}")
    for ch in channels:
        if ch not in sc.sequences:
            raise ValueError(f"channels: unknown channel {ch!r} for scanner {sc.name!r}; known: {sorted(sc.sequences)}")
    rng = np.random.default_rng(seed)
    params = tissue_params(sc.field_t, subject.param_jitter)
    shape = subject.shape
    field = _bias_field(rng, shape, sc.bias) if bias and sc.bias > 0 else None
    sigmas = _blur_sigmas(sc, len(shape), subject.voxel_mm) if blur else ()
    out = np.empty((*shape, len(channels)), np.float32)
    for i, ch in enumerate(channels):
        seq = sc.sequences[ch]
        s = tissue_signals(seq, params).astype(np.float32)
        img = np.abs(subject.fractions @ s)  # partial-volume mixing of signed magnetization, then magnitude
        if any(sg > 0 for sg in sigmas):
            img = ndimage.gaussian_filter(img, sigmas, mode="nearest")
        if field is not None:
            img = img * field
        if noise and sc.noise > 0:
            sigma = np.float32(sc.noise * abs(tissue_signals(seq, params[WM : WM + 1])[0]))
            re = img + sigma * rng.standard_normal(shape, dtype=np.float32)
            im = sigma * rng.standard_normal(shape, dtype=np.float32)
            img = np.sqrt(re * re + im * im)
        out[..., i] = img
    return out
