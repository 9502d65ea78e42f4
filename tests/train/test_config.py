"""Reading a config: every shipped config passes; typos, missing keys, bad names and bad numbers fail
when the config is read, naming the key, and before training writes anything."""

import ml_collections
import pytest

from train.config import check_config
from train.configs import default, ms_3d, quickstart, smoke, study_2d, study_3d
from train.loop import train
from train.study.runner import check_study


@pytest.mark.parametrize("module", [default, quickstart, smoke, ms_3d])
def test_shipped_training_configs_pass(module):
    check_config(module.get_config())


@pytest.mark.parametrize("module", [study_2d, study_3d])
@pytest.mark.parametrize("size", ["full", "smoke"])
def test_shipped_study_configs_pass(module, size):
    check_study(module.get_config(size))


def test_study_3d_config_is_consistent():
    c = study_3d.get_config()
    assert c.data.spatial_dims == 3 and len(c.data.patch_size) == 3 and len(c.data.shape) == 3
    assert {"ms_rc_3d", "nnunet_rc", "baseline"} <= set(c.study.methods)
    assert len(c.study.seeds) >= 3


def test_none_is_none():
    c = default.get_config()
    for key in ("data.target_spacing", "data.cache_dir", "randconv.batch_mode", "randconv.chunk_size",
                "loss.consistency"):
        section, name = key.split(".")
        assert c[section][name] is None, key  # not "" or 0 standing for it
    assert c.optim.grad_clip_norm == 12.0
    c.optim.grad_clip_norm = None  # None: no clipping
    check_config(c)


def test_a_typo_or_an_invented_key_fails():
    c = default.get_config()
    c.optim.momentun = 0.9
    with pytest.raises(ValueError, match=r"'optim\.momentun' is not a key of train/configs/default\.py"):
        check_config(c)
    c = default.get_config()
    c.study = {"seeds": (0,)}
    with pytest.raises(ValueError, match="belongs to python -m train.study"):
        check_config(c)


def test_a_missing_key_fails():
    c = default.get_config()
    del c.optim["momentum"]
    with pytest.raises(ValueError, match=r"lacks the keys \['optim\.momentum'\]"):
        check_config(c)


BAD = [
    ("num_steps", 0, "num_steps must be >= 1"),
    ("log_every", 0, "log_every must be >= 1"),
    ("log_every", -1, "log_every must be >= 1"),
    ("ckpt_every", 0, "ckpt_every must be >= 1"),
    ("ckpt_every", -5, "ckpt_every must be >= 1"),
    ("keep_checkpoints", 0, "keep_checkpoints"),
    ("seed", -1, "seed must be >= 0"),
    ("parallel", "dp", "parallel must be one of"),
    ("variants", ("none", "gin_ipaa"), "variants must be one of"),
    ("data.spatial_dims", 4, "data.spatial_dims must be in"),
    ("data.shape", (64,), r"data.shape must have 2 entries"),
    ("data.patch_size", (64, 64, 64), r"data.patch_size must have 2 entries"),
    ("data.patch_size", (100, 100), "divisible by 8"),
    ("data.batch_size", 0, "data.batch_size must be >= 1"),
    ("data.oversample_foreground", 1.5, "data.oversample_foreground must be in"),
    ("data.num_workers", -1, "data.num_workers"),
    ("data.target_spacing", (1.0, 0.0), "data.target_spacing must be in"),
    ("data.target_spacing", (1.0, float("nan")), "data.target_spacing must be a finite number"),
    ("data.eval_domains", (), "data.eval_domains must be a non-empty"),
    ("data.cache_dir", "", "data.cache_dir must be None or a folder"),
    ("model.norm", "batch", "model.norm must be one of"),
    ("model.features", (), "model.features"),
    ("model.num_classes", 1, "model.num_classes"),
    ("optim.name", "lamb", "optim.name must be one of"),
    ("optim.learning_rate", 0.0, "optim.learning_rate must be in"),
    ("optim.grad_clip_norm", -1.0, r"optim.grad_clip_norm \(None: no clipping\) must be in"),
    ("optim.grad_clip_norm", 0.0, r"optim.grad_clip_norm \(None: no clipping\) must be in"),
    ("optim.warmup_steps", 5000, "optim.warmup_steps must be < num_steps"),
    ("optim.momentum", 1.0, "optim.momentum must be in"),
    ("optim.schedule", "step", "optim.schedule must be one of"),
    ("randconv.preset", "randconvv", "randconv.preset must be one of"),
    ("randconv.batch_mode", "per_pixel", "randconv.batch_mode"),
    ("randconv.chunk_size", 0, "randconv.chunk_size"),
    ("randconv.overrides", {"variantt": "mix"}, "do not fit preset 'randconv'"),
    ("loss.consistency", "jnp", "loss.consistency must be one of"),
    ("loss.consistency_weight", 1.0, "loss.consistency is None"),
    ("loss.dice_weight", -1.0, "loss.dice_weight must be in"),
    ("eval.overlap", 1.0, "eval.overlap must be in"),
    ("eval.ndsc_r", 0.0, "eval.ndsc_r must be in"),
    ("eval.connectivity", 4, "eval.connectivity"),
    ("eval.min_lesion_size", 0, "eval.min_lesion_size"),
]


