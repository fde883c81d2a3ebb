"""Cross-validation predictions: each fold's run predicts its own validation cases, all into one folder.

Introduced in chapter *How AMOS 2022 was won*. Runs trained with ``amos train --fold K`` (nnU-Net's folds,
:mod:`amos_tutorial.data.splits`) never saw their fold's validation cases; together the five folds'
validation cases are every labelled case once. Their predictions are what nnU-Net uses to choose
post-processing (:func:`amos_tutorial.evaluation.postprocess.choose_rules`) and to compare configurations.
Builds on :func:`amos_tutorial.inference.predict_folder`'s resumable loop.

Examples:
    >>> runs = [f"runs/resenc_fold{k}" for k in range(5)]
    >>> table = crossval_predictions(runs, "runs/resenc_cv")           # doctest: +SKIP
    >>> table.groupby("fold")["case"].count()                          # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from amos_tutorial.inference.options import PredictOptions

__all__ = ["CROSSVAL_FILE", "crossval_predictions", "fold_validation_cases"]

#: Settings file that :func:`crossval_predictions` writes into its output folder.
CROSSVAL_FILE = "crossval.json"


def fold_validation_cases(
    config: Any, data: str | os.PathLike | None = None, run: str | os.PathLike | None = None
) -> list:
    """The validation cases of a fold run, as ``amos train --fold K`` chose them.

    Introduced in chapter *How AMOS 2022 was won*. The labelled training and validation cases of the run's
    task, split with :func:`amos_tutorial.data.splits.fold_cases`.

    Args:
        config: The run's :class:`~amos_tutorial.training.TrainConfig` (its ``fold`` must be set).
        data: Data folder (default: the run's ``config.data``).
        run: The run folder: when it recorded its cases (``cases.json``), those are the validation cases, as
            the run really validated on them; otherwise they are chosen again by
            :func:`amos_tutorial.data.splits.run_cases`.

    Returns:
        The fold's validation :class:`~amos_tutorial.data.layout.AmosCase` objects, by case number.

    Raises:
        ValueError: If the config has no fold, or the data has fewer labelled cases than folds.
    """
    from amos_tutorial.data.layout import load_amos
    from amos_tutorial.data.splits import run_cases
    from amos_tutorial.training.rundir import RunDir

    if config.fold is None:
        raise ValueError("config has no fold: train with `amos train --fold K` for cross-validation predictions")
    dataset = load_amos(data if data is not None else config.data, modality_rule=config.modality_rule)
    if run is not None and RunDir(run).cases_path.is_file():
        return RunDir(run).recorded_cases(dataset, "validation")
    return run_cases(dataset, config.task, config.val_cases, config.fold).val


def _fold_configs(runs: list[Path], data: Any) -> list:
    """Each run's config, checked: a fold set, no fold twice, one task and one data folder."""
    from amos_tutorial.training import load_config
    from amos_tutorial.training.rundir import RunDir

    configs, seen = [], {}
    for run in runs:
        config = load_config(RunDir(run).config_path)
        if config.fold is None:
            raise ValueError(f"{run}: not a fold run (trained without --fold); cross-validation needs fold runs")
        if config.fold in seen:
            raise ValueError(f"{run}: fold {config.fold} again (already {seen[config.fold]}); give each fold once")
        seen[config.fold] = run
        first = configs[0] if configs else config
        if config.task != first.task or (data is None and config.data != first.data):
            raise ValueError(
                f"{run}: trained on {config.data} for task {config.task}, {runs[0]} on {first.data} for task "
                f"{first.task}; cross-validation folds share one data folder and task"
            )
        configs.append(config)
    return configs


def crossval_predictions(
    fold_runs: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    data: str | os.PathLike | None = None,
    checkpoint: str = "best",
    device: str | torch.device = "auto",
    overwrite: bool = False,
    progress: bool = True,
    options: PredictOptions | None = None,
    **settings: Any,
) -> pd.DataFrame:
    """Predict each fold run's own validation cases into one folder; resumable.

    Introduced in chapter *How AMOS 2022 was won*. Builds on :func:`amos_tutorial.training.load_run`
    (``torch.load(weights_only=True)``) and the resumable loop of
    :func:`~amos_tutorial.inference.predict_folder`. With all folds' runs the folder holds one prediction
    per labelled case; with fewer, a warning names the folds missing.

    Args:
        fold_runs: Run folders trained with ``--fold K`` (one per fold, any order).
        out: Output folder for ``amos_XXXX.nii.gz`` and :data:`CROSSVAL_FILE` (the settings).
        data: Data folder (default: the runs' ``config.data``).
        checkpoint: ``"best"`` or ``"last"``.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
        overwrite: Predict cases whose output exists already.
        progress: Show progress bars.
        options: How to predict (:class:`~amos_tutorial.inference.options.PredictOptions`; overlap,
            ``sw_batch_size`` and ``amp`` default to each run's, ``modality_rule`` is the runs').
        **settings: Fields of :class:`~amos_tutorial.inference.options.PredictOptions` given as keywords
            (``tta=True``, ``engine="plain"``...); they override ``options``.

    Returns:
        One row per validation case: ``case, fold, run, modality, status, output, error`` and stage seconds.

    Raises:
        FileNotFoundError: If a run folder or checkpoint is missing.
        ValueError: ``"RUN_DIR: ..."`` for a run without fold, a fold given twice, runs of other data or
            task; ``"OUT/crossval.json: ..."`` when resuming with other settings.
    """
    from amos_tutorial.inference.ensemble import run_list
    from amos_tutorial.inference.folder import TABLE_COLUMNS, LoadedRuns, predict_images, prepare_out_dir
    from amos_tutorial.training import load_run
    from amos_tutorial.training.amp import resolve_device
    from amos_tutorial.utils.lock import locked_output_folder

    options = PredictOptions.build(options, settings)
    runs = run_list(fold_runs)
    configs = _fold_configs(runs, data)
    options = dataclasses.replace(options, modality_rule=configs[0].modality_rule)
    out = prepare_out_dir(out)
    dev = resolve_device(device)
    recorded = {
        "checkpoint": checkpoint,
        "data": str(data if data is not None else configs[0].data),
        "overlap": options.overlap,
        "sw_batch_size": options.sw_batch_size,
        "amp": options.amp,
        "tta": options.tta,
        "engine": options.engine,
        "modality_rule": options.modality_rule,
    }
    tables = []
    with locked_output_folder(out, "cross-validation prediction folder"):
        _record_crossval(out / CROSSVAL_FILE, recorded, {str(c.fold): str(r) for r, c in zip(runs, configs)},
                         overwrite, configs[0].task)
        for run, config in zip(runs, configs):
            cases = fold_validation_cases(config, data, run)
            model, config = load_run(run, checkpoint=checkpoint, device=dev)
            images = {c.case_id: Path(c.image) for c in cases}
            modalities = {c.case_id: c.modality for c in cases}
            job = LoadedRuns([model], [config], dev, checkpoint, [run])
            rows = predict_images(job, options, images, out, modalities, overwrite, progress, desc=f"fold {config.fold}")
            frame = pd.DataFrame(rows).reindex(columns=list(TABLE_COLUMNS))
            tables.append(frame.assign(fold=config.fold, run=str(run)))
            del model
    _warn_missing_folds(configs, out)
    columns = ["case", "fold", "run", *[c for c in TABLE_COLUMNS if c != "case"]]
    return pd.concat(tables, ignore_index=True)[columns]


def _record_crossval(path: Path, settings: dict, fold_runs: dict[str, str], overwrite: bool, task: int) -> None:
    """Refuse to resume with other settings or another run for a fold already predicted; record the folds.

    Folds may be added one run at a time (each call predicts its runs' folds into the same folder).
    """
    from amos_tutorial.inference.folder import record_settings

    folds = dict(fold_runs)
    if path.is_file() and not overwrite and any(path.parent.glob("amos_*.nii.gz")):
        try:
            before = json.loads(path.read_text(encoding="utf-8")).get("fold_runs", {})
        except (OSError, ValueError, AttributeError):
            before = {}
        other = sorted(k for k in folds if k in before and before[k] != folds[k])
        if other:
            raise ValueError(
                f"{path}: fold(s) {', '.join(other)} of this folder were predicted by other runs "
                f"({', '.join(before[k] for k in other)}); pass overwrite=True (--overwrite) or choose another folder"
            )
        folds = {**before, **folds}
    record_settings(path, settings, overwrite, {"fold_runs": dict(sorted(folds.items())), "task": task})


def _warn_missing_folds(configs: list, out: Path) -> None:
    from amos_tutorial.data.splits import DEFAULT_FOLDS

    missing = sorted(set(range(DEFAULT_FOLDS)) - {c.fold for c in configs})
    if missing:
        warnings.warn(
            f"{out}: no run for fold(s) {missing}: their validation cases have no cross-validation prediction",
            stacklevel=3,
        )
