"""nnU-Net raw layout: round trips, the phantom export (library and CLI) and every bad-input error."""

from __future__ import annotations

import dataclasses
import gzip
import json
import shutil
import stat
import struct
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from train.data import Case, phantom_cases, read_dataset, read_dataset_json, write_dataset
from train.data.phantom import SCANNERS, dataset_dir_name

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def cases2d() -> list[Case]:
    return phantom_cases("site_b_3t", n=3, dims=2, shape=(32, 32), seed=1)


@pytest.fixture(scope="module")
def cases3d() -> list[Case]:
    return phantom_cases("site_c_1.5t_se", n=2, dims=3, shape=(16, 20, 24), seed=2)


@pytest.fixture(scope="module")
def good_root(tmp_path_factory, cases3d) -> Path:
    return write_dataset(tmp_path_factory.mktemp("good") / "Dataset599_Good", cases3d)


@pytest.fixture
def root(tmp_path, good_root) -> Path:
    """A fresh copy of a valid 3D data set (cases phantom_0000, phantom_0001; channels FLAIR, T1w)."""
    dst = tmp_path / good_root.name
    shutil.copytree(good_root, dst)
    return dst


def _assert_same(a: Case, b: Case) -> None:
    assert a.name == b.name and a.domain == b.domain and a.channel_names == b.channel_names
    np.testing.assert_array_equal(a.image, b.image)
    assert a.image.dtype == b.image.dtype == np.float32
    np.testing.assert_array_equal(a.label, b.label)
    assert b.label.dtype == np.int32
    np.testing.assert_array_equal(a.mask, b.mask)
    np.testing.assert_allclose(a.affine, b.affine, atol=1e-6)
    np.testing.assert_allclose(a.spacing, b.spacing, rtol=1e-6)


@pytest.mark.parametrize("which", ["cases2d", "cases3d"])
def test_round_trip_equals_in_memory_phantom(tmp_path, request, which):
    cases = request.getfixturevalue(which)
    root = write_dataset(tmp_path / "Dataset598_RT", cases)
    meta = read_dataset_json(root)
    assert meta["channel_names"] == {"0": "FLAIR", "1": "T1w"}
    assert meta["labels"] == {"background": 0, "lesion": 1}
    assert meta["numTraining"] == len(cases) and meta["file_ending"] == ".nii.gz"
    assert sorted(p.name for p in (root / "labelsTr").iterdir()) == [f"{c.name}.nii.gz" for c in cases]
    on_disk = nib.load(root / "imagesTr" / f"{cases[0].name}_0001.nii.gz")
    expected_shape = cases[0].spatial_shape + ((1,) if which == "cases2d" else ())
    assert on_disk.shape == expected_shape  # one file per channel, axes as stored, 2D as (H, W, 1)
    files = [p for p in root.rglob("*") if p.is_file()]
    assert files and all(stat.S_IMODE(p.stat().st_mode) == 0o644 for p in files)  # atomic writes, not 0600
    assert not [p for p in files if p.name.startswith(".")]  # no temporary files left
    back = read_dataset(root)
    assert len(back) == len(cases)
    for a, b in zip(cases, back, strict=True):
        _assert_same(a, b)


def test_imagesTs_unlabeled(tmp_path, cases2d):
    unl = [dataclasses.replace(c, label=None) for c in cases2d[:2]]
    root = write_dataset(tmp_path / "Dataset597_Ts", [cases2d[2], *unl])
    assert read_dataset_json(root)["numTraining"] == 1
    ts = read_dataset(root, split="Ts")
    assert [c.name for c in ts] == [c.name for c in unl]
    assert all(c.label is None for c in ts)
    np.testing.assert_array_equal(ts[0].image, unl[0].image)
    assert [c.name for c in read_dataset(root)] == [cases2d[2].name]
    with pytest.raises(ValueError, match="split"):
        read_dataset(root, split="Val")


def test_write_refuses_non_empty_without_overwrite(root, cases3d):
    with pytest.raises(FileExistsError, match=root.name):
        write_dataset(root, cases3d)
    write_dataset(root, cases3d[:1], overwrite=True)
    assert [c.name for c in read_dataset(root)] == [cases3d[0].name]


