"""Tissue contrasts of the scanner profiles and the rule that groups them into mild and strong shifts.

:func:`contrast_ratios` gives each tissue's signal relative to white matter, per channel, from the
nominal tissue table at the profile's field strength (no subject jitter, no partial volume, no
acquisition effects): the numbers of the docs' profile table. :func:`shift_reasons` applies the
grouping rule, stated before any model was trained on the profiles:

a profile is a **strong shift** from the source if, on FLAIR or T1w,

1. two of CSF, GM, WM and lesion swap their order, counting only pairs that differ by at least
   :data:`ORDER_MARGIN` (in units of WM) in both the source and the profile (a near tie is no
   order), or
2. the lesion contrast (lesion / WM) changes by more than a factor :data:`LESION_FACTOR`;

otherwise it is a **mild shift**. Noise, bias, resolution and k-space artefacts do not enter the
rule: it is about what the tissues look like, not how well they are sampled.
"""

from __future__ import annotations

import itertools

import numpy as np

from train.data.phantom.physics import CSF, GM, LESION, WM, tissue_params, tissue_signals
from train.data.phantom.scanners import SOURCE_SCANNER, Scanner, get_scanner

__all__ = [
    "GROUP_CHANNELS",
    "LESION_FACTOR",
    "ORDER_MARGIN",
    "TISSUES",
    "contrast_ratios",
    "profile_table",
    "shift_group",
    "shift_reasons",
]

TISSUES: dict[str, int] = {"CSF": CSF, "GM": GM, "WM": WM, "lesion": LESION}
GROUP_CHANNELS = ("FLAIR", "T1w")
ORDER_MARGIN = 0.1
LESION_FACTOR = 1.5


def contrast_ratios(scanner: str | Scanner, channels: tuple[str, ...] = GROUP_CHANNELS) -> dict[str, dict[str, float]]:
    """``{channel: {tissue: |S_tissue| / |S_WM|}}`` from the nominal tissue table at the scanner's field."""
    sc = get_scanner(scanner)
    params = tissue_params(sc.field_t)
    out = {}
    for ch in channels:
        s = np.abs(tissue_signals(sc.sequences[ch], params))
        out[ch] = {name: float(s[i] / s[WM]) for name, i in TISSUES.items()}
    return out


def shift_reasons(scanner: str | Scanner, source: str | Scanner = SOURCE_SCANNER) -> list[str]:
    """Why ``scanner`` is a strong shift from ``source`` by the module's rule (empty: a mild shift)."""
    r_src, r = contrast_ratios(source), contrast_ratios(scanner)
    reasons = []
    for ch in GROUP_CHANNELS:
        for a, b in itertools.combinations(TISSUES, 2):
            d_src, d = r_src[ch][a] - r_src[ch][b], r[ch][a] - r[ch][b]
            if min(abs(d_src), abs(d)) >= ORDER_MARGIN and np.sign(d_src) != np.sign(d):
                lo, hi = (a, b) if d < 0 else (b, a)
                reasons.append(f"{ch}: {lo} < {hi} (source: {hi} < {lo})")
        factor = r[ch]["lesion"] / r_src[ch]["lesion"]
        if max(factor, 1 / factor) > LESION_FACTOR:
            reasons.append(f"{ch}: lesion / WM {r[ch]['lesion']:.2f} (source {r_src[ch]['lesion']:.2f})")
    return reasons


def shift_group(scanner: str | Scanner, source: str | Scanner = SOURCE_SCANNER) -> str:
    """``"strong shift"`` or ``"mild shift"`` of ``scanner`` from ``source`` (:func:`shift_reasons`)."""
    return "strong shift" if shift_reasons(scanner, source) else "mild shift"


def _res(sc: Scanner) -> str:
    inplane = f"{sc.inplane_mm:g}" if sc.phase_mm is None else f"{sc.inplane_mm:g}/{sc.phase_mm:g}"
    gap = f" +{sc.slice_gap_mm:g}" if sc.slice_gap_mm else ""
    return f"{inplane} x {sc.slice_mm:g}{gap}"


def _kspace(sc: Scanner) -> str:
    if not sc.kspace:
        return "-"
    parts = ["matrix"]
    if sc.partial_fourier < 1:
        parts.append(f"PF {sc.partial_fourier:g} {sc.pf_recon.replace('_', '-')}")
    if sc.resample_slices:
        parts.append("slices resampled")
    return ", ".join(parts)


def profile_table(scanners: dict[str, Scanner], source: str = SOURCE_SCANNER) -> tuple[list[str], list[str]]:
    """The docs' two Markdown tables of the profiles (parameters; contrasts and group): two lists of lines."""
    params = ["| name | B0 T | FLAIR | T1w | noise | bias | res mm | k-space / slices |",
              "|---|---|---|---|---|---|---|---|"]
    contrasts = ["| name | group | FLAIR CSF / GM / lesion | T1w CSF / GM / lesion | why strong |",
                 "|---|---|---|---|---|"]
    for name, sc in scanners.items():
        seqs = f"{sc.sequences['FLAIR'].describe()} | {sc.sequences['T1w'].describe()}"
        acq = f"{sc.noise:.2f} | {sc.bias:.2f} | {_res(sc)} | {_kspace(sc)}"
        params.append(f"| {name} | {sc.field_t:g} | {seqs} | {acq} |")
        r = contrast_ratios(sc)
        cells = [" / ".join(f"{r[ch][t]:.2f}" for t in ("CSF", "GM", "lesion")) for ch in GROUP_CHANNELS]
        group = "source" if name == source else shift_group(sc, source)
        why = "; ".join(shift_reasons(sc, source)) or "-"
        contrasts.append(f"| {name} | {group} | {cells[0]} | {cells[1]} | {why} |")
    return params, contrasts
