"""In-memory training batches: deterministic epochs, resume, errors."""

import json

import numpy as np
import pytest

from train.data.batches import ArrayBatches


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
    np.testing.assert_array_equal(next(ArrayBatches(x, y, batch_size=2, seed=3))["index"], [0, 1])
    c = ArrayBatches(x[:5], y[:5], batch_size=2, seed=3)  # 2 batches per epoch, 1 image dropped
    assert [next(c)["index"].tolist() for _ in range(3)] == [[0, 1], [2, 3], [4, 5]]  # epoch 1 starts at 4
    c.set_state(json.loads(json.dumps(c.get_state())))
    assert next(c)["index"].tolist() == [6, 7]
    with pytest.raises(ValueError, match="labels must have shape"):
        ArrayBatches(x, y[:, :2], batch_size=2)
    with pytest.raises(ValueError, match="batch_size"):
        ArrayBatches(x, y, batch_size=7)
    with pytest.raises(ValueError, match="state must be"):
        a.set_state({"epoch": 1})
