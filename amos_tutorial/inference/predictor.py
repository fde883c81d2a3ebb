"""Predict label maps on the original image grid: sliding window, test-time flips, inversion on the device.

Introduced in chapter *Evaluating segmentations*. Builds on MONAI's ``sliding_window_inference``
(windows of the training patch, overlap, Gaussian blending), torch autocast (mixed precision chosen per
device by :func:`amos_tutorial.training.amp_policy`), the package's preprocessing
(:func:`amos_tutorial.transforms.preprocessing.preprocess_array`) and nibabel.

Two inference engines (``engine=``) give the same labels (up to interpolation round-off at organ borders, measured by
``amos bench predict``):

* ``"fast"`` (default): preprocessing in torch on the device, sliding window, then the 16-channel
  probabilities are brought back to the original grid *on the device* with
  :func:`~amos_tutorial.transforms.preprocessing.invert_to_original` (three 1-D interpolation passes),
  and the argmax is taken there;
* ``"plain"``: what MONAI tutorials do: the MONAI preprocessing chain, sliding window on the device,
  then ``Invertd`` on the CPU (``grid_sample`` of every channel on a full coordinate grid), then argmax.
  On an H100 the CPU inversion alone costs about 9 s for an AMOS-sized CT, against 0.3 s on the GPU.

Several runs (folds, configurations; chapter *How AMOS 2022 was won*) make an ensemble: the image is
preprocessed once, each run's sliding window (with its TTA) adds its softmax probabilities to a sum kept on
the device, and the mean goes through the same inversion and argmax (:func:`ensemble_probabilities`). Runs
with other labels, preprocessing or task are refused (:func:`check_ensemble`).

Every output has exactly the input's shape and affine, as uint8 labels 0-15. :func:`predict_folder`
writes each file atomically and skips finished cases, so an interrupted run resumes where it stopped; a
case that fails is reported in the returned table and the run goes on.

Examples:
    >>> from amos_tutorial.inference import predict_folder
    >>> table = predict_folder("runs/unet", "amos22/imagesVa", "runs/unet/pred_va", device="cuda")  # doctest: +SKIP
    >>> table.groupby("status").size()  # doctest: +SKIP
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from amos_tutorial.inference.ensemble import ensemble_members, ensemble_probabilities
from amos_tutorial.inference.options import PredictOptions
from amos_tutorial.inference.window import flip_combinations

__all__ = [
    "STAGES",
    "ModalityMismatchWarning",
    "Prediction",
    "predict_case",
]


class ModalityMismatchWarning(UserWarning):
    """A run is asked to segment a modality it never trained on (a Task 1, CT-only run on an MRI case)."""


def _check_task_modality(config: Any, modality: str, image_path: Path) -> None:
    task = getattr(config, "task", None)
    trained_on = getattr(config, "modalities", None)
    if task is not None and trained_on is not None and modality not in trained_on:
        warnings.warn(
            f"{image_path}: a Task {task} run (trained on {' and '.join(trained_on)} only) is segmenting an "
            f"{modality} case; expect much lower scores than on {' and '.join(trained_on)}",
            ModalityMismatchWarning,
            stacklevel=3,
        )


# Probability mass below which a voxel of the inverted volume counts as outside the cropped box.
_VANISHING_MASS = 1e-3

STAGES: tuple[str, ...] = ("load", "preprocess", "sliding_window", "inversion", "argmax")
"""Timed stages of :func:`predict_case`, in order (seconds in :attr:`Prediction.timings`)."""


@dataclass
class Prediction:
    """One predicted case on its original grid.

    Introduced in chapter *Evaluating segmentations*.

    Attributes:
        case_id: ``"amos_0001"``-style name (the file name without ``.nii.gz``).
        labels: ``(X, Y, Z)`` uint8 label map with the input image's shape.
        affine: The input image's 4x4 affine (the output is saved with it).
        modality: ``"CT"`` or ``"MRI"``, as used for the intensity normalisation.
        timings: Seconds per stage of :data:`STAGES` (device work synchronised before each clock).
        engine: ``"fast"`` or ``"plain"``.
        probabilities: ``(C, X, Y, Z)`` float32 probabilities on the original grid when asked for
            (``keep_probabilities=True``), else None.
    """

    case_id: str
    labels: np.ndarray
    affine: np.ndarray
    modality: str
    timings: dict[str, float] = field(default_factory=dict)
    engine: str = "fast"
    probabilities: np.ndarray | None = None


def _sync(device: torch.device) -> None:
    # CUDA kernels run asynchronously: without a sync a stage's time would land on the next stage.
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


class _Clock:
    """Per-stage wall-clock timer that synchronises the device at each boundary."""

    def __init__(self, device: torch.device):
        self.device, self.timings = device, {}
        _sync(device)
        self.last = time.perf_counter()

    def stop(self, stage: str) -> None:
        _sync(self.device)
        now = time.perf_counter()
        self.timings[stage] = self.timings.get(stage, 0.0) + now - self.last
        self.last = now


def _modality_for(image_path: Path, modality: str | None, modality_rule: str) -> str:
    if modality is not None:
        return modality
    from amos_tutorial.data.layout import case_number, modality_from_id

    try:
        return modality_from_id(case_number(image_path), modality_rule)
    except ValueError:
        raise ValueError(
            f"{image_path}: cannot tell CT from MRI by the file name (not amos_XXXX): pass modality='CT' or 'MRI'"
        ) from None


def _case_name(path: Path) -> str:
    name = path.name
    return name[: -len(".nii.gz")] if name.endswith(".nii.gz") else name.removesuffix(".nii")


def _as_list(value: Any, kind: type | tuple[type, ...]) -> list:
    return [value] if isinstance(value, kind) or not isinstance(value, Sequence) else list(value)


def predict_case(
    model: torch.nn.Module | Sequence[torch.nn.Module],
    image_path: str | os.PathLike,
    config: Any,
    device: str | torch.device = "cpu",
    modality: str | None = None,
    keep_probabilities: bool = False,
    options: PredictOptions | None = None,
    **settings: Any,
) -> Prediction:
    """Predict one NIfTI image with one network or an ensemble and return uint8 labels on its original grid.

    Introduced in chapter *Evaluating segmentations*; ensembles in chapter *How AMOS 2022 was won*. Builds on
    nibabel, the package's torch preprocessing and
    :func:`~amos_tutorial.transforms.preprocessing.invert_to_original` (``engine="fast"``), or on
    MONAI's chain and ``Invertd`` (``engine="plain"``), with MONAI's sliding window in both.

    Args:
        model: The network, already on ``device`` and in eval mode (e.g. from
            :func:`amos_tutorial.training.load_run`), or a list of networks (an ensemble: their softmax
            probabilities are averaged on the device before the argmax, see :func:`ensemble_probabilities`).
        image_path: ``amos_XXXX.nii.gz`` image.
        config: The run's :class:`~amos_tutorial.training.TrainConfig` (preprocessing, patch, overlap,
            AMP) or a :class:`~amos_tutorial.transforms.preprocessing.PreprocessConfig` (then give ``roi_size``);
            for an ensemble, one config for all or a list with one per network (same preprocessing).
        device: Where preprocessing, windows and inversion run.
        modality: ``"CT"``/``"MRI"``; None: the id rule on the file name. A :class:`ModalityMismatchWarning`
            is issued when the run's task did not train on it (a Task 1 run on an MRI case).
        keep_probabilities: Also return the ``(C, X, Y, Z)`` probabilities on the original grid
            (:attr:`Prediction.probabilities`, float32 on the CPU: memory of 16 volumes; before any
            post-processing).
        options: How to predict (:class:`~amos_tutorial.inference.options.PredictOptions`: window, overlap,
            ``sw_batch_size``, ``amp``, ``tta``, ``engine``, ``modality_rule``, ``blend``, ``postprocess``).
        **settings: Fields of :class:`~amos_tutorial.inference.options.PredictOptions` given as keywords
            (``tta=True``, ``engine="plain"``...); they override ``options``.

    Returns:
        A :class:`Prediction` (labels, affine, stage timings).

    Raises:
        FileNotFoundError: If the image does not exist.
        ValueError: ``"PATH: problem"`` for an unreadable image or bad settings.
        TypeError: For a keyword that is not a prediction setting.

    Examples:
        >>> model, cfg = load_run("runs/unet", device="cuda")                          # doctest: +SKIP
        >>> pred = predict_case(model, "imagesVa/amos_0008.nii.gz", cfg, "cuda")      # doctest: +SKIP
        >>> pred.labels.shape == nib.load("imagesVa/amos_0008.nii.gz").shape          # doctest: +SKIP
        True
    """
    from amos_tutorial.training.amp import resolve_device

    options = PredictOptions.build(options, settings)
    image_path = Path(image_path)
    if not image_path.is_file():
        raise FileNotFoundError(f"{image_path}: image does not exist")
    device = resolve_device(device)
    models = _as_list(model, torch.nn.Module)
    configs = list(config) if isinstance(config, (list, tuple)) else [config]
    members, pre_config = ensemble_members(models, configs, options)
    modality = _modality_for(image_path, modality, options.modality_rule)
    for cfg in {id(c): c for c in configs}.values():
        _check_task_modality(cfg, modality, image_path)
    flips = flip_combinations(options.tta_axes) if options.tta else [()]
    run = _predict_fast if options.engine == "fast" else _predict_plain
    try:
        pred = run(members, image_path, pre_config, device, modality, flips, keep_probabilities)
    except ValueError as exc:
        message = str(exc).removeprefix(f"{_case_name(image_path)}: ")
        raise ValueError(message if message.startswith(str(image_path)) else f"{image_path}: {message}") from exc
    if options.postprocess is not None:
        from amos_tutorial.evaluation.postprocess import PostprocessPlan, postprocess_case

        plan = options.postprocess
        plan = plan if isinstance(plan, PostprocessPlan) else PostprocessPlan.load(plan)
        pred.labels = postprocess_case(pred.labels, pred.affine, plan, image=image_path)
    return pred


def _pad_like_invertd(probs: torch.Tensor, meta: dict) -> tuple[torch.Tensor, dict]:
    """One voxel of padding around the cropped volume, with the affine moved to match.

    MONAI's ``Invertd`` undoes the foreground crop by padding the resampled grid with zeros, then
    resamples with border padding: between the crop box and the zeros the probabilities fade linearly (the
    argmax of the outermost voxels reaches up to a voxel beyond the box), while beyond the resampled grid the
    edge values repeat. ``invert_to_original`` alone fills everything half a voxel beyond the box. Padding
    with zeros where the box ends inside the grid, and with a copy of the edge where the box reaches the
    grid's end, makes the fast path interpolate exactly what ``Invertd`` interpolates.
    """
    padded = torch.nn.functional.pad(probs, (1, 1, 1, 1, 1, 1))
    box, full = meta.get("crop_box"), meta.get("resampled_shape")
    if box is not None and full is not None:
        for axis, ((start, stop), size) in enumerate(zip(box, full)):
            dim = axis + 1
            if start == 0:
                padded.narrow(dim, 0, 1).copy_(padded.narrow(dim, 1, 1))
            if stop == size:
                padded.narrow(dim, padded.shape[dim] - 1, 1).copy_(padded.narrow(dim, padded.shape[dim] - 2, 1))
    affine = np.asarray(meta["affine"], dtype=np.float64).copy()
    affine[:3, 3] -= affine[:3, :3] @ np.ones(3)
    return padded, {**meta, "affine": affine.tolist()}


def _predict_fast(members, image_path, pre_config, device, modality, flips, keep) -> Prediction:
    from amos_tutorial.transforms.preprocessing import invert_to_original, preprocess_array
    from amos_tutorial.utils.io import load_nifti

    clock = _Clock(device)
    image, affine = load_nifti(image_path, dtype=np.float32)
    clock.stop("load")
    case = preprocess_array(image, affine, modality, pre_config, device=device, case_id=_case_name(image_path))
    case_meta = case.meta
    del image
    clock.stop("preprocess")
    probs = ensemble_probabilities(members, case.image[None], flips)
    del case
    clock.stop("sliding_window")
    if keep:
        padded, meta = _pad_like_invertd(probs[0], case_meta)
        del probs
        back = invert_to_original(padded, meta, mode="trilinear")
        del padded
        clock.stop("inversion")
        labels = back.argmax(dim=0).to(torch.uint8)
        mass = back.sum(dim=0)
    else:
        labels, mass = _invert_argmax(probs[0], case_meta)
        del probs
        clock.stop("inversion")
    # A voxel centre that falls on the zero padding has no probability left: its argmax would be float
    # noise (it is outside the body's box), so call it background.
    labels.masked_fill_(mass < _VANISHING_MASS, 0)
    labels = labels.cpu().numpy()
    clock.stop("argmax")
    kept = back.float().cpu().numpy() if keep else None
    return Prediction(_case_name(image_path), labels, affine, modality, clock.timings, "fast", kept)


def _invert_argmax(probs: torch.Tensor, case_meta: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Labels and probability mass on the original grid, one class at a time (as nnU-Net resamples per class).

    The 16 channels never exist together on the original grid: each class is brought back alone
    (:func:`~amos_tutorial.transforms.preprocessing.invert_to_original`) and folded into a running maximum,
    the label of that maximum (a strict ``>`` keeps the first class on ties, like ``argmax``) and the sum
    of the probabilities. Memory on the original grid: three float32 volumes and one uint8 volume, whatever
    the number of classes, instead of 16 float32 volumes and the temporaries of their resampling.
    """
    from amos_tutorial.transforms.preprocessing import invert_to_original

    best = labels = mass = None
    for cls in range(probs.shape[0]):
        padded, meta = _pad_like_invertd(probs[cls : cls + 1], case_meta)
        back = invert_to_original(padded, meta, mode="trilinear")[0]
        del padded
        if best is None:
            best, mass = back, back.clone()
            labels = torch.zeros(back.shape, dtype=torch.uint8, device=back.device)
            continue
        labels.masked_fill_(back > best, cls)
        torch.maximum(best, back, out=best)
        mass.add_(back)
        del back
    return labels, mass


