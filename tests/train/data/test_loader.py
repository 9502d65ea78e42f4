"""The grain training loader: shapes, oversampling, determinism (workers, checkpoint state), workers that
end with their parent, errors."""

from __future__ import annotations

import dataclasses
import itertools
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import psutil
import pytest

from train.data import Case, make_train_iterator, phantom_cases, preprocess_case


@pytest.fixture(scope="module")
def cases3d() -> list[Case]:
    return [preprocess_case(c) for c in phantom_cases(n=3, dims=3, shape=(16, 24, 24), seed=3)]


@pytest.fixture(scope="module")
def cases2d() -> list[Case]:
    return [preprocess_case(c) for c in phantom_cases(n=4, dims=2, shape=(32, 32), seed=3)]


def _take(it, n: int) -> list[dict[str, np.ndarray]]:
    return [next(it) for _ in range(n)]


def _close(it) -> None:
    close = getattr(it, "close", None)
    if close is not None:
        close()


def _assert_batches_equal(a, b) -> None:
    for x, y in zip(a, b, strict=True):
        assert x.keys() == y.keys()
        for k in x:
            np.testing.assert_array_equal(x[k], y[k], err_msg=k)


@pytest.mark.parametrize(
    ("which", "kwargs", "patch"),
    [
        ("cases3d", {}, (8, 16, 12)),
        ("cases3d", {"spatial_dims": 2}, (16, 16)),
        ("cases3d", {"spatial_dims": 2, "slice_axis": 2}, (12, 20)),
        ("cases2d", {}, (24, 20)),
        ("cases2d", {}, (48, 40)),  # larger than the images: padded
    ],
)
def test_shapes_and_dtypes(request, which, kwargs, patch):
    cases = request.getfixturevalue(which)
    it = make_train_iterator(cases, patch_size=patch, batch_size=3, seed=0, **kwargs)
    b = next(it)
    assert b["image"].shape == (3, *patch, 2) and b["image"].dtype == np.float32
    assert b["label"].shape == (3, *patch) and b["label"].dtype == np.int32
    assert b["mask"].shape == (3, *patch) and b["mask"].dtype == np.bool_
    assert b["index"].dtype == np.int32
    np.testing.assert_array_equal(b["index"], [0, 1, 2])  # each sample's position in the stream
    np.testing.assert_array_equal(next(it)["index"], [3, 4, 5])
    assert np.all(b["image"][~b["mask"]] == 0)  # background (and padding) stays 0
    if patch == (48, 40):
        assert not b["mask"].all()  # padded area is outside the mask


@pytest.mark.parametrize(
    ("which", "kwargs", "patch"), [("cases3d", {"spatial_dims": 2}, (12, 12)), ("cases2d", {}, (8, 8))]
)
def test_oversampling_forces_lesions(request, which, kwargs, patch):
    cases = request.getfixturevalue(which)
    assert all(c.label.any() for c in cases)
    b_size = 6  # round(6 * 0.33) = 2 forced samples at the end of each batch
    it = make_train_iterator(cases, patch_size=patch, batch_size=b_size, seed=1, **kwargs)
    has_fg = np.array([[bool(s.any()) for s in b["label"]] for b in _take(it, 20)])
    assert has_fg[:, -2:].all()
    assert not has_fg[:, :-2].all()  # small patches: unforced samples miss lesions sometimes
    it0 = make_train_iterator(cases, patch_size=patch, batch_size=b_size, seed=1, oversample_foreground=0.0, **kwargs)
    assert not np.array([[bool(s.any()) for s in b["label"]] for b in _take(it0, 20)])[:, -2:].all()


def test_deterministic_and_resumable(cases3d):
    kw = {"patch_size": (8, 12, 12), "batch_size": 2, "seed": 7}
    a = _take(make_train_iterator(cases3d, **kw), 5)
    _assert_batches_equal(a, _take(make_train_iterator(cases3d, **kw), 5))
    other = next(make_train_iterator(cases3d, **{**kw, "seed": 8}))
    assert not np.array_equal(other["image"], a[0]["image"])
    it = make_train_iterator(cases3d, **kw)
    _take(it, 3)
    state = it.get_state()
    expected = _take(it, 2)
    resumed = make_train_iterator(cases3d, **kw)
    resumed.set_state(state)
    _assert_batches_equal(_take(resumed, 2), expected)
    np.testing.assert_array_equal(expected[0]["index"], [6, 7])  # indices continue across a resume
    _assert_batches_equal(expected, a[3:5])


