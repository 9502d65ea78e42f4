"""The MNI152 template maps: located in nilearn without importing it, derived, cached, sampled."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from train.data.phantom import templates
from train.data.phantom.templates import MapGrid, derived_maps, template_maps, template_paths

REPO = Path(__file__).resolve().parents[4]


@pytest.fixture(scope="module")
def base():
    return derived_maps()[1]


def test_templates_found_without_importing_nilearn():
    code = (
        "import sys; from train.data.phantom.templates import template_paths; p = template_paths(); "
        "print(sorted(p), all(v.is_file() for v in p.values()), 'nilearn' in sys.modules, 'sklearn' in sys.modules)"
    )
    cmd = [sys.executable, "-c", code]
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.split() == ["['gm',", "'t1',", "'wm']", "True", "False", "False"]


def test_template_files_are_the_2009a_symmetric_1mm_grids():
    for k, p in template_paths().items():
        assert "nlin_sym_09a" in p.name
        img = nib.load(p)
        assert img.shape == (197, 233, 189), k
        np.testing.assert_allclose(img.affine[:3, :3], np.eye(3))


def test_missing_nilearn_gives_a_clear_error(monkeypatch):
    monkeypatch.setattr(templates.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match="procedural"):
        template_paths()


def test_derived_maps_are_anatomical(base):
    gm, wm, brain = (base[k].astype(np.float64) / 255 for k in ("gm", "wm", "brain"))
    assert np.all(gm + wm <= brain + 1.5 / 255)  # CSF = brain - GM - WM is never negative
    vent = base["vent"].astype(bool)
    assert 10_000 < vent.sum() < 40_000  # lateral + third ventricles: 10-40 mL at 1 mm
    x_mm = base["origin_mm"][0] + np.arange(vent.shape[0])
    xs = np.broadcast_to(x_mm[:, None, None], vent.shape)[vent]
    assert abs(xs.mean()) < 2 and np.abs(xs).max() < 40  # symmetric template, near the midline
    csf = brain - gm - wm
    assert np.median(csf[vent]) > 0.8  # the average template blurs the ventricle walls
    deep = base["deep"].astype(bool)
    assert 10_000 < deep.sum() < 120_000 and np.all(gm[deep] > 0.3)
    assert np.all(base["cortex_dist"][(gm > 0.5) & ~deep] == 0)
    # signed ventricle distance: negative inside, positive outside, about 1 mm per voxel
    vd = base["vent_dist"].astype(np.float32)
    assert np.all(vd[vent] < 0) and np.all(vd[~vent] > 0)
    assert np.all(base["pial_depth"][brain < 0.01] < 0)


def test_disk_cache_round_trip_and_atomic_write(tmp_path, monkeypatch):
    calls = []
    fake = {"gm": np.arange(24, dtype=np.uint8).reshape(2, 3, 4), "origin_mm": np.array([1.0, 2.0, 3.0])}

    def derive(paths):
        calls.append(paths)
        return dict(fake)

    monkeypatch.setattr(templates, "_derive", derive)
    key, first = derived_maps(tmp_path)
    files = sorted(os.listdir(tmp_path))
    assert files == [f"mni152_maps_{key}.npz"]  # no temporary file left behind
    with np.load(tmp_path / files[0]) as z:
        assert "Louis Collins" in str(z["notice"])  # the template's licence notice travels with the copy
    key2, second = derived_maps(tmp_path)
    assert key2 == key and len(calls) == 1  # read back, not derived again
    np.testing.assert_array_equal(second["gm"], fake["gm"])
    np.testing.assert_array_equal(second["origin_mm"], fake["origin_mm"])


def test_content_key_follows_the_file_bytes(tmp_path):
    paths = template_paths()
    copies = {}
    for k, p in paths.items():
        copies[k] = tmp_path / p.name
        copies[k].write_bytes(p.read_bytes())
    same = templates._content_key(copies)
    assert same == templates._content_key(paths)
    data = bytearray(copies["gm"].read_bytes())
    data[-1] ^= 1
    copies["gm"].write_bytes(bytes(data))
    assert templates._content_key(copies) != same


def test_unwritable_cache_dir_warns_and_still_works(tmp_path, monkeypatch):
    monkeypatch.setattr(templates, "_derive", lambda paths: {"gm": np.zeros((2, 2, 2), np.uint8)})
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.warns(UserWarning, match="not written"):
        _, maps = derived_maps(blocker / "cache")
    assert maps["gm"].shape == (2, 2, 2)


def test_map_grid_sample_matches_scipy_and_outside_values():
    rng = np.random.default_rng(0)
    frac = rng.uniform(size=(20, 22, 24)).astype(np.float32)
    frac[:8] = 0  # an empty region: skipped blocks must still read 0
    dist = rng.normal(size=(20, 22, 24)).astype(np.float32)
    origin = np.array([-10.0, -20.0, 5.0])
    grid = MapGrid.from_maps({"gm": frac, "vent_dist": dist}, origin, 2.0)
    pts = origin + rng.uniform(0, 2.0 * np.array([19, 21, 23]), size=(500, 3))
    got = grid.sample(pts)
    idx = ((pts - origin) / 2.0).T
    for name, arr in (("gm", frac), ("vent_dist", dist)):
        ref = ndimage.map_coordinates(arr.astype(np.float64), idx, order=1)
        np.testing.assert_allclose(got[name], ref, atol=1e-5)
    far = grid.sample(np.array([[500.0, 0, 0], [-500.0, 0, 0]]))
    np.testing.assert_array_equal(far["gm"], 0)
    np.testing.assert_array_equal(far["vent_dist"], 100)  # far from the ventricles
    off = grid.sample(pts[:5], active=np.zeros(5, bool))
    np.testing.assert_array_equal(off["vent_dist"], 100)


def test_resampled_fractions_keep_partial_volume():
    """Footprint averaging keeps the template's tissue volume: sum of fractions x voxel volume."""
    fine, coarse = template_maps(1.40625), template_maps(5.625)
    vol = {}
    for m in (fine, coarse):
        g = m.fractions
        stack = g.stack[2:-2, 2:-2, 2:-2]
        vol[g.spacing_mm] = {k: float(stack[..., i].sum()) * g.spacing_mm**3 for i, k in enumerate(g.names)}
    assert set(vol) == {1.0, 3.0}
    for k in ("gm", "wm", "brain"):
        np.testing.assert_allclose(vol[3.0][k], vol[1.0][k], rtol=0.01)
    gm = fine.fractions.stack[..., fine.fractions.names.index("gm")]
    assert gm.min() >= 0 and gm.max() <= 1


def test_template_maps_bad_voxel():
    with pytest.raises(ValueError, match="voxel_mm"):
        template_maps(0.0)
