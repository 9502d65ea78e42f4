"""The template anatomy: fractions, real folding, per-subject variation, atrophy, determinism, procedural mode."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage, spatial

from train.data.phantom import folding_index, make_subject, render
from train.data.phantom.anatomy import SLICE_Z_RANGE_MNI, infratentorial, template_anatomy
from train.data.phantom.physics import BACKGROUND, CSF, GM, LESION, WM
from train.data.phantom.templates import template_maps


@pytest.fixture(scope="module")
def subjects2d():
    return [make_subject(seed, shape=(128, 128)) for seed in range(4)]


@pytest.fixture(scope="module")
def subject3d():
    return make_subject(11, shape=(40, 48, 48), lesion_load="moderate")


def test_default_is_template(subjects2d, subject3d):
    assert all(s.anatomy == "template" for s in (*subjects2d, subject3d))
    assert subjects2d[0].voxel_mm == pytest.approx(180 / 128)


@pytest.mark.parametrize("which", ["2d", "3d"])
def test_fractions_sum_to_one_and_csf_is_the_rest(which, subjects2d, subject3d):
    for s in subjects2d if which == "2d" else [subject3d]:
        f = s.fractions.astype(np.float64)
        assert f.min() >= 0 and f.max() <= 1
        np.testing.assert_allclose(f.sum(-1), 1.0, atol=1e-5)
        inside = s.brain_mask
        np.testing.assert_allclose(f[inside].sum(-1), 1.0, atol=1e-5)
        # CSF = brain - GM - WM (lesion fraction counted as WM)
        brain = 1 - f[..., BACKGROUND]
        np.testing.assert_allclose(f[..., CSF], brain - f[..., GM] - f[..., WM] - f[..., LESION], atol=1e-5)
        assert set(np.unique(s.tissue)) >= {0, 1, 2, 3}
        # the field of view holds the whole brain in-plane: the border is background
        assert not s.brain_mask[..., 0, :].any() and not s.brain_mask[..., :, -1].any()


def _contour_length_ref(mask: np.ndarray) -> float:
    """Boundary length from scipy alone: pixel-edge count corrected for staircase (x pi/4 for random angles)."""
    m = np.pad(mask, 1).astype(np.int8)
    edges = np.abs(np.diff(m, axis=0)).sum() + np.abs(np.diff(m, axis=1)).sum()
    return float(edges) * np.pi / 4


def test_folding_index_against_reference_shapes():
    yy, xx = np.mgrid[:200, :200]
    disc = (yy - 100) ** 2 + (xx - 100) ** 2 < 60**2
    assert folding_index(disc) == pytest.approx(1.0, abs=0.06)
    ring = disc & ~((yy - 100) ** 2 + (xx - 100) ** 2 < 30**2)
    assert folding_index(ring) == pytest.approx(folding_index(disc))  # holes do not count
    # a gear-like (folded) outline is longer than its hull
    ang = np.arctan2(yy - 100, xx - 100)
    gear = np.hypot(yy - 100, xx - 100) < 60 + 15 * np.sin(12 * ang)
    fi = folding_index(gear)
    pts = np.argwhere(gear)
    hull = spatial.ConvexHull(pts).area
    assert fi == pytest.approx(_contour_length_ref(gear) / hull, rel=0.12)
    assert fi > 1.3
    with pytest.raises(ValueError, match="2D"):
        folding_index(np.zeros((4, 4, 4), bool))


def test_wm_folding_index_on_mid_axial_slices(subjects2d):
    """WM outline / convex-hull perimeter >= 1.8 at the phantom's 1.4 mm grid (the ovoid phantom: about 1.05)."""
    for s in subjects2d:
        wm = (s.fractions[..., WM] + s.fractions[..., LESION]) > 0.5
        assert folding_index(wm) >= 1.8, s.params
    old = make_subject(0, shape=(128, 128), anatomy="procedural")
    assert folding_index((old.fractions[..., WM] + old.fractions[..., LESION]) > 0.5) < 1.2


def test_3d_mid_slices_are_folded_too():
    s = make_subject(2, shape=(24, 128, 128), voxel_mm=180 / 128, lesion_load="none")
    for k in (8, 12, 16):
        assert folding_index(s.fractions[k, ..., WM] > 0.5) >= 1.8


def test_template_layout(subjects2d):
    """No WM touches the background (a GM / CSF layer always covers it); ventricles near the centre; deep GM."""
    for s in subjects2d:
        t = s.tissue
        ring = s.brain_mask & ~ndimage.binary_erosion(s.brain_mask)
        assert not np.any(np.isin(t, (3, 4)) & ring)
        deep_csf = ndimage.binary_erosion(s.brain_mask, iterations=15) & (t == 1)
        cy, cx = np.argwhere(deep_csf).mean(0)
        assert abs(cy - 64) < 20 and abs(cx - 64) < 10  # the ventricles sit mid-brain, on the midline
        assert SLICE_Z_RANGE_MNI[0] <= s.params["center_z_mm"] <= SLICE_Z_RANGE_MNI[1]


