"""Prediction: NIfTI outputs with the input's geometry and mode 0644; a data set root (imagesTs, else
imagesTr with a note); channel names checked against the checkpoint; an unusable case skipped and
reported while the others are predicted; a work dir of several runs listed; a running training's
checkpoints left alone; a damaged newest checkpoint skipped."""

import dataclasses
import shutil
import stat

import nibabel as nib
import numpy as np
import pytest

from tests.train.conftest import run_module
from tests.train.test_checkpoint import _corrupt_data
from train.data import phantom_cases, write_dataset
from train.predict import predict_folder


def _unlabeled(n, scanner="site_b_3t", seed=3):
    return [dataclasses.replace(c, label=None) for c in phantom_cases(scanner, n=n, dims=2, shape=(32, 32),
                                                                       seed=seed)]


def test_predict_cli_writes_nifti_with_input_geometry(smoke_run, tmp_path):
    workdir, _ = smoke_run
    run_module("train.data.phantom", "--out", str(tmp_path / "raw"), "--scanner", "site_b_3t", "--n", "2",
               "--dims", "2", "--shape", "32", "32")
    (dataset,) = list((tmp_path / "raw").iterdir())
    out = tmp_path / "pred"
    proc = run_module("train.predict", "--checkpoint", str(workdir), "--input", str(dataset / "imagesTr"),
                      "--output", str(out), "--noprogress")
    assert "has no dataset.json: channel files _0000, _0001, ... are taken to be the model's channels" in proc.stdout
    assert "wrote 2 predictions" in proc.stdout and "checkpoint step 4" in proc.stdout
    for image in sorted((dataset / "imagesTr").glob("*_0000.nii.gz")):
        case = image.name[: -len("_0000.nii.gz")]
        pred, ref = nib.load(str(out / f"{case}.nii.gz")), nib.load(str(image))
        assert pred.shape == ref.shape
        np.testing.assert_array_equal(pred.affine, ref.affine)
        assert pred.header.get_zooms() == ref.header.get_zooms()
        assert set(np.unique(np.asarray(pred.dataobj)).tolist()) <= {0, 1}
        assert stat.S_IMODE((out / f"{case}.nii.gz").stat().st_mode) == 0o644
    again = run_module("train.predict", "--checkpoint", str(workdir), "--input", str(dataset / "imagesTr"),
                       "--output", str(out), check=False)
    assert again.returncode == 2 and "--overwrite" in again.stderr


def test_a_data_set_root_predicts_imagesTs_else_imagesTr_with_a_note(smoke_run, tmp_path):
    workdir, _ = smoke_run
    labeled = write_dataset(tmp_path / "Dataset590_Tr", phantom_cases("site_c_1.5t_se", n=2, dims=2, shape=(32, 32)))
    report = predict_folder(workdir, labeled, tmp_path / "out_tr")
    assert [p.name for p in report.written] == ["phantom_0000.nii.gz", "phantom_0001.nii.gz"]
    assert any("no test images (imagesTs/): predicting imagesTr/" in n for n in report.notes)
    unlabeled = [dataclasses.replace(c, name=f"test_{i}") for i, c in enumerate(_unlabeled(3))]
    test_set = write_dataset(tmp_path / "Dataset591_Ts", [*phantom_cases(n=1, dims=2, shape=(32, 32)), *unlabeled])
    report = predict_folder(workdir, test_set, tmp_path / "out_ts")
    assert len(report.written) == 3 and not report.notes and not report.skipped  # imagesTs only, no note


def test_channel_names_must_be_the_models(smoke_run, tmp_path):
    workdir, _ = smoke_run
    cases = _unlabeled(1)
    for names in (("T1w", "FLAIR"), ("CT", "PET")):  # same count, other channels: refused before any output
        renamed = [dataclasses.replace(c, channel_names=names) for c in cases]
        root = write_dataset(tmp_path / f"Dataset592_{names[0]}", renamed)
        with pytest.raises(ValueError, match=r"names the channels \(.*\), but the model was trained on "
                                             r"\('FLAIR', 'T1w'\)"):
            predict_folder(workdir, root, tmp_path / "out")
        assert not (tmp_path / "out").exists()
    same = write_dataset(tmp_path / "Dataset593_case", [dataclasses.replace(c, channel_names=("flair", "T1W"))
                                                        for c in cases])
    assert len(predict_folder(workdir, same, tmp_path / "out_case").written) == 1  # names compared without case


def test_an_unusable_case_is_skipped_and_reported_and_the_others_predicted(smoke_run, tmp_path):
    workdir, _ = smoke_run
    good = _unlabeled(4)
    empty = dataclasses.replace(good[1], name="case_b_empty", image=np.zeros_like(good[1].image),
                                mask=np.zeros_like(good[1].mask))
    cases = [dataclasses.replace(good[0], name="case_a"), empty, dataclasses.replace(good[2], name="case_c_missing"),
             dataclasses.replace(good[3], name="case_d")]
    root = write_dataset(tmp_path / "Dataset594_Bad", cases)
    (root / "imagesTs" / "case_c_missing_0001.nii.gz").unlink()
    (root / "imagesTs" / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    proc = run_module("train.predict", "--checkpoint", str(workdir), "--input", str(root), "--output", str(out),
                      "--noprogress", check=False)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == ["case_a.nii.gz", "case_d.nii.gz"]  # before and after the bad one
    assert "wrote 2 predictions" in proc.stdout and "skipped 3 cases" in proc.stdout
    assert "case_b_empty: case 'case_b_empty': empty foreground mask" in proc.stdout
    assert "missing channel file 0001 of case 'case_c_missing'" in proc.stdout
    assert "notes.txt" in proc.stdout and "Traceback" not in proc.stderr


def test_a_work_dir_of_several_runs_lists_them(tmp_path):
    for run in ("none", "randconv"):
        (tmp_path / "qs" / run / "checkpoints").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"holds 2 runs \(none/, randconv/\); pass one of them"):
        predict_folder(tmp_path / "qs", tmp_path, tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="not a training work dir"):
        predict_folder(tmp_path / "empty", tmp_path, tmp_path / "out")


def test_predicting_leaves_a_running_trainings_checkpoints_alone(smoke_run, tmp_path):
    workdir = tmp_path / "run"
    shutil.copytree(smoke_run[0], workdir)
    in_flight = workdir / "checkpoints" / "6.orbax-checkpoint-tmp"  # a save in progress
    (in_flight / "state").mkdir(parents=True)
    (in_flight / "state" / "part").write_bytes(b"half written")
    before = sorted(p.relative_to(workdir) for p in workdir.rglob("*"))
    report = predict_folder(workdir, write_dataset(tmp_path / "Dataset595_Ts", _unlabeled(1)), tmp_path / "out")
    assert len(report.written) == 1 and report.step == 4
    assert sorted(p.relative_to(workdir) for p in workdir.rglob("*")) == before  # nothing removed or added


def test_a_damaged_newest_checkpoint_is_skipped_with_a_note(smoke_run, tmp_path):
    workdir = tmp_path / "run"
    shutil.copytree(smoke_run[0], workdir)
    _corrupt_data(workdir / "checkpoints" / "4")
    report = predict_folder(workdir, write_dataset(tmp_path / "Dataset596_Ts", _unlabeled(1)), tmp_path / "out")
    assert report.step == 2 and len(report.written) == 1
    assert any(n.startswith("checkpoint step 4 could not be restored") for n in report.notes)
    assert (workdir / "checkpoints" / "4").is_dir()  # a reader moves nothing
