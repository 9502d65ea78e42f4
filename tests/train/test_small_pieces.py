"""Schedules and optimizers, in-memory batches, metric writer, intensity augmentation, augment factory."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from train.augment import make_augment
from train.batches import ArrayBatches
from train.intensity import intensity_batch, nnunet_intensity
from train.optim import make_optimizer, make_schedule
from train.writers import MetricWriter, read_metrics


def test_schedules_follow_their_formulas():
    poly = make_schedule("poly", 1e-2, 100)
    np.testing.assert_allclose(poly(50), 1e-2 * 0.5**0.9, rtol=1e-5)  # nnU-Net PolyLRScheduler
    cos = make_schedule("cosine", 1.0, 100)
    np.testing.assert_allclose(cos(50), 0.5, rtol=1e-5)
    np.testing.assert_allclose(cos(100), 0.0, atol=1e-7)
    warm = make_schedule("constant", 2.0, 100, warmup_steps=10)
    np.testing.assert_allclose([warm(0), warm(5), warm(10), warm(60)], [0.0, 1.0, 2.0, 2.0], rtol=1e-6)


def test_optimizer_and_schedule_errors():
    with pytest.raises(ValueError, match="optim.schedule"):
        make_schedule("step", 1.0, 10)
    with pytest.raises(ValueError, match="warmup_steps"):
        make_schedule("cosine", 1.0, 10, warmup_steps=10)
    with pytest.raises(ValueError, match="optim.name"):
        make_optimizer({"name": "lamb"}, 10)
    with pytest.raises(ValueError, match="learning_rate"):
        make_optimizer({"learning_rate": 0.0}, 10)


def test_array_batches_are_deterministic_cover_each_epoch_and_resume():
    x = np.arange(6, dtype=np.float32).reshape(6, 1, 1, 1) * np.ones((6, 4, 4, 1), np.float32)
    y = np.zeros((6, 4, 4), np.int32)
    a = ArrayBatches(x, y, batch_size=2, seed=3)
    seen = [next(a)["image"][:, 0, 0, 0] for _ in range(3)]
    assert sorted(np.concatenate(seen).tolist()) == list(range(6))  # one epoch = every image once
    state = a.get_state()
    rest = [next(a)["image"] for _ in range(4)]
    b = ArrayBatches(x, y, batch_size=2, seed=3)
    b.set_state(json.loads(json.dumps(state)))
    for r in rest:
        np.testing.assert_array_equal(next(b)["image"], r)
    with pytest.raises(ValueError, match="labels must have shape"):
        ArrayBatches(x, y[:, :2], batch_size=2)
    with pytest.raises(ValueError, match="batch_size"):
        ArrayBatches(x, y, batch_size=7)
    with pytest.raises(ValueError, match="state must be"):
        a.set_state({"epoch": 1})


def test_metric_writer_jsonl_nan_as_null(tmp_path):
    with MetricWriter(tmp_path) as w:
        w.write_scalars(1, {"loss": 0.5})
        w.write_scalars(2, {"loss": float("nan")})
    rows = read_metrics(tmp_path / "metrics.jsonl")
    assert rows == [{"step": 1, "loss": 0.5}, {"step": 2, "loss": None}]


def test_intensity_augmentation_keeps_background_dtype_and_is_keyed():
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(12, 12, 2)).astype(np.float32))
    mask = jnp.asarray(rng.random((12, 12)) > 0.3)
    outs = [nnunet_intensity(jax.random.key(i), x, mask) for i in range(30)]
    for out in outs:
        assert out.dtype == x.dtype and out.shape == x.shape
        np.testing.assert_array_equal(np.where(mask[..., None], 0, out), np.where(mask[..., None], 0, x))
    np.testing.assert_array_equal(outs[0], nnunet_intensity(jax.random.key(0), x, mask))
    changed = sum(not np.array_equal(o, x) for o in outs)
    # P(no transform fires) = 0.9 * 0.8 * 0.85 * 0.85 * 0.9 * 0.7 ~ 0.33 per draw
    assert 10 <= changed <= 29
    batch = intensity_batch(jax.random.key(1), jnp.stack([x, x]), jnp.stack([mask, mask]))
    assert batch.shape == (2, 12, 12, 2) and bool(jnp.isfinite(batch).all())
    assert math.isfinite(float(batch.sum()))


def test_make_augment_errors_and_modes():
    assert make_augment("none") is None
    assert make_augment("random_conv", depth=2).mode == "per_sample"
    assert make_augment("randconv").mode == "per_batch"
    assert make_augment("gin", batch_mode="per_batch").mode == "per_batch"
    with pytest.raises(ValueError, match="randconv preset must be"):
        make_augment("randconvv")
    with pytest.raises(ValueError, match="batch_mode"):
        make_augment("gin", batch_mode="per_pixel")
    with pytest.raises(ValueError, match="overrides"):
        make_augment("none", depth=2)
