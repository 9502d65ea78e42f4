"""Named random streams: each stream's key is the root key folded with its number; streams differ;
per-sample keys are fold_in of the sample index."""

import jax
import numpy as np
import pytest

from train.rng import PHANTOM_EVAL_OFFSET, PHANTOM_VAL_OFFSET, Stream, sample_keys, stream_key


def _data(key):
    return np.asarray(jax.random.key_data(key))


def test_stream_key_is_the_seed_key_folded_with_the_stream():
    for stream in Stream:
        expected = jax.random.fold_in(jax.random.key(7), int(stream))
        np.testing.assert_array_equal(_data(stream_key(7, stream)), _data(expected))
    keys = {tuple(_data(stream_key(7, s)).tolist()) for s in Stream}
    assert len(keys) == len(Stream)  # no two streams share a key
    assert tuple(_data(stream_key(8, Stream.STEP)).tolist()) not in keys
    assert len({int(s) for s in Stream}) == len(Stream)


def test_stream_must_be_named():
    with pytest.raises(TypeError, match="Stream"):
        stream_key(0, 1)


def test_sample_keys_fold_in_each_index():
    key = jax.random.key(3)
    keys = sample_keys(key, np.array([0, 5, 5, 2**31 - 1], np.int32))
    for k, i in zip(keys, [0, 5, 5, 2**31 - 1], strict=True):
        np.testing.assert_array_equal(_data(k), _data(jax.random.fold_in(key, i)))
    np.testing.assert_array_equal(_data(keys[1]), _data(keys[2]))  # same sample, same key


def test_phantom_offsets_keep_evaluation_and_validation_subjects_apart():
    assert PHANTOM_EVAL_OFFSET != PHANTOM_VAL_OFFSET and min(PHANTOM_EVAL_OFFSET, PHANTOM_VAL_OFFSET) > 10**6
