"""``impl="lax"`` on a batch sharded over a mesh (8 fake CPU devices), per sample and per batch.

JAX batches ``lax.conv`` with a kernel per sample by folding the batch into feature groups; on a
sharded batch that fails (Explicit axes: "This reshape is not supported"; Auto axes: XLA's
partitioner "Expected output feature dimension ... divisible by feature_group_count").
``randconv_jax`` gives its lax convolution its own batching rule (taps form for per-sample
kernels, one ``lax.conv`` over the batch for a shared kernel). Oracle: the same augmentation with
``impl="taps"`` (another formulation) on one device, without sharding.
"""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

import randconv_jax as rc
from randconv_jax import _conv

from . import oracle

SHAPES = {2: (8, 12, 13, 3), 3: (8, 6, 7, 8, 2)}
# Every convolution preset per sample (kernels per sample: the case JAX's batching breaks) and every
# preset with its paper's sharing, on Explicit axes; on Auto axes the per-sample transform of the 3D
# config. GIN-IPA convolves as GIN does (two GIN draws) and takes 70 s to compile on two CPU cores:
# it runs on accelerators (benchmarks/device_check.py). Pro-RandConv per sample (its paper shares one
# draw per batch) is not covered: its loop over a per-sample number of repeats cannot be batched on
# an Explicit-axes mesh (JAX: "Resource axis: batch of P('batch',) is not found in mesh: ()").
_PER_SAMPLE = [name for name in rc.presets.BATCH_MODE if name != "pro_randconv"
               and (name != "gin_ipa" or jax.default_backend() != "cpu")]
CASES = [(name, "per_sample", "explicit") for name in _PER_SAMPLE]
CASES += [(name, "per_batch", "explicit") for name, mode in rc.presets.BATCH_MODE.items() if mode == "per_batch"]
CASES += [("nnunet_rc", "per_sample", "auto")]


def _mesh(axes: str) -> jax.sharding.Mesh:
    """A 1-D mesh over 8 fake CPU devices (tests/conftest.py), or over an accelerator's devices
    (benchmarks/device_check.py; their number must divide the batch of 8)."""
    if jax.default_backend() == "cpu":
        assert jax.device_count() == 8, "tests/conftest.py must set --xla_force_host_platform_device_count=8"
    n = jax.device_count() if 8 % jax.device_count() == 0 else 1
    kind = AxisType.Explicit if axes == "explicit" else AxisType.Auto
    return jax.make_mesh((n,), ("batch",), axis_types=(kind,), devices=jax.devices()[:n])


def _factory(name: str, impl: str) -> rc.Augmentation:
    factory = getattr(rc.presets, name)
    kw = {"impl": impl} if "impl" in inspect.signature(factory).parameters else {}  # pro_randconv has its own conv
    if name == "randconv":
        kw["kernel_sizes"] = (1, 3, 5)
    return factory(**kw)


@pytest.mark.parametrize("name,mode,axes", CASES)
def test_every_preset_on_a_sharded_batch_with_lax_convolutions(name, mode, axes):
    dims = 3 if name in ("ms_rc_3d", "nnunet_rc") else 2  # the MS presets on 2-modality volumes (C divides 4)
    images = jnp.asarray(np.random.default_rng(dims).standard_normal(SHAPES[dims]).astype(np.float32))
    masks = jnp.asarray(np.random.default_rng(1).random(SHAPES[dims][:-1]) > 0.2)
    key = jax.random.key(5)
    want = jax.jit(rc.batched(_factory(name, "taps"), mode=mode))(key, images, mask=masks)
    sharding = NamedSharding(_mesh(axes), P("batch"))
    aug = jax.jit(rc.batched(_factory(name, "lax"), mode=mode))
    out = aug(key, jax.device_put(images, sharding), mask=jax.device_put(masks, sharding))
    assert out.shape == images.shape and out.sharding.is_equivalent_to(sharding, out.ndim), out.sharding
    oracle.assert_close(out, want, rtol=1e-4, scale_atol=1e-5)


def test_gradients_through_vmapped_lax_convolutions_are_the_taps_ones():
    rng = np.random.default_rng(2)
    x = jnp.asarray(rng.standard_normal((8, 2, 9, 10)).astype(np.float32))
    per_sample = jnp.asarray(rng.standard_normal((8, 3, 3, 2, 4)).astype(np.float32))
    weights = jnp.asarray(rng.standard_normal((8, 4, 9, 10)).astype(np.float32))
    sharding = NamedSharding(_mesh("explicit"), P("batch"))

    def loss(impl, kernel_axis):
        conv = jax.vmap(lambda a, k: _conv.conv_channels_first(a, k, impl=impl), in_axes=(0, kernel_axis))
        return jax.grad(lambda a, k: jnp.sum(conv(a, k) ** 2 * weights), argnums=(0, 1))

    for kernels, kernel_axis in ((per_sample, 0), (per_sample[0], None)):
        want = loss("taps", kernel_axis)(x, kernels)
        on_mesh = (jax.device_put(x, sharding), jax.device_put(kernels, sharding) if kernel_axis == 0 else kernels)
        for args in ((x, kernels), on_mesh):
            got = jax.jit(loss("lax", kernel_axis))(*args)
            for g, w in zip(got, want, strict=True):
                oracle.assert_close(g, w, rtol=1e-4, scale_atol=1e-5)


def test_unbatched_lax_convolution_is_lax_conv():
    rng = np.random.default_rng(3)
    x = jnp.asarray(rng.standard_normal((3, 11, 12)).astype(np.float32))
    k = jnp.asarray(rng.standard_normal((5, 3, 1, 6)).astype(np.float32))
    want = jax.lax.conv_general_dilated(x[None], k, (1, 1), "SAME", dimension_numbers=("NCHW", "HWIO", "NCHW"),
                                        feature_group_count=3)[0]
    np.testing.assert_allclose(_conv.conv_channels_first(x, k, groups=3, impl="lax"), want, rtol=1e-6, atol=1e-6)
    jaxpr = str(jax.make_jaxpr(lambda a: _conv.conv_channels_first(a, k, groups=3, impl="lax"))(x))
    assert "conv_general_dilated" in jaxpr
