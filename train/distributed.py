"""Several training processes as one JAX runtime (``jax.distributed``): start-up and coordination.

A multi-process run starts ``python -m train`` once per process (one per host, or one per GPU);
:func:`initialize` joins them into one runtime before JAX touches a device, after which
``jax.devices()`` lists every process's devices and the ``"mesh"`` strategy
(:mod:`train.parallel`) shards each global batch over all of them. What the rest of the stack
does with more than one process:

* data: each process loads only its rows of every global batch
  (:func:`train.data.loader.make_train_iterator` with ``process_index`` / ``process_count``);
  sample indices are those of the one-process run, so the random-convolution draws are too;
* state: replicated on every device; checkpoints are saved and restored by all processes
  together (orbax);
* files: process 0 alone writes ``config.json``, metrics, figures and summaries, and holds the
  work dir's lock (:class:`train.lock.WorkdirLock` tells the others whether it got it);
* evaluation: process 0 alone (:func:`train.runs.train_and_evaluate`), while the others wait
  at a barrier (:func:`barrier`).

Where the processes find each other (``coordinator_address`` of process 0, ``num_processes``,
``process_id``) comes from the arguments, else the environment variables
``JAX_COORDINATOR_ADDRESS``, ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID``, else JAX's own
detection of a SLURM, Open MPI, Kubernetes or Cloud TPU job (``jax.distributed.initialize()``
without arguments). A process whose peer dies stops with an error instead of waiting for ever:
the coordination service declares a process dead after ``heartbeat_timeout_s`` without a
heartbeat and ends the others; a collective with a dead peer fails at once.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Mapping

import jax

__all__ = ["MODES", "barrier", "cluster_processes", "initialize", "is_primary", "share_from_primary"]

log = logging.getLogger(__name__)

MODES = ("auto", "on", "off")
"""``initialize``'s ``mode``: ``"auto"`` joins a runtime when an address, count or id is given
or a job of several processes is detected; ``"on"`` always (JAX detects what is not given);
``"off"`` never (one process)."""

HEARTBEAT_TIMEOUT_S = 100
"""JAX's default: seconds without a heartbeat after which a process counts as dead."""

_sequence = itertools.count()
"""Numbers the coordination calls of this process (:func:`share_from_primary`, :func:`barrier`):
every process makes the same calls in the same order, so the n-th call of each one meets the
n-th of the others under one key."""


def cluster_processes(environ: Mapping[str, str] | None = None) -> int:
    """How many processes the job scheduler started, from ``environ`` (default ``os.environ``):
    SLURM (``SLURM_NTASKS`` with ``SLURM_JOB_ID``), Open MPI (``OMPI_COMM_WORLD_SIZE``), a
    Cloud TPU slice (the ``TPU_WORKER_HOSTNAMES`` / ``TPU_PROCESS_ADDRESSES`` list); 1 if none."""
    env = os.environ if environ is None else environ
    if "SLURM_JOB_ID" in env and env.get("SLURM_NTASKS", "").isdigit():
        return int(env["SLURM_NTASKS"])
    if env.get("OMPI_COMM_WORLD_SIZE", "").isdigit():
        return int(env["OMPI_COMM_WORLD_SIZE"])
    hosts = env.get("TPU_PROCESS_ADDRESSES") or env.get("TPU_WORKER_HOSTNAMES")
    if hosts:
        return len([h for h in hosts.split(",") if h.strip()])
    return 1


def _int_or_env(value: int | None, name: str, what: str) -> int | None:
    if value is not None:
        return int(value)
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{what}: environment variable {name} must be an integer, got {raw!r}") from None


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, *, mode: str = "auto",
               heartbeat_timeout_s: int = HEARTBEAT_TIMEOUT_S, initialization_timeout_s: int = 300) -> bool:
    """Joins this process to the run's JAX runtime (call before anything touches a JAX device).

    Args:
        coordinator_address: ``host:port`` of process 0's coordination service (default:
            ``JAX_COORDINATOR_ADDRESS``, else detected).
        num_processes: processes in the run (default: ``JAX_NUM_PROCESSES``, else detected).
        process_id: this process's number, ``0 <= process_id < num_processes`` (default:
            ``JAX_PROCESS_ID``, else detected).
        mode: one of :data:`MODES`.
        heartbeat_timeout_s: a process silent this long counts as dead and the others stop
            (JAX's default 100 s).
        initialization_timeout_s: how long to wait for every process to join (JAX's 300 s).

    Returns:
        True if a multi-process runtime was started (then CPU collectives run over gloo), False
        for a single process.

    Raises:
        ValueError: a bad ``mode`` or a non-integer environment variable.
        RuntimeError: JAX's backend is already running (something touched a device first).
    """
    if mode not in MODES:
        raise ValueError(f"distributed mode must be one of {MODES}, got {mode!r}")
    if jax.distributed.is_initialized():
        return jax.process_count() > 1
    address = coordinator_address or os.environ.get("JAX_COORDINATOR_ADDRESS") or None
    count = _int_or_env(num_processes, "JAX_NUM_PROCESSES", "num_processes")
    pid = _int_or_env(process_id, "JAX_PROCESS_ID", "process_id")
    given = any(v is not None for v in (address, count, pid))
    if mode == "off" or (mode == "auto" and not given and cluster_processes() <= 1):
        return False
    if count == 1:
        return False
    # Only the CPU backend reads this; on GPU/TPU the collectives are NCCL's / the ICI's.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=address, num_processes=count, process_id=pid,
                               heartbeat_timeout_seconds=int(heartbeat_timeout_s),
                               initialization_timeout=int(initialization_timeout_s))
    log.info("joined a JAX runtime of %d processes as process %d", jax.process_count(), jax.process_index())
    return jax.process_count() > 1


def is_primary() -> bool:
    """True in process 0 (the one that writes files); True in a single-process run."""
    return jax.process_index() == 0


def _client():
    from orbax.checkpoint import multihost

    return multihost.get_jax_distributed_client()


def share_from_primary(name: str, value: str, *, timeout_s: float = 600.0) -> str:
    """Process 0's ``value`` in every process (``value`` of the others is ignored).

    Goes through the coordination service's key-value store (no device involved); every process
    must call it, in the same order. Returns ``value`` unchanged in a single-process run.
    """
    if jax.process_count() == 1:
        return value
    key = f"train/{next(_sequence)}/{name}"
    client = _client()
    if is_primary():
        client.key_value_set(key, value, allow_overwrite=True)
        return value
    return client.blocking_key_value_get(key, int(timeout_s * 1000))


def barrier(name: str, *, timeout_s: float = 600.0) -> None:
    """Waits until every process reaches the barrier ``name`` (no-op with one process).

    Raises (through JAX) when ``timeout_s`` passes first; a process that dies meanwhile ends
    the others through the heartbeat (``heartbeat_timeout_s`` of :func:`initialize`).
    """
    if jax.process_count() == 1:
        return
    _client().wait_at_barrier(f"train/{next(_sequence)}/{name}", int(timeout_s * 1000))
