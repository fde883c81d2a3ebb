"""Dataset statistics for the *Exploring the data* chapter: geometry, organ volumes, intensities.

Introduced in chapter *Exploring the data*; builds on nibabel (reading), numpy (per-organ grouping)
and pandas (tables). nnU-Net's "dataset fingerprint" collects the same kind of numbers (spacings,
shapes, foreground intensities) to plan its preprocessing; here they become tables and figures.

One pass per case: the image and the label map are read **once** and every table is derived from
that read. Three tidy tables come out (see :class:`DatasetStats`):

* ``geometry``: one row per case (shape, spacing, orientation, field of view, intensity range);
* ``organs``: one row per (case, organ) for labelled cases (voxels, volume in ml, intensity statistics);
* ``samples``: a random subsample of organ intensities, in long format, for histograms.

A case that cannot be read is reported in ``DatasetStats.errors`` (and as a warning) instead of
ending the run, and a ``cache_dir`` makes a long run over the real release resumable.

Examples:
    >>> from amos_tutorial.data.layout import load_amos          # doctest: +SKIP
    >>> stats = dataset_statistics(load_amos("synthetic").labelled(), max_cases=8)  # doctest: +SKIP
    >>> stats.organs.groupby("modality").volume_ml.median()      # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from amos_tutorial.labels import LABELS, NUM_CLASSES
from amos_tutorial.utils.geometry import AFFINE_ATOL, spacing_from_affine

__all__ = [
    "GEOMETRY_COLUMNS",
    "ORGAN_COLUMNS",
    "SAMPLE_COLUMNS",
    "CaseStats",
    "DatasetStats",
    "case_statistics",
    "class_balance",
    "dataset_statistics",
    "select_cases",
    "tidy_metadata",
]

GEOMETRY_COLUMNS = [
    "case_id",
    "split",
    "modality",
    "shape_x",
    "shape_y",
    "shape_z",
    "spacing_x",
    "spacing_y",
    "spacing_z",
    "axcodes",
    "fov_x_mm",
    "fov_y_mm",
    "fov_z_mm",
    "n_voxels",
    "dtype",
    "intensity_min",
    "intensity_p00_5",
    "intensity_median",
    "intensity_p99_5",
    "intensity_max",
    "labelled",
    "n_organs_present",
]
ORGAN_COLUMNS = [
    "case_id",
    "split",
    "modality",
    "label_id",
    "organ",
    "present",
    "voxels",
    "volume_ml",
    "fraction",
    "intensity_mean",
    "intensity_std",
    "intensity_p05",
    "intensity_median",
    "intensity_p95",
]
SAMPLE_COLUMNS = ["case_id", "modality", "label_id", "organ", "intensity"]

# Whole-image percentiles are estimated from this many random voxels (exact min and max).
_PERCENTILE_SAMPLE = 1_000_000
# Bump when the content of a cached per-case record changes, so stale caches are recomputed.
_CACHE_VERSION = 2


@dataclass
class CaseStats:
    """Statistics of one case (from one read of its image and label).

    Attributes:
        geometry: One row of the geometry table (keys: :data:`GEOMETRY_COLUMNS`).
        organs: One dict per organ id 1-15 (keys: :data:`ORGAN_COLUMNS`); empty for unlabelled cases.
        samples: ``{label_id: float32 array}`` of sampled organ intensities.
    """

    geometry: dict[str, Any]
    organs: list[dict[str, Any]]
    samples: dict[int, np.ndarray]


@dataclass
class DatasetStats:
    """The three tables of a dataset (see the module docstring) and the cases that failed.

    Attributes:
        geometry: One row per case.
        organs: One row per (labelled case, organ).
        samples: Long-format intensity samples (``case_id, modality, label_id, organ, intensity``).
        errors: ``"PATH: problem"`` for every case that could not be read.
    """

    geometry: pd.DataFrame
    organs: pd.DataFrame
    samples: pd.DataFrame
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """A few lines for a notebook: cases per modality, median spacing and shape, failures."""
        g = self.geometry
        if g.empty:
            return "no cases" + (f" ({len(self.errors)} failed)" if self.errors else "")
        lines = [f"{len(g)} cases: " + ", ".join(f"{n} {m}" for m, n in g.modality.value_counts().sort_index().items())]
        for modality, sub in g.groupby("modality"):
            sp = sub[["spacing_x", "spacing_y", "spacing_z"]].median().round(3).tolist()
            sh = sub[["shape_x", "shape_y", "shape_z"]].median().astype(int).tolist()
            lines.append(f"{modality}: median spacing {sp} mm, median shape {sh} (x, y, z)")
        if self.errors:
            lines.append(f"{len(self.errors)} case(s) could not be read: see .errors")
        return "\n".join(lines)


def _case_attr(case: Any, name: str, default: Any = None) -> Any:
    if isinstance(case, dict):
        return case.get(name, default)
    return getattr(case, name, default)


def case_statistics(case: Any, samples_per_organ: int = 2000, seed: int = 0) -> CaseStats:
    """Compute the geometry, per-organ and intensity-sample statistics of one case.

    Introduced in chapter *Exploring the data*; builds on nibabel (via
    :func:`amos_tutorial.utils.io.load_nifti`) and numpy. The image and the label map are each
    read exactly once. Organ statistics use every voxel; the whole-image percentiles (0.5, 50,
    99.5) are estimated from a random subsample of one million voxels (min and max are exact).

    Args:
        case: An :class:`amos_tutorial.data.layout.AmosCase` (or anything with ``case_id``, ``split``,
            ``modality``, ``image`` and ``label`` attributes or keys). ``label`` may be None.
        samples_per_organ: Maximum number of intensities kept per organ for histograms (0: none).
        seed: Seed of the sampling (combined with the case id, so every case draws differently).

    Returns:
        A :class:`CaseStats`.

    Raises:
        ValueError: ``"PATH: problem"`` if a file cannot be read, is not 3-D, or the label map does
            not match the image grid or holds values outside 0-15.

    Examples:
        >>> cs = case_statistics(case)        # doctest: +SKIP
        >>> cs.geometry["spacing_z"]          # doctest: +SKIP
        5.0
    """
    import nibabel as nib

    from amos_tutorial.utils.io import load_nifti

    if int(samples_per_organ) < 0:
        raise ValueError(f"samples_per_organ must be >= 0, got {samples_per_organ!r}")
    case_id = str(_case_attr(case, "case_id"))
    image_path = Path(_case_attr(case, "image"))
    label_path = _case_attr(case, "label")
    label_path = Path(label_path) if label_path is not None else None

    image, affine = load_nifti(image_path)
    if image.ndim != 3:
        raise ValueError(f"{image_path}: expected a 3-D image, got shape {image.shape}")
    dtype = str(image.dtype)
    image = np.asarray(image, dtype=np.float32)
    spacing = np.asarray(spacing_from_affine(affine))
    geometry: dict[str, Any] = {
        "case_id": case_id,
        "split": _case_attr(case, "split"),
        "modality": _case_attr(case, "modality"),
        "shape_x": int(image.shape[0]),
        "shape_y": int(image.shape[1]),
        "shape_z": int(image.shape[2]),
        "spacing_x": float(spacing[0]),
        "spacing_y": float(spacing[1]),
        "spacing_z": float(spacing[2]),
        "axcodes": "".join(nib.aff2axcodes(affine)),
        "fov_x_mm": float(image.shape[0] * spacing[0]),
        "fov_y_mm": float(image.shape[1] * spacing[1]),
        "fov_z_mm": float(image.shape[2] * spacing[2]),
        "n_voxels": int(image.size),
        "dtype": dtype,
    }
    # nibabel returns Fortran-ordered arrays: flatten in that order once (a view, not a copy) and
    # use the same order for the label map so that flat indices match.
    image_flat = image.ravel(order="F")
    digest = int(hashlib.sha1(case_id.encode()).hexdigest()[:8], 16)
    rng = np.random.default_rng([int(seed), digest])
    sample = image_flat
    if image_flat.size > _PERCENTILE_SAMPLE:
        sample = image_flat[rng.integers(0, image_flat.size, _PERCENTILE_SAMPLE)]
    p = np.percentile(sample, [0.5, 50, 99.5])
    geometry.update(
        intensity_min=float(image_flat.min()),
        intensity_p00_5=float(p[0]),
        intensity_median=float(p[1]),
        intensity_p99_5=float(p[2]),
        intensity_max=float(image_flat.max()),
    )
    geometry["labelled"] = label_path is not None
    organs: list[dict[str, Any]] = []
    samples: dict[int, np.ndarray] = {}
    if label_path is None:
        geometry["n_organs_present"] = np.nan
        return CaseStats(geometry, organs, samples)

    label_flat = _read_label(label_path, image.shape, affine)
    counts = np.bincount(label_flat, minlength=NUM_CLASSES)
    organs, samples = _organ_rows(geometry, image_flat, label_flat, counts, spacing, int(samples_per_organ), rng)
    geometry["n_organs_present"] = int((counts[1:] > 0).sum())
    return CaseStats(geometry, organs, samples)


def _read_label(label_path: Path, shape: tuple[int, ...], affine: np.ndarray) -> np.ndarray:
    """The label map flattened in Fortran order (as the image), checked against the image grid and 0-15."""
    from amos_tutorial.utils.io import load_nifti

    label, label_affine = load_nifti(label_path)
    if label.shape != shape:
        raise ValueError(f"{label_path}: label shape {label.shape} differs from image shape {shape}")
    if not np.allclose(label_affine, affine, atol=AFFINE_ATOL):
        raise ValueError(f"{label_path}: label affine differs from the image affine")
    label_flat = np.asarray(label).ravel(order="F")
    lo, hi = label_flat.min(), label_flat.max()
    if lo < 0 or hi >= NUM_CLASSES:
        raise ValueError(f"{label_path}: label values must lie in 0-{NUM_CLASSES - 1}, found {lo}..{hi}")
    if np.issubdtype(label_flat.dtype, np.floating) and not np.array_equal(label_flat, np.round(label_flat)):
        raise ValueError(f"{label_path}: label map holds non-integer values")
    return label_flat.astype(np.uint8, copy=False)


def _organ_rows(
    geometry: dict[str, Any], image_flat: np.ndarray, label_flat: np.ndarray, counts: np.ndarray,
    spacing: np.ndarray, samples_per_organ: int, rng: np.random.Generator,
) -> tuple[list[dict[str, Any]], dict[int, np.ndarray]]:
    """One row per organ (voxels, volume, intensity statistics) and up to ``samples_per_organ`` intensities each."""
    # Group foreground voxels by organ once (a stable sort of the few % foreground voxels) instead
    # of scanning the whole volume once per organ.
    fg = np.flatnonzero(label_flat)
    order = np.argsort(label_flat[fg], kind="stable")
    fg_values = image_flat[fg[order]]
    bounds = np.concatenate([[0], np.cumsum(counts[1:])])
    voxel_ml = float(np.prod(spacing)) / 1000.0
    organs: list[dict[str, Any]] = []
    samples: dict[int, np.ndarray] = {}
    for lab in LABELS[1:]:
        values = fg_values[bounds[lab.id - 1] : bounds[lab.id]]
        n = int(counts[lab.id])
        row = {
            "case_id": geometry["case_id"],
            "split": geometry["split"],
            "modality": geometry["modality"],
            "label_id": lab.id,
            "organ": lab.name,
            "present": n > 0,
            "voxels": n,
            "volume_ml": n * voxel_ml,
            "fraction": n / label_flat.size,
        }
        if n:
            q = np.percentile(values, [5, 50, 95])
            row.update(
                intensity_mean=float(values.mean()),
                intensity_std=float(values.std()),
                intensity_p05=float(q[0]),
                intensity_median=float(q[1]),
                intensity_p95=float(q[2]),
            )
            k = min(n, samples_per_organ)
            if k:
                samples[lab.id] = rng.choice(values, size=k, replace=False).astype(np.float32)
        else:
            row.update(
                intensity_mean=np.nan,
                intensity_std=np.nan,
                intensity_p05=np.nan,
                intensity_median=np.nan,
                intensity_p95=np.nan,
            )
        organs.append(row)
    return organs, samples


def select_cases(cases: Sequence[Any], max_cases: int | None, seed: int = 0) -> list[Any]:
    """Pick a small subset of cases that keeps both modalities (for smoke runs).

    Introduced in chapter *Exploring the data*. The pick is deterministic for a given seed and
    proportional to the modality counts, with at least one case of every modality present.

    Args:
        cases: Cases with a ``modality`` attribute (or key).
        max_cases: Size of the subset; None or a number >= ``len(cases)`` keeps every case.
        seed: Seed of the random pick.

    Returns:
        The chosen cases, in their original order.

    Raises:
        ValueError: If ``max_cases`` is smaller than 1.

    Examples:
        >>> cases = [{"modality": "CT"}] * 6 + [{"modality": "MRI"}] * 2
        >>> sorted(c["modality"] for c in select_cases(cases, 4))
        ['CT', 'CT', 'CT', 'MRI']
    """
    cases = list(cases)
    if max_cases is None or max_cases >= len(cases):
        return cases
    if max_cases < 1:
        raise ValueError(f"max_cases must be >= 1 or None, got {max_cases!r}")
    groups: dict[str, list[int]] = {}
    for i, c in enumerate(cases):
        groups.setdefault(str(_case_attr(c, "modality")), []).append(i)
    names = sorted(groups)
    quota = {m: max(1, round(max_cases * len(groups[m]) / len(cases))) for m in names}
    # Rounding can overshoot: take back from the largest group first.
    while sum(quota.values()) > max_cases:
        biggest = max((m for m in names if quota[m] > 1), key=lambda m: quota[m], default=None)
        if biggest is None:
            break
        quota[biggest] -= 1
    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    for m in names:
        idx = groups[m]
        chosen.extend(rng.choice(idx, size=min(quota[m], len(idx)), replace=False).tolist())
    return [cases[i] for i in sorted(chosen)[:max_cases]]


def _file_key(path: Path | None) -> list[Any] | None:
    if path is None:
        return None
    st = path.stat()
    return [str(path.resolve()), st.st_size, st.st_mtime_ns]


def _cache_key(case: Any, samples_per_organ: int, seed: int) -> dict[str, Any]:
    label = _case_attr(case, "label")
    return {
        "version": _CACHE_VERSION,
        "image": _file_key(Path(_case_attr(case, "image"))),
        "label": _file_key(Path(label) if label is not None else None),
        "modality": _case_attr(case, "modality"),
        "split": _case_attr(case, "split"),
        "samples_per_organ": int(samples_per_organ),
        "seed": int(seed),
    }


def _cache_file(cache: Path, case: Any) -> Path:
    # The image path is part of the name: the same case id in two datasets (synthetic and real)
    # gets two cache entries instead of evicting each other.
    case_id = re.sub(r"[^A-Za-z0-9_.-]", "_", str(_case_attr(case, "case_id")))
    digest = hashlib.sha1(str(Path(_case_attr(case, "image")).resolve()).encode()).hexdigest()[:12]
    return cache / f"{case_id}-{digest}.json"


def _load_cached(path: Path, key: dict[str, Any]) -> CaseStats | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # missing or unreadable cache: recompute
    if record.get("key") != key:
        return None
    samples = {int(k): np.asarray(v, dtype=np.float32) for k, v in record["samples"].items()}
    return CaseStats(record["geometry"], record["organs"], samples)


def _save_cached(path: Path, key: dict[str, Any], stats: CaseStats) -> None:
    from amos_tutorial.utils.io import atomic_write_text

    record = {
        "key": key,
        "geometry": stats.geometry,
        "organs": stats.organs,
        "samples": {str(k): v.tolist() for k, v in stats.samples.items()},
    }
    # NaN is not JSON: allow_nan writes it as NaN, which json.loads reads back.
    atomic_write_text(path, json.dumps(record, default=_json_default))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def dataset_statistics(
    cases: Iterable[Any],
    max_cases: int | None = None,
    samples_per_organ: int = 2000,
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    on_error: str = "warn",
    progress: bool = False,
) -> DatasetStats:
    """Compute the geometry, organ and intensity-sample tables of many cases.

    Introduced in chapter *Exploring the data*; builds on :func:`case_statistics` (nibabel, numpy)
    and pandas.

    Args:
        cases: :class:`~amos_tutorial.data.layout.AmosCase` objects (e.g. ``dataset.labelled()``)
            or an ``AmosDataset`` (all its cases).
        max_cases: Use a modality-preserving subset of this size (smoke mode); None uses all.
        samples_per_organ: Intensities kept per organ and case for the histograms.
        seed: Seed for the subset and the sampling.
        cache_dir: If given, each case's result is stored there as JSON and reused while the files
            are unchanged, so an interrupted run over the real release resumes where it stopped.
        on_error: ``"warn"`` records an unreadable case in ``errors`` and goes on; ``"raise"`` stops.
        progress: Show a tqdm progress bar.

    Returns:
        A :class:`DatasetStats`.

    Raises:
        ValueError: If ``on_error`` is not ``"warn"`` or ``"raise"``, or (with ``"raise"``) a case
            cannot be read.

    Examples:
        >>> stats = dataset_statistics(ds.labelled(), max_cases=8)   # doctest: +SKIP
        >>> stats.geometry[["spacing_x", "spacing_z"]].median()     # doctest: +SKIP
    """
    if on_error not in ("warn", "raise"):
        raise ValueError(f"on_error must be 'warn' or 'raise', got {on_error!r}")
    if hasattr(cases, "cases") and not isinstance(cases, (list, tuple)):
        cases = cases.cases
    chosen = select_cases(list(cases), max_cases, seed=seed)
    cache = Path(cache_dir) if cache_dir is not None else None
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
    iterator: Iterable[Any] = chosen
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(chosen, desc="reading cases", unit="case")

    geometry_rows: list[dict[str, Any]] = []
    organ_rows: list[dict[str, Any]] = []
    sample_frames: list[pd.DataFrame] = []
    errors: list[str] = []
    for case in iterator:
        case_id = str(_case_attr(case, "case_id"))
        try:
            key = _cache_key(case, samples_per_organ, seed) if cache is not None else None
            cache_file = _cache_file(cache, case) if cache is not None else None
            result = _load_cached(cache_file, key) if cache_file is not None else None
            if result is None:
                result = case_statistics(case, samples_per_organ=samples_per_organ, seed=seed)
                if cache_file is not None:
                    _save_cached(cache_file, key, result)
        except (ValueError, OSError) as exc:
            if on_error == "raise":
                raise
            message = str(exc)
            paths = [str(_case_attr(case, "image")), str(_case_attr(case, "label"))]
            if not any(message.startswith(p) for p in paths):
                message = f"{paths[0]}: {message}"  # every reported problem starts with a path
            errors.append(message)
            warnings.warn(f"skipping {case_id}: {message}", stacklevel=2)
            continue
        geometry_rows.append(result.geometry)
        organ_rows.extend(result.organs)
        for label_id, values in result.samples.items():
            sample_frames.append(
                pd.DataFrame(
                    {
                        "case_id": case_id,
                        "modality": result.geometry["modality"],
                        "label_id": label_id,
                        "organ": LABELS[label_id].name,
                        "intensity": values,
                    }
                )
            )
    geometry = pd.DataFrame(geometry_rows, columns=GEOMETRY_COLUMNS)
    organs = pd.DataFrame(organ_rows, columns=ORGAN_COLUMNS)
    samples = pd.concat(sample_frames, ignore_index=True) if sample_frames else pd.DataFrame(columns=SAMPLE_COLUMNS)
    organ_order = pd.CategoricalDtype([lab.name for lab in LABELS[1:]], ordered=True)
    organs["organ"] = organs["organ"].astype(organ_order)
    samples["organ"] = samples["organ"].astype(organ_order)
    return DatasetStats(geometry=geometry, organs=organs, samples=samples, errors=errors)


def class_balance(organs: pd.DataFrame, geometry: pd.DataFrame | None = None) -> pd.DataFrame:
    """How rare each class is: share of all voxels per label, per modality.

    Introduced in chapter *Exploring the data*; builds on pandas. This is the class imbalance that
    Dice-based losses and foreground-oversampling patch samplers (nnU-Net, MONAI's
    ``RandCropByPosNegLabeld``) compensate for.

    Args:
        organs: The ``organs`` table of :class:`DatasetStats`.
        geometry: The ``geometry`` table; when given, a ``background`` row per modality is added.

    Returns:
        A frame with columns ``modality, label_id, organ, voxels, fraction, present_in`` (share of
        cases in which the organ is present), sorted by modality and label id.

    Raises:
        ValueError: If required columns are missing.

    Examples:
        >>> cb = class_balance(stats.organs, stats.geometry)   # doctest: +SKIP
        >>> cb.query("organ == 'liver'").fraction              # doctest: +SKIP
    """
    needed = {"case_id", "modality", "label_id", "organ", "voxels", "present"}
    missing = needed - set(organs.columns)
    if missing:
        raise ValueError(f"organs table lacks columns {sorted(missing)}")
    grouped = organs.groupby(["modality", "label_id"], observed=True)
    out = grouped.agg(voxels=("voxels", "sum"), present_in=("present", "mean")).reset_index()
    out["organ"] = out["label_id"].map(lambda i: LABELS[int(i)].name)
    if geometry is not None and not geometry.empty:
        labelled = geometry[geometry.case_id.isin(organs.case_id)]
        totals = labelled.groupby("modality").n_voxels.sum()
        fg = out.groupby("modality").voxels.sum()
        bg = pd.DataFrame(
            {
                "modality": totals.index,
                "label_id": 0,
                "voxels": (totals - fg.reindex(totals.index, fill_value=0)).values,
                "present_in": 1.0,
                "organ": LABELS[0].name,
            }
        )
        out = pd.concat([bg, out], ignore_index=True)
        out["fraction"] = out["voxels"] / out["modality"].map(totals)
    else:
        out["fraction"] = out["voxels"] / out.groupby("modality").voxels.transform("sum")
    out = out.sort_values(["modality", "label_id"]).reset_index(drop=True)
    # Categorical in id order, so that pivots and groupbys list organs as the label table does.
    out["organ"] = out["organ"].astype(pd.CategoricalDtype([lab.name for lab in LABELS], ordered=True))
    return out[["modality", "label_id", "organ", "voxels", "fraction", "present_in"]]


def tidy_metadata(frame: pd.DataFrame) -> pd.DataFrame:
    """Short, analysis-friendly metadata columns from ``AmosDataset.to_frame()``.

    Introduced in chapter *Exploring the data*; builds on pandas and
    :func:`amos_tutorial.data.layout.parse_age`. Renames the DICOM-style CSV columns and turns the
    ages into numbers and the acquisition dates into timestamps.

    Args:
        frame: A case table with at least ``case_id`` and ``modality``; the metadata CSV columns
            (``Patient's Sex``, ``Patient's Age``, ``Manufacturer's Model Name``, ``Manufacturer``,
            ``Site``, ``Acquisition Date``, and ``age_years``) are used when present.

    Returns:
        A frame with ``case_id, split, modality, modality_source, sex, age, scanner, manufacturer,
        site, acquired`` (missing metadata become NaN / NaT).

    Raises:
        ValueError: If ``case_id`` or ``modality`` is missing.

    Examples:
        >>> meta = tidy_metadata(dataset.to_frame())        # doctest: +SKIP
        >>> meta.groupby("modality").age.median()           # doctest: +SKIP
    """
    for col in ("case_id", "modality"):
        if col not in frame.columns:
            raise ValueError(f"case table lacks the column {col!r}")
    out = pd.DataFrame({"case_id": frame["case_id"], "modality": frame["modality"]})
    for col in ("split", "modality_source"):
        out[col] = frame[col] if col in frame.columns else np.nan
    renames = {
        "Patient's Sex": "sex",
        "Manufacturer's Model Name": "scanner",
        "Manufacturer": "manufacturer",
        "Site": "site",
    }
    for src, dst in renames.items():
        out[dst] = frame[src].astype("string").str.strip() if src in frame.columns else pd.NA
    if "age_years" in frame.columns:
        out["age"] = pd.to_numeric(frame["age_years"], errors="coerce").astype(float)
    elif "Patient's Age" in frame.columns:
        from amos_tutorial.data.layout import parse_age

        out["age"] = [np.nan if (a := parse_age(v)) is None else float(a) for v in frame["Patient's Age"]]
    else:
        out["age"] = np.nan
    if "Acquisition Date" in frame.columns:
        text = frame["Acquisition Date"].astype("string").str.strip()
        # DICOM DA is YYYYMMDD; exports sometimes reformat it, so fall back to pandas' parser.
        acquired = pd.to_datetime(text, format="%Y%m%d", errors="coerce")
        fallback = pd.to_datetime(text.where(acquired.isna()), format="mixed", errors="coerce")
        out["acquired"] = acquired.fillna(fallback)
    else:
        out["acquired"] = pd.NaT
    return out[
        ["case_id", "split", "modality", "modality_source", "sex", "age", "scanner", "manufacturer", "site", "acquired"]
    ]
