"""Deriving run configs: a preset variant keeps the base's other settings, a recipe sets its preset,
keyword arguments, intensity augmentation and probability, and the base is never changed."""

from train.configs import default, quickstart, recipes
from train.variants import recipe_config, run_configs, variant_config


def test_a_preset_variant_drops_the_base_presets_overrides_and_keeps_the_rest():
    base = default.get_config()
    base.randconv.overrides = {"variant": "mix"}
    base.intensity_augment = True
    cfg = variant_config(base, preset="gin", seed=3)
    assert (cfg.randconv.preset, dict(cfg.randconv.overrides), cfg.intensity_augment, cfg.seed) == (
        "gin", {}, True, 3)
    assert tuple(cfg.variants) == ()
    assert dict(base.randconv.overrides) == {"variant": "mix"} and base.seed == 0  # the base is a copy


def test_recipes_and_presets_side_by_side():
    c = default.get_config()
    c.recipes.no_augmentation = recipes.paper_recipes()["no_augmentation"]
    c.recipes.ms_rc_p05 = recipes.paper_recipes()["ms_rc_p05"]
    c.variants = ("no_augmentation", "ms_rc_p05", "gin")
    runs = run_configs(c)
    assert list(runs) == ["no_augmentation", "ms_rc_p05", "gin"]
    none, rc, gin = runs.values()
    assert (none.randconv.preset, none.intensity_augment, none.randconv.probability) == ("none", False, None)
    assert (rc.randconv.preset, rc.intensity_augment, rc.randconv.probability) == ("random_conv", True, 0.5)
    assert dict(rc.randconv.overrides) == {"kernel_size": 3, "groups": 2, "normalize": "zscore_restore"}
    assert (gin.randconv.preset, gin.intensity_augment) == ("gin", False)  # a preset: the base's other settings
    assert all(tuple(r.variants) == () for r in runs.values())


def test_a_recipe_named_like_a_preset_is_the_recipe():
    c = default.get_config()
    c.recipes.gin = recipes.recipe("gin", probability=0.5)  # the preset with intensity augmentations, p = 0.5
    c.variants = ("gin",)
    run = run_configs(c)["gin"]
    assert (run.randconv.preset, run.intensity_augment, run.randconv.probability) == ("gin", True, 0.5)


def test_without_variants_the_config_is_its_own_run():
    c = default.get_config()
    assert run_configs(c) == {"randconv": c}


def test_the_quickstart_pairs_no_augmentation_with_a_paper_recipe():
    c = quickstart.get_config()
    none, rc = c.variants
    assert none == "no_augmentation" and rc in recipes.paper_recipes()
    runs = run_configs(c)
    assert runs[none].randconv.preset == "none" and not runs[none].intensity_augment
    assert recipe_config(c, recipes.paper_recipes()[rc]).to_dict() == runs[rc].to_dict()
