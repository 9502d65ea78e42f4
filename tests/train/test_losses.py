"""Dice + CE loss against NumPy formulas."""

import jax.numpy as jnp
import numpy as np

from randconv_jax import losses as rc_losses
from train.losses import CONSISTENCY_LOSSES, cross_entropy, dice_ce_loss, soft_dice


def _np_softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_cross_entropy_and_soft_dice_match_numpy():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 5, 6, 3)).astype(np.float32)
    labels = rng.integers(0, 3, size=(3, 5, 6))
    p = _np_softmax(logits.astype(np.float64))
    onehot = np.eye(3)[labels]
    ce = -np.log((p * onehot).sum(-1)).reshape(3, -1).mean(1)
    np.testing.assert_allclose(cross_entropy(jnp.asarray(logits), jnp.asarray(labels)), ce, rtol=1e-5)
    tp = (p * onehot).sum((1, 2))
    fp = (p * (1 - onehot)).sum((1, 2))
    fn = ((1 - p) * onehot).sum((1, 2))
    dc = ((2 * tp + 1e-5) / (2 * tp + fp + fn + 1e-5))[:, 1:].mean(1)
    np.testing.assert_allclose(soft_dice(jnp.asarray(logits), jnp.asarray(labels)), dc, rtol=1e-5)
    loss, parts = dice_ce_loss(jnp.asarray(logits), jnp.asarray(labels), dice_weight=0.5, ce_weight=2.0)
    np.testing.assert_allclose(loss, np.mean(2.0 * ce + 0.5 * (1 - dc)), rtol=1e-5)
    np.testing.assert_allclose(parts["dice"], dc.mean(), rtol=1e-5)


def test_perfect_prediction_has_near_zero_loss():
    labels = np.zeros((1, 4, 4), np.int32)
    labels[0, 1:3, 1:3] = 1
    logits = 50.0 * (np.eye(2)[labels] * 2 - 1)
    loss, parts = dice_ce_loss(jnp.asarray(logits), jnp.asarray(labels))
    assert float(loss) < 1e-6 and float(parts["dice"]) > 1 - 1e-6


def test_consistency_table_holds_the_librarys_consistency_losses():
    expected = {"js_consistency": rc_losses.js_consistency, "gin_consistency": rc_losses.gin_consistency}
    assert expected == CONSISTENCY_LOSSES
    logits = jnp.asarray(np.random.default_rng(0).normal(size=(3, 2, 4, 4, 2)).astype(np.float32))
    for fn in CONSISTENCY_LOSSES.values():  # (copies, N, *spatial, K) -> a non-negative scalar
        assert fn(logits).shape == () and float(fn(logits)) >= 0
