"""Atomic file writes: readers see the old file or the new one, never a partial one.

Every file the training stack writes (configs, metrics tables, summaries, figures, predicted
NIfTI, preprocessing caches, data sets) goes through :func:`atomic_write`: the content is written
to a temporary file in the destination folder, flushed to disk (``fsync``), given mode
:data:`FILE_MODE` and moved over the destination with ``os.replace`` (atomic on POSIX and
Windows). If writing fails, the temporary file is removed and the destination is untouched.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

__all__ = ["FILE_MODE", "atomic_save", "atomic_write", "write_json", "write_text"]

FILE_MODE = 0o644
"""Mode of every written file: read-write for the owner, readable by everyone (as ``open`` with the
usual umask 022 gives; ``tempfile.mkstemp`` alone would leave 0600)."""


def _temporary(path: Path, suffix: str) -> tuple[int, Path]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp" + suffix)
    return fd, Path(tmp)


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], Any]) -> Path:
    """Calls ``write(f)`` on a binary file object and moves the result to ``path`` atomically.

    Args:
        path: destination; its folder is created if missing.
        write: writes the whole content to the open binary file ``f``.

    Returns:
        ``path`` as a :class:`~pathlib.Path`, mode :data:`FILE_MODE`.
    """
    path = Path(path)
    fd, tmp = _temporary(path, "")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_save(path: str | os.PathLike, save: Callable[[str], Any]) -> Path:
    """Like :func:`atomic_write` for writers that take a file *name* (``nibabel.save``,
    ``Figure.savefig``): ``save(tmp_name)`` writes a temporary file with ``path``'s suffixes (e.g.
    ``.nii.gz``, ``.png``, which those writers read the format from), then it is moved to ``path``."""
    path = Path(path)
    suffix = "".join(path.suffixes[-2:]) if path.name.endswith(".nii.gz") else path.suffix
    fd, tmp = _temporary(path, suffix)
    os.close(fd)
    try:
        save(str(tmp))
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Writes ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def write_json(path: str | os.PathLike, obj: Any, *, indent: int | None = 2) -> Path:
    """Writes ``obj`` as JSON (no NaN/Infinity: ``allow_nan=False``) plus a newline, atomically."""
    text = json.dumps(obj, indent=indent, allow_nan=False)
    return write_text(path, text + "\n")
