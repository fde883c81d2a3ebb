"""The one reader of training runs: config, metrics, per-step losses and seconds per step of a run.

Introduced in chapter *Training the baselines*; builds on pandas and the run folders written by
:func:`amos_tutorial.training.train` (``config.json`` and ``metrics.csv``). Every function takes
:class:`~amos_tutorial.training.trainer.RunResult` objects or run folders, so the same tables can be made
right after training and, later, from the folders of finished (or resumed) runs; the folders are read
through :class:`~amos_tutorial.training.rundir.RunDir`, and seconds per step follow its one rule. The figures of these
tables live in :mod:`amos_tutorial.viz.training`.

Examples:
    >>> from amos_tutorial.training.runs import run_summary, training_curves
    >>> run_summary({"unet": "runs/unet"})                                   # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from amos_tutorial.training.rundir import RunDir, seconds_per_step
from amos_tutorial.utils.frames import require_columns

__all__ = [
    "organ_dice_curves",
    "read_run",
    "run_summary",
    "training_curves",
]


def read_run(run: Any) -> tuple[str, Any, pd.DataFrame, dict[int, float]]:
    """The model name, config, metrics table and per-step losses of a run.

    Introduced in chapter *Training the baselines*.

    Args:
        run: A :class:`~amos_tutorial.training.trainer.RunResult` (or any object with ``config``,
            ``metrics`` and ``losses``), or a run folder written by ``amos train``.

    Returns:
        ``(model, config, metrics, losses)``; ``losses`` is empty for a folder (only the
        per-epoch means of ``metrics.csv`` are stored on disk).

    Raises:
        FileNotFoundError: ``"PATH: ..."`` when the folder has no ``config.json`` or ``metrics.csv``.
        ValueError: ``"PATH: ..."`` when ``metrics.csv`` is unreadable.
        TypeError: For anything else.
    """
    if isinstance(run, (str, os.PathLike)):
        from amos_tutorial.training import load_config

        folder = RunDir(run)
        config = load_config(folder.config_path)
        return config.model, config, folder.metrics(), {}
    if all(hasattr(run, a) for a in ("config", "metrics")):
        return run.config.model, run.config, run.metrics, dict(getattr(run, "losses", {}) or {})
    raise TypeError(f"expected a RunResult or a run folder, got {type(run).__name__}")


def _as_runs(runs: Mapping[str, Any] | Sequence[Any]) -> list[tuple[str, Any, pd.DataFrame, dict[int, float]]]:
    items = list(runs.items()) if isinstance(runs, Mapping) else [(None, r) for r in runs]
    if not items:
        raise ValueError("no run given")
    out = []
    for label, run in items:
        model, config, metrics, losses = read_run(run)
        out.append((label or model, config, metrics, losses))
    return out


def run_summary(runs: Mapping[str, Any] | Sequence[Any], overview: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per run: parameters, seconds per step, final loss and validation Dice.

    Introduced in chapter *Training the baselines*. The numbers are those of the runs as given: on
    the synthetic data with the smoke preset they check that everything trains, and say nothing
    about how well a model segments AMOS.

    Args:
        runs: ``{label: RunResult or run folder}`` or a list of them (labelled by model name).
        overview: Output of :func:`model_overview`, for the ``params_full_M`` / ``params_tiny_M``
            columns (omitted when None).

    Returns:
        Columns ``model, variant, preset, iterations, [params_full_M, params_tiny_M],
        s_per_step, final_loss, val_dice, best_dice``. ``val_dice`` is the mean Dice of the
        last validation, ``best_dice`` the best one.

    Raises:
        ValueError: For an empty ``runs`` or a metrics table without ``train_loss``.
    """
    rows = []
    for label, config, metrics, _ in _as_runs(runs):
        if "train_loss" not in metrics.columns:
            raise ValueError(f"{label}: the metrics table has no 'train_loss' column")
        row: dict[str, Any] = {
            "model": label,
            "variant": config.variant,
            "preset": config.preset,
            "iterations": int(metrics["iteration"].max()) if len(metrics) else 0,
        }
        if overview is not None:
            require_columns(overview, ["model"], "model overview")
            match = overview[overview["model"] == config.model]
            for col in ("params_full_M", "params_tiny_M"):
                if col in overview.columns:
                    row[col] = float(match[col].iloc[0]) if len(match) else float("nan")
        row["s_per_step"] = seconds_per_step(metrics)
        row["final_loss"] = float(metrics["train_loss"].iloc[-1]) if len(metrics) else float("nan")
        dice = metrics["val_dice"].dropna() if "val_dice" in metrics.columns else pd.Series(dtype=float)
        row["val_dice"] = float(dice.iloc[-1]) if len(dice) else float("nan")
        row["best_dice"] = float(dice.max()) if len(dice) else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def training_curves(runs: Mapping[str, Any] | Sequence[Any]) -> pd.DataFrame:
    """The loss and validation Dice of several runs as one tidy table, ready for seaborn.

    Introduced in chapter *Training the baselines*. The loss is taken per step when the
    ``RunResult`` holds a loss for every step of the run (a run trained in one session), otherwise
    per epoch from ``metrics.csv`` (a run folder, or a resumed run).

    Args:
        runs: ``{label: RunResult or run folder}`` or a list of them.

    Returns:
        Columns ``model, iteration, metric, value, resolution``: ``metric`` is ``"train loss"`` or
        ``"validation Dice"``; ``resolution`` is ``"step"`` or ``"epoch"``.

    Raises:
        ValueError: For an empty ``runs``.

    Examples:
        >>> training_curves({"unet": "runs/unet"}).head()  # doctest: +SKIP
    """
    parts = []
    for label, _, metrics, losses in _as_runs(runs):
        last = int(metrics["iteration"].max()) if len(metrics) else 0
        if losses and set(range(last)) <= set(losses):
            steps = sorted(losses)
            loss = pd.DataFrame(
                {"iteration": [s + 1 for s in steps], "value": [losses[s] for s in steps], "resolution": "step"}
            )
        else:
            loss = pd.DataFrame(
                {"iteration": metrics["iteration"], "value": metrics["train_loss"], "resolution": "epoch"}
            )
        loss["metric"] = "train loss"
        parts.append(loss.assign(model=label))
        if "val_dice" in metrics.columns:
            val = metrics.dropna(subset=["val_dice"])
            parts.append(
                pd.DataFrame(
                    {
                        "model": label,
                        "iteration": val["iteration"],
                        "metric": "validation Dice",
                        "value": val["val_dice"],
                        "resolution": "epoch",
                    }
                )
            )
    frame = pd.concat(parts, ignore_index=True)
    frame["iteration"] = frame["iteration"].astype(int)
    frame["value"] = frame["value"].astype(float)
    return frame[["model", "iteration", "metric", "value", "resolution"]]


