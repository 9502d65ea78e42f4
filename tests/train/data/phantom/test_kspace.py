"""k-space acquisition of the phantom against FFT identities and the Gibbs constant."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage, special

from train.data.phantom.kspace import acquire, kspace_window, partial_fourier, truncate

# ------------------------------------------------------------------ k-space


def test_truncation_is_a_band_limiting_projection():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 64)).astype(np.float32)
    y = truncate(x, -1, 1.0, 2.0)
    np.testing.assert_allclose(truncate(y, -1, 1.0, 2.0), y, atol=1e-5)  # idempotent
    assert np.abs(y.imag).max() < 1e-5  # symmetric window: a real image stays real
    f = np.fft.fftfreq(64)
    kept = np.abs(np.fft.fft(x, axis=-1))[:, np.abs(f) <= 0.25 + 1e-9]
    np.testing.assert_allclose((np.abs(y) ** 2).sum(), (kept**2).sum() / 64, rtol=1e-4)  # Parseval
    assert (np.abs(y) ** 2).sum() < (x**2).sum()
    n = np.arange(64)
    band_limited = np.cos(2 * np.pi * 5 * n / 64) + 0.5 * np.sin(2 * np.pi * 12 * n / 64)
    np.testing.assert_allclose(truncate(band_limited[None], -1, 1.0, 2.0).real[0], band_limited, atol=1e-5)
    np.testing.assert_array_equal(truncate(x, -1, 1.0, 0.8).real, x)  # finer than the grid: unchanged


def test_truncation_rings_with_the_gibbs_overshoot():
    n = 4096
    step = np.zeros(n, np.float32)
    step[n // 4 : 3 * n // 4] = 1.0
    y = truncate(step[None], -1, 1.0, 16.0).real[0]  # keep |k| <= 1/32 cycles / voxel: 257 frequencies
    gibbs = special.sici(np.pi)[0] / np.pi - 0.5  # 0.0895 of the jump
    np.testing.assert_allclose(y.max() - 1.0, gibbs, atol=0.003)
    np.testing.assert_allclose(y.min(), -gibbs, atol=0.003)


def test_partial_fourier_zero_fill_and_homodyne_against_identities():
    rng = np.random.default_rng(1)
    n = 64
    x = ndimage.gaussian_filter(rng.uniform(0, 1, (8, n)), (0, 1.5)) + 0.5  # real, positive
    acq, centre = kspace_window(n, 1.0, 1.0, 0.625)
    assert acq.sum() == 8 + 32 and centre.sum() == 17  # k in [-8, 31] / 64, centre |k| <= 8 / 64
    # zero filling: Re = mean of the symmetric truncations at the centre and at k_max (Hermitian
    # symmetry; the unpaired Nyquist bin -32 / 64 is not acquired, hence 1.001 mm)
    zf = partial_fourier(x, -1, 1.0, 1.0, 0.625, "zero_fill")
    full = truncate(x, -1, 1.0, 1.001).real
    np.testing.assert_allclose(zf.real, (truncate(x, -1, 1.0, 4.0).real + full) / 2, atol=1e-5)
    # zero filling equals the circular convolution with the window's point-spread function
    psf = np.fft.ifft(acq.astype(complex))
    direct = np.array([[sum(x[r, (i - j) % n] * psf[j] for j in range(n)) for i in range(n)] for r in range(2)])
    np.testing.assert_allclose(zf[:2], direct, atol=1e-5)
    # homodyne: exact for a real image with a positive low-pass image
    hd = partial_fourier(x, -1, 1.0, 1.0, 0.625, "homodyne")
    np.testing.assert_allclose(hd, full, atol=1e-5)
    # with a smooth phase it beats zero filling, and fraction 1 is the full acquisition
    xc = x * np.exp(1j * 0.8 * np.cos(2 * np.pi * np.arange(n) / n))
    err_hd = np.abs(np.abs(partial_fourier(xc, -1, 1.0, 1.0, 0.625, "homodyne")) - x).mean()
    err_zf = np.abs(np.abs(partial_fourier(xc, -1, 1.0, 1.0, 0.625, "zero_fill")) - x).mean()
    assert err_hd < 0.75 * err_zf  # measured 0.0088 vs 0.0149
    np.testing.assert_allclose(acquire(xc, 1.0, 1.0, 1.0, 1.0), xc, atol=1e-5)
    with pytest.raises(ValueError, match="fraction"):
        kspace_window(n, 1.0, 1.0, 0.5)
    with pytest.raises(ValueError, match="recon"):
        partial_fourier(x, -1, 1.0, 1.0, 0.75, "pocs")
