"""MR signal physics of the phantom: tissue labels, the tissue parameter table, signal equations.

Tissue labels (``Subject.tissue``, int8; the channel order of ``Subject.fractions``)::

    0 background   1 CSF   2 GM   3 WM   4 MS lesion (always inside WM)

Tissue MR parameters (T1, T2, T2*, PD) are the BrainWeb tissue table at 1.5 T. T1 is scaled to
other field strengths with T1 ∝ B0^b (Rooney et al., Magn. Reson. Med. 57:308, 2007; b = 0.382
WM, 0.376 GM, lesion assumed WM-like, CSF field-independent); T2, T2* and PD are kept. The
signal equations are the standard ones for spin echo, spoiled gradient echo and magnitude
inversion recovery (FLAIR), and the steady-state closed form of an inversion-prepared
gradient-echo train (MPRAGE / IR-SPGR, Deichmann et al., NeuroImage 12:112, 2000), see
:func:`tissue_signals` and :func:`mprage_mz`.
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
    "mprage_mz",
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

_FAMILIES = ("SE", "SPGR", "IR", "MPRAGE")


@dataclasses.dataclass(frozen=True)
class Sequence:
    """One pulse sequence: ``family`` in {"SE", "SPGR", "IR", "MPRAGE"}; times in ms, ``flip_deg`` in degrees.

    "SE": spin echo (TR, TE). "SPGR": spoiled gradient echo (TR, TE, flip). "IR": magnitude
    inversion recovery with a spin-echo readout, i.e. FLAIR (TR, TE, TI); a 3D variable-flip-angle
    FLAIR (SPACE / CUBE-like) is approximated by this equation at a longer, contrast-equivalent TE.
    "MPRAGE": inversion-prepared spoiled gradient-echo train (MPRAGE, IR-SPGR / BRAVO-like): ``tr``
    is the time between inversions, ``ti`` the time from the inversion to the k-space centre,
    ``n_readout`` gradient echoes ``echo_spacing`` ms apart with flip ``flip_deg``, linear view
    order (the centre is echo ``n_readout // 2``), ``te`` the echo time of each gradient echo.
    """

    family: str
    tr: float
    te: float
    ti: float = 0.0
    flip_deg: float = 90.0
    echo_spacing: float = 0.0
    n_readout: int = 0

    def __post_init__(self) -> None:
        if self.family not in _FAMILIES:
            raise ValueError(f"family must be one of {_FAMILIES}, got {self.family!r}")
        if self.tr <= 0 or self.te < 0 or self.ti < 0:
            raise ValueError(f"tr must be > 0 and te, ti >= 0, got tr={self.tr}, te={self.te}, ti={self.ti}")
        if self.family == "MPRAGE":
            if self.echo_spacing <= 0 or isinstance(self.n_readout, bool) or int(self.n_readout) != self.n_readout \
                    or self.n_readout < 1:
                raise ValueError(f"MPRAGE needs echo_spacing > 0 and an integer n_readout >= 1, got "
                                 f"echo_spacing={self.echo_spacing}, n_readout={self.n_readout!r}")
            ta, td = self.mprage_delays()
            if ta < 0 or td < 0:
                raise ValueError(f"MPRAGE timing: ti={self.ti} must be >= (n_readout // 2) * echo_spacing and "
                                 f"tr={self.tr} >= ti + the rest of the train; got delays {ta:g} ms and {td:g} ms")

    def mprage_delays(self) -> tuple[float, float]:
        """MPRAGE (TA, TD) in ms: inversion to the first echo; last echo (plus one spacing) to the next inversion."""
        nc = int(self.n_readout) // 2
        ta = self.ti - nc * self.echo_spacing
        return ta, self.tr - ta - int(self.n_readout) * self.echo_spacing

    def describe(self) -> str:
        """Short text of the sequence, e.g. ``"SPGR TR 18 / TE 10 / 30°"`` (the docs' tables)."""
        if self.family == "SE":
            return f"SE TR {self.tr:g} / TE {self.te:g}"
        if self.family == "SPGR":
            return f"SPGR TR {self.tr:g} / TE {self.te:g} / {self.flip_deg:g}°"
        if self.family == "IR":
            return f"IR TR {self.tr:g} / TI {self.ti:g} / TE {self.te:g}"
        return (f"MPRAGE TR {self.tr:g} / TI {self.ti:g} / TE {self.te:g} / {self.flip_deg:g}°, "
                f"{self.n_readout} x {self.echo_spacing:g} ms")


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


def mprage_mz(seq: Sequence, t1: np.ndarray) -> np.ndarray:
    """Longitudinal magnetization (M0 = 1) just before the k-space-centre pulse of an MPRAGE train, in
    the steady state over inversions: ``t1`` ``(n,)`` ms -> ``(n,)`` float64, signed.

    The closed form of Deichmann et al. (NeuroImage 12:112-127, 2000; also Marques et al.,
    NeuroImage 49:1271, 2010, appendix), for a perfect inversion and ideal spoiling. With
    E1 = e^(-τ/T1) (τ = echo spacing), A = cos α E1, the train's own steady state
    M* = (1 - E1) / (1 - A), EA = e^(-TA/T1), EB = e^(-TD/T1) (:meth:`Sequence.mprage_delays`)
    and n echoes, the magnetization just before the inversion is

        m = (1 - EB + M* EB + (1 - EA - M*) A^n EB) / (1 + EA EB A^n),

    it is MA = 1 - (1 + m) EA at the first echo and M* + (MA - M*) A^k before echo k; the
    signal is read at k = n // 2.
    """
    if seq.family != "MPRAGE":
        raise ValueError(f"seq must be an MPRAGE sequence, got family {seq.family!r}")
    n, nc = int(seq.n_readout), int(seq.n_readout) // 2
    ta, td = seq.mprage_delays()
    e1 = np.exp(-seq.echo_spacing / t1)
    a = np.cos(np.deg2rad(seq.flip_deg)) * e1
    m_star = (1 - e1) / (1 - a)
    ea, eb, an = np.exp(-ta / t1), np.exp(-td / t1), a**n
    m = (1 - eb + m_star * eb + (1 - ea - m_star) * an * eb) / (1 + ea * eb * an)
    ma = 1 - (1 + m) * ea
    return m_star + (ma - m_star) * a**nc


def tissue_signals(seq: Sequence, params: np.ndarray) -> np.ndarray:
    """Signed signal per tissue row of ``params`` ``(n, 4)`` for one sequence: ``(n,)`` float64.

    SE: PD (1 - e^(-TR/T1)) e^(-TE/T2). SPGR: PD sin a (1 - E1) / (1 - cos a E1) e^(-TE/T2*).
    IR (FLAIR, signed; take the magnitude after partial-volume mixing):
    PD (1 - 2 e^(-TI/T1) + e^(-TR/T1)) e^(-TE/T2). MPRAGE (signed):
    PD sin a Mz_centre e^(-TE/T2*) with Mz_centre from :func:`mprage_mz`.
    """
    t1, t2, t2s, pd = params.T
    if seq.family == "MPRAGE":
        return pd * np.sin(np.deg2rad(seq.flip_deg)) * mprage_mz(seq, t1) * np.exp(-seq.te / t2s)
    if seq.family == "SE":
        return pd * (1 - np.exp(-seq.tr / t1)) * np.exp(-seq.te / t2)
    if seq.family == "SPGR":
        a = np.deg2rad(seq.flip_deg)
        e1 = np.exp(-seq.tr / t1)
        return pd * np.sin(a) * (1 - e1) / (1 - np.cos(a) * e1) * np.exp(-seq.te / t2s)
    return pd * (1 - 2 * np.exp(-seq.ti / t1) + np.exp(-seq.tr / t1)) * np.exp(-seq.te / t2)
