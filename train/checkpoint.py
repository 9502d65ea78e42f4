"""Checkpoints with orbax ``CheckpointManager``: train state, data position and config together.

A checkpoint ``<dir>/<step>/`` holds three items: ``state`` (params, optimizer state, step;
``StandardSave``), ``data`` (the data iterator's position, JSON) and ``config`` (JSON; the
trainer stores ``{"config": <the run's config>, "in_channels", "channel_names"}``, all that
:mod:`train.predict` needs to rebuild the model). Saves are
asynchronous and atomic: orbax writes ``<step>.orbax-checkpoint-tmp`` and renames it when
complete, so a process killed mid-save leaves the previous checkpoint intact and the partial
one is ignored (and removed on the next start). Random keys are never saved: the step's key is
``fold_in(base_key, step)``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp


class Checkpointer:
    """Saves and restores ``(state, data_state, config)`` under ``directory``.

    Args:
        directory: checkpoint folder (created if missing).
        max_to_keep: number of most recent checkpoints kept.
        asynchronous: write in a background thread (default); call :meth:`wait` or
            :meth:`close` before reading the files or exiting.
    """

    def __init__(self, directory: str | os.PathLike, *, max_to_keep: int = 3, asynchronous: bool = True):
        if max_to_keep < 1:
            raise ValueError(f"max_to_keep must be >= 1, got {max_to_keep}")
        self.directory = Path(directory).absolute()
        options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True,
                                               enable_async_checkpointing=asynchronous,
                                               cleanup_tmp_directories=True)
        self._manager = ocp.CheckpointManager(self.directory, options=options,
                                              item_names=("state", "data", "config"))

    def latest_step(self) -> int | None:
        """The step of the newest complete checkpoint, or None."""
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self._manager.all_steps())

    def save(self, step: int, state: Any, *, data_state: Mapping[str, Any] | None = None,
             config: Mapping[str, Any] | None = None) -> None:
        """Starts saving ``state`` (a pytree of arrays), ``data_state`` and ``config`` (JSON-able)."""
        args = ocp.args.Composite(state=ocp.args.StandardSave(state),
                                  data=ocp.args.JsonSave(dict(data_state or {})),
                                  config=ocp.args.JsonSave(dict(config or {})))
        self._manager.save(int(step), args=args, force=True)

    def restore(self, abstract_state: Any, *, step: int | None = None) -> tuple[Any, dict, dict]:
        """Restores checkpoint ``step`` (default: latest) into the structure of ``abstract_state``.

        ``abstract_state``: a pytree of arrays or ``jax.ShapeDtypeStruct`` (shardings respected).
        Returns ``(state, data_state, config)``.
        """
        if step is None:
            step = self.latest_step()
            if step is None:
                raise FileNotFoundError(f"no complete checkpoint in {self.directory}")
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, abstract_state)
        out = self._manager.restore(int(step), args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract), data=ocp.args.JsonRestore(), config=ocp.args.JsonRestore()))
        return out["state"], dict(out["data"] or {}), dict(out["config"] or {})

    def restore_config(self, *, step: int | None = None) -> dict:
        """Only the ``config`` item of checkpoint ``step`` (default: latest)."""
        if step is None:
            step = self.latest_step()
            if step is None:
                raise FileNotFoundError(f"no complete checkpoint in {self.directory}")
        out = self._manager.restore(int(step), args=ocp.args.Composite(config=ocp.args.JsonRestore()))
        return dict(out["config"] or {})

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