def _predict_plain(members, image_path, pre_config, device, modality, flips, keep) -> Prediction:
    from monai import transforms as mt

    from amos_tutorial.transforms.chains import inverse_transforms, preprocessing_transforms

    clock = _Clock(device)
    loader = mt.Compose(
        [mt.LoadImaged("image", reader="NibabelReader", image_only=True), mt.EnsureChannelFirstd("image")]
    )
    data = loader({"image": str(image_path)})
    original_shape = tuple(int(s) for s in data["image"].shape[1:])
    affine = np.asarray(data["image"].affine, dtype=np.float64)
    clock.stop("load")
    pre = preprocessing_transforms(modality, pre_config, label_key=None, load=False)
    data = pre(data)
    clock.stop("preprocess")
    image = data["image"].as_tensor()[None].to(device)
    probs = ensemble_probabilities(members, image, flips)
    clock.stop("sliding_window")
    # The tutorials' route: Invertd replays the recorded transforms backwards on the CPU.
    data["pred"] = probs[0].cpu()
    del probs
    back = torch.as_tensor(inverse_transforms(pre, keys="pred", orig_key="image", device="cpu")(data)["pred"])
    clock.stop("inversion")
    labels = back.argmax(dim=0).to(torch.uint8).numpy()
    clock.stop("argmax")
    if labels.shape != original_shape:
        raise ValueError(f"Invertd returned shape {labels.shape}, expected the image's {original_shape}")
    kept = back.float().numpy() if keep else None
    return Prediction(_case_name(image_path), labels, affine, modality, clock.timings, "plain", kept)


