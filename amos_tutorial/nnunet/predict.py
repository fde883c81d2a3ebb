"""``amos nnunet predict``: nnU-Net's predictor on a folder of images, writing ``amos_XXXX.nii.gz``.

Introduced in chapter *nnU-Net v2: the framework that won*. Uses ``nnunetv2.inference.predict_from_raw_data.
nnUNetPredictor`` (nnU-Net's preprocessing, Gaussian-weighted sliding window, resampling back to the
original grid, export through the dataset's reader) without worker processes
(``predict_from_files_sequential``). The network is built from the model folder's plans with nnU-Net's own
``nnUNetTrainer.build_network_architecture`` and handed over with ``manual_initialization``: nnU-Net's
lookup of the trainer by name would import every trainer variant, some of which need torchvision. The
files are named like the inputs without the channel suffix (``amos_0042_0000.nii.gz`` -> ``amos_0042.nii.gz``)
on the input's grid, so ``amos evaluate --pred OUT`` scores them as they are.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from amos_tutorial.nnunet.env import require_nnunet

_CHANNEL_SUFFIX = "_0000.nii.gz"

__all__ = ["load_predictor", "predict_fold_validation", "predict_folder"]


def load_predictor(
    model_folder: str | os.PathLike,
    folds: Sequence[int | str] = (0,),
    checkpoint: str = "checkpoint_final.pth",
    device: str = "cpu",
    mirroring: bool = False,
    step_size: float = 0.5,
):
    """An ``nnUNetPredictor`` holding the trained folds of ``model_folder`` (an ensemble if several).

    Args:
        model_folder: ``nnUNet_results/DatasetXXX/<trainer>__<plans>__<configuration>``.
        folds: Folds to ensemble.
        checkpoint: ``checkpoint_final.pth`` or ``checkpoint_best.pth``.
        device: ``cpu`` or ``cuda``.
        mirroring: Test-time mirroring (nnU-Net's default; 8x slower in 3-D).
        step_size: Sliding-window step as a fraction of the patch (nnU-Net: 0.5).

    Raises:
        FileNotFoundError: If a fold's checkpoint or the plans are missing.
        ValueError: ``"PATH: ..."`` for a checkpoint that is truncated, not nnU-Net's, or refused for safety
            (:func:`amos_tutorial.nnunet.checkpoint.load_nnunet_checkpoint`: ``weights_only=True``), or
            plans that are not JSON.
    """
    require_nnunet()
    import torch
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
    from nnunetv2.utilities.label_handling.label_handling import determine_num_input_channels
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    from amos_tutorial.nnunet.checkpoint import load_nnunet_checkpoint

    folder = Path(model_folder)
    for name in ("plans.json", "dataset.json"):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder / name}: missing (is this an nnU-Net model folder?)")
    plans_manager = PlansManager(_read_json(folder / "plans.json"))
    dataset_json = _read_json(folder / "dataset.json")
    parameters, first = [], None
    for fold in folds:
        path = folder / f"fold_{fold}" / checkpoint
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no checkpoint (train fold {fold} first)")
        state = load_nnunet_checkpoint(path)  # weights_only=True: a model folder from elsewhere runs no code
        parameters.append(state["network_weights"])
        first = first or state
    configuration_manager = plans_manager.get_configuration(first["init_args"]["configuration"])
    network = nnUNetTrainer.build_network_architecture(
        plans_manager,
        configuration_manager,
        determine_num_input_channels(plans_manager, configuration_manager, dataset_json),
        plans_manager.get_label_manager(dataset_json).num_segmentation_heads,
        enable_deep_supervision=False,
    )
    network.load_state_dict(parameters[0])
    predictor = nnUNetPredictor(
        tile_step_size=step_size, use_gaussian=True, use_mirroring=mirroring,
        perform_everything_on_device=torch.device(device).type != "cpu", device=torch.device(device),
        verbose=False, verbose_preprocessing=False, allow_tqdm=False,
    )
    predictor.manual_initialization(
        network, plans_manager, configuration_manager, parameters, dataset_json, first["trainer_name"],
        first.get("inference_allowed_mirroring_axes"),
    )
    return predictor


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not an nnU-Net JSON file (expected an object)")
    return data


def predict_folder(
    model_folder: str | os.PathLike,
    input_folder: str | os.PathLike,
    output_folder: str | os.PathLike,
    folds: Sequence[int | str] = (0,),
    device: str = "cpu",
    mirroring: bool = False,
    cases: Sequence[str] | None = None,
) -> list[Path]:
    """Segment the ``*_0000.nii.gz`` images of ``input_folder`` into ``output_folder/amos_XXXX.nii.gz``.

    Introduced in chapter *nnU-Net v2: the framework that won*.

    Args:
        model_folder: See :func:`load_predictor`.
        input_folder: Images in nnU-Net's naming (``imagesTs`` or ``imagesTr`` of the exported dataset).
        output_folder: Destination, created if needed.
        folds: Folds to ensemble.
        device: ``cpu`` or ``cuda``.
        mirroring: Test-time mirroring.
        cases: Only these case ids (``amos_0042``); None: every image.

    Returns:
        The written segmentations, sorted.

    Raises:
        FileNotFoundError: If there is no image to segment, or a requested case has no image.
    """
    inputs = Path(input_folder)
    images = sorted(inputs.glob(f"*{_CHANNEL_SUFFIX}"))
    if cases is not None:
        by_id = {p.name[: -len(_CHANNEL_SUFFIX)]: p for p in images}
        missing = [c for c in cases if c not in by_id]
        if missing:
            raise FileNotFoundError(f"{inputs}: no image for {', '.join(missing)}")
        images = [by_id[c] for c in cases]
    if not images:
        raise FileNotFoundError(f"{inputs}: no *{_CHANNEL_SUFFIX} image to segment")
    out = Path(output_folder)
    out.mkdir(parents=True, exist_ok=True)
    predictor = load_predictor(model_folder, folds, device=device, mirroring=mirroring)
    names = [str(out / p.name[: -len(_CHANNEL_SUFFIX)]) for p in images]
    predictor.predict_from_files_sequential([[str(p)] for p in images], names, save_probabilities=False,
                                            overwrite=True)
    return sorted(Path(f"{n}.nii.gz") for n in names)


def _dataset_id_of(model_folder: Path) -> int:
    """The dataset id of ``nnUNet_results/DatasetXXX_NAME/<trainer>__<plans>__<configuration>``."""
    import re

    match = re.fullmatch(r"Dataset(\d{3})_.+", model_folder.parent.name)
    if match is None:
        raise ValueError(
            f"{model_folder}: a model folder must sit in a DatasetXXX_NAME folder of nnUNet_results "
            "(nnUNet_results/DatasetXXX_NAME/TRAINER__PLANS__CONFIGURATION) to find its fold's validation cases; "
            "give --input with the images to predict instead"
        )
    return int(match.group(1))


def predict_fold_validation(
    model_folder: str | os.PathLike, fold: int, output_folder: str | os.PathLike, device: str = "cpu"
) -> tuple[Path, Path]:
    """Predict the validation cases of one of nnU-Net's folds, and gather their reference labels beside them.

    Introduced in chapter *nnU-Net v2: the framework that won*. The fold's cases come from nnU-Net's
    ``splits_final.json``; images and labels from the exported raw dataset. The result is ready for
    ``amos evaluate --pred OUT/pred --labels OUT/labels``.

    Returns:
        ``(OUT/pred, OUT/labels)``.

    Raises:
        FileNotFoundError: If the split file or an image is missing (train the fold first).
    """
    import shutil

    from amos_tutorial.nnunet.plans import dataset_folder
    from amos_tutorial.utils.io import atomic_path

    folder = Path(model_folder)
    dataset_id = _dataset_id_of(folder)
    splits_file = dataset_folder(dataset_id) / "splits_final.json"
    if not splits_file.is_file():
        raise FileNotFoundError(f"{splits_file}: no split file (train a fold first)")
    cases = json.loads(splits_file.read_text(encoding="utf-8"))[fold]["val"]
    raw = dataset_folder(dataset_id, "nnUNet_raw")
    out = Path(output_folder)
    labels = out / "labels"
    if labels.exists():
        shutil.rmtree(labels)
    labels.mkdir(parents=True)
    for case in cases:
        with atomic_path(labels / f"{case}.nii.gz") as tmp:
            shutil.copy2(raw / "labelsTr" / f"{case}.nii.gz", tmp)
    predict_folder(folder, raw / "imagesTr", out / "pred", folds=(fold,), device=device, cases=cases)
    return out / "pred", labels
