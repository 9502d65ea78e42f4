"""Deriving a run's config from a base config: another preset, its overrides, the intensity
augmentation, a seed (:func:`variant_config`), a named recipe (:func:`recipe_config`,
:mod:`train.configs.recipes`), and the runs a config's ``variants`` lists (:func:`run_configs`).

The one way to do it: ``python -m train`` (:mod:`train.runs`), the config check
(:mod:`train.config`) and the study (:mod:`train.study.runner`) all call these.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ml_collections

__all__ = ["recipe_config", "run_configs", "variant_config"]


def variant_config(config: ml_collections.ConfigDict, *, preset: str | None = None,
                   overrides: Mapping[str, Any] | None = None, intensity: bool | None = None,
                   seed: int | None = None) -> ml_collections.ConfigDict:
    """A copy of ``config`` for one run, with ``variants`` cleared.

    Args:
        config: the base config.
        preset: the random-convolution preset of the run; a preset other than the base's drops
            the base's ``randconv.overrides`` (they belong to the base's preset).
        overrides: the preset's keyword arguments (default: the base's, or none for another preset).
        intensity: ``intensity_augment`` of the run (default: the base's).
        seed: ``seed`` of the run (default: the base's).
    """
    cfg = ml_collections.ConfigDict(config.to_dict())
    cfg.variants = ()
    if preset is not None and preset != cfg.randconv.preset:
        cfg.randconv.preset = preset
        cfg.randconv.overrides = {}
    if overrides is not None:
        cfg.randconv.overrides = dict(overrides)
    if intensity is not None:
        cfg.intensity_augment = bool(intensity)
    if seed is not None:
        cfg.seed = int(seed)
    return cfg


def recipe_config(config: ml_collections.ConfigDict, recipe: Mapping[str, Any], *,
                  seed: int | None = None) -> ml_collections.ConfigDict:
    """A copy of ``config`` for one run of ``recipe`` (``{"preset", "intensity", "overrides",
    "probability"}``, :mod:`train.configs.recipes`), with ``variants`` cleared."""
    cfg = variant_config(config, preset=recipe["preset"], overrides=dict(recipe.get("overrides") or {}),
                         intensity=bool(recipe["intensity"]), seed=seed)
    cfg.randconv.probability = recipe.get("probability")
    return cfg


def run_configs(config: ml_collections.ConfigDict) -> dict[str, ml_collections.ConfigDict]:
    """``{run name: run config}``: one per entry of ``config.variants`` (a name of ``config.recipes``
    or a preset), or ``{preset: config}`` without variants."""
    variants = tuple(config.variants)
    if not variants:
        return {config.randconv.preset: config}
    recipes = dict(config.recipes)
    return {v: recipe_config(config, recipes[v]) if v in recipes else variant_config(config, preset=v)
            for v in variants}
