"""Synthetic multi-scanner MS phantom: procedural anatomy, MR signal physics, scanner effects.

A subject is a procedural head (background, CSF, GM, WM, MS lesions) stored as partial-volume
tissue fractions; :func:`render` turns it into MR images for a named :class:`Scanner` by

1. looking up the tissue MR parameters (T1, T2, T2*, PD) of the BrainWeb tissue table at 1.5 T,
   scaling T1 to the scanner's field strength with T1 ∝ B0^b (Rooney et al., MRM 2007;
   b = 0.382 WM, 0.376 GM, lesion assumed WM-like, CSF field-independent),
2. evaluating the standard signal equations per tissue (spin echo, spoiled gradient echo,
   magnitude inversion recovery / FLAIR) and mixing them by the voxel's tissue fractions
   (partial volume; signed magnetizations are mixed before the magnitude is taken),
3. applying the scanner's acquisition effects: resolution / slice-thickness blur (Gaussian PSF,
   σ = 0.75 · acquired / native voxel size, after SynthSeg, Billot et al.), a smooth
   multiplicative bias field (intensity non-uniformity as in BrainWeb: 20 % = 0.90-1.10,
   40 % = 0.80-1.20), and Rician noise (magnitude of complex Gaussian noise, std given relative
   to the noise-free white-matter signal, as in BrainWeb's 0-9 %).

Tissue labels (``Subject.tissue``, int8; see :data:`TISSUE_LABELS`)::

    0 background   1 CSF   2 GM   3 WM   4 MS lesion (always inside WM)

Coordinates: 3D arrays are ``(z, y, x)`` = (inferior-superior, posterior-anterior, left-right),
2D arrays ``(y, x)`` are an axial slice. ``voxel_mm`` is isotropic; the slice axis of a scanner's
slice thickness is axis 0 in 3D and does not exist in 2D (only the in-plane resolution applies).

Scanner profiles (:data:`SCANNERS`; TR / TE / TI in ms, flip in degrees; noise = Rician std
relative to WM; bias = BrainWeb-style non-uniformity level; resolution in mm, in-plane x slice):

================  ====  ==============================  ============================  =====  =====  ========
name              B0 T  FLAIR (IR)                      T1w                           noise  bias   res mm
================  ====  ==============================  ============================  =====  =====  ========
site_a_1.5t       1.5   TR 9000 / TI 1705 / TE 120      SPGR TR 18 / TE 10 / 30°      0.03   0.20   1 x 1
site_b_3t         3.0   TR 9000 / TI 1705 / TE 100      SPGR TR 10 / TE 4 / 15°       0.02   0.40   1 x 1
site_c_1.5t_se    1.5   TR 8000 / TI 1900 / TE 110      SE TR 500 / TE 15             0.05   0.20   1 x 3
site_d_lowfield   1.5   TR 9000 / TI 1705 / TE 120      SPGR TR 18 / TE 10 / 30°      0.09   0.40   1.2 x 5
site_e_3t_ti2500  3.0   TR 9000 / TI 2500 / TE 120      SE TR 700 / TE 20             0.04   0.30   1 x 2
================  ====  ==============================  ============================  =====  =====  ========

``site_a_1.5t`` (:data:`SOURCE_SCANNER`) is the training source; its sequences are exactly the
reference sequences of the relative-intensity table (FLAIR lesion / WM ≈ 2.8, CSF nulled; T1w
SPGR WM 1.00 > lesion 0.79 > GM 0.74 > CSF 0.30). ``site_e_3t_ti2500`` differs strongly: its
FLAIR uses the clinical TI ≈ 2500 ms, which with the table's CSF T1 (2569 ms) does not null CSF,
so CSF is *brighter* than WM on its FLAIR (CSF / WM ≈ 1.4 instead of 0: the contrast ordering
flips); its spin-echo T1w at 3 T has a weaker contrast (GM / WM ≈ 0.85, CSF / WM ≈ 0.59 instead
of 0.74 and 0.30). ``site_c_1.5t_se`` has a slightly mistimed FLAIR null (CSF / WM ≈ 0.4) and a
spin-echo T1w (GM / WM ≈ 0.82). Every profile also carries
T2w (SE TR 3300 / TE 120 at the source) and PDw (SE TR 3300 / TE 35) channels.

Sources (by name): BrainWeb tissue table and simulator (Cocosco, Kwan, Evans et al.);
Rooney et al., Magn. Reson. Med. 57:308 (2007); SynthSeg (Billot et al.); Meyer et al.,
Front. Neurosci. (2021) for scanner-to-scanner contrast jitter.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence as Seq

import numpy as np
from scipy import ndimage

__all__ = [
    "SCANNERS",
    "SOURCE_SCANNER",
    "TISSUE_LABELS",
    "TISSUE_PARAMS_1P5T",
    "Scanner",
    "Sequence",
    "Subject",
    "make_subject",
    "render",
    "tissue_params",
    "tissue_signals",
]

BACKGROUND, CSF, GM, WM, LESION = 0, 1, 2, 3, 4
TISSUE_LABELS: dict[int, str] = {BACKGROUND: "background", CSF: "CSF", GM: "GM", WM: "WM", LESION: "lesion"}
N_CLASSES = 5

# Per tissue (rows in label order): T1 ms, T2 ms, T2* ms, PD at 1.5 T (BrainWeb tissue table).
# Background has PD 0 (no signal); its relaxation times are placeholders.
TISSUE_PARAMS_1P5T = np.array(
    [
        [1000.0, 100.0, 100.0, 0.00],  # background (air)
        [2569.0, 329.0, 58.0, 1.00],  # CSF
        [833.0, 83.0, 69.0, 0.86],  # GM
        [500.0, 70.0, 61.0, 0.77],  # WM
        [752.0, 237.0, 204.0, 0.76],  # MS lesion
    ]
)
# T1 ∝ B0^b (Rooney et al. 2007); CSF field-independent; lesion assumed WM-like.
_T1_FIELD_EXPONENT = np.array([0.0, 0.0, 0.376, 0.382, 0.382])

_FAMILIES = ("SE", "SPGR", "IR")


@dataclasses.dataclass(frozen=True)
class Sequence:
    """One pulse sequence: ``family`` in {"SE", "SPGR", "IR"}; times in ms, ``flip_deg`` in degrees.

    "SE": spin echo (TR, TE). "SPGR": spoiled gradient echo (TR, TE, flip). "IR": magnitude
    inversion recovery with a spin-echo readout, i.e. FLAIR (TR, TE, TI).
    """

    family: str
    tr: float
    te: float
    ti: float = 0.0
    flip_deg: float = 90.0

    def __post_init__(self) -> None:
        if self.family not in _FAMILIES:
            raise ValueError(f"family must be one of {_FAMILIES}, got {self.family!r}")
        if self.tr <= 0 or self.te < 0 or self.ti < 0:
            raise ValueError(f"tr must be > 0 and te, ti >= 0, got tr={self.tr}, te={self.te}, ti={self.ti}")


@dataclasses.dataclass(frozen=True)
class Scanner:
    """A scanner / site profile.

    Attributes:
        name: profile name (key in :data:`SCANNERS`).
        field_t: main field strength B0 in tesla (1.5 or 3).
        sequences: channel name ("FLAIR", "T1w", "T2w", "PDw") -> :class:`Sequence`.
        noise: Rician noise std relative to the noise-free WM signal of each channel (BrainWeb 0-0.09).
        bias: intensity non-uniformity level; the field spans about 1 ± bias / 2 (BrainWeb 0.2, 0.4).
        inplane_mm: acquired in-plane voxel size in mm.
        slice_mm: acquired slice thickness in mm (axis 0 of 3D volumes).
    """

    name: str
    field_t: float
    sequences: dict[str, Sequence]
    noise: float
    bias: float
    inplane_mm: float = 1.0
    slice_mm: float = 1.0


_T2W = Sequence("SE", tr=3300.0, te=120.0)
_PDW = Sequence("SE", tr=3300.0, te=35.0)

SCANNERS: dict[str, Scanner] = {
    s.name: s
    for s in (
        Scanner(
            "site_a_1.5t",
            1.5,
            {
                "FLAIR": Sequence("IR", tr=9000.0, te=120.0, ti=1705.0),
                "T1w": Sequence("SPGR", tr=18.0, te=10.0, flip_deg=30.0),
                "T2w": _T2W,
                "PDw": _PDW,
            },
            noise=0.03,
            bias=0.2,
        ),
        Scanner(
            "site_b_3t",
            3.0,
            {
                "FLAIR": Sequence("IR", tr=9000.0, te=100.0, ti=1705.0),
                "T1w": Sequence("SPGR", tr=10.0, te=4.0, flip_deg=15.0),
                "T2w": Sequence("SE", tr=4000.0, te=100.0),
                "PDw": Sequence("SE", tr=4000.0, te=30.0),
            },
            noise=0.02,
            bias=0.4,
        ),
        Scanner(
            "site_c_1.5t_se",
            1.5,
            {
                "FLAIR": Sequence("IR", tr=8000.0, te=110.0, ti=1900.0),
                "T1w": Sequence("SE", tr=500.0, te=15.0),
                "T2w": _T2W,
                "PDw": _PDW,
            },
            noise=0.05,
            bias=0.2,
            inplane_mm=1.0,
            slice_mm=3.0,
        ),
        Scanner(
            "site_d_lowfield",
            1.5,
            {
                "FLAIR": Sequence("IR", tr=9000.0, te=120.0, ti=1705.0),
                "T1w": Sequence("SPGR", tr=18.0, te=10.0, flip_deg=30.0),
                "T2w": _T2W,
                "PDw": _PDW,
            },
            noise=0.09,
            bias=0.4,
            inplane_mm=1.2,
            slice_mm=5.0,
        ),
        Scanner(
            "site_e_3t_ti2500",
            3.0,
            {
                "FLAIR": Sequence("IR", tr=9000.0, te=120.0, ti=2500.0),
                "T1w": Sequence("SE", tr=700.0, te=20.0),
                "T2w": Sequence("SE", tr=5000.0, te=100.0),
                "PDw": Sequence("SE", tr=5000.0, te=25.0),
            },
            noise=0.04,
            bias=0.3,
            inplane_mm=1.0,
            slice_mm=2.0,
        ),
    )
}
SOURCE_SCANNER = "site_a_1.5t"


@dataclasses.dataclass(frozen=True, eq=False)
class Subject:
    """One procedural subject on an isotropic grid (arrays are read-only).

    Attributes:
        tissue: ``(*spatial)`` int8 label map, labels in :data:`TISSUE_LABELS` (4 = lesion).
        lesion: ``(*spatial)`` uint8 0/1 lesion label (lesion fraction > 0.5).
        brain_mask: ``(*spatial)`` bool, inside the brain (CSF rim included).
        fractions: ``(*spatial, 5)`` float32 partial-volume fractions per label, summing to 1.
        param_jitter: ``(5, 4)`` float64 per-subject multiplicative jitter of (T1, T2, T2*, PD).
        voxel_mm: isotropic native voxel size in mm.
        seed: the seed the subject was made from.
    """

    tissue: np.ndarray
    lesion: np.ndarray
    brain_mask: np.ndarray
    fractions: np.ndarray
    param_jitter: np.ndarray
    voxel_mm: float
    seed: int

    @property
    def shape(self) -> tuple[int, ...]:
        """Spatial shape."""
        return tuple(self.tissue.shape)


# ----------------------------------------------------------------------------- validation


def _check_shape(shape: Seq[int]) -> tuple[int, ...]:
    try:
        shape_t = tuple(int(s) for s in shape)
    except TypeError as err:
        raise ValueError(f"shape must be a sequence of 2 or 3 ints, got {shape!r}") from err
    if len(shape_t) not in (2, 3):
        raise ValueError(f"shape must have rank 2 (H, W) or 3 (D, H, W), got rank {len(shape_t)}: {shape_t}")
    if any(s <= 0 for s in shape_t):
        raise ValueError(f"shape sizes must be positive, got {shape_t}")
    if min(shape_t) < 16:
        raise ValueError(f"shape sizes must be >= 16 to hold the anatomy, got {shape_t}")
    return shape_t


def _get_scanner(scanner: str | Scanner) -> Scanner:
    if isinstance(scanner, Scanner):
        return scanner
    if scanner not in SCANNERS:
        raise ValueError(f"scanner must be one of {sorted(SCANNERS)} or a Scanner, got {scanner!r}")
    return SCANNERS[scanner]


# ----------------------------------------------------------------------------- anatomy


def _coords(shape: tuple[int, ...]) -> list[np.ndarray]:
    """Open-grid normalized coordinates in [-1, 1] per axis (broadcastable float32 arrays)."""
    out = []
    for axis, n in enumerate(shape):
        c = (np.arange(n, dtype=np.float32) - (n - 1) / 2) / (n / 2)
        out.append(c.reshape([n if i == axis else 1 for i in range(len(shape))]))
    return out


def _smooth_field(rng: np.random.Generator, coords: list[np.ndarray], n_waves: int, max_freq: float) -> np.ndarray:
    """Random smooth field: a sum of plane waves, about unit std; shape of the broadcast coords."""
    d = len(coords)
    total = np.zeros(np.broadcast_shapes(*(c.shape for c in coords)), np.float32)
    for _ in range(n_waves):
        k = rng.normal(size=d)
        k *= rng.uniform(0.3, 1.0) * max_freq / max(np.linalg.norm(k), 1e-6)
        phase = sum((np.float32(2 * np.pi * ki) * c for ki, c in zip(k, coords, strict=True)), np.float32(0))
        total += np.cos(phase + np.float32(rng.uniform(0, 2 * np.pi)))
    return total * np.float32(np.sqrt(2.0 / n_waves))


def _ellipsoid_r(coords: list[np.ndarray], center: Seq[float], axes: Seq[float]) -> np.ndarray:
    """Normalized ellipsoid radius |(x - c) / a| (1 on the surface)."""
    sq = sum(((c - np.float32(m)) / np.float32(a)) ** 2 for c, m, a in zip(coords, center, axes, strict=True))
    return np.sqrt(sq)


def _soft_inside(r: np.ndarray, radius: float | np.ndarray, scale_vox: float) -> np.ndarray:
    """Partial-volume fraction of 'r < radius' with a one-voxel linear edge (scale: voxels per unit r)."""
    return np.clip(0.5 + (radius - r) * np.float32(scale_vox), 0.0, 1.0).astype(np.float32)


def _anatomy(rng: np.random.Generator, shape: tuple[int, ...]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Healthy tissue fractions ``(*shape, 5)`` float32 (lesion channel 0) and helper fields for lesion placement."""
    d = len(shape)
    coords = _coords(shape)
    half = np.array(shape, np.float64) / 2
    brain_axes = np.array([0.82, 0.88, 0.78][-d:]) * rng.uniform(0.92, 1.05, size=d)
    brain_center = rng.normal(0, 0.02, size=d)
    r_brain = _ellipsoid_r(coords, brain_center, brain_axes)
    r_brain = r_brain * (1 + np.float32(0.035) * _smooth_field(rng, coords, 6, 1.5))
    scale = float(np.min(brain_axes * half))  # voxels per unit r at the brain surface

    rim = rng.uniform(0.93, 0.96)  # inner edge of the sulcal CSF rim
    wm_edge = rng.uniform(0.74, 0.82) + np.float32(0.03) * _smooth_field(rng, coords, 6, 2.0)  # cortex thickness
    b = _soft_inside(r_brain, 1.0, scale)
    c = np.minimum(_soft_inside(r_brain, rim, scale), b)
    w = np.minimum(_soft_inside(r_brain, wm_edge, scale), c)
    sulci = np.clip(0.5 + (_smooth_field(rng, coords, 10, 4.0) - rng.uniform(0.7, 1.1)) * 2.0, 0.0, 1.0)

    vent_scale = rng.uniform(0.7, 1.4)  # atrophy / ventricle size variation
    vent_axes = np.array([0.16, 0.30, 0.085][-d:]) * vent_scale * brain_axes / np.array([0.82, 0.88, 0.78][-d:])
    offset = rng.uniform(0.09, 0.13) * vent_scale**0.5
    r_vent = None
    for side in (-1.0, 1.0):
        center = np.array(brain_center, np.float64)
        center[-1] += side * offset
        center[:-1] += rng.normal(0, 0.015, size=d - 1)
        r_side = _ellipsoid_r(coords, center, vent_axes * rng.uniform(0.9, 1.1, size=d))
        r_vent = r_side if r_vent is None else np.minimum(r_vent, r_side)
    v = _soft_inside(r_vent, 1.0, float(np.min(vent_axes * half)))

    frac = np.zeros((*shape, N_CLASSES), np.float32)
    frac[..., BACKGROUND] = 1 - b
    frac[..., CSF] = (b - c) + (c - w) * sulci + w * v
    frac[..., GM] = (c - w) * (1 - sulci)
    frac[..., WM] = w * (1 - v)
    helpers = {"r_brain": r_brain, "wm_edge": np.broadcast_to(wm_edge, shape), "r_vent": r_vent}
    return frac, helpers


