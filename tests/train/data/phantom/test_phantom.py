"""Tests of the synthetic multi-scanner MS phantom against the MR-physics sanity rules."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import ndimage

from train.data.phantom import (
    SCANNERS,
    SOURCE_SCANNER,
    TISSUE_PARAMS_1P5T,
    Scanner,
    make_subject,
    render,
    tissue_signals,
)

SHAPE_3D = (48, 48, 48)
SHAPE_2D = (64, 64)
ALL_CHANNELS = ("FLAIR", "T1w", "T2w", "PDw")


@pytest.fixture(scope="module")
def subject3d():
    return make_subject(3, shape=SHAPE_3D, lesion_load="moderate")


@pytest.fixture(scope="module")
def clean3d(subject3d):
    """Source-scanner images without noise, bias and blur: ``(48, 48, 48, 4)``."""
    return render(subject3d, SOURCE_SCANNER, channels=ALL_CHANNELS, noise=False, bias=False, blur=False)


def _means(img: np.ndarray, tissue: np.ndarray) -> dict[int, float]:
    """Mean intensity per tissue label (computed from the label map, independently of the renderer)."""
    return {k: float(img[tissue == k].mean()) for k in range(5) if np.any(tissue == k)}


# ------------------------------------------------------------------ signal equations


def _manual_signal(family, tr, te, ti, flip, t1, t2, t2s, pd):
    e1 = np.exp(-tr / t1)
    if family == "SE":
        return pd * (1 - e1) * np.exp(-te / t2)
    if family == "SPGR":
        a = np.deg2rad(flip)
        return pd * np.sin(a) * (1 - e1) / (1 - np.cos(a) * e1) * np.exp(-te / t2s)
    return abs(pd * (1 - 2 * np.exp(-ti / t1) + e1) * np.exp(-te / t2))


@pytest.mark.parametrize(
    ("family", "tr", "te", "ti", "flip", "expected"),
    [  # relative intensities WM, GM, CSF, lesion from the reference table
        ("SPGR", 18, 10, 0, 30, (1.00, 0.74, 0.30, 0.79)),
        ("SE", 500, 15, 0, 90, (1.00, 0.82, 0.43, 0.88)),
        ("SE", 3300, 120, 0, 90, (1.00, 1.44, 3.63, 3.27)),
        ("SE", 3300, 35, 0, 90, (1.00, 1.19, 1.39, 1.39)),
        ("IR", 9000, 120, 1705, 90, (1.00, 1.16, 0.00, 2.80)),
    ],
)
def test_relative_intensity_table(family, tr, te, ti, flip, expected):
    rows = {"WM": TISSUE_PARAMS_1P5T[3], "GM": TISSUE_PARAMS_1P5T[2], "CSF": TISSUE_PARAMS_1P5T[1]}
    rows["lesion"] = TISSUE_PARAMS_1P5T[4]
    manual = [_manual_signal(family, tr, te, ti, flip, *rows[k]) for k in ("WM", "GM", "CSF", "lesion")]
    np.testing.assert_allclose(np.array(manual) / manual[0], expected, atol=0.01)
    seq = dataclasses.replace(SCANNERS[SOURCE_SCANNER].sequences["T2w"], family=family, tr=tr, te=te, ti=ti)
    seq = dataclasses.replace(seq, flip_deg=flip)
    lib = np.abs(tissue_signals(seq, TISSUE_PARAMS_1P5T[[3, 2, 1, 4]]))
    np.testing.assert_allclose(lib / lib[0], expected, atol=0.01)


# ------------------------------------------------------------------ sanity rules on rendered subjects


def test_flair_lesion_wm_ratio_source(subject3d, clean3d):
    m = _means(clean3d[..., 0], subject3d.tissue)
    assert 2.0 < m[4] / m[3] < 3.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_flair_lesion_wm_ratio_2d(seed):
    s = make_subject(seed, shape=(128, 128), lesion_load="severe")
    img = render(s, channels=("FLAIR",), noise=False, bias=False, blur=False)[..., 0]
    assert s.lesion.sum() > 0
    ratio = img[s.lesion == 1].mean() / img[s.tissue == 3].mean()
    assert 2.0 < ratio < 3.0


def test_csf_darkest_on_flair_and_t1w(subject3d, clean3d):
    for c in (0, 1):  # FLAIR, T1w
        m = _means(clean3d[..., c], subject3d.tissue)
        assert m[1] < min(m[2], m[3], m[4])


def test_lesion_contrast_per_sequence(subject3d, clean3d):
    """Lesions hypo/iso on T1w, hyper on T2w, PDw and FLAIR."""
    m = [_means(clean3d[..., c], subject3d.tissue) for c in range(4)]
    flair, t1w, t2w, pdw = m
    assert t1w[4] < t1w[3]
    assert t2w[4] > t2w[3] and pdw[4] > pdw[3] and flair[4] > flair[3]
    assert t2w[1] > t2w[3]  # CSF bright on T2w


def test_images_nonnegative_and_background_dark(subject3d, clean3d):
    assert clean3d.min() >= 0
    bg = subject3d.fractions[..., 0] == 1.0
    assert np.all(clean3d[bg] < 1e-6)


# ------------------------------------------------------------------ anatomy and labels


def test_subject_structure(subject3d):
    s = subject3d
    assert s.tissue.shape == SHAPE_3D and s.tissue.dtype == np.int8
    assert s.lesion.dtype == np.uint8 and set(np.unique(s.lesion)) <= {0, 1}
    assert s.brain_mask.dtype == bool and s.fractions.shape == (*SHAPE_3D, 5)
    assert s.fractions.dtype == np.float32
    np.testing.assert_allclose(s.fractions.sum(-1), 1.0, atol=1e-5)
    assert s.fractions.min() >= -1e-6
    assert set(np.unique(s.tissue)) == {0, 1, 2, 3, 4}
    assert not s.tissue.flags.writeable
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.voxel_mm = 2.0  # type: ignore[misc]


def test_lesions_inside_wm_and_brain():
    for seed in range(4):
        s = make_subject(seed, shape=SHAPE_3D)
        les = s.lesion.astype(bool)
        assert les.sum() > 0
        assert np.all(s.brain_mask[les])
        assert np.array_equal(les, s.tissue == 4)
        f = s.fractions[les]
        assert np.all(f[:, 1] < 0.5) and np.all(f[:, 2] < 0.5) and np.all(f[:, 0] < 0.5)
        # lesions never overlap background / CSF-dominated voxels of the healthy anatomy
        assert np.all(s.fractions[..., 4][s.tissue <= 2] <= 0.5)


def test_anatomy_layout():
    """Procedural anatomy: background outside, WM inside a GM shell; ventricle CSF near the centre.

    (The template anatomy's layout is tested in test_phantom_anatomy.py: real gyral WM comes
    within two 1.9 mm voxels of the brain surface.)
    """
    s = make_subject(5, shape=(96, 96), anatomy="procedural")
    t = s.tissue
    assert t[0, 0] == 0 and t[-1, -1] == 0
    brain_frac = s.brain_mask.mean()
    assert 0.25 < brain_frac < 0.75
    assert np.any(t[40:56, 35:61] == 1)  # ventricles near the centre
    wm = np.isin(t, (3, 4))
    outer = s.brain_mask & ~ndimage.binary_erosion(s.brain_mask, iterations=2)
    assert not np.any(wm & outer)  # WM is not at the brain surface


def test_lesion_load_varies_and_none():
    loads = [make_subject(0, shape=SHAPE_3D, lesion_load=k).lesion.sum() for k in ("mild", "moderate", "severe")]
    assert loads[0] < loads[2]
    assert make_subject(0, shape=SHAPE_3D, lesion_load="none").lesion.sum() == 0


def test_periventricular_bias():
    """Lesion voxels sit closer to the ventricles than WM voxels on average."""
    closer = 0
    for seed in range(4):
        s = make_subject(seed, shape=(128, 128), lesion_load="severe")
        csf_deep = ndimage.binary_erosion(s.brain_mask, iterations=12) & (s.tissue == 1)
        dist = ndimage.distance_transform_edt(~csf_deep)
        closer += dist[s.lesion == 1].mean() < dist[s.tissue == 3].mean()
    assert closer >= 3


# ------------------------------------------------------------------ determinism


def test_determinism():
    a, b = make_subject(7, shape=SHAPE_2D), make_subject(7, shape=SHAPE_2D)
    np.testing.assert_array_equal(a.fractions, b.fractions)
    np.testing.assert_array_equal(a.lesion, b.lesion)
    ra = render(a, "site_b_3t", seed=4)
    np.testing.assert_array_equal(ra, render(b, "site_b_3t", seed=4))
    c = make_subject(8, shape=SHAPE_2D)
    assert not np.array_equal(a.tissue, c.tissue)
    assert not np.array_equal(ra, render(a, "site_b_3t", seed=5))


def test_no_global_rng_use():
    np.random.seed(0)
    before = np.random.get_state()[1].copy()
    render(make_subject(1, shape=SHAPE_2D), seed=1)
    np.testing.assert_array_equal(before, np.random.get_state()[1])


# ------------------------------------------------------------------ scanners


def test_scanner_table():
    assert len(SCANNERS) >= 5 and SOURCE_SCANNER in SCANNERS
    for sc in SCANNERS.values():
        assert sc.field_t in (1.5, 3.0)
        assert 0 <= sc.noise <= 0.09 and 0 <= sc.bias <= 0.4
        assert {"FLAIR", "T1w"} <= set(sc.sequences)
        assert sc.sequences["FLAIR"].family == "IR"


@pytest.mark.parametrize(("name", "shape"), [(n, s) for n in SCANNERS for s in (SHAPE_2D, SHAPE_3D)])
def test_render_shapes_dtypes(name, shape):
    s = make_subject(0, shape=shape)
    img = render(s, name, channels=("FLAIR", "T1w", "T2w"), seed=1)
    assert img.shape == (*shape, 3) and img.dtype == np.float32
    assert np.all(np.isfinite(img)) and img.min() >= 0


def test_noise_grows_with_noise_level():
    s = make_subject(2, shape=(128, 128))
    bg = ndimage.binary_erosion(s.fractions[..., 0] > 0.999, iterations=3)
    stds = []
    for level in (0.01, 0.03, 0.09):
        sc = dataclasses.replace(SCANNERS[SOURCE_SCANNER], noise=level, bias=0.0)
        img = render(s, sc, channels=("T1w",), seed=0, blur=False)[..., 0]
        wm = render(s, sc, channels=("T1w",), noise=False)[..., 0][s.tissue == 3].mean()
        stds.append(img[bg].std() / wm)
        # Rician background (Rayleigh): std = sigma * sqrt(2 - pi / 2) ~ 0.655 sigma
        np.testing.assert_allclose(stds[-1], 0.655 * level, rtol=0.1)
    assert stds[0] < stds[1] < stds[2]
    noisy = {n: render(s, n, channels=("T1w",), seed=0)[..., 0][bg].std() for n in ("site_b_3t", "site_d_lowfield")}
    assert noisy["site_b_3t"] < noisy["site_d_lowfield"]


def test_bias_field_changes_low_frequency_intensity():
    s = make_subject(4, shape=(128, 128))
    sc = dataclasses.replace(SCANNERS[SOURCE_SCANNER], bias=0.4)
    flat = render(s, sc, channels=("T1w",), noise=False, bias=False)[..., 0]
    biased = render(s, sc, channels=("T1w",), noise=False, seed=3)[..., 0]
    wm = s.tissue == 3
    ratio = biased[wm] / flat[wm]
    assert ratio.min() > 0.78 and ratio.max() < 1.22
    assert ratio.max() - ratio.min() > 0.1  # a visible non-uniformity
    # smooth: the field ratio is nearly the same for neighbouring WM voxels
    field = np.where(flat > 1e-6, biased / np.maximum(flat, 1e-6), 1.0)
    both = wm[:, 1:] & wm[:, :-1]
    assert np.abs(np.diff(field, axis=1)[both]).max() < 0.02
    # different acquisition seeds give different fields
    other = render(s, sc, channels=("T1w",), noise=False, seed=4)[..., 0]
    assert not np.allclose(other, biased)


def test_resolution_blur_reduces_sharpness():
    s = make_subject(1, shape=SHAPE_3D, voxel_mm=1.0)
    ch = ("T1w",)
    sharp = render(s, dataclasses.replace(SCANNERS[SOURCE_SCANNER], bias=0.0), channels=ch, noise=False)[..., 0]
    thick = render(s, dataclasses.replace(SCANNERS["site_d_lowfield"], bias=0.0), channels=ch, noise=False)[..., 0]

    def energy(img, axis):  # high-frequency energy along one axis
        return float((np.diff(img, axis=axis) ** 2).mean())

    assert energy(thick, 0) < 0.3 * energy(sharp, 0)  # 5 mm slices blur along the slice axis (axis 0)
    assert energy(thick, 0) / energy(sharp, 0) < energy(thick, 2) / energy(sharp, 2)  # more than in-plane


def test_strongly_different_scanner_flips_flair_csf():
    """Site E (TI 2500 ms) does not null CSF: CSF is brighter than WM on its FLAIR, unlike the source.

    Nominal tissue parameters (no per-subject jitter): near the null, a 2 % CSF T1 jitter moves
    CSF / WM on site E's FLAIR between about 1.2 and 1.6, which is the subject's draw, not the scanner.
    """
    s = dataclasses.replace(make_subject(6, shape=(128, 128)), param_jitter=np.ones((5, 4)))
    src = render(s, SOURCE_SCANNER, noise=False, bias=False, blur=False)
    tgt = render(s, "site_e_3t_ti2500", noise=False, bias=False, blur=False)
    core_csf = ndimage.binary_erosion(s.tissue == 1)
    m_src = src[..., 0][core_csf].mean() / src[..., 0][s.tissue == 3].mean()
    m_tgt = tgt[..., 0][core_csf].mean() / tgt[..., 0][s.tissue == 3].mean()
    assert m_src < 0.2 and m_tgt > 1.2
    gm_wm_src = src[..., 1][s.tissue == 2].mean() / src[..., 1][s.tissue == 3].mean()
    gm_wm_tgt = tgt[..., 1][s.tissue == 2].mean() / tgt[..., 1][s.tissue == 3].mean()
    assert gm_wm_tgt > gm_wm_src  # weaker T1w GM / WM contrast


def test_3t_lengthens_t1_contrast():
    """At 3 T, WM T1 ~ 652 ms and GM ~ 1081 ms (Rooney et al.)."""
    from train.data.phantom import tissue_params

    p = tissue_params(3.0)
    np.testing.assert_allclose(p[3, 0], 652, atol=2)
    np.testing.assert_allclose(p[2, 0], 1081, atol=2)
    np.testing.assert_allclose(p[1, 0], 2569)


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"shape": (64,)}, "shape"),
        ({"shape": (8, 8, 8, 8)}, "shape"),
        ({"shape": (64, 0)}, "shape"),
        ({"shape": (64, -3)}, "shape"),
        ({"shape": 64}, "shape"),
        ({"shape": (64, 64), "voxel_mm": 0.0}, "voxel_mm"),
        ({"shape": (64, 64), "lesion_load": "huge"}, "lesion_load"),
    ],
)
def test_make_subject_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_subject(0, **kwargs)


def test_render_bad_input():
    s = make_subject(0, shape=SHAPE_2D)
    with pytest.raises(ValueError, match="scanner"):
        render(s, "no_such_scanner")
    with pytest.raises(ValueError, match="channels"):
        render(s, channels=("DWI",))
    with pytest.raises(ValueError, match="channels"):
        render(s, channels="FLAIR")
    with pytest.raises(ValueError, match="channels"):
        render(s, channels=())
    with pytest.raises(ValueError, match="family"):
        dataclasses.replace(SCANNERS[SOURCE_SCANNER].sequences["T1w"], family="EPI")
    assert isinstance(SCANNERS[SOURCE_SCANNER], Scanner)
