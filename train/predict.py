"""Predict lesion masks for NIfTI images with a trained checkpoint.

``python -m train.predict --checkpoint RUN_DIR --input DIR --output DIR [--step N] [--overwrite]``

``--checkpoint``: a training work dir (or its ``checkpoints/`` folder); the latest checkpoint is
used unless ``--step`` is given. ``--input``: an nnU-Net raw data set (its ``imagesTs/``) or a
plain folder of ``<case>_<XXXX>.nii.gz`` images with the channels the model was trained on, in
the same order. ``--output``: receives ``<case>.nii.gz`` label maps (uint8, 0 background,
1 lesion) with the affine and header of the case's first channel. Existing outputs are an error
unless ``--overwrite``; each file is written atomically.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import jax
import nibabel as nib
import numpy as np

from train._io import atomic_save
from train.data.cases import Case
from train.data.nnunet import image_path, read_dataset, read_dataset_json, read_images
from train.data.preprocess import preprocess_case, uncrop
from train.evaluate import load_model, predict_case
from train.step import make_predict_fn


def read_inputs(folder: str | os.PathLike, channel_names: Sequence[str]) -> tuple[list[Case], Path, str]:
    """Unlabeled cases of ``folder``, the folder holding their files, and the file ending."""
    folder = Path(folder)
    if (folder / "dataset.json").is_file():
        meta = read_dataset_json(folder)
        names = tuple(meta["channel_names"][str(i)] for i in range(len(meta["channel_names"])))
        if len(names) != len(channel_names):
            raise ValueError(f"{folder / 'dataset.json'}: {len(names)} channels {names}, but the model was trained "
                             f"on {len(channel_names)} {tuple(channel_names)}")
        return read_dataset(folder, split="Ts"), folder / "imagesTs", meta["file_ending"]
    if not folder.is_dir():
        raise FileNotFoundError(f"--input {folder}: folder not found")
    ending = ".nii" if any(p.name.endswith(".nii") for p in folder.iterdir()) else ".nii.gz"
    return read_images(folder, channel_names=channel_names, file_ending=ending), folder, ending


def _write_label(mask: np.ndarray, reference: Path, out: Path) -> None:
    ref = nib.load(str(reference))
    data = mask.astype(np.uint8).reshape(ref.shape)  # 2D cases are stored as (H, W, 1)
    header = ref.header.copy()
    header.set_data_dtype(np.uint8)
    img = nib.Nifti1Image(data, ref.affine, header)
    img.header.set_slope_inter(1, 0)
    atomic_save(out, lambda tmp: nib.save(img, tmp))


def predict_folder(checkpoint: str | os.PathLike, input_dir: str | os.PathLike, output_dir: str | os.PathLike, *,
                   step: int | None = None, overwrite: bool = False) -> list[Path]:
    """Writes one ``<case>.nii.gz`` lesion mask per input case; returns their paths."""
    model = load_model(checkpoint, step=step)
    graphdef, params, config, channel_names = model.graphdef, model.params, model.config, model.channel_names
    cases, image_dir, ending = read_inputs(input_dir, channel_names)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    targets = [output_dir / f"{c.name}.nii.gz" for c in cases]
    existing = [str(t) for t in targets if t.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"outputs exist (pass --overwrite to replace them): {existing[:3]}")
    predict = jax.jit(make_predict_fn(graphdef))
    spacing = None if config.data.target_spacing is None else tuple(config.data.target_spacing)
    for case, target in zip(cases, targets, strict=True):
        pre = preprocess_case(case, target_spacing=spacing)
        mask = uncrop(predict_case(predict, params, pre, config), pre).astype(bool)
        _write_label(mask, image_path(image_dir, case.name, 0, ending), target)
    return targets


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m train.predict", description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="training work dir or its checkpoints/ folder")
    parser.add_argument("--input", required=True, help="nnU-Net data set (imagesTs) or folder of <case>_XXXX images")
    parser.add_argument("--output", required=True, help="folder for <case>.nii.gz predictions")
    parser.add_argument("--step", type=int, default=None, help="checkpoint step (default: latest)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing predictions")
    args = parser.parse_args(argv)
    try:
        paths = predict_folder(args.checkpoint, args.input, args.output, step=args.step, overwrite=args.overwrite)
    except (FileNotFoundError, FileExistsError, ValueError) as err:
        parser.exit(2, f"error: {err}\n")
    print(f"wrote {len(paths)} predictions to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
