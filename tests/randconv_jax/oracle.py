"""Independent NumPy oracles for the tests (float64, written from the documented formulas).

Nothing here imports ``randconv_jax``: convolutions are explicit loops over taps on a
zero-padded copy, normalizations are the formulas of the ``_normalize`` module docstring.
"""

from __future__ import annotations

import itertools

import numpy as np

FROBENIUS_EPS = 1e-5  # the documented GIN constant: y * ||x|| / (||y|| + 1e-5)


def dense_kernel(kernel: np.ndarray, groups: int) -> np.ndarray:
    """``(*k, C_in/groups, C_out)`` grouped kernel -> ``(*k, C_in, C_out)`` block-diagonal dense kernel.

    Output channel ``o`` reads input group ``o // (C_out / groups)`` (PyTorch / lax convention).
    """
    kernel = np.asarray(kernel, np.float64)
    *ks, cin_g, cout = kernel.shape
    cout_g = cout // groups
    dense = np.zeros((*ks, cin_g * groups, cout))
    for g in range(groups):
        dense[..., g * cin_g : (g + 1) * cin_g, g * cout_g : (g + 1) * cout_g] = kernel[
            ..., g * cout_g : (g + 1) * cout_g
        ]
    return dense


def correlate_same(image, kernel, bias=None, groups: int = 1) -> np.ndarray:
    """Cross-correlation of a channels-last image, zero 'SAME' padding, stride 1, no flip.

    ``out[p, o] = sum_{t, i} w[t, i, o] * x_pad[p + t, i] (+ b[o])`` with ``x_pad`` padded by ``k // 2``.
    """
    x = np.asarray(image, np.float64)
    w = dense_kernel(kernel, groups)
    ks = w.shape[:-2]
    spatial = x.shape[:-1]
    assert len(ks) == len(spatial) and all(k % 2 == 1 for k in ks)
    padded = np.pad(x, [(k // 2, k // 2) for k in ks] + [(0, 0)])
    out = np.zeros(spatial + (w.shape[-1],))
    for tap in itertools.product(*(range(k) for k in ks)):
        window = padded[tuple(slice(t, t + s) for t, s in zip(tap, spatial, strict=True))]
        out += window @ w[tap]
    if bias is not None:
        out = out + np.asarray(bias, np.float64)
    return out


def apply_layers(image, kernels, biases=None, groups=1, mask=None) -> np.ndarray:
    """Applies per-layer kernels (and biases) in order with :func:`correlate_same`.

    With a ``mask``, the image is zeroed outside it first (the documented masked convolution).
    """
    y = np.asarray(image, np.float64)
    if mask is not None:
        y = np.where(np.asarray(mask, bool)[..., None], y, 0.0)
    groups = groups if isinstance(groups, (list, tuple)) else [groups] * len(kernels)
    biases = biases if biases is not None else [None] * len(kernels)
    for w, b, g in zip(kernels, biases, groups, strict=True):
        y = correlate_same(y, w, b, g)
    return y


def params_layers(params):
    """Per-layer (kernel, bias, groups) lists of a RandomConvParams, as float64 NumPy.

    Kernels come from ``params.layer_kernels()`` (the documented per-layer view);
    biases and groups are read from the stacks in the same order.
    """
    kernels = [np.asarray(k, np.float64) for k in params.layer_kernels()]
    biases, groups = [], []
    for stack in params.stacks:
        for r in range(stack.kernels.shape[0]):
            biases.append(None if stack.biases is None else np.asarray(stack.biases[r], np.float64))
            groups.append(stack.groups)
    assert len(kernels) == len(biases)
    return kernels, biases, groups


def compose_kernels(k1: np.ndarray, k2: np.ndarray) -> np.ndarray:
    """The single dense kernel equal (away from borders) to correlating with ``k1`` then ``k2``.

    ``K[s] = sum_{t1 + t2 = s} k1[t1] @ k2[t2]`` (full convolution of the tap grids).
    """
    a, b = k1.shape[:-2], k2.shape[:-2]
    out = np.zeros(tuple(i + j - 1 for i, j in zip(a, b, strict=True)) + (k1.shape[-2], k2.shape[-1]))
    for t1 in itertools.product(*(range(i) for i in a)):
        for t2 in itertools.product(*(range(j) for j in b)):
            out[tuple(i + j for i, j in zip(t1, t2, strict=True))] += k1[t1] @ k2[t2]
    return out


def normalize(y, x, mode: str, mask=None) -> np.ndarray:
    """The documented re-normalizations of ``y`` (raw RC output) against the input ``x``.

    Statistics per channel (all channels for frobenius and zscore_restore_joint) inside
    ``mask`` when given; voxels outside the mask keep ``x``. ``minmax_foreground`` without a
    mask uses the foreground "input non-zero in any channel"; ``minmax_nonzero`` the output's
    non-zero voxels (inside the mask).
    """
    y = np.asarray(y, np.float64)
    x = np.asarray(x, np.float64)
    if mode == "minmax_foreground" and mask is None:
        mask = np.any(x != 0, axis=-1)
    inside = np.ones(x.shape[:-1], bool) if mask is None else np.asarray(mask, bool)
    xs, ys = x[inside], y[inside]  # (n_inside, C)
    if mode == "none":
        out = y
    elif mode == "clamp_to_input_range":
        out = np.clip(y, xs.min(axis=0), xs.max(axis=0))
    elif mode == "frobenius":
        out = y * np.sqrt(np.sum(xs**2)) / (np.sqrt(np.sum(ys**2)) + FROBENIUS_EPS)
    elif mode == "zscore_restore":
        out = (y - ys.mean(axis=0)) / ys.std(axis=0) * xs.std(axis=0) + xs.mean(axis=0)
    elif mode == "zscore_restore_joint":  # one mean and one Bessel std over channels and positions
        out = (y - ys.mean()) / (ys.std(ddof=1) + 1e-5) * (xs.std(ddof=1) + 1e-5) + xs.mean()
    elif mode == "zscore_no_restore":
        out = (y - ys.mean(axis=0)) / (ys.std(axis=0, ddof=1) + 1e-5)
    elif mode == "minmax_foreground":
        lo, hi = ys.min(axis=0), ys.max(axis=0)
        out = (y - lo) / (hi - lo)
    elif mode == "minmax_nonzero":  # per channel over the output's non-zero voxels; zeros stay 0
        out = np.zeros_like(y)
        for c in range(y.shape[-1]):
            fg = inside & (y[..., c] != 0)
            lo, hi = y[..., c][fg].min(), y[..., c][fg].max()
            out[..., c] = np.where(fg, (y[..., c] - lo) / (hi - lo), 0.0)
    else:
        raise AssertionError(mode)
    if mask is not None:
        out = np.where(inside[..., None], out, x)
    return out


def assert_close(actual, desired, *, rtol: float = 1e-5, scale_atol: float = 1e-5, err_msg: str = "") -> None:
    """float32-vs-float64 comparison: ``rtol`` plus an absolute slack of ``scale_atol * max|desired|``.

    float32 sums of a few hundred O(1) products carry errors of ~1e-6 of the largest
    magnitude involved, which a pure relative check would reject near cancellations.
    """
    desired = np.asarray(desired, np.float64)
    actual = np.asarray(actual, np.float64)
    scale = max(1.0, float(np.max(np.abs(desired)))) if desired.size else 1.0
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=scale_atol * scale, err_msg=err_msg)


# --- deformable convolution, Pro-RandConv, GIN (added with those methods) -------------------------


def interpolate(channel, position) -> float:
    """Multilinear interpolation of one ``(*spatial,)`` channel at a real position, zero outside."""
    channel = np.asarray(channel, np.float64)
    position = np.asarray(position, np.float64)
    floor = np.floor(position).astype(int)
    frac = position - floor
    total = 0.0
    for corner in itertools.product((0, 1), repeat=channel.ndim):
        idx = floor + np.asarray(corner)
        if np.all(idx >= 0) and np.all(idx < np.asarray(channel.shape)):
            weight = np.prod([f if c else 1.0 - f for f, c in zip(frac, corner, strict=True)])
            total += weight * channel[tuple(idx)]
    return total


def deform_conv(image, kernel, offsets) -> np.ndarray:
    """``out[p, o] = sum_{t, i} w[t, i, o] * interp(x_i, p + t - k//2 + offsets[p, t])``, explicit loops."""
    x = np.asarray(image, np.float64)
    w = np.asarray(kernel, np.float64)
    offsets = np.asarray(offsets, np.float64)
    spatial, d = x.shape[:-1], x.ndim - 1
    ks = w.shape[:d]
    taps = list(itertools.product(*(range(k) for k in ks)))
    out = np.zeros(spatial + (w.shape[-1],))
    for p in itertools.product(*(range(s) for s in spatial)):
        for n, t in enumerate(taps):
            pos = np.asarray(p) + np.asarray(t) - np.asarray(ks) // 2 + offsets[p + (n,)]
            sampled = np.array([interpolate(x[..., i], pos) for i in range(x.shape[-1])])
            out[p] += sampled @ w[t]
    return out


def pro_randconv_block(image, kernel, offsets, gamma, beta, eps=1e-5) -> np.ndarray:
    """One Pro-RandConv block: deformable conv, per-channel standardization, affine, tanh."""
    z = deform_conv(image, kernel, offsets)
    axes = tuple(range(z.ndim - 1))
    z = (z - z.mean(axis=axes)) / (z.std(axis=axes) + eps)
    return np.tanh(np.asarray(gamma, np.float64) * z + np.asarray(beta, np.float64))


def gin(image, kernels, biases, alpha, negative_slope=0.01) -> np.ndarray:
    """GIN: conv + bias, LeakyReLU after all but the last layer, alpha mix, Frobenius rescale."""
    x = np.asarray(image, np.float64)
    y = x
    for n, (w, b) in enumerate(zip(kernels, biases, strict=True)):
        y = correlate_same(y, w, b)
        if n < len(kernels) - 1:
            y = np.where(y >= 0, y, negative_slope * y)
    mixed = alpha * y + (1 - alpha) * x
    return mixed * np.linalg.norm(x) / (np.linalg.norm(mixed) + FROBENIUS_EPS)
