"""Where a run's cases come from: a phantom scanner name or an nnU-Net raw data set folder.

``config.data.source`` and each entry of ``config.data.eval_domains`` is either a name in
:data:`train.data.phantom.SCANNERS` (cases generated in memory) or the path of a data set in the
nnU-Net raw layout. Training uses the source's subjects; evaluation uses held-out subjects of every
domain: for the phantom, subjects drawn with another seed (never the training subjects); for a
folder, its last ``data.n_eval`` cases.
"""

from __future__ import annotations

from pathlib import Path

import ml_collections

from train.data.cases import Case
from train.data.nnunet import read_dataset
from train.data.phantom import SCANNERS, SOURCE_SCANNER, phantom_cases
from train.data.preprocess import load_dataset, preprocess_case
from train.rng import PHANTOM_EVAL_OFFSET

__all__ = [
    "GROUP_NOTES",
    "PHANTOM_SHIFTS",
    "domain_groups",
    "domain_name",
    "evaluation_domains",
    "is_phantom",
    "phantom_source",
    "target_spacing",
    "training_cases",
]

PHANTOM_SHIFTS = {
    "site_b_3t": "mild shift",
    "site_c_1.5t_se": "mild shift",
    "site_d_lowfield": "mild shift",
    "site_e_3t_ti2500": "strong shift",
}
"""How far each phantom scanner is from the source scanner ``site_a_1.5t`` (see
:mod:`train.data.phantom`): the mild ones change field strength, noise, bias, resolution or the T1w
sequence but keep every contrast ordering; ``site_e_3t_ti2500``'s FLAIR does not null CSF, so CSF is
brighter than white matter there (the ordering flips)."""

GROUP_NOTES = {
    "source": "the training scanner / data set, on held-out subjects",
    "mild shift": "other scanners, same contrast orderings (field strength, noise, bias, resolution)",
    "strong shift": "a scanner whose FLAIR does not null CSF: the contrast ordering flips",
    "unseen": "another scanner or data set",
}
"""What each group of :func:`domain_groups` means (printed under the results table)."""


def domain_groups(config: ml_collections.ConfigDict) -> dict[str, str]:
    """``{domain: group}`` of the evaluation domains: ``"source"`` for the training domain, the
    :data:`PHANTOM_SHIFTS` group of a phantom scanner when the source is ``site_a_1.5t``, else
    ``"unseen"``."""
    data = config.data
    specs = [s for spec in data.eval_domains for s in (SCANNERS if spec == "all" else [spec])]
    out = {}
    for spec in dict.fromkeys(specs):
        if domain_name(spec) == domain_name(data.source):
            out[domain_name(spec)] = "source"
        elif data.source == SOURCE_SCANNER and spec in PHANTOM_SHIFTS:
            out[domain_name(spec)] = PHANTOM_SHIFTS[spec]
        else:
            out[domain_name(spec)] = "unseen"
    return out


def is_phantom(spec: str) -> bool:
    """Whether ``spec`` names a phantom scanner (else it is a data set folder)."""
    return spec in SCANNERS


def domain_name(spec: str) -> str:
    """The domain's name in summaries and tables: the scanner name or the folder's name."""
    return spec if is_phantom(spec) else Path(spec).name


def phantom_source(spec: str, data: ml_collections.ConfigDict, *, n: int, seed: int) -> list[Case]:
    """``n`` raw phantom cases of scanner ``spec`` with the sizes and channels of ``data``."""
    shape = tuple(data.shape) if data.shape else None
    return phantom_cases(spec, n=n, dims=int(data.spatial_dims), shape=shape, seed=seed, channels=tuple(data.channels))


def target_spacing(data: ml_collections.ConfigDict) -> tuple[float, ...] | None:
    """``data.target_spacing`` as a tuple (mm per axis), or None (no resampling): the same for training,
    evaluation and prediction."""
    return None if data.target_spacing is None else tuple(data.target_spacing)


def training_cases(config: ml_collections.ConfigDict) -> list[Case]:
    """Preprocessed training cases of ``config.data.source`` (a phantom scanner name or an
    nnU-Net raw data set folder; for a folder the last ``data.n_eval`` cases are held out)."""
    data = config.data
    if is_phantom(data.source):  # preprocessed as the evaluation cases are (target_spacing included)
        return [preprocess_case(c, target_spacing=target_spacing(data))
                for c in phantom_source(data.source, data, n=int(data.n_train), seed=int(config.seed))]
    cases = load_dataset(data.source, target_spacing=target_spacing(data), cache_dir=data.cache_dir)
    n_eval = int(data.n_eval)
    if len(cases) <= n_eval:
        raise ValueError(f"data.source {data.source!r} has {len(cases)} cases; need more than data.n_eval={n_eval} "
                         f"(the last n_eval cases are held out for evaluation)")
    return cases[: len(cases) - n_eval]


def evaluation_domains(config: ml_collections.ConfigDict) -> dict[str, list[tuple[Case, Case]]]:
    """``{domain: [(raw case, preprocessed case), ...]}`` for every evaluation domain.

    ``data.eval_domains``: phantom scanner names, nnU-Net folders, or ``"all"`` (every phantom
    scanner). The source domain is evaluated on held-out subjects/cases.
    """
    data = config.data
    specs: list[str] = []
    for spec in data.eval_domains:
        specs.extend(SCANNERS if spec == "all" else [spec])
    out: dict[str, list[tuple[Case, Case]]] = {}
    n_eval = int(data.n_eval)
    for spec in dict.fromkeys(specs):
        if is_phantom(spec):
            raw = phantom_source(spec, data, n=n_eval, seed=int(config.seed) + PHANTOM_EVAL_OFFSET)
        else:
            raw = read_dataset(spec)[-n_eval:]
        out[domain_name(spec)] = [(c, preprocess_case(c, target_spacing=target_spacing(data))) for c in raw]
    return out
