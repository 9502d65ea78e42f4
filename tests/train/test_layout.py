"""The layout of train/: no import cycles (read from the source with ast), every module importable on
its own in a fresh interpreter, no lazy module ``__getattr__``, one test file per module."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TRAIN = REPO / "train"



def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(TRAIN.rglob("*.py")) if "__pycache__" not in p.parts}


def _imports(path: Path, name: str, modules: dict[str, Path]) -> set[str]:
    """train modules that ``path`` imports anywhere (module level or inside functions)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(base + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:  # "import train.a.b" where b is a name: the module a
                target = target.rpartition(".")[0]
            if target.startswith("train") and target != name:
                out.add(target)
    return out


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_cycles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _cycles(graph) == [{"a", "b", "c"}]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_in_train():
    modules = _modules()
    assert "train.loop" in modules and "train.data.loader" in modules
    graph = {name: _imports(path, name, modules) for name, path in modules.items()}
    assert "train.data.cases" in graph["train.data.loader"]  # the reader sees imports
    cycles = _cycles(graph)
    assert not cycles, f"import cycles: {[sorted(c) for c in cycles]}"


def test_no_lazy_module_getattr():
    offenders = []
    for name, path in _modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if any(isinstance(n, ast.FunctionDef) and n.name == "__getattr__" for n in tree.body):
            offenders.append(name)
    assert not offenders


_IMPORT_EACH = """
import importlib, sys, traceback
failed = []
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m == "train" or m.startswith("train.")]:
        del sys.modules[loaded]  # each module first, as if it were the only one imported
    try:
        importlib.import_module(name)
    except Exception:
        failed.append(name + ":\\n" + traceback.format_exc(limit=3))
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def test_every_module_imports_first_in_a_fresh_interpreter():
    names = [n for n in _modules() if not n.endswith("__main__")]  # __main__ modules run, not import
    proc = subprocess.run([sys.executable, "-c", _IMPORT_EACH, *names], cwd=REPO, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


# The phantom package's signal modules (physics, scanners, render, subject, dataset, fields, measures,
# figures) are tested together by tests/train/data/phantom/test_phantom.py; every other module has its
# own file.
_PHANTOM_MODULES = tuple(f"train.data.phantom.{m}" for m in ("physics", "scanners", "render", "subject", "dataset",
                                                              "fields", "measures", "figures"))


def test_one_test_file_per_module():
    tests = REPO / "tests" / "train"
    missing = []
    for name, path in _modules().items():
        rel = path.relative_to(TRAIN)
        if path.name in ("__init__.py", "__main__.py") or rel.parts[0] == "configs" or name.startswith(
                _PHANTOM_MODULES):
            continue
        expected = tests.joinpath(*rel.parts[:-1], f"test_{path.stem.lstrip('_')}.py")
        if not expected.exists():
            missing.append(f"{name} -> {expected.relative_to(REPO)}")
    assert not missing, missing
    assert (tests / "test_config.py").exists()  # the configs: every shipped one is checked there
