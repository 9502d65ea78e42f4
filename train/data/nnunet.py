"""Read and write data sets in the nnU-Net v2 raw layout (NIfTI via nibabel).

Layout (one folder per data set)::

    <root>/dataset.json
    <root>/imagesTr/<case>_<XXXX>.nii.gz    # XXXX = 4-digit channel id from dataset.json "channel_names"
    <root>/labelsTr/<case>.nii.gz           # integer labels, values from dataset.json "labels"
    <root>/imagesTs/<case>_<XXXX>.nii.gz    # optional, unlabeled (inference)

On disk every channel is its own file, in the array's axis order (no reorientation); in memory a
:class:`~train.data.cases.Case` holds channels last, ``(*spatial, C)``. 2D images are stored as
``(H, W, 1)`` NIfTI volumes and read back as ``(H, W)``.

The reader validates everything and raises ``ValueError`` (``FileNotFoundError`` for missing
files) naming the offending file: missing channel files, images without labels and labels without
images, unexpected file names, shape or affine mismatches between the channels and the label,
non-integer or unknown label values, NaN / Inf voxels, unreadable or truncated files, and a
malformed ``dataset.json`` (including the nnU-Net v1 label direction ``{"0": "background"}``),
and NaN, zero or negative voxel sizes in a header (which would otherwise resample an image to a
few voxels).
Nothing is skipped silently; only hidden files (names starting with ".") are ignored.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from nibabel.openers import ImageOpener

from train._io import atomic_save, write_json
from train.data.cases import Case, foreground_mask

__all__ = [
    "DEFAULT_LABELS",
    "image_path",
    "read_case",
    "read_dataset",
    "read_dataset_json",
    "read_images",
    "scan_images",
    "write_dataset",
]

DEFAULT_LABELS: dict[str, int] = {"background": 0, "lesion": 1}
_ENDINGS = (".nii.gz", ".nii")
_CHANNEL_FILE = re.compile(r"^(?P<case>.+)_(?P<channel>\d{4})$")
_AFFINE_ATOL = 1e-4


# ----------------------------------------------------------------------------- dataset.json


def read_dataset_json(root: str | os.PathLike) -> dict[str, Any]:
    """Read and validate ``<root>/dataset.json`` (nnU-Net v2).

    Required keys: ``channel_names`` (``{"0": "FLAIR", ...}``, ids consecutive from 0),
    ``labels`` (name -> int, ``background`` = 0, values consecutive from 0), ``numTraining``
    (int >= 0) and ``file_ending`` (".nii.gz" or ".nii"). Other keys are kept as they are.

    Returns:
        The parsed dictionary.

    Raises:
        FileNotFoundError: no dataset.json.
        ValueError: malformed content, naming the file and the key.
    """
    path = Path(root) / "dataset.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: dataset.json not found (expected the nnU-Net raw layout)")
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: top level must be an object, got {type(meta).__name__}")
    if "channel_names" not in meta and "modality" in meta:
        raise ValueError(f"{path}: nnU-Net v1 'modality' key found; v2 expects 'channel_names' ({{'0': 'FLAIR'}})")
    for key in ("channel_names", "labels", "numTraining", "file_ending"):
        if key not in meta:
            raise ValueError(f"{path}: missing required key {key!r}")

    ch = meta["channel_names"]
    if not isinstance(ch, dict) or not ch:
        raise ValueError(f"{path}: 'channel_names' must be a non-empty object {{'0': 'FLAIR', ...}}, got {ch!r}")
    if not all(isinstance(k, str) and k.isdigit() for k in ch):
        raise ValueError(f"{path}: 'channel_names' keys must be channel ids '0', '1', ..., got {sorted(ch)}")
    if sorted(int(k) for k in ch) != list(range(len(ch))):
        raise ValueError(f"{path}: 'channel_names' ids must be consecutive from 0, got {sorted(ch)}")
    if not all(isinstance(v, str) and v for v in ch.values()):
        raise ValueError(f"{path}: 'channel_names' values must be non-empty strings, got {ch!r}")

    labels = meta["labels"]
    if not isinstance(labels, dict) or not labels:
        raise ValueError(f"{path}: 'labels' must be a non-empty object {{'background': 0, ...}}, got {labels!r}")
    if all(isinstance(k, str) and k.lstrip("-").isdigit() for k in labels) and all(
        isinstance(v, str) for v in labels.values()
    ):
        raise ValueError(
            f"{path}: 'labels' uses the nnU-Net v1 direction int -> name ({labels!r}); "
            f"v2 expects name -> int, e.g. {{'background': 0, 'lesion': 1}}"
        )
    for name, value in labels.items():
        if isinstance(value, list | tuple):
            raise ValueError(f"{path}: 'labels'[{name!r}] is a region {value!r}; region labels are not supported")
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{path}: 'labels'[{name!r}] must be an int, got {value!r}")
    if labels.get("background") != 0:
        raise ValueError(f"{path}: 'labels' must contain 'background': 0, got {labels!r}")
    if sorted(labels.values()) != list(range(len(labels))):
        raise ValueError(f"{path}: 'labels' values must be unique and consecutive from 0, got {labels!r}")

    n = meta["numTraining"]
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"{path}: 'numTraining' must be an int >= 0, got {n!r}")
    if meta["file_ending"] not in _ENDINGS:
        raise ValueError(f"{path}: 'file_ending' must be one of {_ENDINGS} (NIfTI), got {meta['file_ending']!r}")
    return meta


# ----------------------------------------------------------------------------- reading


def _load_nifti(path: Path) -> tuple[np.ndarray, np.ndarray, tuple[float, ...]]:
    """Load one NIfTI file: (data as stored, affine (4, 4) float64, zooms). Errors name the file."""
    try:
        img = nib.load(str(path))
        data = np.asanyarray(img.dataobj)
        affine = np.asarray(img.affine, np.float64)
        zooms = tuple(float(z) for z in img.header.get_zooms())
    except Exception as err:  # nibabel / gzip / zlib raise many types for broken files
        raise ValueError(f"{path}: unreadable or truncated NIfTI file ({type(err).__name__}: {err})") from err
    if data.ndim == 4 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim == 3 and data.shape[-1] == 1:
        data = data[..., 0]  # 2D image stored as (H, W, 1)
    if data.ndim not in (2, 3):
        raise ValueError(f"{path}: expected a 2D (H, W[, 1]) or 3D (D, H, W) image, got shape {data.shape}")
    if not np.issubdtype(data.dtype, np.number) or np.iscomplexobj(data):
        raise ValueError(f"{path}: expected real numeric voxels, got dtype {data.dtype}")
    voxel = _stored_voxel_size(path, type(img.header))[: data.ndim]
    if len(voxel) < data.ndim or not all(np.isfinite(z) and z > 0 for z in voxel):
        raise ValueError(f"{path}: voxel size {voxel} mm (header pixdim) must be finite and positive on every "
                         f"spatial axis; fix the header (e.g. nibabel's header.set_zooms)")
    return data, affine, zooms


def _stored_voxel_size(path: Path, header_class: type) -> tuple[float, ...]:
    """The header's pixdim as stored: nibabel replaces a zero voxel size by 1 (with a log message) when
    it loads a header, which would hide a broken header; read it unchecked."""
    with ImageOpener(str(path)) as f:
        header = header_class.from_fileobj(f, check=False)
    return tuple(float(z) for z in header["pixdim"][1:4])


def _list_dir(folder: Path) -> list[Path]:
    """Visible entries of ``folder``, sorted; sub-folders are an error."""
    out = []
    for p in sorted(folder.iterdir()):
        if p.name.startswith("."):
            continue
        if not p.is_file():
            raise ValueError(f"{p}: unexpected entry (not a file) in {folder.name}/")
        out.append(p)
    return out


def _strip_ending(path: Path, ending: str) -> str:
    if not path.name.endswith(ending):
        raise ValueError(f"{path}: file name does not end with the data set's file_ending {ending!r}")
    return path.name[: -len(ending)]


def scan_images(folder: str | os.PathLike, *, file_ending: str,
                n_channels: int) -> tuple[dict[str, dict[int, Path]], list[Exception]]:
    """The cases of an images folder without reading them: ``(cases, problems)``.

    ``cases`` maps each complete case's name to ``{channel id: file}``; ``problems`` holds one
    error (naming the file) per entry that is not part of a complete case: a file name that is not
    ``<case>_<XXXX><file_ending>``, a channel id beyond ``n_channels``, a case missing a channel
    file, a sub-folder. A reader that must fail on the first problem raises ``problems[0]``; a
    predictor skips those entries and reports them.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: folder not found")
    cases: dict[str, dict[int, Path]] = {}
    problems: list[Exception] = []
    for p in sorted(folder.iterdir()):
        if p.name.startswith("."):
            continue
        if not p.is_file():
            problems.append(ValueError(f"{p}: unexpected entry (not a file) in {folder.name}/"))
            continue
        if not p.name.endswith(file_ending):
            problems.append(ValueError(f"{p}: file name does not end with the data set's file_ending "
                                       f"{file_ending!r}"))
            continue
        m = _CHANNEL_FILE.match(p.name[: -len(file_ending)])
        if m is None:
            problems.append(ValueError(f"{p}: image file name must be <case>_<XXXX>{file_ending} with a 4-digit "
                                       "channel id"))
            continue
        channel = int(m["channel"])
        if channel >= n_channels:
            problems.append(ValueError(f"{p}: channel id {channel:04d} is not in dataset.json channel_names "
                                       f"(0-{n_channels - 1})"))
            continue
        cases.setdefault(m["case"], {})[channel] = p
    for case in sorted(cases):
        missing = [c for c in range(n_channels) if c not in cases[case]]
        if missing:
            path = folder / f"{case}_{missing[0]:04d}{file_ending}"
            problems.append(FileNotFoundError(f"{path}: missing channel file {missing[0]:04d} of case {case!r}"))
            del cases[case]
    return cases, problems


