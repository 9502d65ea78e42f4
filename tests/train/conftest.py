"""Shared fixtures of the training-stack tests: the CLI runner and one smoke run of the training CLI."""

import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_module(*args, check=True, timeout=600):
    """``python -m <args>`` from the repository root; asserts exit status 0 unless ``check=False``."""
    proc = subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)
    if check:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """``python -m train --config train/configs/smoke.py`` once, with its progress bars:
    ``(workdir, CompletedProcess)``."""
    workdir = tmp_path_factory.mktemp("smoke")
    proc = run_module("train", "--config", "train/configs/smoke.py", "--workdir", str(workdir))
    return workdir, proc


def optim_config(**changes):
    """The default config's ``optim`` section with ``changes`` (optim.py has no defaults of its own)."""
    from train.configs import default

    optim = default.get_config().optim
    for key, value in changes.items():
        optim[key] = value
    return optim
