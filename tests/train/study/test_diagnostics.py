"""The training-free augmentation diagnostics on the identity and on pure noise."""

import jax
import numpy as np

from train.study.diagnostics import augmentation_diagnostics


def test_diagnostics_identity_and_noise():
    rng = np.random.default_rng(0)
    images = [rng.normal(size=(16, 16, 2)).astype(np.float32)]
    masks = [np.ones((16, 16), bool)]
    ident = augmentation_diagnostics(jax.random.key(0), lambda k, x, mask: x, images, masks, draws=3)
    assert abs(ident["structure"] - 1) < 1e-5 and ident["variety"] < 1e-5
    noise = augmentation_diagnostics(jax.random.key(0), lambda k, x, mask: jax.random.normal(k, x.shape), images,
                                     masks, draws=16)
    assert abs(noise["structure"]) < 0.3 and noise["variety"] > 0.9
