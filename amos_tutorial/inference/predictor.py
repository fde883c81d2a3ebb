"""Predict label maps on the original image grid: sliding window, test-time flips, inversion on the device.

Introduced in chapter *Evaluating segmentations*. Builds on MONAI's ``sliding_window_inference``
(windows of the training patch, overlap, Gaussian blending), torch autocast (mixed precision chosen per
device by :func:`amos_tutorial.training.amp_policy`), the package's preprocessing
(:func:`amos_tutorial.transforms.preprocessing.preprocess_array`) and nibabel.

Two paths give the same labels (up to interpolation round-off at organ borders, measured by
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

import errno
import itertools
import json
import numbers
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

__all__ = [
    "BLEND_MODES",
    "INFERENCE_PATHS",
    "ModalityMismatchWarning",
    "STAGES",
    "Prediction",
    "check_blend",
    "check_ensemble",
    "ensemble_probabilities",
    "flip_combinations",
    "load_ensemble",
    "sliding_window_probabilities",
    "predict_case",
    "predict_folder",
]

INFERENCE_PATHS: tuple[str, ...] = ("fast", "plain")
"""``"fast"``: torch preprocessing and inversion on the device. ``"plain"``: MONAI chain + ``Invertd`` on the CPU."""



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
        path: ``"fast"`` or ``"plain"``.
        probabilities: ``(C, X, Y, Z)`` float32 probabilities on the original grid when asked for
            (``keep_probabilities=True``), else None.
    """

    case_id: str
    labels: np.ndarray
    affine: np.ndarray
    modality: str
    timings: dict[str, float] = field(default_factory=dict)
    path: str = "fast"
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


def flip_combinations(axes: Sequence[int] = (0, 1, 2)) -> list[tuple[int, ...]]:
    """Every subset of the spatial ``axes`` to mirror for flip test-time augmentation (nnU-Net's mirroring).

    Introduced in chapter *Evaluating segmentations*. Plain Python (``itertools``).

    Args:
        axes: Spatial axes (0, 1, 2 = x, y, z) that may be flipped.

    Returns:
        ``2 ** len(axes)`` tuples of axes, the empty tuple (no flip) first.

    Examples:
        >>> flip_combinations((0, 2))
        [(), (0,), (2,), (0, 2)]
    """
    axes = tuple(int(a) for a in axes)
    if any(a not in (0, 1, 2) for a in axes) or len(set(axes)) != len(axes):
        raise ValueError(f"flip axes must be distinct values among 0, 1, 2, got {axes}")
    return [combo for n in range(len(axes) + 1) for combo in itertools.combinations(axes, n)]


