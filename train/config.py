"""Reading a run's config: every key and every value is checked before anything is written.

:func:`check_config` compares the config with ``train/configs/default.py`` (which holds every key
there is: a typo or a key another file invented is an error, and a missing key is one), checks
each value's type and range, that names (presets, consistency losses, optimizers, schedules,
strategies, normalizations) are in their tables, and that the sections fit together (patch and
phantom shape of rank ``data.spatial_dims``, patches divisible by the U-Net's downsampling, a
consistency loss with copies and random convolutions). Errors are ``ValueError``s that name the
key, the value and what was expected.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import ml_collections

import randconv_jax as rcj
from train.augment import NONE, PRESET_NAMES, make_augment
from train.losses import CONSISTENCY_LOSSES
from train.models import NORMS
from train.models.conv import CONV_IMPLS
from train.optim import OPTIMIZERS, SCHEDULES
from train.parallel import STRATEGIES
from train.variants import recipe_config

__all__ = ["check_config"]

_SECTIONS_OF_OTHER_TOOLS = {"study": "python -m train.study"}
_FREE_FORM = ("randconv.overrides", "recipes")  # keyword arguments of a factory, named recipes: checked apart


def _is_mapping(v: Any) -> bool:
    return isinstance(v, Mapping | ml_collections.ConfigDict)


def _keys(d: Mapping[str, Any] | ml_collections.ConfigDict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        name = f"{prefix}{k}"
        if _is_mapping(v) and name not in _FREE_FORM:
            out.update(_keys(v, name + "."))
        else:
            out[name] = v
    return out


def _check_keys(config: ml_collections.ConfigDict, extra_sections: Sequence[str]) -> None:
    from train.configs import default

    expected = _keys(default.get_config())
    given = _keys({k: v for k, v in config.items() if k not in extra_sections})
    unknown = sorted(set(given) - set(expected))
    for key in unknown:
        section = key.split(".")[0]
        if section in _SECTIONS_OF_OTHER_TOOLS:
            raise ValueError(f"config section {section!r} belongs to {_SECTIONS_OF_OTHER_TOOLS[section]}, "
                             "not to training")
        raise ValueError(f"config key {key!r} is not a key of train/configs/default.py (a config file only "
                         "changes the values of its keys; is it a typo?)")
    missing = sorted(set(expected) - set(given))
    if missing:
        raise ValueError(f"config lacks the keys {missing} of train/configs/default.py (build configs from "
                         "default.get_config())")


def _int(value: Any, key: str, *, lo: int | None = None, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key} must be an int, got {value!r}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        bounds = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise ValueError(f"{key} must be {bounds}, got {value}")
    return value


def _float(value: Any, key: str, *, lo: float | None = None, hi: float | None = None, lo_open: bool = False,
           hi_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{key} must be a finite number, got {value!r}")
    if lo is not None and (value < lo or (lo_open and value == lo)) or hi is not None and (
            value > hi or (hi_open and value == hi)):
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        raise ValueError(f"{key} must be in {left}{lo if lo is not None else '-inf'}, "
                         f"{hi if hi is not None else 'inf'}{right}, got {value}")
    return float(value)


def _choice(value: Any, key: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ValueError(f"{key} must be one of {list(choices)}, got {value!r}")
    return value


def _names(value: Any, key: str, *, allow_empty: bool = False) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValueError(f"{key} must be a tuple of strings, got {value!r}")
    names = tuple(value)
    if not all(isinstance(n, str) and n for n in names) or (not names and not allow_empty):
        raise ValueError(f"{key} must be a {'' if allow_empty else 'non-empty '}tuple of non-empty strings, "
                         f"got {value!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"{key} has duplicates: {value!r}")
    return names


def _shape(value: Any, key: str, rank: int, *, divisor: int = 1) -> tuple[int, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence) or len(value) != rank:
        raise ValueError(f"{key} must have {rank} entries (data.spatial_dims = {rank}), got {value!r}")
    for v in value:
        _int(v, key, lo=1)
        if v % divisor:
            raise ValueError(f"{key} {tuple(value)}: every entry must be divisible by {divisor} (2 ** the number of "
                             f"U-Net downsamplings, len(model.features) - 1)")
    return tuple(value)


def _recipes(value: Any) -> dict[str, Any]:
    """``recipes``: a mapping of names to recipes (train/configs/recipes.py), each checked on its own; the
    run config of each is checked when it is used as a variant (:func:`check_config` below). In
    ``variants`` a recipe's name stands for the recipe, also where a preset has the same name (the
    study's ``nnunet_rc`` recipe is the preset with the intensity augmentations)."""
    from train.configs.recipes import RECIPE_KEYS

    if not _is_mapping(value):
        raise ValueError(f"recipes must be a mapping of names to recipes, got {value!r}")
    out = dict(value)
    for name, r in out.items():
        if not _is_mapping(r) or set(r) != set(RECIPE_KEYS):
            raise ValueError(f"recipes[{name!r}] must have the keys {list(RECIPE_KEYS)}, got "
                             f"{sorted(r) if _is_mapping(r) else r!r}")
        _choice(r["preset"], f"recipes[{name!r}].preset", PRESET_NAMES)
        if not isinstance(r["intensity"], bool):
            raise ValueError(f"recipes[{name!r}].intensity must be True or False, got {r['intensity']!r}")
        if not _is_mapping(r["overrides"]):
            raise ValueError(f"recipes[{name!r}].overrides must be a mapping of keyword arguments, got "
                             f"{r['overrides']!r}")
    return out