_LESION_LOADS = {  # (number of lesions, radius range in mm); loads roughly span BrainWeb mild-severe
    "none": ((0, 0), (1.5, 6.0)),
    "mild": ((2, 5), (1.5, 3.5)),
    "moderate": ((5, 10), (1.5, 5.0)),
    "severe": ((10, 20), (2.0, 6.0)),
}


def _random_rotation(rng: np.random.Generator, d: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(d, d)))
    return q * np.sign(np.diag(r))


def _lesion_field(
    rng: np.random.Generator, frac: np.ndarray, helpers: dict[str, np.ndarray], load: str, voxel_mm: float
) -> np.ndarray:
    """Soft lesion indicator ``(*shape)`` float32 in [0, 1]: ovoid blobs centred in WM.

    Centres: ~55 % periventricular (just outside the ventricles), ~25 % juxtacortical (just
    inside the cortex), the rest deep WM. Radii 1.5-6 mm (at least 1.2 voxels), ovoid axes ratio
    0.5-1, random orientation, one-voxel soft edge.
    """
    shape = frac.shape[:-1]
    d = len(shape)
    out = np.zeros(shape, np.float32)
    (n_lo, n_hi), (r_lo, r_hi) = _LESION_LOADS[load]
    n = int(rng.integers(n_lo, n_hi + 1))
    wm = frac[..., WM] > 0.9
    r_rel = helpers["r_brain"] / helpers["wm_edge"]
    pools = {
        "peri": np.flatnonzero(wm & (helpers["r_vent"] < 1.6)),
        "juxta": np.flatnonzero(wm & (r_rel > 0.85)),
        "deep": np.flatnonzero(wm),
    }
    for _ in range(n):
        kind = rng.choice(["peri", "juxta", "deep"], p=[0.55, 0.25, 0.20])
        pool = pools[str(kind)] if pools[str(kind)].size else pools["deep"]
        if pool.size == 0:
            break
        center = np.array(np.unravel_index(int(rng.choice(pool)), shape), np.float64)
        radius = max(rng.uniform(r_lo, r_hi) / voxel_mm, 1.2)
        axes = radius * np.concatenate([[1.0], rng.uniform(0.5, 1.0, size=d - 1)])
        rot = _random_rotation(rng, d)
        lo = np.maximum(np.floor(center - radius - 2), 0).astype(int)
        hi = np.minimum(np.ceil(center + radius + 3), shape).astype(int)
        box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
        grid = np.stack(np.meshgrid(*(np.arange(a, b) for a, b in zip(lo, hi, strict=True)), indexing="ij"), -1)
        local = (grid - center) @ rot  # rotated offsets in voxels
        r = np.sqrt(np.sum((local / axes) ** 2, axis=-1))
        out[box] = np.maximum(out[box], np.clip(0.5 + (1.0 - r) * axes.min(), 0.0, 1.0))
    return out


