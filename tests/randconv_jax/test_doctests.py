"""The docstring examples of the library run and print what they show (doctest)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import randconv_jax

MODULES = ["randconv_jax"] + [f"randconv_jax.{info.name}" for info in pkgutil.iter_modules(randconv_jax.__path__)]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report = []
    for test in finder.find(module, name, globs={}):
        runner.run(test, out=report.append)
    results = runner.summarize(verbose=False)
    assert results.failed == 0, "".join(report)


def test_there_are_examples():
    finder = doctest.DocTestFinder(exclude_empty=True)
    examples = sum(len(test.examples) for name in MODULES for test in finder.find(importlib.import_module(name), name))
    assert examples >= 15, examples
