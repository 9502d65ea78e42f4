"""U-Net shapes and errors in 2D and 3D."""

import jax.numpy as jnp
import pytest
from flax import nnx

from train.models import UNet, tiny_unet


@pytest.mark.parametrize("spatial", [(16, 16), (8, 16, 16)])
def test_unet_output_shape_2d_3d(spatial):
    model = UNet(in_channels=2, num_classes=3, features=(4, 8, 16), spatial_dims=len(spatial), rngs=nnx.Rngs(0))
    out = model(jnp.zeros((2, *spatial, 2)))
    assert out.shape == (2, *spatial, 3)
    assert out.dtype == jnp.float32


@pytest.mark.parametrize("norm", ["instance", "group", "none"])
def test_unet_norms_run(norm):
    model = UNet(in_channels=1, num_classes=2, features=(4, 8), spatial_dims=2, norm=norm, rngs=nnx.Rngs(0))
    assert model(jnp.ones((1, 8, 8, 1))).shape == (1, 8, 8, 2)


def test_unet_bad_input_and_config():
    model = tiny_unet()
    with pytest.raises(ValueError, match="divisible by 2"):
        model(jnp.zeros((1, 15, 16, 2)))
    with pytest.raises(ValueError, match=r"x must have shape"):
        model(jnp.zeros((1, 16, 16, 3)))
    with pytest.raises(ValueError, match="norm"):
        UNet(in_channels=1, num_classes=2, norm="batch", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="spatial_dims"):
        UNet(in_channels=1, num_classes=2, spatial_dims=4, rngs=nnx.Rngs(0))
