"""Checkpoints: a process killed mid-save keeps the previous checkpoint; readers are read-only and leave a
save in progress alone; a checkpoint that does not restore is skipped, reported and kept, never deleted."""

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from train.checkpoint import UNRESTORABLE_SUFFIX, Checkpointer, UnrestorableCheckpointError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


_KILL_SCRIPT = textwrap.dedent("""
    import os, signal, sys, time
    import numpy as np
    from train.checkpoint import Checkpointer
    ckpt = Checkpointer(sys.argv[1])
    ckpt.save(1, {"w": np.full((4, 4), 1.0, np.float32)}, data_state={"i": 1}, config={"c": 1})
    ckpt.wait()
    big = {"w": np.full((4, 4), 2.0, np.float32), "big": np.ones((64, 1024, 1024), np.float32)}
    ckpt.save(2, big, data_state={"i": 2}, config={"c": 2})
    tmp = os.path.join(sys.argv[1], "2.orbax-checkpoint-tmp")
    while not os.path.exists(tmp):
        time.sleep(0.001)
    os.kill(os.getpid(), signal.SIGKILL)
""")


def test_kill_during_save_keeps_previous_checkpoint(tmp_path):
    directory = tmp_path / "ckpt"
    proc = subprocess.run([sys.executable, "-c", _KILL_SCRIPT, str(directory)], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert (directory / "2.orbax-checkpoint-tmp").exists() and not (directory / "2").exists()
    with Checkpointer(directory, read_only=True) as reader:  # a reader leaves the dead save's folder alone
        assert reader.latest_step() == 1
    assert (directory / "2.orbax-checkpoint-tmp").exists()
    with Checkpointer(directory) as ckpt:  # the next writer (the resumed training) clears it
        assert ckpt.latest_step() == 1
        state, data_state, config = ckpt.restore({"w": np.zeros((4, 4), np.float32)})
    np.testing.assert_array_equal(state["w"], np.full((4, 4), 1.0))
    assert data_state == {"i": 1} and config == {"c": 1}
    assert not (directory / "2.orbax-checkpoint-tmp").exists()


def _tree(value):
    return {"w": np.full((4, 4), float(value), np.float32)}


def _snapshot(directory):
    return sorted((str(p.relative_to(directory)), p.stat().st_mtime_ns) for p in directory.rglob("*"))


def _write(directory, steps):
    with Checkpointer(directory, max_to_keep=10) as ckpt:
        for s in steps:
            ckpt.save(s, _tree(s), data_state={"i": s}, config={"c": s})
            ckpt.wait()


def test_a_reader_writes_and_deletes_nothing_and_keeps_a_save_in_progress(tmp_path):
    directory = tmp_path / "ckpt"
    _write(directory, [1])
    in_flight = directory / "2.orbax-checkpoint-tmp"  # what a running training's async save looks like
    (in_flight / "state").mkdir(parents=True)
    (in_flight / "state" / "part").write_bytes(b"half written")
    before = _snapshot(directory)
    with Checkpointer(directory, read_only=True) as reader:
        assert reader.all_steps() == [1]
        state, data, _ = reader.restore(_tree(0))
        np.testing.assert_array_equal(state["w"], _tree(1)["w"])
        with pytest.raises(RuntimeError, match="read-only"):
            reader.save(3, _tree(3))
        with pytest.raises(RuntimeError, match="read-only"):
            reader.set_aside(1)
    assert _snapshot(directory) == before  # the in-flight folder is still there, untouched
    with pytest.raises(FileNotFoundError, match="checkpoint folder not found"):
        Checkpointer(tmp_path / "missing", read_only=True)
    assert not (tmp_path / "missing").exists()


def _corrupt_data(step_dir):
    for f in (step_dir / "state").rglob("*"):
        if f.is_file() and f.parent.name == "d":
            f.write_bytes(b"\x00garbage" * 8)


def _empty_item(step_dir):
    for f in sorted((step_dir / "state").rglob("*"), reverse=True):
        f.rmdir() if f.is_dir() else f.unlink()


def test_newest_restorable_skips_damaged_checkpoints_and_keeps_them(tmp_path):
    directory = tmp_path / "ckpt"
    _write(directory, [1, 2, 3])
    _corrupt_data(directory / "3")  # garbage array data (a bad disk, a half-copied folder)
    _empty_item(directory / "2")  # an empty item folder
    with Checkpointer(directory) as ckpt:
        assert ckpt.all_steps() == [1, 2, 3]
        step, (state, data, config), skipped = ckpt.newest_restorable(lambda s: ckpt.restore(_tree(0), step=s))
        assert step == 1 and data == {"i": 1} and config == {"c": 1}
        np.testing.assert_array_equal(state["w"], _tree(1)["w"])
        assert [s for s, _ in skipped] == [3, 2]
        # each skip says why; the empty one names what is missing in its own folder
        assert all(err for _, err in skipped) and str(directory / "2") in skipped[1][1]
        assert ckpt.all_steps() == [1, 2, 3]  # skipped, not deleted
        kept = ckpt.set_aside(3)
        assert kept == directory / f"3{UNRESTORABLE_SUFFIX}" and kept.is_dir()
        assert ckpt.all_steps() == [1, 2]
        ckpt.save(3, _tree(33))  # the step can be saved again
        ckpt.wait()
        np.testing.assert_array_equal(ckpt.restore(_tree(0), step=3)[0]["w"], _tree(33)["w"])
    assert kept.is_dir() and (directory / "2").is_dir()


def test_no_restorable_checkpoint_lists_every_error(tmp_path):
    directory = tmp_path / "ckpt"
    _write(directory, [1, 2])
    _corrupt_data(directory / "1")
    _empty_item(directory / "2")
    with Checkpointer(directory, read_only=True) as ckpt, pytest.raises(
            UnrestorableCheckpointError, match=r"step 2: .*; step 1: .*left as they are"):
        ckpt.newest_restorable(lambda s: ckpt.restore(_tree(0), step=s))
    assert (directory / "1").is_dir() and (directory / "2").is_dir()
