"""MR signal physics of the phantom: tissue labels, the tissue parameter table, signal equations.

Tissue labels (``Subject.tissue``, int8; the channel order of ``Subject.fractions``)::

    0 background   1 CSF   2 GM   3 WM   4 MS lesion (always inside WM)

Tissue MR parameters (T1, T2, T2*, PD) are the BrainWeb tissue table at 1.5 T. T1 is scaled to
other field strengths with T1 ∝ B0^b (Rooney et al., Magn. Reson. Med. 57:308, 2007; b = 0.382
WM, 0.376 GM, lesion assumed WM-like, CSF field-independent); T2, T2* and PD are kept. The
signal equations are the standard ones for spin echo, spoiled gradient echo and magnitude
inversion recovery (FLAIR), see :func:`tissue_signals`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = [
    "BACKGROUND",
    "CSF",
    "GM",
    "LESION",
    "N_CLASSES",
    "TISSUE_LABELS",
    "TISSUE_PARAMS_1P5T",
    "WM",
    "Sequence",
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


def tissue_params(field_t: float, jitter: np.ndarray | None = None) -> np.ndarray:
    """Tissue (T1, T2, T2*, PD) per label at ``field_t`` tesla: ``(5, 4)`` float64.

    T1 ∝ B0^b (Rooney et al. 2007) from the 1.5 T BrainWeb values; T2, T2*, PD kept.
    ``jitter`` ``(5, 4)`` multiplies the result (a subject's parameter jitter).
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
