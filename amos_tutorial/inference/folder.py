"""Predicting a folder of images with a run or an ensemble: resumable, with its settings recorded.

Introduced in chapter *Evaluating segmentations* (``amos predict``). Builds on :func:`~.ensemble.load_ensemble`,
:func:`~.predictor.predict_case` and :func:`amos_tutorial.utils.io.save_nifti` (atomic writes). Each output is
written atomically and finished cases are skipped, so an interrupted run resumes where it stopped; a case that
fails is reported in the returned table and the run goes on. ``predict.json`` records the settings: resuming
with other settings is refused.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from amos_tutorial.inference.ensemble import load_ensemble, run_list
from amos_tutorial.inference.options import PredictOptions
from amos_tutorial.inference.predictor import STAGES, predict_case

__all__ = ["TABLE_COLUMNS", "LoadedRuns", "predict_folder", "predict_images", "prepare_out_dir", "record_settings"]


@dataclass(frozen=True)
class LoadedRuns:
    """The loaded networks of a prediction and where they came from."""

    models: Sequence[torch.nn.Module]
    configs: Sequence[Any]
    device: torch.device
    checkpoint: str
    runs: Sequence[Path] = ()


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


def _check_images(images_dir: str | os.PathLike) -> dict[str, Path]:
    from amos_tutorial.data.folders import list_cases

    images, bad_names = list_cases(images_dir)
    for problem in bad_names:
        warnings.warn(f"{problem} (skipped)", stacklevel=3)
    if not images:
        raise ValueError(f"{images_dir}: no image named amos_XXXX.nii.gz to predict (is it the right folder?)")
    return images


def prepare_out_dir(out_dir: str | os.PathLike) -> Path:
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


def _weights_stamp(run: Path, checkpoint: str) -> dict[str, Any] | None:
    """The identity of the checkpoint :func:`amos_tutorial.training.load_run` reads (a retrained run has another)."""
    from amos_tutorial.training.rundir import RunDir
    from amos_tutorial.utils.stamps import file_stamp

    path = RunDir(run).checkpoint(checkpoint)
    if checkpoint == "best" and not path.is_file():
        path = RunDir(run).checkpoint("last")
    try:
        return file_stamp(path)
    except OSError:
        return None


def _function_name(fn: Any) -> str:
    return f"function {getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', type(fn).__name__)}"


def _prediction_settings(job: LoadedRuns, options: PredictOptions, images_dir, data_root, plan_name) -> dict:
    """What ``predict.json`` records: a resumed folder must have been made with the same settings."""
    per_run = [
        {
            "run_dir": str(run),
            "model": config.model,
            "variant": config.variant,
            "overlap": options.overlap if options.overlap is not None else config.sw_overlap,
            "sw_batch_size": options.sw_batch_size or config.sw_batch_size,
            "amp": options.amp or config.amp,
            "roi_size": list(config.patch_size),
        }
        for run, config in zip(job.runs, job.configs)
    ]
    single = len(per_run) == 1
    settings = {key: per_run[0][key] if single else [r[key] for r in per_run] for key in _PER_RUN_SETTINGS}
    blend = options.blend
    return {
        **settings,
        "checkpoint": job.checkpoint,
        "images_dir": str(images_dir),
        "device": str(job.device),
        "engine": options.engine,
        "tta": options.tta,
        "preprocess": job.configs[0].preprocess,
        "modality_rule": options.modality_rule,
        "modality_source": "metadata of " + str(data_root) if data_root is not None else "id rule",
        "postprocess": plan_name,
        # Gaussian blending, the default, is not recorded: folders predicted before ``blend`` existed stay valid.
        **({} if blend == "gaussian" else {"blend": blend if isinstance(blend, str) else _function_name(blend)}),
    }


def record_settings(settings_path: Path, settings: dict, overwrite: bool, extra: dict) -> None:
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


def _predict_one(job: LoadedRuns, options: PredictOptions, image_path: Path, target: Path, modality: str | None) -> dict[str, Any]:
    """Predict, post-process and save one case; a row of the result table (failures caught by the caller)."""
    from amos_tutorial.utils.io import save_nifti

    pred = predict_case(job.models, image_path, job.configs, job.device, modality=modality, options=options)
    start = time.perf_counter()
    save_nifti(pred.labels, pred.affine, target, dtype=np.uint8)
    return {"modality": pred.modality, "status": "written", **pred.timings, "save": time.perf_counter() - start}


def predict_images(job: LoadedRuns, options: PredictOptions, images: dict[str, Path], out_dir: Path,
                   modalities: dict[str, str], overwrite: bool, progress: bool, desc: str = "predict") -> list[dict[str, Any]]:
    """The resumable loop over cases: skip finished outputs, predict the others, report failures as rows.

    An output counts as finished only while its image and the runs' checkpoint files are those recorded
    for it in ``inputs.json`` (a retrained run or a re-exported scan makes it stale).
    """
    from tqdm.auto import tqdm

    from amos_tutorial.utils.stamps import INPUTS_FILE, InputRecord, file_stamp

    record = InputRecord(out_dir / INPUTS_FILE)
    weights = [_weights_stamp(run, job.checkpoint) for run in job.runs]
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
            done = _predict_one(job, options, image_path, target, modalities.get(cid))
            if inputs is not None:
                record.set(cid, inputs)
            rows.append({**row, **done})
        except (ValueError, FileNotFoundError, RuntimeError) as exc:  # RuntimeError: e.g. out of GPU memory
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            tqdm.write(f"{image_path}: prediction failed: {message}")
            rows.append({**row, "status": "failed", "error": message})
            if job.device.type == "cuda":
                torch.cuda.empty_cache()
    return rows


#: Columns of the table :func:`predict_folder` returns.
TABLE_COLUMNS = ("case", "modality", "status", "output", "error", *STAGES, "save")


def predict_folder(
    run_dir: str | os.PathLike | Sequence[str | os.PathLike],
    images_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    checkpoint: str = "best",
    device: str | torch.device = "auto",
    data_root: str | os.PathLike | None = None,
    overwrite: bool = False,
    progress: bool = True,
    options: PredictOptions | None = None,
    **settings: Any,
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
        checkpoint: ``"best"`` or ``"last"``.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
        data_root: AMOS data folder: modality from its metadata (default: the id rule on file names).
        overwrite: Predict cases whose output exists already (default: skip them, which resumes a run;
            resuming with other settings than ``predict.json`` records is refused). An existing output
            that is not a readable NIfTI file of its image's shape (0 bytes, truncated), or whose image
            or run checkpoint changed since (path, size, modification time recorded in ``inputs.json``),
            is predicted again.
        progress: Show a progress bar.
        options: How to predict (:class:`~amos_tutorial.inference.options.PredictOptions`; overlap,
            ``sw_batch_size`` and ``amp`` default to each run's). Its ``postprocess`` plan is applied before
            saving and its contents recorded; ``blend`` is recorded in ``predict.json`` unless Gaussian.
        **settings: Fields of :class:`~amos_tutorial.inference.options.PredictOptions` given as keywords
            (``tta=True``, ``engine="plain"``, ``postprocess="plan.json"``...); they override ``options``.

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

    options = PredictOptions.build(options, settings)
    runs = run_list(run_dir)
    plan, plan_name = _load_plan(options.postprocess)
    options = dataclasses.replace(options, postprocess=plan)
    images = _check_images(images_dir)
    out_dir = prepare_out_dir(out_dir)
    dev = resolve_device(device)
    models, configs = load_ensemble(runs, checkpoint=checkpoint, device=dev)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed window shape: let cuDNN pick its fastest kernels
    modalities = _modalities_from(data_root, options.modality_rule)
    job = LoadedRuns(models, configs, dev, checkpoint, runs)
    recorded = _prediction_settings(job, options, images_dir, data_root, plan_name)
    from amos_tutorial.utils.lock import locked_output_folder

    with locked_output_folder(out_dir, "prediction folder"):
        # The runs' task is a property of run_dir (compared above): recorded for `amos evaluate`, not compared.
        record_settings(out_dir / "predict.json", recorded, overwrite, {"task": configs[0].task})
        rows = predict_images(job, options, images, out_dir, modalities, overwrite, progress)
    return pd.DataFrame(rows).reindex(columns=list(TABLE_COLUMNS))



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
