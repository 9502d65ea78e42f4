"""apply_random_conv / convolve / normalize_output against the independent NumPy oracle."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.ndimage

import randconv_jax as rc

from . import oracle

IMG2 = (12, 13, 3)
IMG3 = (6, 7, 8, 2)
MULTISCALE = (1, 3, 5, 7)

# name -> (image shape, sample_random_conv keywords)
CONFIGS = {
    "2d-k3-d1-g1": (IMG2, dict(kernel_size=3)),
    "2d-ms-d1-g1": (IMG2, dict(kernel_size=MULTISCALE)),
    "2d-ms-d3-gC-h6-bias": (IMG2, dict(kernel_size=MULTISCALE, depth=3, groups=3, hidden_channels=6, bias_std=0.5)),
    "2d-k5-d3-g1-h4-bias": (IMG2, dict(kernel_size=5, depth=3, hidden_channels=4, bias_std=0.5)),
    "2d-k3-d3-gC-bias": (IMG2, dict(kernel_size=3, depth=3, groups=3, bias_std=0.5)),  # one stack of 3: scan
    "2d-k1-d2-h4-bias": (IMG2, dict(kernel_size=1, depth=2, hidden_channels=4, bias_std=0.5)),  # 1x1 folding
    "3d-k3-d1-g1": (IMG3, dict(kernel_size=3)),
    "3d-ms-d1-gC": (IMG3, dict(kernel_size=MULTISCALE, groups=2)),
    "3d-ms-d3-g1": (IMG3, dict(kernel_size=MULTISCALE, depth=3)),  # scan over switch
    "3d-k3-d3-gC-h4-bias": (IMG3, dict(kernel_size=3, depth=3, groups=2, hidden_channels=4, bias_std=0.5)),
}


def make_image(shape, seed=0, dtype=np.float32):
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape).astype(dtype))


def drawn_sizes(params):
    return [s.kernel_sizes[int(i)] for s in params.stacks for i in np.asarray(s.size_index)]


@functools.cache
def jitted_apply(impl, normalize="none"):
    return jax.jit(functools.partial(rc.apply_random_conv, impl=impl, normalize=normalize))


@pytest.mark.parametrize("impl", ["taps", "lax"])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_apply_random_conv_matches_oracle(name, impl):
    shape, kw = CONFIGS[name]
    x = make_image(shape)
    sizes = kw["kernel_size"] if isinstance(kw["kernel_size"], tuple) else (kw["kernel_size"],)
    # Multiscale: try keys until every size was drawn by some layer (a new key does not recompile).
    seen = set()
    for seed in range(40):
        if seed >= 2 and seen == set(sizes):
            break
        params = rc.sample_random_conv(jax.random.key(seed), x, **kw)
        kernels, biases, groups = oracle.params_layers(params)
        assert len(kernels) == kw.get("depth", 1) == params.depth
        assert all((b is None) == ("bias_std" not in kw) for b in biases)
        want = oracle.apply_layers(np.asarray(x), kernels, biases, groups)
        got = jitted_apply(impl)(x, params)
        assert got.shape == x.shape and got.dtype == x.dtype
        oracle.assert_close(got, want, err_msg=f"{name} {impl} seed {seed}")
        seen.update(drawn_sizes(params))
    assert seen == set(sizes), f"the keys tried drew only sizes {sorted(seen)}"


@pytest.mark.parametrize("name", ["2d-k3-d3-gC-bias"])
def test_random_conv_is_sample_then_apply(name):
    shape, kw = CONFIGS[name]
    x = make_image(shape, seed=1)
    key = jax.random.key(3)
    params = rc.sample_random_conv(key, x, **kw)
    got = jax.jit(lambda k, im: rc.random_conv(k, im, **kw))(key, x)
    kernels, biases, groups = oracle.params_layers(params)
    oracle.assert_close(got, oracle.apply_layers(np.asarray(x), kernels, biases, groups))


# --- normalization modes, with and without a mask -------------------------------------------

NORM_CONFIGS = {
    "2d": (IMG2, dict(kernel_size=3, depth=2, hidden_channels=4, bias_std=0.3)),
    "3d": (IMG3, dict(kernel_size=3, groups=2)),
}


def image_with_background(shape, seed=0):
    """Random image whose outer frame is exactly zero in every channel (minmax's default background);
    two voxels are zero in channel 0 only (still foreground)."""
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    frame = np.ones(shape[:-1], bool)
    frame[(slice(1, -1),) * (len(shape) - 1)] = False
    x[frame] = 0.0
    centre = tuple(s // 2 for s in shape[:-1])
    x[centre + (0,)] = 0.0
    x[tuple(c + 1 for c in centre) + (0,)] = 0.0
    return x


def ball_mask(spatial, seed=0):
    rng = np.random.default_rng(seed)
    grids = np.meshgrid(*(np.arange(s) - (s - 1) / 2 for s in spatial), indexing="ij")
    radius2 = sum(g**2 / (s / 2.2) ** 2 for g, s in zip(grids, spatial, strict=True))
    mask = radius2 < 1.0
    mask[tuple(rng.integers(0, s) for s in spatial)] = False  # a hole inside
    assert 0 < mask.sum() < mask.size
    return mask


@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "mask"])
@pytest.mark.parametrize("mode", rc.NORMALIZE_MODES)
@pytest.mark.parametrize("dim", list(NORM_CONFIGS))
def test_normalize_modes_match_oracle(dim, mode, masked):
    shape, kw = NORM_CONFIGS[dim]
    x_np = image_with_background(shape)
    x = jnp.asarray(x_np)
    mask = ball_mask(shape[:-1]) if masked else None
    params = rc.sample_random_conv(jax.random.key(11), x, **kw)
    kernels, biases, groups = oracle.params_layers(params)
    raw = oracle.apply_layers(x_np, kernels, biases, groups, mask=mask)  # zeroed outside the mask first
    want = oracle.normalize(raw, x_np, mode, mask)
    got = jax.jit(functools.partial(rc.apply_random_conv, normalize=mode))(x, params, mask=mask)
    oracle.assert_close(got, want, err_msg=mode)
    background = ~mask if masked else (~np.any(x_np != 0, axis=-1) if mode == "minmax_foreground" else None)
    if background is not None:
        assert background.any()
        np.testing.assert_array_equal(np.asarray(got)[background], x_np[background])
    if mode != "none":  # the normalization must change something for this check to mean anything
        assert not np.allclose(want, raw, atol=1e-3)


@pytest.mark.parametrize("mode", rc.NORMALIZE_MODES)
def test_normalize_output_matches_oracle_with_numeric_mask(mode):
    rng = np.random.default_rng(5)
    x = image_with_background(IMG2, seed=5)
    y = (3.0 * rng.standard_normal(IMG2) + 1.5).astype(np.float32)
    mask = ball_mask(IMG2[:-1], seed=5)
    # A {0, 1} float mask with a trailing singleton axis is the same mask.
    got = rc.normalize_output(y, x, mode=mode, mask=mask.astype(np.float32)[..., None])
    oracle.assert_close(got, oracle.normalize(y, x, mode, mask))
    np.testing.assert_array_equal(np.asarray(got)[~mask], x[~mask])
    got_nomask = rc.normalize_output(y, x, mode=mode)
    oracle.assert_close(got_nomask, oracle.normalize(y, x, mode, None))


# --- the public convolve ----------------------------------------------------------------------


@pytest.mark.parametrize("impl", ["taps", "lax"])
@pytest.mark.parametrize(
    "shape,kshape,groups",
    [
        (IMG2, (5, 3, 3, 4), 1),
        (IMG2, (3, 7, 1, 6), 3),
        (IMG3, (3, 5, 1, 1, 2), 2),
        (IMG3, (3, 3, 3, 2, 3), 1),
    ],
    ids=["2d-g1", "2d-gC", "3d-gC", "3d-g1"],
)
def test_convolve_matches_oracle(shape, kshape, groups, impl):
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal(kshape).astype(np.float32)
    b = rng.standard_normal(kshape[-1]).astype(np.float32)
    got = rc.convolve(x, w, bias=b, groups=groups, impl=impl)
    assert got.shape == shape[:-1] + (kshape[-1],)
    oracle.assert_close(got, oracle.correlate_same(x, w, b, groups))
    oracle.assert_close(rc.convolve(x, w, groups=groups, impl=impl), oracle.correlate_same(x, w, None, groups))


@pytest.mark.parametrize("impl", ["taps", "lax"])
@pytest.mark.parametrize("shape,kshape", [((12, 13), (5, 3)), ((6, 7, 8), (3, 5, 7))], ids=["2d", "3d"])
def test_convolve_one_channel_pair_matches_scipy_correlate(shape, kshape, impl):
    rng = np.random.default_rng(8)
    x = rng.standard_normal(shape)
    w = rng.standard_normal(kshape)  # asymmetric: a flipped kernel would not match
    want = scipy.ndimage.correlate(x, w, mode="constant", cval=0.0)
    got = rc.convolve(x[..., None].astype(np.float32), w[..., None, None].astype(np.float32), impl=impl)[..., 0]
    oracle.assert_close(got, want)
    # The oracle agrees with scipy too (checks the oracle itself).
    np.testing.assert_allclose(
        oracle.correlate_same(x[..., None], w[..., None, None])[..., 0], want, rtol=1e-12, atol=1e-12
    )
    # And a true convolution (flipped kernel) would differ: the test can tell the two apart.
    assert not np.allclose(scipy.ndimage.convolve(x, w, mode="constant"), want, atol=1e-3)


@pytest.mark.parametrize(
    "name,impl",
    [("2d-ms-d3-gC-h6-bias", "taps"), ("2d-ms-d3-gC-h6-bias", "lax"), ("3d-ms-d1-gC", "lax")],
)
def test_multiscale_full_matches_oracle(name, impl):
    # multiscale="full" convolves with the zero-padded k_max kernel instead of switching on the
    # drawn size: the same maths, so the same oracle.
    shape, kw = CONFIGS[name]
    x = make_image(shape, seed=4)
    apply = jax.jit(functools.partial(rc.apply_random_conv, impl=impl, multiscale="full"))
    for seed in range(3):
        params = rc.sample_random_conv(jax.random.key(seed), x, **kw)
        kernels, biases, groups = oracle.params_layers(params)
        oracle.assert_close(apply(x, params), oracle.apply_layers(np.asarray(x), kernels, biases, groups))
