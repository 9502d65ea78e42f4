"""An exclusive lock on a training work dir, so two trainings never write into one folder.

The lock is ``fcntl.flock`` on ``<workdir>/.train.lock``, held for as long as the training (and
its evaluation) runs. The kernel releases it when the process ends in any way, SIGKILL and
out-of-memory kills included, so a lock is never left behind; the file also records who holds it
(pid, host, start time, command line), which is how a second training is told who is in its way
and how the next one notices that the previous holder died without releasing it (the file still
names it). Readers (``train.predict``, evaluation, the study's figures) never take the lock: they
open checkpoints read-only (:class:`train.checkpoint.Checkpointer`).

POSIX only (``fcntl``). On network file systems ``flock`` works where the NFS client maps it to
POSIX locks (Linux since 2.6.12); it is not a lock across machines on every file system.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any

__all__ = ["LOCK_FILE", "WorkdirLock", "WorkdirLockedError"]

log = logging.getLogger(__name__)

LOCK_FILE = ".train.lock"


class WorkdirLockedError(RuntimeError):
    """Another process holds the lock of the work dir."""


def _holder_text(info: dict[str, Any]) -> str:
    if not info:
        return "an unknown process"
    return (f"pid {info.get('pid')} on host {info.get('host')}, started {info.get('started')}: "
            f"{info.get('command')}")


class WorkdirLock:
    """Exclusive lock of ``workdir`` (created if missing); a context manager.

    Args:
        workdir: the training work dir.

    Raises (on :meth:`acquire` / ``with``):
        WorkdirLockedError: another process holds it; the message names that process.
    """

    def __init__(self, workdir: str | os.PathLike):
        self.workdir = Path(workdir)
        self.path = self.workdir / LOCK_FILE
        self._fd: int | None = None
        self.stale: dict[str, Any] = {}
        """After :meth:`acquire`: the record of a previous holder that died holding the lock, or ``{}``."""

    @property
    def held(self) -> bool:
        return self._fd is not None

    def _read(self, fd: int) -> dict[str, Any]:
        os.lseek(fd, 0, os.SEEK_SET)
        raw = os.read(fd, 65536)
        try:
            info = json.loads(raw.decode("utf-8")) if raw.strip() else {}
        except (UnicodeDecodeError, json.JSONDecodeError):
            info = {"command": f"(unreadable lock record {raw[:80]!r})"}
        return info if isinstance(info, dict) else {}

    def acquire(self) -> WorkdirLock:
        if self._fd is not None:
            raise RuntimeError(f"{self.path}: already held by this WorkdirLock")
        self.workdir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self._read(fd)
            os.close(fd)
            raise WorkdirLockedError(
                f"{self.workdir} is in use by another training ({_holder_text(holder)}); wait for it to finish, "
                f"or choose another --workdir") from None
        self.stale = self._read(fd)
        if self.stale:
            log.warning("%s: the previous training here (%s) ended without releasing its lock (killed?); "
                        "taking over", self.workdir, _holder_text(self.stale))
        record = {"pid": os.getpid(), "host": socket.gethostname(),
                  "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                  "command": " ".join(sys.argv) or sys.executable}
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, (json.dumps(record) + "\n").encode("utf-8"))
        os.fsync(fd)
        self._fd = fd
        return self

    def release(self) -> None:
        """Clears the record (a clean exit leaves no holder behind) and releases the lock."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self) -> WorkdirLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
