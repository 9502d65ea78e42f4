"""Preprocessing: z-score statistics, crop / uncrop, resampling, and the disk cache."""

from __future__ import annotations

import dataclasses
import logging
import os
import stat
from pathlib import Path

import numpy as np
import pytest

import train.data.preprocess as pp
from train.data import Case, load_dataset, phantom_cases, preprocess_case, uncrop, write_dataset


@pytest.fixture(scope="module")
def raw3d() -> Case:
    # procedural anatomy: at 6.4 mm voxels its lesions survive halving the resolution (test_resampling)
    return phantom_cases("site_a_1.5t", n=1, dims=3, shape=(20, 28, 24), seed=4, anatomy="procedural")[0]


@pytest.fixture(scope="module")
def raw2d() -> Case:
    return phantom_cases("site_d_lowfield", n=1, dims=2, shape=(40, 36), seed=4)[0]


@pytest.mark.parametrize("which", ["raw2d", "raw3d"])
def test_zscore_and_crop_against_numpy(request, which):
    raw = request.getfixturevalue(which)
    out = preprocess_case(raw)
    mask = raw.mask
    idx = np.nonzero(mask)
    box = tuple((int(i.min()), int(i.max()) + 1) for i in idx)
    assert out.crop_box == box and out.raw_shape == raw.spatial_shape
    sl = tuple(slice(a, b) for a, b in box)
    assert out.spatial_shape == raw.image[sl].shape[:-1]
    np.testing.assert_array_equal(out.mask, mask[sl])
    for c in range(raw.image.shape[-1]):
        x = raw.image[..., c][sl].astype(np.float64)
        m = mask[sl]
        expected = np.where(m, (x - x[m].mean()) / x[m].std(), 0.0)
        np.testing.assert_allclose(out.image[..., c], expected, atol=1e-5)
        assert abs(out.image[..., c][m].mean()) < 1e-5
        assert abs(out.image[..., c][m].std() - 1) < 1e-5
        assert np.all(out.image[..., c][~m] == 0)
    assert out.image.dtype == np.float32 and out.label.dtype == np.int32
    # affine origin moved to the crop start
    start = np.array([a for a, _ in box] + [0] * (3 - len(box)) + [1.0])
    np.testing.assert_allclose(out.affine[:, 3], raw.affine @ start)


def test_crop_uncrop_round_trip(raw3d):
    out = preprocess_case(raw3d)
    np.testing.assert_array_equal(uncrop(out.label, out), raw3d.label)  # lesions lie inside the mask
    np.testing.assert_array_equal(uncrop(out.mask, out), raw3d.mask)
    probs = np.stack([out.label == 0, out.label == 1], -1).astype(np.float32)
    back = uncrop(probs, out)
    assert back.shape == (*raw3d.spatial_shape, 2)
    np.testing.assert_array_equal(back[..., 1], raw3d.label.astype(np.float32))
    with pytest.raises(ValueError, match="pred shape"):
        uncrop(out.label[:-1], out)
    with pytest.raises(ValueError, match="not a preprocessed case"):
        uncrop(raw3d.label, raw3d)
    with pytest.raises(ValueError, match="already preprocessed"):
        preprocess_case(out)


def test_resampling(raw3d):
    sp = np.array(raw3d.spacing)
    target = (sp[0] * 2, sp[1] * 0.5, sp[2])
    base = preprocess_case(raw3d)
    out = preprocess_case(raw3d, target_spacing=target)
    old = np.array(base.spatial_shape)
    expected = np.round(old * sp / np.array(target)).astype(int)
    assert out.spatial_shape == tuple(expected)
    np.testing.assert_allclose(out.spacing, sp * old / expected)
    assert set(np.unique(out.label).tolist()) <= {0, 1} and out.label.dtype == np.int32
    assert out.label.sum() > 0
    assert np.all(out.image[~out.mask] == 0)
    # the grid centre maps to the same world point before and after resampling
    c_old = np.r_[(old - 1) / 2, 1.0]
    c_new = np.r_[(expected - 1) / 2, 1.0]
    np.testing.assert_allclose(out.affine @ c_new, base.affine @ c_old, atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(out.affine[:3, :3], axis=0), out.spacing)
    back = uncrop(out.label, out)
    assert back.shape == raw3d.spatial_shape and back.dtype == np.int32
    assert np.mean(back == raw3d.label) > 0.97
    back_bool = uncrop(out.label == 1, out)
    assert back_bool.dtype == np.bool_
    np.testing.assert_array_equal(back_bool, back == 1)
    back_prob = uncrop(np.stack([out.label == 0, out.label == 1], -1).astype(np.float32), out)
    assert back_prob.shape == (*raw3d.spatial_shape, 2) and back_prob.dtype == np.float32
    with pytest.raises(ValueError, match="target_spacing"):
        preprocess_case(raw3d, target_spacing=(1.0, 1.0))


