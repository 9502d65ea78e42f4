"""Atomic writes: mode 0644 whatever the umask, the old file kept when writing fails, no temporary files left."""

import json
import math
import os
import stat

import nibabel as nib
import numpy as np
import pytest

from train._io import FILE_MODE, atomic_save, atomic_write, write_json, write_text


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def strict_umask():
    old = os.umask(0o077)  # a umask under which mkstemp and open would both give 0600
    yield
    os.umask(old)


def test_every_writer_gives_0644_files(tmp_path, strict_umask):
    assert FILE_MODE == 0o644
    paths = [
        write_text(tmp_path / "a.txt", "hello ✓"),
        write_json(tmp_path / "sub" / "b.json", {"x": [1, 2]}),
        atomic_write(tmp_path / "c.bin", lambda f: f.write(b"\x00\x01")),
        atomic_save(tmp_path / "d.npy", lambda name: np.save(name, np.arange(3))),
    ]
    for p in paths:
        assert _mode(p) == 0o644, p
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "hello ✓"
    assert json.loads((tmp_path / "sub" / "b.json").read_text()) == {"x": [1, 2]}
    assert (tmp_path / "c.bin").read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "c.bin", "d.npy", "sub"]


def test_atomic_save_hands_the_writer_a_name_with_the_destination_suffixes(tmp_path):
    seen = []
    img = nib.Nifti1Image(np.ones((3, 4, 5), np.float32), np.eye(4))

    def save(name):
        seen.append(name)
        nib.save(img, name)  # nibabel chooses gzip from the name's ".nii.gz"

    out = atomic_save(tmp_path / "case.nii.gz", save)
    assert seen[0].endswith(".nii.gz") and os.path.dirname(seen[0]) == str(tmp_path)
    assert out.read_bytes()[:2] == b"\x1f\x8b"  # gzip magic: written compressed
    np.testing.assert_array_equal(np.asarray(nib.load(out).dataobj), np.ones((3, 4, 5)))


def test_a_failed_write_keeps_the_old_file_and_leaves_nothing_behind(tmp_path):
    target = write_text(tmp_path / "summary.json", "old")

    def broken(f):
        f.write(b"half of the new conte")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, broken)
    def broken_save(name):
        with open(name, "w") as f:
            f.write("x")
        raise RuntimeError("plot failed")

    with pytest.raises(RuntimeError, match="plot failed"):
        atomic_save(target, broken_save)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_write_json_refuses_nan(tmp_path):
    with pytest.raises(ValueError, match="JSON compliant"):
        write_json(tmp_path / "x.json", {"dice": math.nan})
    assert not list(tmp_path.iterdir())
