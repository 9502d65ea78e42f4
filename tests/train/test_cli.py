"""End to end: the training CLI on the phantom, a phantom-written nnU-Net folder through the same
path, and the prediction CLI writing NIfTI with the input's affine and header."""

import json
import os
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest

from train.configs import smoke
from train.data import phantom_cases, write_dataset
from train.train import train_and_evaluate

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=600)
    if check:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("smoke")
    proc = _run("train", "--config", "train/configs/smoke.py", "--workdir", str(workdir), "--noprogress")
    return workdir, proc


def test_cli_smoke_run_writes_everything(smoke_run):
    workdir, proc = smoke_run
    assert "site_e_3t_ti2500" in proc.stdout and "ndsc" in proc.stdout
    summary = json.loads((workdir / "summary.json").read_text())
    assert set(summary["per_domain"]) == {"site_a_1.5t", "site_e_3t_ti2500"}
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4] and all(np.isfinite(r["loss"]) for r in rows)
    assert (workdir / "checkpoints" / "4").is_dir()
    for name in ("curves.png", "prediction.png", "config.json", "results.txt"):
        assert (workdir / name).stat().st_size > 0, name
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(workdir / "tensorboard"))


def test_cli_refuses_to_overwrite_a_run(smoke_run):
    workdir, _ = smoke_run
    proc = _run("train", "--config", "train/configs/smoke.py", "--workdir", str(workdir), "--noprogress", check=False)
    assert proc.returncode != 0 and "--resume" in proc.stderr


def test_predict_cli_writes_nifti_with_input_geometry(smoke_run, tmp_path):
    workdir, _ = smoke_run
    _run("train.data.phantom", "--out", str(tmp_path / "raw"), "--scanner", "site_b_3t", "--n", "2", "--dims", "2",
         "--shape", "32", "32")
    (dataset,) = list((tmp_path / "raw").iterdir())
    out = tmp_path / "pred"
    _run("train.predict", "--checkpoint", str(workdir), "--input", str(dataset / "imagesTr"), "--output", str(out))
    for image in sorted((dataset / "imagesTr").glob("*_0000.nii.gz")):
        case = image.name[: -len("_0000.nii.gz")]
        pred, ref = nib.load(str(out / f"{case}.nii.gz")), nib.load(str(image))
        assert pred.shape == ref.shape
        np.testing.assert_array_equal(pred.affine, ref.affine)
        assert pred.header.get_zooms() == ref.header.get_zooms()
        assert set(np.unique(np.asarray(pred.dataobj)).tolist()) <= {0, 1}
    again = _run("train.predict", "--checkpoint", str(workdir), "--input", str(dataset / "imagesTr"), "--output",
                 str(out), check=False)
    assert again.returncode != 0 and "--overwrite" in again.stderr


def test_nnunet_folder_trains_through_the_same_path(tmp_path):
    root = write_dataset(tmp_path / "Dataset599_Test", phantom_cases("site_c_1.5t_se", n=5, dims=2, shape=(32, 32)))
    config = smoke.get_config()
    config.data.source = str(root)
    config.data.eval_domains = (str(root), "site_a_1.5t")
    config.data.n_eval = 1
    config.data.cache_dir = str(tmp_path / "cache")
    summaries = train_and_evaluate(config, tmp_path / "run", progress=False)
    (summary,) = summaries.values()
    assert set(summary["per_domain"]) == {"Dataset599_Test", "site_a_1.5t"}
    assert len(summary["metric_per_case"]) == 2
    assert any((tmp_path / "cache").iterdir())
