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
    "INFERENCE_PATHS",
    "ModalityMismatchWarning",
    "STAGES",
    "Prediction",
    "flip_combinations",
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
    """

    case_id: str
    labels: np.ndarray
    affine: np.ndarray
    modality: str
    timings: dict[str, float] = field(default_factory=dict)
    path: str = "fast"


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
    policy = amp_policy(image.device, amp)
    flips = [tuple(int(a) + 2 for a in f) for f in tta_flips] or [()]

    def predictor(window: torch.Tensor) -> torch.Tensor:
        return main_output(model(window))

    total = None
    with torch.no_grad(), policy.autocast():
        for dims in flips:
            x = torch.flip(image, dims) if dims else image
            logits = sliding_window_inference(
                x,
                roi_size=tuple(int(r) for r in roi_size),
                sw_batch_size=sw_batch_size,
                predictor=predictor,
                overlap=overlap,
                mode="gaussian",
            )
            probs = torch.softmax(logits.float(), dim=1)
            if dims:
                probs = torch.flip(probs, dims)
            total = probs if total is None else total.add_(probs)
    return total / len(flips)


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


def predict_case(
    model: torch.nn.Module,
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
) -> Prediction:
    """Predict one NIfTI image and return uint8 labels on its original grid.

    Introduced in chapter *Evaluating segmentations*. Builds on nibabel, the package's torch preprocessing
    and :func:`~amos_tutorial.transforms.preprocessing.invert_to_original` (``path="fast"``), or on
    MONAI's chain and ``Invertd`` (``path="plain"``), with MONAI's sliding window in both.

    Args:
        model: The network, already on ``device`` and in eval mode (e.g. from
            :func:`amos_tutorial.training.load_run`).
        image_path: ``amos_XXXX.nii.gz`` image.
        config: The run's :class:`~amos_tutorial.training.TrainConfig` (preprocessing, patch, overlap,
            AMP) or a :class:`~amos_tutorial.transforms.preprocessing.PreprocessConfig` (then give ``roi_size``).
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
    device = resolve_device(device)
    pre_config, roi, ovl, swb, amp_mode = _settings_from(config, roi_size, overlap, sw_batch_size, amp)
    modality = _modality_for(image_path, modality, modality_rule)
    _check_task_modality(config, modality, image_path)
    flips = flip_combinations(tta_axes) if tta else [()]
    run = _predict_fast if path == "fast" else _predict_plain
    try:
        return run(model, image_path, pre_config, device, modality, roi, ovl, swb, amp_mode, flips)
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


def _predict_fast(model, image_path, pre_config, device, modality, roi, overlap, swb, amp, flips) -> Prediction:
    from amos_tutorial.transforms.preprocessing import invert_to_original, preprocess_array
    from amos_tutorial.utils.io import load_nifti

    clock = _Clock(device)
    image, affine = load_nifti(image_path, dtype=np.float32)
    clock.stop("load")
    case = preprocess_array(image, affine, modality, pre_config, device=device, case_id=_case_name(image_path))
    clock.stop("preprocess")
    probs = sliding_window_probabilities(model, case.image[None], roi, overlap, swb, amp, flips)
    clock.stop("sliding_window")
    padded, meta = _pad_like_invertd(probs[0], case.meta)
    del probs
    back = invert_to_original(padded, meta, mode="trilinear")
    del padded
    clock.stop("inversion")
    labels = back.argmax(dim=0).to(torch.uint8)
    # A voxel centre that falls on the zero padding has no probability left: its argmax would be float
    # noise (it is outside the body's box), so call it background.
    labels.masked_fill_(back.sum(dim=0) < _VANISHING_MASS, 0)
    labels = labels.cpu().numpy()
    clock.stop("argmax")
    return Prediction(_case_name(image_path), labels, affine, modality, clock.timings, "fast")


def _predict_plain(model, image_path, pre_config, device, modality, roi, overlap, swb, amp, flips) -> Prediction:
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
    probs = sliding_window_probabilities(model, image, roi, overlap, swb, amp, flips)
    clock.stop("sliding_window")
    # The tutorials' route: Invertd replays the recorded transforms backwards on the CPU.
    data["pred"] = probs[0].cpu()
    del probs
    back = inverse_transforms(pre, keys="pred", orig_key="image", device="cpu")(data)["pred"]
    clock.stop("inversion")
    labels = torch.as_tensor(back).argmax(dim=0).to(torch.uint8).numpy()
    clock.stop("argmax")
    if labels.shape != original_shape:
        raise ValueError(f"Invertd returned shape {labels.shape}, expected the image's {original_shape}")
    return Prediction(_case_name(image_path), labels, affine, modality, clock.timings, "plain")


