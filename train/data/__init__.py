"""Data sources for training: a synthetic multi-scanner MS phantom."""

from train.data.phantom import (
    SCANNERS,
    SOURCE_SCANNER,
    TISSUE_LABELS,
    Scanner,
    Sequence,
    Subject,
    make_subject,
    render,
)

__all__ = [
    "SCANNERS",
    "SOURCE_SCANNER",
    "TISSUE_LABELS",
    "Scanner",
    "Sequence",
    "Subject",
    "make_subject",
    "render",
]
