"""Scanner / site profiles of the phantom: field strength, sequences, noise, bias, resolution, k-space.

Scanner profiles (:data:`SCANNERS`). TR / TE / TI in ms, flip in degrees; MPRAGE (also the
IR-SPGR profiles): TR between inversions, TI to the k-space centre, then echoes x spacing; noise =
Rician std relative to WM; bias = BrainWeb-style non-uniformity level; resolution in mm, in-plane
(readout / phase encoding when they differ) x slice (+ gap); "matrix": the in-plane resolution is
a k-space window (Gibbs ringing), PF = partial Fourier::

    | name | B0 T | FLAIR | T1w | noise | bias | res mm | k-space / slices |
    |---|---|---|---|---|---|---|---|
    | site_a_1.5t | 1.5 | IR TR 9000 / TI 1705 / TE 120 | SPGR TR 18 / TE 10 / 30° | 0.03 | 0.20 | 1 x 1 | - |
    | site_b_3t | 3 | IR TR 9000 / TI 1705 / TE 100 | SPGR TR 10 / TE 4 / 15° | 0.02 | 0.40 | 1 x 1 | - |
    | site_c_1.5t_se | 1.5 | IR TR 8000 / TI 1900 / TE 110 | SE TR 500 / TE 15 | 0.05 | 0.20 | 1 x 3 | - |
    | site_d_lowfield | 1.5 | IR TR 9000 / TI 1705 / TE 120 | SPGR TR 18 / TE 10 / 30° | 0.09 | 0.40 | 1.2 x 5 | - |
    | site_e_3t_ti2500 | 3 | IR TR 9000 / TI 2500 / TE 120 | SE TR 700 / TE 20 | 0.04 | 0.30 | 1 x 2 | - |
    | site_f_3t_3d | 3 | IR TR 5000 / TI 1440 / TE 140 | MPRAGE TR 2300 / TI 900 / TE 3 / 9°, 176 x 7 ms | 0.02 | 0.40 | 1 x 1 | matrix |
    | site_g_0.55t | 0.55 | IR TR 9000 / TI 1705 / TE 90 | SE TR 500 / TE 12 | 0.08 | 0.10 | 1.2/2.4 x 5 +1 | matrix, slices resampled |
    | site_h_3t_te81 | 3 | IR TR 9000 / TI 1705 / TE 81 | MPRAGE TR 2000 / TI 800 / TE 2.5 / 8°, 176 x 7 ms | 0.03 | 0.40 | 0.9 x 3 +0.3 | matrix, PF 0.625 homodyne, slices resampled |
    | site_i_1.5t_3dflair | 1.5 | IR TR 6000 / TI 1550 / TE 180 | MPRAGE TR 1500 / TI 450 / TE 3 / 12°, 96 x 8 ms | 0.04 | 0.30 | 1 x 1 | matrix, PF 0.625 zero-fill |
    | site_j_3t_irspgr | 3 | IR TR 11000 / TI 1760 / TE 140 | MPRAGE TR 1800 / TI 500 / TE 3 / 12°, 96 x 8 ms | 0.05 | 0.40 | 1/1.5 x 4 | matrix, slices resampled |

Tissue contrasts (tissue / WM, nominal tissue table at the profile's field, from
:func:`~train.data.phantom.contrast.contrast_ratios`) and the shift group of each profile by the
rule of :mod:`~train.data.phantom.contrast` (strong: two tissues swap their order on FLAIR or T1w,
or the lesion contrast changes by more than 1.5x)::

    | name | group | FLAIR CSF / GM / lesion | T1w CSF / GM / lesion | why strong |
    |---|---|---|---|---|
    | site_a_1.5t | source | 0.00 / 1.16 / 2.80 | 0.30 / 0.74 / 0.79 | - |
    | site_b_3t | mild shift | 0.00 / 0.96 / 2.05 | 0.43 / 0.77 / 0.77 | - |
    | site_c_1.5t_se | mild shift | 0.42 / 1.19 / 2.63 | 0.43 / 0.82 / 0.88 | - |
    | site_d_lowfield | mild shift | 0.00 / 1.16 / 2.80 | 0.30 / 0.74 / 0.79 | - |
    | site_e_3t_ti2500 | strong shift | 1.44 / 1.22 / 2.91 | 0.59 / 0.85 / 0.94 | FLAIR: GM < CSF (source: CSF < GM); FLAIR: WM < CSF (source: CSF < WM) |
    | site_f_3t_3d | mild shift | 0.01 / 0.94 / 2.82 | 0.25 / 0.66 / 0.68 | - |
    | site_g_0.55t | mild shift | 0.00 / 1.24 / 2.30 | 0.34 / 0.87 / 0.90 | - |
    | site_h_3t_te81 | strong shift | 0.00 / 0.92 / 1.70 | 0.22 / 0.64 / 0.65 | FLAIR: lesion / WM 1.70 (source 2.80) |
    | site_i_1.5t_3dflair | strong shift | 0.03 / 1.27 / 4.95 | 0.04 / 0.53 / 0.57 | FLAIR: lesion / WM 4.95 (source 2.80) |
    | site_j_3t_irspgr | strong shift | 0.04 / 1.07 / 3.12 | 0.01 / 0.43 / 0.49 | T1w: lesion / WM 0.49 (source 0.79) |

``site_a_1.5t`` (:data:`SOURCE_SCANNER`) is the training source; its sequences are exactly the
reference sequences of the relative-intensity table. The profiles ``site_b``-``site_e`` are
unchanged since they were introduced; ``site_f``-``site_j`` add protocol and vendor variation within
the same nominal contrasts: 2D vs 3D FLAIR (a 3D variable-flip-angle FLAIR, SPACE / CUBE-like, is
approximated by the inversion-recovery equation at a longer, contrast-equivalent TE, with the
TI that nulls the table's CSF at its shorter TR, TI = T1_CSF ln(2 / (1 + e^(-TR/T1_CSF)))), FLAIR
TE 81-180 ms, T1w from spin echo, spoiled gradient echo, MPRAGE and IR-SPGR, 0.55 / 1.5 / 3 T, thick
slices with gaps resampled to the grid, noise 2-9 %, bias 10-40 %, a coarse phase-encoding matrix
and partial Fourier (zero-filled and homodyne). ``Scanner.notes`` says what each profile stands
for. Every profile also carries T2w and PDw (spin echo) channels.

Sources (by name): BrainWeb simulator (Cocosco, Kwan, Evans et al.) for the noise and bias
levels; SynthSeg (Billot et al.) for the resolution blur; Meyer et al., Front. Neurosci. (2021)
for scanner-to-scanner contrast jitter; Rooney et al., Magn. Reson. Med. 57:308 (2007) for T1 at
0.55-3 T; Deichmann et al., NeuroImage 12:112 (2000) for the MPRAGE signal; Noll et al., IEEE
Trans. Med. Imaging 10:154 (1991) for homodyne partial-Fourier reconstruction.
"""  # noqa: E501 (the tables are kept one row a line, as the docs' tables)

