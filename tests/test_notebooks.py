"""The Colab notebooks run top to bottom, at smoke size, and are committed without outputs.

Each notebook is executed in a fresh ``python3`` Jupyter kernel with the repository root as its
working directory and ``RCJ_NOTEBOOK_SMOKE=1`` (tiny images, tiny models, a few steps). A cell
that raises fails the test with the cell's traceback. ``nbclient``, ``nbformat`` and ``ipykernel``
come with the ``test`` extra; without them this module fails to import (it is never skipped).
"""

from __future__ import annotations

import os
import pathlib

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = pathlib.Path(__file__).resolve().parents[1]
COLAB = ROOT / "colab"
NOTEBOOKS = ("01_quickstart.ipynb", "02_train_ms_phantom.ipynb", "03_your_data.ipynb")
CELL_TIMEOUT_S = 600


def test_the_three_notebooks_exist():
    assert sorted(p.name for p in COLAB.glob("*.ipynb")) == sorted(NOTEBOOKS)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_stripped_and_has_a_colab_badge(name):
    nb = nbformat.read(COLAB / name, as_version=4)
    nbformat.validate(nb)
    assert "colab.research.google.com/github/" in nb.cells[0].source and name in nb.cells[0].source
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{name}: cell {i} has outputs"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_at_smoke_size(name, monkeypatch, tmp_path):
    monkeypatch.setenv("RCJ_NOTEBOOK_SMOKE", "1")
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the notebooks' work dirs
    # tests/conftest.py fakes 8 CPU devices for the sharding tests; the notebooks run on the real ones.
    flags = [f for f in os.environ.get("XLA_FLAGS", "").split() if "xla_force_host_platform_device_count" not in f]
    monkeypatch.setenv("XLA_FLAGS", " ".join(flags))
    nb = nbformat.read(COLAB / name, as_version=4)
    client = NotebookClient(nb, kernel_name="python3", timeout=CELL_TIMEOUT_S, startup_timeout=120,
                            resources={"metadata": {"path": str(ROOT)}})
    client.execute()