def _scan_images(folder: Path, ending: str, n_channels: int) -> dict[str, dict[int, Path]]:
    """:func:`scan_images` for readers that stop at the first problem."""
    cases, problems = scan_images(folder, file_ending=ending, n_channels=n_channels)
    if problems:
        raise problems[0]
    return cases


def read_case(name: str, files: Mapping[int, Path], *, channel_names: Sequence[str],
              domain: str) -> Case:
    """One unlabeled raw case from its channel files (``{channel id: file}``, see :func:`scan_images`).

    Raises ``ValueError`` naming the file for everything :func:`read_dataset` checks.
    """
    meta = {"channel_names": {str(i): str(n) for i, n in enumerate(channel_names)}, "labels": {"background": 0}}
    return _read_case(name, dict(files), None, meta, domain)


def _read_case(
    name: str,
    files: dict[int, Path],
    label_path: Path | None,
    meta: Mapping[str, Any],
    domain: str,
) -> Case:
    channel_names = tuple(meta["channel_names"][str(c)] for c in range(len(meta["channel_names"])))
    chans = []
    ref_path, ref_affine, ref_zooms, ref_shape = None, None, None, None
    for c in range(len(channel_names)):
        path = files[c]
        data, affine, zooms = _load_nifti(path)
        if not np.all(np.isfinite(data)):
            raise ValueError(f"{path}: contains {int(np.sum(~np.isfinite(data)))} NaN/Inf voxels")
        if ref_path is None:
            ref_path, ref_affine, ref_zooms, ref_shape = path, affine, zooms, data.shape
        elif data.shape != ref_shape:
            raise ValueError(f"{path}: shape {data.shape} differs from {ref_path.name} {ref_shape}")
        elif not np.allclose(affine, ref_affine, atol=_AFFINE_ATOL):
            raise ValueError(f"{path}: affine differs from {ref_path.name}:\n{affine}\nvs\n{ref_affine}")
        chans.append(data.astype(np.float32))
    label = None
    if label_path is not None:
        data, affine, _ = _load_nifti(label_path)
        if data.shape != ref_shape:
            raise ValueError(f"{label_path}: label shape {data.shape} differs from image {ref_path.name} {ref_shape}")
        if not np.allclose(affine, ref_affine, atol=_AFFINE_ATOL):
            raise ValueError(
                f"{label_path}: label affine differs from image {ref_path.name}:\n{affine}\nvs\n{ref_affine}"
            )
        if not np.all(np.isfinite(data)):
            raise ValueError(f"{label_path}: label contains NaN/Inf voxels")
        if not np.issubdtype(data.dtype, np.integer) and not np.all(np.mod(data, 1) == 0):
            raise ValueError(f"{label_path}: label values must be integers, found non-integer values")
        values = set(np.unique(data).astype(np.int64).tolist())
        known = set(meta["labels"].values())
        if not values <= known:
            raise ValueError(
                f"{label_path}: label values {sorted(values - known)} are not in dataset.json labels {meta['labels']}"
            )
        label = data.astype(np.int32)
    image = np.stack(chans, axis=-1)
    rank = image.ndim - 1
    return Case(
        name=name,
        image=image,
        label=label,
        mask=foreground_mask(image),
        affine=ref_affine,
        spacing=tuple(ref_zooms[:rank]),
        domain=domain,
        channel_names=channel_names,
    )


