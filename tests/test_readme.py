"""The README's promises: its two set-up commands, CI running the test one, its code example."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _setup_commands() -> list[str]:
    block = re.search(r"```bash\n(.*?)```", README, re.S).group(1)
    return [line.split("  #")[0].strip() for line in block.strip().splitlines()]


def test_readme_opens_with_two_setup_commands():
    head = README.splitlines()[:8]
    assert "```bash" in head, "the set-up commands must be among the README's first lines"
    commands = _setup_commands()
    assert len(commands) == 2
    assert all(c.startswith("pip install -e ") for c in commands)


def test_ci_runs_exactly_the_readme_test_command():
    test_command = _setup_commands()[1]
    assert "pytest" in test_command
    assert test_command in (ROOT / ".ci" / "run").read_text()


def test_readme_python_example_runs():
    code = re.search(r"```python\n(.*?)```", README, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["augmented"].shape == (8, 64, 64, 3)
    assert namespace["out3d"].shape == (32, 32, 32, 2)
