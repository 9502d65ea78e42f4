"""The work-dir lock: a second training is refused naming the holder; a lock left by a SIGKILLed
training is detected and taken over; a clean exit leaves no holder behind."""

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap

import pytest

from tests.train.conftest import REPO, run_module
from train.configs import smoke
from train.lock import LOCK_FILE, WorkdirLock, WorkdirLockedError
from train.loop import train

_HOLD = textwrap.dedent("""
    import sys, time
    from train.lock import WorkdirLock
    lock = WorkdirLock(sys.argv[1]).acquire()
    print("locked", flush=True)
    time.sleep(600)
""")


@pytest.fixture
def holder(tmp_path):
    """A separate process holding the lock of ``tmp_path / "run"``: ``(workdir, Popen)``."""
    workdir = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(workdir)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    yield workdir, proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=30)


def test_a_second_lock_in_one_process_is_refused_and_names_the_holder(tmp_path):
    with WorkdirLock(tmp_path) as first:
        assert first.held
        record = json.loads((tmp_path / LOCK_FILE).read_text())
        assert record["pid"] == os.getpid() and record["host"] == socket.gethostname()
        with pytest.raises(WorkdirLockedError, match=rf"in use by another training \(pid {os.getpid()} on host"):
            WorkdirLock(tmp_path).acquire()
    assert (tmp_path / LOCK_FILE).read_text() == ""  # a clean exit leaves no holder behind
    with WorkdirLock(tmp_path) as again:
        assert again.stale == {}


def test_a_training_is_refused_while_another_process_holds_the_workdir(holder):
    workdir, proc = holder
    with pytest.raises(WorkdirLockedError, match=rf"pid {proc.pid} on host {socket.gethostname()}"):
        train(smoke.get_config(), workdir, progress=False)
    assert sorted(p.name for p in workdir.iterdir()) == [LOCK_FILE]  # nothing written


def test_a_lock_left_by_a_killed_training_is_detected_and_taken_over(holder, caplog):
    workdir, proc = holder
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    with caplog.at_level(logging.WARNING, logger="train.lock"), WorkdirLock(workdir) as lock:
        assert lock.stale["pid"] == proc.pid
    assert f"pid {proc.pid}" in caplog.text and "ended without releasing its lock" in caplog.text


def test_the_training_cli_refuses_a_locked_workdir(holder):
    workdir, proc = holder
    out = run_module("train", "--config", "train/configs/smoke.py", "--workdir", str(workdir), "--noprogress",
                     check=False)
    assert out.returncode != 0 and f"is in use by another training (pid {proc.pid}" in out.stderr
    assert "Traceback" not in out.stderr
    assert sorted(p.name for p in workdir.iterdir()) == [LOCK_FILE]


def test_a_lock_of_another_folder_is_refused(tmp_path):
    with WorkdirLock(tmp_path / "a") as lock, pytest.raises(ValueError, match="lock must be the held WorkdirLock"):
        train(smoke.get_config(), tmp_path / "b", progress=False, lock=lock)
