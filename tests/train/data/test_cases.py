"""The Case type: its checks name the case and the field; nnU-Net's nonzero mask with holes filled."""

import numpy as np
import pytest

from train.data.cases import Case, foreground_mask


def _case(**changes):
    fields = {"name": "c0", "image": np.ones((4, 5, 2), np.float32), "label": np.zeros((4, 5), np.int32),
              "mask": np.ones((4, 5), bool), "affine": np.eye(4), "spacing": (1.0, 1.0), "domain": "d",
              "channel_names": ("FLAIR", "T1w")}
    return Case(**{**fields, **changes})


def test_a_valid_case():
    c = _case()
    assert c.spatial_shape == (4, 5) and c.crop_box is None


@pytest.mark.parametrize(("changes", "message"), [
    ({"image": np.ones((4, 2), np.float32)}, "spatial rank 2 or 3"),
    ({"channel_names": ("FLAIR",)}, "2 channels but channel_names has 1"),
    ({"label": np.zeros((4, 4), np.int32)}, "label shape"),
    ({"mask": np.ones((5, 4), bool)}, "mask shape"),
    ({"spacing": (1.0,)}, "does not match spatial rank"),
    ({"spacing": (1.0, float("nan"))}, "must be finite and positive"),
    ({"spacing": (0.0, 1.0)}, "must be finite and positive"),
    ({"spacing": (1.0, -2.0)}, "must be finite and positive"),
    ({"affine": np.eye(3)}, "affine must be"),
])
def test_bad_fields_name_the_case(changes, message):
    with pytest.raises(ValueError, match=message) as info:
        _case(**changes)
    assert "'c0'" in str(info.value)


def test_foreground_mask_is_the_union_of_nonzero_channels_with_holes_filled():
    image = np.zeros((7, 7, 2), np.float32)
    image[1:6, 1:6, 0] = 1.0
    image[3, 3, 0] = 0.0  # a hole inside the head
    image[0, 6, 1] = 2.0  # another channel's voxel
    expected = np.zeros((7, 7), bool)
    expected[1:6, 1:6] = True
    expected[0, 6] = True
    np.testing.assert_array_equal(foreground_mask(image), expected)
