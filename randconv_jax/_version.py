"""The package version: from the installed distribution's metadata, else from a source checkout."""

from __future__ import annotations

import pathlib
import tomllib
from importlib import metadata

DISTRIBUTION = "randconv-jax"
UNKNOWN = "0+unknown"


def read_version(distribution: str = DISTRIBUTION) -> str:
    """The installed version of ``distribution`` (PEP 440 string, e.g. ``"0.1.0"``).

    Not installed (the package imported from a source checkout on ``sys.path``): the
    ``[project] version`` of the checkout's ``pyproject.toml``; without one, ``"0+unknown"``.
    """
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        pass
    pyproject = pathlib.Path(__file__).resolve().parents[1] / "pyproject.toml"
    try:
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
    except (OSError, tomllib.TOMLDecodeError):
        return UNKNOWN
    if project.get("name") != distribution or not isinstance(project.get("version"), str):
        return UNKNOWN
    return str(project["version"])


__version__ = read_version()
"""The version of randconv_jax (PEP 440, e.g. ``"0.1.0"``), from the installed package's metadata."""
