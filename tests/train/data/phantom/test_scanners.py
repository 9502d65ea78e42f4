"""The held-out scanner profiles: MPRAGE physics, k-space acquisition, contrasts, groups, determinism, docs."""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from train.data.phantom import SCANNERS, SOURCE_SCANNER, Sequence, make_subject, render, tissue_params, tissue_signals
from train.data.phantom import scanners as scanners_module
from train.data.phantom.contrast import contrast_ratios, profile_table, shift_group, shift_reasons
from train.data.phantom.physics import CSF, GM, LESION, WM, mprage_mz
from train.data.phantom.render import slice_positions
from train.data.sources import PHANTOM_SHIFTS

REPO = Path(__file__).resolve().parents[4]
NEW = ("site_f_3t_3d", "site_g_0.55t", "site_h_3t_te81", "site_i_1.5t_3dflair", "site_j_3t_irspgr")

# ------------------------------------------------------------------ MPRAGE signal equation


def _mprage_bloch(seq: Sequence, t1: float, n_cycles: int = 60) -> float:
    """Mz before the k-space-centre pulse by stepping the magnetization event by event (oracle).

    Exact relaxation Mz -> 1 - (1 - Mz) e^(-dt/T1) between events, inversion Mz -> -Mz, each
    readout pulse Mz -> cos a Mz, repeated over ``n_cycles`` inversions from Mz = 1.
    """
    ca = np.cos(np.deg2rad(seq.flip_deg))
    n, nc = seq.n_readout, seq.n_readout // 2
    ta = seq.ti - nc * seq.echo_spacing
    td = seq.tr - ta - n * seq.echo_spacing

    def relax(mz, dt):
        return 1 - (1 - mz) * np.exp(-dt / t1)

    mz, at_centre = 1.0, None
    for _ in range(n_cycles):
        mz = relax(-mz, ta)
        for k in range(n):
            if k == nc:
                at_centre = mz
            mz = relax(ca * mz, seq.echo_spacing)
        mz = relax(mz, td)
    return float(at_centre)


@pytest.mark.parametrize(
    "seq",
    [
        Sequence("MPRAGE", tr=2300.0, te=3.0, ti=900.0, flip_deg=9.0, echo_spacing=7.0, n_readout=176),
        Sequence("MPRAGE", tr=1500.0, te=3.0, ti=450.0, flip_deg=12.0, echo_spacing=8.0, n_readout=96),
        Sequence("MPRAGE", tr=3000.0, te=3.0, ti=1100.0, flip_deg=20.0, echo_spacing=10.0, n_readout=51),
    ],
)
def test_mprage_closed_form_matches_event_by_event_simulation(seq):
    t1 = np.array([341.0, 500.0, 652.0, 1081.0, 2569.0, 4000.0])
    closed = mprage_mz(seq, t1)
    sim = np.array([_mprage_bloch(seq, float(t)) for t in t1])
    np.testing.assert_allclose(closed, sim, atol=1e-9)


def test_mprage_signal_and_t1_contrast():
    seq = SCANNERS["site_f_3t_3d"].sequences["T1w"]
    p = tissue_params(3.0)
    s = np.abs(tissue_signals(seq, p))
    t1, t2s, pd = p[:, 0], p[:, 2], p[:, 3]
    expected = pd * np.sin(np.deg2rad(seq.flip_deg)) * np.abs(mprage_mz(seq, t1)) * np.exp(-seq.te / t2s)
    np.testing.assert_allclose(s, expected, rtol=1e-12)
    assert s[WM] > s[LESION] > s[CSF] and s[WM] > s[GM] > s[CSF]  # T1w ordering
    with pytest.raises(ValueError, match="MPRAGE"):
        Sequence("MPRAGE", tr=1000.0, te=3.0, ti=200.0, flip_deg=9.0, echo_spacing=7.0, n_readout=176)
    with pytest.raises(ValueError, match="n_readout"):
        Sequence("MPRAGE", tr=2300.0, te=3.0, ti=900.0, flip_deg=9.0, echo_spacing=7.0, n_readout=0)


