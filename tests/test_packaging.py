"""Release checks: licence, core dependencies, the wheel in a fresh environment, types, API reference.

The slow ones run tools in subprocesses (``python -m build``, pip into a new virtual environment,
``mypy --strict``, ``sphinx -W -n``); they carry the ``packaging`` marker and run in the normal
suite (``-m "not packaging"`` leaves them out locally). The wheel test needs the package index
(the build backend and jax/numpy for the fresh environment); pip takes the same releases as this
environment's (a constraints file pins them), so it installs them from its cache when it has them.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import inspect
import json
import pathlib
import re
import subprocess
import sys
import tarfile
import tomllib
import zipfile

import numpy as np
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import randconv_jax
from randconv_jax import _version, losses, presets

ROOT = pathlib.Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
VERSION = PROJECT["version"]
# MD5 of the canonical text of https://www.apache.org/licenses/LICENSE-2.0.txt (202 lines).
APACHE_2_MD5 = "3b83ef96387f14655fc854ddc3c6bd57"
CORE_DEPENDENCIES = {"jax", "numpy"}
TIMEOUT_S = 600


def _run(args: list[str], *, cwd: pathlib.Path = ROOT, what: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert proc.returncode == 0, f"{what} failed ({proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}"
    return proc


def test_licence_is_the_full_apache_2_text_and_declared_in_spdx_form():
    text = (ROOT / "LICENSE").read_bytes()
    assert hashlib.md5(text).hexdigest() == APACHE_2_MD5, "LICENSE must be the unmodified Apache-2.0 text"
    assert PROJECT["license"] == "Apache-2.0" and PROJECT["license-files"] == ["LICENSE"]
    assert not any(c.startswith("License ::") for c in PROJECT.get("classifiers", ())), "no licence classifiers"
    # PEP 639 (a licence expression string, license-files) needs setuptools 77 (Metadata-Version 2.4).
    backend = [Requirement(r) for r in PYPROJECT["build-system"]["requires"]]
    setuptools = next(r for r in backend if r.name == "setuptools")
    assert not setuptools.specifier.contains("76.1.0") and setuptools.specifier.contains("77.0.3")


def _third_party_imports(package: pathlib.Path) -> set[str]:
    names = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"randconv_jax", "__future__"}


def test_core_dependencies_are_exactly_what_the_library_imports():
    assert _third_party_imports(ROOT / "randconv_jax") == CORE_DEPENDENCIES
    assert {canonicalize_name(Requirement(r).name) for r in PROJECT["dependencies"]} == CORE_DEPENDENCIES


def test_version_comes_from_the_metadata_and_falls_back_to_pyproject(monkeypatch):
    assert randconv_jax.__version__ == importlib.metadata.version("randconv-jax") == VERSION

    def not_installed(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(_version.metadata, "version", not_installed)
    assert _version.read_version() == VERSION  # a source checkout that was never installed
    assert _version.read_version("another-distribution") == _version.UNKNOWN


def test_changelog_has_a_section_for_the_current_version():
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert "keepachangelog.com" in changelog and "semver.org" in changelog
    released = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", changelog, re.M)
    assert released and released[0] == VERSION, f"the newest released section must be [{VERSION}], got {released}"
    assert re.search(r"^## \[Unreleased\]$", changelog, re.M)


@pytest.mark.packaging
def test_public_api_passes_mypy_strict():
    proc = _run([sys.executable, "-m", "mypy", "--strict", "randconv_jax"], what="mypy --strict randconv_jax")
    assert "Success: no issues found" in proc.stdout


def _documented_ids(html: pathlib.Path) -> set[str]:
    return set(re.findall(r'<dt class="sig sig-object py[^"]*" id="([^"]+)"', html.read_text()))


@pytest.mark.packaging
def test_api_reference_builds_without_warnings_and_documents_every_public_name(tmp_path):
    out = tmp_path / "html"
    command = [sys.executable, "-m", "sphinx", "-W", "-n", "--keep-going", "-q", "-b", "html", "docs/api", str(out)]
    _run(command, what="the API reference build (python -m sphinx -W -n ... docs/api)")
    top = _documented_ids(out / "randconv_jax.html")
    modules = {"losses", "presets"}
    missing = {f"randconv_jax.{n}" for n in randconv_jax.__all__ if n not in modules} - top
    assert not missing, f"public names missing from docs/api/randconv_jax.rst: {sorted(missing)}"
    for module, page in ((presets, "presets.html"), (losses, "losses.html")):
        public = {
            f"{module.__name__}.{name}"
            for name, fn in inspect.getmembers(module, inspect.isfunction)
            if not name.startswith("_") and fn.__module__ == module.__name__
        }
        assert public and public <= _documented_ids(out / page), sorted(public - _documented_ids(out / page))


# Run twice: by the wheel in the fresh environment and by the checkout here; the results must agree.
_OUTPUTS = """
import jax
import randconv_jax as rcj
from randconv_jax import presets


def outputs():
    key = jax.random.key(0)
    image = jax.random.normal(jax.random.key(1), (16, 16, 3))
    volumes = jax.random.uniform(jax.random.key(2), (8, 8, 8, 8, 2))  # 8 volumes (D, H, W, C)
    return {
        "image": image,
        "volumes": volumes,
        "random_conv": rcj.random_conv(key, image, kernel_size=3),
        "ms_rc_3d": jax.jit(presets.for_batches("ms_rc_3d"))(key, volumes),
    }