def sliding_window_probabilities(
    model: Callable[[torch.Tensor], Any],
    image: torch.Tensor,
    roi_size: Sequence[int],
    overlap: float = 0.5,
    sw_batch_size: int = 2,
    amp: str = "auto",
    tta_flips: Sequence[Sequence[int]] = ((),),
    blend: str | Callable[..., torch.Tensor] = "gaussian",
) -> torch.Tensor:
    """Class probabilities of a whole volume with MONAI's sliding window, optionally averaged over flips.

    Introduced in chapter *Evaluating segmentations*. Builds on ``monai.inferers.sliding_window_inference``
    (Gaussian blending of overlapping windows) and torch autocast.

    Args:
        model: A network in eval mode taking ``(B, 1, X, Y, Z)``; deep-supervision outputs (lists or
            ``(B, S, C, ...)`` tensors) are reduced to the full-resolution one.
        image: ``(1, 1, X, Y, Z)`` preprocessed image on the model's device.
        roi_size: Window size (the training patch).
        overlap: Fraction of overlap between windows (0-1).
        sw_batch_size: Windows per forward pass.
        amp: ``"auto"`` (bf16 on recent GPUs, fp16 on older ones, fp32 on CPU), ``"bf16"``, ``"fp16"`` or ``"off"``.
        tta_flips: Spatial axes to flip per pass (see :func:`flip_combinations`); probabilities of the
            passes are averaged after flipping back.
        blend: How overlapping windows are averaged: ``"gaussian"`` (centre voxels count more, nnU-Net's
            and the book's default) or ``"constant"`` (a plain mean), both MONAI's; or a function
            ``blend(image, predictor, roi_size, overlap) -> logits`` that does the whole sliding window
            (the student's ``my_sliding_window`` of chapter *Evaluating segmentations*).

    Returns:
        ``(1, C, X, Y, Z)`` float32 softmax probabilities on the image's device.

    Examples:
        >>> net = torch.nn.Conv3d(1, 16, 1).eval()
        >>> probs = sliding_window_probabilities(net, torch.zeros(1, 1, 20, 20, 10), roi_size=(16, 16, 8))
        >>> tuple(probs.shape), round(float(probs.sum(1).mean()), 4)
        ((1, 16, 20, 20, 10), 1.0)
    """
    from monai.inferers import sliding_window_inference

    from amos_tutorial.training.amp import amp_policy
    from amos_tutorial.training.losses import main_output

    if not 0 <= overlap < 1:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    if sw_batch_size < 1:
        raise ValueError(f"sw_batch_size must be >= 1, got {sw_batch_size}")
    if image.ndim != 5 or image.shape[:2] != (1, 1):
        raise ValueError(f"image must be (1, 1, X, Y, Z), got {tuple(image.shape)}")
    check_blend(blend)
    policy = amp_policy(image.device, amp)
    flips = [tuple(int(a) + 2 for a in f) for f in tta_flips] or [()]

    def predictor(window: torch.Tensor) -> torch.Tensor:
        return main_output(model(window))

    total = None
    with torch.no_grad(), policy.autocast():
        for dims in flips:
            x = torch.flip(image, dims) if dims else image
            roi = tuple(int(r) for r in roi_size)
            if callable(blend):
                logits = _blend_padded(blend, x, predictor, roi, overlap)
            else:
                logits = sliding_window_inference(
                    x, roi_size=roi, sw_batch_size=sw_batch_size, predictor=predictor, overlap=overlap, mode=blend
                )
            probs = _softmax_(logits.float())
            if dims:
                probs = torch.flip(probs, dims)
            total = probs if total is None else total.add_(probs)
    return total / len(flips)


