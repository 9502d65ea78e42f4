"""Predict lesion masks for NIfTI images with a trained checkpoint.

``python -m train.predict --checkpoint RUN_DIR --input DIR --output DIR [--step N] [--overwrite]``

``--checkpoint``: a training work dir (or its ``checkpoints/`` folder), also one whose training is
still running (checkpoints are opened read-only); the newest checkpoint that restores is used
unless ``--step`` is given. A work dir of several variants (``config.variants``) holds one run per
sub-folder: pass one of them (the error lists them). ``--input``: an nnU-Net raw data set (its
``imagesTs/``, or ``imagesTr/`` if it has no test images, with a note) or a plain folder of
``<case>_<XXXX>.nii.gz`` images. A data set's ``dataset.json`` channel names must be the ones the
model was trained on, in the same order (compared without regard to case); a plain folder has no
names, so its channel ids ``_0000``, ``_0001``, ... are taken to be the model's channels in order.
``--output``: receives ``<case>.nii.gz`` label maps (uint8, 0 background, 1 lesion) with the affine
and header of the case's first channel, each written atomically (mode 0644). Existing outputs are
an error unless ``--overwrite``. A case that cannot be predicted (an unreadable or incomplete
file, an empty image) is skipped and reported; the others are still predicted. Exit status: 0
when every case was predicted, 1 when some were skipped, 2 when nothing could be done.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

import jax
import nibabel as nib
import numpy as np

from train._io import atomic_save
from train.data.nnunet import image_path, read_case, read_dataset_json, scan_images
from train.data.preprocess import preprocess_case, uncrop
from train.data.sources import target_spacing
from train.evaluate import load_model, predict_case
from train.step import make_predict_fn

__all__ = ["Inputs", "PredictionReport", "find_inputs", "predict_folder"]


@dataclasses.dataclass(frozen=True)
class Inputs:
    """The images to predict: ``cases`` maps case name -> ``{channel id: file}``; ``problems`` are
    the entries that are not complete cases (each an error naming the file); ``notes`` say which
    folder was chosen and how channels were matched."""

    folder: Path
    file_ending: str
    domain: str
    cases: dict[str, dict[int, Path]]
    problems: list[Exception]
    notes: list[str]


@dataclasses.dataclass
class PredictionReport:
    """What :func:`predict_folder` did: the files written, the cases skipped and why, the notes."""

    written: list[Path]
    skipped: list[tuple[str, str]]
    notes: list[str]
    step: int


def _same_channels(a: Sequence[str], b: Sequence[str]) -> bool:
    return [x.casefold() for x in a] == [x.casefold() for x in b]


def find_inputs(folder: str | os.PathLike, channel_names: Sequence[str]) -> Inputs:
    """The images of ``--input`` for a model trained on ``channel_names`` (see the module docstring).

    Raises:
        FileNotFoundError: no such folder, or a data set without images.
        ValueError: a data set whose ``dataset.json`` names other channels than the model's.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"--input {folder}: folder not found")
    notes: list[str] = []
    if (folder / "dataset.json").is_file():
        meta = read_dataset_json(folder)
        names = tuple(meta["channel_names"][str(i)] for i in range(len(meta["channel_names"])))
        if not _same_channels(names, channel_names):
            raise ValueError(f"{folder / 'dataset.json'} names the channels {names}, but the model was trained on "
                             f"{tuple(channel_names)} (in this order); a model given other channels than it was "
                             f"trained on predicts meaningless masks")
        ending, domain = meta["file_ending"], str(meta.get("name") or folder.name)
        test, training = folder / "imagesTs", folder / "imagesTr"
        if test.is_dir() and any(not p.name.startswith(".") for p in test.iterdir()):
            images = test
        elif training.is_dir():
            images = training
            notes.append(f"{folder} has no test images (imagesTs/): predicting imagesTr/, the images the data set "
                         "provides for training")
        else:
            raise FileNotFoundError(f"{folder}: neither imagesTs/ nor imagesTr/ holds images")
    else:
        images, domain = folder, folder.name
        ending = ".nii" if any(p.name.endswith(".nii") for p in folder.iterdir()) else ".nii.gz"
        notes.append(f"{folder} has no dataset.json: channel files _0000, _0001, ... are taken to be the model's "
                     f"channels {tuple(channel_names)} in this order")
    cases, problems = scan_images(images, file_ending=ending, n_channels=len(channel_names))
    if not cases and not problems:
        raise FileNotFoundError(f"{images}: no <case>_XXXX{ending} image files found")
    return Inputs(images, ending, domain, cases, problems, notes)


