"""Figures of the preprocessing pipeline: stages, intensities, patches, augmentation, the round trip.

Introduced in chapter *Preprocessing and augmentation*; draws only. What the figures show is computed
in :mod:`amos_tutorial.transforms.inspection` (``preprocessing_stages``, ``resampling_table``,
``cache_table``, ``compare_patch_sampling``, ``round_trip_label``, ``round_trip_agreement``) and measured
in :mod:`amos_tutorial.benchmark.throughput` (``pipeline_throughput``):

* :func:`plot_preprocessing_stages`: one case after each step of the MONAI preset;
* :func:`plot_intensity_normalisation`: histograms before and after the CT window / MRI z-score;
* :func:`plot_patch_class_frequencies`: organ frequencies in uniform vs organ-weighted patches;
* :func:`describe_augmentation` / :func:`plot_augmented_batch`: one batch with and without augmentation;
* :func:`plot_round_trip`: labels back on the original grid, and where they differ.

Every ``plot_*`` function returns a :class:`matplotlib.figure.Figure` made outside pyplot, so a
notebook shows it once when it is the last expression of a cell.

Examples:
    >>> from amos_tutorial.transforms.inspection import preprocessing_stages
    >>> from amos_tutorial.viz import pipeline as vp
    >>> fig = vp.plot_preprocessing_stages(preprocessing_stages(case))  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from amos_tutorial.labels import LABELS, NUM_CLASSES, label_colormap
from amos_tutorial.transforms.inspection import PreprocessingStage
from amos_tutorial.utils.frames import require_columns
from amos_tutorial.viz._figure import new_figure, organ_ticklabels

__all__ = [
    "describe_augmentation",
    "plot_augmented_batch",
    "plot_intensity_normalisation",
    "plot_patch_class_frequencies",
    "plot_preprocessing_stages",
    "plot_round_trip",
]

_SAMPLER_COLORS = {"uniform": "#9e9e9e", "organ-weighted": "#2a6f97"}
_AXES = "xyz"


def _spacing_of(affine: np.ndarray) -> tuple[float, float, float]:
    aff = np.asarray(affine, dtype=np.float64)
    return tuple(float(s) for s in np.sqrt((aff[:3, :3] ** 2).sum(axis=0)))  # type: ignore[return-value]


def _check_modality(modality: str) -> str:
    mod = str(modality).upper()
    mod = "MRI" if mod == "MR" else mod
    if mod not in ("CT", "MRI"):
        raise ValueError(f"modality must be 'CT' or 'MRI', got {modality!r}")
    return mod


# ----------------------------------------------------------------------------------------------
# preprocessing, step by step


def _stage_window(stage: PreprocessingStage) -> tuple[float, float]:
    """(level, width) showing the whole value range of a stage (0..1 after the CT window)."""
    if stage.normalised and stage.modality == "CT":
        return 0.5, 1.0
    if stage.modality == "MRI":
        lo, hi = np.percentile(stage.image, [0.5, 99.5])
    else:
        lo, hi = float(stage.image.min()), float(stage.image.max())
    return (lo + hi) / 2, max(float(hi - lo), 1e-6)


def plot_preprocessing_stages(
    stages: Sequence[PreprocessingStage],
    planes: Sequence[str] = ("axial", "coronal"),
    panel_size: float = 1.9,
):
    """One column per preprocessing stage, one row per plane, with the organ overlay.

    Introduced in chapter *Preprocessing and augmentation*; builds on
    :func:`amos_tutorial.viz.slices.show_slices` (RAS+ display in the radiological convention,
    aspect ratio from the spacing). Each column title gives the stage, the array's orientation
    codes, shape and spacing. Before the intensity stage the grey scale spans the whole value range
    (CT: -1024 HU up to bone); after it, CT spans 0..1, i.e. the -175..250 HU window.

    Args:
        stages: Output of :func:`preprocessing_stages`.
        planes: Planes to draw, one row each.
        panel_size: Size of one panel in inches.

    Returns:
        The Figure.

    Raises:
        ValueError: If ``stages`` is empty or a plane is unknown.
    """
    from amos_tutorial.viz.slices import PLANES, organ_legend_handles, show_slices

    stages = list(stages)
    if not stages:
        raise ValueError("stages is empty: pass the output of preprocessing_stages()")
    planes = list(planes)
    bad = [p for p in planes if p not in PLANES]
    if bad or not planes:
        raise ValueError(f"planes must be a non-empty subset of {PLANES}, got {planes}")
    fig = new_figure((panel_size * len(stages), panel_size * len(planes) + 1.2))
    axes = fig.subplots(len(planes), len(stages), squeeze=False)
    visible: set[int] = set()
    for col, stage in enumerate(stages):
        for row, plane in enumerate(planes):
            ax = axes[row, col]
            show_slices(
                stage.image, stage.label, stage.affine, planes=[plane], axes=[ax], window=_stage_window(stage),
                legend=False, orientation_labels=col == 0,
            )
            ax.set_title("")
            if col == 0:
                ax.set_ylabel(plane, fontsize=9)
        shape = "x".join(map(str, stage.shape))
        axes[0, col].set_title(
            f"{col + 1}. {stage.name}\n{stage.axcodes}, {shape}\n{stage.summary()['spacing_mm']} mm", fontsize=8.5
        )
        if stage.label is not None:
            visible.update(int(v) for v in np.unique(stage.label) if v > 0)
    if visible:
        fig.legend(
            handles=organ_legend_handles(sorted(visible)), loc="outside lower center", ncol=5, fontsize=7.5,
            frameon=False,
        )
    return fig


def plot_intensity_normalisation(
    pairs: Sequence[tuple[np.ndarray, np.ndarray | None, Any]],
    bins: int = 80,
):
    """Intensity histograms before (top) and after (bottom) normalisation, one column per case.

    Introduced in chapter *Preprocessing and augmentation*; builds on numpy and matplotlib. Grey:
    all voxels; colour: voxels inside any organ. Top row: the stored values (CT in HU, with the
    window limits of the config; MRI in scanner units, with its clipping percentiles). Bottom row:
    the preprocessed, cropped volume (CT 0..1, MRI z-scores).

    Args:
        pairs: ``(raw image, raw label or None, PreprocessedCase)`` per column; the raw arrays are
            the case's files as loaded (:func:`amos_tutorial.utils.io.load_nifti`), the third item
            is :func:`~amos_tutorial.transforms.preprocessing.preprocess_case` of the same files.
        bins: Histogram bins per panel.

    Returns:
        The Figure.

    Raises:
        ValueError: If ``pairs`` is empty, malformed, or ``bins`` < 2.
    """
    from amos_tutorial.transforms.preprocessing import PreprocessConfig, PreprocessedCase

    pairs = list(pairs)
    if not pairs:
        raise ValueError("pairs is empty: pass (raw image, raw label, PreprocessedCase) tuples")
    if bins < 2:
        raise ValueError(f"bins must be >= 2, got {bins}")
    for item in pairs:
        if len(item) != 3 or not isinstance(item[2], PreprocessedCase):
            raise ValueError("each item of pairs must be (raw image, raw label or None, PreprocessedCase)")
    fig = new_figure((4.0 * len(pairs), 5.4))
    axes = fig.subplots(2, len(pairs), squeeze=False)
    organ_color = "#2a6f97"
    for col, (raw, raw_label, case) in enumerate(pairs):
        config = PreprocessConfig.from_dict(case.meta.get("config", {}))
        raw = np.asarray(raw, dtype=np.float32)
        after = case.image[0].detach().cpu().numpy()
        after_label = None if case.label is None else case.label[0].detach().cpu().numpy()
        if case.modality == "CT":
            lines = list(config.ct_window)
            line_text = [f"{v:g} HU" for v in lines]
            after_unit = f"normalised value (0 = {lines[0]:g} HU, 1 = {lines[1]:g} HU)"
            raw_unit = "Hounsfield units"
        else:
            lines = [float(v) for v in np.percentile(raw, config.mri_percentiles)]
            line_text = [f"p{config.mri_percentiles[0]:g}", f"p{config.mri_percentiles[1]:g}"]
            after_unit = "z-score (per volume)"
            raw_unit = "scanner units (arbitrary)"
        for row, (values, labels, unit) in enumerate(((raw, raw_label, raw_unit), (after, after_label, after_unit))):
            ax = axes[row, col]
            edges = np.linspace(float(values.min()), float(values.max()) + 1e-6, bins + 1)
            ax.hist(values.ravel(), bins=edges, color="0.65", histtype="stepfilled", label="all voxels")
            if labels is not None and np.any(labels > 0):
                ax.hist(
                    values[np.asarray(labels) > 0], bins=edges, color=organ_color, alpha=0.85, histtype="stepfilled",
                    label="organ voxels",
                )
            ax.set_yscale("log")
            ax.set_xlabel(unit, fontsize=8.5)
            if row == 0:
                for value, text in zip(lines, line_text):
                    ax.axvline(value, color="#c0392b", lw=1.2, ls="--")
                    ax.text(
                        value, 0.97, f" {text}", color="#c0392b", fontsize=7.5, va="top",
                        transform=ax.get_xaxis_transform(),
                    )
                ax.set_title(f"{case.case_id} ({case.modality}): as stored", fontsize=9.5)
            else:
                ax.set_title(f"{case.case_id}: after preprocessing", fontsize=9.5)
            if col == 0:
                ax.set_ylabel("voxels (log)")
    axes[0, 0].legend(fontsize=7.5, loc="center right")
    return fig


# ----------------------------------------------------------------------------------------------
# patch sampling


def plot_patch_class_frequencies(frequencies: pd.DataFrame):
    """Bars per organ: share of patches containing it (left) and share of patch voxels (right, log).

    Introduced in chapter *Preprocessing and augmentation*; builds on matplotlib. Organ tick labels
    carry the organ's fixed colour; bars carry the sampler's colour.

    Args:
        frequencies: Output of :func:`compare_patch_sampling`.

    Returns:
        The Figure.

    Raises:
        ValueError: If the frame is empty or lacks columns.
    """
    require_columns(frequencies, ["sampler", "label_id", "organ", "patches", "voxels"], "patch frequency table")
    organs = frequencies[frequencies["label_id"] > 0]
    samplers = list(dict.fromkeys(organs["sampler"]))
    names = [lab.name for lab in LABELS[1:] if lab.name in set(organs["organ"])]
    fig = new_figure((11.0, 4.4))
    ax_p, ax_v = fig.subplots(1, 2)
    width = 0.8 / max(len(samplers), 1)
    x = np.arange(len(names))
    for j, sampler in enumerate(samplers):
        sub = organs[organs["sampler"] == sampler].set_index("organ").reindex(names)
        color = _SAMPLER_COLORS.get(sampler, f"C{j}")
        offset = (j - (len(samplers) - 1) / 2) * width
        n = int(sub["n_patches"].iloc[0]) if "n_patches" in sub else None
        label = f"{sampler} ({n} patches)" if n else sampler
        ax_p.bar(x + offset, 100 * sub["patches"].to_numpy(), width, color=color, label=label)
        ax_v.bar(x + offset, sub["voxels"].clip(lower=1e-7).to_numpy(), width, color=color, label=label)
    for ax in (ax_p, ax_v):
        ax.set_xticks(x, names, rotation=70, ha="right", rotation_mode="anchor", fontsize=8)
        organ_ticklabels(ax.get_xticklabels())
        ax.grid(axis="x", visible=False)
    ax_p.set(ylabel="patches containing the organ (%)", ylim=(0, 105), title="How often a patch shows the organ")
    ax_v.set_yscale("log")
    ax_v.set(ylabel="share of all patch voxels (log)", title="How many voxels the loss sees")
    ax_p.legend(fontsize=8, loc="upper right")
    return fig


# ----------------------------------------------------------------------------------------------
# augmentation


def describe_augmentation(params: Mapping[str, torch.Tensor], index: int) -> str:
    """A short text of the augmentation drawn for one sample of a batch.

    Introduced in chapter *Preprocessing and augmentation*.

    Args:
        params: ``BatchPlan.params`` (:func:`~amos_tutorial.transforms.augment.draw_augment_params`).
        index: The sample.

    Returns:
        E.g. ``"flip x,z; turn 90 deg x1; rotate 7 deg, zoom 1.12; gamma 1.31"``, or ``"none"``.

    Raises:
        ValueError: If ``index`` is out of range or ``params`` lacks a key.

    Examples:
        >>> import torch
        >>> p = {"flip": torch.tensor([[True, False, True]]), "rot90": torch.tensor([1]),
        ...      "affine": torch.tensor([False]), "angle": torch.tensor([0.0]), "zoom": torch.tensor([1.0]),
        ...      "int_scale": torch.tensor([1.0]), "int_shift": torch.tensor([0.0]),
        ...      "gamma": torch.tensor([1.0]), "noise_std": torch.tensor([0.0])}
        >>> describe_augmentation(p, 0)
        'flip x,z; turn 90 deg x1'
    """
    needed = ("flip", "rot90", "affine", "angle", "zoom", "int_scale", "int_shift", "gamma", "noise_std")
    missing = [k for k in needed if k not in params]
    if missing:
        raise ValueError(f"params lacks {missing}: pass BatchPlan.params")
    n = int(params["rot90"].shape[0])
    if not 0 <= int(index) < n:
        raise ValueError(f"index {index} outside 0..{n - 1}")
    i = int(index)
    parts = []
    flips = [_AXES[a] for a in range(3) if bool(params["flip"][i][a])]
    if flips:
        parts.append("flip " + ",".join(flips))
    if int(params["rot90"][i]):
        parts.append(f"turn 90 deg x{int(params['rot90'][i])}")
    if bool(params["affine"][i]):
        parts.append(f"rotate {math.degrees(float(params['angle'][i])):.0f} deg, zoom {float(params['zoom'][i]):.2f}")
    if float(params["int_scale"][i]) != 1.0:
        parts.append(f"scale {float(params['int_scale'][i]):.2f}")
    if float(params["int_shift"][i]) != 0.0:
        parts.append(f"shift {float(params['int_shift'][i]):+.2f}")
    if float(params["gamma"][i]) != 1.0:
        parts.append(f"gamma {float(params['gamma'][i]):.2f}")
    if float(params["noise_std"][i]) > 0:
        parts.append(f"noise {float(params['noise_std'][i]):.2f}")
    return "; ".join(parts) if parts else "none"


def plot_augmented_batch(
    plain: Mapping[str, torch.Tensor],
    augmented: Mapping[str, torch.Tensor],
    params: Mapping[str, torch.Tensor] | None = None,
    spacing: Sequence[float] = (1.5, 1.5, 2.0),
    plane: str = "axial",
    max_samples: int = 6,
    panel_size: float = 2.0,
):
    """The same batch without (top) and with (bottom) augmentation: the middle slice of each patch.

    Introduced in chapter *Preprocessing and augmentation*; builds on
    :func:`amos_tutorial.viz.slices.display_slice` (patches are on the RAS grid of the cache, shown in
    the radiological convention). Both rows of a column share the grey scale of the plain patch, so
    intensity augmentation shows as a brighter, darker or noisier patch.

    Args:
        plain: ``PatchSampler(..., augment=False).batch(k)``.
        augmented: ``PatchSampler(..., augment=True).batch(k)`` with the same seed: the same crops.
        params: ``plan(k).params`` of the augmented sampler, written under each column (optional).
        spacing: Voxel size of the patches in mm (for the aspect ratio).
        plane: ``"axial"``, ``"coronal"`` or ``"sagittal"``.
        max_samples: Columns drawn at most.
        panel_size: Size of one panel in inches.

    Returns:
        The Figure.

    Raises:
        ValueError: If the batches differ in shape or lack ``image`` / ``label``.
    """
    from amos_tutorial.viz.slices import _PLANE_AXIS, display_slice, plane_aspect

    for name, batch in (("plain", plain), ("augmented", augmented)):
        if not isinstance(batch, Mapping) or "image" not in batch or "label" not in batch:
            raise ValueError(f"{name} must be a batch dict with 'image' and 'label' (PatchSampler.batch)")
    if tuple(plain["image"].shape) != tuple(augmented["image"].shape) or plain["image"].ndim != 5:
        raise ValueError(
            f"plain and augmented must be (B, 1, X, Y, Z) batches of one shape, got "
            f"{tuple(plain['image'].shape)} and {tuple(augmented['image'].shape)}"
        )
    if int(max_samples) < 1:
        raise ValueError(f"max_samples must be >= 1, got {max_samples}")
    n = min(int(plain["image"].shape[0]), int(max_samples))
    aspect = plane_aspect(spacing, plane)
    cmap = label_colormap()
    fig = new_figure((panel_size * n, 2 * panel_size + 0.9))
    axes = fig.subplots(2, n, squeeze=False)
    for i in range(n):
        images = [b["image"][i, 0].detach().float().cpu().numpy() for b in (plain, augmented)]
        labels = [b["label"][i, 0].detach().cpu().numpy() for b in (plain, augmented)]
        lo, hi = np.percentile(images[0], [0.5, 99.5])
        hi = hi if hi > lo else lo + 1
        index = images[0].shape[_PLANE_AXIS[plane]] // 2
        for row in range(2):
            ax = axes[row, i]
            ax.imshow(display_slice(images[row], plane, index), cmap="gray", vmin=lo, vmax=hi, aspect=aspect)
            lab = display_slice(labels[row], plane, index)
            ax.imshow(np.ma.masked_equal(lab, 0), cmap=cmap, vmin=0, vmax=NUM_CLASSES - 1, alpha=0.45,
                      aspect=aspect, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
        axes[0, i].set_title(f"patch {i}", fontsize=9)
        if params is not None:
            text = describe_augmentation(params, i).replace("; ", "\n")
            axes[1, i].set_xlabel(text, fontsize=7)
    axes[0, 0].set_ylabel("no augmentation", fontsize=9)
    axes[1, 0].set_ylabel("augmented", fontsize=9)
    return fig


# ----------------------------------------------------------------------------------------------
# back to the original grid


def plot_round_trip(
    image: np.ndarray,
    label: np.ndarray,
    back: np.ndarray,
    affine: np.ndarray,
    modality: str | None = None,
    planes: Sequence[str] = ("axial", "coronal"),
    panel_size: float = 3.0,
):
    """Original labels, labels after the round trip, and the voxels where they differ.

    Introduced in chapter *Preprocessing and augmentation*; builds on
    :func:`amos_tutorial.viz.slices.show_slices` and ``to_canonical``. All panels of a row cut the
    same slice (through the centre of the labelled organs).

    Args:
        image: The original image (as loaded from its file).
        label: The original label map.
        back: :func:`round_trip_label` of the preprocessed case.
        affine: The file's affine.
        modality: ``"CT"`` or ``"MRI"`` (picks the grey-scale window).
        planes: One row per plane.
        panel_size: Size of one panel in inches.

    Returns:
        The Figure.

    Raises:
        ValueError: If the shapes differ or a plane is unknown.
    """
    from amos_tutorial.viz.slices import (
        _PLANE_AXIS,
        PLANES,
        display_slice,
        plane_aspect,
        show_slices,
        slice_position,
        to_canonical,
        window_limits,
    )

    from matplotlib.colors import ListedColormap

    image, label, back = np.asarray(image), np.asarray(label), np.asarray(back)
    if not image.shape == label.shape == back.shape:
        raise ValueError(f"image, label and back must have one shape, got {image.shape}, {label.shape}, {back.shape}")
    planes = list(planes)
    if not planes or any(p not in PLANES for p in planes):
        raise ValueError(f"planes must be a non-empty subset of {PLANES}, got {planes}")
    canon = to_canonical(image, affine, label)
    canon_back = to_canonical(image, affine, back)
    position = slice_position(canon)
    diff = (canon.label != canon_back.label).astype(np.uint8)
    vmin, vmax = window_limits(canon.image, "auto", modality)
    fig = new_figure((3 * panel_size, panel_size * len(planes) + 0.6))
    axes = fig.subplots(len(planes), 3, squeeze=False)
    for row, plane in enumerate(planes):
        for col, lab in enumerate((label, back)):
            show_slices(image, lab, affine, planes=[plane], axes=[axes[row, col]], position=position,
                        modality=modality, legend=False, orientation_labels=col == 0)
        ax = axes[row, 2]
        index = position[_PLANE_AXIS[plane]]
        aspect = plane_aspect(canon.spacing, plane)
        ax.imshow(display_slice(canon.image, plane, index), cmap="gray", vmin=vmin, vmax=vmax, aspect=aspect)
        ax.imshow(np.ma.masked_equal(display_slice(diff, plane, index), 0), cmap=ListedColormap(["#ff2d2d"]),
                  vmin=0, vmax=1, aspect=aspect, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        for col, text in enumerate(("original labels", "after the round trip", "voxels that differ")):
            axes[row, col].set_title(f"{text} ({plane})", fontsize=9)
    return fig