def test_slice_positions():
    np.testing.assert_allclose(slice_positions(10, 3.0), [0.0, 3.0, 6.0, 9.0])
    pos = slice_positions(48, 6.0 / 1.4)
    assert np.allclose(np.diff(pos), 6.0 / 1.4) and pos[0] >= 0 and pos[-1] <= 47
    np.testing.assert_allclose(pos[0], 47 - pos[-1])  # centred


# ------------------------------------------------------------------ profiles


@pytest.fixture(scope="module")
def subject2d():
    return dataclasses.replace(make_subject(6, shape=(96, 96), lesion_load="severe"), param_jitter=np.ones((5, 4)))


@pytest.fixture(scope="module")
def subject3d():
    return make_subject(2, shape=(40, 48, 48), lesion_load="moderate")


def _tissue_means(img, s):
    """Mean per tissue over nearly pure voxels (fraction > 0.9), independently of the renderer."""
    return {k: float(img[s.fractions[..., k] > 0.9].mean()) for k in (CSF, GM, WM, LESION)}


def test_profile_set_and_groups_follow_the_rule():
    assert len(SCANNERS) - 1 >= 8 and set(NEW) <= set(SCANNERS)
    assert {SCANNERS[n].field_t for n in SCANNERS} == {0.55, 1.5, 3.0}
    families = {sc.sequences["T1w"].family for sc in SCANNERS.values()}
    assert families == {"SE", "SPGR", "MPRAGE"}
    assert any(sc.kspace and sc.partial_fourier < 1 and sc.pf_recon == r for sc in SCANNERS.values()
               for r in ("zero_fill", "homodyne"))
    for name, group in PHANTOM_SHIFTS.items():
        assert shift_group(name) == group, (name, shift_reasons(name))
    groups = list(PHANTOM_SHIFTS.values())
    assert 4 <= groups.count("mild shift") <= 5 and 4 <= groups.count("strong shift") <= 5
    assert shift_group(SOURCE_SCANNER) == "mild shift" and not shift_reasons(SOURCE_SCANNER)


@pytest.mark.parametrize("name", list(SCANNERS))
def test_every_profile_renders_finite_positive_with_its_contrast_orderings(name, subject2d):
    img = render(subject2d, name, channels=("FLAIR", "T1w", "T2w", "PDw"), seed=2)
    assert img.dtype == np.float32 and np.all(np.isfinite(img)) and img.min() >= 0
    assert np.all(img[subject2d.brain_mask].mean(0) > 0)
    clean = render(subject2d, name, channels=("FLAIR", "T1w"), noise=False, bias=False, blur=False)
    r = contrast_ratios(name)
    for c, ch in enumerate(("FLAIR", "T1w")):
        m = _tissue_means(clean[..., c], subject2d)
        for t, k in (("CSF", CSF), ("GM", GM), ("lesion", LESION)):
            # rendered ratios over nearly pure voxels follow the nominal ones
            assert abs(m[k] / m[WM] - r[ch][t]) < 0.1 * max(r[ch][t], 1.0), (ch, t, m[k] / m[WM], r[ch][t])
        assert (m[LESION] > m[WM]) if ch == "FLAIR" else (m[LESION] < m[WM])  # hyper on FLAIR, hypo on T1w
        assert m[CSF] < m[WM] or name == "site_e_3t_ti2500"  # CSF dark except where FLAIR does not null it


@pytest.mark.parametrize("name", NEW)
def test_new_profiles_in_3d_and_their_determinism(name, subject3d):
    a = render(subject3d, name, seed=4)
    assert a.shape == (*subject3d.shape, 2) and np.all(np.isfinite(a)) and a.min() >= 0
    np.testing.assert_array_equal(a, render(subject3d, name, seed=4))
    assert not np.array_equal(a, render(subject3d, name, seed=5))