def read_dataset(root: str | os.PathLike, *, split: str = "Tr") -> list[Case]:
    """Read a data set in the nnU-Net v2 raw layout into raw (unpreprocessed) cases.

    Args:
        root: the data set folder (holding ``dataset.json``).
        split: "Tr" (``imagesTr`` + ``labelsTr``; labels required) or "Ts" (``imagesTs``, no labels).

    Returns:
        Cases sorted by name: ``image`` ``(*spatial, C)`` float32 (channels in dataset.json order),
        ``label`` ``(*spatial)`` int32 (None for "Ts"), ``mask`` the nonzero mask (union over
        channels, holes filled), ``affine`` and ``spacing`` from the first channel's header,
        ``domain`` = dataset.json "name" if present, else the folder name.

    Raises:
        ValueError / FileNotFoundError naming the offending file (see the module docstring).
    """
    if split not in ("Tr", "Ts"):
        raise ValueError(f"split must be 'Tr' or 'Ts', got {split!r}")
    root = Path(root)
    meta = read_dataset_json(root)
    ending = meta["file_ending"]
    n_channels = len(meta["channel_names"])
    domain = str(meta.get("name") or root.name)
    images = _scan_images(root / f"images{split}", ending, n_channels)
    labels: dict[str, Path] = {}
    if split == "Tr":
        label_dir = root / "labelsTr"
        if not label_dir.is_dir():
            raise FileNotFoundError(f"{label_dir}: folder not found")
        labels = {_strip_ending(p, ending): p for p in _list_dir(label_dir)}
        for case in sorted(images):
            if case not in labels:
                raise ValueError(f"{images[case][0]}: image of case {case!r} has no label file in labelsTr/")
        for case in sorted(labels):
            if case not in images:
                raise ValueError(f"{labels[case]}: label of case {case!r} has no image files in imagesTr/")
        if meta["numTraining"] != len(labels):
            raise ValueError(
                f"{root / 'dataset.json'}: numTraining is {meta['numTraining']} but labelsTr/ holds {len(labels)} cases"
            )
    return [_read_case(c, images[c], labels.get(c), meta, domain) for c in sorted(images)]


