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
    batch = intensity_batch(jax.random.key(1), jnp.stack([x, x]), jnp.stack([mask, mask]), jnp.arange(2))
    assert batch.shape == (2, 12, 12, 2) and bool(jnp.isfinite(batch).all())
    assert math.isfinite(float(batch.sum()))


def test_intensity_batch_keys_each_sample_by_its_stream_index():
    rng = np.random.default_rng(1)
    images = jnp.asarray(rng.normal(size=(3, 10, 10, 2)).astype(np.float32))
    masks = jnp.asarray(rng.random((3, 10, 10)) > 0.2)
    key, index = jax.random.key(4), jnp.asarray([11, 5, 40])
    out = intensity_batch(key, images, masks, index)
    for i in range(3):  # oracle: the one-image function with fold_in(key, index[i])
        np.testing.assert_array_equal(out[i], nnunet_intensity(jax.random.fold_in(key, int(index[i])), images[i],
                                                               masks[i]))
    perm = jnp.asarray([2, 0, 1])  # another batch layout (another device split) draws the same per sample
    np.testing.assert_array_equal(intensity_batch(key, images[perm], masks[perm], index[perm]), out[perm])
