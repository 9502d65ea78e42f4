"""The papers' training recipes as named run settings: a preset, its keyword arguments, nnU-Net's
intensity augmentations on or off, and the fraction of samples RC is applied to.

A recipe is a mapping ``{"preset", "intensity", "overrides", "probability"}``. A config's
``recipes`` section names recipes that its ``variants`` can list (``train/configs/quickstart.py``),
and the study's methods are these recipes plus each paper's consistency loss
(``train/configs/study_2d.py``). :func:`train.runs.variant_config` turns one into a run's config.
"""

from __future__ import annotations

from typing import Any

import ml_collections

RECIPE_KEYS = ("preset", "intensity", "overrides", "probability")


def recipe(preset: str, *, intensity: bool = True, probability: float | None = None,
           **overrides: Any) -> ml_collections.ConfigDict:
    """One recipe: ``preset`` with ``overrides``, on a fraction ``probability`` of the samples (None:
    the preset's own), with (``intensity=True``) or without nnU-Net's intensity augmentations."""
    return ml_collections.ConfigDict({"preset": preset, "intensity": intensity, "overrides": overrides,
                                      "probability": probability})


def paper_recipes() -> dict[str, ml_collections.ConfigDict]:
    """The references and the published RC recipes, each RC recipe with nnU-Net's intensity augmentations.

    * ``no_augmentation``; ``baseline``: the intensity augmentations alone.
    * ``randconv_mix`` / ``randconv_img``: RandConv (Xu et al., ICLR 2021), multi-scale kernels 1-7;
      img keeps the input with probability 0.5.
    * ``ms_rc_p05``: the MS group's 3x3 RC on a fraction p = 0.5 of the samples, per modality (2
      channels), each modality's statistics restored (Scholz et al. 2025).
    * ``nnunet_rc``: their nnU-Net transform; ``gin_ipa`` (Ouyang et al., IEEE TMI 2022);
      ``pro_randconv`` (Choi et al., CVPR 2023).
    """
    return {
        "no_augmentation": recipe("none", intensity=False),
        "baseline": recipe("none"),
        "randconv_mix": recipe("randconv", variant="mix"),
        "randconv_img": recipe("randconv", variant="img"),
        "ms_rc_p05": recipe("random_conv", probability=0.5, kernel_size=3, groups=2, normalize="zscore_restore"),
        "nnunet_rc": recipe("nnunet_rc"),
        "gin_ipa": recipe("gin_ipa"),
        "pro_randconv": recipe("pro_randconv"),
    }