def make_subject(
    seed: int,
    *,
    shape: Seq[int] = (96, 96, 96),
    voxel_mm: float | None = None,
    lesion_load: str | None = None,
) -> Subject:
    """Make a procedural MS subject (deterministic in ``seed``).

    Args:
        seed: integer seed for ``numpy.random.default_rng``.
        shape: spatial shape, ``(D, H, W)`` (3D) or ``(H, W)`` (2D axial slice); sizes >= 16.
        voxel_mm: isotropic voxel size in mm; default ``180 / max(shape)`` (a 180 mm field of view).
        lesion_load: "none", "mild", "moderate", "severe" or None (random among the three with lesions).

    Returns:
        A :class:`Subject`; lesions lie inside WM (lesion fraction is taken from WM only).
    """
    shape_t = _check_shape(shape)
    if voxel_mm is None:
        voxel_mm = 180.0 / max(shape_t)
    if not voxel_mm > 0:
        raise ValueError(f"voxel_mm must be positive, got {voxel_mm}")
    if lesion_load is not None and lesion_load not in _LESION_LOADS:
        raise ValueError(f"lesion_load must be one of {sorted(_LESION_LOADS)} or None, got {lesion_load!r}")
    rng = np.random.default_rng(seed)
    load = lesion_load or str(rng.choice(["mild", "moderate", "severe"]))
    frac, helpers = _anatomy(rng, shape_t)
    soft = _lesion_field(rng, frac, helpers, load, float(voxel_mm))
    lesion_frac = soft * frac[..., WM]
    frac[..., WM] -= lesion_frac
    frac[..., LESION] = lesion_frac
    lesion = (lesion_frac > 0.5).astype(np.uint8)
    healthy = frac[..., :LESION].copy()
    healthy[..., WM] += lesion_frac
    tissue = np.argmax(healthy, axis=-1).astype(np.int8)
    tissue[lesion.astype(bool)] = LESION
    jitter = np.exp(rng.normal(0.0, 0.02, size=(N_CLASSES, 4)))
    brain_mask = frac[..., BACKGROUND] < 0.5
    for a in (tissue, lesion, brain_mask, frac, jitter):
        a.setflags(write=False)
    return Subject(tissue, lesion, brain_mask, frac, jitter, float(voxel_mm), int(seed))


