"""Tissue contrasts of the scanner profiles against the reference table and the CSF-null formula."""

from __future__ import annotations

import numpy as np

from train.data.phantom import SCANNERS, SOURCE_SCANNER
from train.data.phantom.contrast import contrast_ratios


def test_contrast_ratios_against_the_reference_table():
    r = contrast_ratios(SOURCE_SCANNER)
    np.testing.assert_allclose([r["FLAIR"][t] for t in ("GM", "CSF", "lesion")], [1.16, 0.0, 2.80], atol=0.01)
    np.testing.assert_allclose([r["T1w"][t] for t in ("GM", "CSF", "lesion")], [0.74, 0.30, 0.79], atol=0.01)
    # 3D FLAIR TI nulls the table's CSF at its TR: TI = T1_CSF ln(2 / (1 + e^(-TR / T1_CSF)))
    for name in ("site_f_3t_3d", "site_i_1.5t_3dflair"):
        seq = SCANNERS[name].sequences["FLAIR"]
        null = 2569.0 * np.log(2 / (1 + np.exp(-seq.tr / 2569.0)))
        assert abs(seq.ti - null) < 10 and contrast_ratios(name)["FLAIR"]["CSF"] < 0.05