def predict_folder(
    run_dir: str | os.PathLike,
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
) -> pd.DataFrame:
    """Predict every ``amos_XXXX.nii.gz`` of a folder with a trained run; resumable.

    Introduced in chapter *Evaluating segmentations*. Builds on :func:`amos_tutorial.training.load_run`
    (``torch.load(weights_only=True)``), :func:`predict_case`, :func:`amos_tutorial.utils.io.save_nifti`
    (atomic writes) and tqdm.

    Args:
        run_dir: Folder written by ``amos train``.
        images_dir: Folder of images (``imagesVa``, ``imagesTs``...).
        out_dir: Where ``amos_XXXX.nii.gz`` label maps go (created), plus ``predict.json`` (the settings).
        which: Checkpoint, ``"best"`` or ``"last"``.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
        overlap: Window overlap (default: the run's).
        sw_batch_size: Windows per forward pass (default: the run's).
        amp: Mixed precision (default: the run's, ``"auto"``: by device).
        tta: Flip test-time augmentation over the three axes (8 passes).
        path: ``"fast"`` or ``"plain"``.
        data_root: AMOS data folder: modality from its metadata (default: the id rule on file names).
        modality_rule: ``"readme"`` or ``"organisers"``.
        overwrite: Predict cases whose output exists already (default: skip them, which resumes a run;
            resuming with other settings than ``predict.json`` records is refused). An existing output
            that is not a readable NIfTI file of its image's shape (0 bytes, truncated) is predicted again.
        progress: Show a progress bar.

    Returns:
        One row per image: ``case, modality, status`` (``"written"``, ``"skipped"`` or ``"failed"``),
        ``output``, ``error`` and the seconds of each stage of :data:`STAGES` plus ``save``.

    Raises:
        FileNotFoundError: If the run, its checkpoint or the image folder is missing.
        NotADirectoryError: If ``out_dir`` is a file.
        ValueError: For a corrupted checkpoint, bad settings (``sw_batch_size`` < 1), an image folder
            without any ``amos_XXXX.nii.gz``, or settings that differ from those of the predictions
            already in ``out_dir`` (one line naming the file).

    Examples:
        >>> table = predict_folder("runs/unet", "amos22/imagesVa", "runs/unet/pred_va", tta=True)  # doctest: +SKIP
        >>> table[["case", "status", "sliding_window", "inversion"]]  # doctest: +SKIP
    """
    from tqdm.auto import tqdm

    from amos_tutorial.data.folders import list_cases
    from amos_tutorial.training import load_run
    from amos_tutorial.training.amp import resolve_device
    from amos_tutorial.utils.io import atomic_write_text, save_nifti

    if path not in INFERENCE_PATHS:
        raise ValueError(f"path must be one of {INFERENCE_PATHS}, got {path!r}")
    _check_sw_batch_size(sw_batch_size)
    images, bad_names = list_cases(images_dir)
    for problem in bad_names:
        warnings.warn(f"{problem} (skipped)", stacklevel=2)
    if not images:
        raise ValueError(f"{images_dir}: no image named amos_XXXX.nii.gz to predict (is it the right folder?)")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "output folder exists and is a file, not a folder", str(out_dir))
    dev = resolve_device(device)
    model, config = load_run(run_dir, which=which, device=dev)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed window shape: let cuDNN pick its fastest kernels
    modalities: dict[str, str] = {}
    if data_root is not None:
        from amos_tutorial.data.layout import load_amos

        modalities = {c.case_id: c.modality for c in load_amos(data_root, modality_rule=modality_rule).cases}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = {
        "run_dir": str(run_dir),
        "checkpoint": which,
        "model": config.model,
        "variant": config.variant,
        "images_dir": str(images_dir),
        "device": str(dev),
        "path": path,
        "tta": tta,
        "overlap": overlap if overlap is not None else config.sw_overlap,
        "sw_batch_size": sw_batch_size or config.sw_batch_size,
        "amp": amp or config.amp,
        "roi_size": list(config.patch_size),
        "preprocess": config.preprocess,
        "modality_rule": modality_rule,
        "modality_source": "metadata of " + str(data_root) if data_root is not None else "id rule",
    }
    settings_path = out_dir / "predict.json"
    if settings_path.is_file() and not overwrite and any(out_dir.glob("amos_*.nii.gz")):
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
    # The run's task is a property of run_dir (compared above): recorded for `amos evaluate`, not compared.
    atomic_write_text(settings_path, json.dumps({**settings, "task": config.task}, indent=2) + "\n")

    rows = []
    for cid, image_path in tqdm(images.items(), desc="predict", unit="case", disable=not progress):
        target = out_dir / f"{cid}.nii.gz"
        row: dict[str, Any] = {"case": cid, "modality": modalities.get(cid), "output": str(target), "error": ""}
        if target.exists() and not overwrite:
            problem = _output_problem(target, image_path)
            if problem is None:
                rows.append({**row, "status": "skipped"})
                continue
            # A 0-byte or truncated file (a copy cut short, a full disk) is not a finished case.
            tqdm.write(f"{target}: {problem}; predicting it again")
        try:
            pred = predict_case(
                model,
                image_path,
                config,
                dev,
                modality=modalities.get(cid),
                overlap=overlap,
                sw_batch_size=sw_batch_size,
                amp=amp,
                tta=tta,
                path=path,
                modality_rule=modality_rule,
            )
            start = time.perf_counter()
            save_nifti(pred.labels, pred.affine, target, dtype=np.uint8)
            rows.append(
                {
                    **row,
                    "modality": pred.modality,
                    "status": "written",
                    **pred.timings,
                    "save": time.perf_counter() - start,
                }
            )
        except (ValueError, FileNotFoundError, RuntimeError) as exc:  # RuntimeError: e.g. out of GPU memory
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            tqdm.write(f"{image_path}: prediction failed: {message}")
            rows.append({**row, "status": "failed", "error": message})
            if dev.type == "cuda":
                torch.cuda.empty_cache()
    columns = ["case", "modality", "status", "output", "error", *STAGES, "save"]
    return pd.DataFrame(rows).reindex(columns=columns)
