"""The one figure factory of the book: figure size and DPI, the book style, the fixed palettes, organ tick labels.

Introduced in chapter *Exploring the data*; builds on matplotlib and seaborn. Every figure module of
:mod:`amos_tutorial.viz` makes its figures here, so all figures share one DPI, one layout engine and one
colour per organ, modality and model.

Examples:
    >>> fig = new_figure((4, 3))
    >>> fig.dpi
    110
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from amos_tutorial.labels import LABELS

__all__ = [
    "FIGURE_DPI",
    "MODALITY_COLORS",
    "interval_dots",
    "model_palette",
    "modality_palette",
    "new_figure",
    "organ_palette",
    "organ_ticklabels",
    "set_book_style",
]

FIGURE_DPI = 110
"""Resolution of every figure of the book (dots per inch)."""

MODALITY_COLORS: dict[str, str] = {"CT": "#4c72b0", "MRI": "#dd8452"}
"""Fixed colour of each modality."""


def new_figure(figsize: tuple[float, float], **kwargs: Any):
    """A :class:`matplotlib.figure.Figure` outside pyplot (no global state; a notebook shows it once).

    Args:
        figsize: Width and height in inches.
        **kwargs: Passed to :class:`~matplotlib.figure.Figure`.
    """
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, dpi=FIGURE_DPI, layout="constrained", **kwargs)


def set_book_style() -> None:
    """Apply the book's plotting style (seaborn ``whitegrid``, notebook context).

    Introduced in chapter *Exploring the data*; builds on :func:`seaborn.set_theme`.
    """
    import seaborn as sns

    sns.set_theme(context="notebook", style="whitegrid", font_scale=0.9)


def organ_palette(style: str = "name") -> dict[str, str]:
    """Organ name -> fixed colour, for seaborn's ``palette=`` argument.

    Introduced in chapter *Exploring the data*; builds on :mod:`amos_tutorial.labels`.

    Args:
        style: Which name the data uses: ``"name"``, ``"json_name"`` or ``"abbrev"``.

    Returns:
        A dict for organs 1-15.

    Raises:
        ValueError: For an unknown style.

    Examples:
        >>> organ_palette()["liver"]
        '#911eb4'
    """
    if style not in ("name", "json_name", "abbrev"):
        raise ValueError(f"style must be 'name', 'json_name' or 'abbrev', got {style!r}")
    return {getattr(lab, style): lab.color for lab in LABELS[1:]}


def modality_palette(values: pd.Series) -> dict[str, str]:
    import seaborn as sns

    extra = [v for v in pd.unique(values.dropna()) if v not in MODALITY_COLORS]
    colors = dict(MODALITY_COLORS)
    colors.update(zip(extra, sns.color_palette("Set2", len(extra)).as_hex()))
    return colors


def organ_ticklabels(labels: Sequence[Any]) -> None:
    """Give organ tick labels a box in the organ's colour, with readable text on top."""
    from matplotlib.colors import to_rgb

    colors = organ_palette()
    for tick in labels:
        color = colors.get(tick.get_text())
        if color is None:
            continue
        r, g, b = to_rgb(color)
        # Relative luminance decides black or white text, so pale organs (bladder) stay legible.
        text = "black" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.5 else "white"
        tick.set_color(text)
        tick.set_bbox({"facecolor": color, "edgecolor": "none", "boxstyle": "round,pad=0.25"})


def interval_dots(
    ax: Any,
    data: pd.DataFrame,
    group: str,
    value: str,
    organs: Sequence[str],
    colors: dict[str, str],
    groups: Sequence[str] | None = None,
) -> None:
    """Draw one dot with its interval per organ and group, groups side by side within an organ's row.

    ``data`` has the columns ``group``, ``"organ"``, ``value``, ``"low"`` and ``"high"``; organs are the rows
    of ``ax`` in the order of ``organs`` (rows without a value are left empty), with a line at 0.

    Args:
        ax: The matplotlib axes.
        data: One row per group and organ.
        group: Column naming the group (model, ablation step...).
        value: Column of the dot's value; ``low`` and ``high`` bound its interval.
        organs: Organ names, top to bottom.
        colors: Group -> colour.
        groups: The groups to draw, in this order (default: every group, in order of appearance).
    """
    groups = list(dict.fromkeys(data[group])) if groups is None else list(groups)
    spread = 0.7 / max(len(groups), 1)
    for k, name in enumerate(groups):
        part = data[data[group] == name].set_index("organ").reindex(organs).dropna(subset=[value])
        y = np.array([organs.index(o) for o in part.index]) + (k - (len(groups) - 1) / 2) * spread
        err = np.vstack([part[value] - part["low"], part["high"] - part[value]]).clip(min=0)
        ax.errorbar(part[value], y, xerr=err, fmt="o", color=colors[name], label=name, capsize=2, ms=4)
    ax.axvline(0.0, color="0.4", lw=0.8)
    ax.set_yticks(range(len(organs)), organs)
    ax.invert_yaxis()


def model_palette(names: Sequence[str]) -> dict[str, str]:
    """Model name -> colour, fixed by the model's place in the registry.

    Introduced in chapter *Training the baselines*; builds on seaborn's ``tab10`` palette. A model
    keeps its colour in every figure, whichever subset of models a figure shows.

    Args:
        names: Model names to colour (registered or not).

    Returns:
        A dict for seaborn's ``palette=`` argument.

    Examples:
        >>> model_palette(["unet"])["unet"] == model_palette(["nnunet", "unet"])["unet"]
        True
    """
    import seaborn as sns

    from amos_tutorial.models import list_models

    known = list_models()
    order = known + sorted(n for n in set(names) if n not in known)
    colors = sns.color_palette("tab10", max(len(order), 10)).as_hex()
    return {name: colors[order.index(name) % len(colors)] for name in names}
