"""Keys, determinism, tracing, batching (vmap / pmap / NamedSharding) and dtypes."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

import randconv_jax as rc

from . import oracle

IMG2 = (12, 13, 3)
IMG3 = (6, 7, 8, 2)


def _image(shape, seed=0, dtype=np.float32):
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape).astype(dtype))


def _augmentations():
    return {
        "random_conv-ms": rc.make_random_conv(kernel_size=(1, 3), depth=2),
        "random_conv-zscore-gC": rc.make_random_conv(kernel_size=3, groups=2, normalize="zscore_restore"),
        "randconv-img": rc.presets.randconv(variant="img", kernel_sizes=(1, 3)),
        "randconv-mix": rc.presets.randconv(variant="mix", kernel_sizes=(1, 3)),
        "ms_rc_3d": rc.presets.ms_rc_3d(depth=2),
        "nnunet_rc": rc.presets.nnunet_rc(),
    }


AUGS = _augmentations()


# --- same key, same bits ------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(AUGS))
def test_same_key_same_bits_and_jit_matches_eager(name):
    aug = AUGS[name]
    x = jnp.abs(_image((8, 9, 2), seed=1))
    key = jax.random.key(3)
    jitted = jax.jit(aug)
    jit1, jit2 = jitted(key, x), jitted(key, x)
    np.testing.assert_array_equal(jit1, jit2)
    sample = jax.jit(aug.sample)
    jax.tree.map(np.testing.assert_array_equal, sample(key, x), sample(key, x))
    if name in EAGER_CHECKED:  # eager runs op by op (slow to dispatch): a representative subset
        eager1, eager2 = aug(key, x), aug(key, x)
        np.testing.assert_array_equal(eager1, eager2)
        oracle.assert_close(jit1, eager1, rtol=1e-5, scale_atol=1e-6)


EAGER_CHECKED = ("random_conv-ms", "randconv-mix", "nnunet_rc")


def test_different_keys_give_different_outputs():
    x = _image(IMG2)
    outs = [np.asarray(rc.random_conv(jax.random.key(s), x, kernel_size=3)) for s in range(3)]
    assert not np.array_equal(outs[0], outs[1]) and not np.array_equal(outs[1], outs[2])


@pytest.mark.parametrize("name", ["randconv-mix", "nnunet_rc"])
def test_typed_and_legacy_keys_give_the_same_output(name):
    aug = jax.jit(AUGS[name])
    x = _image((8, 9, 2), seed=2)
    for seed in (0, 7):
        typed, legacy = jax.random.key(seed), jax.random.PRNGKey(seed)
        assert jnp.issubdtype(typed.dtype, jax.dtypes.prng_key) and legacy.dtype == jnp.uint32
        np.testing.assert_array_equal(aug(typed, x), aug(legacy, x))
    sample = AUGS[name].sample
    jax.tree.map(np.testing.assert_array_equal, sample(jax.random.key(3), x), sample(jax.random.PRNGKey(3), x))
    if name == "randconv-mix":  # through batched too (split keys of either kind agree)
        batch = jnp.stack([x, x])
        per_sample = jax.jit(rc.batched(AUGS[name], mode="per_sample"))
        np.testing.assert_array_equal(per_sample(jax.random.key(1), batch), per_sample(jax.random.PRNGKey(1), batch))


def test_random_conv_typed_and_legacy_keys_agree_eagerly():
    x = _image((8, 9, 2), seed=2)
    np.testing.assert_array_equal(
        rc.random_conv(jax.random.key(5), x, kernel_size=(1, 3)),
        rc.random_conv(jax.random.PRNGKey(5), x, kernel_size=(1, 3)),
    )


# --- no retracing --------------------------------------------------------------------------------


def test_new_key_does_not_retrace():
    x = _image(IMG2)
    traces = []

    @jax.jit
    def f(key, image):
        traces.append(1)
        return rc.random_conv(key, image, kernel_size=(1, 3, 5, 7), depth=2, normalize="zscore_restore")

    outs = [np.asarray(f(jax.random.key(s), x)) for s in range(3)]
    assert len(traces) == 1
    assert not np.array_equal(outs[0], outs[1])


@pytest.mark.parametrize("name", ["randconv-img"])
def test_new_key_does_not_retrace_presets(name):
    aug = AUGS[name]
    x = _image((8, 9, 2), seed=3)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def f(key, image):
        return aug(key, image)

    try:
        for s in range(3):
            f(jax.random.key(s), x)
        per_sample = rc.batched(aug, mode="per_sample")
        batched = jax.jit(chex.assert_max_traces(lambda k, images: per_sample(k, images), n=1))
        for s in range(3):
            batched(jax.random.key(s), jnp.stack([x, x]))
    finally:
        chex.clear_trace_counter()


def test_traced_sigma_and_gain_do_not_retrace_and_are_used():
    x = _image(IMG2)
    key = jax.random.key(9)
    traces = []

    @jax.jit
    def f(key, image, sigma, gain):
        traces.append(1)
        by_sigma = rc.random_conv(key, image, kernel_size=3, depth=2, sigma=sigma)
        by_gain = rc.random_conv(key, image, kernel_size=(1, 3), depth=2, gain=gain)
        return by_sigma, by_gain

    (s1, g1), (s2, g2), (s3, g3) = (f(key, x, s, g) for s, g in [(0.1, 1.0), (0.2, 2.0), (0.3, 0.5)])
    assert len(traces) == 1
    # Two linear layers, no bias: the output scales as sigma^2 (and gain^2).
    oracle.assert_close(s2, 4.0 * np.asarray(s1, np.float64))
    oracle.assert_close(s3, 9.0 * np.asarray(s1, np.float64))
    oracle.assert_close(g2, 4.0 * np.asarray(g1, np.float64))
    oracle.assert_close(g3, 0.25 * np.asarray(g1, np.float64))


def test_traced_probability_does_not_retrace():
    x = _image(IMG2)
    inner = rc.make_random_conv(kernel_size=3)
    traces = []

    @jax.jit
    def f(key, image, p):
        traces.append(1)
        aug = rc.with_probability(inner, p)
        return aug(key, image), aug.sample(key, image).applied

    key = jax.random.key(2)
    out0, applied0 = f(key, x, 0.0)
    out1, applied1 = f(key, x, 1.0)
    f(key, x, 0.5)
    assert len(traces) == 1
    assert not applied0 and applied1
    np.testing.assert_array_equal(out0, x)
    _, k_inner = jax.random.split(key)
    oracle.assert_close(out1, inner(k_inner, x), rtol=1e-6, scale_atol=1e-6)


def test_traced_alpha_range_does_not_retrace():
    x = _image(IMG2)
    inner = rc.make_random_conv(kernel_size=3)
    traces = []

    @jax.jit
    def f(key, image, low, high):
        traces.append(1)
        aug = rc.mix_with_input(inner, alpha_range=(low, high))
        return aug(key, image), aug.sample(key, image).alpha

    key = jax.random.key(4)
    _, k_inner = jax.random.split(key)
    y = np.asarray(inner(k_inner, x), np.float64)
    for a in (0.25, 0.75):
        out, alpha = f(key, x, a, a)
        assert float(alpha) == pytest.approx(a, abs=1e-7)
        oracle.assert_close(out, a * y + (1 - a) * np.asarray(x, np.float64))
    _, alpha = f(key, x, 0.2, 0.4)
    assert 0.2 <= float(alpha) < 0.4
    assert len(traces) == 1


# --- per-sample and per-batch draws ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["random_conv-ms", "nnunet_rc"])
def test_per_sample_draws_differ_and_per_batch_draws_are_shared(name):
    aug = AUGS[name]
    x = jnp.abs(_image((8, 9, 2), seed=5)) + 0.1
    n = 4
    batch = jnp.stack([x] * n)  # identical images
    key = jax.random.key(6)

    per_sample = rc.batched(aug, mode="per_sample")
    out = np.asarray(jax.jit(per_sample)(key, batch))
    if name in ("ms_rc_3d", "nnunet_rc"):  # with_probability: compare only images whose coin came up
        applied = np.asarray(jax.jit(per_sample.sample)(key, batch).applied)
        assert applied.shape == (n,)
        rows = [i for i in range(n) if applied[i]]
    else:
        rows = list(range(n))
    assert len(rows) >= 2
    for i in rows:
        for j in rows:
            if i < j:
                assert not np.allclose(out[i], out[j], atol=1e-3), (i, j)
    want = jax.jit(jax.vmap(aug))(jax.random.split(key, n), batch)
    oracle.assert_close(out, want, rtol=1e-6, scale_atol=1e-6)

    per_batch = rc.batched(aug, mode="per_batch")
    out_b = np.asarray(jax.jit(per_batch)(key, batch))
    for i in range(1, n):
        np.testing.assert_array_equal(out_b[i], out_b[0])
    oracle.assert_close(out_b, jax.jit(jax.vmap(aug, in_axes=(None, 0)))(key, batch), rtol=1e-6, scale_atol=1e-6)
    oracle.assert_close(out_b[0], jax.jit(aug)(key, x), rtol=1e-6, scale_atol=1e-6)

    # Params: a leading batch axis per sample, none per batch (shapes only: eval_shape compiles nothing).
    def shapes(params):
        return [leaf.shape for leaf in jax.tree.leaves(params)]

    one = jax.eval_shape(aug.sample, key, x)
    shared = jax.eval_shape(per_batch.sample, key, batch)
    assert shapes(shared) == shapes(one)
    assert shapes(jax.eval_shape(per_sample.sample, key, batch)) == [(n,) + s for s in shapes(one)]
    assert jax.tree.structure(shared) == jax.tree.structure(one)


# --- pmap and NamedSharding ---------------------------------------------------------------------------


def _eight_devices():
    if jax.default_backend() == "cpu":
        assert jax.device_count() == 8, "tests/conftest.py must set --xla_force_host_platform_device_count=8"
    elif jax.device_count() < 8:
        pytest.skip("needs 8 devices")
    return jax.devices()[:8]


SHARDED_AUG = rc.with_probability(rc.make_random_conv(kernel_size=(1, 3), depth=2, normalize="zscore_restore"), 0.75)


def test_eight_cpu_devices_are_configured():
    assert len(_eight_devices()) == 8


def test_pmap_matches_single_device():
    _eight_devices()
    xs = _image((8,) + IMG2, seed=7)
    keys = jax.random.split(jax.random.key(8), 8)
    out = jax.pmap(SHARDED_AUG)(keys, xs)
    assert out.shape == xs.shape and out.dtype == xs.dtype
    want = jax.jit(jax.vmap(SHARDED_AUG))(keys, xs)  # everything on one device
    assert len(want.sharding.device_set) == 1
    oracle.assert_close(out, want, rtol=1e-5, scale_atol=1e-6)


MESH_TYPES = {
    "auto-axes": (AxisType.Auto,),
    "default-axes": None,  # jax.make_mesh's default: Explicit axes in jax 0.10
}


@pytest.mark.parametrize("axis_types", list(MESH_TYPES))
def test_named_sharding_per_sample_matches_single_device(axis_types):
    devices = _eight_devices()
    mesh = jax.make_mesh((8,), ("batch",), axis_types=MESH_TYPES[axis_types], devices=devices)
    sharding = NamedSharding(mesh, P("batch"))
    xs = _image((8,) + IMG2, seed=9)
    keys = jax.random.split(jax.random.key(10), 8)
    want = jax.vmap(SHARDED_AUG)(keys, xs)
    xs_sharded, keys_sharded = jax.device_put(xs, sharding), jax.device_put(keys, sharding)
    out = jax.jit(jax.vmap(SHARDED_AUG))(keys_sharded, xs_sharded)
    assert out.sharding.is_equivalent_to(sharding, out.ndim), out.sharding
    oracle.assert_close(out, want, rtol=1e-5, scale_atol=1e-6)


@pytest.mark.parametrize("axis_types", list(MESH_TYPES))
def test_named_sharding_per_batch_matches_single_device(axis_types):
    devices = _eight_devices()
    mesh = jax.make_mesh((8,), ("batch",), axis_types=MESH_TYPES[axis_types], devices=devices)
    sharding = NamedSharding(mesh, P("batch"))
    xs = _image((8,) + IMG3, seed=11)
    aug = rc.batched(rc.presets.nnunet_rc(probability=1.0), mode="per_batch")
    key = jax.random.key(12)
    want = aug(key, xs)
    out = jax.jit(aug)(key, jax.device_put(xs, sharding))
    assert out.sharding.is_equivalent_to(sharding, out.ndim), out.sharding
    oracle.assert_close(out, want, rtol=1e-5, scale_atol=1e-6)


# --- dtypes -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,dtype",
    [(name, jnp.bfloat16) for name in AUGS]
    + [(name, jnp.float16) for name in ("random_conv-zscore-gC", "randconv-mix", "nnunet_rc")],
    ids=lambda v: v if isinstance(v, str) else jnp.dtype(v).name,
)
def test_output_dtype_is_input_dtype(name, dtype):
    aug = AUGS[name]
    x32 = jnp.abs(_image((8, 9, 2), seed=13)) + 0.1
    x = x32.astype(dtype)
    key = jax.random.key(14)
    out = jax.jit(aug)(key, x)
    assert out.dtype == dtype and out.shape == x.shape
    if name != "randconv-mix":
        # Computation happens in float32: the low-precision result is the float32 result on the
        # same (rounded) values, rounded once at the end.
        want = jax.jit(aug)(key, x.astype(jnp.float32)).astype(dtype)
        np.testing.assert_array_equal(np.asarray(out, np.float32), np.asarray(want, np.float32))
        return
    # alpha * aug(x) + (1 - alpha) * x, where aug(x) is, like every augmentation output, in the
    # input dtype; the mix itself is computed in float32 and rounded once.
    inner = rc.make_random_conv(kernel_size=(1, 3), depth=1, gain=1.0, normalize="none")
    params = aug.sample(key, x)
    y = jax.jit(inner.apply)(x, params.inner)
    assert y.dtype == dtype
    alpha = params.alpha
    want = (alpha * y.astype(jnp.float32) + (1 - alpha) * x.astype(jnp.float32)).astype(dtype)
    # The float32 mix compiled in another program may contract into FMAs differently
    # (1 float32 ulp), which can move the final rounding by one unit of the output dtype.
    eps = float(jnp.finfo(dtype).eps)
    np.testing.assert_allclose(np.asarray(out, np.float32), np.asarray(want, np.float32), rtol=eps, atol=eps)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.float16], ids=lambda d: jnp.dtype(d).name)
def test_public_functions_keep_dtype(dtype):
    # Output dtypes are static: eval_shape traces the real code without compiling it.
    x = _image(IMG3, seed=15).astype(dtype)
    key = jax.random.key(0)
    assert jax.eval_shape(lambda k, im: rc.random_conv(k, im, kernel_size=3, groups=2), key, x).dtype == dtype
    params = jax.eval_shape(lambda k, im: rc.sample_random_conv(k, im, kernel_size=3), key, x)
    assert params.stacks[0].kernels.dtype == jnp.float32
    assert jax.eval_shape(lambda im, p: rc.apply_random_conv(im, p, normalize="frobenius"), x, params).dtype == dtype
    assert jax.eval_shape(lambda im: rc.convolve(im, jnp.ones((3, 3, 3, 2, 4))), x).dtype == dtype
    assert jax.eval_shape(lambda im: rc.normalize_output(im, im, mode="zscore_restore"), x).dtype == dtype
    for name, aug in AUGS.items():
        assert jax.eval_shape(rc.batched(aug), key, jnp.stack([x, x])).dtype == dtype, name
