"""Figures of the chapter *Evaluating segmentations*: how DSC and NSD react, per-organ scores, worst cases.

Introduced in chapter *Evaluating segmentations*; draws only. What the figures show is computed in
:mod:`amos_tutorial.evaluation`: the 2-D demonstrations in :mod:`~amos_tutorial.evaluation.demos`
(``metric_demo_cases``, ``score_demo_cases``, ``metric_response``, ``anisotropy_table``), the simulated
predictions in :mod:`~amos_tutorial.evaluation.simulate` and the tables of several models in
:mod:`~amos_tutorial.evaluation.compare` (``stack_results``, ``case_scores``, ``worst_cases``).

Each function returns a :class:`matplotlib.figure.Figure` made outside pyplot (so a notebook shows it once,
as the last expression of a cell): :func:`plot_metric_demos`, :func:`plot_metric_response`,
:func:`plot_organ_scores` (per-organ box plots per model), :func:`plot_modality_scores` (CT vs MRI),
:func:`show_prediction` and :func:`show_worst_cases` (prediction vs reference overlays).

Examples:
    >>> from amos_tutorial.evaluation.demos import metric_demo_cases
    >>> from amos_tutorial.viz.evaluation import plot_metric_demos
    >>> fig = plot_metric_demos(metric_demo_cases())  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from amos_tutorial.evaluation.compare import case_scores
from amos_tutorial.evaluation.demos import MetricDemo, score_demo_cases
from amos_tutorial.evaluation.metric_table import Metric, challenge_metrics, get_metric
from amos_tutorial.labels import LABELS
from amos_tutorial.utils.frames import require_columns
from amos_tutorial.viz._figure import MODALITY_COLORS, model_palette, new_figure, organ_ticklabels

__all__ = [
    "ERROR_COLORS",
    "plot_metric_demos",
    "plot_metric_response",
    "plot_modality_scores",
    "plot_organ_scores",
    "show_prediction",
    "show_worst_cases",
]

ERROR_COLORS: dict[str, str] = {"missed": "#e41a1c", "extra": "#377eb8", "wrong organ": "#ff7f00"}
"""Colours of the error overlay: reference organ predicted as background (missed), background predicted as an
organ (extra), one organ predicted as another (wrong organ)."""

# Colours of the 2-D demonstrations: overlap, reference only, prediction only.
_DEMO_COLORS = {"both": "#7b68ae", "reference only": "#8fc1e3", "prediction only": "#f4a582"}


# --- small 2-D demonstrations ---------------------------------------------------------------------


def _overlap_rgb(reference: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    from matplotlib.colors import to_rgb

    rgb = np.ones((*reference.shape, 3))
    for key, mask in (
        ("both", reference & prediction),
        ("reference only", reference & ~prediction),
        ("prediction only", prediction & ~reference),
    ):
        rgb[mask] = to_rgb(_DEMO_COLORS[key])
    return rgb


def plot_metric_demos(cases: Sequence[MetricDemo], spacing: float | Sequence[float] = 1.0, tolerance_mm: float = 1.0):
    """Draw each demonstration (overlap, reference only, prediction only) with its DSC and NSD.

    Introduced in chapter *Evaluating segmentations*. Builds on matplotlib and :func:`score_demo_cases`.

    Args:
        cases: From :func:`metric_demo_cases`.
        spacing: Pixel size in mm.
        tolerance_mm: NSD tolerance of the titles.

    Returns:
        The Figure, one panel per case.

    Raises:
        ValueError: If ``cases`` is empty or the masks are not 2-D.

    Examples:
        >>> from amos_tutorial.evaluation.demos import metric_demo_cases, metric_response
        >>> fig = plot_metric_demos(metric_demo_cases())
        >>> len(fig.axes)
        4
    """
    from matplotlib.patches import Patch

    cases = list(cases)
    if not cases:
        raise ValueError("cases is empty: pass metric_demo_cases()")
    if any(np.ndim(c.reference) != 2 for c in cases):
        raise ValueError("plot_metric_demos draws 2-D masks only")
    scores = score_demo_cases(cases, spacing, (tolerance_mm,))
    ncols = min(len(cases), 2)
    nrows = -(-len(cases) // ncols)
    fig = new_figure((3.3 * ncols, 3.4 * nrows + 0.3))
    axes = np.atleast_1d(fig.subplots(nrows, ncols)).ravel()
    for ax in axes[len(cases) :]:
        ax.set_visible(False)
    for ax, case, (_, row) in zip(axes, cases, scores.iterrows()):
        ax.imshow(_overlap_rgb(np.asarray(case.reference, bool), np.asarray(case.prediction, bool)))
        ax.set_title(f"{case.name}\nDSC {row['dsc']:.2f}   NSD@{tolerance_mm:g}mm {row.iloc[2]:.2f}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
    handles = [Patch(facecolor=c, edgecolor="0.5", label=k) for k, c in _DEMO_COLORS.items()]
    fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=8, frameon=False)
    return fig


def plot_metric_response(table: pd.DataFrame):
    """Plot :func:`metric_response`: one panel per organ, score against shift, one line per metric.

    Introduced in chapter *Evaluating segmentations*. Builds on seaborn (``lineplot``).

    Args:
        table: Output of :func:`metric_response`.

    Returns:
        The Figure.

    Raises:
        ValueError: If the table lacks columns or is empty.

    Examples:
        >>> from amos_tutorial.evaluation.demos import metric_response
        >>> fig = plot_metric_response(metric_response(shifts_px=(0, 2), tolerances=(1.0,)))
        >>> len(fig.axes)
        2
    """
    import seaborn as sns

    require_columns(table, ["organ", "shift_mm", "metric", "value"], "metric response table")
    organs = list(dict.fromkeys(table["organ"]))
    metrics = list(dict.fromkeys(table["metric"]))
    colors = dict(zip(metrics, ["0.15", *sns.color_palette("crest", max(len(metrics) - 1, 1)).as_hex()]))
    dashes = {m: "" if m == "DSC" else (4, 1.5) for m in metrics}
    fig = new_figure((4.2 * len(organs), 3.4))
    axes = np.atleast_1d(fig.subplots(1, len(organs), sharey=True))
    for i, (ax, organ) in enumerate(zip(axes, organs)):
        sns.lineplot(
            data=table[table["organ"] == organ],
            x="shift_mm",
            y="value",
            hue="metric",
            style="metric",
            hue_order=metrics,
            style_order=metrics,
            palette=colors,
            dashes=dashes,
            markers=True,
            ax=ax,
            legend=i == len(organs) - 1,
        )
        ax.set(title=f"{organ} organ", xlabel="shift of the prediction (mm)", ylabel="score", ylim=(-0.03, 1.03))
    legend = axes[-1].get_legend()
    if legend is not None:
        legend.set_title("")
        sns.move_legend(axes[-1], "upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    return fig


# --- results of several models --------------------------------------------------------------------


def _models(df: pd.DataFrame) -> list[str]:
    column = df["model"]
    if isinstance(column.dtype, pd.CategoricalDtype):
        return [m for m in column.cat.categories if m in set(column)]
    return list(dict.fromkeys(column))


def _axis_label(metric: Metric) -> str:
    direction = "" if metric.higher_is_better else ", lower is better"
    return f"{metric.label}{f' ({metric.unit}{direction})' if metric.unit or direction else ''}"


def _limits(metric: Metric) -> tuple[float, float] | None:
    if metric.value_range is None:
        return None
    low, high = metric.value_range
    margin = 0.03 * (high - low)
    return (low - margin, high + margin)


def plot_organ_scores(df: pd.DataFrame, metrics: Sequence[str] | None = None):
    """Per-organ box plots of the scores over cases (DSC and NSD by default), one box per model.

    Introduced in chapter *Evaluating segmentations*. Builds on seaborn (``boxplot`` + ``stripplot``).
    NaN scores (organ absent from reference and prediction under ``absent="nan"``) are left out.

    Args:
        df: Output of :func:`stack_results`.
        metrics: Metric names of :mod:`~amos_tutorial.evaluation.metric_table`, one panel each (default:
            the challenge's, DSC and NSD).

    Returns:
        The Figure.

    Raises:
        ValueError: If the table lacks columns, is empty, has no score at all, or a metric is unknown.

    Examples:
        >>> fig = plot_organ_scores(stack_results({"unet": df}))  # doctest: +SKIP
    """
    import seaborn as sns


    metrics = list(challenge_metrics() if metrics is None else metrics)
    entries = [get_metric(m) for m in metrics]
    require_columns(df, ["model", "organ", *metrics], "results table")
    data = df.assign(organ=df["organ"].astype(str), model=df["model"].astype(str))
    models = _models(df)
    order = [lab.name for lab in LABELS[1:] if lab.name in set(data["organ"])]
    palette = model_palette(models)
    fig = new_figure((3.5 * len(metrics) + 2.0, 0.3 * len(order) * max(1, len(models) / 2) + 1.4))
    axes = np.atleast_1d(fig.subplots(1, len(metrics), sharey=True))
    for i, (ax, metric, entry) in enumerate(zip(axes, metrics, entries)):
        part = data.dropna(subset=[metric])
        if part.empty:
            raise ValueError(f"results table has no {metric} score (all NaN)")
        common = {"data": part, "y": "organ", "x": metric, "hue": "model", "order": order, "hue_order": models}
        sns.boxplot(**common, palette=palette, fliersize=0, linewidth=0.8, ax=ax, legend=i == len(metrics) - 1)
        sns.stripplot(**common, palette=palette, dodge=True, size=2.5, alpha=0.7, legend=False, ax=ax)
        ax.set(xlabel=_axis_label(entry), ylabel="")
        if _limits(entry) is not None:
            ax.set_xlim(*_limits(entry))
    organ_ticklabels(axes[0].get_yticklabels())
    sns.move_legend(axes[-1], "upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, title="model")
    return fig


def plot_modality_scores(df: pd.DataFrame):
    """CT vs MRI: the mean DSC and NSD (the challenge's metrics) of each case over organs, per model and modality.

    Introduced in chapter *Evaluating segmentations*. Builds on :func:`case_scores` and seaborn
    (``stripplot`` for the cases, ``pointplot`` for the means).

    Args:
        df: Output of :func:`stack_results`.

    Returns:
        The Figure: one panel per metric, models along x, modalities in colour.

    Raises:
        ValueError: If the table lacks columns or is empty.

    Examples:
        >>> fig = plot_modality_scores(stacked)  # doctest: +SKIP
    """
    import seaborn as sns


    metrics = challenge_metrics()
    require_columns(df, ["model", "case", "organ_id", "organ", "modality", *metrics], "results table")
    scores = case_scores(df)
    scores["model"] = scores["model"].astype(str)
    models = _models(df)
    modalities = [m for m in ("CT", "MRI") if m in set(scores["modality"])] + sorted(
        set(scores["modality"]) - {"CT", "MRI"}
    )
    palette = {m: MODALITY_COLORS.get(m, "0.4") for m in modalities}
    several = len(modalities) > 1  # one modality (a CT-only copy): nothing to dodge, and seaborn cannot
    fig = new_figure((2.6 + 1.0 * len(models) * 2, 3.4))
    axes = np.atleast_1d(fig.subplots(1, len(metrics), sharey=True))
    for i, (ax, metric) in enumerate(zip(axes, metrics)):
        common = {"data": scores, "x": "model", "y": metric, "hue": "modality", "order": models}
        sns.stripplot(
            **common, hue_order=modalities, palette=palette, dodge=several, alpha=0.6, size=4, ax=ax, legend=False
        )
        sns.pointplot(
            **common,
            hue_order=modalities,
            palette=palette,
            dodge=0.4 if several else False,
            linestyle="none",
            markers="D",
            errorbar=None,
            ax=ax,
            legend=i == len(metrics) - 1,
        )
        ax.set(title=get_metric(metric).label, xlabel="", ylabel="mean over the organs of a case", ylim=(-0.03, 1.03))
        ax.tick_params(axis="x", labelrotation=15)
    if axes[-1].get_legend() is not None:
        sns.move_legend(axes[-1], "upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, title="mean of")
    return fig


def _error_map(reference: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """0 correct, 1 missed, 2 extra, 3 wrong organ."""
    errors = np.zeros(reference.shape, dtype=np.uint8)
    errors[(reference > 0) & (prediction == 0)] = 1
    errors[(reference == 0) & (prediction > 0)] = 2
    errors[(reference > 0) & (prediction > 0) & (reference != prediction)] = 3
    return errors


def show_prediction(
    image: np.ndarray,
    reference: np.ndarray,
    prediction: np.ndarray,
    affine: np.ndarray | None = None,
    *,
    plane: str = "axial",
    organ: int | None = None,
    modality: str | None = None,
    axes: Sequence[Any] | None = None,
    title: str | None = None,
    legend: bool = True,
):
    """Reference, prediction and their differences on one slice, side by side.

    Introduced in chapter *Evaluating segmentations*. Builds on :func:`amos_tutorial.viz.show_slices`
    (RAS+ reorientation, radiological convention, spacing-true aspect ratio) and matplotlib.

    Args:
        image: 3-D image.
        reference: Reference label map on the image's grid.
        prediction: Predicted label map on the same grid.
        affine: Voxel-to-world matrix (None: identity).
        plane: ``"axial"``, ``"coronal"`` or ``"sagittal"``.
        organ: Cut through the centre of this organ of the reference (None: of all reference organs;
            an organ absent from the reference falls back to the prediction, then to all organs).
        modality: ``"CT"`` or ``"MRI"`` (display window).
        axes: Three existing axes to draw into (the figure is taken from the first).
        title: Figure title (only when a new figure is made).
        legend: Add a legend of the organs on the slice and of the error colours, right of the panels.

    Returns:
        The Figure.

    Raises:
        ValueError: If the shapes differ or the labels are outside 0-15.

    Examples:
        >>> fig = show_prediction(image, ref, pred, affine, organ=6, modality="CT")  # doctest: +SKIP
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    from amos_tutorial.viz.slices import (
        _PLANE_AXIS,
        _check_plane,
        display_slice,
        organ_legend_handles,
        plane_aspect,
        show_slices,
        slice_position,
        to_canonical,
    )

    _check_plane(plane)
    reference, prediction = np.asarray(reference), np.asarray(prediction)
    if reference.shape != np.shape(image) or prediction.shape != np.shape(image):
        raise ValueError(
            f"image {np.shape(image)}, reference {reference.shape} and prediction {prediction.shape} must share a grid"
        )
    ref_vol = to_canonical(image, affine, reference)
    pred_vol = to_canonical(image, affine, prediction)
    if organ is not None and not (ref_vol.label == organ).any():
        organ = organ if (pred_vol.label == organ).any() else None
        position = slice_position(pred_vol if organ is not None else ref_vol, organ)
    else:
        position = slice_position(ref_vol, organ)
    own_figure = axes is None
    if axes is None:
        fig = new_figure((10.5, 4.3))
        axes = fig.subplots(1, 3)
    else:
        axes = list(axes)
        if len(axes) != 3:
            raise ValueError(f"show_prediction draws 3 panels, got {len(axes)} axes")
        fig = axes[0].figure
    common = {"planes": [plane], "position": position, "modality": modality, "legend": False}
    show_slices(image, reference, affine, axes=[axes[0]], **common)
    show_slices(image, prediction, affine, axes=[axes[1]], **common)
    show_slices(image, None, affine, axes=[axes[2]], **common)
    index = position[_PLANE_AXIS[plane]]
    errors = display_slice(_error_map(ref_vol.label, pred_vol.label), plane, index)
    cmap = ListedColormap(["none", *ERROR_COLORS.values()])
    axes[2].imshow(
        np.ma.masked_equal(errors, 0),
        cmap=cmap,
        vmin=0,
        vmax=3,
        alpha=0.8,
        aspect=plane_aspect(ref_vol.spacing, plane),
        interpolation="nearest",
    )
    for ax, name in zip(axes, ("reference", "prediction", "errors")):
        ax.set_title(f"{name} ({plane} {index})", fontsize=9)
    visible = sorted(
        {int(v) for v in np.unique(display_slice(ref_vol.label, plane, index)) if v}
        | {int(v) for v in np.unique(display_slice(pred_vol.label, plane, index)) if v}
    )
    if title is not None and own_figure:
        fig.suptitle(title, fontsize=11)
    if legend:
        handles = organ_legend_handles(visible) + [Patch(facecolor=c, label=k) for k, c in ERROR_COLORS.items()]
        axes[2].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=7, frameon=False)
    return fig


def show_worst_cases(
    worst: pd.DataFrame,
    images_dir: str | os.PathLike,
    labels_dir: str | os.PathLike,
    pred_dirs: Mapping[str, str | os.PathLike],
    plane: str = "axial",
):
    """One row per worst case: reference, prediction and errors through its worst organ.

    Introduced in chapter *Evaluating segmentations*. Builds on :func:`show_prediction` and
    :func:`amos_tutorial.utils.io.load_nifti`.

    Args:
        worst: Output of :func:`worst_cases` (columns ``model``, ``case``, ``modality``, ``dsc``, ``nsd``,
            ``worst_organ_id``, ``worst_organ``).
        images_dir: Folder of the images (``imagesVa``).
        labels_dir: Folder of the reference label maps (``labelsVa``).
        pred_dirs: Model name -> folder of its predictions.
        plane: Plane of the slices.

    Returns:
        The Figure.

    Raises:
        ValueError: If ``worst`` is empty or names a model without a prediction folder.
        FileNotFoundError: ``"PATH: ..."`` for a missing image, reference or prediction.

    Examples:
        >>> fig = show_worst_cases(worst_cases(stacked), "amos22/imagesVa", "amos22/labelsVa", PRED_DIRS)  # doctest: +SKIP
    """
    from matplotlib.patches import Patch

    from amos_tutorial.utils.io import load_nifti
    from amos_tutorial.viz.slices import organ_legend_handles

    require_columns(worst, ["model", "case", "modality", "dsc", "nsd", "worst_organ_id"], "worst-case table")
    unknown = sorted({str(m) for m in worst["model"]} - {str(m) for m in pred_dirs})
    if unknown:
        raise ValueError(f"no prediction folder for model(s) {unknown}; pred_dirs has {sorted(map(str, pred_dirs))}")
    fig = new_figure((8.0, 3.0 * len(worst) + 0.9))
    rows = np.atleast_1d(fig.subfigures(len(worst), 1))
    organs: set[int] = set()
    for subfig, (_, row) in zip(rows, worst.iterrows()):
        paths = [
            Path(images_dir) / f"{row['case']}.nii.gz",
            Path(labels_dir) / f"{row['case']}.nii.gz",
            Path(pred_dirs[str(row["model"])]) / f"{row['case']}.nii.gz",
        ]
        for path in paths:
            if not path.is_file():
                raise FileNotFoundError(f"{path}: file does not exist")
        image, affine = load_nifti(paths[0])
        reference = load_nifti(paths[1], dtype=np.uint8)[0]
        prediction = load_nifti(paths[2], dtype=np.uint8)[0]
        organs.update(int(v) for v in np.unique(reference) if v)
        organs.update(int(v) for v in np.unique(prediction) if v)
        organ = int(row["worst_organ_id"]) or None
        axes = subfig.subplots(1, 3)
        show_prediction(
            image,
            reference,
            prediction,
            affine,
            plane=plane,
            organ=organ,
            modality=row["modality"],
            axes=axes,
            legend=False,
        )
        worst_text = f", worst organ: {row['worst_organ']}" if organ else ""
        subfig.suptitle(
            f"{row['model']}: {row['case']} ({row['modality']}), DSC {row['dsc']:.2f}, NSD {row['nsd']:.2f}{worst_text}",
            fontsize=10,
        )
    handles = organ_legend_handles(sorted(organs)) + [Patch(facecolor=c, label=k) for k, c in ERROR_COLORS.items()]
    fig.legend(handles=handles, loc="outside lower center", ncol=5, fontsize=8, frameon=False)
    return fig
