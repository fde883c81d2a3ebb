"""Tables and figures of training runs: model overview, memory floor, run summary, loss and Dice curves.

Introduced in chapter *Training the baselines*; builds on pandas, seaborn and matplotlib, the model
registry (:mod:`amos_tutorial.models`) and the run folders written by
:func:`amos_tutorial.training.train` (``config.json`` and ``metrics.csv``).

Every function takes either :class:`~amos_tutorial.training.trainer.RunResult` objects or run
folders, so the same table and figures can be drawn right after training and, later, from the
folders of finished (or resumed) runs. Figures are made outside pyplot and returned as
:class:`matplotlib.figure.Figure`, like every figure of :mod:`amos_tutorial.viz`.

Examples:
    >>> from amos_tutorial.viz.training import model_overview, run_summary, training_curves
    >>> overview = model_overview(["unet"])                                  # doctest: +SKIP
    >>> runs = {"unet": train("unet", out="runs/unet", preset="smoke")}      # doctest: +SKIP
    >>> run_summary(runs, overview)                                           # doctest: +SKIP
    >>> plot_training_curves(training_curves(runs))                           # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from amos_tutorial.utils.frames import require_columns
from amos_tutorial.viz._figure import model_palette, new_figure, organ_palette

__all__ = [
    "MODEL_FAMILIES",
    "model_overview",
    "model_palette",
    "optimizer_state_factor",
    "organ_dice_curves",
    "plot_model_sizes",
    "plot_organ_dice_curves",
    "plot_training_curves",
    "read_run",
    "run_summary",
    "seconds_per_iteration",
    "static_memory_gib",
    "training_curves",
]

#: Architecture family of each built-in model (a model registered later is shown as ``"other"``).
MODEL_FAMILIES: dict[str, str] = {
    "nnunet": "CNN",
    "unet": "CNN",
    "vnet": "CNN",
    "segresnet": "CNN",
    "unetr": "transformer encoder",
    "swinunetr": "transformer encoder",
    "cotr": "CNN + transformer",
    "nnformer": "CNN + transformer",
}

_FAMILY_COLORS: dict[str, str] = {
    "CNN": "#4c72b0",
    "transformer encoder": "#dd8452",
    "CNN + transformer": "#55a868",
    "other": "#8c8c8c",
}

# Optimiser states kept per parameter: SGD with momentum keeps one buffer, Adam/AdamW two.
_STATES = {"sgd": 1, "adam": 2, "adamw": 2}


def optimizer_state_factor(optimizer: str | Mapping[str, Any]) -> int:
    """Number of optimiser state tensors kept per parameter tensor.

    Introduced in chapter *Training the baselines*. SGD with momentum keeps one buffer (the
    velocity), Adam and AdamW two (first and second moments), SGD without momentum none.

    Args:
        optimizer: A name (``"sgd"``, ``"adam"``, ``"adamw"``) or a recipe dict with ``"name"``
            (and ``"momentum"`` for SGD).

    Returns:
        0, 1 or 2.

    Raises:
        ValueError: For an unknown optimiser name.

    Examples:
        >>> optimizer_state_factor({"name": "sgd", "lr": 0.01, "momentum": 0.99})
        1
        >>> optimizer_state_factor("adamw")
        2
    """
    recipe = {"name": optimizer} if isinstance(optimizer, str) else dict(optimizer)
    name = str(recipe.get("name", "")).lower()
    if name not in _STATES:
        raise ValueError(f"unknown optimizer {recipe.get('name')!r}; known: {', '.join(sorted(_STATES))}")
    if name == "sgd" and isinstance(optimizer, Mapping) and not float(recipe.get("momentum", 0.0)):
        return 0
    return _STATES[name]


def static_memory_gib(params: int | float, optimizer: str | Mapping[str, Any] = "sgd", bytes_per_value: int = 4) -> float:
    """Memory of weights, gradients and optimiser states: the floor below any training run.

    Introduced in chapter *Training the baselines*. ``params x bytes x (1 weight + 1 gradient +
    optimiser states)``, in GiB. Mixed precision does not shrink it: autocast keeps the weights,
    gradients and states in fp32. Activations come on top and usually dominate in 3-D
    segmentation; they depend on the patch and batch and have to be measured.

    Args:
        params: Number of parameters.
        optimizer: See :func:`optimizer_state_factor`.
        bytes_per_value: 4 for fp32 master weights.

    Returns:
        GiB.

    Raises:
        ValueError: For a negative parameter count or a non-positive ``bytes_per_value``.

    Examples:
        >>> round(static_memory_gib(2**30 / 4, "adamw"), 2)   # 2**28 parameters with AdamW
        4.0
    """
    if not isinstance(params, (int, float)) or params < 0 or not math.isfinite(params):
        raise ValueError(f"params must be a non-negative number, got {params!r}")
    if bytes_per_value <= 0:
        raise ValueError(f"bytes_per_value must be positive, got {bytes_per_value!r}")
    return float(params) * bytes_per_value * (2 + optimizer_state_factor(optimizer)) / 2**30


def model_overview(names: Sequence[str] | None = None, variants: Sequence[str] = ("full", "tiny")) -> pd.DataFrame:
    """One row per registered model: family, parameters of each variant, recipe, static memory.

    Introduced in chapter *Training the baselines*; builds on
    :func:`amos_tutorial.models.build_model_for_patch` and ``count_parameters``. Each model is built
    once per variant on the CPU at the variant's recommended patch (a few seconds for all eight).

    Args:
        names: Registry names (default: every registered model).
        variants: Which variants to count (``"full"``, ``"tiny"``).

    Returns:
        Columns ``model, family, params_<variant>_M`` (one per variant), ``patch`` (x x y x z of the
        full recipe), ``batch``, ``optimizer``, ``lr``, ``schedule``, ``deep_supervision``,
        ``static_GiB`` (weights + gradients + optimiser states of the full variant, see
        :func:`static_memory_gib`; only when ``"full"`` is among ``variants``) and ``paper``.

    Raises:
        KeyError: For an unknown model (the message lists the registered ones).
        ValueError: For an unknown variant or an empty list of variants.

    Examples:
        >>> bool(model_overview(["unet"], variants=["tiny"]).loc[0, "params_tiny_M"] < 0.1)
        True
    """
    from amos_tutorial.models import build_model_for_patch, count_parameters, get_model_spec, list_models

    variants = list(variants)
    if not variants or any(v not in ("full", "tiny") for v in variants):
        raise ValueError(f"variants must be a non-empty list of 'full'/'tiny', got {variants!r}")
    names = list_models() if names is None else list(names)
    rows = []
    for name in names:
        spec = get_model_spec(name)
        row: dict[str, Any] = {"model": name, "family": MODEL_FAMILIES.get(name, "other")}
        counts = {}
        for variant in variants:
            patch = spec.patch_size if variant == "full" else spec.tiny_patch_size
            net = build_model_for_patch(name, variant, patch_size=patch)
            counts[variant] = count_parameters(net)
            row[f"params_{variant}_M"] = counts[variant] / 1e6
            del net
        row.update(
            patch="x".join(str(p) for p in spec.patch_size),
            batch=spec.batch_size,
            optimizer=str(spec.optimizer.get("name", "")),
            lr=float(spec.optimizer.get("lr", float("nan"))),
            schedule=str(spec.schedule.get("name", "")),
            deep_supervision=bool(spec.deep_supervision),
        )
        if "full" in counts:
            row["static_GiB"] = static_memory_gib(counts["full"], spec.optimizer)
        row["paper"] = spec.paper
        rows.append(row)
    return pd.DataFrame(rows)


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

        folder = Path(run)
        config = load_config(folder / "config.json")
        path = folder / "metrics.csv"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no metrics yet (the run has not finished an epoch)")
        try:
            metrics = pd.read_csv(path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path}: cannot read the metrics table ({exc})") from exc
        return config.model, config, metrics, {}
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


def seconds_per_iteration(metrics: pd.DataFrame, skip_first: bool = True) -> float:
    """Seconds per training step, from the ``seconds`` and ``iteration`` columns of ``metrics.csv``.

    Introduced in chapter *Training the baselines*. The trainer records the time of each epoch's
    training steps (validation excluded). The first epoch also pays one-off costs (memory
    allocation, kernel selection, cuDNN autotuning), so it is skipped when there are later ones.

    Args:
        metrics: The run's metrics table.
        skip_first: Leave the first epoch out when the run has more than one.

    Returns:
        Seconds per step (NaN when the table is empty).

    Raises:
        ValueError: If the columns are missing.

    Examples:
        >>> frame = pd.DataFrame({"iteration": [4, 8, 12], "seconds": [9.0, 2.0, 2.2]})
        >>> round(seconds_per_iteration(frame), 3)
        0.525
    """
    if not isinstance(metrics, pd.DataFrame) or not {"iteration", "seconds"} <= set(metrics.columns):
        raise ValueError("metrics must be a DataFrame with 'iteration' and 'seconds' columns (metrics.csv)")
    if metrics.empty:
        return float("nan")
    frame = metrics.sort_values("iteration")
    steps = frame["iteration"].diff().fillna(frame["iteration"].iloc[0])
    seconds = frame["seconds"].astype(float)
    if skip_first and len(frame) > 1:
        steps, seconds = steps.iloc[1:], seconds.iloc[1:]
    total = float(steps.sum())
    return float(seconds.sum()) / total if total > 0 else float("nan")


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
        s_per_iteration, final_loss, val_dice, best_dice``. ``val_dice`` is the mean Dice of the
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
        row["s_per_iteration"] = seconds_per_iteration(metrics)
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


def plot_training_curves(curves: pd.DataFrame, smooth: int = 1, title: str | None = None):
    """Training loss (left) and validation Dice (right) against the step, one line per model.

    Introduced in chapter *Training the baselines*; builds on seaborn's ``lineplot``.

    Args:
        curves: Output of :func:`training_curves`.
        smooth: Window of a centred running mean over per-step losses (1: none).
        title: Figure title, e.g. to say that the runs are smoke runs on synthetic data.

    Returns:
        The Figure (two panels; a model without validation has no line on the right).

    Raises:
        ValueError: If the table lacks columns, is empty, or ``smooth`` < 1.
    """
    import seaborn as sns

    require_columns(curves, ["model", "iteration", "metric", "value"], "curves table")
    if int(smooth) < 1:
        raise ValueError(f"smooth must be >= 1, got {smooth!r}")
    models = list(dict.fromkeys(curves["model"]))
    palette = model_palette(models)
    fig = new_figure((10, 3.8))
    ax_loss, ax_dice = fig.subplots(1, 2)
    loss = curves[curves["metric"] == "train loss"].sort_values(["model", "iteration"]).copy()
    if smooth > 1 and len(loss):
        loss["value"] = loss.groupby("model")["value"].transform(
            lambda s: s.rolling(int(smooth), center=True, min_periods=1).mean()
        )
    dice = curves[curves["metric"] == "validation Dice"]
    if len(loss):
        sns.lineplot(data=loss, x="iteration", y="value", hue="model", hue_order=models, palette=palette,
                     legend=False, ax=ax_loss)  # fmt: skip
    ax_loss.set(xlabel="training step", ylabel="Dice + cross-entropy loss", title="Training loss")
    if len(dice):
        sns.lineplot(data=dice, x="iteration", y="value", hue="model", hue_order=models, palette=palette,
                     marker="o", legend=False, ax=ax_dice)  # fmt: skip
        ax_dice.set_ylim(bottom=0)
    else:
        ax_dice.text(0.5, 0.5, "no validation yet", ha="center", va="center", transform=ax_dice.transAxes)
    ax_dice.set(xlabel="training step", ylabel="mean Dice over organs", title="Validation Dice")
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    for ax in (ax_loss, ax_dice):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))

    handles = [Line2D([], [], color=palette[m], label=m, lw=2) for m in models]
    fig.legend(handles=handles, loc="outside right center", frameon=False, title="model")
    if title:
        fig.suptitle(title)
    return fig


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


def plot_organ_dice_curves(curves: pd.DataFrame, title: str | None = None):
    """Validation Dice per organ against the step: one line per organ, in the organ's colour.

    Introduced in chapter *Training the baselines*; builds on seaborn's ``lineplot`` and
    :func:`amos_tutorial.viz.organ_palette`. Large organs are learnt first, small and thin ones
    (adrenal glands, esophagus) last: the figure shows the order.

    Args:
        curves: Output of :func:`organ_dice_curves`.
        title: Figure title.

    Returns:
        The Figure.

    Raises:
        ValueError: If the table lacks columns or is empty.
    """
    import seaborn as sns


    require_columns(curves, ["iteration", "organ", "dice"], "organ Dice table")
    if curves.empty:
        raise ValueError("organ Dice table is empty")
    palette = organ_palette()
    organs = [o for o in palette if o in set(curves["organ"])]
    fig = new_figure((9, 4.2))
    ax = fig.subplots()
    sns.lineplot(data=curves, x="iteration", y="dice", hue="organ", hue_order=organs, palette=palette,
                 marker="o", ax=ax)  # fmt: skip
    ax.set(xlabel="training step", ylabel="validation Dice", ylim=(0, 1), title=title or "Validation Dice per organ")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, title="organ", fontsize="small")
    return fig


def plot_model_sizes(overview: pd.DataFrame, column: str = "params_full_M"):
    """Horizontal bars of the parameter count of each model, coloured by architecture family.

    Introduced in chapter *Training the baselines*; builds on matplotlib.

    Args:
        overview: Output of :func:`model_overview`.
        column: Column to draw (``"params_full_M"``, ``"params_tiny_M"`` or ``"static_GiB"``).

    Returns:
        The Figure.

    Raises:
        ValueError: If the table lacks ``model``, ``family`` or ``column``, or is empty.
    """
    require_columns(overview, ["model", "family", column], "model overview")
    frame = overview.sort_values(column)
    colors = [_FAMILY_COLORS.get(f, _FAMILY_COLORS["other"]) for f in frame["family"]]
    fig = new_figure((7, 0.38 * len(frame) + 1.2))
    ax = fig.subplots()
    bars = ax.barh(frame["model"], frame[column], color=colors)
    ax.bar_label(bars, labels=[f"{v:.1f}" if v >= 1 else f"{v:.2f}" for v in frame[column]], padding=3, fontsize=8)
    labels = {"params_full_M": "parameters, full variant (millions)", "params_tiny_M": "parameters, tiny variant (millions)",
              "static_GiB": "weights + gradients + optimiser states (GiB)"}  # fmt: skip
    ax.set_xlabel(labels.get(column, column))
    ax.set_xlim(0, float(np.nanmax(frame[column].to_numpy(dtype=float))) * 1.15 or 1)
    from matplotlib.patches import Patch

    families = list(dict.fromkeys(frame["family"]))
    ax.legend(handles=[Patch(color=_FAMILY_COLORS.get(f, _FAMILY_COLORS["other"]), label=f) for f in families],
              loc="lower right", frameon=False)  # fmt: skip
    return fig
