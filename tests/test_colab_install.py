"""``colab/install.py`` keeps an installed JAX: the pins it writes, and a real install into a fresh
virtual environment that has an older JAX (needs the package index: marked ``network``)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OLD_JAX = "0.7.2"  # older than the newest; flax 0.12.0 is the oldest flax of the training extra that fits it


def _install_module():
    spec = importlib.util.spec_from_file_location("colab_install", ROOT / "colab" / "install.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pins_are_the_installed_jax_distributions(tmp_path):
    install = _install_module()
    pins = install.installed_jax()
    assert pins["jax"] == importlib.metadata.version("jax")
    assert pins["jaxlib"] == importlib.metadata.version("jaxlib")
    assert "jaxtyping" not in pins and "flax" not in pins
    for name in ("jax-cuda12-plugin", "jax_cuda12_pjrt", "jax-rocm60-plugin", "libtpu", "libtpu-nightly", "jaxlib"):
        assert install.JAX_DISTRIBUTIONS.match(install._canonical(name)), name
    for name in ("jaxtyping", "jax-dataclasses", "flax", "optax"):
        assert not install.JAX_DISTRIBUTIONS.match(install._canonical(name)), name
    assert install.constraints_text({"jax": "0.7.2", "jaxlib": "0.7.2"}) == "jax==0.7.2\njaxlib==0.7.2\n"
    out = tmp_path / "c.txt"
    assert install.main(["--constraints", str(out), "--dry-run"]) == 0
    assert f"jax=={pins['jax']}\n" in out.read_text()


@pytest.mark.network
def test_install_keeps_an_older_preinstalled_jax(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")

    def run(*args, timeout=900, cwd=tmp_path):
        proc = subprocess.run([python, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                              env={k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "XLA_FLAGS")})
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        return proc.stdout

    run("-m", "pip", "install", "-q", f"jax=={OLD_JAX}", f"jaxlib=={OLD_JAX}")  # as a runtime image ships it
    out = run(str(ROOT / "colab" / "install.py"), "--constraints", str(tmp_path / "jax-constraints.txt"))
    assert f"jax=={OLD_JAX}" in out and f"jaxlib=={OLD_JAX}" in out
    versions = run("-c", "import jax, jaxlib, flax; print(jax.__version__, jaxlib.__version__, flax.__version__)")
    assert versions.split()[:2] == [OLD_JAX, OLD_JAX], versions
    run("-m", "pip", "check")
    # the training stack runs on the dependencies pip chose for that JAX: a short smoke training
    run("-m", "train", "--config", str(ROOT / "train" / "configs" / "smoke.py"), "--workdir", str(tmp_path / "run"),
        "--noprogress", "--config.num_steps=2", "--config.data.eval_domains=('site_a_1.5t',)", cwd=ROOT)
    assert (tmp_path / "run" / "checkpoints" / "2").is_dir()
