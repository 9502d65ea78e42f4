"""Public API conventions: key first, image second, keyword-only hyper-parameters, docstrings."""

from __future__ import annotations

import functools
import inspect
import types

import jax
import jax.numpy as jnp

import randconv_jax as rc
from randconv_jax import presets

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


def test_all_names_exist_and_are_documented():
    assert len(set(rc.__all__)) == len(rc.__all__)
    for name in rc.__all__:
        assert hasattr(rc, name), name
        obj = getattr(rc, name)
        if callable(obj) or isinstance(obj, types.ModuleType):
            doc = inspect.getdoc(obj)
            assert doc and len(doc.strip()) > 10, f"{name} has no docstring"
    for name in ("randconv", "ms_rc_3d", "nnunet_rc", "pro_randconv", "gin", "gin_ipa", "for_batches"):
        assert inspect.getdoc(getattr(presets, name)), name
    assert rc.NORMALIZE_MODES == ("none", "clamp_to_input_range", "frobenius", "zscore_restore", "minmax_foreground")
    assert rc.BATCH_MODES == ("per_sample", "per_batch")


def test_random_functions_take_key_then_image_then_keywords():
    _assert_key_image_then_keyword_only(rc.random_conv)
    _assert_key_image_then_keyword_only(rc.sample_random_conv)
    _assert_key_image_then_keyword_only(rc.sample_conv_stack, image=False)
    for fn in (
        rc.pro_randconv,
        rc.sample_pro_randconv,
        rc.gin,
        rc.sample_gin,
        rc.gin_ipa,
        rc.sample_gin_ipa,
        rc.gin_ipa_views,
        rc.sample_ipa_mask,
    ):
        _assert_key_image_then_keyword_only(fn)
    _assert_key_image_then_keyword_only(rc.losses.consistency_views, image_name="images")
    _assert_key_image_then_keyword_only(rc.Augmentation.__call__, what="Augmentation.__call__")


def test_apply_functions_take_image_then_params_then_keywords():
    for fn in (rc.apply_random_conv, rc.apply_pro_randconv, rc.apply_gin, rc.apply_gin_ipa):
        params = _params(fn)
        assert [p.name for p in params[:2]] == ["image", "params"]
        assert all(p.kind in POSITIONAL for p in params[:2])
        assert all(p.kind == KW for p in params[2:]), [p.name for p in params[2:]]
    names = [name for name in rc.__all__ if name.startswith("apply_")]
    assert names == ["apply_gin", "apply_gin_ipa", "apply_pro_randconv", "apply_random_conv"]


def test_factories_take_keyword_only_arguments():
    for fn in (
        presets.randconv,
        presets.ms_rc_3d,
        presets.nnunet_rc,
        presets.pro_randconv,
        presets.gin,
        presets.gin_ipa,
        rc.make_random_conv,
    ):
        params = _params(fn)
        assert params, fn.__name__
        assert all(p.kind == KW for p in params), f"{fn.__name__}: {[(p.name, p.kind) for p in params]}"


def _augmentations():
    inner = rc.make_random_conv()
    yield "make_random_conv", inner
    yield "with_probability", rc.with_probability(inner, 0.5)
    yield "mix_with_input", rc.mix_with_input(inner)
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
