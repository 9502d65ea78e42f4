"""Where a run's cases come from: phantom scanners or folders, held-out evaluation subjects, domain groups."""

import numpy as np

from train.configs import smoke
from train.data import SCANNERS, SOURCE_SCANNER, phantom_cases, write_dataset
from train.data.sources import (
    GROUP_NOTES,
    PHANTOM_SHIFTS,
    domain_groups,
    domain_name,
    evaluation_domains,
    is_phantom,
    training_cases,
)
from train.rng import PHANTOM_EVAL_OFFSET


def test_every_unseen_phantom_scanner_has_a_shift_group():
    assert set(PHANTOM_SHIFTS) == set(SCANNERS) - {SOURCE_SCANNER}
    assert PHANTOM_SHIFTS["site_e_3t_ti2500"] == "strong shift"
    assert set(PHANTOM_SHIFTS.values()) | {"source", "unseen"} == set(GROUP_NOTES)


def test_groups_mark_the_source_and_the_shifts():
    c = smoke.get_config()
    c.data.eval_domains = ("all",)
    groups = domain_groups(c)
    assert groups == {"site_a_1.5t": "source", **PHANTOM_SHIFTS}
    c.data.source = "site_b_3t"  # another source: the shift groups are relative to site_a, so not used
    assert domain_groups(c)["site_b_3t"] == "source" and domain_groups(c)["site_e_3t_ti2500"] == "unseen"
    c.data.source = "/data/Dataset501_X"
    c.data.eval_domains = ("/data/Dataset501_X", "/other/Dataset502_Y")
    assert domain_groups(c) == {"Dataset501_X": "source", "Dataset502_Y": "unseen"}


def test_names():
    assert is_phantom("site_a_1.5t") and not is_phantom("/x/site_a_1.5t")
    assert domain_name("/x/Dataset501_A") == "Dataset501_A" and domain_name("site_b_3t") == "site_b_3t"


def test_evaluation_subjects_are_never_training_subjects():
    c = smoke.get_config()
    train_cases = training_cases(c)
    domains = evaluation_domains(c)
    assert list(domains) == list(c.data.eval_domains)
    (raw, pre), = domains["site_a_1.5t"]
    expected = phantom_cases("site_a_1.5t", n=1, dims=2, shape=(32, 32), seed=c.seed + PHANTOM_EVAL_OFFSET)[0]
    np.testing.assert_array_equal(raw.image, expected.image)
    assert pre.crop_box is not None and raw.crop_box is None
    assert len(train_cases) == c.data.n_train and all(t.crop_box is not None for t in train_cases)
    train_raw = phantom_cases("site_a_1.5t", n=c.data.n_train, dims=2, shape=(32, 32), seed=c.seed)
    assert not any(np.array_equal(t.image, raw.image) for t in train_raw)


def test_a_folder_holds_out_its_last_cases(tmp_path):
    root = write_dataset(tmp_path / "Dataset597_S", phantom_cases("site_b_3t", n=4, dims=2, shape=(32, 32)))
    c = smoke.get_config()
    c.data.source, c.data.eval_domains, c.data.n_eval = str(root), (str(root),), 1
    c.data.cache_dir = str(tmp_path / "cache")
    assert [x.name for x in training_cases(c)] == ["phantom_0000", "phantom_0001", "phantom_0002"]
    assert [raw.name for raw, _ in evaluation_domains(c)["Dataset597_S"]] == ["phantom_0003"]


def test_phantom_training_and_evaluation_cases_are_resampled_alike():
    c = smoke.get_config()
    c.data.target_spacing = (2.0, 2.0)
    train_case = training_cases(c)[0]
    (_, eval_case), = evaluation_domains(c)["site_a_1.5t"]
    raw_spacing = phantom_cases(n=1, dims=2, shape=(32, 32))[0].spacing
    assert abs(raw_spacing[0] - 2.0) > 1.0  # the raw grid is far from 2 mm
    np.testing.assert_allclose(train_case.spacing, (2.0, 2.0), rtol=0.05)  # training was resampled too
    np.testing.assert_allclose(eval_case.spacing, (2.0, 2.0), rtol=0.05)
