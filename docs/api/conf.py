"""Sphinx configuration of the API reference, generated from the docstrings of ``randconv_jax``.

Build (from the repository root; ``-W`` turns every warning into an error, ``-n`` reports every
cross-reference that resolves to nothing, e.g. a misspelt ``:func:`` name)::

    python -m sphinx -W -n --keep-going -b html docs/api docs/api/_build/html

``tests/test_packaging.py`` runs the same build, so a malformed docstring fails the test suite.
"""

from __future__ import annotations

import importlib
import pathlib
import pkgutil
import sys

from jax.typing import ArrayLike
from sphinx.pycode import ModuleAnalyzer
from sphinx.util.docstrings import prepare_docstring
from sphinx.util.typing import stringify_annotation

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # document the checkout's code, whatever else is installed

import randconv_jax  # noqa: E402

project = "randconv_jax"
author = "the randconv_jax authors"
copyright = "the randconv_jax authors, Apache License 2.0"
release = randconv_jax.__version__
version = release

extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon"]
exclude_patterns = ["_build"]

# Google-style sections (Args:, Returns:, Attributes:, References:, Examples:).
napoleon_google_docstring = True
napoleon_numpy_docstring = False

autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "signature"

python_use_unqualified_type_names = True

nitpicky = True
nitpick_ignore_regex = [
    # No network at build time, so no intersphinx: names from these packages stay unlinked.
    (r"py:.*", r"(jax|numpy|collections\.abc|typing)(\..*)?"),
]
nitpick_ignore = [
    ("py:class", "randconv_jax._typing.SampleFn"),  # the call signatures of Augmentation.sample / .apply,
    ("py:class", "randconv_jax._typing.ApplyFn"),  # spelled out in the Augmentation docstring
    ("py:data", "MODES"),  # randconv_jax.NORMALIZE_MODES under its module-internal name
    ("py:data", "DIGITS_OFFSET_BOUND"),  # a module constant (0.2), not exported
]

html_theme = "alabaster"
html_title = f"randconv_jax {release} API reference"
html_show_sourcelink = False


def _attribute_docstrings() -> dict[int, list[str]]:
    """``id(value) -> docstring lines`` of the module-level constants of every randconv_jax module.

    A constant re-exported by ``randconv_jax/__init__.py`` (``NORMALIZE_MODES``, ``PRNGKey``,
    ``__version__``) has its docstring beside its definition in another module, where autodoc,
    which reads the source of the module it documents, does not look.
    """
    docs: dict[int, list[str]] = {}
    for info in pkgutil.iter_modules(randconv_jax.__path__, "randconv_jax."):
        module = importlib.import_module(info.name)
        for (scope, name), lines in ModuleAnalyzer.for_module(info.name).find_attr_docs().items():
            if scope == "" and hasattr(module, name):
                docs[id(getattr(module, name))] = list(lines)
    return docs


_ATTRIBUTE_DOCS = _attribute_docstrings()


def _docstring_of_constant(app, what, name, obj, options, lines):
    """Replaces the docstring a constant inherits from its type (``tuple``, ``str``, ``jax.Array``)."""
    inherited = getattr(obj, "__doc__", None)
    if what != "data" or not inherited:
        return
    type_doc = "\n".join(prepare_docstring(inherited)).strip().splitlines()
    if "\n".join(lines).strip().splitlines() == type_doc:
        lines[:] = _ATTRIBUTE_DOCS.get(id(obj), [])


def _public_reference(app, env, node, contnode):
    """Resolves a reference made inside a private module's docstring against the public names.

    The private modules' docstrings introduce the sections of the reference; their
    ``:func:`convolve``` means ``randconv_jax.convolve``, where the reference documents it.
    """
    if node.get("refdomain") != "py" or not str(node.get("py:module", "")).startswith("randconv_jax._"):
        return None
    py = env.get_domain("py")
    target = "randconv_jax." + node["reftarget"].removeprefix("~")
    return py.resolve_xref(env, node["refdoc"], app.builder, node["reftype"], target, node, contnode)


_ARRAY_LIKE = stringify_annotation(ArrayLike, "smart")  # the union ArrayLike stands for, as autodoc spells it


def _signature_with_array_like(app, what, name, obj, options, signature, return_annotation):
    """Writes ``jax.typing.ArrayLike`` for its eight-member union in signatures.

    ``autodoc_type_aliases`` would do it, but fails on ``ArrayLike | None`` (Sphinx issue 14004).
    """
    if signature is None:
        return None
    return signature.replace(_ARRAY_LIKE, "~jax.typing.ArrayLike"), return_annotation


def setup(app):
    app.connect("autodoc-process-docstring", _docstring_of_constant)
    app.connect("autodoc-process-signature", _signature_with_array_like)
    app.connect("missing-reference", _public_reference)
