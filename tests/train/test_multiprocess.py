"""Training as several processes of one JAX runtime (``jax.distributed``), launched for real.

Two processes x two CPU devices on 127.0.0.1 (gloo collectives) resume a one-process x
four-device run of the smoke config from its step-2 checkpoint and must reach the parameters and
losses of that run at step 4 (the same global batches, sample indices and random-convolution
draws; a checkpoint restored by another number of processes continues exactly); a killed
process ends its peer with an error within the heartbeat timeout; a locked work dir stops every
process. In-process: the loader's per-process shares tile the one-process batches.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from tests.train.conftest import REPO
from train.data.loader import make_train_iterator
from train.lock import WorkdirLock

# SGD with a constant rate: its update is linear in the gradient, so the float-summation noise of
# another device layout stays at float level (Adam's first step is ±lr for any non-zero gradient);
# per-sample random convolutions, so every sample's draw depends on its index being right.
CONFIG = ("--config", "train/configs/smoke.py", "--config.parallel=mesh", "--config.data.batch_size=4",
          "--config.optim.name=sgd", "--config.optim.learning_rate=0.05", "--config.optim.momentum=0.9",
          "--config.optim.schedule=constant", "--config.randconv.batch_mode=per_sample",
          "--config.data.n_train=2", "--config.data.eval_domains=('site_a_1.5t',)", "--noprogress")
TIMEOUT_S = 240  # per launch: a hang fails the test instead of blocking the suite
HEARTBEAT_S = 5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def compile_cache(tmp_path_factory) -> str:
    """A persistent compilation cache shared by the launches: the U-Net's eager initializers and
    the steps compile once (20 s of the first launch on 2 loaded cores), not once per process."""
    return str(tmp_path_factory.mktemp("jax_cache"))


def _env(devices: int, cache: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_", "SLURM_", "OMPI_", "TPU_"))}
    env.update(XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}", JAX_PLATFORMS="cpu",
               PYTHONUNBUFFERED="1", JAX_COMPILATION_CACHE_DIR=cache, JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
    return env


def _start(workdir, *args, cache: str, processes: int = 2, devices: int = 2) -> list[subprocess.Popen]:
    """``python -m train`` once per process (``processes=1``: a plain single-process run)."""
    cmd = [sys.executable, "-m", "train", *CONFIG, "--workdir", str(workdir), *args]
    if processes == 1:
        return [subprocess.Popen(cmd, cwd=REPO, env=_env(devices, cache), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)]
    port = _free_port()
    return [subprocess.Popen(cmd + [f"--coordinator_address=127.0.0.1:{port}", f"--num_processes={processes}",
                                    f"--process_id={i}", f"--heartbeat_timeout={HEARTBEAT_S}"],
                             cwd=REPO, env=_env(devices, cache), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
            for i in range(processes)]


def _finish(procs: list[subprocess.Popen], timeout: float = TIMEOUT_S) -> list[tuple[int, str, str]]:
    deadline, out = time.monotonic() + timeout, []
    try:
        for p in procs:
            stdout, stderr = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
            out.append((p.returncode, stdout, stderr))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    return out


def _run(workdir, *args, cache: str, processes: int = 2, devices: int = 2) -> list[tuple[int, str, str]]:
    results = _finish(_start(workdir, *args, cache=cache, processes=processes, devices=devices))
    for i, (rc, stdout, stderr) in enumerate(results):
        assert rc == 0, f"process {i} exited with {rc}:\n{stdout[-2000:]}\n{stderr[-4000:]}"
    return results


def _params(workdir, step: int):
    from train.evaluate import load_model

    model = load_model(workdir, step=step)
    return jax.tree.leaves(jax.device_get(model.params))


def _assert_same_params(a, b):
    assert len(a) == len(b) > 0
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, compile_cache):
    """One process x four devices, 4 steps (checkpoints at 2 and 4)."""
    workdir = tmp_path_factory.mktemp("one_process")
    _run(workdir, cache=compile_cache, processes=1, devices=4)
    return workdir


def test_two_processes_resume_a_one_process_run_exactly(reference, compile_cache, tmp_path):
    # the one-process run as a preempted job leaves it at step 2 ...
    workdir = tmp_path / "two"
    shutil.copytree(reference, workdir)
    shutil.rmtree(workdir / "checkpoints" / "4")
    for name in ("summary.json", "curves.png", "prediction.png", "results.txt"):
        (workdir / name).unlink()
    # ... resumed by two processes x two devices to step 4: the one-process run's parameters and losses
    results = _run(workdir, "--resume", cache=compile_cache)
    assert "ndsc" in results[0][1] and "ndsc" not in results[1][1]  # process 0 alone evaluates and prints
    ref2, ref4, two4 = _params(reference, 2), _params(reference, 4), _params(workdir, 4)
    _assert_same_params(two4, ref4)
    assert max(float(np.max(np.abs(a - b))) for a, b in zip(ref2, two4, strict=True)) > 1e-3  # steps 3-4 happened
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    ref_rows = [json.loads(line) for line in (reference / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4]  # one writer, each step once
    for key in ("loss", "dice", "ce", "grad_norm"):
        np.testing.assert_allclose(rows[1][key], ref_rows[1][key], rtol=1e-5, err_msg=key)
    assert not (workdir / ".train.lock").read_text()  # released by process 0
    for name in ("summary.json", "curves.png", "results.txt"):
        assert (workdir / name).stat().st_size > 0, name


def test_a_killed_process_stops_its_peer(compile_cache, tmp_path):
    workdir = tmp_path / "killed"
    procs = _start(workdir, "--config.num_steps=100000", "--config.log_every=1", "--config.ckpt_every=100000",
                   cache=compile_cache)
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while not (workdir / "metrics.jsonl").exists() or not (workdir / "metrics.jsonl").read_text():
            assert all(p.poll() is None for p in procs), _finish(procs, 5)
            assert time.monotonic() < deadline, "training did not start"
            time.sleep(0.2)
        procs[1].send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        (rc0, _, stderr0), _ = _finish(procs, timeout=HEARTBEAT_S + 60)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    waited = time.monotonic() - killed_at
    assert rc0 != 0
    assert "another task died" in stderr0 or "peer process died" in stderr0, stderr0[-3000:]
    assert waited < HEARTBEAT_S + 60


def test_a_locked_workdir_stops_every_process(compile_cache, tmp_path):
    workdir = tmp_path / "locked"
    with WorkdirLock(workdir):
        results = _finish(_start(workdir, cache=compile_cache))
    assert all(rc != 0 for rc, _, _ in results)
    assert "is in use by another training" in results[0][2]
    assert "process 1: process 0 of this run could not lock the work dir" in results[1][2]
    assert not (workdir / "checkpoints").exists()


def test_loader_shares_tile_the_one_process_batches():
    from train.data.cases import Case

    rng = np.random.default_rng(0)
    cases = [Case(name=f"c{i}", image=rng.normal(size=(12, 12, 1)).astype(np.float32),
                  label=(rng.random((12, 12)) > 0.8).astype(np.int32), mask=np.ones((12, 12), bool),
                  affine=np.eye(4), spacing=(1.0, 1.0), domain="d", channel_names=("T1w",)) for i in range(3)]
    kw = dict(patch_size=(8, 8), batch_size=6, seed=3, spatial_dims=2)
    whole = make_train_iterator(cases, **kw)
    shares = [make_train_iterator(cases, **kw, process_index=p, process_count=3) for p in range(3)]
    for _ in range(4):
        batch = next(whole)
        parts = [next(s) for s in shares]
        for key in batch:
            np.testing.assert_array_equal(np.concatenate([p[key] for p in parts]), batch[key])
    assert all(s.get_state() == whole.get_state() for s in shares)  # process 0's position serves all
    resumed = make_train_iterator(cases, **kw, process_index=1, process_count=3)
    resumed.set_state(whole.get_state())
    np.testing.assert_array_equal(next(resumed)["index"], next(whole)["index"][2:4])
    with pytest.raises(ValueError, match="batch_size 6 .* divisible by process_count 4"):
        make_train_iterator(cases, **kw, process_index=0, process_count=4)
    with pytest.raises(ValueError, match="process_index must be in"):
        make_train_iterator(cases, **kw, process_index=3, process_count=3)
