"""Public API conventions: key first, image second, keyword-only hyper-parameters, docstrings."""

from __future__ import annotations

import functools
import inspect
import re

import jax
import jax.numpy as jnp
import pytest

import randconv_jax as rc
from randconv_jax import losses, presets

KW = inspect.Parameter.KEYWORD_ONLY
VAR_KW = inspect.Parameter.VAR_KEYWORD  # **kwargs forwarded to a sampler: still keyword-only
POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _params(fn):
    return list(inspect.signature(fn).parameters.values())


def _assert_key_image_then_keyword_only(fn, *, image=True, image_name="image", what=None):
    what = what or getattr(fn, "__name__", repr(fn))
    params = _params(fn)
    if params and params[0].name == "self":
        params = params[1:]
    assert params[0].name == "key" and params[0].kind in POSITIONAL, f"{what}: first parameter must be key"
    rest = params[1:]
    if image:
        assert rest[0].name == image_name and rest[0].kind in POSITIONAL, f"{what}: second parameter must be image"
        rest = rest[1:]
    for p in rest:
        assert p.kind in (KW, VAR_KW), f"{what}: {p.name} must be keyword-only"


def _public_callables():
    """Every public function and class of the package, presets and losses, by inspection."""
    seen = {}
    for name in rc.__all__:
        obj = getattr(rc, name)
        if (inspect.isfunction(obj) or inspect.isclass(obj)) and obj.__module__.startswith("randconv_jax"):
            seen[f"randconv_jax.{name}"] = obj
    for module in (presets, losses):
        for name, obj in vars(module).items():
            if name.startswith("_") or not inspect.isfunction(obj) or obj.__module__ != module.__name__:
                continue
            seen[f"{module.__name__}.{name}"] = obj
    return seen


PUBLIC = _public_callables()
FUNCTIONS = {name: obj for name, obj in PUBLIC.items() if inspect.isfunction(obj)}

# Positional parameters allowed where there is no key: the data a function acts on (and the one
# required number of with_probability). Everything with a default is keyword-only.
DATA = {
    "image",
    "images",
    "params",
    "kernel",
    "offsets",
    "output",
    "reference",
    "logits",
    "aug",
    "augs",
    "probability",
    "name",
    "spatial_shape",
}


def test_the_walk_finds_the_public_api():
    # The walk is not a hand-kept list: it must find (at least) these, including the wrappers.
    for name in (
        "randconv_jax.mix_with_input",
        "randconv_jax.with_probability",
        "randconv_jax.batched",
        "randconv_jax.random_conv",
        "randconv_jax.presets",
        "randconv_jax.presets.nnunet_rc",
        "randconv_jax.presets.for_batches",
        "randconv_jax.losses.consistency_views",
        "randconv_jax.RandomConvParams",
    ):
        assert name in PUBLIC or name in ("randconv_jax.presets",), name
    assert len(FUNCTIONS) >= 34, sorted(FUNCTIONS)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_key_first_image_second_everything_else_keyword_only(name):
    params = _params(FUNCTIONS[name])
    positional = [p for p in params if p.kind in POSITIONAL or p.kind == inspect.Parameter.VAR_POSITIONAL]
    rest = [p for p in params if p not in positional]
    assert all(p.kind in (KW, VAR_KW) for p in rest), name
    names = [p.name for p in positional]
    if "key" in names:
        assert names[0] == "key", f"{name}: key must come first, got {names}"
        assert names[1:] in ([], ["image"], ["images"]), f"{name}: after key only image/images, got {names}"
    else:
        assert set(names) <= DATA, f"{name}: positional {names} must be data; hyper-parameters keyword-only"
        if "image" in names or "images" in names:
            assert names[0] in ("image", "images"), f"{name}: image must come first, got {names}"
    for p in positional:
        assert p.default is inspect.Parameter.empty, f"{name}: {p.name} has a default, so it must be keyword-only"


SHAPE = re.compile(r"\((?:\*?[A-Za-z_][\w.]*|\.\.\.)(?:\s*[,x]\s*[^()]*)\)")
DTYPE = re.compile(r"float32|floating|float|bool|int32|uint32|dtype")
SOURCE = re.compile(r"References:|Source:|et al\.")


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_docstrings_give_shapes_dtypes_and_a_source(name):
    doc = inspect.getdoc(PUBLIC[name]) or ""
    assert len(doc) > 40, f"{name} has no docstring"
    assert SHAPE.search(doc), f"{name}: the docstring names no array shape such as (H, W, C)"
    assert DTYPE.search(doc), f"{name}: the docstring names no dtype"
    assert SOURCE.search(doc), f"{name}: the docstring cites no source (References:, Source: or a paper)"


