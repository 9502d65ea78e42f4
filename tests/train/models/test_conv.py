"""The U-Net's convolutions: every implementation equals ``lax``'s, values and gradients.

Oracle: ``lax.conv_general_dilated`` / ``lax.conv_transpose`` (what ``nnx.Conv`` and
``nnx.ConvTranspose`` call) and ``jax.grad`` through them; the layers against Flax's own
modules built with the same ``Rngs``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax import lax

from train.models import UNet
from train.models import conv as conv_ops

TOL = {"rtol": 2e-5, "atol": 2e-5}


def _layout(d):
    sp = "DHW"[-d:]
    return (f"N{sp}C", f"{sp}IO", f"N{sp}C")


def _lax_conv(x, w, stride):
    d = w.ndim - 2
    return lax.conv_general_dilated(x, w, (stride,) * d, "SAME",
                                    dimension_numbers=lax.conv_dimension_numbers(x.shape, w.shape, _layout(d)))


def _arrays(x_shape, w_shape, seed=0):
    rng = np.random.default_rng(seed)
    x = jnp.asarray(rng.normal(size=x_shape), jnp.float32)
    w = jnp.asarray(rng.normal(size=w_shape) / np.sqrt(np.prod(w_shape[:-1])), jnp.float32)
    return x, w


def _value_and_grads(fn, x, w):
    # A non-linear scalar so that every output element gets its own cotangent; jitted (one compile
    # instead of one per primitive).
    return jax.jit(jax.value_and_grad(lambda x, w: jnp.sum(jnp.sin(3.0 * fn(x, w))), argnums=(0, 1)))(x, w)


CONV_CASES = [
    # (x shape, kernel size, C_out, stride): 2D and 3D, odd and non-square sizes, 1 and 2 channels.
    ((2, 12, 12, 3), 3, 5, 1),
    ((2, 12, 12, 3), 3, 5, 2),
    ((1, 9, 14, 2), 3, 4, 1),
    ((1, 9, 14, 2), 3, 4, 2),
    ((3, 7, 5, 1), 3, 2, 2),
    ((1, 6, 8, 10, 3), 3, 4, 1),
    ((1, 6, 8, 10, 3), 3, 4, 2),
    ((2, 5, 7, 9, 2), 3, 3, 2),
    ((1, 7, 6, 5, 2), 1, 3, 1),
    ((2, 10, 6, 4), 1, 3, 1),
    ((2, 8, 8, 2), 5, 3, 1),
]


# "lax" is the oracle itself and "auto" is "cpu" on a CPU (test_auto_resolves_by_backend).
@pytest.mark.parametrize(("x_shape", "k", "c_out", "stride"), CONV_CASES)
def test_conv_values_and_gradients_equal_lax(x_shape, k, c_out, stride):
    impl = "cpu"
    d = len(x_shape) - 2
    x, w = _arrays(x_shape, (k,) * d + (x_shape[-1], c_out))
    got = conv_ops.conv(x, w, stride=stride, impl=impl)
    want = _lax_conv(x, w, stride)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, **TOL)
    (v1, (gx1, gw1)) = _value_and_grads(lambda x, w: conv_ops.conv(x, w, stride=stride, impl=impl), x, w)
    (v0, (gx0, gw0)) = _value_and_grads(lambda x, w: _lax_conv(x, w, stride), x, w)
    np.testing.assert_allclose(v1, v0, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(gx1, gx0, **TOL)
    np.testing.assert_allclose(gw1, gw0, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(("x_shape", "k", "c_out"), [((2, 5, 7, 4), 2, 3), ((1, 3, 4, 5, 2), 2, 3),
                                                     ((2, 4, 4, 3), 3, 2)])
def test_conv_transpose_values_and_gradients_equal_lax(x_shape, k, c_out):
    impl = "cpu"
    d = len(x_shape) - 2
    x, w = _arrays(x_shape, (k,) * d + (x_shape[-1], c_out), seed=1)

    def oracle(x, w):
        return lax.conv_transpose(x, w, (k,) * d, "VALID", dimension_numbers=_layout(d))

    got = conv_ops.conv_transpose(x, w, impl=impl)
    assert got.shape == (x_shape[0],) + tuple(k * s for s in x_shape[1:-1]) + (c_out,)
    np.testing.assert_allclose(got, oracle(x, w), **TOL)
    (_, (gx1, gw1)) = _value_and_grads(lambda x, w: conv_ops.conv_transpose(x, w, impl=impl), x, w)
    (_, (gx0, gw0)) = _value_and_grads(oracle, x, w)
    np.testing.assert_allclose(gx1, gx0, **TOL)
    np.testing.assert_allclose(gw1, gw0, rtol=1e-4, atol=1e-4)


def test_conv_transpose_is_the_flipped_kernel_scatter():
    # Independent oracle (NumPy): y[k*i + a] = sum_c x[i, c] * w[k - 1 - a, c].
    x, w = _arrays((1, 3, 2, 2), (2, 2, 2, 3), seed=2)
    xn, wn = np.asarray(x), np.asarray(w)
    want = np.zeros((1, 6, 4, 3), np.float32)
    for i in range(3):
        for j in range(2):
            for a in range(2):
                for b in range(2):
                    want[0, 2 * i + a, 2 * j + b] = xn[0, i, j] @ wn[1 - a, 1 - b]
    np.testing.assert_allclose(conv_ops.conv_transpose(x, w, impl="cpu"), want, rtol=1e-6, atol=1e-6)


def test_pointwise_is_a_channel_matmul():
    x, w = _arrays((2, 4, 6, 3), (3, 5), seed=3)
    want = np.einsum("nhwc,co->nhwo", np.asarray(x), np.asarray(w))
    for impl in ("cpu", "lax"):
        np.testing.assert_allclose(conv_ops.pointwise(x, w, impl=impl), want, rtol=1e-5, atol=1e-5)


def test_auto_resolves_by_backend():
    assert conv_ops.resolve_impl("auto") == ("cpu" if jax.default_backend() == "cpu" else "lax")
    assert conv_ops.resolve_impl("lax") == "lax"


@pytest.mark.parametrize("bad", [
    dict(x=(2, 8, 8, 3), w=(3, 3, 4, 2), match="channels"),
    dict(x=(8, 8, 3), w=(3, 3, 3, 2), match="spatial rank"),
    dict(x=(1, 4, 4, 4, 4, 3), w=(3, 3, 3, 3, 3, 2), match="spatial rank"),
])
def test_conv_shape_errors(bad):
    x, w = jnp.zeros(bad["x"]), jnp.zeros(bad["w"])
    with pytest.raises(ValueError, match=bad["match"]):
        conv_ops.conv(x, w)


def test_bad_impl_and_stride_are_errors():
    with pytest.raises(ValueError, match="conv impl must be one of"):
        conv_ops.conv(jnp.zeros((1, 4, 4, 1)), jnp.zeros((3, 3, 1, 1)), impl="fast")
    with pytest.raises(ValueError, match="stride"):
        conv_ops.conv(jnp.zeros((1, 4, 4, 1)), jnp.zeros((3, 3, 1, 1)), stride=0)
    with pytest.raises(ValueError, match="conv_impl must be one of"):
        UNet(in_channels=1, num_classes=2, features=(4,), spatial_dims=2, conv_impl="torch", rngs=nnx.Rngs(0))


@pytest.mark.parametrize(("spatial_dims", "shape", "features"), [(2, (2, 16, 24, 2), (4, 8, 8)),
                                                                 (3, (1, 8, 8, 12, 2), (4, 8))])
def test_unet_same_logits_and_gradients_under_both_implementations(spatial_dims, shape, features):
    x = _arrays(shape, (1, 1), seed=5)[0]
    labels = (x[..., 0] > 0.5).astype(jnp.int32)
    nets = {impl: UNet(in_channels=2, num_classes=2, features=features, spatial_dims=spatial_dims, conv_impl=impl,
                       rngs=nnx.Rngs(0)) for impl in ("lax", "cpu")}
    graphdefs, params = {}, {}
    for impl, net in nets.items():
        graphdefs[impl], params[impl] = nnx.split(net, nnx.Param)
    # Same pytree, same initial values: a checkpoint of one restores into the other.
    assert jax.tree.structure(params["lax"]) == jax.tree.structure(params["cpu"])
    jax.tree.map(np.testing.assert_array_equal, params["lax"], params["cpu"])

    def loss(p, impl):
        logits = nnx.merge(graphdefs[impl], p)(x)
        return jnp.mean(-jnp.take_along_axis(jax.nn.log_softmax(logits), labels[..., None], -1)), logits

    out = {impl: jax.jit(jax.value_and_grad(loss, has_aux=True), static_argnums=1)(params["lax"], impl)
           for impl in ("lax", "cpu")}
    (l0, z0), g0 = out["lax"]
    (l1, z1), g1 = out["cpu"]
    np.testing.assert_allclose(z1, z0, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(l1, l0, rtol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5), g1, g0)
