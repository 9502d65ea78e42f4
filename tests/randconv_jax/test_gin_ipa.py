"""GIN and IPA: Frobenius norm, per-sample alpha, layer-stack oracle, blend mask, views, batching, dtypes."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import randconv_jax as rc
from randconv_jax import presets

from . import oracle


def _image(shape, seed=0):
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


@pytest.mark.parametrize("shape", [(9, 10, 3), (5, 6, 7, 2)], ids=["2d", "3d"])
def test_gin_matches_the_numpy_oracle_fed_the_same_params(shape):
    x = _image(shape, 1)
    for seed in range(3):
        params = rc.sample_gin(jax.random.key(seed), x)
        kernels, biases, _ = oracle.params_layers(params.layers)
        assert len(kernels) == 4 and [k.shape[-1] for k in kernels] == [2, 2, 2, shape[-1]]
        want = oracle.gin(x, kernels, biases, float(params.alpha))
        oracle.assert_close(jax.jit(rc.apply_gin)(x, params), want, rtol=1e-4, scale_atol=1e-5)
        oracle.assert_close(rc.apply_gin(x, params, multiscale="full"), want, rtol=1e-4, scale_atol=1e-5)


def test_frobenius_norm_is_kept_per_sample_and_alpha_differs_across_a_vmapped_batch():
    xs = _image((4, 8, 9, 3), 2) * jnp.arange(1.0, 5.0)[:, None, None, None]
    keys = jax.random.split(jax.random.key(3), 4)
    out = np.asarray(jax.jit(jax.vmap(rc.gin))(keys, xs), np.float64)
    norms_in = np.linalg.norm(np.asarray(xs, np.float64).reshape(4, -1), axis=1)
    np.testing.assert_allclose(np.linalg.norm(out.reshape(4, -1), axis=1), norms_in, rtol=1e-5)
    alphas = np.asarray(jax.vmap(rc.sample_gin)(keys, xs).alpha)
    assert len(np.unique(alphas)) == 4 and alphas.min() >= 0 and alphas.max() <= 1
    assert not np.allclose(out[0] / norms_in[0], out[1] / norms_in[1])


def test_gin_laws_and_kernel_sizes():
    x = jax.ShapeDtypeStruct((8, 8, 3), jnp.float32)
    params = jax.vmap(lambda k: rc.sample_gin(k, x))(jax.random.split(jax.random.key(5), 200))
    kernels = [np.asarray(s.kernels) for s in params.layers.stacks]
    centre = np.concatenate([k[:, :, 1, 1].ravel() for k in kernels])
    assert abs(centre.std() - 1.0) < 0.05  # N(0, 1), not Kaiming
    biases = np.concatenate([np.asarray(s.biases).ravel() for s in params.layers.stacks])
    assert abs(biases.std() - 1.0) < 0.08
    sizes = np.concatenate([np.asarray(s.size_index).ravel() for s in params.layers.stacks])
    assert 0.4 < sizes.mean() < 0.6  # k in {1, 3}, one per layer


def test_gin_mask_keeps_background():
    x = _image((8, 9, 2), 6)
    mask = np.zeros((8, 9), bool)
    mask[1:6, 2:8] = True
    out = np.asarray(rc.gin(jax.random.key(7), x, mask=mask), np.float64)
    np.testing.assert_array_equal(out[~mask], np.asarray(x)[~mask])
    np.testing.assert_allclose(np.linalg.norm(out[mask]), np.linalg.norm(np.asarray(x, np.float64)[mask]), rtol=1e-5)


@pytest.mark.parametrize("shape", [(96, 80, 1), (40, 48, 32, 1)], ids=["2d", "3d"])
def test_ipa_mask_is_in_unit_interval_smooth_and_deterministic(shape):
    key = jax.random.key(8)
    x = jax.ShapeDtypeStruct(shape, jnp.float32)
    m = np.asarray(jax.jit(rc.sample_ipa_mask, static_argnums=1)(key, x))
    assert m.shape == shape[:-1] and m.dtype == np.float32
    assert m.min() == pytest.approx(0.0, abs=1e-6) and m.max() == pytest.approx(1.0, abs=1e-6)
    for axis in range(m.ndim):  # bounded finite differences (white noise would jump by ~0.5)
        assert np.abs(np.diff(m, axis=axis)).max() < 0.1
    np.testing.assert_array_equal(m, np.asarray(jax.jit(rc.sample_ipa_mask, static_argnums=1)(key, x)))
    np.testing.assert_allclose(m, np.asarray(rc.sample_ipa_mask(key, x)), atol=1e-6)
    assert not np.array_equal(m, np.asarray(rc.sample_ipa_mask(jax.random.key(9), x)))


def test_ipa_blend_and_views():
    x = _image((24, 20, 2), 10)
    key = jax.random.key(11)
    apply_gin = jax.jit(rc.apply_gin)
    apply_ipa = jax.jit(rc.apply_gin_ipa, static_argnames="invert")
    params = rc.sample_gin_ipa(key, x, control_spacing=8)
    a = np.asarray(apply_gin(x, params.first), np.float64)
    b = np.asarray(apply_gin(x, params.second), np.float64)
    m = np.asarray(params.blend, np.float64)[..., None]
    oracle.assert_close(apply_ipa(x, params), a * m + b * (1 - m), rtol=1e-5, scale_atol=1e-5)
    oracle.assert_close(apply_ipa(x, params, invert=True), a * (1 - m) + b * m, rtol=1e-5, scale_atol=1e-5)
    views = jax.jit(rc.gin_ipa_views)(key, x)
    assert views.shape == (3,) + x.shape and views.dtype == x.dtype
    k_ab, k_c = jax.random.split(key)
    p_ab = rc.sample_gin_ipa(k_ab, x)
    oracle.assert_close(views[0], apply_ipa(x, p_ab), rtol=1e-5, scale_atol=1e-5)
    oracle.assert_close(views[1], apply_ipa(x, p_ab, invert=True), rtol=1e-5, scale_atol=1e-5)
    oracle.assert_close(views[2], apply_gin(x, rc.sample_gin(k_c, x)), rtol=1e-5, scale_atol=1e-5)
    views3d = jax.jit(rc.gin_ipa_views)(key, _image((6, 7, 8, 1), 12))
    assert views3d.shape == (3, 6, 7, 8, 1)


@pytest.mark.parametrize("name", ["gin", "gin_ipa"])
def test_presets_no_retrace_pmap_and_dtypes(name):
    aug = presets.for_batches(name)
    assert presets.BATCH_MODE[name] == "per_sample"
    xs = _image((8, 7, 6, 2), 13)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def f(key, images):
        return aug(key, images)

    try:
        outs = [f(jax.random.key(s), xs) for s in range(2)]
    finally:
        chex.clear_trace_counter()
    assert not np.array_equal(outs[0], outs[1])
    one = getattr(presets, name)()
    keys = jax.random.split(jax.random.key(14), 8)
    if name == "gin":
        oracle.assert_close(jax.pmap(one)(keys, xs), jax.jit(jax.vmap(one))(keys, xs), rtol=1e-5, scale_atol=1e-5)
    for dtype in (jnp.bfloat16,) if name == "gin_ipa" else (jnp.bfloat16, jnp.float16):
        out = jax.jit(one)(keys[0], xs[0].astype(dtype))
        assert out.dtype == dtype and out.shape == xs[0].shape
        want = jax.jit(one)(keys[0], xs[0].astype(dtype).astype(jnp.float32)).astype(dtype)
        np.testing.assert_array_equal(np.asarray(out, np.float32), np.asarray(want, np.float32))


def test_bad_input():
    key = jax.random.key(0)
    with pytest.raises(TypeError, match=r"image must have a floating-point dtype"):
        rc.gin(key, jnp.ones((5, 6, 2), jnp.int32))
    with pytest.raises(ValueError, match=r"image must"):
        rc.gin_ipa(key, jnp.ones((5, 6)))
    with pytest.raises(ValueError, match=r"image must"):
        rc.sample_ipa_mask(key, jnp.ones((2, 3, 4, 5, 6)))
    with pytest.raises(ValueError, match=r"kernel_sizes"):
        presets.gin(kernel_sizes=(2,))
    with pytest.raises(ValueError, match=r"control_spacing must be a positive int"):
        rc.sample_ipa_mask(key, jnp.ones((5, 6, 1)), control_spacing=0)
    with pytest.raises(TypeError, match=r"params must be GinIpaParams"):
        rc.apply_gin_ipa(jnp.ones((5, 6, 2)), rc.sample_gin(key, jnp.ones((5, 6, 2))))
    params = rc.sample_gin(key, jnp.ones((5, 6, 2)))
    with pytest.raises(ValueError, match=r"channels"):
        rc.apply_gin(jnp.ones((5, 6, 3)), params)
