"""U-Net shapes and errors; Dice + CE loss against NumPy formulas; the loss falls on a fixed batch."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from train.losses import cross_entropy, dice_ce_loss, soft_dice
from train.models import UNet, tiny_unet


@pytest.mark.parametrize("spatial", [(16, 16), (8, 16, 16)])
def test_unet_output_shape_2d_3d(spatial):
    model = UNet(in_channels=2, num_classes=3, features=(4, 8, 16), spatial_dims=len(spatial), rngs=nnx.Rngs(0))
    out = model(jnp.zeros((2, *spatial, 2)))
    assert out.shape == (2, *spatial, 3)
    assert out.dtype == jnp.float32


@pytest.mark.parametrize("norm", ["instance", "group", "none"])
def test_unet_norms_run(norm):
    model = UNet(in_channels=1, num_classes=2, features=(4, 8), spatial_dims=2, norm=norm, rngs=nnx.Rngs(0))
    assert model(jnp.ones((1, 8, 8, 1))).shape == (1, 8, 8, 2)


def test_unet_bad_input_and_config():
    model = tiny_unet()
    with pytest.raises(ValueError, match="divisible by 2"):
        model(jnp.zeros((1, 15, 16, 2)))
    with pytest.raises(ValueError, match=r"x must have shape"):
        model(jnp.zeros((1, 16, 16, 3)))
    with pytest.raises(ValueError, match="norm"):
        UNet(in_channels=1, num_classes=2, norm="batch", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="spatial_dims"):
        UNet(in_channels=1, num_classes=2, spatial_dims=4, rngs=nnx.Rngs(0))


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


def test_loss_falls_on_a_fixed_batch():
    from train.optim import make_optimizer
    from train.step import create_train_state, make_train_step

    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 16, 16, 2)).astype(np.float32)
    y = (x[..., 0] + x[..., 1] > 1.0).astype(np.int32)
    batch = {"image": jnp.asarray(x), "label": jnp.asarray(y), "mask": jnp.ones(y.shape, bool)}
    tx, _ = make_optimizer({"learning_rate": 1e-2, "schedule": "constant"}, 40)
    graphdef, state = create_train_state(tiny_unet(), tx)
    step = jax.jit(make_train_step(graphdef, tx))
    losses = []
    for _ in range(40):
        state, m = step(state, batch, jax.random.key(0))
        losses.append(float(m["loss"]))
    assert losses[-1] < 0.6 * losses[0], losses


def test_consistency_term_over_rc_copies():
    from train.augment import make_augment
    from train.optim import make_optimizer
    from train.step import create_train_state, make_train_step

    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 16, 16, 2)).astype(np.float32)
    batch = {"image": jnp.asarray(x), "label": jnp.asarray((x[..., 0] > 1).astype(np.int32)),
             "mask": jnp.ones((2, 16, 16), bool)}
    tx, _ = make_optimizer({"learning_rate": 1e-3}, 10)
    graphdef, state = create_train_state(tiny_unet(), tx)
    aug = make_augment("gin")
    with_cons = jax.jit(make_train_step(graphdef, tx, augment=aug, consistency="js_consistency",
                                        consistency_weight=5.0, num_copies=3))
    without = jax.jit(make_train_step(graphdef, tx, augment=aug, num_copies=3))
    _, m1 = with_cons(state, batch, jax.random.key(0))
    _, m0 = without(state, batch, jax.random.key(0))
    assert float(m1["consistency"]) > 0  # three different GIN draws never give identical predictions
    np.testing.assert_allclose(float(m1["loss"]), float(m0["loss"]) + 5.0 * float(m1["consistency"]), rtol=1e-5)
    with pytest.raises(ValueError, match="num_copies >= 2"):
        make_train_step(graphdef, tx, augment=aug, consistency="js_consistency", consistency_weight=1.0)
    with pytest.raises(ValueError, match="randconv_jax.losses"):
        make_train_step(graphdef, tx, augment=aug, consistency="nope", consistency_weight=1.0, num_copies=2)
