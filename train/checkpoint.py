"""Checkpoints with orbax ``CheckpointManager``: train state, data position and config together.

A checkpoint ``<dir>/<step>/`` holds three items: ``state`` (params, optimizer state, step;
``StandardSave``), ``data`` (the data iterator's position, JSON) and ``config`` (JSON; the
trainer stores ``{"config": <the run's config>, "in_channels", "channel_names"}``, all that
:mod:`train.predict` needs to rebuild the model). Saves are asynchronous and atomic: orbax writes
``<step>.orbax-checkpoint-tmp`` and renames it when complete, so a process killed mid-save leaves
the previous checkpoint intact and the partial one is ignored. Random keys are never saved: the
step's key is ``fold_in(base_key, step)``.

Writers and readers:

* one **writer** per folder: the training loop, which holds the work dir's lock
  (:class:`train.lock.WorkdirLock`). Only the writer removes leftover ``*.orbax-checkpoint-tmp``
  folders (of its own interrupted predecessors) when it starts;
* any number of **readers** (``read_only=True``: prediction, evaluation, the study's figures),
  also while the training runs: a reader writes and deletes nothing, so it never removes the
  temporary folder of a save in progress.

A checkpoint that does not restore (a corrupt or empty newest one) is skipped, never deleted:
:meth:`Checkpointer.newest_restorable` falls back to the newest one that restores and reports the
ones it skipped; the writer moves them aside (:meth:`Checkpointer.set_aside`) before it saves
again at their steps.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import jax
import orbax.checkpoint as ocp

__all__ = ["Checkpointer", "UNRESTORABLE_SUFFIX", "UnrestorableCheckpointError"]

log = logging.getLogger(__name__)

UNRESTORABLE_SUFFIX = ".unrestorable"
"""A checkpoint set aside by the writer: ``<dir>/<step>.unrestorable`` (orbax ignores the name)."""

T = TypeVar("T")


class UnrestorableCheckpointError(RuntimeError):
    """No checkpoint of a folder could be restored (each one's error is in the message)."""


def _describe(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text[:300]}"


class Checkpointer:
    """Saves and restores ``(state, data_state, config)`` under ``directory``.

    Args:
        directory: checkpoint folder (created by a writer if missing; a reader needs it to exist).
        max_to_keep: number of most recent checkpoints a writer keeps.
        asynchronous: write in a background thread (default); call :meth:`wait` or
            :meth:`close` before reading the files or exiting.
        read_only: open as a reader (see the module docstring): no saves, no deletions, no
            cleaning of temporary folders.
    """

    def __init__(self, directory: str | os.PathLike, *, max_to_keep: int = 3, asynchronous: bool = True,
                 read_only: bool = False):
        if max_to_keep < 1:
            raise ValueError(f"max_to_keep must be >= 1, got {max_to_keep}")
        self.directory = Path(directory).absolute()
        self.read_only = bool(read_only)
        if self.read_only:
            if not self.directory.is_dir():
                raise FileNotFoundError(f"{self.directory}: checkpoint folder not found")
            options = ocp.CheckpointManagerOptions(read_only=True, create=False, max_to_keep=None,
                                                   save_interval_steps=0, cleanup_tmp_directories=False,
                                                   enable_async_checkpointing=False)
        else:
            options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True,
                                                   enable_async_checkpointing=asynchronous,
                                                   cleanup_tmp_directories=True)
        self._manager = ocp.CheckpointManager(self.directory, options=options,
                                              item_names=("state", "data", "config"))

    def latest_step(self) -> int | None:
        """The step of the newest complete checkpoint, or None."""
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        """Steps of the complete checkpoints, ascending (in-progress saves are not listed)."""
        return sorted(self._manager.all_steps())

    def save(self, step: int, state: Any, *, data_state: Mapping[str, Any] | None = None,
             config: Mapping[str, Any] | None = None) -> None:
        """Starts saving ``state`` (a pytree of arrays), ``data_state`` and ``config`` (JSON-able)."""
        if self.read_only:
            raise RuntimeError(f"{self.directory}: opened read-only, cannot save")
        args = ocp.args.Composite(state=ocp.args.StandardSave(state),
                                  data=ocp.args.JsonSave(dict(data_state or {})),
                                  config=ocp.args.JsonSave(dict(config or {})))
        self._manager.save(int(step), args=args, force=True)

    def _step(self, step: int | None) -> int:
        if step is None:
            step = self.latest_step()
            if step is None:
                raise FileNotFoundError(f"no complete checkpoint in {self.directory}")
        return int(step)

    def restore(self, abstract_state: Any, *, step: int | None = None) -> tuple[Any, dict, dict]:
        """Restores checkpoint ``step`` (default: latest) into the structure of ``abstract_state``.

        ``abstract_state``: a pytree of arrays or ``jax.ShapeDtypeStruct`` (shardings respected).
        Returns ``(state, data_state, config)``.
        """
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, abstract_state)
        out = self._manager.restore(self._step(step), args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract), data=ocp.args.JsonRestore(), config=ocp.args.JsonRestore()))
        return out["state"], dict(out["data"] or {}), dict(out["config"] or {})

    def restore_config(self, *, step: int | None = None) -> dict:
        """Only the ``config`` item of checkpoint ``step`` (default: latest)."""
        out = self._manager.restore(self._step(step), args=ocp.args.Composite(config=ocp.args.JsonRestore()))
        return dict(out["config"] or {})

    def newest_restorable(self, restore: Callable[[int], T]) -> tuple[int, T, list[tuple[int, str]]]:
        """Calls ``restore(step)`` on the checkpoints from the newest down until one succeeds.

        Returns:
            ``(step, restore(step), skipped)``: ``skipped`` lists ``(step, error)`` of the newer
            checkpoints that failed (they are left where they are).

        Raises:
            FileNotFoundError: no complete checkpoint.
            UnrestorableCheckpointError: none restores (each one's error in the message).
        """
        steps = self.all_steps()
        if not steps:
            raise FileNotFoundError(f"no complete checkpoint in {self.directory}")
        skipped: list[tuple[int, str]] = []
        for step in reversed(steps):
            try:
                return step, restore(step), skipped
            except Exception as err:  # orbax / tensorstore raise many types for a damaged checkpoint
                skipped.append((step, _describe(err)))
        listing = "; ".join(f"step {s}: {e}" for s, e in skipped)
        raise UnrestorableCheckpointError(f"no checkpoint in {self.directory} could be restored ({listing}); they "
                                          f"are left as they are")

    def set_aside(self, step: int) -> Path:
        """Renames checkpoint ``step`` to ``<step>.unrestorable`` (kept, not deleted) so that the
        writer can save that step again; returns the new path."""
        if self.read_only:
            raise RuntimeError(f"{self.directory}: opened read-only, cannot move checkpoints")
        self.wait()
        source = self.directory / str(int(step))
        target = self.directory / f"{int(step)}{UNRESTORABLE_SUFFIX}"
        n = 1
        while target.exists():
            n += 1
            target = self.directory / f"{int(step)}{UNRESTORABLE_SUFFIX}.{n}"
        os.replace(source, target)
        self._manager.reload()
        return target

    def wait(self) -> None:
        """Blocks until the pending save is committed."""
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.wait_until_finished()
        self._manager.close()

    def __enter__(self) -> Checkpointer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
