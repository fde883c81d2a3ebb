"""Statistical figures of the dataset: metadata, geometry, intensities, organ volumes, class balance.

Introduced in chapter *Exploring the data*; builds on seaborn and matplotlib. The inputs are the
tables of :mod:`amos_tutorial.data.stats` (tidy pandas frames), so every figure can be re-drawn from
a saved CSV. Organs always carry their fixed colour from :mod:`amos_tutorial.labels`; modalities
always carry :data:`MODALITY_COLORS`.

Every function returns a :class:`matplotlib.figure.Figure` made outside pyplot, so a notebook shows
it exactly once when it is the last expression of a cell, and no figure piles up in memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from amos_tutorial.labels import LABELS
from amos_tutorial.utils.frames import require_columns
from amos_tutorial.viz._figure import (
    MODALITY_COLORS,
    modality_palette,
    new_figure,
    organ_palette,
    organ_ticklabels,
    set_book_style,
)

__all__ = [
    "MODALITY_COLORS",
    "organ_palette",
    "plot_class_balance",
    "plot_geometry",
    "plot_intensity_histograms",
    "plot_metadata",
    "plot_organ_volumes",
    "set_book_style",
]

def _not_available(ax: Any, what: str) -> None:
    ax.text(0.5, 0.5, f"{what}:\nnot in the metadata", ha="center", va="center", transform=ax.transAxes, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


def plot_metadata(meta: pd.DataFrame):
    """Four panels on who and what was scanned: scanner, site, sex and age, split by modality.

    Introduced in chapter *Exploring the data*; builds on seaborn (``countplot``, ``histplot``).

    Args:
        meta: Output of :func:`amos_tutorial.data.stats.tidy_metadata` (columns ``modality``,
            ``scanner``, ``site``, ``sex``, ``age``). Missing metadata give an explanatory panel.

    Returns:
        The Figure.

    Raises:
        ValueError: If ``meta`` is empty or lacks these columns.
    """
    import seaborn as sns

    require_columns(meta, ["modality", "scanner", "site", "sex", "age"], "metadata table")
    fig = new_figure((10, 6.4))
    (ax_scan, ax_site), (ax_sex, ax_age) = fig.subplots(2, 2)
    palette = modality_palette(meta["modality"])
    hue_order = [m for m in palette if m in set(meta["modality"])]
    for ax, col, title in ((ax_scan, "scanner", "Scanner model"), (ax_site, "site", "Site"), (ax_sex, "sex", "Sex")):
        data = meta.dropna(subset=[col]).astype({col: str})
        if data.empty:
            _not_available(ax, title)
        else:
            order = data[col].value_counts().index.tolist()
            sns.countplot(
                data=data, y=col, hue="modality", order=order, hue_order=hue_order, palette=palette, legend=False, ax=ax
            )
            ax.set_xlabel("cases")
            ax.set_ylabel("")
        ax.set_title(title)
    ages = meta.dropna(subset=["age"])
    if ages.empty:
        _not_available(ax_age, "Age")
    else:
        sns.histplot(
            data=ages,
            x="age",
            hue="modality",
            hue_order=hue_order,
            palette=palette,
            multiple="stack",
            binwidth=5,
            legend=False,
            ax=ax_age,
        )
        ax_age.set_xlabel("age (years)")
        ax_age.set_ylabel("cases")
    ax_age.set_title("Age")
    from matplotlib.patches import Patch

    fig.legend(
        handles=[Patch(facecolor=palette[m], label=m) for m in hue_order],
        loc="outside upper center",
        ncol=len(hue_order),
        frameon=False,
        title="modality",
    )
    return fig


def plot_geometry(geometry: pd.DataFrame):
    """Voxel spacing and volume shape of every case, by modality.

    Introduced in chapter *Exploring the data*; builds on seaborn (``scatterplot``, ``stripplot``).
    Left: in-plane vs. slice spacing (the anisotropy that decides nnU-Net's target spacing); middle:
    in-plane size vs. number of slices; right: the cranio-caudal field of view in mm.

    Args:
        geometry: The ``geometry`` table of :class:`amos_tutorial.data.stats.DatasetStats`.

    Returns:
        The Figure.

    Raises:
        ValueError: If the table is empty or lacks columns.
    """
    import seaborn as sns

    require_columns(geometry, ["modality", "spacing_x", "spacing_z", "shape_x", "shape_z", "fov_z_mm"], "geometry table")
    palette = modality_palette(geometry["modality"])
    hue_order = [m for m in palette if m in set(geometry["modality"])]
    fig = new_figure((11, 3.6))
    ax1, ax2, ax3 = fig.subplots(1, 3)
    sns.scatterplot(
        data=geometry,
        x="spacing_x",
        y="spacing_z",
        hue="modality",
        hue_order=hue_order,
        palette=palette,
        alpha=0.8,
        ax=ax1,
    )
    ax1.set(xlabel="in-plane spacing x (mm)", ylabel="slice spacing z (mm)", title="Voxel spacing")
    sns.scatterplot(
        data=geometry,
        x="shape_x",
        y="shape_z",
        hue="modality",
        hue_order=hue_order,
        palette=palette,
        alpha=0.8,
        legend=False,
        ax=ax2,
    )
    ax2.set(xlabel="voxels along x", ylabel="slices (z)", title="Volume shape")
    sns.stripplot(
        data=geometry,
        x="modality",
        y="fov_z_mm",
        hue="modality",
        order=hue_order,
        hue_order=hue_order,
        palette=palette,
        legend=False,
        ax=ax3,
    )
    ax3.set(xlabel="", ylabel="z extent (mm)", title="Cranio-caudal coverage")
    return fig


def plot_intensity_histograms(
    samples: pd.DataFrame,
    organs: Sequence[str] | None = None,
    zscore_mri: bool = True,
    bins: int = 60,
    clip_percentiles: tuple[float, float] = (0.5, 99.5),
):
    """Intensity histogram of each organ, stacked as a ridge plot, one panel per modality.

    Introduced in chapter *Exploring the data*; builds on numpy (``histogram``) and matplotlib.
    CT intensities are Hounsfield units and comparable across scanners; MRI intensities are
    arbitrary per scan, so by default every MRI case is z-scored first (as nnU-Net's MRI
    normalisation does). Each organ's histogram is scaled to the same height, so that small organs
    are as visible as the liver; the organ keeps its fixed colour.

    Args:
        samples: The ``samples`` table of :class:`amos_tutorial.data.stats.DatasetStats`.
        organs: Organ names to draw (default: all present).
        zscore_mri: Standardise MRI intensities per case (mean 0, sd 1 over its organ samples).
        bins: Histogram bins per panel.
        clip_percentiles: The x range of a panel covers these percentiles of its samples (CT air
            in the stomach would otherwise squeeze every soft-tissue histogram into a few bins).

    Returns:
        The Figure.

    Raises:
        ValueError: If the table is empty, lacks columns, or the organs are unknown.
    """
    require_columns(samples, ["case_id", "modality", "organ", "intensity"], "intensity samples")
    if bins < 2:
        raise ValueError(f"bins must be >= 2, got {bins}")
    data = samples.copy()
    data["organ"] = data["organ"].astype(str)
    data["intensity"] = data["intensity"].astype(np.float64)
    palette = organ_palette()
    if organs is not None:
        unknown = sorted(set(organs) - set(palette))
        if unknown:
            raise ValueError(f"unknown organ names {unknown}; use names from amos_tutorial.labels.organ_names()")
        data = data[data["organ"].isin(list(organs))]
        if data.empty:
            raise ValueError(f"no samples for organs {list(organs)}")
    if zscore_mri:
        mri = data["modality"] == "MRI"
        if mri.any():
            grouped = data.loc[mri].groupby("case_id")["intensity"]
            std = grouped.transform("std").replace(0, 1).fillna(1)
            data.loc[mri, "intensity"] = (data.loc[mri, "intensity"] - grouped.transform("mean")) / std
    modalities = [m for m in ("CT", "MRI") if m in set(data["modality"])] + sorted(
        set(data["modality"]) - {"CT", "MRI"}
    )
    order = [lab.name for lab in LABELS[1:] if lab.name in set(data["organ"])]
    fig = new_figure((4.6 * len(modalities) + 1.4, 0.32 * len(order) + 1.4))
    axes = np.atleast_1d(fig.subplots(1, len(modalities), sharey=True))
    for ax, modality in zip(axes, modalities):
        sub = data[data["modality"] == modality]
        lo, hi = np.percentile(sub["intensity"], clip_percentiles)
        edges = np.linspace(lo, hi if hi > lo else lo + 1, bins + 1)
        centres = (edges[:-1] + edges[1:]) / 2
        # Top organ (spleen, id 1) at the top: draw from the bottom row up.
        for row, organ in enumerate(reversed(order)):
            values = sub.loc[sub["organ"] == organ, "intensity"].to_numpy()
            if values.size == 0:
                continue
            counts, _ = np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)
            height = counts / counts.max() * 0.9
            ax.fill_between(
                centres,
                row,
                row + height,
                step="mid",
                color=palette[organ],
                alpha=0.85,
                linewidth=0.6,
                edgecolor="0.25",
                label=organ,
            )
        unit = "HU" if modality == "CT" else ("z-score per case" if zscore_mri and modality == "MRI" else "a.u.")
        ax.set(
            xlabel=f"intensity ({unit})",
            title=f"{modality}: {sub['case_id'].nunique()} cases",
            xlim=(edges[0], edges[-1]),
        )
        ax.set_yticks(np.arange(len(order)), list(reversed(order)))
        ax.set_ylim(-0.2, len(order))
        ax.grid(axis="y", visible=False)
    organ_ticklabels(axes[0].get_yticklabels())
    return fig


def plot_organ_volumes(organs: pd.DataFrame, log: bool = True):
    """Organ volume distributions (ml) per organ, CT next to MRI.

    Introduced in chapter *Exploring the data*; builds on seaborn (``boxplot`` + ``stripplot``).
    Absent organs (volume 0) are left out; their frequency is in :func:`plot_class_balance`.

    Args:
        organs: The ``organs`` table of :class:`amos_tutorial.data.stats.DatasetStats`.
        log: Logarithmic volume axis (organ volumes span three orders of magnitude).

    Returns:
        The Figure.

    Raises:
        ValueError: If the table is empty, lacks columns or no organ is present.
    """
    import seaborn as sns

    require_columns(organs, ["organ", "modality", "volume_ml", "present"], "organ table")
    data = organs[organs["present"].astype(bool)].copy()
    if data.empty:
        raise ValueError("organ table: no organ is present in any case")
    data["organ"] = data["organ"].astype(str)
    order = [lab.name for lab in LABELS[1:] if lab.name in set(data["organ"])]
    palette = modality_palette(data["modality"])
    hue_order = [m for m in palette if m in set(data["modality"])]
    fig = new_figure((8.5, 0.36 * len(order) + 1.6))
    ax = fig.subplots()
    sns.boxplot(
        data=data,
        y="organ",
        x="volume_ml",
        hue="modality",
        order=order,
        hue_order=hue_order,
        palette=palette,
        fliersize=0,
        linewidth=0.8,
        ax=ax,
        log_scale=log,
    )
    sns.stripplot(
        data=data,
        y="organ",
        x="volume_ml",
        hue="modality",
        order=order,
        hue_order=hue_order,
        palette=palette,
        dodge=True,
        size=2.5,
        color="0.2",
        alpha=0.6,
        legend=False,
        ax=ax,
    )
    ax.set(xlabel="volume (ml)" + (", log scale" if log else ""), ylabel="")
    # Tick labels in the organ's colour tie this figure to the slice overlays.
    organ_ticklabels(ax.get_yticklabels())
    return fig


def plot_class_balance(balance: pd.DataFrame):
    """Share of all voxels taken by each class, per modality (log scale).

    Introduced in chapter *Exploring the data*; builds on seaborn (``barplot``).

    Args:
        balance: Output of :func:`amos_tutorial.data.stats.class_balance`.

    Returns:
        The Figure.

    Raises:
        ValueError: If the table is empty or lacks columns.
    """

    require_columns(balance, ["modality", "label_id", "organ", "fraction"], "class balance table")
    modalities = sorted(balance["modality"].unique(), key=lambda m: (m != "CT", m))
    fig = new_figure((5.0 * len(modalities), 4.4))
    axes = np.atleast_1d(fig.subplots(1, len(modalities), sharey=True))
    colors = {lab.name: lab.color for lab in LABELS}
    colors["background"] = "#9e9e9e"
    for ax, modality in zip(axes, modalities):
        sub = balance[(balance["modality"] == modality) & (balance["fraction"] > 0)].sort_values("label_id")
        names = sub["organ"].astype(str).tolist()
        ax.bar(
            np.arange(len(sub)),
            sub["fraction"].to_numpy(),
            color=[colors[o] for o in names],
            edgecolor="0.3",
            linewidth=0.5,
        )
        ax.set_yscale("log")
        ax.set_xticks(np.arange(len(sub)), names, rotation=70, ha="right", rotation_mode="anchor", fontsize=8)
        ax.set(xlabel="", title=modality)
        ax.grid(axis="x", visible=False)
    axes[0].set_ylabel("share of all voxels (log scale)")
    return fig