def test_cli_writes_readable_datasets_same_subjects(tmp_path):
    cmd = [sys.executable, "-m", "train.data.phantom", "--out", str(tmp_path), "--n", "2", "--shape", "24", "24"]
    cmd += ["--seed", "5"]
    subprocess.run(cmd, check=True, cwd=REPO, capture_output=True, text=True, timeout=120)
    dirs = sorted(p.name for p in tmp_path.iterdir())
    assert dirs == sorted(dataset_dir_name(s, 2) for s in SCANNERS)
    assert all(1 <= int(d[7:10]) - 500 <= 99 for d in dirs)  # IDs 5xx, never the reserved 001-010
    labels = None
    for scanner in SCANNERS:
        root = tmp_path / dataset_dir_name(scanner, 2)
        meta = read_dataset_json(root)
        assert meta["phantom"]["scanner"] == scanner and meta["phantom"]["seed"] == 5
        back = read_dataset(root)
        for a, b in zip(phantom_cases(scanner, n=2, dims=2, shape=(24, 24), seed=5), back, strict=True):
            _assert_same(a, b)
        lab = np.stack([c.label for c in back])
        labels = lab if labels is None else labels
        np.testing.assert_array_equal(lab, labels)  # same subjects under every scanner


# ----------------------------------------------------------------------------- bad input


def _rewrite(path: Path, data: np.ndarray, affine: np.ndarray | None = None) -> None:
    old = nib.load(path)
    nib.save(nib.Nifti1Image(data, old.affine if affine is None else affine), path)


def _img(root: Path, case: str = "phantom_0001", ch: int = 1) -> Path:
    return root / "imagesTr" / f"{case}_{ch:04d}.nii.gz"


def _lab(root: Path, case: str = "phantom_0001") -> Path:
    return root / "labelsTr" / f"{case}.nii.gz"


def _json(root: Path, **changes) -> None:
    meta = json.loads((root / "dataset.json").read_text())
    meta.update(changes)
    (root / "dataset.json").write_text(json.dumps(meta))


def _load(path: Path) -> np.ndarray:
    return np.asanyarray(nib.load(path).dataobj)


def _missing_channel(root):
    _img(root).unlink()
    return _img(root).name


def _shape_mismatch(root):
    _rewrite(_img(root), _load(_img(root))[:-1])
    return _img(root).name


def _affine_mismatch(root):
    aff = nib.load(_img(root)).affine.copy()
    aff[0, 3] += 2.0
    _rewrite(_img(root), _load(_img(root)), aff)
    return _img(root).name


def _set_voxel_size(path, axis, value):
    """Writes ``value`` into the stored header's pixdim[1 + axis] (nibabel itself would not write a 0)."""
    raw = bytearray(gzip.decompress(path.read_bytes()))
    offset = 76 + 4 * (1 + axis)  # NIfTI-1: pixdim is float32[8] at byte 76
    raw[offset : offset + 4] = struct.pack("<f", value)
    path.write_bytes(gzip.compress(bytes(raw)))


def _voxel_size_nan(root):
    _set_voxel_size(_img(root, ch=0), 0, np.nan)
    return _img(root, ch=0).name


def _voxel_size_zero(root):
    _set_voxel_size(_img(root, ch=0), 1, 0.0)
    return _img(root, ch=0).name


def _label_shape_mismatch(root):
    _rewrite(_lab(root), _load(_lab(root))[:, :-1])
    return _lab(root).name


def _label_affine_mismatch(root):
    aff = nib.load(_lab(root)).affine.copy()
    aff[1, 1] *= 2
    _rewrite(_lab(root), _load(_lab(root)), aff)
    return _lab(root).name


def _label_non_integer(root):
    lab = _load(_lab(root)).astype(np.float32)
    lab[0, 0, 0] = 0.5
    _rewrite(_lab(root), lab)
    return _lab(root).name


def _label_unknown_value(root):
    lab = _load(_lab(root)).copy()
    lab[0, 0, 0] = 2
    _rewrite(_lab(root), lab)
    return _lab(root).name


def _image_nan(root):
    img = _load(_img(root)).copy()
    img[3, 4, 5] = np.nan
    _rewrite(_img(root), img)
    return _img(root).name