# ----------------------------------------------------------------------------- physics


def tissue_params(field_t: float, jitter: np.ndarray | None = None) -> np.ndarray:
    """Tissue (T1, T2, T2*, PD) per label at ``field_t`` tesla: ``(5, 4)`` float64.

    T1 ∝ B0^b (Rooney et al. 2007) from the 1.5 T BrainWeb values; T2, T2*, PD kept.
    """
    if not field_t > 0:
        raise ValueError(f"field_t must be positive, got {field_t}")
    p = TISSUE_PARAMS_1P5T.copy()
    p[:, 0] *= (field_t / 1.5) ** _T1_FIELD_EXPONENT
    return p if jitter is None else p * jitter


def tissue_signals(seq: Sequence, params: np.ndarray) -> np.ndarray:
    """Signed signal per tissue row of ``params`` ``(n, 4)`` for one sequence: ``(n,)`` float64.

    SE: PD (1 - e^(-TR/T1)) e^(-TE/T2). SPGR: PD sin a (1 - E1) / (1 - cos a E1) e^(-TE/T2*).
    IR (FLAIR, signed; take the magnitude after partial-volume mixing):
    PD (1 - 2 e^(-TI/T1) + e^(-TR/T1)) e^(-TE/T2).
    """
    t1, t2, t2s, pd = params.T
    if seq.family == "SE":
        return pd * (1 - np.exp(-seq.tr / t1)) * np.exp(-seq.te / t2)
    if seq.family == "SPGR":
        a = np.deg2rad(seq.flip_deg)
        e1 = np.exp(-seq.tr / t1)
        return pd * np.sin(a) * (1 - e1) / (1 - np.cos(a) * e1) * np.exp(-seq.te / t2s)
    return pd * (1 - 2 * np.exp(-seq.ti / t1) + np.exp(-seq.tr / t1)) * np.exp(-seq.te / t2)


