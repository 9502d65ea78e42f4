"""Learning-rate schedules against their formulas; optimizer errors."""


import numpy as np
import pytest

from train.optim import make_optimizer, make_schedule


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
