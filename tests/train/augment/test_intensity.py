"""nnU-Net's intensity augmentations: background kept, dtype kept, keyed."""

import math

import jax
import jax.numpy as jnp
import numpy as np

from train.augment import intensity_batch, nnunet_intensity


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
