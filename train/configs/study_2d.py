"""Domain-generalization study on 2D phantom slices (2 CPU cores: hours, resumable; see docs/results.md).

``python -m train.study --config train/configs/study_2d.py --workdir DIR``; the smoke size for
tests is ``--config train/configs/study_2d.py:smoke``.

Every model trains on the source scanner only and is evaluated on held-out subjects of every
scanner. Every run scores the source-validation split every ``validation.every`` steps, keeps its
best checkpoint and stops after ``validation.patience`` scores without a gain (one rule, one step
budget for all). The RC method, and so the headline comparison, is chosen on the source
validation split only, never on the unseen scanners (:mod:`train.study.runner`).

The RC recipes are the papers' and the MS group's: RandConv's mix and img variants (multi-scale
kernels 1-7; RC_img keeps the input with probability 0.5), the MS group's 3x3 RC on a fraction
p = 0.5 of the samples with each modality's statistics restored, their nnU-Net transform,
GIN-IPA and Pro-RandConv, each combined with nnU-Net's intensity augmentations; every RC method
has its paper's consistency loss as a variant (RandConv's JS term with λ = 10 for mix and 5 for
img; GIN-IPA's KL term with λ = 10; the JS term with λ = 10 for the others).
"""

import ml_collections

from train.configs import quickstart, recipes, smoke


def _method(name: str, *, consistency: str = "js_consistency",
            consistency_weight: float = 10.0) -> ml_collections.ConfigDict:
    """The recipe ``name`` (:func:`train.configs.recipes.paper_recipes`) with its paper's consistency loss."""
    method = recipes.paper_recipes()[name]
    method.consistency = consistency
    method.consistency_weight = consistency_weight
    return method


def get_config(size: str = "full") -> ml_collections.ConfigDict:
    if size not in ("full", "smoke"):
        raise ValueError(f"study_2d size must be 'full' or 'smoke', got {size!r}")
    c = quickstart.get_config()  # the quickstart's data, model and optimizer
    c.variants = ()
    c.recipes = ml_collections.ConfigDict()  # the quickstart's pair is not part of the study
    c.parallel = "single"
    c.num_steps = 2000  # the common budget
    c.log_every = 100
    c.ckpt_every = 500
    c.keep_checkpoints = 1
    c.optim.warmup_steps = 50
    c.data.n_eval = 16  # test subjects per scanner and seed
    c.validation.every = 100
    c.validation.n_cases = 16
    c.validation.patience = 4
    c.validation.min_delta = 0.002

    c.study = ml_collections.ConfigDict()
    c.study.name = "study_2d"  # the data files' prefix
    c.study.seeds = (0, 1, 2, 3, 4)  # the baseline, the chosen RC method and its consistency variant
    c.study.screen_seeds = (0,)  # every other RC method
    c.study.references = ("no_augmentation", "baseline")
    c.study.screen_references = ("no_augmentation",)  # context: the screening seeds only
    c.study.methods = ml_collections.ConfigDict({
        "no_augmentation": _method("no_augmentation"),
        "baseline": _method("baseline"),  # nnU-Net intensity augmentations only
        "randconv_mix": _method("randconv_mix"),
        "randconv_img": _method("randconv_img", consistency_weight=5.0),
        "ms_rc_p05": _method("ms_rc_p05"),  # 3x3 per modality (2 channels), statistics restored
        "nnunet_rc": _method("nnunet_rc"),
        "gin_ipa": _method("gin_ipa", consistency="gin_consistency"),
        "pro_randconv": _method("pro_randconv"),
    })
    c.study.num_copies = 2  # augmented copies per image in the consistency variants (the papers: 3)
    c.study.sweep_depths = ()  # the seed RC's L x k sweep: empty = not run
    c.study.sweep_kernel_sizes = ()
    c.study.sweep_seeds = (0,)
    c.study.diagnostic_images = 8
    c.study.diagnostic_draws = 8
    c.study.data_dir = "docs/results"  # with report: the data files' folder
    c.study.report = "docs/results.md"  # None writes results.md and results/ into the work dir

    if size == "smoke":
        tiny = smoke.get_config()  # the smoke config's data, model, optimizer and evaluation
        for section in ("data", "model", "optim", "eval"):
            c[section] = tiny[section]
        c.num_steps = 4
        c.ckpt_every = 4
        c.log_every = 2
        c.validation.every = 2
        c.validation.n_cases = 1
        c.validation.patience = 1
        c.study.seeds = (0,)
        c.study.screen_seeds = (0,)
        c.study.references = ("baseline",)
        c.study.screen_references = ()
        c.study.methods = ml_collections.ConfigDict({
            "baseline": _method("baseline"),
            "gin_ipa": _method("gin_ipa", consistency="gin_consistency"),
        })
        c.study.sweep_depths = (1,)
        c.study.sweep_kernel_sizes = (1,)
        c.study.diagnostic_images = 1
        c.study.diagnostic_draws = 2
        c.study.report = None
    return c