def test_thick_slices_resampled_lose_detail_along_the_slice_axis():
    subject3d = make_subject(1, shape=(48, 48, 48), voxel_mm=1.0)  # 5 mm slices + 1 mm gap = 6 voxels apart
    sc = dataclasses.replace(SCANNERS["site_g_0.55t"], noise=0.0, bias=0.0)
    thick = render(subject3d, sc, channels=("T1w",))[..., 0]
    sharp = render(subject3d, sc, channels=("T1w",), blur=False)[..., 0]
    gap = render(subject3d, dataclasses.replace(sc, slice_gap_mm=0.0), channels=("T1w",))[..., 0]

    def energy(img, axis):
        return float((np.diff(img, axis=axis) ** 2).mean())

    assert energy(thick, 0) < 0.2 * energy(sharp, 0)
    assert energy(thick, 0) / energy(sharp, 0) < energy(thick, 2) / energy(sharp, 2)
    assert not np.allclose(gap, thick)  # the gap changes where the slices are


def test_coarse_phase_encoding_blurs_and_rings_along_y(subject2d):
    """site_g's 2.4 mm phase encoding (y) on the 1.875 mm grid; its 1.2 mm readout (x) is finer than the grid."""
    sc = dataclasses.replace(SCANNERS["site_g_0.55t"], noise=0.0, bias=0.0)
    img = render(subject2d, sc, channels=("T1w",), seed=0)[..., 0]
    ref = render(subject2d, sc, channels=("T1w",), blur=False)[..., 0]

    def energy(x, axis):
        return float((np.diff(x, axis=axis) ** 2).mean())

    # measured 0.94 along y, 0.98 along x: the template anatomy is smooth at this grid
    assert energy(img, 0) / energy(ref, 0) < energy(img, 1) / energy(ref, 1) - 0.02
    assert energy(img, 0) / energy(ref, 0) < 0.97
    bg = ndimage.binary_erosion(subject2d.fractions[..., 0] > 0.999, iterations=2)  # air, 2 voxels off the brain
    assert np.all(ref[bg] == 0) and img[bg].max() > 0.01 * img[subject2d.tissue == WM].mean()  # ringing lobes


# ------------------------------------------------------------------ the source is unchanged

# sha256 (first 32 hex digits) of render(make_subject(11, shape, lesion_load="moderate"), name,
# channels=("FLAIR", "T1w", "T2w", "PDw"), seed=5) computed before the profiles site_f-site_j,
# the MPRAGE family and the k-space options were added.
RENDER_HASHES = {
    ("site_a_1.5t", (64, 64)): "d0fc05d80a3ed67fa62a0379e3a708ea",
    ("site_a_1.5t", (24, 32, 32)): "6663d2f61fa794150caf2173dfe58a3b",
    ("site_b_3t", (64, 64)): "34fff7a881bcd9baed48eace714008df",
    ("site_c_1.5t_se", (24, 32, 32)): "dbce12c5458bc90a77e9931419545667",
    ("site_d_lowfield", (24, 32, 32)): "7331a9b0fa647a5d4a58306d64f4cdc0",
    ("site_e_3t_ti2500", (64, 64)): "ceecc8b197c42889978cad9232f5338b",
}


@pytest.mark.parametrize(("name", "shape"), list(RENDER_HASHES))
def test_source_and_earlier_profiles_render_bit_for_bit_as_before(name, shape):
    img = render(make_subject(11, shape=shape, lesion_load="moderate"), name,
                 channels=("FLAIR", "T1w", "T2w", "PDw"), seed=5)
    assert hashlib.sha256(np.ascontiguousarray(img).tobytes()).hexdigest()[:32] == RENDER_HASHES[name, shape]


# ------------------------------------------------------------------ docs


def test_docs_and_module_docstring_tables_match_the_code():
    params, contrasts = profile_table(SCANNERS)
    docs = (REPO / "docs" / "data.md").read_text()
    doc = inspect.getdoc(scanners_module)
    for line in params + contrasts:
        assert line in docs, line
        assert line in doc, line
    for name, sc in SCANNERS.items():
        assert f"- `{name}`: {sc.notes}." in docs
