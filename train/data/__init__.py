"""Data for training: the synthetic multi-scanner MS phantom, nnU-Net raw I/O, preprocessing, loader."""

from __future__ import annotations

from train.data.cases import Case
from train.data.loader import make_train_iterator
from train.data.nnunet import read_dataset, read_dataset_json, write_dataset
from train.data.phantom import (
    SCANNERS,
    SOURCE_SCANNER,
    TISSUE_LABELS,
    Scanner,
    Sequence,
    Subject,
    make_subject,
    phantom_cases,
    render,
)
from train.data.preprocess import load_dataset, preprocess_case, uncrop

__all__ = [
    "Case",
    "SCANNERS",
    "SOURCE_SCANNER",
    "Scanner",
    "Sequence",
    "Subject",
    "TISSUE_LABELS",
    "load_dataset",
    "make_subject",
    "make_train_iterator",
    "phantom_cases",
    "preprocess_case",
    "read_dataset",
    "read_dataset_json",
    "render",
    "uncrop",
    "write_dataset",
]
