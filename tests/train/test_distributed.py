"""train.distributed in one process: when a runtime is joined, the scheduler environments it reads,
and the coordination helpers' single-process behaviour (the multi-process behaviour is launched for
real in tests/train/test_multiprocess.py)."""

import jax
import pytest

from train import distributed
from train.distributed import cluster_processes


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID", "SLURM_JOB_ID", "SLURM_NTASKS",
                 "OMPI_COMM_WORLD_SIZE", "TPU_WORKER_HOSTNAMES", "TPU_PROCESS_ADDRESSES"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_cluster_processes_from_the_scheduler_environment():
    assert cluster_processes({}) == 1
    assert cluster_processes({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "8"}) == 8
    assert cluster_processes({"SLURM_NTASKS": "8"}) == 1  # not inside a job
    assert cluster_processes({"OMPI_COMM_WORLD_SIZE": "4"}) == 4
    assert cluster_processes({"TPU_WORKER_HOSTNAMES": "t0,t1,t2,t3"}) == 4


def test_one_process_unless_asked_or_scheduled(clean_env):
    assert distributed.initialize() is False  # nothing given, no scheduler: one process, JAX untouched
    assert distributed.initialize(mode="off", num_processes=4, process_id=0) is False
    assert distributed.initialize(num_processes=1, process_id=0) is False  # a run of one process
    clean_env.setenv("JAX_NUM_PROCESSES", "1")
    assert distributed.initialize() is False
    assert not jax.distributed.is_initialized()


def test_bad_mode_or_environment_is_named(clean_env):
    with pytest.raises(ValueError, match="distributed mode must be one of"):
        distributed.initialize(mode="yes")
    clean_env.setenv("JAX_NUM_PROCESSES", "two")
    with pytest.raises(ValueError, match="JAX_NUM_PROCESSES must be an integer, got 'two'"):
        distributed.initialize()


def test_coordination_helpers_pass_through_in_one_process():
    assert distributed.is_primary()
    assert distributed.share_from_primary("x", "value") == "value"
    distributed.barrier("nothing to wait for")
