"""The random-convolution factory for training batches: presets, modes, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from randconv_jax import presets
from train.augment import PRESETS, make_augment


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


@pytest.mark.parametrize("preset", ["gin", "nnunet_rc"])  # per-sample presets
def test_per_sample_draws_are_keyed_by_the_stream_index_not_the_position(preset):
    aug = make_augment(preset)
    assert aug.mode == "per_sample"
    rng = np.random.default_rng(0)
    images = jnp.asarray(rng.normal(size=(4, 12, 12, 2)).astype(np.float32))
    masks = jnp.ones((4, 12, 12), bool)
    key, index = jax.random.key(9), jnp.asarray([3, 17, 4, 250])
    out = aug(key, images, masks, index)
    for i in range(4):  # oracle: the one-image augmentation with fold_in(key, index[i])
        expected = aug.one(jax.random.fold_in(key, int(index[i])), images[i], mask=masks[i])
        np.testing.assert_allclose(out[i], expected, rtol=1e-6, atol=1e-6)
    perm = jnp.asarray([3, 1, 0, 2])
    np.testing.assert_allclose(aug(key, images[perm], masks[perm], index[perm]), out[perm], rtol=1e-6, atol=1e-6)
    halves = [aug(key, images[s], masks[s], index[s]) for s in (slice(0, 2), slice(2, 4))]  # two "devices"
    np.testing.assert_allclose(jnp.concatenate(halves), out, rtol=1e-6, atol=1e-6)


def test_per_batch_draws_share_the_key_whatever_the_index():
    aug = make_augment("randconv", identity_probability=0.0)
    images = jnp.asarray(np.random.default_rng(1).normal(size=(2, 12, 12, 2)).astype(np.float32))
    key = jax.random.key(2)
    a = aug(key, images, None, jnp.asarray([0, 1]))
    b = aug(key, images, None, jnp.asarray([100, 7]))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a[1], aug.one(key, images[1]), rtol=1e-6, atol=1e-6)


def test_the_preset_table_names_every_library_preset_with_its_papers_sharing():
    assert set(PRESETS) == {"random_conv", *presets.BATCH_MODE}
    for name, mode in presets.BATCH_MODE.items():
        factory, default_mode = PRESETS[name]
        assert factory is getattr(presets, name) and default_mode == mode
    for bad in ("BATCH_MODE", "for_batches", "Augmentation", "randconvv"):  # attributes that are not presets
        with pytest.raises(ValueError, match="randconv preset must be one of"):
            make_augment(bad)
    with pytest.raises(ValueError, match="do not fit preset 'gin'"):
        make_augment("gin", kernel_sizee=3)
