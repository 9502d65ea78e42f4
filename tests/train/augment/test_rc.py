"""The random-convolution factory for training batches: presets, modes, errors."""

import pytest

from train.augment import make_augment


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