def test_subjects_differ_and_are_deterministic():
    a, b = make_subject(3, shape=(96, 96)), make_subject(3, shape=(96, 96))
    for name in ("fractions", "tissue", "lesion", "brain_mask", "param_jitter"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.params == b.params
    c = make_subject(4, shape=(96, 96))
    assert a.params["scale"] != c.params["scale"] and a.params["center_z_mm"] != c.params["center_z_mm"]
    dice = 2 * np.sum(a.brain_mask & c.brain_mask) / (a.brain_mask.sum() + c.brain_mask.sum())
    assert dice < 0.99  # different brains, not just different lesions
    wm_a, wm_c = a.tissue == 3, c.tissue == 3
    assert 2 * np.sum(wm_a & wm_c) / (wm_a.sum() + wm_c.sum()) < 0.9


def test_3d_determinism_bit_for_bit():
    a, b = make_subject(5, shape=(24, 28, 32)), make_subject(5, shape=(24, 28, 32))
    np.testing.assert_array_equal(a.fractions, b.fractions)
    np.testing.assert_array_equal(render(a, "site_c_1.5t_se", seed=2), render(b, "site_c_1.5t_se", seed=2))


def test_atrophy_moves_tissue_to_csf():
    shape, v = (96, 96), 1.875
    maps = template_maps(v)

    def anat(atrophy):
        return template_anatomy(np.random.default_rng(9), shape, v, maps, atrophy_mm=atrophy)

    base, vent, thin = anat((0.0, 0.0)), anat((3.0, 0.0)), anat((0.0, 0.6))
    f0, fv, ft = base.fractions, vent.fractions, thin.fractions
    np.testing.assert_array_equal(f0[..., BACKGROUND], fv[..., BACKGROUND])  # same brain outline
    for f in (fv, ft):
        assert np.all(f[..., CSF] >= f0[..., CSF] - 1e-6)
        assert np.all(f[..., GM] + f[..., WM] <= f0[..., GM] + f0[..., WM] + 1e-6)
    gained = (fv[..., CSF] - f0[..., CSF]).sum() * v**2  # mm^2 of CSF in the slice
    assert gained > 50
    where = (fv[..., CSF] - f0[..., CSF]) > 0.05
    assert np.all(base.vent_dist[where] < 3.0 + v)  # only next to the ventricles
    np.testing.assert_allclose(ft[..., WM], f0[..., WM])  # cortical thinning spares WM
    assert (f0[..., GM] - ft[..., GM]).sum() > 10 / v**2
    # the drawn values are reported
    assert vent.params["ventricle_enlargement_mm"] == 3.0 and thin.params["cortical_thinning_mm"] == 0.6


def test_infratentorial_rule_on_landmarks():
    pts = np.array(
        [
            [0, -25, -30],  # pons
            [20, -60, -30],  # cerebellar hemisphere
            [10, -18, 8],  # thalamus
            [40, -10, -20],  # temporal lobe WM
            [20, -85, 10],  # occipital lobe
        ],
        float,
    )
    np.testing.assert_array_equal(infratentorial(pts), [True, True, False, False, False])


def test_3d_volume_contains_brainstem_and_cerebellum():
    s = make_subject(1, shape=(64, 64, 64), lesion_load="none")
    z_wm = np.argwhere(s.tissue == 3)[:, 0]
    assert z_wm.min() < 20  # WM reaches down into the cerebellum / brainstem (axis 0 points up)


def test_procedural_mode_still_works():
    s = make_subject(0, shape=(32, 32, 32), anatomy="procedural", lesion_load="severe")
    assert s.anatomy == "procedural" and s.lesion.sum() > 0
    np.testing.assert_allclose(s.fractions.sum(-1), 1.0, atol=1e-5)
    img = render(s, "site_e_3t_ti2500", seed=1)
    assert img.shape == (32, 32, 32, 2) and np.isfinite(img).all()
    with pytest.raises(ValueError, match="anatomy"):
        make_subject(0, shape=(32, 32), anatomy="atlas")


def test_procedural_needs_no_templates(monkeypatch):
    import train.data.phantom.templates as templates

    caches = (templates._derived_cached, templates._fraction_grid, templates._distance_grid)
    monkeypatch.setattr(templates.importlib.util, "find_spec", lambda name: None)
    for cache in caches:
        cache.cache_clear()
    try:
        make_subject(0, shape=(24, 24), anatomy="procedural")
        with pytest.raises(ModuleNotFoundError, match="nilearn"):
            make_subject(0, shape=(24, 24))
    finally:
        for cache in caches:
            cache.cache_clear()
