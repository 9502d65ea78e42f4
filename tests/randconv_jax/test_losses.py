"""Consistency losses: zero on agreement, non-negative, NumPy formulas, gradients, views."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import randconv_jax as rc
from randconv_jax import losses

from . import oracle


def _softmax(z):
    z = np.asarray(z, np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _np_js(logits):
    p = _softmax(logits)
    m = np.clip(p.mean(axis=0), 1e-7, 1)
    return (p * (np.log(p) - np.log(m))).sum(-1).mean(0)  # per position


def _np_gin(logits):
    p = _softmax(logits)
    pbar = p.mean(axis=0)
    return (pbar * (np.log(pbar) - np.log(p))).sum(-1).mean(0)


SHAPES = {"classification": (3, 5, 4), "segmentation": (3, 2, 6, 7, 3)}


@pytest.mark.parametrize("shape", list(SHAPES.values()), ids=list(SHAPES))
def test_losses_match_numpy_formulas(shape):
    logits = np.random.default_rng(0).standard_normal(shape).astype(np.float32) * 2
    js, kl = _np_js(logits), _np_gin(logits)
    oracle.assert_close(losses.js_consistency(logits), js.mean())
    oracle.assert_close(losses.js_consistency(logits, reduction="sum"), js.sum())
    oracle.assert_close(losses.js_consistency(list(logits), reduction="none"), js)
    oracle.assert_close(losses.gin_consistency(logits, reduction="mean"), kl.mean())
    oracle.assert_close(losses.gin_consistency(logits, reduction="none"), kl)
    # Official GIN: nn.KLDivLoss() 'mean' over all elements of the 3 stacked copies, classes included.
    p = _softmax(logits)
    pbar = np.broadcast_to(p.mean(0), p.shape)
    elementwise = np.mean(pbar * (np.log(pbar) - np.log(p)))
    oracle.assert_close(losses.gin_consistency(logits), elementwise)
    if len(shape) == 3:  # RandConv's F.kl_div(log M, p_i, reduction='batchmean') averaged over copies
        m = np.clip(p.mean(0), 1e-7, 1)
        batchmean = np.mean([np.sum(p[i] * (np.log(p[i]) - np.log(m))) / shape[1] for i in range(3)])
        oracle.assert_close(losses.js_consistency(logits), batchmean)


def test_zero_for_identical_predictions_and_non_negative():
    same = jnp.broadcast_to(jax.random.normal(jax.random.key(0), (1, 4, 5)), (3, 4, 5))
    for fn in (losses.js_consistency, losses.gin_consistency):
        assert abs(float(fn(same))) < 1e-6
        for seed in range(5):
            logits = jax.random.normal(jax.random.key(seed), (3, 4, 8, 8, 5)) * 5
            assert float(jnp.min(fn(logits, reduction="none"))) >= -1e-6


def test_gradients_reach_the_logits_and_never_the_augmenter():
    x = jax.random.normal(jax.random.key(1), (8, 9, 2))
    head = jax.random.normal(jax.random.key(2), (2, 3))

    def loss(gin_params, pro_params, head):
        views = jnp.stack(
            [rc.apply_gin(x, gin_params), rc.apply_pro_randconv(x, pro_params), rc.apply_gin(x * 0.5, gin_params)]
        )
        logits = views @ head  # a per-pixel linear "network"
        return losses.js_consistency(logits) + losses.gin_consistency(logits)

    gin_params = rc.sample_gin(jax.random.key(3), x)
    pro_params = rc.sample_pro_randconv(jax.random.key(4), x)
    g_gin, g_pro, g_head = jax.grad(loss, argnums=(0, 1, 2), allow_int=True)(gin_params, pro_params, head)
    assert float(jnp.abs(g_head).sum()) > 0
    for leaf in jax.tree.leaves((g_gin, g_pro)):
        if jnp.issubdtype(leaf.dtype, jnp.floating):
            assert float(jnp.abs(leaf).max()) == 0.0
    logits = jax.random.normal(jax.random.key(5), (3, 4, 6))
    g = jax.grad(lambda z: losses.js_consistency(z))(logits)
    assert float(jnp.abs(g).min()) >= 0 and float(jnp.abs(g).sum()) > 0
    g_stop = jax.grad(lambda z: losses.gin_consistency(z, stop_gradient_target=True))(logits)
    assert not np.allclose(g_stop, jax.grad(losses.gin_consistency)(logits))


def test_consistency_views_independent_or_stacked_on_the_first():
    aug = rc.presets.randconv(variant="mix", kernel_sizes=(1, 3))
    x = jax.random.normal(jax.random.key(6), (8, 9, 3))
    key = jax.random.key(7)
    views = jax.jit(lambda k, im: losses.consistency_views(k, im, aug=aug))(key, x)
    k1, k2, k3 = jax.random.split(key, 3)
    assert views.shape == (3, 8, 9, 3)
    oracle.assert_close(views[1], aug(k2, x), rtol=1e-5, scale_atol=1e-6)
    stacked = losses.consistency_views(key, x, aug=aug, stack_on_first=True)
    oracle.assert_close(stacked[0], aug(k1, x), rtol=1e-5, scale_atol=1e-6)
    oracle.assert_close(stacked[2], aug(k3, aug(k1, x)), rtol=1e-5, scale_atol=1e-6)


def test_bad_input():
    with pytest.raises(ValueError, match=r"logits must be stacked copies"):
        losses.js_consistency(jnp.ones((3, 4)))
    with pytest.raises(ValueError, match=r"at least 2 copies"):
        losses.gin_consistency(jnp.ones((1, 4, 5)))
    with pytest.raises(ValueError, match=r"reduction must be one of"):
        losses.js_consistency(jnp.ones((3, 4, 5)), reduction="batchmean")
    with pytest.raises(TypeError, match=r"logits must be floating point"):
        losses.gin_consistency(jnp.ones((3, 4, 5), jnp.int32))
    with pytest.raises(TypeError, match=r"aug must be"):
        losses.consistency_views(jax.random.key(0), jnp.ones((4, 4, 1)), aug=lambda k, x: x)
