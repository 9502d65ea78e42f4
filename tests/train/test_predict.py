"""The prediction CLI: NIfTI outputs with the input's geometry, refusing to overwrite."""

import stat

import nibabel as nib
import numpy as np

from tests.train.conftest import run_module


def test_predict_cli_writes_nifti_with_input_geometry(smoke_run, tmp_path):
    workdir, _ = smoke_run
    run_module("train.data.phantom", "--out", str(tmp_path / "raw"), "--scanner", "site_b_3t", "--n", "2",
               "--dims", "2", "--shape", "32", "32")
    (dataset,) = list((tmp_path / "raw").iterdir())
    out = tmp_path / "pred"
    run_module("train.predict", "--checkpoint", str(workdir), "--input", str(dataset / "imagesTr"), "--output",
               str(out))
    for image in sorted((dataset / "imagesTr").glob("*_0000.nii.gz")):
        case = image.name[: -len("_0000.nii.gz")]
        pred, ref = nib.load(str(out / f"{case}.nii.gz")), nib.load(str(image))
        assert pred.shape == ref.shape
        np.testing.assert_array_equal(pred.affine, ref.affine)
        assert pred.header.get_zooms() == ref.header.get_zooms()
        assert set(np.unique(np.asarray(pred.dataobj)).tolist()) <= {0, 1}
        assert stat.S_IMODE((out / f"{case}.nii.gz").stat().st_mode) == 0o644
    again = run_module("train.predict", "--checkpoint", str(workdir), "--input", str(dataset / "imagesTr"), "--output",
                 str(out), check=False)
    assert again.returncode != 0 and "--overwrite" in again.stderr
