"""The README's main job: a 2D U-Net on the built-in phantom, without augmentation and with the RC recipe
that the study (``train/configs/study_2d.py``, docs/results.md) chose on source validation.

Trains on the source scanner only and evaluates every scanner, then prints the per-domain
table (``results.txt`` in the work dir), one line per model on whether it converged and how
long it took, and where the summaries, figures and checkpoints are. Each model trains until its
source-validation Dice stops improving (``validation``), within a budget of 1500 steps.
"""

from train.configs import default, recipes


def get_config():
    c = default.get_config()
    c.recipes.no_augmentation = recipes.paper_recipes()["no_augmentation"]
    c.recipes.nnunet_rc = recipes.paper_recipes()["nnunet_rc"]  # the study's choice (source validation)
    c.variants = ("no_augmentation", "nnunet_rc")
    c.num_steps = 1500  # the budget; each run stops earlier by the validation rule below
    c.log_every = 50
    c.ckpt_every = 500
    c.validation.every = 50
    c.validation.n_cases = 8
    c.validation.patience = 4  # 200 steps without a gain (the study waits 400: 4 scores 100 steps apart)
    c.validation.min_delta = 0.002
    c.data.n_train = 48
    c.data.n_eval = 8
    c.data.shape = (96, 96)
    c.data.patch_size = (96, 96)
    c.data.batch_size = 8
    c.model.features = (16, 32, 64)
    c.optim.warmup_steps = 20
    return c
