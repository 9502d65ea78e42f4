"""Synthetic multi-scanner MS phantom: MNI152 anatomy varied per subject, MS lesions, MR physics, scanners.

One job per module:

- :mod:`~train.data.phantom.templates`: the MNI152 tissue templates (shipped with nilearn), the
  maps derived from them, resampled per voxel size and cached;
- :mod:`~train.data.phantom.warp`: random rotations and smooth displacements with bounded Jacobian;
- :mod:`~train.data.phantom.anatomy`: a subject's healthy anatomy (template or procedural);
- :mod:`~train.data.phantom.lesions`: MS lesions placed by anatomy;
- :mod:`~train.data.phantom.subject`: :class:`Subject` and :func:`make_subject`;
- :mod:`~train.data.phantom.physics`: tissue labels and parameters, signal equations;
- :mod:`~train.data.phantom.scanners`: the scanner profiles;
- :mod:`~train.data.phantom.render`: MR images of a subject on a scanner (blur, bias, noise);
- :mod:`~train.data.phantom.dataset`: the phantom as :class:`~train.data.cases.Case` lists;
- :mod:`~train.data.phantom.measures`: shape measures of the anatomy (WM folding index);
- :mod:`~train.data.phantom.figures`: the scanner figure of the docs;
- ``python -m train.data.phantom``: export as nnU-Net raw data sets.

Coordinates: 3D arrays are ``(z, y, x)`` = (inferior -> superior, anterior -> posterior, patient
right -> left), 2D arrays ``(y, x)`` are an axial slice, so ``imshow`` shows the radiological
view; ``voxel_mm`` is isotropic.
"""

from train.data.phantom.dataset import DEFAULT_SHAPES, dataset_dir_name, phantom_cases, subject_seeds
from train.data.phantom.measures import folding_index
from train.data.phantom.physics import TISSUE_LABELS, TISSUE_PARAMS_1P5T, Sequence, tissue_params, tissue_signals
from train.data.phantom.render import render
from train.data.phantom.scanners import SCANNERS, SOURCE_SCANNER, Scanner
from train.data.phantom.subject import ANATOMIES, Subject, make_subject

__all__ = [
    "ANATOMIES",
    "DEFAULT_SHAPES",
    "SCANNERS",
    "SOURCE_SCANNER",
    "TISSUE_LABELS",
    "TISSUE_PARAMS_1P5T",
    "Scanner",
    "Sequence",
    "Subject",
    "dataset_dir_name",
    "folding_index",
    "make_subject",
    "phantom_cases",
    "render",
    "subject_seeds",
    "tissue_params",
    "tissue_signals",
]