def _bias_field(rng: np.random.Generator, shape: tuple[int, ...], level: float) -> np.ndarray:
    """Smooth multiplicative field ``(*shape)`` float32 spanning about 1 ± level / 2 (BrainWeb convention)."""
    g = _smooth_field(rng, _coords(shape), 4, 0.6)
    g /= max(float(np.abs(g).max()), 1e-6)
    return np.exp(np.float32(np.log1p(level / 2)) * g).astype(np.float32)


def _blur_sigmas(scanner: Scanner, ndim: int, voxel_mm: float) -> tuple[float, ...]:
    """Gaussian PSF σ per axis in voxels: 0.75 · acquired / native (SynthSeg), 0 where not coarser."""
    acquired = ([scanner.slice_mm] if ndim == 3 else []) + [scanner.inplane_mm] * 2

    def sig(a: float) -> float:
        return 0.75 * a / voxel_mm if a > voxel_mm * 1.01 else 0.0

    return tuple(sig(a) for a in acquired)


def render(
    subject: Subject,
    scanner: str | Scanner = SOURCE_SCANNER,
    *,
    channels: Seq[str] = ("FLAIR", "T1w"),
    seed: int = 0,
    noise: bool = True,
    bias: bool = True,
    blur: bool = True,
) -> np.ndarray:
    """Render MR images of ``subject`` as acquired on ``scanner``.

    Args:
        subject: from :func:`make_subject`.
        scanner: a name in :data:`SCANNERS` or a :class:`Scanner`.
        channels: channel names among the scanner's sequences ("FLAIR", "T1w", "T2w", "PDw").
        seed: seed for the acquisition randomness (bias field, noise); deterministic.
        noise, bias, blur: switch the Rician noise / bias field / resolution blur off (for checks).

    Returns:
        ``(*spatial, C)`` float32, non-negative; noise-free WM of the source scanner's FLAIR is ~0.1
        (absolute signal units of the equations, PD in [0, 1]; no normalization applied).
    """
    sc = _get_scanner(scanner)
    if isinstance(channels, str) or len(channels) == 0:
        raise ValueError(f"channels must be a non-empty sequence of channel names, got {channels!r}")
    for ch in channels:
        if ch not in sc.sequences:
            raise ValueError(f"channels: unknown channel {ch!r} for scanner {sc.name!r}; known: {sorted(sc.sequences)}")
    rng = np.random.default_rng(seed)
    params = tissue_params(sc.field_t, subject.param_jitter)
    shape = subject.shape
    field = _bias_field(rng, shape, sc.bias) if bias and sc.bias > 0 else None
    sigmas = _blur_sigmas(sc, len(shape), subject.voxel_mm) if blur else ()
    out = np.empty((*shape, len(channels)), np.float32)
    for i, ch in enumerate(channels):
        seq = sc.sequences[ch]
        s = tissue_signals(seq, params).astype(np.float32)
        img = np.abs(subject.fractions @ s)  # partial-volume mixing of signed magnetization, then magnitude
        if any(sg > 0 for sg in sigmas):
            img = ndimage.gaussian_filter(img, sigmas, mode="nearest")
        if field is not None:
            img = img * field
        if noise and sc.noise > 0:
            sigma = np.float32(sc.noise * abs(tissue_signals(seq, params[WM : WM + 1])[0]))
            re = img + sigma * rng.standard_normal(shape, dtype=np.float32)
            im = sigma * rng.standard_normal(shape, dtype=np.float32)
            img = np.sqrt(re * re + im * im)
        out[..., i] = img
    return out


