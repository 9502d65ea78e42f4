"""Domain-generalization study on 2D phantom slices (about an hour on 2 CPU cores).

``python -m train.study --config train/configs/study_2d.py --workdir DIR``; the smoke size for
tests is ``--config train/configs/study_2d.py:smoke``.

Every model trains on the source scanner only, with nnU-Net's intensity augmentations (the
baseline) plus one random-convolution method, and is evaluated on held-out subjects of every
scanner. Hyper-parameters (the sweep's choice of L and k) are chosen on a validation split of the
source scanner only, never on the unseen scanners.
"""

import ml_collections

from train.configs import quickstart, smoke


def _method(preset: str, intensity: bool = True, **overrides) -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict({"preset": preset, "intensity": intensity, "overrides": overrides})


def get_config(size: str = "full") -> ml_collections.ConfigDict:
    if size not in ("full", "smoke"):
        raise ValueError(f"study_2d size must be 'full' or 'smoke', got {size!r}")
    c = quickstart.get_config()  # the quickstart's data, model and optimizer, shorter
    c.variants = ()
    c.parallel = "single"
    c.num_steps = 300
    c.log_every = 50
    c.ckpt_every = 300
    c.keep_checkpoints = 1

    c.study = ml_collections.ConfigDict()
    c.study.seeds = (0, 1, 2)
    c.study.n_val = 8  # source-scanner validation subjects (for choosing hyper-parameters)
    c.study.methods = ml_collections.ConfigDict({
        "no_augmentation": _method("none", intensity=False),
        "baseline": _method("none"),  # nnU-Net intensity augmentations only
        "seed_rc": _method("random_conv"),  # defaults: one 3x3 layer, sigma = 1/sqrt(fan_in)
        "randconv_img": _method("randconv", variant="img"),
        "randconv_mix": _method("randconv", variant="mix"),
        "pro_randconv": _method("pro_randconv"),
        "gin_ipa": _method("gin_ipa"),
        "ms_rc_2d": _method("ms_rc_3d"),  # the 3D preset's layers on 2D slices (3x3 kernels)
        "nnunet_rc_2d": _method("nnunet_rc"),
    })
    c.study.sweep_depths = (1, 2, 3, 5, 8)
    c.study.sweep_kernel_sizes = (1, 3, 5, 7)
    c.study.sweep_seeds = (0,)
    c.study.diagnostic_images = 8
    c.study.diagnostic_draws = 8
    c.study.report = "docs/results.md"  # None writes results.md into the work dir

    if size == "smoke":
        tiny = smoke.get_config()  # the smoke config's data, model, optimizer and evaluation
        for section in ("data", "model", "optim", "eval"):
            c[section] = tiny[section]
        c.num_steps = 2
        c.ckpt_every = 2
        c.log_every = 1
        c.study.seeds = (0,)
        c.study.n_val = 1
        c.study.methods = ml_collections.ConfigDict({
            "baseline": _method("none"),
            "gin_ipa": _method("gin_ipa"),
        })
        c.study.sweep_depths = (1,)
        c.study.sweep_kernel_sizes = (1, 3)
        c.study.diagnostic_images = 1
        c.study.diagnostic_draws = 2
        c.study.report = None
    return c