def _blend_padded(blend: Callable[..., torch.Tensor], image: torch.Tensor, predictor, roi: tuple[int, ...], overlap: float) -> torch.Tensor:
    """``blend(image, ...)`` on the image padded up to the window where it is smaller, as MONAI's window pads it.

    A sliding-window function may assume that every axis is at least one window long; a resampled case can
    be smaller than the training patch. Zeros are added on both sides (MONAI's ``constant`` padding, half
    before) and the logits are cropped back to the image.
    """
    diffs = [max(r - n, 0) for r, n in zip(roi, image.shape[2:])]
    if not any(diffs):
        return blend(image, predictor, roi, overlap)
    pad = [p for d in reversed(diffs) for p in (d // 2, d - d // 2)]
    logits = blend(torch.nn.functional.pad(image, pad), predictor, roi, overlap)
    crop = tuple(slice(d // 2, d // 2 + n) for d, n in zip(diffs, image.shape[2:]))
    return logits[(..., *crop)]


def _softmax_(logits: torch.Tensor) -> torch.Tensor:
    """Softmax over the channels in place: no second 16-channel volume beside the logits."""
    logits.sub_(logits.amax(dim=1, keepdim=True)).exp_()
    return logits.div_(logits.sum(dim=1, keepdim=True))


#: The blending modes of :func:`sliding_window_probabilities` given by name (MONAI's ``mode``).
BLEND_MODES = ("gaussian", "constant")


def check_blend(blend: Any) -> None:
    """Raise a one-line ValueError unless ``blend`` is one of :data:`BLEND_MODES` or a function."""
    if not callable(blend) and blend not in BLEND_MODES:
        raise ValueError(f"blend must be one of {BLEND_MODES} or a function (image, predictor, roi_size, overlap), got {blend!r}")


def _check_sw_batch_size(sw_batch_size: int | None) -> None:
    # 0 used to be replaced silently by the run's value (``sw_batch_size or ...``): say it instead.
    if sw_batch_size is None:
        return
    if isinstance(sw_batch_size, bool) or not isinstance(sw_batch_size, numbers.Integral) or sw_batch_size < 1:
        raise ValueError(
            f"sw_batch_size must be a whole number of windows >= 1 (or None for the run's), got {sw_batch_size!r}"
        )


def _output_problem(target: Path, image_path: Path) -> str | None:
    """Why an existing prediction is not a finished one (unreadable, truncated, other shape), or None if it is."""
    import nibabel as nib

    from amos_tutorial.utils.io import load_nifti

    try:
        labels, _ = load_nifti(target)  # the whole file: a truncated .nii.gz fails only near its end
    except ValueError as exc:
        return "existing output is not a readable NIfTI file (" + str(exc).removeprefix(f"{target}: ")[:150] + ")"
    try:
        expected = tuple(int(v) for v in nib.load(str(image_path)).shape[:3])
    except Exception:  # the image itself is unreadable: predicting again reports it properly
        return "its image cannot be read"
    if tuple(labels.shape[:3]) != expected:
        return f"existing output has shape {tuple(labels.shape)}, not the image's {expected}"
    return None


def _settings_from(config: Any, roi_size, overlap, sw_batch_size, amp):
    """(PreprocessConfig, roi, overlap, sw batch, amp) from a TrainConfig or a PreprocessConfig."""
    from amos_tutorial.transforms.preprocessing import PreprocessConfig

    if isinstance(config, PreprocessConfig):
        if roi_size is None:
            raise ValueError("roi_size is required with a PreprocessConfig (a TrainConfig supplies its patch_size)")
        return config, roi_size, overlap if overlap is not None else 0.5, sw_batch_size or 2, amp or "auto"
    if hasattr(config, "preprocess") and hasattr(config, "patch_size"):
        pre = PreprocessConfig.from_dict(config.preprocess or {})
        return (
            pre,
            roi_size or config.patch_size,
            overlap if overlap is not None else config.sw_overlap,
            sw_batch_size or config.sw_batch_size,
            amp or config.amp,
        )
    raise ValueError(f"config must be a TrainConfig or a PreprocessConfig, got {type(config).__name__}")


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


@dataclass(frozen=True)
class _Member:
    """One network of an ensemble with its own window settings (runs may differ in patch and overlap)."""

    model: Any
    roi: tuple[int, ...]
    overlap: float
    sw_batch_size: int
    amp: str
    blend: Any = "gaussian"


def _as_list(value: Any, kind: type | tuple[type, ...]) -> list:
    return [value] if isinstance(value, kind) or not isinstance(value, Sequence) else list(value)


def _ensemble_members(models, configs, roi_size, overlap, sw_batch_size, amp, blend="gaussian") -> tuple[list[_Member], Any]:
    """Pair each model with its config's window settings; check that they share one preprocessing."""
    if not models:
        raise ValueError("model: give at least one network")
    if len(configs) == 1:
        configs = configs * len(models)
    if len(configs) != len(models):
        raise ValueError(f"config: {len(configs)} config(s) for {len(models)} model(s); give one, or one per model")
    members, pre_configs = [], []
    for model, config in zip(models, configs):
        pre, roi, ovl, swb, amp_mode = _settings_from(config, roi_size, overlap, sw_batch_size, amp)
        pre_configs.append(pre)
        members.append(_Member(model, tuple(int(r) for r in roi), float(ovl), int(swb), amp_mode, blend))
    for i, pre in enumerate(pre_configs[1:], start=1):
        if pre.to_dict() != pre_configs[0].to_dict():
            raise ValueError(
                f"config {i}: its preprocessing differs from the first model's ({pre.to_dict()} vs "
                f"{pre_configs[0].to_dict()}); an ensemble averages probabilities of one preprocessed image"
            )
    return members, pre_configs[0]


def ensemble_probabilities(
    members: Sequence[Any], image: torch.Tensor, tta_flips: Sequence[Sequence[int]] = ((),)
) -> torch.Tensor:
    """Mean softmax probabilities of several networks on one preprocessed image, on its device.

    Introduced in chapter *How AMOS 2022 was won*. Each member runs :func:`sliding_window_probabilities` with
    its own window, overlap and precision (and the same flips); the sum is kept on the device, so memory
    holds two probability volumes whatever the ensemble's size.

    Args:
        members: Objects with ``model``, ``roi``, ``overlap``, ``sw_batch_size`` and ``amp`` attributes
            (built by :func:`predict_case` from the runs' configs).
        image: ``(1, 1, X, Y, Z)`` preprocessed image on the models' device.
        tta_flips: Flips of the test-time augmentation (see :func:`flip_combinations`).

    Returns:
        ``(1, C, X, Y, Z)`` float32 probabilities, the mean over members.

    Raises:
        ValueError: If members disagree on the number of classes.
    """
    total = None
    for i, m in enumerate(members):
        blend = getattr(m, "blend", "gaussian")
        probs = sliding_window_probabilities(m.model, image, m.roi, m.overlap, m.sw_batch_size, m.amp, tta_flips, blend)
        if total is not None and probs.shape != total.shape:
            raise ValueError(
                f"ensemble member {i} predicts {probs.shape[1]} classes, the first one {total.shape[1]}"
            )
        total = probs if total is None else total.add_(probs)
        del probs
    return total.div_(len(members))


def predict_case(
    model: torch.nn.Module | Sequence[torch.nn.Module],
    image_path: str | os.PathLike,
    config: Any,
    device: str | torch.device = "cpu",
    modality: str | None = None,
    roi_size: Sequence[int] | None = None,
    overlap: float | None = None,
    sw_batch_size: int | None = None,
    amp: str | None = None,
    tta: bool = False,
    tta_axes: Sequence[int] = (0, 1, 2),
    path: str = "fast",
    modality_rule: str = "readme",
    keep_probabilities: bool = False,
    blend: str | Callable[..., torch.Tensor] = "gaussian",
) -> Prediction:
    """Predict one NIfTI image with one network or an ensemble and return uint8 labels on its original grid.

    Introduced in chapter *Evaluating segmentations*; ensembles in chapter *How AMOS 2022 was won*. Builds on
    nibabel, the package's torch preprocessing and
    :func:`~amos_tutorial.transforms.preprocessing.invert_to_original` (``path="fast"``), or on
    MONAI's chain and ``Invertd`` (``path="plain"``), with MONAI's sliding window in both.

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
        roi_size: Window size (default: the training patch).
        overlap: Window overlap (default: the config's, else 0.5).
        sw_batch_size: Windows per forward pass (default: the config's, else 2).
        amp: Mixed precision (default: the config's, else ``"auto"``).
        tta: Average over flips of ``tta_axes`` (8 passes for 3 axes).
        tta_axes: Axes flipped by the test-time augmentation.
        path: ``"fast"`` or ``"plain"`` (see the module docstring).
        modality_rule: Id rule when ``modality`` is None (``"readme"`` or ``"organisers"``).
        keep_probabilities: Also return the ``(C, X, Y, Z)`` probabilities on the original grid
            (:attr:`Prediction.probabilities`, float32 on the CPU: memory of 16 volumes).
        blend: ``"gaussian"``, ``"constant"`` or a sliding-window function (see
            :func:`sliding_window_probabilities`).

    Returns:
        A :class:`Prediction` (labels, affine, stage timings).

    Raises:
        FileNotFoundError: If the image does not exist.
        ValueError: ``"PATH: problem"`` for an unreadable image or bad settings.

    Examples:
        >>> model, cfg = load_run("runs/unet", device="cuda")                          # doctest: +SKIP
        >>> pred = predict_case(model, "imagesVa/amos_0008.nii.gz", cfg, "cuda")      # doctest: +SKIP
        >>> pred.labels.shape == nib.load("imagesVa/amos_0008.nii.gz").shape          # doctest: +SKIP
        True
    """
    from amos_tutorial.training.amp import resolve_device

    if path not in INFERENCE_PATHS:
        raise ValueError(f"path must be one of {INFERENCE_PATHS}, got {path!r}")
    image_path = Path(image_path)
    if not image_path.is_file():
        raise FileNotFoundError(f"{image_path}: image does not exist")
    _check_sw_batch_size(sw_batch_size)
    check_blend(blend)
    device = resolve_device(device)
    models = _as_list(model, torch.nn.Module)
    configs = list(config) if isinstance(config, (list, tuple)) else [config]
    members, pre_config = _ensemble_members(models, configs, roi_size, overlap, sw_batch_size, amp, blend)
    modality = _modality_for(image_path, modality, modality_rule)
    for cfg in {id(c): c for c in configs}.values():
        _check_task_modality(cfg, modality, image_path)
    flips = flip_combinations(tta_axes) if tta else [()]
    run = _predict_fast if path == "fast" else _predict_plain
    try:
        return run(members, image_path, pre_config, device, modality, flips, keep_probabilities)
    except ValueError as exc:
        message = str(exc).removeprefix(f"{_case_name(image_path)}: ")
        raise ValueError(message if message.startswith(str(image_path)) else f"{image_path}: {message}") from exc


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


def _run_list(run_dir: Any) -> list[Path]:
    runs = [Path(run_dir)] if isinstance(run_dir, (str, os.PathLike)) else [Path(r) for r in run_dir]
    if not runs:
        raise ValueError("run_dir: give at least one run folder")
    seen: set[Path] = set()
    for run in runs:
        if run.resolve() in seen:
            raise ValueError(f"{run}: given twice; an ensemble averages different runs")
        seen.add(run.resolve())
    return runs


def _output_classes(model: torch.nn.Module, config: Any, device: torch.device) -> int:
    """Classes a network predicts: one forward pass of a zero patch (the label set a run was trained on)."""
    from amos_tutorial.training.losses import main_output

    with torch.no_grad():
        return int(main_output(model(torch.zeros(1, 1, *config.patch_size, device=device))).shape[1])


def check_ensemble(run_dirs: Sequence[str | os.PathLike], configs: Sequence[Any], classes: Sequence[int]) -> None:
    """Refuse runs that cannot be averaged: other label set, preprocessing (spacing, normalisation) or task.

    Introduced in chapter *How AMOS 2022 was won*. The first run is the reference; patch, overlap, model
    and variant may differ (each run keeps its own window).

    Args:
        run_dirs: The run folders, in order.
        configs: Their :class:`~amos_tutorial.training.TrainConfig`.
        classes: The number of classes each run predicts.

    Raises:
        ValueError: ``"RUN_DIR: ..."`` naming the first run that differs from the first one, and how.

    Examples:
        >>> from amos_tutorial.training import make_config
        >>> a, b = make_config("unet"), make_config("unet", task=1)
        >>> check_ensemble(["runs/a", "runs/b"], [a, b], [16, 16])
        Traceback (most recent call last):
        ...
        ValueError: runs/b: trained for task 1, runs/a for task 2; an ensemble needs runs of one task
    """
    from amos_tutorial.transforms.preprocessing import PreprocessConfig

    ref_dir, ref, ref_classes = run_dirs[0], configs[0], classes[0]
    ref_pre = PreprocessConfig.from_dict(ref.preprocess or {}).to_dict()
    for run, config, n in zip(run_dirs[1:], configs[1:], classes[1:]):
        if n != ref_classes:
            raise ValueError(
                f"{run}: predicts {n} classes (label set), {ref_dir} predicts {ref_classes}; "
                "an ensemble needs runs trained on the same labels"
            )
        pre = PreprocessConfig.from_dict(config.preprocess or {}).to_dict()
        if pre != ref_pre:
            changed = sorted(k for k in pre if pre[k] != ref_pre.get(k))
            raise ValueError(
                f"{run}: other preprocessing than {ref_dir} ({', '.join(changed)}); "
                "an ensemble needs runs with the same spacing and normalisation"
            )
        if config.task != ref.task:
            raise ValueError(
                f"{run}: trained for task {config.task}, {ref_dir} for task {ref.task}; "
                "an ensemble needs runs of one task"
            )


def load_ensemble(
    run_dirs: str | os.PathLike | Sequence[str | os.PathLike], which: str = "best", device: str | torch.device = "cpu"
) -> tuple[list[torch.nn.Module], list[Any]]:
    """Load one or several runs for prediction and check that they can be averaged.

    Introduced in chapter *How AMOS 2022 was won*. Builds on :func:`amos_tutorial.training.load_run`
    (``torch.load(weights_only=True)``) and :func:`check_ensemble`.

    Args:
        run_dirs: A run folder or a list of them (folds, configurations).
        which: Checkpoint, ``"best"`` or ``"last"``.
        device: Where the networks go.

    Returns:
        ``(models, configs)`` in the order of ``run_dirs``, models in eval mode.

    Raises:
        FileNotFoundError: If a run or its checkpoint is missing.
        ValueError: ``"RUN_DIR: ..."`` for a corrupted checkpoint, a run given twice, or runs that differ in
            label set, preprocessing or task.
    """
    from amos_tutorial.training import load_run
    from amos_tutorial.training.amp import resolve_device

    runs, dev = _run_list(run_dirs), resolve_device(device)
    loaded = [load_run(run, which=which, device=dev) for run in runs]
    models, configs = [m for m, _ in loaded], [c for _, c in loaded]
    if len(runs) > 1:
        check_ensemble(runs, configs, [_output_classes(m, c, dev) for m, c in loaded])
    return models, configs


def _check_images(images_dir: str | os.PathLike) -> dict[str, Path]:
    from amos_tutorial.data.folders import list_cases

    images, bad_names = list_cases(images_dir)
    for problem in bad_names:
        warnings.warn(f"{problem} (skipped)", stacklevel=3)
    if not images:
        raise ValueError(f"{images_dir}: no image named amos_XXXX.nii.gz to predict (is it the right folder?)")
    return images


def _prepare_out_dir(out_dir: str | os.PathLike) -> Path:
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "output folder exists and is a file, not a folder", str(out_dir))
    return out_dir


def _modalities_from(data_root: str | os.PathLike | None, modality_rule: str) -> dict[str, str]:
    if data_root is None:
        return {}
    from amos_tutorial.data.layout import load_amos

    return {c.case_id: c.modality for c in load_amos(data_root, modality_rule=modality_rule).cases}


#: Settings of ``predict.json`` that belong to each run (a value for one run, a list for an ensemble).
_PER_RUN_SETTINGS = ("run_dir", "model", "variant", "overlap", "sw_batch_size", "amp", "roi_size")


def _weights_stamp(run: Path, which: str) -> dict[str, Any] | None:
    """The identity of the checkpoint :func:`amos_tutorial.training.load_run` reads (a retrained run has another)."""
    from amos_tutorial.training.rundir import RunDir
    from amos_tutorial.utils.stamps import file_stamp

    path = RunDir(run).checkpoint(which)
    if which == "best" and not path.is_file():
        path = RunDir(run).checkpoint("last")
    try:
        return file_stamp(path)
    except OSError:
        return None


def _function_name(fn: Any) -> str:
    return f"function {getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', type(fn).__name__)}"


def _prediction_settings(run_dirs, configs, options: dict, dev, images_dir, data_root, plan_name) -> dict:
    """What ``predict.json`` records: a resumed folder must have been made with the same settings."""
    per_run = [
        {
            "run_dir": str(run),
            "model": config.model,
            "variant": config.variant,
            "overlap": options["overlap"] if options["overlap"] is not None else config.sw_overlap,
            "sw_batch_size": options["sw_batch_size"] or config.sw_batch_size,
            "amp": options["amp"] or config.amp,
            "roi_size": list(config.patch_size),
        }
        for run, config in zip(run_dirs, configs)
    ]
    single = len(per_run) == 1
    settings = {key: per_run[0][key] if single else [r[key] for r in per_run] for key in _PER_RUN_SETTINGS}
    blend = options.get("blend", "gaussian")
    return {
        **settings,
        "checkpoint": options["which"],
        "images_dir": str(images_dir),
        "device": str(dev),
        "path": options["path"],
        "tta": options["tta"],
        "preprocess": configs[0].preprocess,
        "modality_rule": options["modality_rule"],
        "modality_source": "metadata of " + str(data_root) if data_root is not None else "id rule",
        "postprocess": plan_name,
        # Gaussian blending, the default, is not recorded: folders predicted before ``blend`` existed stay valid.
        **({} if blend == "gaussian" else {"blend": blend if isinstance(blend, str) else _function_name(blend)}),
    }


def _record_settings(settings_path: Path, settings: dict, overwrite: bool, extra: dict) -> None:
    """Refuse to resume a folder made with other settings; then write ``settings`` (+ ``extra``) atomically."""
    from amos_tutorial.utils.io import atomic_write_text

    if settings_path.is_file() and not overwrite and any(settings_path.parent.glob("amos_*.nii.gz")):
        # Resuming with other settings would silently mix two kinds of predictions in one folder.
        try:
            before = json.loads(settings_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            before = {}
        changed = sorted(k for k in settings if before.get(k) != json.loads(json.dumps(settings[k])))
        if changed:
            raise ValueError(
                f"{settings_path}: the predictions in this folder were made with other settings "
                f"({', '.join(changed)}); pass overwrite=True (--overwrite) or choose another output folder"
            )
    atomic_write_text(settings_path, json.dumps({**settings, **extra}, indent=2) + "\n")


def _predict_one(models, configs, cid, image_path, target, modality, dev, options, plan) -> dict[str, Any]:
    """Predict, post-process and save one case; a row of the result table (failures caught by the caller)."""
    from amos_tutorial.utils.io import save_nifti

    pred = predict_case(
        models,
        image_path,
        configs,
        dev,
        modality=modality,
        overlap=options["overlap"],
        sw_batch_size=options["sw_batch_size"],
        amp=options["amp"],
        tta=options["tta"],
        path=options["path"],
        modality_rule=options["modality_rule"],
        blend=options.get("blend", "gaussian"),
    )
    labels = pred.labels
    start = time.perf_counter()
    if plan is not None:
        from amos_tutorial.evaluation.postprocess import postprocess_case

        labels = postprocess_case(labels, pred.affine, plan, image=image_path)
    save_nifti(labels, pred.affine, target, dtype=np.uint8)
    return {"modality": pred.modality, "status": "written", **pred.timings, "save": time.perf_counter() - start}


def _predict_images(models, configs, images: dict[str, Path], out_dir: Path, dev, options, modalities, plan,
                    overwrite: bool, progress: bool, desc: str = "predict",
                    runs: Sequence[Path] = ()) -> list[dict[str, Any]]:
    """The resumable loop over cases: skip finished outputs, predict the others, report failures as rows.

    An output counts as finished only while its image and the runs' checkpoint files are those recorded
    for it in ``inputs.json`` (a retrained run or a re-exported scan makes it stale).
    """
    from tqdm.auto import tqdm

    from amos_tutorial.utils.stamps import INPUTS_FILE, InputRecord, file_stamp

    record = InputRecord(out_dir / INPUTS_FILE)
    weights = [_weights_stamp(run, options["which"]) for run in runs]
    rows = []
    for cid, image_path in tqdm(images.items(), desc=desc, unit="case", disable=not progress):
        target = out_dir / f"{cid}.nii.gz"
        row: dict[str, Any] = {"case": cid, "modality": modalities.get(cid), "output": str(target), "error": ""}
        try:
            inputs = {"image": file_stamp(image_path), "weights": weights}
        except OSError:
            inputs = None  # predicting reports the missing or unreadable image
        if target.exists() and not overwrite:
            problem = _output_problem(target, image_path)
            if problem is None and inputs is not None and record.is_current(cid, inputs):
                rows.append({**row, "status": "skipped"})
                continue
            # A 0-byte or truncated file (a copy cut short, a full disk) is not a finished case, nor is the
            # prediction of an image that changed since (the rerun rule of amos_tutorial.utils.stamps).
            problem = problem or "its image or the run's checkpoint changed since it was predicted (or unrecorded)"
            tqdm.write(f"{target}: {problem}; predicting it again")
        try:
            done = _predict_one(models, configs, cid, image_path, target, modalities.get(cid), dev, options, plan)
            if inputs is not None:
                record.set(cid, inputs)
            rows.append({**row, **done})
        except (ValueError, FileNotFoundError, RuntimeError) as exc:  # RuntimeError: e.g. out of GPU memory
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            tqdm.write(f"{image_path}: prediction failed: {message}")
            rows.append({**row, "status": "failed", "error": message})
            if dev.type == "cuda":
                torch.cuda.empty_cache()
    return rows


#: Columns of the table :func:`predict_folder` returns.
_TABLE_COLUMNS = ("case", "modality", "status", "output", "error", *STAGES, "save")


def predict_folder(
    run_dir: str | os.PathLike | Sequence[str | os.PathLike],
    images_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    which: str = "best",
    device: str | torch.device = "auto",
    overlap: float | None = None,
    sw_batch_size: int | None = None,
    amp: str | None = None,
    tta: bool = False,
    path: str = "fast",
    data_root: str | os.PathLike | None = None,
    modality_rule: str = "readme",
    overwrite: bool = False,
    progress: bool = True,
    postprocess: str | os.PathLike | Any | None = None,
    blend: str | Callable[..., torch.Tensor] = "gaussian",
) -> pd.DataFrame:
    """Predict every ``amos_XXXX.nii.gz`` of a folder with a trained run or an ensemble of runs; resumable.

    Introduced in chapter *Evaluating segmentations*; ensembles and ``postprocess`` in chapter *How AMOS 2022
    was won*. Builds on :func:`load_ensemble` (``torch.load(weights_only=True)``), :func:`predict_case`,
    :func:`amos_tutorial.utils.io.save_nifti` (atomic writes) and tqdm.

    Args:
        run_dir: Folder written by ``amos train``, or a list of them: an ensemble (folds, configurations)
            whose softmax probabilities (each run with TTA if asked) are averaged on the device before the
            argmax. The runs must share label set, preprocessing and task.
        images_dir: Folder of images (``imagesVa``, ``imagesTs``...).
        out_dir: Where ``amos_XXXX.nii.gz`` label maps go (created), plus ``predict.json`` (the settings).
        which: Checkpoint, ``"best"`` or ``"last"``.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
        overlap: Window overlap (default: each run's).
        sw_batch_size: Windows per forward pass (default: each run's).
        amp: Mixed precision (default: each run's, ``"auto"``: by device).
        tta: Flip test-time augmentation over the three axes (8 passes per run).
        path: ``"fast"`` or ``"plain"``.
        data_root: AMOS data folder: modality from its metadata (default: the id rule on file names).
        modality_rule: ``"readme"`` or ``"organisers"``.
        overwrite: Predict cases whose output exists already (default: skip them, which resumes a run;
            resuming with other settings than ``predict.json`` records is refused). An existing output
            that is not a readable NIfTI file of its image's shape (0 bytes, truncated), or whose image
            or run checkpoint changed since (path, size, modification time recorded in ``inputs.json``),
            is predicted again.
        progress: Show a progress bar.
        postprocess: A post-processing plan (JSON file written by ``amos postprocess`` or a
            :class:`~amos_tutorial.evaluation.postprocess.PostprocessPlan`) applied before saving.
        blend: ``"gaussian"`` (default), ``"constant"`` or a sliding-window function (see
            :func:`sliding_window_probabilities`); recorded in ``predict.json`` unless Gaussian.

    Returns:
        One row per image: ``case, modality, status`` (``"written"``, ``"skipped"`` or ``"failed"``),
        ``output``, ``error`` and the seconds of each stage of :data:`STAGES` plus ``save``.

    Raises:
        FileNotFoundError: If a run, its checkpoint or the image folder is missing.
        NotADirectoryError: If ``out_dir`` is a file.
        ValueError: For a corrupted checkpoint, runs that cannot be averaged, bad settings
            (``sw_batch_size`` < 1), an image folder without any ``amos_XXXX.nii.gz``, or settings that
            differ from those of the predictions already in ``out_dir`` (one line naming the file; the
            plan's contents count as settings).
        amos_tutorial.utils.lock.LockedError: If another process writes into ``out_dir``.

    Examples:
        >>> table = predict_folder("runs/unet", "amos22/imagesVa", "runs/unet/pred_va", tta=True)  # doctest: +SKIP
        >>> folds = [f"runs/resenc_fold{k}" for k in range(5)]
        >>> table = predict_folder(folds, "amos22/imagesVa", "runs/ensemble_va")  # doctest: +SKIP
    """
    from amos_tutorial.training.amp import resolve_device

    if path not in INFERENCE_PATHS:
        raise ValueError(f"path must be one of {INFERENCE_PATHS}, got {path!r}")
    _check_sw_batch_size(sw_batch_size)
    check_blend(blend)
    runs = _run_list(run_dir)
    plan, plan_name = _load_plan(postprocess)
    images = _check_images(images_dir)
    out_dir = _prepare_out_dir(out_dir)
    dev = resolve_device(device)
    models, configs = load_ensemble(runs, which=which, device=dev)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed window shape: let cuDNN pick its fastest kernels
    modalities = _modalities_from(data_root, modality_rule)
    options = {"which": which, "overlap": overlap, "sw_batch_size": sw_batch_size, "amp": amp, "tta": tta,
               "path": path, "modality_rule": modality_rule, "blend": blend}
    settings = _prediction_settings(runs, configs, options, dev, images_dir, data_root, plan_name)
    from amos_tutorial.utils.lock import locked_output_folder

    with locked_output_folder(out_dir, "prediction folder"):
        # The runs' task is a property of run_dir (compared above): recorded for `amos evaluate`, not compared.
        _record_settings(out_dir / "predict.json", settings, overwrite, {"task": configs[0].task})
        rows = _predict_images(models, configs, images, out_dir, dev, options, modalities, plan, overwrite, progress,
                               runs=runs)
    return pd.DataFrame(rows).reindex(columns=list(_TABLE_COLUMNS))



def _load_plan(postprocess: Any) -> tuple[Any, str | None]:
    """``(plan, name recorded in predict.json)`` from a plan file, a plan object or None."""
    if postprocess is None:
        return None, None
    from amos_tutorial.evaluation.postprocess import PostprocessPlan

    if isinstance(postprocess, PostprocessPlan):
        return postprocess, json.dumps(postprocess.to_dict()["rules"], sort_keys=True)
    from amos_tutorial.utils.stamps import content_hash

    plan = PostprocessPlan.load(postprocess)
    # Its contents, not only its path: a plan rewritten in place makes the earlier outputs stale.
    return plan, {"path": str(postprocess), "sha256": content_hash(postprocess)}
