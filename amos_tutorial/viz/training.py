"""Figures of training runs: loss and Dice curves, Dice per organ, model sizes.

Introduced in chapter *Training the baselines*; draws only. The tables come from
:mod:`amos_tutorial.training.runs` (``run_summary``, ``training_curves``, ``organ_dice_curves``: the one
reader of run folders) and :mod:`amos_tutorial.models.overview` (``model_overview``,
``static_memory_gib``). Figures are made outside pyplot and returned as
:class:`matplotlib.figure.Figure`, like every figure of :mod:`amos_tutorial.viz`.

Examples:
    >>> from amos_tutorial.training.runs import training_curves
    >>> runs = {"unet": train("unet", out="runs/unet", preset="smoke")}      # doctest: +SKIP
    >>> plot_training_curves(training_curves(runs))                           # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from amos_tutorial.utils.frames import require_columns
from amos_tutorial.viz._figure import model_palette, new_figure, organ_palette

__all__ = [
    "model_palette",
    "plot_model_sizes",
    "plot_organ_dice_curves",
    "plot_training_curves",
]

_FAMILY_COLORS: dict[str, str] = {
    "CNN": "#4c72b0",
    "transformer encoder": "#dd8452",
    "CNN + transformer": "#55a868",
    "other": "#8c8c8c",
}

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
