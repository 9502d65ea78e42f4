"""MS lesions by anatomy: in WM only, labels consistent, each kind where MS puts it."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from train.data.phantom import make_subject
from train.data.phantom.anatomy import template_anatomy
from train.data.phantom.lesions import LESION_KINDS, lesion_field
from train.data.phantom.physics import BACKGROUND, CSF, GM, LESION, WM
from train.data.phantom.templates import template_maps

V2D = 180 / 128


@pytest.fixture(scope="module")
def anatomy2d():
    return template_anatomy(np.random.default_rng(3), (128, 128), V2D, template_maps(V2D))


@pytest.fixture(scope="module")
def anatomy3d():
    v = 180 / 64
    return template_anatomy(np.random.default_rng(3), (64, 64, 64), v, template_maps(v)), v


def _only(kind: str) -> tuple[float, ...]:
    return tuple(float(k == kind) for k in LESION_KINDS)


def _components(soft: np.ndarray) -> list[np.ndarray]:
    lab, n = ndimage.label(soft > 0.5)
    return [lab == i for i in range(1, n + 1)]


@pytest.mark.parametrize(("shape", "seeds"), [((128, 128), range(4)), ((40, 48, 48), range(2))])
def test_lesions_lie_in_wm_never_in_csf_or_outside(shape, seeds):
    for seed in seeds:
        s = make_subject(seed, shape=shape, lesion_load="severe")
        f = s.fractions
        healthy_wm = f[..., WM] + f[..., LESION]
        les = s.lesion.astype(bool)
        assert les.sum() > 0
        assert np.array_equal(les, s.tissue == 4) and np.array_equal(les, f[..., LESION] > 0.5)
        assert np.all(healthy_wm[les] > 0.5) and np.all(s.brain_mask[les])
        assert np.all(f[les][:, [BACKGROUND, CSF, GM]] < 0.5)
        # lesion fraction comes from WM only: none where the healthy tissue has no WM
        assert np.all(f[..., LESION] <= healthy_wm + 1e-6)
        assert np.all(f[..., LESION][healthy_wm < 1e-6] == 0)
        assert np.all(f[..., LESION][f[..., CSF] > 0.5] < 0.5)
        counts = sum(s.params[f"lesions_{k}"] for k in LESION_KINDS)
        assert counts >= 10  # severe: 10-20 lesions


def test_periventricular_lesions_touch_the_ventricles_and_point_away(anatomy2d):
    soft, counts = lesion_field(np.random.default_rng(0), anatomy2d, "severe", V2D, kind_probs=_only("periventricular"))
    assert counts["lesions_periventricular"] >= 10
    comps = _components(soft * anatomy2d.fractions[..., WM])
    assert len(comps) >= 5
    normal = np.stack(np.gradient(anatomy2d.vent_dist), axis=-1)
    aligned, elongated = 0, 0
    for c in comps:
        assert anatomy2d.vent_dist[c].min() <= 1.5 * V2D  # touches the ventricle wall
        pts = np.argwhere(c).astype(float)
        if len(pts) < 6:
            continue
        evals, evecs = np.linalg.eigh(np.cov(pts.T))
        if evals[1] < 1.5 * evals[0]:
            continue
        elongated += 1
        n = normal[c].mean(0)
        aligned += abs(evecs[:, 1] @ n / np.linalg.norm(n)) > 0.7  # long axis along the wall's normal
    assert elongated >= 3 and aligned >= 0.7 * elongated


def test_juxtacortical_lesions_touch_the_cortex(anatomy2d):
    soft, counts = lesion_field(np.random.default_rng(1), anatomy2d, "severe", V2D, kind_probs=_only("juxtacortical"))
    assert counts["lesions_juxtacortical"] >= 10
    comps = _components(soft * anatomy2d.fractions[..., WM])
    assert len(comps) >= 5
    for c in comps:
        assert anatomy2d.cortex_dist[c].min() <= 1.5 * V2D


def test_deep_lesions_are_centred_away_from_ventricles_and_cortex(anatomy2d):
    soft, counts = lesion_field(np.random.default_rng(2), anatomy2d, "moderate", V2D, kind_probs=_only("deep"))
    assert counts["lesions_deep"] >= 5
    for c in _components(soft):
        centre = np.argwhere(c & (soft == soft[c].max()))[0]
        assert anatomy2d.vent_dist[tuple(centre)] > 6.0 - V2D and anatomy2d.cortex_dist[tuple(centre)] > 4.0 - V2D


def test_infratentorial_lesions_in_3d_and_fallback_in_2d(anatomy3d, anatomy2d):
    anat, v = anatomy3d
    soft, counts = lesion_field(np.random.default_rng(3), anat, "moderate", v, kind_probs=_only("infratentorial"))
    assert counts["lesions_infratentorial"] >= 5
    centres = [np.argwhere(c & (soft == soft[c].max()))[0] for c in _components(soft)]
    assert np.mean([anat.infratentorial[tuple(p)] for p in centres]) > 0.8
    # a supratentorial 2D slice has no infratentorial tissue: those lesions become deep-WM lesions
    assert not anatomy2d.infratentorial.any()
    _, counts2 = lesion_field(np.random.default_rng(3), anatomy2d, "mild", V2D, kind_probs=_only("infratentorial"))
    assert counts2["lesions_infratentorial"] == 0 and counts2["lesions_deep"] >= 2


def test_load_sets_lesion_volume():
    def volume(seed, load):
        return make_subject(seed, shape=(96, 96), lesion_load=load).fractions[..., LESION].sum()

    vols = {load: np.mean([volume(i, load) for i in range(4)]) for load in ("none", "mild", "moderate", "severe")}
    assert vols["none"] == 0 and vols["mild"] < vols["moderate"] < vols["severe"]


def test_kind_mix_follows_the_probabilities():
    """Over many 3D subjects, most lesions are periventricular (45 %), fewest infratentorial (10 %)."""
    totals = dict.fromkeys(LESION_KINDS, 0.0)
    for i in range(6):
        s = make_subject(i, shape=(24, 28, 28), lesion_load="severe")
        for k in LESION_KINDS:
            totals[k] += s.params[f"lesions_{k}"]
    assert totals["periventricular"] == max(totals.values())
    assert totals["infratentorial"] <= totals["deep"] + totals["juxtacortical"]
