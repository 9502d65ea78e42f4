"""Data parallel over a Mesh (jit) and with pmap gives the single-device parameters (8 fake CPUs)."""

import functools

import jax
import numpy as np
import pytest

from tests.train.conftest import optim_config
from train.augment import make_augment
from train.models import tiny_unet
from train.optim import make_optimizer
from train.parallel import make_runner
from train.step import create_train_state, make_train_step


def _batch(seed=0, n=8):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 16, 16, 2)).astype(np.float32)
    return {"image": x, "label": (x[..., 0] > 1).astype(np.int32), "mask": np.abs(x[..., 1]) < 2}


def _train(strategy, preset, steps=2):
    # SGD: its update is linear in the gradient, so float-summation differences between device layouts stay
    # tiny (Adam divides by sqrt(v) and blows up the noise of near-zero gradients to ±lr).
    tx, _ = make_optimizer(optim_config(name="sgd", learning_rate=0.1, momentum=0.9, schedule="constant",
                                        warmup_steps=0, weight_decay=0.0), steps)
    graphdef, state = create_train_state(tiny_unet(), tx)
    runner = make_runner(strategy, functools.partial(make_train_step, graphdef, tx, augment=make_augment(preset)))
    state = runner.put_state(state)
    for i in range(steps):
        state, metrics = runner.step(state, runner.put_batch(_batch(i)), jax.random.key(3))
    return jax.device_get(runner.get_state(state)), {k: float(v) for k, v in jax.device_get(metrics).items()}


@pytest.mark.parametrize("preset", ["nnunet_rc", "randconv"])  # per-sample and per-batch draws
def test_mesh_and_pmap_equal_one_device(preset):
    assert jax.device_count() == 8
    ref_state, ref_metrics = _train("single", preset)
    for strategy in ("mesh", "pmap"):
        state, metrics = _train(strategy, preset)
        assert int(state.step) == 2
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-5), ref_state.params,
                     state.params)
        for k in ref_metrics:
            np.testing.assert_allclose(metrics[k], ref_metrics[k], rtol=1e-4, err_msg=f"{strategy} {k}")


def test_batch_not_divisible_by_devices_is_an_error():
    tx, _ = make_optimizer(optim_config(warmup_steps=0), 1)
    graphdef, state = create_train_state(tiny_unet(), tx)
    runner = make_runner("mesh", functools.partial(make_train_step, graphdef, tx))
    with pytest.raises(ValueError, match="divisible by the number of devices 8"):
        runner.put_batch(_batch(n=6))


def test_unknown_strategy():
    with pytest.raises(ValueError, match="parallel strategy"):
        make_runner("dp", lambda **kw: None)
