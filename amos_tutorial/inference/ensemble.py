"""Ensembles of runs: loading several runs, checking that they can be averaged, and averaging them.

Introduced in chapter *How AMOS 2022 was won*. Each run keeps its own window (patch, overlap, precision);
the runs must share labels, preprocessing and task (:func:`check_ensemble`). The image is preprocessed once
and each run's softmax probabilities are added to a sum kept on the device (:func:`ensemble_probabilities`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from amos_tutorial.inference.options import PredictOptions
from amos_tutorial.inference.window import sliding_window_probabilities

__all__ = ["check_ensemble", "ensemble_members", "ensemble_probabilities", "load_ensemble", "run_list"]


def _settings_from(config: Any, options: PredictOptions):
    """(PreprocessConfig, roi, overlap, sw batch, amp) from a TrainConfig or a PreprocessConfig."""
    from amos_tutorial.transforms.preprocessing import PreprocessConfig

    roi_size, overlap, sw_batch_size, amp = options.roi_size, options.overlap, options.sw_batch_size, options.amp

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


@dataclass(frozen=True)
class _Member:
    """One network of an ensemble with its own window settings (runs may differ in patch and overlap)."""

    model: Any
    roi: tuple[int, ...]
    overlap: float
    sw_batch_size: int
    amp: str
    blend: Any = "gaussian"


def ensemble_members(models: Sequence[Any], configs: Sequence[Any], options: PredictOptions) -> tuple[list[_Member], Any]:
    """Pair each model with its config's window settings; check that they share one preprocessing."""
    if not models:
        raise ValueError("model: give at least one network")
    if len(configs) == 1:
        configs = configs * len(models)
    if len(configs) != len(models):
        raise ValueError(f"config: {len(configs)} config(s) for {len(models)} model(s); give one, or one per model")
    members, pre_configs = [], []
    for model, config in zip(models, configs):
        pre, roi, ovl, swb, amp_mode = _settings_from(config, options)
        pre_configs.append(pre)
        members.append(_Member(model, tuple(int(r) for r in roi), float(ovl), int(swb), amp_mode, options.blend))
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


def run_list(run_dir: Any) -> list[Path]:
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
    run_dirs: str | os.PathLike | Sequence[str | os.PathLike], checkpoint: str = "best", device: str | torch.device = "cpu"
) -> tuple[list[torch.nn.Module], list[Any]]:
    """Load one or several runs for prediction and check that they can be averaged.

    Introduced in chapter *How AMOS 2022 was won*. Builds on :func:`amos_tutorial.training.load_run`
    (``torch.load(weights_only=True)``) and :func:`check_ensemble`.

    Args:
        run_dirs: A run folder or a list of them (folds, configurations).
        checkpoint: ``"best"`` or ``"last"``.
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

    runs, dev = run_list(run_dirs), resolve_device(device)
    loaded = [load_run(run, checkpoint=checkpoint, device=dev) for run in runs]
    models, configs = [m for m, _ in loaded], [c for _, c in loaded]
    if len(runs) > 1:
        check_ensemble(runs, configs, [_output_classes(m, c, dev) for m, c in loaded])
    return models, configs