def read_images(
    folder: str | os.PathLike,
    *,
    channel_names: Sequence[str],
    file_ending: str = ".nii.gz",
    domain: str | None = None,
) -> list[Case]:
    """Read a plain folder of ``<case>_<XXXX><file_ending>`` images (no ``dataset.json``, no labels),
    as ``nnUNetv2_predict -i`` takes; every case must have all ``channel_names``.

    Returns unlabeled raw cases sorted by name, as :func:`read_dataset` with ``split="Ts"``.
    """
    folder = Path(folder)
    if file_ending not in _ENDINGS:
        raise ValueError(f"file_ending must be one of {_ENDINGS}, got {file_ending!r}")
    if not channel_names:
        raise ValueError("channel_names must not be empty")
    meta = {"channel_names": {str(i): str(n) for i, n in enumerate(channel_names)}, "labels": {"background": 0}}
    images = _scan_images(folder, file_ending, len(channel_names))
    if not images:
        raise FileNotFoundError(f"{folder}: no <case>_XXXX{file_ending} image files found")
    return [_read_case(c, images[c], None, meta, domain or folder.name) for c in sorted(images)]


def image_path(folder: str | os.PathLike, case: str, channel: int = 0, file_ending: str = ".nii.gz") -> Path:
    """The nnU-Net file name of channel ``channel`` of ``case`` in ``folder``."""
    return Path(folder) / f"{case}_{channel:04d}{file_ending}"


# ----------------------------------------------------------------------------- writing


def _to_nifti(arr: np.ndarray, affine: np.ndarray) -> nib.Nifti1Image:
    if arr.ndim == 2:
        arr = arr[..., None]  # 2D -> (H, W, 1)
    img = nib.Nifti1Image(np.ascontiguousarray(arr), np.asarray(affine, np.float64))
    img.header.set_xyzt_units("mm")
    return img


