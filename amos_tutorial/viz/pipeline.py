"""Figures and measurements of the preprocessing pipeline: stages, intensities, patches, round trip, speed.

Introduced in chapter *Preprocessing and augmentation*; builds on :mod:`amos_tutorial.transforms`
(the fast torch path, the MONAI presets, the cache and :class:`~amos_tutorial.transforms.sampler.PatchSampler`),
MONAI, pandas and matplotlib. Each helper does the one computation behind a figure or a table of
that chapter, so that the chapter's cells stay short:

* :func:`preprocessing_stages` / :func:`plot_preprocessing_stages`: one case after each step of the
  MONAI preset (orientation, spacing, intensity, crop);
* :func:`resampling_table`: what resampling does to a grid (shape, voxels, memory, anisotropy);
* :func:`plot_intensity_normalisation`: histograms before and after the CT window / MRI z-score;
* :func:`cache_table`: the preprocessed cache, case by case, with the RAM / memory-map split of a budget;
* :func:`compare_patch_sampling` / :func:`plot_patch_class_frequencies`: organ frequencies in
  uniformly drawn vs organ-weighted patches;
* :func:`describe_augmentation` / :func:`plot_augmented_batch`: one batch with and without augmentation;
* :func:`round_trip_label`, :func:`round_trip_agreement` / :func:`plot_round_trip`: back to the
  original grid, and how well labels survive the trip;
* :func:`pipeline_throughput`: patches per second of the MONAI per-sample chains and of the
  ``PatchSampler``, side by side on one machine.

Every ``plot_*`` function returns a :class:`matplotlib.figure.Figure` made outside pyplot, so a
notebook shows it once when it is the last expression of a cell.

Examples:
    >>> from amos_tutorial.viz import pipeline as vp
    >>> stages = vp.preprocessing_stages(case)             # doctest: +SKIP
    >>> fig = vp.plot_preprocessing_stages(stages)          # doctest: +SKIP
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from amos_tutorial.labels import LABELS, NUM_CLASSES, label_colormap

__all__ = [
    "PreprocessingStage",
    "STAGE_OF_TRANSFORM",
    "cache_table",
    "compare_patch_sampling",
    "describe_augmentation",
    "pipeline_throughput",
    "plot_augmented_batch",
    "plot_intensity_normalisation",
    "plot_patch_class_frequencies",
    "plot_preprocessing_stages",
    "plot_round_trip",
    "preprocessing_stages",
    "resampling_table",
    "round_trip_agreement",
    "round_trip_label",
]

#: Stage of the pipeline that each MONAI transform of the preprocessing preset belongs to.
STAGE_OF_TRANSFORM: dict[str, str] = {
    "LoadImaged": "as stored",
    "EnsureChannelFirstd": "as stored",
    "Orientationd": "RAS orientation",
    "Spacingd": "resampled",
    "ScaleIntensityRanged": "intensity",
    "ClipIntensityPercentilesd": "intensity",
    "NormalizeIntensityd": "intensity",
    "CropForegroundd": "foreground crop",
}
_SAMPLER_COLORS = {"uniform": "#9e9e9e", "organ-weighted": "#2a6f97"}
_AXES = "xyz"


def _figure(figsize: tuple[float, float]):
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, dpi=110, layout="constrained")


def _spacing_of(affine: np.ndarray) -> tuple[float, float, float]:
    aff = np.asarray(affine, dtype=np.float64)
    return tuple(float(s) for s in np.sqrt((aff[:3, :3] ** 2).sum(axis=0)))  # type: ignore[return-value]


def _fmt_number(value: float, digits: int) -> str:
    text = f"{float(value):.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _fmt_triplet(values: Sequence[float], digits: int = 2) -> str:
    return "x".join(_fmt_number(v, digits) for v in values)


def _check_modality(modality: str) -> str:
    mod = str(modality).upper()
    mod = "MRI" if mod == "MR" else mod
    if mod not in ("CT", "MRI"):
        raise ValueError(f"modality must be 'CT' or 'MRI', got {modality!r}")
    return mod


# ----------------------------------------------------------------------------------------------
# preprocessing, step by step


@dataclass(frozen=True)
class PreprocessingStage:
    """A case after one stage of the preprocessing.

    Introduced in chapter *Preprocessing and augmentation*.

    Attributes:
        name: Stage name (a value of :data:`STAGE_OF_TRANSFORM`).
        transforms: The MONAI transforms applied in this stage, in order.
        image: Image array ``(X, Y, Z)`` in the axis order of ``affine``.
        label: Label map on the same grid, or None.
        affine: 4x4 voxel-to-world (RAS mm) matrix.
        normalised: Whether the intensities are already normalised (after the intensity stage).
        modality: ``"CT"`` or ``"MRI"``.
    """

    name: str
    transforms: tuple[str, ...]
    image: np.ndarray
    label: np.ndarray | None
    affine: np.ndarray
    normalised: bool
    modality: str

    @property
    def shape(self) -> tuple[int, int, int]:
        """Array shape ``(X, Y, Z)``."""
        return tuple(int(s) for s in self.image.shape)  # type: ignore[return-value]

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size in mm along the array axes."""
        return _spacing_of(self.affine)

    @property
    def axcodes(self) -> str:
        """Anatomical direction of each array axis, e.g. ``"LPS"`` or ``"RAS"``."""
        import nibabel as nib

        return "".join(nib.aff2axcodes(self.affine))

    def summary(self) -> dict[str, Any]:
        """One table row: stage, transforms, orientation codes, shape, spacing (mm) and value range."""
        return {
            "stage": self.name,
            "transforms": " + ".join(self.transforms),
            "axcodes": self.axcodes,
            "shape": "x".join(str(s) for s in self.shape),
            "spacing_mm": _fmt_triplet(self.spacing),
            "values": f"{_fmt_number(self.image.min(), 2)}..{_fmt_number(self.image.max(), 2)}",
        }


