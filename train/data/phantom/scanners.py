"""Scanner / site profiles of the phantom: field strength, sequences, noise, bias, resolution.

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

Sources (by name): BrainWeb simulator (Cocosco, Kwan, Evans et al.) for the noise and bias
levels; SynthSeg (Billot et al.) for the resolution blur; Meyer et al., Front. Neurosci. (2021)
for scanner-to-scanner contrast jitter.
"""

from __future__ import annotations

import dataclasses

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


def get_scanner(scanner: str | Scanner) -> Scanner:
    """The :class:`Scanner` named ``scanner`` (a :class:`Scanner` is returned as is)."""
    if isinstance(scanner, Scanner):
        return scanner
    if scanner not in SCANNERS:
        raise ValueError(f"scanner must be one of {sorted(SCANNERS)} or a Scanner, got {scanner!r}")
    return SCANNERS[scanner]
