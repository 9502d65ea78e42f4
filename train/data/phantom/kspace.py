"""k-space acquisition of the phantom: finite matrix (Gibbs ringing) and partial Fourier.

An MR image is the inverse Fourier transform of the k-space samples the scanner acquired. On the
phantom's grid (voxel ``v`` mm, ``n`` samples along an axis; frequencies ``numpy.fft.fftfreq(n,
v)`` in cycles / mm) an acquisition with voxel ``a`` mm samples ``|k| <= 1 / (2 a)``; the rest is
zero (zero-filled to the grid), so a sharp edge rings (the Gibbs phenomenon: an overshoot of
about 9 % of the step, ``Si(π) / π - 1/2``). With partial Fourier a fraction ``f`` in (0.5, 1] of
the phase-encoding lines is acquired: ``-(2 f - 1) k_max <= k <= k_max``. It is reconstructed
either by zero filling (inverse FFT of the zero-filled k-space; its magnitude is blurred along
the phase-encoding axis) or by homodyne detection (Noll, Nishimura and Macovski, IEEE Trans. Med.
Imaging 10:154-163, 1991, with a step weighting: twice the high frequencies of the acquired side,
the symmetric centre once, then the phase of the symmetric centre's image removed and the real
part kept). An acquisition at least as fine as the grid changes nothing along that axis.

All functions act on the last axes of a (real or complex) array and return complex64 (the
homodyne reconstruction: float32), NumPy FFTs only, no randomness.
"""

from __future__ import annotations

import numpy as np

__all__ = ["PF_RECONS", "acquire", "kspace_window", "partial_fourier", "truncate"]

PF_RECONS = ("zero_fill", "homodyne")


def kspace_window(n: int, voxel_mm: float, acquired_mm: float, fraction: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Acquired and symmetric-centre masks over ``numpy.fft.fftfreq(n, voxel_mm)``: two ``(n,)`` bool.

    Acquired: ``-(2 fraction - 1) k_max <= k <= k_max``, ``k_max = 1 / (2 acquired_mm)`` (1e-6
    relative tolerance; every frequency of the grid when ``fraction == 1`` and ``acquired_mm <=
    voxel_mm``). Centre: ``|k| <= (2 fraction - 1) k_max``, the part acquired on both sides (equal
    to the acquired mask when ``fraction == 1``).
    """
    if not 0.5 < fraction <= 1.0:
        raise ValueError(f"fraction (partial Fourier) must be in (0.5, 1], got {fraction}")
    if not (voxel_mm > 0 and acquired_mm > 0):
        raise ValueError(f"voxel_mm and acquired_mm must be > 0, got {voxel_mm}, {acquired_mm}")
    k = np.fft.fftfreq(int(n), d=float(voxel_mm))
    k_max = 0.5 / acquired_mm
    lo = (2 * fraction - 1) * k_max
    tol = 1e-6 * k_max
    acquired = (k <= k_max + tol) & (k >= -lo - tol)
    centre = np.abs(k) <= lo + tol
    return acquired, centre


def _along(mask: np.ndarray, axis: int, ndim: int) -> np.ndarray:
    shape = [1] * ndim
    shape[axis] = mask.size
    return mask.reshape(shape)


def truncate(x: np.ndarray, axis: int, voxel_mm: float, acquired_mm: float) -> np.ndarray:
    """Band-limit ``x`` along ``axis`` to an acquisition of ``acquired_mm`` (symmetric k-space truncation,
    zero filled): complex64 of ``x``'s shape. A projection: applying it twice equals once."""
    acquired, _ = kspace_window(x.shape[axis], voxel_mm, acquired_mm)
    if acquired.all():
        return np.asarray(x, np.complex64)
    s = np.fft.fft(x, axis=axis) * _along(acquired, axis, x.ndim)
    return np.fft.ifft(s, axis=axis).astype(np.complex64)


def partial_fourier(
    x: np.ndarray, axis: int, voxel_mm: float, acquired_mm: float, fraction: float, recon: str = "zero_fill"
) -> np.ndarray:
    """Acquire ``x`` along ``axis`` with partial Fourier ``fraction`` and reconstruct it.

    ``recon="zero_fill"``: complex64, the inverse FFT of the zero-filled acquired k-space.
    ``recon="homodyne"``: float32 (may be negative), ``Re{IFFT(H S) e^(-i φ)}`` with the step weighting
    ``H`` = 2 on the acquired-only side, 1 on the symmetric centre, 0 elsewhere, and ``φ`` the phase
    of the centre's image (Noll et al. 1991). For a real image whose centre image is positive the
    homodyne result equals the full symmetric acquisition (:func:`truncate`) exactly.
    """
    if recon not in PF_RECONS:
        raise ValueError(f"recon must be one of {PF_RECONS}, got {recon!r}")
    acquired, centre = kspace_window(x.shape[axis], voxel_mm, acquired_mm, fraction)
    s = np.fft.fft(x, axis=axis)
    if recon == "zero_fill":
        return np.fft.ifft(s * _along(acquired, axis, x.ndim), axis=axis).astype(np.complex64)
    weight = np.where(centre, 1.0, np.where(acquired, 2.0, 0.0))
    low = np.fft.ifft(s * _along(centre, axis, x.ndim), axis=axis)
    full = np.fft.ifft(s * _along(weight, axis, x.ndim), axis=axis)
    return np.real(full * np.exp(-1j * np.angle(low))).astype(np.float32)


def acquire(
    x: np.ndarray,
    voxel_mm: float,
    readout_mm: float,
    phase_mm: float,
    fraction: float = 1.0,
    recon: str = "zero_fill",
) -> np.ndarray:
    """In-plane k-space acquisition of ``x`` ``(..., H, W)``: phase encoding along ``H`` (axis -2,
    anterior-posterior) with ``phase_mm`` and partial Fourier ``fraction``, readout along ``W``
    (axis -1) with ``readout_mm``. Returns complex64, or float32 for the homodyne reconstruction."""
    y = truncate(x, -1, voxel_mm, readout_mm)
    if fraction == 1.0:
        return truncate(y, -2, voxel_mm, phase_mm)
    return partial_fourier(y, -2, voxel_mm, phase_mm, fraction, recon)