def organ_dice_curves(run: Any) -> pd.DataFrame:
    """The validation Dice of every organ of one run, against the step, as a tidy table.

    Introduced in chapter *Training the baselines*. Reads the ``dice_<organ>`` columns that the trainer
    writes to ``metrics.csv`` at every validation.

    Args:
        run: A :class:`~amos_tutorial.training.trainer.RunResult` or a run folder.

    Returns:
        Columns ``iteration, organ, dice`` (organs in label order), one row per validation and organ.
        An organ absent from every validation case has no rows at that validation (its Dice is undefined).

    Raises:
        ValueError: If the run has not validated yet.

    Examples:
        >>> organ_dice_curves("runs/unet_quick").groupby("organ").dice.last()  # doctest: +SKIP
    """
    from amos_tutorial.labels import LABELS

    _, config, metrics, _ = read_run(run)
    columns = {f"dice_{lab.name}": lab.name for lab in LABELS[1:]}
    present = [c for c in columns if c in metrics.columns]
    rows = metrics.dropna(subset=["val_dice"]) if "val_dice" in metrics.columns else metrics.iloc[:0]
    if not present or rows.empty:
        raise ValueError(f"run of {config.model}: no validation in its metrics yet (nothing to plot)")
    table = rows.melt(id_vars=["iteration"], value_vars=present, var_name="organ", value_name="dice")
    table["organ"] = pd.Categorical(table["organ"].map(columns), categories=list(columns.values()), ordered=True)
    table = table.dropna(subset=["dice"]).sort_values(["organ", "iteration"], kind="stable")
    table["organ"] = table["organ"].astype(str)
    table["iteration"] = table["iteration"].astype(int)
    return table.reset_index(drop=True)[["iteration", "organ", "dice"]]
