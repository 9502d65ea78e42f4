"""The train step: the loss falls on a fixed batch; the consistency term over RC copies."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.train.conftest import optim_config
from train.models import tiny_unet


def test_loss_falls_on_a_fixed_batch():
    from train.optim import make_optimizer
    from train.step import create_train_state, make_train_step

    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 16, 16, 2)).astype(np.float32)
    y = (x[..., 0] + x[..., 1] > 1.0).astype(np.int32)
    batch = {"image": jnp.asarray(x), "label": jnp.asarray(y), "mask": jnp.ones(y.shape, bool)}
    tx, _ = make_optimizer(optim_config(learning_rate=1e-2, schedule="constant", warmup_steps=0, weight_decay=0.0), 40)
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
    tx, _ = make_optimizer(optim_config(learning_rate=1e-3, warmup_steps=0, weight_decay=0.0), 10)
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
    for name in ("nope", "jnp", "_reduce"):  # attributes of randconv_jax.losses that are not losses are refused
        with pytest.raises(ValueError, match="loss.consistency must be one of"):
            make_train_step(graphdef, tx, augment=aug, consistency=name, consistency_weight=1.0, num_copies=2)


def test_a_permuted_batch_with_its_index_gives_the_same_step():
    """Per-sample draws (RC and intensity) follow batch["index"], not the position: any batch layout,
    hence any split over devices, gives the same loss and gradients."""
    from train.augment import make_augment
    from train.optim import make_optimizer
    from train.step import create_train_state, make_train_step

    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 16, 16, 2)).astype(np.float32)
    batch = {"image": x, "label": (x[..., 0] > 1).astype(np.int32), "mask": np.abs(x[..., 1]) < 2,
             "index": np.array([8, 9, 10, 11], np.int32)}
    perm = np.array([2, 0, 3, 1])
    permuted = {k: v[perm] for k, v in batch.items()}
    tx, _ = make_optimizer(optim_config(warmup_steps=0), 10)  # a non-zero first learning rate: parameters move
    graphdef, state = create_train_state(tiny_unet(), tx)
    step = jax.jit(make_train_step(graphdef, tx, augment=make_augment("gin"), intensity=True))
    s1, m1 = step(state, batch, jax.random.key(0))
    s2, m2 = step(state, permuted, jax.random.key(0))
    for k in m1:
        np.testing.assert_allclose(float(m1[k]), float(m2[k]), rtol=1e-5, err_msg=k)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), s1.params, s2.params)
    assert not all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(s1.params),
                                                         strict=True))
    _, m3 = step(state, {**batch, "index": batch["index"] + 100}, jax.random.key(0))
    assert abs(float(m3["loss"]) - float(m1["loss"])) > 1e-6  # other samples, other draws