# ----------------------------------------------------------------------------- command line


def dataset_dir_name(scanner: str, dims: int) -> str:
    """nnU-Net folder name of the exported phantom data set of ``scanner``.

    IDs 501-505 (2D) and 511-515 (3D) in :data:`SCANNERS` order (IDs 001-010 are reserved for the
    Medical Segmentation Decathlon), e.g. ``Dataset501_PhantomSiteA1p5t``.
    """
    names = list(SCANNERS)
    if scanner not in SCANNERS:
        raise ValueError(f"scanner must be one of {names}, got {scanner!r}")
    if dims not in (2, 3):
        raise ValueError(f"dims must be 2 or 3, got {dims!r}")
    ident = 501 + names.index(scanner) + (10 if dims == 3 else 0)
    words = "".join(ch if ch.isalnum() else " " for ch in scanner.replace(".", "p")).split()
    return f"Dataset{ident:03d}_Phantom{''.join(w[:1].upper() + w[1:] for w in words)}"


def main(argv: Seq[str] | None = None) -> int:
    """``python -m train.data.phantom --out DIR [--scanner NAME|all] [--n N] [--dims 2|3] [--shape ...] [--seed S]``.

    Writes one nnU-Net raw data set per scanner, ``DIR/<dataset_dir_name(scanner, dims)>``, with the
    same subjects (same ``--seed``) under every scanner. Returns the exit status.
    """
    import argparse
    from pathlib import Path

    from train.data.nnunet import write_dataset
    from train.data.phantom_data import phantom_cases, subject_seeds

    parser = argparse.ArgumentParser(prog="python -m train.data.phantom", description=main.__doc__)
    parser.add_argument("--out", required=True, help="output folder (one data set folder per scanner inside)")
    parser.add_argument("--scanner", default="all", choices=[*SCANNERS, "all"], help="scanner profile or 'all'")
    parser.add_argument("--n", type=int, default=20, help="number of cases per scanner")
    parser.add_argument("--dims", type=int, default=2, choices=(2, 3), help="2D slices or 3D volumes")
    parser.add_argument("--shape", type=int, nargs="+", default=None, help="spatial shape (default 128 128 / 96^3)")
    parser.add_argument("--seed", type=int, default=0, help="data set seed (same subjects for every scanner)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing data set folders")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error(f"--n must be >= 1, got {args.n}")
    if args.shape is not None and len(args.shape) != args.dims:
        parser.error(f"--shape needs {args.dims} sizes for --dims {args.dims}, got {args.shape}")
    scanners = list(SCANNERS) if args.scanner == "all" else [args.scanner]
    for name in scanners:
        cases = phantom_cases(name, n=args.n, dims=args.dims, shape=args.shape, seed=args.seed)
        extra = {
            "description": f"Synthetic MS phantom as acquired on scanner profile {name} (train.data.phantom)",
            "phantom": {
                "scanner": name,
                "seed": args.seed,
                "dims": args.dims,
                "shape": list(cases[0].spatial_shape),
                "subject_seeds": [subject_seeds(args.seed, i)[0] for i in range(args.n)],
                "acquisition_seeds": [subject_seeds(args.seed, i)[1] for i in range(args.n)],
            },
        }
        root = Path(args.out) / dataset_dir_name(name, args.dims)
        write_dataset(root, cases, overwrite=args.overwrite, extra=extra)
        print(root)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