def test_modules_and_constants():
    assert len(set(rc.__all__)) == len(rc.__all__)
    for name in rc.__all__:
        assert hasattr(rc, name), name
    for module in (rc, presets, losses):
        assert len(inspect.getdoc(module) or "") > 40
    assert rc.NORMALIZE_MODES == (
        "none",
        "clamp_to_input_range",
        "frobenius",
        "zscore_restore",
        "zscore_restore_joint",
        "zscore_no_restore",
        "minmax_foreground",
        "minmax_nonzero",
    )
    assert rc.BATCH_MODES == ("per_sample", "per_batch")


def test_augmentation_dunder_call_takes_key_then_image():
    _assert_key_image_then_keyword_only(rc.Augmentation.__call__, what="Augmentation.__call__")


def _augmentations():
    inner = rc.make_random_conv()
    yield "make_random_conv", inner
    yield "with_probability", rc.with_probability(inner, 0.5)
    yield "mix_with_input", rc.mix_with_input(inner)
    yield "mix_with_input-range", rc.mix_with_input(inner, alpha_range=(0.2, 0.4))
    yield "chain", rc.chain(inner, inner)
    yield "randconv", presets.randconv()
    yield "randconv-mix", presets.randconv(variant="mix")
    yield "ms_rc_3d", presets.ms_rc_3d()
    yield "nnunet_rc", presets.nnunet_rc()
    yield "pro_randconv", presets.pro_randconv()
    yield "gin", presets.gin()
    yield "gin_ipa", presets.gin_ipa()


def test_augmentations_sample_key_image_and_apply_image_params():
    x = jnp.ones((6, 7, 2))
    key = jax.random.key(0)
    for name, aug in _augmentations():
        assert isinstance(aug, rc.Augmentation), name
        sample = _params(aug.sample)
        assert [p.name for p in sample[:2]] == ["key", "image"], name
        assert all(p.kind in (KW, VAR_KW) for p in sample[2:]), name
        apply = _params(aug.apply)
        assert [p.name for p in apply[:2]] == ["image", "params"], name
        assert all(p.kind == KW for p in apply[2:]) and "mask" in [p.name for p in apply[2:]], name
        out = jax.eval_shape(aug, key, x)  # callable as aug(key, image); same shape and dtype out
        assert out.shape == x.shape and out.dtype == x.dtype
    for mode in rc.BATCH_MODES:
        aug = rc.batched(rc.make_random_conv(), mode=mode)
        assert [p.name for p in _params(aug.sample)] == ["key", "images"]
        apply = _params(aug.apply)
        assert [p.name for p in apply[:2]] == ["images", "params"] and apply[2].kind == KW
        for_batches = presets.for_batches("nnunet_rc")
        assert [p.name for p in _params(for_batches.sample)] == ["key", "images"]


def test_random_conv_params_expose_layer_kernels():
    x = jnp.ones((6, 7, 3))
    sample = functools.partial(rc.sample_random_conv, kernel_size=(1, 3), depth=4, hidden_channels=6, groups=3)
    params = jax.jit(sample)(jax.random.key(0), x)
    kernels = params.layer_kernels()
    assert params.depth == 4 and len(kernels) == 4
    assert [k.shape for k in kernels] == [(3, 3, 1, 6), (3, 3, 2, 6), (3, 3, 2, 6), (3, 3, 2, 3)]
    assert [s.repeats for s in params.stacks] == [1, 2, 1]
    for s in params.stacks:
        assert s.kernels.shape[0] == s.repeats and s.groups == 3 and s.kernel_sizes == (1, 3)
    # layer_kernels() is the stacks' kernels in order.
    flat = [s.kernels[r] for s in params.stacks for r in range(s.repeats)]
    for a, b in zip(kernels, flat, strict=True):
        assert (a == b).all()
    # Params are pytrees: jax.tree.map keeps the structure (static kernel_sizes / groups).
    doubled = jax.tree.map(lambda a: a, params)
    assert isinstance(doubled, rc.RandomConvParams) and doubled.stacks[0].kernel_sizes == (1, 3)