"""

_VENV_SCRIPT = (
    _OUTPUTS
    + """
import importlib.metadata, importlib.util, json, pathlib, sys
import numpy as np

out = pathlib.Path(sys.argv[1])
np.savez(out / "outputs.npz", **outputs())
info = {
    "file": rcj.__file__,
    "version": rcj.__version__,
    "metadata_version": importlib.metadata.version("randconv-jax"),
    "requires": importlib.metadata.requires("randconv-jax"),
    "importable": [m for m in ("chex", "flax", "optax", "train", "pytest") if importlib.util.find_spec(m)],
    "py_typed": (pathlib.Path(rcj.__file__).parent / "py.typed").is_file(),
}
(out / "info.json").write_text(json.dumps(info))
"""
)


def _source_outputs() -> dict[str, np.ndarray]:
    namespace: dict = {}
    exec(compile(_OUTPUTS, "outputs", "exec"), namespace)
    return {name: np.asarray(value) for name, value in namespace["outputs"]().items()}


def _check_wheel(wheel: pathlib.Path) -> None:
    dist_info = f"randconv_jax-{VERSION}.dist-info"
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        metadata = zf.read(f"{dist_info}/METADATA").decode()
        assert zf.read(f"{dist_info}/licenses/LICENSE") == (ROOT / "LICENSE").read_bytes()
    sources = {p.relative_to(ROOT).as_posix() for p in (ROOT / "randconv_jax").rglob("*.py")}
    expected = sources | {"randconv_jax/py.typed"}
    package = {n for n in names if n.startswith("randconv_jax/")}
    assert package == expected, f"the wheel's package differs from randconv_jax/: {sorted(package ^ expected)}"
    others = names - package
    assert all(n.startswith(dist_info + "/") for n in others), f"not randconv_jax/**: {sorted(others)}"
    meta = {n.removeprefix(dist_info + "/") for n in others}
    required = {"METADATA", "WHEEL", "RECORD", "licenses/LICENSE"}
    assert required <= meta <= required | {"top_level.txt"}, sorted(meta)
    assert "License-Expression: Apache-2.0" in metadata.splitlines()
    core = [Requirement(line.split(":", 1)[1]) for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert {canonicalize_name(r.name) for r in core if r.marker is None} == CORE_DEPENDENCIES


def _check_sdist(sdist: pathlib.Path) -> None:
    with tarfile.open(sdist) as tf:
        names = {n.split("/", 1)[1] for n in tf.getnames() if "/" in n}
    assert {"LICENSE", "README.md", "pyproject.toml", "randconv_jax/py.typed", "randconv_jax/__init__.py"} <= names
    assert not any(n.startswith(("train/", "tests/", "docs/", "colab/", "benchmarks/")) for n in names), sorted(names)


@pytest.mark.packaging
def test_wheel_holds_only_the_library_and_runs_with_core_dependencies_only(tmp_path):
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)], what="python -m build")
    (wheel,) = dist.glob("randconv_jax-*.whl")
    (sdist,) = dist.glob("randconv_jax-*.tar.gz")
    assert wheel.name == f"randconv_jax-{VERSION}-py3-none-any.whl"
    _check_wheel(wheel)
    _check_sdist(sdist)

    # A fresh environment with no pip of its own; this environment's pip installs the wheel into
    # it, resolving the wheel's own requirements, pinned to the releases installed here.
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], what="python -m venv")
    python = venv / "bin" / "python"
    pins = tmp_path / "constraints.txt"
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}
    installed.pop("randconv-jax", None)
    pins.write_text("".join(f"{name}=={version}\n" for name, version in sorted(installed.items())))
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-compile"]
    _run([*pip, "--only-binary", ":all:", "--constraint", str(pins), str(wheel)], what="pip install of the wheel")

    script = tmp_path / "use_the_wheel.py"
    script.write_text(_VENV_SCRIPT)
    run_dir = tmp_path / "elsewhere"  # not the checkout, which would shadow the installed package
    run_dir.mkdir()
    _run([str(python), "-I", str(script), str(tmp_path)], cwd=run_dir, what="randconv_jax from the wheel")

    info = json.loads((tmp_path / "info.json").read_text())
    assert pathlib.Path(info["file"]).is_relative_to(venv), info["file"]
    assert info["version"] == info["metadata_version"] == VERSION
    assert info["importable"] == [], f"not core dependencies, yet installed: {info['importable']}"
    assert info["py_typed"]
    core = {canonicalize_name(Requirement(r).name) for r in info["requires"] if "extra ==" not in r}
    assert core == CORE_DEPENDENCIES
    outputs, expected = np.load(tmp_path / "outputs.npz"), _source_outputs()
    changed = [not np.allclose(a, b) for a, b in zip(expected["ms_rc_3d"], expected["volumes"], strict=True)]
    assert any(changed), "the preset (p = 0.5 per volume) left all 8 volumes as they were"
    for name in expected:  # the wheel's code is the checkout's code
        np.testing.assert_allclose(outputs[name], expected[name], rtol=1e-5, atol=1e-6, err_msg=name)
