"""Figures of chapter *How AMOS 2022 was won*: what each ingredient of the recipe changes, organ by organ, and the
winners' own per-organ results.

Introduced in chapter *How AMOS 2022 was won*. Builds on matplotlib. It only draws: the steps, their deltas and
the bootstrap intervals come from :mod:`amos_tutorial.benchmark.ablation`, the published per-organ results from
:func:`amos_tutorial.evaluation.reference.winners_per_organ`.

Examples:
    >>> fig = plot_ablation(result.summary, result.deltas)  # doctest: +SKIP
    >>> fig = plot_winners_per_organ(winners_per_organ())  # doctest: +SKIP
"""

from __future__ import annotations

import pandas as pd

__all__ = ["plot_ablation", "plot_winners_per_organ"]


def plot_ablation(summary: pd.DataFrame, deltas: pd.DataFrame, title: str | None = None):
    """Left: mean Dice of every step. Right: each step's change per organ, with its bootstrap interval.

    Args:
        summary: :attr:`~amos_tutorial.benchmark.ablation.AblationResult.summary` (``step``, ``dice``).
        deltas: :attr:`~amos_tutorial.benchmark.ablation.AblationResult.deltas` (``step``, ``organ``,
            ``organ_id``, ``delta``, ``low``, ``high``; the ``all organs`` row has ``organ_id`` 0).
        title: Figure title (default: says the scores are synthetic).

    Returns:
        The Figure.

    Raises:
        ValueError: If a table lacks columns or ``summary`` is empty.
    """
    import seaborn as sns

    from amos_tutorial.viz._figure import interval_dots, new_figure, organ_ticklabels

    for name, table, columns in (("summary", summary, ("step", "dice")),
                                 ("deltas", deltas, ("step", "organ", "organ_id", "delta", "low", "high"))):
        missing = [c for c in columns if c not in table.columns]
        if missing:
            raise ValueError(f"{name} lacks column(s) {missing}; expected the tables of score_ladder")
    if summary.empty:
        raise ValueError("summary is empty: nothing to draw")
    steps = list(summary["step"])
    colors = dict(zip(steps, sns.color_palette("colorblind", len(steps)).as_hex()))
    organs = list(deltas.sort_values("organ_id")["organ"].drop_duplicates())
    fig = new_figure((10.0, 0.3 * max(len(organs), 6) + 1.8))
    left, right = fig.subplots(1, 2, width_ratios=(1.0, 1.6))
    left.barh(range(len(steps)), summary["dice"], color=[colors[s] for s in steps])
    left.set_yticks(range(len(steps)), steps)
    left.invert_yaxis()
    left.set_xlabel("mean Dice over test cases and organs")
    left.set_title("each step (synthetic, quick scale)", fontsize=10)
    shown = [s for s in steps if s in set(deltas["step"])]
    interval_dots(right, deltas, "step", "delta", organs, colors, groups=shown)
    right.set_xlabel("Dice change from the step before (right: better)")
    right.set_title("change per organ, bootstrap interval over cases", fontsize=10)
    organ_ticklabels(right.get_yticklabels())
    right.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, title="step")
    fig.suptitle(title or "The winners' recipe step by step: synthetic data, not an AMOS result", fontsize=11)
    return fig


def plot_winners_per_organ(organs: pd.DataFrame, title: str | None = None):
    """The winners' published cross-validation Dice of every organ, one dot per task; hollow: no post-processing.

    Args:
        organs: :func:`~amos_tutorial.evaluation.reference.winners_per_organ` (``task``, ``organ_id``,
            ``organ``, ``dice`` in percent, ``postprocessing``).
        title: Figure title (default: names the source and says the numbers are published).

    Returns:
        The Figure.

    Raises:
        ValueError: If ``organs`` lacks columns or is empty.
    """
    import seaborn as sns

    from amos_tutorial.viz._figure import new_figure, organ_ticklabels

    missing = [c for c in ("task", "organ_id", "organ", "dice", "postprocessing") if c not in organs.columns]
    if missing:
        raise ValueError(f"organs lacks column(s) {missing}; expected the table of winners_per_organ()")
    if organs.empty:
        raise ValueError("organs is empty: nothing to draw")
    names = list(organs.sort_values("organ_id")["organ"].drop_duplicates())
    tasks = list(dict.fromkeys(organs["task"]))
    colors = dict(zip(tasks, sns.color_palette("colorblind", len(tasks)).as_hex()))
    fig = new_figure((7.0, 0.3 * max(len(names), 6) + 1.6))
    ax = fig.subplots()
    spread = 0.5 / max(len(tasks), 1)
    for k, task in enumerate(tasks):
        part = organs[organs["task"] == task].set_index("organ").reindex(names).dropna(subset=["dice"])
        y = [names.index(o) + (k - (len(tasks) - 1) / 2) * spread for o in part.index]
        raw = (part["postprocessing"] == "none (raw)").to_numpy()
        ax.scatter(part["dice"][~raw], [v for v, r in zip(y, raw) if not r], color=colors[task], s=36,
                   label=f"{task}: post-processed")
        ax.scatter(part["dice"][raw], [v for v, r in zip(y, raw) if r], facecolors="none",
                   edgecolors=colors[task], s=36, linewidths=1.5, label=f"{task}: no post-processing")
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlabel("5-fold cross-validation Dice of the final ensemble (%)")
    organ_ticklabels(ax.get_yticklabels())
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, fontsize=8)
    fig.suptitle(title or "The AMOS 2022 winners per organ: published (nnU-Net db00053f), not this book's", fontsize=11)
    return fig
