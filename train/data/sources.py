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
from train.rng import PHANTOM_EVAL_OFFSET, PHANTOM_VAL_OFFSET

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
    "validation_cases",
    "validation_pairs",
]

PHANTOM_SHIFTS = {
    "site_b_3t": "mild shift",
    "site_c_1.5t_se": "mild shift",
    "site_d_lowfield": "mild shift",
    "site_f_3t_3d": "mild shift",
    "site_g_0.55t": "mild shift",
    "site_e_3t_ti2500": "strong shift",
    "site_h_3t_te81": "strong shift",
    "site_i_1.5t_3dflair": "strong shift",
    "site_j_3t_irspgr": "strong shift",
}
"""How far each phantom scanner is from the source scanner ``site_a_1.5t``, by the rule of
:mod:`train.data.phantom.contrast` (stated before any model was trained on these profiles, from the
tissue contrasts alone): strong if, on FLAIR or T1w, two of CSF / GM / WM / lesion swap their order
(pairs at least 0.1 WM apart) or the lesion contrast (lesion / WM) changes by more than 1.5x; else
mild. ``site_e_3t_ti2500``: its FLAIR does not null CSF (CSF brighter than WM and GM);
``site_h_3t_te81``: FLAIR at TE 81 ms, lesion / WM 1.70 instead of 2.80; ``site_i_1.5t_3dflair``:
3D FLAIR at a long equivalent TE, lesion / WM 4.95; ``site_j_3t_irspgr``: IR-SPGR T1w, lesion / WM
0.49 instead of 0.79. The mild ones change field strength (0.55 / 1.5 / 3 T), the T1w family (spin
echo, MPRAGE), noise, bias, resolution and k-space artefacts but keep the orderings and the lesion
contrast (tested against the rule)."""

GROUP_NOTES = {
    "source": "the training scanner / data set, on held-out subjects",
    "mild shift": "other scanners, same tissue orderings and lesion contrast within 1.5x (field strength, "
    "sequence family, noise, bias, resolution, k-space artefacts)",
    "strong shift": "scanners whose tissue contrast differs in kind: a tissue ordering flips (FLAIR not nulling "
    "CSF) or the lesion contrast changes by more than 1.5x (FLAIR TE, 3D FLAIR, IR-SPGR T1w)",
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


def _folder_split(config: ml_collections.ConfigDict) -> tuple[int, int]:
    """``(n_val, n_eval)`` cases a folder source holds back at its end: the last ``data.n_eval``
    for evaluation and, with ``validation.every`` set, the ``validation.n_cases`` before them."""
    n_val = int(config.validation.n_cases) if config.validation.every is not None else 0
    return n_val, int(config.data.n_eval)


def _folder_cases(config: ml_collections.ConfigDict) -> list[Case]:
    data = config.data
    cases = load_dataset(data.source, target_spacing=target_spacing(data), cache_dir=data.cache_dir)
    n_val, n_eval = _folder_split(config)
    if len(cases) <= n_val + n_eval:
        raise ValueError(f"data.source {data.source!r} has {len(cases)} cases; need more than data.n_eval={n_eval}"
                         + (f" + validation.n_cases={n_val}" if n_val else "")
                         + " (the last cases are held out for evaluation and validation)")
    return cases


def training_cases(config: ml_collections.ConfigDict) -> list[Case]:
    """Preprocessed training cases of ``config.data.source`` (a phantom scanner name or an
    nnU-Net raw data set folder; for a folder the last ``data.n_eval`` cases are held out, and with
    ``validation.every`` set the ``validation.n_cases`` before them too)."""
    data = config.data
    if is_phantom(data.source):  # preprocessed as the evaluation cases are (target_spacing included)
        return [preprocess_case(c, target_spacing=target_spacing(data))
                for c in phantom_source(data.source, data, n=int(data.n_train), seed=int(config.seed))]
    cases = _folder_cases(config)
    n_val, n_eval = _folder_split(config)
    return cases[: len(cases) - n_eval - n_val]


def validation_cases(config: ml_collections.ConfigDict) -> list[Case]:
    """Preprocessed source-validation cases (``validation.n_cases``): what early stopping, the best
    checkpoint and every choice of a setting look at, never an evaluation domain.

    A phantom source gives other subjects of the source scanner (seed ``config.seed +``
    :data:`~train.rng.PHANTOM_VAL_OFFSET`: neither training nor evaluation subjects); a folder
    gives the ``validation.n_cases`` cases before its last ``data.n_eval`` (removed from training
    when ``validation.every`` is set).
    """
    return [pre for _, pre in validation_pairs(config)]


def validation_pairs(config: ml_collections.ConfigDict) -> list[tuple[Case, Case]]:
    """``[(raw case, preprocessed case), ...]`` of :func:`validation_cases` (for scoring on the raw grid)."""
    data, n_val = config.data, int(config.validation.n_cases)
    if is_phantom(data.source):
        raw = phantom_source(data.source, data, n=n_val, seed=int(config.seed) + PHANTOM_VAL_OFFSET)
        return [(c, preprocess_case(c, target_spacing=target_spacing(data))) for c in raw]
    n_eval = int(data.n_eval)
    cases = _folder_cases(config)
    pre = cases[len(cases) - n_eval - n_val: len(cases) - n_eval]
    raw = read_dataset(data.source)
    raw = raw[len(raw) - n_eval - n_val: len(raw) - n_eval]
    return list(zip(raw, pre, strict=True))


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