from __future__ import annotations

import dataclasses

from train.data.phantom.kspace import PF_RECONS
from train.data.phantom.physics import Sequence

__all__ = ["SCANNERS", "SOURCE_SCANNER", "Scanner", "get_scanner"]


@dataclasses.dataclass(frozen=True)
class Scanner:
    """A scanner / site profile.

    Attributes:
        name: profile name (key in :data:`SCANNERS`).
        field_t: main field strength B0 in tesla (1.5 or 3).
        sequences: channel name ("FLAIR", "T1w", "T2w", "PDw") -> :class:`Sequence`.
        noise: Rician noise std relative to the noise-free WM signal of each channel (BrainWeb 0-0.09).
        bias: intensity non-uniformity level; the field spans about 1 ± bias / 2 (BrainWeb 0.2, 0.4).
        inplane_mm: acquired in-plane voxel size in mm (the readout axis, x, with ``kspace``).
        slice_mm: acquired slice thickness in mm (axis 0 of 3D volumes).
        phase_mm: acquired voxel size along the phase-encoding axis (y, anterior-posterior) with
            ``kspace``; None: ``inplane_mm``.
        kspace: simulate the in-plane resolution in k-space (:mod:`~train.data.phantom.kspace`: the
            acquired matrix zero-filled to the grid, with its Gibbs ringing, and partial Fourier) on
            the complex image (with a smooth random phase), instead of the Gaussian PSF.
        partial_fourier: acquired fraction of the phase-encoding lines, in (0.5, 1] (needs ``kspace``).
        pf_recon: partial-Fourier reconstruction, "zero_fill" or "homodyne".
        resample_slices: acquire 3D volumes as separate thick slices (slice profile σ = 0.75 ·
            ``slice_mm``, centres ``slice_mm + slice_gap_mm`` apart) and interpolate them back to the
            grid (linear), as a 2D multi-slice protocol is reformatted; else only the slice profile.
        slice_gap_mm: gap between slices in mm (needs ``resample_slices``).
        notes: what the profile stands for, in words (the docs' table).
    """

    name: str
    field_t: float
    sequences: dict[str, Sequence]
    noise: float
    bias: float
    inplane_mm: float = 1.0
    slice_mm: float = 1.0
    phase_mm: float | None = None
    kspace: bool = False
    partial_fourier: float = 1.0
    pf_recon: str = "zero_fill"
    resample_slices: bool = False
    slice_gap_mm: float = 0.0
    notes: str = ""

    def __post_init__(self) -> None:
        if not self.field_t > 0:
            raise ValueError(f"field_t must be > 0, got {self.field_t}")
        if self.noise < 0 or self.bias < 0:
            raise ValueError(f"noise and bias must be >= 0, got {self.noise}, {self.bias}")
        sizes = (self.inplane_mm, self.slice_mm, self.inplane_mm if self.phase_mm is None else self.phase_mm)
        if min(sizes) <= 0 or self.slice_gap_mm < 0:
            raise ValueError(f"voxel sizes must be > 0 and slice_gap_mm >= 0, got {sizes}, {self.slice_gap_mm}")
        if not 0.5 < self.partial_fourier <= 1.0:
            raise ValueError(f"partial_fourier must be in (0.5, 1], got {self.partial_fourier}")
        if self.pf_recon not in PF_RECONS:
            raise ValueError(f"pf_recon must be one of {PF_RECONS}, got {self.pf_recon!r}")
        if not self.kspace and (self.phase_mm is not None or self.partial_fourier < 1.0):
            raise ValueError(f"scanner {self.name!r}: phase_mm and partial_fourier need kspace=True")
        if self.slice_gap_mm > 0 and not self.resample_slices:
            raise ValueError(f"scanner {self.name!r}: slice_gap_mm needs resample_slices=True")

    @property
    def phase_encode_mm(self) -> float:
        """Acquired voxel size along the phase-encoding axis (``phase_mm``, else ``inplane_mm``)."""
        return self.inplane_mm if self.phase_mm is None else self.phase_mm


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
            notes="the training source: 1.5 T, 2D FLAIR and SPGR T1w, the reference sequences of the "
            "relative-intensity table",
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
            notes="3 T: longer T1 (T1 ∝ B0^b), a shorter-TR SPGR, a stronger bias field, the lowest noise",
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
            notes="1.5 T: a slightly mistimed FLAIR null (CSF / WM ≈ 0.4), a spin-echo T1w, 3 mm slices",
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
            notes="the source sequences with the most noise (9 %), a 40 % bias field, 1.2 mm in-plane and 5 mm slices",
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
            notes="3 T: FLAIR at the clinical TI 2500 ms, which does not null the table's CSF (CSF brighter than WM); "
            "spin-echo T1w",
        ),
        Scanner(
            "site_f_3t_3d",
            3.0,
            {
                "FLAIR": Sequence("IR", tr=5000.0, te=140.0, ti=1440.0),
                "T1w": Sequence("MPRAGE", tr=2300.0, te=3.0, ti=900.0, flip_deg=9.0, echo_spacing=7.0, n_readout=176),
                "T2w": Sequence("SE", tr=5000.0, te=100.0),
                "PDw": Sequence("SE", tr=5000.0, te=25.0),
            },
            noise=0.02,
            bias=0.4,
            kspace=True,
            notes="3D protocol at 3 T: variable-flip-angle 3D FLAIR (SPACE-like) at a contrast-equivalent TE with the "
            "CSF null of its TR, and an MPRAGE T1w; 1 mm isotropic",
        ),
        Scanner(
            "site_g_0.55t",
            0.55,
            {
                "FLAIR": Sequence("IR", tr=9000.0, te=90.0, ti=1705.0),
                "T1w": Sequence("SE", tr=500.0, te=12.0),
                "T2w": Sequence("SE", tr=3300.0, te=100.0),
                "PDw": Sequence("SE", tr=3300.0, te=30.0),
            },
            noise=0.08,
            bias=0.1,
            inplane_mm=1.2,
            slice_mm=5.0,
            phase_mm=2.4,
            kspace=True,
            resample_slices=True,
            slice_gap_mm=1.0,
            notes="low-field 0.55 T, 2D multi-slice: FLAIR at a short TE and a spin-echo T1w; low SNR, weak bias, "
            "a coarse phase-encoding matrix (Gibbs ringing), 5 mm slices with 1 mm gaps",
        ),
        Scanner(
            "site_h_3t_te81",
            3.0,
            {
                "FLAIR": Sequence("IR", tr=9000.0, te=81.0, ti=1705.0),
                "T1w": Sequence("MPRAGE", tr=2000.0, te=2.5, ti=800.0, flip_deg=8.0, echo_spacing=7.0, n_readout=176),
                "T2w": Sequence("SE", tr=4000.0, te=90.0),
                "PDw": Sequence("SE", tr=4000.0, te=25.0),
            },
            noise=0.03,
            bias=0.4,
            inplane_mm=0.9,
            slice_mm=3.0,
            kspace=True,
            partial_fourier=0.625,
            pf_recon="homodyne",
            resample_slices=True,
            slice_gap_mm=0.3,
            notes="3 T, 2D FLAIR at a short TE (81 ms: weaker lesion contrast) with 5/8 partial Fourier (homodyne), "
            "3 mm slices; MPRAGE T1w",
        ),
        Scanner(
            "site_i_1.5t_3dflair",
            1.5,
            {
                "FLAIR": Sequence("IR", tr=6000.0, te=180.0, ti=1550.0),
                "T1w": Sequence("MPRAGE", tr=1500.0, te=3.0, ti=450.0, flip_deg=12.0, echo_spacing=8.0, n_readout=96),
                "T2w": _T2W,
                "PDw": _PDW,
            },
            noise=0.04,
            bias=0.3,
            kspace=True,
            partial_fourier=0.625,
            pf_recon="zero_fill",
            notes="1.5 T 3D protocol: 3D FLAIR (CUBE-like) at a long contrast-equivalent TE (stronger lesion "
            "contrast), IR-SPGR T1w (BRAVO-like, TI 450 ms), 5/8 partial Fourier zero-filled; 1 mm isotropic",
        ),
        Scanner(
            "site_j_3t_irspgr",
            3.0,
            {
                "FLAIR": Sequence("IR", tr=11000.0, te=140.0, ti=1760.0),
                "T1w": Sequence("MPRAGE", tr=1800.0, te=3.0, ti=500.0, flip_deg=12.0, echo_spacing=8.0, n_readout=96),
                "T2w": Sequence("SE", tr=5000.0, te=100.0),
                "PDw": Sequence("SE", tr=5000.0, te=25.0),
            },
            noise=0.05,
            bias=0.4,
            inplane_mm=1.0,
            slice_mm=4.0,
            phase_mm=1.5,
            kspace=True,
            resample_slices=True,
            notes="3 T: long-TR 2D FLAIR, 4 mm slices; a strongly T1-weighted IR-SPGR T1w (darker GM and lesions)",
        ),
    )
}
SOURCE_SCANNER = "site_a_1.5t"


def get_scanner(scanner: str | Scanner) -> Scanner:
    """The :class:`Scanner` named ``scanner`` (a :class:`Scanner` is returned as is)."""
    if isinstance(scanner, Scanner):
        return scanner
    if scanner not in SCANNERS:
        raise ValueError(f"scanner must be one of {sorted(SCANNERS)} or a Scanner, got {scanner!r}")
    return SCANNERS[scanner]
