"""What a config builds: the U-Net of model.* and data.spatial_dims seeded by config.seed, the
augmentation of randconv.*, and a train step with the config's loss settings."""

import jax
import numpy as np

from tests.train.conftest import optim_config
from train.build import make_augmentation, make_model, make_step_factory
from train.configs import default, smoke
from train.optim import make_optimizer
from train.step import create_train_state


def _leaves(model):
    from flax import nnx

    return jax.tree.leaves(nnx.state(model, nnx.Param))


def test_the_model_follows_the_config_and_its_seed():
    c = smoke.get_config()
    model = make_model(c, in_channels=3)
    assert model.spatial_dims == 2 and model(np.zeros((1, 32, 32, 3), np.float32)).shape == (1, 32, 32, 2)
    same = make_model(c, in_channels=3)
    assert all(np.array_equal(a, b) for a, b in zip(_leaves(model), _leaves(same), strict=True))
    c.seed = 1
    other = make_model(c, in_channels=3)
    assert not all(np.array_equal(a, b) for a, b in zip(_leaves(model), _leaves(other), strict=True))
    c = default.get_config()
    c.data.spatial_dims, c.model.features = 3, (4, 8)
    assert make_model(c, in_channels=1)(np.zeros((1, 8, 8, 8, 1), np.float32)).shape == (1, 8, 8, 8, 2)


def test_the_augmentation_follows_randconv():
    c = default.get_config()
    assert make_augmentation(c).mode == "per_batch"  # randconv's paper
    c.randconv.batch_mode = "per_sample"
    c.randconv.chunk_size = 4
    aug = make_augmentation(c)
    assert aug.mode == "per_sample" and aug.chunk_size == 4
    c.randconv.preset = "none"
    c.randconv.batch_mode = None
    assert make_augmentation(c) is None


def test_the_step_factory_carries_the_loss_settings():
    c = smoke.get_config()
    c.loss.consistency, c.loss.consistency_weight, c.loss.num_copies = "js_consistency", 2.0, 2
    tx, _ = make_optimizer(optim_config(warmup_steps=0), 10)
    graphdef, state = create_train_state(make_model(c, 2), tx)
    step = jax.jit(make_step_factory(c, graphdef, tx)())
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 2)).astype(np.float32)
    batch = {"image": x, "label": (x[..., 0] > 1).astype(np.int32), "mask": np.ones((2, 32, 32), bool)}
    _, metrics = step(state, batch, jax.random.key(0))
    parts = {k: float(v) for k, v in metrics.items()}
    assert parts["consistency"] > 0
    np.testing.assert_allclose(parts["loss"], parts["ce"] + (1 - parts["dice"]) + 2.0 * parts["consistency"],
                               rtol=1e-5)