@pytest.mark.parametrize(("key", "value", "message"), BAD, ids=[f"{k}={v}" for k, v, _ in BAD])
def test_bad_values_name_the_key(key, value, message):
    c = default.get_config()
    section, _, name = key.rpartition(".")
    (c[section] if section else c)[name] = value
    with pytest.raises(ValueError, match=message):
        check_config(c)


def test_wrong_types_fail_also_in_configs_without_type_safety():
    # ConfigDicts refuse a float for an int key themselves; one rebuilt from JSON without type safety does not
    for key, value, message in (("num_steps", 2.5, "num_steps must be an int"),
                                ("intensity_augment", 1, "intensity_augment must be True or False"),
                                ("data.batch_size", True, "data.batch_size must be an int")):
        c = ml_collections.ConfigDict(default.get_config().to_dict(), type_safe=False)
        section, _, name = key.rpartition(".")
        (c[section] if section else c)[name] = value
        with pytest.raises(ValueError, match=message):
            check_config(c)


def test_consistency_needs_its_weight_copies_and_an_augmentation():
    c = default.get_config()
    c.loss.consistency = "js_consistency"
    with pytest.raises(ValueError, match="consistency_weight is 0"):
        check_config(c)
    c.loss.consistency_weight = 5.0
    with pytest.raises(ValueError, match="num_copies >= 2"):
        check_config(c)
    c.loss.num_copies = 3
    check_config(c)
    c.randconv.preset = "none"
    with pytest.raises(ValueError, match="other than 'none'"):
        check_config(c)


def test_study_methods_are_checked_before_any_run():
    c = study_2d.get_config("smoke")
    c.study.methods.gin_ipa.preset = "gin_ipaa"
    with pytest.raises(ValueError, match=r"study.methods\['gin_ipa'\].*gin_ipaa"):
        check_study(c)
    c = study_2d.get_config("smoke")
    c.study.diagnostic_draws = 1
    with pytest.raises(ValueError, match="study.diagnostic_draws"):
        check_study(c)


def test_a_bad_number_is_refused_before_anything_is_written(tmp_path):
    c = smoke.get_config()
    c.ckpt_every = 0
    workdir = tmp_path / "run"
    with pytest.raises(ValueError, match="ckpt_every must be >= 1"):
        train(c, workdir, progress=False)
    assert not workdir.exists()


def test_a_batch_that_does_not_split_over_the_devices_is_refused_before_anything_is_written(tmp_path):
    import jax

    assert jax.device_count() == 8  # tests/conftest.py
    c = smoke.get_config()
    c.parallel, c.data.batch_size = "mesh", 6
    with pytest.raises(ValueError, match="data.batch_size 6 must be divisible by the 8 devices of parallel='mesh'"):
        train(c, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_validation_and_study_rules_are_checked():
    c = smoke.get_config()
    c.validation.patience = 3
    with pytest.raises(ValueError, match="validation.patience is 3 but validation.every is None"):
        check_config(c)
    c.validation.every, c.validation.min_delta = 10, -0.1
    with pytest.raises(ValueError, match="validation.min_delta"):
        check_config(c)
    c = study_2d.get_config("smoke")
    c.validation.every, c.validation.patience = None, None
    with pytest.raises(ValueError, match="set validation.every"):
        check_study(c)
    c = study_2d.get_config("full")
    c.study.screen_references = ("baseline",)  # the reference of every comparison needs every seed
    with pytest.raises(ValueError, match="screen_references"):
        check_study(c)
    c = study_2d.get_config("smoke")
    c.study.screen_seeds = (7,)
    with pytest.raises(ValueError, match="screen_seeds"):
        check_study(c)
    c = study_2d.get_config("smoke")
    c.study.methods.gin_ipa.consistency = "kl"
    with pytest.raises(ValueError, match=r"study.methods\['gin_ipa'\].*loss.consistency"):
        check_study(c)


def test_variants_may_name_recipes_and_each_recipe_is_checked():
    from train.configs import recipes

    c = default.get_config()
    c.recipes.ms_rc_p05 = recipes.paper_recipes()["ms_rc_p05"]
    c.variants = ("ms_rc_p05", "gin")  # a recipe and a preset
    check_config(c)

    bad = default.get_config()
    bad.recipes.mine = recipes.recipe("random_conv", kernel_size=4)  # RC kernels are odd
    bad.variants = ("mine",)
    with pytest.raises(ValueError, match=r"recipes\['mine'\] \(listed in variants\).*kernel_size"):
        check_config(bad)
    bad.recipes.mine = recipes.recipe("random_conv", probability=1.5)
    with pytest.raises(ValueError, match=r"recipes\['mine'\].*probability"):
        check_config(bad)
    bad.recipes.mine = {"preset": "random_conv"}
    with pytest.raises(ValueError, match=r"recipes\['mine'\] must have the keys"):
        check_config(bad)
    bad = default.get_config()
    bad.variants = ("no_augmentation",)  # not defined in recipes
    with pytest.raises(ValueError, match="variants must be one of"):
        check_config(bad)