def preprocessing_stages(case: Any, config: Any = None) -> list[PreprocessingStage]:
    """Run the MONAI preprocessing preset on one case and keep the result of every stage.

    Introduced in chapter *Preprocessing and augmentation*; builds on
    :func:`amos_tutorial.transforms.presets.preprocessing_transforms` (``LoadImaged``,
    ``Orientationd``, ``Spacingd``, ``ScaleIntensityRanged`` or ``ClipIntensityPercentilesd`` +
    ``NormalizeIntensityd``, ``CropForegroundd``), applied one transform at a time.

    Args:
        case: An :class:`~amos_tutorial.data.layout.AmosCase` (anything with ``image``, ``label``
            (may be None) and ``modality``).
        config: A :class:`~amos_tutorial.transforms.preprocessing.PreprocessConfig` (default settings if None).

    Returns:
        The stages in order: as stored, RAS orientation, resampled, intensity, foreground crop
        (the last one only when the config crops).

    Raises:
        ValueError: ``"PATH: problem"`` if the case cannot be read, or for a bad modality.

    Examples:
        >>> [s.name for s in preprocessing_stages(case)]  # doctest: +SKIP
        ['as stored', 'RAS orientation', 'resampled', 'intensity', 'foreground crop']
    """
    from amos_tutorial.transforms.presets import preprocessing_transforms

    for attr in ("image", "modality"):
        if not hasattr(case, attr):
            raise ValueError(f"case must have 'image', 'label' and 'modality' attributes (an AmosCase), got {case!r}")
    modality = _check_modality(case.modality)
    label_path = getattr(case, "label", None)
    for path in (case.image, label_path):
        if path is not None and not Path(path).is_file():
            raise ValueError(f"{path}: file does not exist")
    pre = preprocessing_transforms(modality, config, label_key="label" if label_path is not None else None)
    data: dict[str, Any] = {"image": str(case.image)}
    if label_path is not None:
        data["label"] = str(label_path)
    stages: list[PreprocessingStage] = []
    done: list[str] = []
    normalised = False
    steps = list(pre.transforms)
    for i, transform in enumerate(steps):
        name = type(transform).__name__
        try:
            data = transform(data)
        except Exception as exc:  # noqa: BLE001 - MONAI wraps reader errors in RuntimeError with a long chain
            first_line = (str(exc).splitlines() or [""])[0]
            raise ValueError(f"{case.image}: {name} failed ({type(exc).__name__}: {first_line})") from None
        done.append(name)
        stage = STAGE_OF_TRANSFORM.get(name, name)
        normalised = normalised or stage == "intensity"
        nxt = STAGE_OF_TRANSFORM.get(type(steps[i + 1]).__name__) if i + 1 < len(steps) else None
        if nxt == stage:
            continue
        image = data["image"]
        label = data.get("label")
        stages.append(
            PreprocessingStage(
                name=stage,
                transforms=tuple(done),
                image=np.asarray(image.as_tensor()[0], dtype=np.float32),
                label=None if label is None else np.asarray(label.as_tensor()[0]).round().astype(np.uint8),
                affine=np.asarray(image.affine, dtype=np.float64),
                normalised=normalised,
                modality=modality,
            )
        )
        done = []
    return stages


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
    fig = _figure((panel_size * len(stages), panel_size * len(planes) + 1.2))
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
            f"{col + 1}. {stage.name}\n{stage.axcodes}, {shape}\n{_fmt_triplet(stage.spacing)} mm", fontsize=8.5
        )
        if stage.label is not None:
            visible.update(int(v) for v in np.unique(stage.label) if v > 0)
    if visible:
        fig.legend(
            handles=organ_legend_handles(sorted(visible)), loc="outside lower center", ncol=5, fontsize=7.5,
            frameon=False,
        )
    return fig


