"""Data for training: the synthetic multi-scanner MS phantom, nnU-Net raw I/O, preprocessing, loader.

Names are imported lazily on first access (so that ``python -m train.data.phantom`` runs its
module once, without a ``runpy`` warning).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "SCANNERS": "train.data.phantom",
    "SOURCE_SCANNER": "train.data.phantom",
    "TISSUE_LABELS": "train.data.phantom",
    "Scanner": "train.data.phantom",
    "Sequence": "train.data.phantom",
    "Subject": "train.data.phantom",
    "make_subject": "train.data.phantom",
    "render": "train.data.phantom",
    "Case": "train.data.cases",
    "make_train_iterator": "train.data.loader",
    "read_dataset": "train.data.nnunet",
    "read_dataset_json": "train.data.nnunet",
    "write_dataset": "train.data.nnunet",
    "phantom_cases": "train.data.phantom_data",
    "load_dataset": "train.data.preprocess",
    "preprocess_case": "train.data.preprocess",
    "uncrop": "train.data.preprocess",
}

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

if TYPE_CHECKING:
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
        render,
    )
    from train.data.phantom_data import phantom_cases
    from train.data.preprocess import load_dataset, preprocess_case, uncrop


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
