"""Figures of chapter *CT and MRI: the two tasks*: the modality gap per organ, the MRI foreground crop.

Introduced in chapter *CT and MRI: the two tasks*. Builds on matplotlib. These functions only draw: the
gap and its intervals come from :func:`amos_tutorial.evaluation.modality_gap`, the crop from the package's
preprocessing (:func:`amos_tutorial.transforms.preprocessing.preprocess_array`).

Examples:
    >>> from amos_tutorial.viz.modality import plot_modality_gap
    >>> fig = plot_modality_gap(modality_gap(scores))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = ["plot_crop_boxes", "plot_modality_gap"]


def plot_modality_gap(gap: pd.DataFrame, title: str | None = None):
    """Per organ, the CT-minus-MRI gap of each model as a dot with its bootstrap interval.

    Introduced in chapter *CT and MRI: the two tasks*. Builds on matplotlib (``errorbar``).

    Args:
        gap: The table of :func:`amos_tutorial.evaluation.modality_gap`.
        title: Figure title (default: the metric and the interval's coverage).

    Returns:
        The Figure: organs down the y axis, the gap along x (right of 0: better on CT), one colour per model.

    Raises:
        ValueError: If the table lacks columns or has no finite gap.

    Examples:
        >>> fig = plot_modality_gap(modality_gap(scores))  # doctest: +SKIP
    """
    import seaborn as sns

    from amos_tutorial.viz._figure import interval_dots
    from amos_tutorial.viz._figure import new_figure as _figure
    from amos_tutorial.viz._figure import organ_ticklabels as _organ_ticklabels

    missing = [c for c in ("model", "organ", "organ_id", "gap", "low", "high") if c not in gap.columns]
    if missing:
        raise ValueError(f"gap table lacks column(s) {missing}; expected the output of modality_gap")
    data = gap.dropna(subset=["gap"])
    if data.empty:
        raise ValueError("no organ has a score on both CT and MRI: nothing to draw")
    organs = list(data.sort_values("organ_id")["organ"].drop_duplicates())
    models = list(dict.fromkeys(data["model"]))
    colors = dict(zip(models, sns.color_palette("colorblind", len(models)).as_hex()))
    fig = _figure((6.4, 0.32 * len(organs) * max(1.0, len(models) / 2) + 1.5))
    ax = fig.subplots()
    interval_dots(ax, data, "model", "gap", organs, colors, groups=models)
    metric = str(gap.attrs.get("metric", "score")).upper()
    coverage = gap.attrs.get("confidence")
    ax.set_xlabel(f"{metric} on CT minus {metric} on MRI (right: better on CT)")
    default = f"Modality gap per organ, {coverage:.0%} bootstrap intervals over cases" if coverage else "Modality gap"
    ax.set_title(title or default, fontsize=10)
    _organ_ticklabels(ax.get_yticklabels())
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, title="model")
    return fig


def plot_crop_boxes(
    images: Mapping[str, np.ndarray], boxes: Mapping[str, Sequence[Sequence[int]]], axis: int = 2
):
    """The middle slice of an image with one rectangle per foreground crop box.

    Introduced in chapter *CT and MRI: the two tasks*. Builds on matplotlib (``imshow``, ``Rectangle``).

    Args:
        images: Panel title -> ``(X, Y, Z)`` image on the grid of the boxes (one panel each).
        boxes: Rule name -> ``[[x0, x1], [y0, y1], [z0, z1]]``, drawn on every panel.
        axis: The axis cut through its middle (2: an axial slice).

    Returns:
        The Figure.

    Raises:
        ValueError: For an image that is not 3-D or a box that is not three (start, stop) pairs.

    Examples:
        >>> fig = plot_crop_boxes({"MRI": image}, {"above the minimum": box_old, "smoothed": box_new})  # doctest: +SKIP
    """
    from matplotlib.patches import Rectangle

    from amos_tutorial.viz._figure import new_figure as _figure

    if axis not in (0, 1, 2):
        raise ValueError(f"axis must be 0, 1 or 2, got {axis!r}")
    for name, box in boxes.items():
        if np.asarray(box).shape != (3, 2):
            raise ValueError(f"box {name!r} must be [[x0, x1], [y0, y1], [z0, z1]], got {box!r}")
    shown = [a for a in range(3) if a != axis]
    colors, styles = ["#d62728", "#2ca02c", "#1f77b4", "#ff7f0e"], ["-", "--", ":", "-."]
    fig = _figure((4.4 * len(images), 4.8))
    axes = np.atleast_1d(fig.subplots(1, len(images)))
    for ax, (title, image) in zip(axes, images.items()):
        image = np.asarray(image)
        if image.ndim != 3:
            raise ValueError(f"image {title!r} must be 3-D, got shape {image.shape}")
        cut = np.take(image, image.shape[axis] // 2, axis=axis)
        ax.imshow(cut.T, cmap="gray", origin="lower")
        for (name, box), color, style in zip(boxes.items(), colors, styles):
            (a0, a1), (b0, b1) = (box[shown[0]], box[shown[1]])
            rect = Rectangle((a0 - 0.5, b0 - 0.5), a1 - a0, b1 - b0, fill=False, ec=color, ls=style, lw=2.5, label=name)
            ax.add_patch(rect)
        ax.margins(0.04)
        ax.set(title=title, xticks=[], yticks=[])
    handles, labels = axes[-1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), frameon=False, title="crop box")
    return fig