def _label_dtype(n_labels: int) -> type:
    return np.uint8 if n_labels <= 256 else np.int16


def write_dataset(
    root: str | os.PathLike,
    cases: Sequence[Case],
    *,
    labels: Mapping[str, int] = DEFAULT_LABELS,
    overwrite: bool = False,
    extra: Mapping[str, Any] | None = None,
    file_ending: str = ".nii.gz",
) -> Path:
    """Write ``cases`` as an nnU-Net v2 raw data set.

    Labeled cases go to ``imagesTr`` / ``labelsTr``, unlabeled ones (``label is None``) to
    ``imagesTs``. Images are written float32 per channel (channels-last -> one file per channel),
    labels as uint8; 2D cases as ``(H, W, 1)`` volumes; the affine is the case's, axes as stored.

    Args:
        root: data set folder to create (e.g. ``.../Dataset501_PhantomSiteA``).
        cases: cases sharing ``channel_names``; unique names.
        labels: dataset.json "labels" (name -> int, background 0).
        overwrite: replace an existing data set in ``root``; otherwise an existing non-empty
            ``root`` is an error.
        extra: more dataset.json entries (e.g. ``{"description": ..., "phantom": {...}}``).
        file_ending: ".nii.gz" (default) or ".nii".

    Returns:
        ``root`` as a Path.
    """
    root = Path(root)
    cases = list(cases)
    if not cases:
        raise ValueError("cases must not be empty")
    if file_ending not in _ENDINGS:
        raise ValueError(f"file_ending must be one of {_ENDINGS}, got {file_ending!r}")
    channel_names = cases[0].channel_names
    names = [c.name for c in cases]
    if len(set(names)) != len(names):
        raise ValueError(f"cases: duplicate case names {sorted({n for n in names if names.count(n) > 1})}")
    known = set(labels.values())
    for c in cases:
        if not c.name or "/" in c.name or os.sep in c.name or c.name.startswith("."):
            raise ValueError(f"cases: invalid case name {c.name!r}")
        if c.channel_names != channel_names:
            raise ValueError(f"cases: case {c.name!r} has channels {c.channel_names}, expected {channel_names}")
        if c.crop_box is not None:
            raise ValueError(f"cases: case {c.name!r} is preprocessed (cropped); write raw cases")
        if c.label is not None:
            bad = set(np.unique(c.label).tolist()) - known
            if bad:
                raise ValueError(f"cases: case {c.name!r} has label values {sorted(bad)} not in labels {dict(labels)}")
    if root.exists() and any(root.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{root}: exists and is not empty (pass overwrite=True to replace it)")
        for sub in ("imagesTr", "labelsTr", "imagesTs"):
            shutil.rmtree(root / sub, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    domains = {c.domain for c in cases}
    meta: dict[str, Any] = {
        "channel_names": {str(i): n for i, n in enumerate(channel_names)},
        "labels": {str(k): int(v) for k, v in labels.items()},
        "numTraining": sum(c.label is not None for c in cases),
        "file_ending": file_ending,
    }
    if len(domains) == 1:
        meta["name"] = domains.pop()
    meta.update(dict(extra or {}))
    ldtype = _label_dtype(len(labels))
    for c in cases:
        split = "Tr" if c.label is not None else "Ts"
        img_dir = root / f"images{split}"
        img_dir.mkdir(parents=True, exist_ok=True)
        for i in range(len(channel_names)):
            arr = np.asarray(c.image[..., i], np.float32)
            img = _to_nifti(arr, c.affine)
            atomic_save(img_dir / f"{c.name}_{i:04d}{file_ending}", lambda tmp, img=img: nib.save(img, tmp))
        if c.label is not None:
            (root / "labelsTr").mkdir(parents=True, exist_ok=True)
            lab = _to_nifti(c.label.astype(ldtype), c.affine)
            atomic_save(root / "labelsTr" / f"{c.name}{file_ending}", lambda tmp, lab=lab: nib.save(lab, tmp))
    if meta["numTraining"] > 0:
        (root / "labelsTr").mkdir(parents=True, exist_ok=True)
        (root / "imagesTr").mkdir(parents=True, exist_ok=True)
    write_json(root / "dataset.json", meta)
    return root
