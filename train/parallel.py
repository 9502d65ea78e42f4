"""Data parallelism: ``jit`` over a ``jax.sharding.Mesh`` (default) or ``pmap`` (option).

* ``"mesh"``: a 1-D mesh with axis ``"data"`` over all devices (all processes' devices after
  ``jax.distributed.initialize()`` on multi-host); the batch is sharded along ``"data"``, the
  train state replicated, and ``jit`` inserts the gradient all-reduce. Each process feeds its
  own slice of the global batch (``jax.make_array_from_process_local_data``).
* ``"pmap"``: the older API, per local device, with ``lax.pmean`` of gradients inside the step.
* ``"single"``: one device, plain ``jit``.

Every strategy computes the same update as one device (the losses are per-sample means and
per-sample augmentation keys come from each sample's ``batch["index"]``, see :mod:`train.rng`),
up to float summation order. ``put_batch`` adds ``index`` (the sample's position in the global
batch) to a batch that does not carry one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

STRATEGIES = ("single", "mesh", "pmap")
DATA_AXIS = "data"

StepFactory = Callable[..., Callable]
"""``factory(axis_name=None) -> train_step(state, batch, key)``."""


@dataclasses.dataclass(frozen=True)
class Runner:
    """A compiled train step with the functions that move state and batches to its devices.

    ``step(state, batch, key) -> (state, metrics)`` takes state from ``put_state`` and batches
    from ``put_batch``; ``get_state`` returns a plain (un-replicated) state for checkpoints and
    evaluation. Metrics stay on device (scalars) so the host does not wait for every step.
    """

    strategy: str
    num_devices: int
    step: Callable[[Any, Any, jax.Array], tuple[Any, dict[str, jax.Array]]]
    put_state: Callable[[Any], Any]
    put_batch: Callable[[dict[str, np.ndarray]], Any]
    get_state: Callable[[Any], Any]


def make_mesh(devices: list | None = None) -> Mesh:
    """A 1-D mesh over ``devices`` (default: all devices of all processes) with axis ``"data"``."""
    devices = list(jax.devices()) if devices is None else list(devices)
    return Mesh(np.asarray(devices), (DATA_AXIS,))


def with_index(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``batch`` with ``index`` ``(B,)`` int32: kept if present, else this process's positions in
    the global batch (``process_index * B + arange(B)``, B the local batch size)."""
    if "index" in batch:
        return batch
    n = int(np.shape(batch["image"])[0])
    return {**batch, "index": np.arange(n, dtype=np.int32) + np.int32(jax.process_index() * n)}


def _check_divisible(batch_size: int, n: int) -> None:
    if batch_size % n:
        raise ValueError(f"batch_size {batch_size} must be divisible by the number of devices {n} "
                         f"(global batch for 'mesh', local for 'pmap')")


def make_runner(strategy: str, make_step: StepFactory, *, devices: list | None = None, donate: bool = True) -> Runner:
    """Compiles the train step of ``make_step`` for ``strategy`` (see the module docstring)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"parallel strategy must be one of {STRATEGIES}, got {strategy!r}")
    donate_args = (0,) if donate else ()

    if strategy == "single":
        device = (devices or jax.local_devices())[0]
        fn = jax.jit(make_step(), donate_argnums=donate_args)

        def put_batch(batch):
            return jax.device_put(with_index(batch), device)

        return Runner(strategy, 1, fn,
                      lambda s: jax.device_put(s, device), put_batch, lambda s: s)

    if strategy == "mesh":
        mesh = make_mesh(devices)
        n = mesh.size
        replicated = NamedSharding(mesh, PartitionSpec())
        sharded = NamedSharding(mesh, PartitionSpec(DATA_AXIS))
        fn = jax.jit(make_step(), donate_argnums=donate_args)

        def put_batch(batch):
            batch = with_index(batch)
            first = next(iter(batch.values()))
            _check_divisible(first.shape[0] * jax.process_count(), n)
            return {k: jax.make_array_from_process_local_data(sharded, np.asarray(v)) for k, v in batch.items()}

        def step(state, batch, key):
            return fn(state, batch, jax.device_put(key, replicated))

        return Runner(strategy, n, step, lambda s: jax.device_put(s, replicated), put_batch, lambda s: s)

    local = list(devices) if devices is not None else jax.local_devices()
    n = len(local)
    fn = jax.pmap(make_step(axis_name=DATA_AXIS), axis_name=DATA_AXIS, in_axes=(0, 0, None),
                  devices=local, donate_argnums=donate_args)

    def put_batch(batch):
        out = {}
        for k, v in with_index(batch).items():
            v = np.asarray(v)
            _check_divisible(v.shape[0], n)
            out[k] = v.reshape((n, v.shape[0] // n) + v.shape[1:])
        return out

    def put_state(state):
        return jax.tree.map(lambda x: jax.numpy.broadcast_to(x, (n,) + x.shape), state)

    def step(state, batch, key):
        state, metrics = fn(state, batch, key)
        return state, jax.tree.map(lambda x: x[0], metrics)

    return Runner(strategy, n, step, put_state, put_batch,
                  lambda s: jax.tree.map(lambda x: x[0], s))

