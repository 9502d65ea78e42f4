"""Checkpoints: a process killed mid-save keeps the previous checkpoint."""

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np

from train.checkpoint import Checkpointer

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
    with Checkpointer(directory) as ckpt:
        assert ckpt.latest_step() == 1
        state, data_state, config = ckpt.restore({"w": np.zeros((4, 4), np.float32)})
    np.testing.assert_array_equal(state["w"], np.full((4, 4), 1.0))
    assert data_state == {"i": 1} and config == {"c": 1}
