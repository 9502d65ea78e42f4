"""The study's figures name the study and label what they plot; the gallery draws from the named stream."""

import numpy as np

from train.configs import study_2d
from train.data import phantom_cases, preprocess_case
from train.study.figures import gallery_figure, sweep_figure
from train.study.scores import val_domain


def _s(dice):
    return {"per_domain": {"site_a_1.5t": {"dice": {"mean": dice}}, "site_e_3t_ti2500": {"dice": {"mean": dice / 2}},
                           val_domain("site_a_1.5t"): {"dice": {"mean": dice}}}}


def test_sweep_figure_names_the_study_and_labels_each_heatmap():
    sweep = [{"depth": d, "kernel_size": k, "summaries": [_s(0.1 * d + 0.01 * k)], "structure": 0.9, "variety": 0.1}
             for d in (1, 2) for k in (1, 3)]
    fig = sweep_figure(sweep, "site_a_1.5t", study="my_study")
    assert fig._suptitle.get_text().startswith("study my_study: seed RC sweep over depth L x kernel size k")
    heatmaps = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in heatmaps] == ["OOD Dice (mean over unseen scanners)", "source validation Dice",
                                                   "structure kept S", "appearance varied V"]
    assert all(ax.get_xlabel() == "kernel size k" and ax.get_ylabel() == "depth L" for ax in heatmaps)
    np.testing.assert_allclose(heatmaps[0].images[0].get_array(), [[0.055, 0.065], [0.105, 0.115]])


def test_gallery_figure_names_the_study_and_every_method():
    config = study_2d.get_config("smoke")
    case = preprocess_case(phantom_cases(n=1, dims=2, shape=(32, 32))[0])
    fig = gallery_figure(config, case, study="my_study", draws=2)
    assert fig._suptitle.get_text().startswith("study my_study: augmentation gallery")
    axes = np.asarray(fig.axes).reshape(len(config.study.methods), 3)
    assert [row[0].get_ylabel() for row in axes] == list(config.study.methods)  # baseline, gin_ipa
    assert [ax.get_title() for ax in axes[0]] == ["input (FLAIR)", "draw 1", "draw 2"]
    first, second = (np.asarray(ax.images[0].get_array()) for ax in axes[1][1:])
    assert not np.array_equal(first, second)  # two draws, two keys of the gallery stream
