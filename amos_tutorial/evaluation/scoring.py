"""Every registered metric and the volumes of every organ of one case, as a tidy table.

Introduced in chapter *Evaluating segmentations*. Builds on scipy, pandas and the metric table
(:mod:`.metric_table`): one column per registered metric, so a new metric needs no edit here.

Examples:
    >>> import numpy as np
    >>> ref = np.zeros((20, 20, 10), np.uint8); ref[5:12, 5:12, 2:6] = 6
    >>> metric_columns()[:5]
    ('organ_id', 'organ', 'dsc', 'nsd', 'hd95')
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import ndimage

from amos_tutorial.evaluation.metric_table import get_metric, metric_names
from amos_tutorial.evaluation.metrics import (
    ABSENT_CONVENTIONS,
    Tolerance,
    describe_conventions,
    resolve_tolerances,
)
from amos_tutorial.labels import NUM_CLASSES, ORGAN_IDS, label_by_id

__all__ = ["metric_columns", "score_case", "scoring_conventions"]


def metric_columns(metrics: Sequence[str] | None = None) -> tuple[str, ...]:
    """Columns of :func:`score_case`: organ, one per metric, volumes and the NSD tolerance.

    Introduced in chapter *Evaluating segmentations*. :func:`amos_tutorial.evaluation.evaluate_case` adds
    ``case`` and ``modality``.

    Args:
        metrics: Metric names (default: every registered metric, in order).

    Returns:
        ``("organ_id", "organ", *metrics, "ref_ml", "pred_ml", "tolerance_mm")``.
    """
    names = metric_names() if metrics is None else tuple(metrics)
    return ("organ_id", "organ", *names, "ref_ml", "pred_ml", "tolerance_mm")


def scoring_conventions(
    tolerance_mm: Tolerance = None, absent: str = "nan", metrics: Sequence[str] | None = None
) -> str:
    """The conventions sentence of every score table and report: NSD tolerance, absent organs, undefined scores.

    Introduced in chapter *Evaluating segmentations*. :func:`~amos_tutorial.evaluation.metrics.describe_conventions`
    plus one clause for the metrics that are undefined for an organ absent from one of the maps (HD95).

    Args:
        tolerance_mm: The NSD tolerance (see :func:`~amos_tutorial.evaluation.metrics.resolve_tolerances`).
        absent: ``"nan"`` or ``"score"``.
        metrics: Metric names (default: every registered metric).

    Examples:
        >>> scoring_conventions().split(". ")[-1]
        'Exception: HD95 of an organ absent from one of them is NaN (undefined).'
    """
    chosen = [get_metric(name) for name in (metric_names() if metrics is None else metrics)]
    undefined = [m.label for m in chosen if np.isnan(m.one_absent)]
    text = describe_conventions(tolerance_mm, absent)
    if undefined:
        text += f" Exception: {' and '.join(undefined)} of an organ absent from one of them is NaN (undefined)."
    return text


def _union_box(ref_box: tuple[slice, ...] | None, pred_box: tuple[slice, ...] | None) -> tuple[slice, ...] | None:
    if ref_box is None:
        return pred_box
    if pred_box is None:
        return ref_box
    return tuple(slice(min(a.start, b.start), max(a.stop, b.stop)) for a, b in zip(ref_box, pred_box))


def _label_boxes(reference: np.ndarray, prediction: np.ndarray) -> list[list[tuple[slice, ...] | None]]:
    """Bounding boxes of labels 1-15 in both maps (one find_objects pass each), checking the values."""
    boxes = []
    for name, labels in (("reference", reference), ("prediction", prediction)):
        if labels.dtype.kind not in "iub":
            raise ValueError(f"{name} label map must have an integer dtype, got {labels.dtype}")
        # find_objects returns one entry per label up to the maximum, so its length is the range check.
        found = ndimage.find_objects(labels.astype(np.uint8, copy=False) if labels.dtype.kind == "b" else labels)
        if len(found) >= NUM_CLASSES:
            raise ValueError(f"{name} label map has label {len(found)}; AMOS labels are 0-{NUM_CLASSES - 1}")
        if labels.dtype.kind == "i" and labels.min() < 0:
            raise ValueError(f"{name} label map has negative label {labels.min()}; AMOS labels are 0-{NUM_CLASSES - 1}")
        boxes.append(found + [None] * (NUM_CLASSES - len(found)))
    return boxes


def _check_spacing(spacing: Sequence[float] | float, ndim: int) -> tuple[float, ...]:
    values = (float(spacing),) * ndim if np.ndim(spacing) == 0 else tuple(float(s) for s in spacing)  # type: ignore
    if len(values) != ndim or not all(np.isfinite(values)) or min(values) <= 0:
        raise ValueError(f"spacing must be {ndim} finite values > 0 (mm per axis), got {spacing!r}")
    return values


def score_case(
    reference: np.ndarray,
    prediction: np.ndarray,
    spacing: Sequence[float] | float,
    tolerance_mm: Tolerance = None,
    absent: str = "nan",
    organ_ids: Sequence[int] = ORGAN_IDS,
    method: str = "auto",
    metrics: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Every registered metric (DSC, NSD, HD95, ...) and the volumes of every organ of one case.

    Introduced in chapter *Evaluating segmentations*. Builds on scipy and pandas. Both label maps are
    scanned once by :func:`scipy.ndimage.find_objects` for the bounding boxes of all labels; each organ is
    then scored on the box of reference ∪ prediction only, which gives the same values as scoring the
    whole volume.

    Args:
        reference: Integer label map (2-D or 3-D) with values 0-15.
        prediction: Integer label map of the same shape.
        spacing: Voxel size in mm per axis, e.g. ``spacing_from_affine(affine)``.
        tolerance_mm: NSD tolerance (see :func:`~amos_tutorial.evaluation.metrics.resolve_tolerances`;
            default 1 mm for every organ).
        absent: Absent-organ convention, ``"nan"`` (nnU-Net) or ``"score"``; a metric's own rule decides
            an organ absent from one map only (:class:`~amos_tutorial.evaluation.metric_table.Metric`).
        organ_ids: Organs to score (default all 15).
        method: NSD search strategy (see :func:`~amos_tutorial.evaluation.metrics.normalized_surface_dice`).
        metrics: Metric names to compute (default: every registered metric).

    Returns:
        One row per organ with the columns :func:`metric_columns`; ``df.attrs`` records ``absent`` and the
        ``conventions`` sentence.

    Raises:
        ValueError: If shapes differ, the maps are not integer-valued, a label is outside 0-15, or a metric
            is unknown.

    Examples:
        >>> ref = np.zeros((20, 20, 10), np.uint8); ref[5:12, 5:12, 2:6] = 6
        >>> pred = np.roll(ref, 1, axis=0)
        >>> df = score_case(ref, pred, spacing=(1.0, 1.0, 2.0), organ_ids=(6,))
        >>> df[["organ", "dsc", "hd95"]].round(3).values.tolist()
        [['liver', 0.857, 1.0]]
    """
    if absent not in ABSENT_CONVENTIONS:
        raise ValueError(f"absent must be one of {', '.join(map(repr, ABSENT_CONVENTIONS))}, got {absent!r}")
    if method not in ("auto", "lookup", "edt"):
        raise ValueError(f"method must be 'auto', 'lookup' or 'edt', got {method!r}")
    chosen = [get_metric(name) for name in (metric_names() if metrics is None else metrics)]
    reference, prediction = np.asarray(reference), np.asarray(prediction)
    if reference.shape != prediction.shape:
        raise ValueError(f"reference and prediction shapes differ: {reference.shape} vs {prediction.shape}")
    if reference.ndim not in (2, 3):
        raise ValueError(f"label maps must be 2-D or 3-D, got shape {reference.shape}")
    spacing = _check_spacing(spacing, reference.ndim)
    tolerances = resolve_tolerances(tolerance_mm, organ_ids)
    boxes = _label_boxes(reference, prediction)
    voxel_ml = float(np.prod(spacing)) / 1000.0
    rows = []
    for organ_id, tol in tolerances.items():
        box = _union_box(boxes[0][organ_id - 1], boxes[1][organ_id - 1])
        if box is None:
            ref = pred = np.zeros((1,) * reference.ndim, dtype=bool)
        else:
            ref, pred = reference[box] == organ_id, prediction[box] == organ_id
        scores = [m.score(ref, pred, spacing, absent, tolerance_mm=tol, method=method) for m in chosen]
        volumes = (np.count_nonzero(ref) * voxel_ml, np.count_nonzero(pred) * voxel_ml)
        rows.append((organ_id, label_by_id(organ_id).name, *scores, *volumes, tol))
    df = pd.DataFrame(rows, columns=list(metric_columns([m.name for m in chosen])))
    df.attrs.update(absent=absent, conventions=scoring_conventions(tolerance_mm, absent, [m.name for m in chosen]))
    return df
