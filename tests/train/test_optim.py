"""Learning-rate schedules against their formulas; the optimizer from the config's section (no defaults of
its own); gradient clipping and None; errors."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from tests.train.conftest import optim_config
from train.optim import make_optimizer, make_schedule


def test_schedules_follow_their_formulas():
    poly = make_schedule("poly", 1e-2, 100, warmup_steps=0, poly_exponent=0.9)
    np.testing.assert_allclose(poly(50), 1e-2 * 0.5**0.9, rtol=1e-5)  # nnU-Net PolyLRScheduler
    poly2 = make_schedule("poly", 1.0, 100, warmup_steps=0, poly_exponent=2.0)
    np.testing.assert_allclose(poly2(25), 0.75**2, rtol=1e-5)
    cos = make_schedule("cosine", 1.0, 100, warmup_steps=0, poly_exponent=0.9)
    np.testing.assert_allclose(cos(50), 0.5, rtol=1e-5)
    np.testing.assert_allclose(cos(100), 0.0, atol=1e-7)
    warm = make_schedule("constant", 2.0, 100, warmup_steps=10, poly_exponent=0.9)
    np.testing.assert_allclose([warm(0), warm(5), warm(10), warm(60)], [0.0, 1.0, 2.0, 2.0], rtol=1e-6)


def test_optimizer_and_schedule_errors():
    with pytest.raises(ValueError, match="optim.schedule"):
        make_schedule("step", 1.0, 10, warmup_steps=0, poly_exponent=0.9)
    with pytest.raises(ValueError, match="warmup_steps"):
        make_schedule("cosine", 1.0, 10, warmup_steps=10, poly_exponent=0.9)
    with pytest.raises(ValueError, match="optim.name"):
        make_optimizer(optim_config(name="lamb"), 100)
    with pytest.raises(ValueError, match="learning_rate"):
        make_optimizer(optim_config(learning_rate=0.0), 100)
    with pytest.raises(ValueError, match="grad_clip_norm"):
        make_optimizer(optim_config(grad_clip_norm=-1.0), 100)


def test_every_key_comes_from_the_config():
    with pytest.raises(ValueError, match=r"optim section lacks \['momentum', 'poly_exponent'"):
        make_optimizer({"name": "adamw", "learning_rate": 1e-3, "schedule": "constant", "warmup_steps": 0,
                        "weight_decay": 0.0, "grad_clip_norm": None}, 10)


def _one_sgd_update(grad_clip_norm):
    optim = optim_config(name="sgd", learning_rate=1.0, momentum=0.0, schedule="constant", warmup_steps=0,
                         weight_decay=0.0, grad_clip_norm=grad_clip_norm)
    tx, _ = make_optimizer(optim, 10)
    params = {"w": jnp.zeros(4)}
    grads = {"w": jnp.array([3.0, 4.0, 0.0, 0.0]) * 100}  # global norm 500
    updates, _ = tx.update(grads, tx.init(params), params)
    return np.asarray(updates["w"])


def test_gradient_clipping_at_the_norm_and_none_for_no_clipping():
    np.testing.assert_allclose(_one_sgd_update(12.0), -np.array([3.0, 4.0, 0, 0]) * 12 / 5, rtol=1e-6)
    np.testing.assert_allclose(_one_sgd_update(None), -np.array([300.0, 400.0, 0, 0]), rtol=1e-6)


def test_sgd_is_nesterov_with_the_configs_momentum():
    optim = optim_config(name="sgd", learning_rate=0.1, momentum=0.5, schedule="constant", warmup_steps=0,
                         weight_decay=0.0, grad_clip_norm=None)
    tx, _ = make_optimizer(optim, 10)
    ref = optax.sgd(0.1, momentum=0.5, nesterov=True)
    params, g = {"w": jnp.ones(3)}, {"w": jnp.array([1.0, -2.0, 0.5])}
    s, r = tx.init(params), ref.init(params)
    for _ in range(3):
        u, s = tx.update(g, s, params)
        v, r = ref.update(g, r, params)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), u, v)