def test_empty_mask_is_an_error(raw2d):
    empty = dataclasses.replace(raw2d, mask=np.zeros_like(raw2d.mask))
    with pytest.raises(ValueError, match="empty foreground"):
        preprocess_case(empty)


def _counting_reader(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = pp.read_dataset

    def reader(root, *, split="Tr"):
        calls.append(1)
        return real(root, split=split)

    monkeypatch.setattr(pp, "read_dataset", reader)
    return calls


def test_cache_hit_and_invalidation(tmp_path, monkeypatch):
    cases = phantom_cases("site_a_1.5t", n=2, dims=2, shape=(32, 32), seed=9)
    root = write_dataset(tmp_path / "Dataset596_Cache", cases)
    cache = tmp_path / "cache"
    calls = _counting_reader(monkeypatch)
    first = load_dataset(root, cache_dir=cache)
    assert len(calls) == 1
    second = load_dataset(root, cache_dir=cache)
    assert len(calls) == 1  # served from the cache, no NIfTI read
    for a, b in zip(first, second, strict=True):
        for f in dataclasses.fields(Case):
            va, vb = getattr(a, f.name), getattr(b, f.name)
            if isinstance(va, np.ndarray):
                np.testing.assert_array_equal(va, vb)
                assert va.dtype == vb.dtype
            else:
                assert va == vb, f.name
    direct = preprocess_case(cases[0])
    np.testing.assert_allclose(second[0].image, direct.image, atol=0)
    assert not [p for p in cache.rglob("*") if ".tmp" in p.name]  # atomic writes leave no temporary files
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o644 for p in cache.rglob("*") if p.is_file())
    load_dataset(root, cache_dir=cache, target_spacing=(2.0, 2.0))  # settings changed
    assert len(calls) == 2
    load_dataset(root, cache_dir=cache, target_spacing=(2.0, 2.0))
    assert len(calls) == 2
    label = root / "labelsTr" / "phantom_0001.nii.gz"
    st = label.stat()
    os.utime(label, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # source changed
    load_dataset(root, cache_dir=cache)
    assert len(calls) == 3


def test_default_cache_inside_dataset(tmp_path: Path, monkeypatch):
    root = write_dataset(tmp_path / "Dataset595_C", phantom_cases(n=1, dims=2, shape=(24, 24), seed=1))
    calls = _counting_reader(monkeypatch)
    load_dataset(root)
    load_dataset(root)
    assert len(calls) == 1 and (root / ".preprocessed").is_dir()


def test_a_damaged_cache_file_is_named_and_its_entry_rebuilt(tmp_path, monkeypatch, caplog):
    root = write_dataset(tmp_path / "Dataset594_Bad", phantom_cases(n=2, dims=2, shape=(24, 24), seed=4))
    cache = tmp_path / "cache"
    first = load_dataset(root, cache_dir=cache)
    (npz,) = [p for p in cache.rglob("00001.npz")]
    npz.write_bytes(npz.read_bytes()[:100])  # cut short (a full disk, a copy that stopped)
    calls = _counting_reader(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="train.data.preprocess"):
        again = load_dataset(root, cache_dir=cache)
    assert f"preprocessing cache file {npz} is unreadable" in caplog.text and "rebuilding" in caplog.text
    assert len(calls) == 1  # rebuilt from the NIfTI files
    np.testing.assert_array_equal(again[1].image, first[1].image)
    caplog.clear()
    load_dataset(root, cache_dir=cache)
    assert len(calls) == 1 and "unreadable" not in caplog.text  # the rebuilt entry is a hit
    (manifest,) = list(cache.rglob("manifest.json"))
    manifest.write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="train.data.preprocess"):
        load_dataset(root, cache_dir=cache)
    assert f"preprocessing cache file {manifest} is unreadable" in caplog.text and len(calls) == 2


def test_an_unwritable_data_folder_trains_uncached_and_says_to_set_cache_dir(tmp_path, monkeypatch, caplog):
    root = write_dataset(tmp_path / "Dataset593_RO", phantom_cases(n=1, dims=2, shape=(24, 24), seed=5))
    (root / ".preprocessed").write_text("")  # the cache folder cannot be created (as in a read-only folder)
    with caplog.at_level(logging.WARNING, logger="train.data.preprocess"):
        cases = load_dataset(root)
    assert len(cases) == 1 and cases[0].crop_box is not None
    assert "cannot write the preprocessing cache" in caplog.text and "--config.data.cache_dir=DIR" in caplog.text
    calls = _counting_reader(monkeypatch)
    load_dataset(root, cache_dir=tmp_path / "cache")  # with cache_dir set, it caches there
    load_dataset(root, cache_dir=tmp_path / "cache")
    assert len(calls) == 1 and list((tmp_path / "cache").rglob("manifest.json"))