def check_config(config: ml_collections.ConfigDict, *, extra_sections: Sequence[str] = ()) -> None:
    """Raises ``ValueError`` naming the first bad key of ``config`` (see the module docstring).

    Args:
        config: a run's config (``train/configs/<name>.py``'s ``get_config()``, possibly overridden).
        extra_sections: top-level sections another tool reads (the study's ``"study"``), skipped here.
    """
    _check_keys(config, extra_sections)
    c = config
    _int(c.seed, "seed", lo=0)
    num_steps = _int(c.num_steps, "num_steps", lo=1)
    _int(c.log_every, "log_every", lo=1)
    _int(c.ckpt_every, "ckpt_every", lo=1)
    _int(c.keep_checkpoints, "keep_checkpoints", lo=1)
    _choice(c.parallel, "parallel", STRATEGIES)
    recipes = _recipes(c.recipes)
    for v in _names(c.variants, "variants", allow_empty=True):
        if v not in recipes:
            _choice(v, "variants", sorted(PRESET_NAMES) + sorted(recipes))  # a preset or a recipe's name
    if not isinstance(c.intensity_augment, bool):
        raise ValueError(f"intensity_augment must be True or False, got {c.intensity_augment!r}")

    d = c.data
    if not isinstance(d.source, str) or not d.source:
        raise ValueError(f"data.source must be a phantom scanner name or a data set folder, got {d.source!r}")
    _names(d.eval_domains, "data.eval_domains")
    _int(d.n_train, "data.n_train", lo=1)
    _int(d.n_eval, "data.n_eval", lo=1)
    rank = _int(d.spatial_dims, "data.spatial_dims", lo=2, hi=3)
    if d.shape is not None:
        _shape(d.shape, "data.shape", rank)
    _names(d.channels, "data.channels")
    features = c.model.features
    if isinstance(features, str) or not isinstance(features, Sequence) or not features:
        raise ValueError(f"model.features must be a non-empty tuple of ints, got {features!r}")
    for f in features:
        _int(f, "model.features", lo=1)
    _shape(d.patch_size, "data.patch_size", rank, divisor=2 ** (len(features) - 1))
    _int(d.batch_size, "data.batch_size", lo=1)
    _float(d.oversample_foreground, "data.oversample_foreground", lo=0.0, hi=1.0)
    _int(d.num_workers, "data.num_workers", lo=0)
    if d.target_spacing is not None:
        if isinstance(d.target_spacing, str) or not isinstance(d.target_spacing, Sequence) or len(
                d.target_spacing) != rank:
            raise ValueError(f"data.target_spacing must be None or {rank} spacings in mm, got {d.target_spacing!r}")
        for s in d.target_spacing:
            _float(s, "data.target_spacing", lo=0.0, lo_open=True)
    if d.cache_dir is not None and (not isinstance(d.cache_dir, str) or not d.cache_dir):
        raise ValueError(f"data.cache_dir must be None or a folder, got {d.cache_dir!r}")

    _choice(c.model.norm, "model.norm", NORMS)
    _choice(c.model.conv_impl, "model.conv_impl", CONV_IMPLS)
    _int(c.model.num_classes, "model.num_classes", lo=2)

    o = c.optim
    _choice(o.name, "optim.name", OPTIMIZERS)
    _float(o.learning_rate, "optim.learning_rate", lo=0.0, lo_open=True)
    _choice(o.schedule, "optim.schedule", SCHEDULES)
    _int(o.warmup_steps, "optim.warmup_steps", lo=0)
    if o.warmup_steps and o.warmup_steps >= num_steps:
        raise ValueError(f"optim.warmup_steps must be < num_steps = {num_steps}, got {o.warmup_steps}")
    _float(o.weight_decay, "optim.weight_decay", lo=0.0)
    _float(o.momentum, "optim.momentum", lo=0.0, hi=1.0, hi_open=True)
    _float(o.poly_exponent, "optim.poly_exponent", lo=0.0, lo_open=True)
    if o.grad_clip_norm is not None:
        _float(o.grad_clip_norm, "optim.grad_clip_norm (None: no clipping)", lo=0.0, lo_open=True)

    r = c.randconv
    _choice(r.preset, "randconv.preset", PRESET_NAMES)
    if r.batch_mode is not None:
        _choice(r.batch_mode, "randconv.batch_mode (None: the paper's)", rcj.BATCH_MODES)
    if r.chunk_size is not None:
        _int(r.chunk_size, "randconv.chunk_size (None: the whole batch)", lo=1)
    if not _is_mapping(r.overrides):
        raise ValueError(f"randconv.overrides must be a mapping of keyword arguments, got {r.overrides!r}")
    make_augment(r.preset, batch_mode=r.batch_mode, chunk_size=r.chunk_size, probability=r.probability,
                 **dict(r.overrides))

    lo = c.loss
    _float(lo.dice_weight, "loss.dice_weight", lo=0.0)
    _float(lo.ce_weight, "loss.ce_weight", lo=0.0)
    if lo.dice_weight == 0 and lo.ce_weight == 0:
        raise ValueError("loss.dice_weight and loss.ce_weight are both 0: nothing would be trained")
    weight = _float(lo.consistency_weight, "loss.consistency_weight", lo=0.0)
    copies = _int(lo.num_copies, "loss.num_copies", lo=1)
    if lo.consistency is None:
        if weight > 0:
            raise ValueError(f"loss.consistency_weight is {weight} but loss.consistency is None; name one of "
                             f"{sorted(CONSISTENCY_LOSSES)}")
    else:
        _choice(lo.consistency, "loss.consistency", sorted(CONSISTENCY_LOSSES))
        if weight == 0:
            raise ValueError(f"loss.consistency is {lo.consistency!r} but loss.consistency_weight is 0; set a "
                             "weight > 0 or loss.consistency=None")
        if r.preset == NONE or copies < 2:
            raise ValueError(f"loss.consistency {lo.consistency!r} compares augmented copies: it needs a "
                             f"randconv.preset other than 'none' (got {r.preset!r}) and loss.num_copies >= 2 "
                             f"(got {copies})")

    v = c.validation
    if v.every is not None:
        _int(v.every, "validation.every (None: no validation)", lo=1)
    _int(v.n_cases, "validation.n_cases", lo=1)
    if v.patience is not None:
        _int(v.patience, "validation.patience (None: never stop early)", lo=1)
        if v.every is None:
            raise ValueError(f"validation.patience is {v.patience} but validation.every is None: early stopping "
                             "needs validation scores; set validation.every")
    _float(v.min_delta, "validation.min_delta", lo=0.0, hi=1.0)

    e = c.eval
    _float(e.overlap, "eval.overlap", lo=0.0, hi=1.0, hi_open=True)
    _int(e.batch_size, "eval.batch_size", lo=1)
    _float(e.ndsc_r, "eval.ndsc_r", lo=0.0, hi=1.0, lo_open=True, hi_open=True)
    _float(e.iou_threshold, "eval.iou_threshold", lo=0.0, hi=1.0, lo_open=True)
    _int(e.connectivity, "eval.connectivity", lo=1, hi=3)
    _int(e.min_lesion_size, "eval.min_lesion_size", lo=1)

    for name in c.variants:  # each recipe's run config (its preset's keyword arguments, its probability)
        if name in recipes:
            try:
                check_config(recipe_config(c, recipes[name]), extra_sections=extra_sections)
            except ValueError as err:
                raise ValueError(f"recipes[{name!r}] (listed in variants): {err}") from err