def _write_label(mask: np.ndarray, reference: Path, out: Path) -> None:
    ref = nib.load(str(reference))
    data = mask.astype(np.uint8).reshape(ref.shape)  # 2D cases are stored as (H, W, 1)
    header = ref.header.copy()
    header.set_data_dtype(np.uint8)
    img = nib.Nifti1Image(data, ref.affine, header)
    img.header.set_slope_inter(1, 0)
    atomic_save(out, lambda tmp: nib.save(img, tmp))


def predict_folder(checkpoint: str | os.PathLike, input_dir: str | os.PathLike, output_dir: str | os.PathLike, *,
                   step: int | None = None, overwrite: bool = False, progress: bool = False) -> PredictionReport:
    """Writes one ``<case>.nii.gz`` lesion mask per input case (module docstring); returns the report.

    Raises:
        FileNotFoundError, ValueError: no usable checkpoint or input (nothing is written).
        FileExistsError: outputs exist and ``overwrite`` is False (nothing is written).
    """
    model = load_model(checkpoint, step=step)
    inputs = find_inputs(input_dir, model.channel_names)
    notes = list(inputs.notes)
    notes += [f"checkpoint step {s} could not be restored ({e}); used step {model.step}" for s, e in model.skipped]
    output_dir = Path(output_dir)
    targets = {name: output_dir / f"{name}.nii.gz" for name in sorted(inputs.cases)}
    existing = [str(t) for t in targets.values() if t.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"outputs exist (pass --overwrite to replace them): {existing[:3]}")
    output_dir.mkdir(parents=True, exist_ok=True)
    predict = jax.jit(make_predict_fn(model.graphdef))
    config = model.config
    spacing = target_spacing(config.data)
    skipped = [(Path(str(p).split(": ")[0]).name, str(p)) for p in inputs.problems]
    written = []
    from tqdm.auto import tqdm

    for name, target in tqdm(targets.items(), desc="predict", unit="case", disable=not progress):
        try:
            case = read_case(name, inputs.cases[name], channel_names=model.channel_names, domain=inputs.domain)
            pre = preprocess_case(case, target_spacing=spacing)
            mask = uncrop(predict_case(predict, model.params, pre, config), pre).astype(bool)
            _write_label(mask, image_path(inputs.folder, name, 0, inputs.file_ending), target)
        except (ValueError, OSError) as err:  # this case only: report it, predict the others
            skipped.append((name, str(err)))
            continue
        written.append(target)
    return PredictionReport(written, skipped, notes, model.step)


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m train.predict", description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="training work dir or its checkpoints/ folder")
    parser.add_argument("--input", required=True,
                        help="nnU-Net data set (imagesTs, else imagesTr) or folder of <case>_XXXX images")
    parser.add_argument("--output", required=True, help="folder for <case>.nii.gz predictions")
    parser.add_argument("--step", type=int, default=None, help="checkpoint step (default: newest that restores)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing predictions")
    parser.add_argument("--noprogress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        report = predict_folder(args.checkpoint, args.input, args.output, step=args.step, overwrite=args.overwrite,
                                progress=not args.noprogress)
    except (FileNotFoundError, FileExistsError, ValueError) as err:
        parser.exit(2, f"error: {err}\n")
    for note in report.notes:
        print(f"note: {note}")
    print(f"wrote {len(report.written)} predictions to {args.output} (checkpoint step {report.step})")
    if report.skipped:
        print(f"skipped {len(report.skipped)} cases that could not be predicted:")
        for name, reason in report.skipped:
            print(f"  {name}: {reason}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