def resampling_table(
    shape: Sequence[int],
    spacing: Sequence[float],
    target_spacing: Sequence[float] = (1.5, 1.5, 2.0),
    name: str = "original",
) -> pd.DataFrame:
    """What resampling to ``target_spacing`` does to a grid: shape, voxel count, memory, anisotropy.

    Introduced in chapter *Preprocessing and augmentation*. The resampled shape is
    ``round(shape * spacing / target_spacing)`` per axis (the field of view is kept; MONAI's
    ``Spacingd`` may differ by a voxel).

    Args:
        shape: Voxels along x, y, z.
        spacing: Voxel size in mm along x, y, z.
        target_spacing: The new voxel size.
        name: Label of the first row.

    Returns:
        Two rows (``name`` and ``"resampled"``) with columns ``shape``, ``spacing_mm``, ``fov_mm``,
        ``voxels_M``, ``float32_MB`` and ``anisotropy`` (largest / smallest spacing).

    Raises:
        ValueError: If an argument is not three positive numbers.

    Examples:
        >>> t = resampling_table((512, 512, 103), (0.713, 0.713, 5.0))
        >>> t.loc["resampled", "shape"]
        '243x243x258'
    """
    arrays = []
    for what, values in (("shape", shape), ("spacing", spacing), ("target_spacing", target_spacing)):
        try:
            arr = np.asarray([float(v) for v in values], dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{what} must be three positive numbers, got {values!r}") from None
        if arr.shape != (3,) or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
            raise ValueError(f"{what} must be three positive numbers, got {values!r}")
        arrays.append(arr)
    shp, sp, target = arrays
    fov = shp * sp
    new = np.maximum(np.round(fov / target), 1)
    rows = {}
    for row, s, d in ((name, shp, sp), ("resampled", new, target)):
        voxels = float(np.prod(s))
        rows[row] = {
            "shape": "x".join(str(int(v)) for v in s),
            "spacing_mm": _fmt_triplet(d, 3),
            "fov_mm": _fmt_triplet(s * d, 0),
            "voxels_M": round(voxels / 1e6, 2),
            "float32_MB": round(voxels * 4 / 1e6, 1),
            "anisotropy": round(float(d.max() / d.min()), 2),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


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
    fig = _figure((4.0 * len(pairs), 5.4))
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
# the cache


def cache_table(
    out_dir: str | Path,
    memory_budget_gb: float | None = None,
    splits: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The preprocessed cache case by case, and which cases a memory budget keeps in RAM.

    Introduced in chapter *Preprocessing and augmentation*; builds on
    :func:`amos_tutorial.transforms.cache.read_cache_index` and ``load_preprocessed_case``
    (memory-mapped, so only the small ``meta`` is read). The ``storage`` column follows the rule of
    :func:`~amos_tutorial.transforms.cache.load_preprocessed`: cases are taken in order and read into
    RAM while the running total of file sizes stays within the budget; the others are memory-mapped.

    Args:
        out_dir: A cache folder written by ``amos preprocess``.
        memory_budget_gb: The budget (None: no limit, everything in RAM).
        splits: Only the cases of these splits, sorted by id, as ``load_preprocessed(splits=...)``
            selects them (default: every case file, sorted).

    Returns:
        One row per case: ``case_id``, ``split``, ``modality``, ``stored_shape``, ``resampled_shape``,
        ``cropped_shape``, ``kept_pct`` (share of the resampled voxels kept by the crop), ``MB``
        (file size) and ``storage`` (``"RAM"`` or ``"memory-mapped"``).

    Raises:
        FileNotFoundError: If the folder or its ``preprocess.json`` is missing.
        ValueError: ``"PATH: ..."`` for a corrupt file, or a non-positive budget.
    """
    from amos_tutorial.transforms.cache import CACHE_INDEX, load_preprocessed_case, read_cache_index

    out_dir = Path(out_dir)
    index = read_cache_index(out_dir) if out_dir.is_dir() else None
    if index is None:
        raise FileNotFoundError(f"{out_dir / CACHE_INDEX}: no preprocessed cache here (run `amos preprocess`)")
    if memory_budget_gb is not None and memory_budget_gb <= 0:
        raise ValueError(f"memory_budget_gb must be > 0 or None, got {memory_budget_gb}")
    cases = index.get("cases", {})
    if splits is not None:
        wanted = {splits} if isinstance(splits, str) else set(splits)
        ids = sorted(cid for cid, info in cases.items() if info.get("split") in wanted)
        paths = [out_dir / f"{cid}.pt" for cid in ids]
    else:
        paths = sorted(p for p in out_dir.glob("*.pt") if not p.name.startswith("."))
    budget = None if memory_budget_gb is None else memory_budget_gb * 1e9
    used = 0
    rows = []
    for path in paths:
        case = load_preprocessed_case(path, mmap=True)
        size = path.stat().st_size
        mapped = budget is not None and used + size > budget
        if not mapped:
            used += size
        meta = case.meta
        resampled = [int(s) for s in meta.get("resampled_shape", case.shape)]
        rows.append(
            {
                "case_id": case.case_id,
                "split": cases.get(case.case_id, {}).get("split", "?"),
                "modality": case.modality,
                "stored_shape": "x".join(str(int(s)) for s in meta.get("original_shape", [])),
                "resampled_shape": "x".join(map(str, resampled)),
                "cropped_shape": "x".join(map(str, case.shape)),
                "kept_pct": round(100.0 * math.prod(case.shape) / max(math.prod(resampled), 1), 1),
                "MB": round(size / 1e6, 2),
                "storage": "memory-mapped" if mapped else "RAM",
            }
        )
    return pd.DataFrame(rows, columns=[
        "case_id", "split", "modality", "stored_shape", "resampled_shape", "cropped_shape", "kept_pct", "MB", "storage",
    ])


# ----------------------------------------------------------------------------------------------
# patch sampling


def compare_patch_sampling(
    volumes: Sequence[Any],
    patch_size: Sequence[int],
    batch_size: int = 8,
    n_batches: int = 40,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> pd.DataFrame:
    """How often each class appears in patches drawn uniformly vs organ-weighted.

    Introduced in chapter *Preprocessing and augmentation*; builds on
    :class:`~amos_tutorial.transforms.sampler.PatchSampler` with ``organ_weighted=False`` (every
    patch centre anywhere in the volume) and ``True`` (half of the centres on an organ voxel, every
    organ present equally likely), both without augmentation and with the same seed.

    Args:
        volumes: Labelled preprocessed cases (``load_preprocessed``).
        patch_size: Patch ``(x, y, z)`` in voxels.
        batch_size: Patches per batch.
        n_batches: Batches drawn per sampler.
        seed: Seed of both samplers.
        device: Where the samplers build the batches.

    Returns:
        A tidy frame, one row per sampler and class: ``sampler``, ``label_id``, ``organ``,
        ``patches`` (share of patches containing at least one voxel of the class), ``voxels`` (share
        of all patch voxels) and ``n_patches``.

    Raises:
        ValueError: If ``n_batches`` < 1 (the sampler checks the rest).

    Examples:
        >>> freq = compare_patch_sampling(volumes, (32, 32, 32), n_batches=20)   # doctest: +SKIP
        >>> freq.pivot(index="organ", columns="sampler", values="patches")       # doctest: +SKIP
    """
    from amos_tutorial.transforms.sampler import PatchSampler

    if int(n_batches) < 1:
        raise ValueError(f"n_batches must be >= 1, got {n_batches}")
    rows = []
    for name, weighted in (("uniform", False), ("organ-weighted", True)):
        sampler = PatchSampler(
            volumes, patch_size, batch_size, device=device, organ_weighted=weighted, augment=False, seed=seed
        )
        contains = np.zeros(NUM_CLASSES, dtype=np.int64)
        voxels = np.zeros(NUM_CLASSES, dtype=np.int64)
        n = 0
        for k in range(int(n_batches)):
            label = sampler.batch(k)["label"].reshape(sampler.batch_size, -1)
            for row in label:
                counts = torch.bincount(row, minlength=NUM_CLASSES)[:NUM_CLASSES].cpu().numpy()
                contains += counts > 0
                voxels += counts
                n += 1
        for lab in LABELS:
            rows.append(
                {
                    "sampler": name,
                    "label_id": lab.id,
                    "organ": lab.name,
                    "patches": contains[lab.id] / n,
                    "voxels": voxels[lab.id] / max(voxels.sum(), 1),
                    "n_patches": n,
                }
            )
    return pd.DataFrame(rows)


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
    from amos_tutorial.viz.plots import _organ_ticklabels, _require

    _require(frequencies, ["sampler", "label_id", "organ", "patches", "voxels"], "patch frequency table")
    organs = frequencies[frequencies["label_id"] > 0]
    samplers = list(dict.fromkeys(organs["sampler"]))
    names = [lab.name for lab in LABELS[1:] if lab.name in set(organs["organ"])]
    fig = _figure((11.0, 4.4))
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
        _organ_ticklabels(ax.get_xticklabels())
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
    fig = _figure((panel_size * n, 2 * panel_size + 0.9))
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


def round_trip_label(case: Any, mode: str = "one-hot") -> np.ndarray:
    """Send a preprocessed label map back to the case's original grid.

    Introduced in chapter *Preprocessing and augmentation*; builds on
    :func:`~amos_tutorial.transforms.preprocessing.invert_to_original`. ``"nearest"`` resamples the
    label map itself; ``"one-hot"`` does what prediction does with a network's probabilities:
    one channel per class, trilinear resampling, then argmax (smoother organ borders).

    Args:
        case: A labelled :class:`~amos_tutorial.transforms.preprocessing.PreprocessedCase`.
        mode: ``"one-hot"`` or ``"nearest"``.

    Returns:
        ``uint8`` array of the original image's shape, in the original voxel order.

    Raises:
        ValueError: If the case has no label or ``mode`` is unknown.

    Examples:
        >>> back = round_trip_label(preprocess_case(img, lab, "CT"))   # doctest: +SKIP
    """
    from amos_tutorial.transforms.preprocessing import invert_to_original

    if getattr(case, "label", None) is None:
        raise ValueError(f"{getattr(case, 'case_id', 'case')}: no label to send back")
    if mode == "nearest":
        back = invert_to_original(case.label, case.meta, mode="nearest")
        return back[0].to(torch.uint8).cpu().numpy()
    if mode != "one-hot":
        raise ValueError(f"mode must be 'one-hot' or 'nearest', got {mode!r}")
    onehot = torch.nn.functional.one_hot(case.label[0].long(), NUM_CLASSES).permute(3, 0, 1, 2).float()
    onehot[0] += 1e-3  # outside the cropped box every channel is 0: let background win there
    back = invert_to_original(onehot, case.meta, mode="trilinear")
    return back.argmax(0).to(torch.uint8).cpu().numpy()


def round_trip_agreement(label: np.ndarray, back: np.ndarray) -> pd.DataFrame:
    """Per-organ Dice between an original label map and the same map after a round trip.

    Introduced in chapter *Preprocessing and augmentation*; plain numpy.

    Args:
        label: The original label map.
        back: The label map after preprocessing and inversion, same shape.

    Returns:
        One row per organ present in either map (index: organ name) with ``voxels``,
        ``voxels_back`` and ``dice``; ``frame.attrs["voxel_agreement"]`` is the share of voxels with
        the same label.

    Raises:
        ValueError: If the shapes differ.

    Examples:
        >>> a = np.zeros((4, 4, 4), np.uint8); a[:2] = 6
        >>> float(round_trip_agreement(a, a).loc["liver", "dice"])
        1.0
    """
    label, back = np.asarray(label), np.asarray(back)
    if label.shape != back.shape:
        raise ValueError(f"label shape {label.shape} differs from round-trip shape {back.shape}")
    n_a = np.bincount(label.ravel().astype(np.int64), minlength=NUM_CLASSES)
    n_b = np.bincount(back.ravel().astype(np.int64), minlength=NUM_CLASSES)
    both = np.bincount(label.ravel()[label.ravel() == back.ravel()].astype(np.int64), minlength=NUM_CLASSES)
    rows = {}
    for lab in LABELS[1:]:
        if n_a[lab.id] or n_b[lab.id]:
            rows[lab.name] = {
                "voxels": int(n_a[lab.id]),
                "voxels_back": int(n_b[lab.id]),
                "dice": round(float(2 * both[lab.id] / (n_a[lab.id] + n_b[lab.id])), 4),
            }
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=["voxels", "voxels_back", "dice"])
    frame.index.name = "organ"
    frame.attrs["voxel_agreement"] = float((label == back).mean())
    return frame


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
    fig = _figure((3 * panel_size, panel_size * len(planes) + 0.6))
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


# ----------------------------------------------------------------------------------------------
# throughput


def _monai_volumes(volumes: Sequence[Any]) -> list[dict[str, Any]]:
    from monai.data import MetaTensor

    data = []
    for v in volumes:
        affine = torch.as_tensor(np.asarray(v.meta.get("affine", np.eye(4)), dtype=np.float64))
        # As after LoadImaged + CacheDataset: float MetaTensors, label included.
        data.append({"image": MetaTensor(v.image.float(), affine=affine),
                     "label": MetaTensor(v.label.float(), affine=affine)})
    return data


def _time_batches(next_batch, n: int, warmup: int, device: torch.device) -> float:
    for _ in range(warmup):
        next_batch()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(n):
        next_batch()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / n


def pipeline_throughput(
    volumes: Sequence[Any],
    patch_size: Sequence[int],
    batch_size: int = 2,
    n_batches: int = 10,
    device: str | torch.device = "cpu",
    warmup: int = 2,
    threads: int | None = 1,
    seed: int = 0,
) -> pd.DataFrame:
    """Patches per second of three data pipelines on the same cached volumes, measured side by side.

    Introduced in chapter *Preprocessing and augmentation*; builds on MONAI's dictionary transforms and
    :class:`~amos_tutorial.transforms.sampler.PatchSampler`. The pipelines:

    1. *MONAI tutorial chain*: :func:`~amos_tutorial.transforms.presets.tutorial_augmentation_transforms`
       (``RandCropByPosNegLabeld``, flips, 90-degree turns, intensity shift), one volume per step
       giving ``batch_size`` patches, per sample, on the CPU, then stacked and moved to ``device``;
    2. *MONAI organ-weighted preset*: :func:`~amos_tutorial.transforms.presets.augmentation_transforms`
       (``RandCropByLabelClassesd`` and the same augmentation as the sampler, rotation and zoom
       included), per sample, on the CPU;
    3. *PatchSampler*: whole batches, organ-weighted, full augmentation, on ``device``.

    All run in this one process (no ``DataLoader`` workers), so on a CPU the figures are per core;
    workers multiply pipelines 1 and 2 by at most the number of free cores.

    Args:
        volumes: Labelled preprocessed cases (``load_preprocessed``).
        patch_size: Patch ``(x, y, z)``.
        batch_size: Patches per batch.
        n_batches: Timed batches per pipeline.
        device: Where batches must end up (``"cpu"``, ``"cuda"``...).
        warmup: Untimed batches first.
        threads: torch CPU threads during the measurement (restored afterwards); 1 is what each
            ``DataLoader`` worker uses; None keeps the current setting.
        seed: Seed of every pipeline.

    Returns:
        One row per pipeline: ``pipeline``, ``where`` (device of the random transforms),
        ``s_per_batch``, ``patches_per_s`` and ``vs_tutorial`` (throughput relative to pipeline 1).

    Raises:
        ValueError: On a bad ``n_batches``, ``warmup`` or ``threads``.

    Examples:
        >>> pipeline_throughput(volumes, (32, 32, 32), n_batches=5)   # doctest: +SKIP
    """
    from amos_tutorial.transforms.presets import augmentation_transforms, tutorial_augmentation_transforms
    from amos_tutorial.transforms.sampler import PatchSampler

    if int(n_batches) < 1 or int(warmup) < 0:
        raise ValueError(f"need n_batches >= 1 and warmup >= 0, got {n_batches} and {warmup}")
    if threads is not None and int(threads) < 1:
        raise ValueError(f"threads must be >= 1 or None, got {threads}")
    volumes = list(volumes)
    if not volumes:
        raise ValueError("volumes is empty: pass labelled preprocessed cases")
    device = torch.device(device)
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        data = _monai_volumes(volumes)
        rows = []
        chains = (
            ("MONAI tutorial chain (per sample)", tutorial_augmentation_transforms(patch_size, num_samples=batch_size)),
            ("MONAI organ-weighted preset (per sample)", augmentation_transforms(patch_size, num_samples=batch_size)),
        )
        for name, chain in chains:
            chain.set_random_state(seed)
            counter = iter(range(10**9))

            def next_batch(chain=chain, counter=counter):
                samples = chain(data[next(counter) % len(data)])
                image = torch.stack([s["image"].as_tensor() for s in samples]).to(device, non_blocking=True)
                label = torch.stack([s["label"].as_tensor() for s in samples]).to(device, non_blocking=True)
                return image, label

            rows.append((name, "cpu", _time_batches(next_batch, int(n_batches), int(warmup), device)))
        sampler = PatchSampler(volumes, patch_size, batch_size, device=device, seed=seed)
        counter = iter(range(10**9))
        seconds = _time_batches(lambda: sampler.batch(next(counter)), int(n_batches), int(warmup), device)
        rows.append(("PatchSampler (whole batch)", str(device), seconds))
    finally:
        torch.set_num_threads(before)
    frame = pd.DataFrame(rows, columns=["pipeline", "where", "s_per_batch"])
    frame["patches_per_s"] = (batch_size / frame["s_per_batch"]).round(1)
    frame["vs_tutorial"] = (frame["patches_per_s"] / frame["patches_per_s"].iloc[0]).round(2)
    frame["s_per_batch"] = frame["s_per_batch"].round(4)
    frame.attrs.update({"patch_size": tuple(int(p) for p in patch_size), "batch_size": int(batch_size),
                        "threads": torch.get_num_threads() if threads is None else int(threads)})
    return frame