def _image_inf(root):
    img = _load(_img(root, ch=0)).copy()
    img[3, 4, 5] = np.inf
    _rewrite(_img(root, ch=0), img)
    return _img(root, ch=0).name


def _truncated(root):
    raw = _img(root).read_bytes()
    _img(root).write_bytes(raw[: len(raw) // 2])
    return _img(root).name


def _truncated_uncompressed_payload(root):
    data = gzip.decompress(_img(root).read_bytes())
    _img(root).write_bytes(gzip.compress(data[: len(data) - 100]))
    return _img(root).name


def _garbage(root):
    _lab(root).write_bytes(b"not a nifti file at all")
    return _lab(root).name


def _stray_image(root):
    for ch in (0, 1):
        shutil.copy(_img(root, ch=ch), _img(root, "extra_case", ch))
    return "extra_case_0000.nii.gz"


def _stray_label(root):
    shutil.copy(_lab(root), _lab(root, "orphan"))
    return "orphan.nii.gz"


def _bad_file_name(root):
    shutil.copy(_img(root), root / "imagesTr" / "phantom_0001_T1.nii.gz")
    return "phantom_0001_T1.nii.gz"


def _unknown_channel(root):
    shutil.copy(_img(root), _img(root, ch=2))
    return _img(root, ch=2).name


def _wrong_ending(root):
    shutil.copy(_lab(root), root / "labelsTr" / "phantom_0001.nii")
    return "phantom_0001.nii"


def _json_invalid(root):
    (root / "dataset.json").write_text("{'channel_names': ")
    return "dataset.json"


def _json_v1_labels(root):
    _json(root, labels={"0": "background", "1": "lesion"})
    return "dataset.json"


def _json_missing_key(root):
    meta = json.loads((root / "dataset.json").read_text())
    del meta["file_ending"]
    (root / "dataset.json").write_text(json.dumps(meta))
    return "dataset.json"


def _json_bad_channels(root):
    _json(root, channel_names={"FLAIR": 0})
    return "dataset.json"


def _json_background_not_zero(root):
    _json(root, labels={"background": 1, "lesion": 0})
    return "dataset.json"


def _json_bad_ending(root):
    _json(root, file_ending=".mha")
    return "dataset.json"


def _json_num_training(root):
    _json(root, numTraining=5)
    return "dataset.json"


def _json_missing(root):
    (root / "dataset.json").unlink()
    return "dataset.json"


BAD = [
    _missing_channel,
    _shape_mismatch,
    _affine_mismatch,
    _voxel_size_nan,
    _voxel_size_zero,
    _label_shape_mismatch,
    _label_affine_mismatch,
    _label_non_integer,
    _label_unknown_value,
    _image_nan,
    _image_inf,
    _truncated,
    _truncated_uncompressed_payload,
    _garbage,
    _stray_image,
    _stray_label,
    _bad_file_name,
    _unknown_channel,
    _wrong_ending,
    _json_invalid,
    _json_v1_labels,
    _json_missing_key,
    _json_bad_channels,
    _json_background_not_zero,
    _json_bad_ending,
    _json_num_training,
    _json_missing,
]


@pytest.mark.parametrize("corrupt", BAD, ids=[f.__name__.lstrip("_") for f in BAD])
def test_bad_input_error_names_file(root, corrupt):
    name = corrupt(root)
    with pytest.raises((ValueError, FileNotFoundError)) as info:
        read_dataset(root)
    assert name in str(info.value)


@pytest.mark.parametrize("corrupt", [_voxel_size_nan, _voxel_size_zero])
def test_a_bad_voxel_size_is_an_error_not_a_resampling_to_one_voxel(root, corrupt):
    corrupt(root)
    with pytest.raises(ValueError, match=r"voxel size \(.*\) mm \(header pixdim\) must be finite and positive"):
        read_dataset(root)


def test_v1_label_direction_message(root):
    _json_v1_labels(root)
    with pytest.raises(ValueError, match="v1 direction"):
        read_dataset_json(root)


def test_scanner_figure(tmp_path):
    from train.data.phantom.figures import scanner_figure

    out = scanner_figure(tmp_path / "fig.png", shape=(24, 32, 32))
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stat().st_size < 300_000