def test_infinite_stream_cycles_epochs(cases2d):
    it = make_train_iterator(cases2d, patch_size=(16, 16), batch_size=3, seed=0)
    batches = _take(it, 12)  # 36 samples = 9 epochs of 4 cases
    assert len(batches) == 12


def test_same_batches_with_zero_and_two_workers(cases2d):
    kw = {"patch_size": (16, 16), "batch_size": 3, "seed": 11, "spatial_dims": 2}
    ref = _take(make_train_iterator(cases2d, **kw), 4)
    it = make_train_iterator(cases2d, num_workers=2, **kw)
    try:
        got = _take(it, 4)
        state = it.get_state()
        nxt = next(it)
    finally:
        _close(it)
    _assert_batches_equal(ref, got)
    single = make_train_iterator(cases2d, **kw)
    _take(single, 4)
    _assert_batches_equal([next(single)], [nxt])
    resumed = make_train_iterator(cases2d, num_workers=2, **kw)
    try:
        resumed.set_state(state)  # a multi-worker state resumes a multi-worker iterator exactly
        _assert_batches_equal([next(resumed)], [nxt])
    finally:
        _close(resumed)


def test_bad_arguments(cases2d, cases3d):
    good = {"patch_size": (16, 16), "batch_size": 2, "seed": 0}
    bad = [
        ({"patch_size": (16, 16, 16)}, "patch_size"),
        ({"patch_size": (16, 0)}, "patch_size"),
        ({"batch_size": 0}, "batch_size"),
        ({"spatial_dims": 3}, "spatial_dims"),
        ({"oversample_foreground": 1.5}, "oversample_foreground"),
        ({"num_workers": -1}, "num_workers"),
    ]
    for change, name in bad:
        with pytest.raises(ValueError, match=name):
            make_train_iterator(cases2d, **{**good, **change})
    with pytest.raises(ValueError, match="slice_axis"):
        make_train_iterator(cases3d, spatial_dims=2, slice_axis=3, **good)
    with pytest.raises(ValueError, match="cases"):
        make_train_iterator([], **good)
    with pytest.raises(ValueError, match="unlabeled"):
        make_train_iterator([dataclasses.replace(cases2d[0], label=None)], **good)
    with pytest.raises(ValueError, match="spatial rank"):
        make_train_iterator([*cases2d, *cases3d], **good)
    assert list(itertools.islice(make_train_iterator(cases2d, **good), 1))


_KILLED_WITH_WORKERS = textwrap.dedent("""
    import os, signal, sys
    import psutil
    from train.data.loader import make_train_iterator
    from train.data.phantom import phantom_cases
    from train.data.preprocess import preprocess_case

    if __name__ == "__main__":  # grain's workers re-import the main module
        cases = [preprocess_case(c) for c in phantom_cases(n=2, dims=2, shape=(32, 32))]
        it = make_train_iterator(cases, patch_size=(16, 16), batch_size=2, seed=0, num_workers=2)
        next(it)
        with open(sys.argv[1], "w") as f:  # not stdout: orphaned workers would hold that pipe open
            f.write(" ".join(str(p.pid) for p in psutil.Process().children(recursive=True)))
        os.kill(os.getpid(), signal.SIGKILL)  # as the out-of-memory killer would
""")


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_workers_end_when_the_training_is_killed(tmp_path):
    script = tmp_path / "killed_training.py"
    script.write_text(_KILLED_WITH_WORKERS)
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    env = {**os.environ, "PYTHONPATH": repo}
    pid_file = tmp_path / "pids"
    proc = subprocess.run([sys.executable, str(script), str(pid_file)], cwd=repo, env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
    assert proc.returncode == -9
    pids = [int(p) for p in pid_file.read_text().split()]
    assert len(pids) >= 2  # the two workers (and multiprocessing's resource tracker)
    deadline = time.monotonic() + 60
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.5)
    alive = [p for p in pids if _alive(p)]
    for p in alive:  # never leave them behind, even when the test fails
        psutil.Process(p).kill()
    assert not alive, f"loader processes {alive} outlived the killed training"
