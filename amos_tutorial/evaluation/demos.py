"""Small 2-D demonstrations of how DSC and NSD react: a shifted, a thin, a noisy and a far-away organ.

Introduced in chapter *Evaluating segmentations*; builds on :mod:`amos_tutorial.evaluation.metrics`.
The figures that show these tables live in :mod:`amos_tutorial.viz.evaluation`.

Examples:
    >>> from amos_tutorial.evaluation.demos import metric_demo_cases, score_demo_cases
    >>> table = score_demo_cases(metric_demo_cases())
    >>> len(table) == len(metric_demo_cases())
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "MetricDemo",
    "anisotropy_table",
    "island_pair",
    "metric_demo_cases",
    "metric_response",
    "noisy_boundary_pair",
    "score_demo_cases",
    "thin_organ_pair",
]


@dataclass(frozen=True)
class MetricDemo:
    """One 2-D demonstration: a reference mask, a prediction mask and what they show.

    Introduced in chapter *Evaluating segmentations*.

    Attributes:
        name: Short title (``"large organ, shifted 2 px"``).
        reference: Boolean reference mask.
        prediction: Boolean predicted mask of the same shape.
        lesson: One sentence on what the case shows.
    """

    name: str
    reference: np.ndarray
    prediction: np.ndarray
    lesson: str


def _check_shape2d(shape: Sequence[int]) -> tuple[int, int]:
    shape = tuple(int(s) for s in shape)
    if len(shape) != 2 or min(shape) < 4:
        raise ValueError(f"shape must be two ints >= 4, got {shape}")
    return shape  # type: ignore[return-value]


def thin_organ_pair(
    shape: Sequence[int] = (48, 48), width: int = 3, length: int = 30, shift: Sequence[int] = (0, 1)
) -> tuple[np.ndarray, np.ndarray]:
    """A thin vertical band (an esophagus or adrenal gland in cross-section) and a shifted copy.

    Introduced in chapter *Evaluating segmentations*. Plain numpy.

    Args:
        shape: Array shape (2-D).
        width: Band width in pixels (along axis 1).
        length: Band length in pixels (along axis 0).
        shift: Shift of the prediction in pixels per axis.

    Returns:
        ``(reference, prediction)`` boolean arrays.

    Raises:
        ValueError: If the band or its shifted copy does not fit in the array.

    Examples:
        >>> ref, pred = thin_organ_pair(width=3, shift=(0, 1))
        >>> int(ref.sum()), int((ref & pred).sum())
        (90, 60)
    """
    rows, cols = _check_shape2d(shape)
    width, length = int(width), int(length)
    if width < 1 or length < 1:
        raise ValueError(f"width and length must be >= 1, got {width}, {length}")
    if len(shift) != 2:
        raise ValueError(f"shift must have 2 values, got {tuple(shift)}")
    r0, c0 = (rows - length) // 2, (cols - width) // 2
    dr, dc = (int(s) for s in shift)
    for start, size, step, total, axis in ((r0, length, dr, rows, 0), (c0, width, dc, cols, 1)):
        if start < 0 or start + step < 0 or start + size + max(step, 0) > total:
            raise ValueError(f"the band and its shift do not fit along axis {axis} of shape {(rows, cols)}")
    ref = np.zeros((rows, cols), dtype=bool)
    pred = np.zeros((rows, cols), dtype=bool)
    ref[r0 : r0 + length, c0 : c0 + width] = True
    pred[r0 + dr : r0 + dr + length, c0 + dc : c0 + dc + width] = True
    return ref, pred


def noisy_boundary_pair(
    shape: Sequence[int] = (48, 48), radius: float = 12.0, amplitude: float = 2.0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A disk and the same disk with a wavy, noisy boundary (same place, same size on average).

    Introduced in chapter *Evaluating segmentations*. The prediction's radius varies with the angle by a
    sum of a few random sine waves scaled to ``amplitude`` pixels at most.

    Args:
        shape: Array shape (2-D).
        radius: Disk radius in pixels.
        amplitude: Largest deviation of the predicted boundary, in pixels.
        seed: Seed of the random waves.

    Returns:
        ``(reference, prediction)`` boolean arrays.

    Raises:
        ValueError: For a negative amplitude or a disk that does not fit.

    Examples:
        >>> ref, pred = noisy_boundary_pair(amplitude=0.0)
        >>> bool((ref == pred).all())
        True
    """
    rows, cols = _check_shape2d(shape)
    if not amplitude >= 0:
        raise ValueError(f"amplitude must be >= 0, got {amplitude}")
    if radius <= 0 or radius + amplitude > min(rows, cols) / 2:
        raise ValueError(f"radius + amplitude ({radius} + {amplitude}) must fit in half of {min(rows, cols)}")
    rng = np.random.default_rng(seed)
    yy, xx = np.indices((rows, cols), dtype=float)
    dy, dx = yy - (rows - 1) / 2, xx - (cols - 1) / 2
    dist, angle = np.hypot(dy, dx), np.arctan2(dy, dx)
    waves = np.zeros_like(angle)
    for freq in (3, 5, 8, 13):
        waves += rng.uniform(0.5, 1.0) * np.sin(freq * angle + rng.uniform(0, 2 * np.pi))
    peak = float(np.abs(waves).max()) or 1.0
    return dist <= radius, dist <= radius + amplitude * waves / peak


def island_pair(
    shape: Sequence[int] = (48, 48), radius: float = 12.0, island_radius: float = 2.0
) -> tuple[np.ndarray, np.ndarray]:
    """A disk segmented perfectly, plus a small false-positive island in a far corner.

    Introduced in chapter *Evaluating segmentations*. Builds on
    :func:`amos_tutorial.evaluation.metrics.disk_mask`.

    Args:
        shape: Array shape (2-D).
        radius: Radius of the organ in pixels.
        island_radius: Radius of the false positive in pixels.

    Returns:
        ``(reference, prediction)`` boolean arrays.

    Raises:
        ValueError: If the island would touch the organ.

    Examples:
        >>> ref, pred = island_pair()
        >>> int((pred & ~ref).sum()) > 0 and bool((ref <= pred).all())
        True
    """
    from amos_tutorial.evaluation.metrics import disk_mask

    rows, cols = _check_shape2d(shape)
    ref = disk_mask((rows, cols), radius=radius)
    corner = (island_radius + 1, island_radius + 1)
    island = disk_mask((rows, cols), center=corner, radius=island_radius)
    if (island & ref).any():
        raise ValueError("the island overlaps the organ: use a larger shape or smaller radii")
    return ref, ref | island


def metric_demo_cases(shape: Sequence[int] = (48, 48), seed: int = 0) -> list[MetricDemo]:
    """The chapter's four 2-D demonstrations of what DSC and NSD reward.

    Introduced in chapter *Evaluating segmentations*. Builds on
    :func:`amos_tutorial.evaluation.metrics.demo_mask_pair`, :func:`thin_organ_pair`,
    :func:`noisy_boundary_pair` and :func:`island_pair`.

    Args:
        shape: Array shape of every case.
        seed: Seed of the noisy boundary.

    Returns:
        Four :class:`MetricDemo`: a large organ shifted by 2 pixels, a thin organ shifted by 1 pixel, a
        noisy boundary, a small false positive far away.

    Examples:
        >>> [case.name for case in metric_demo_cases()][:2]
        ['large organ, shifted 2 px', 'thin organ, shifted 1 px']
    """
    from amos_tutorial.evaluation.metrics import demo_mask_pair

    return [
        MetricDemo(
            "large organ, shifted 2 px",
            *demo_mask_pair(shift=(0, 2), shape=shape),
            "DSC stays high (most voxels still overlap); NSD at 1 mm drops (half the boundary is 2 mm off)",
        ),
        MetricDemo(
            "thin organ, shifted 1 px",
            *thin_organ_pair(shape, width=3, shift=(0, 1)),
            "DSC collapses for thin organs; NSD forgives a shift within the tolerance",
        ),
        MetricDemo(
            "noisy boundary",
            *noisy_boundary_pair(shape, amplitude=4.0, seed=seed),
            "the volume is about right, so DSC stays near 0.9; a quarter of the boundary is over 1 mm off",
        ),
        MetricDemo(
            "small false positive far away",
            *island_pair(shape),
            "a few stray voxels barely move DSC; their boundary counts fully in NSD",
        ),
    ]


def score_demo_cases(
    cases: Sequence[MetricDemo], spacing: float | Sequence[float] = 1.0, tolerances: Sequence[float] = (1.0, 2.0)
) -> pd.DataFrame:
    """DSC and NSD at several tolerances for each demonstration.

    Introduced in chapter *Evaluating segmentations*. Builds on
    :func:`amos_tutorial.evaluation.metrics.dice` and :func:`~amos_tutorial.evaluation.metrics.normalized_surface_dice`.

    Args:
        cases: From :func:`metric_demo_cases`.
        spacing: Pixel size in mm (one number or one per axis).
        tolerances: NSD tolerances in mm.

    Returns:
        One row per case: ``case``, ``dsc``, one ``nsd_<t>mm`` column per tolerance, ``lesson``.

    Raises:
        ValueError: If ``cases`` or ``tolerances`` is empty.

    Examples:
        >>> score_demo_cases(metric_demo_cases()[:1]).round(3)[["dsc", "nsd_1mm", "nsd_2mm"]].values.tolist()
        [[0.893, 0.554, 1.0]]
    """
    from amos_tutorial.evaluation.metrics import dice, normalized_surface_dice

    cases = list(cases)
    if not cases:
        raise ValueError("cases is empty: pass metric_demo_cases()")
    if not list(tolerances):
        raise ValueError("tolerances is empty: pass at least one tolerance in mm")
    rows = []
    for case in cases:
        row: dict[str, Any] = {"case": case.name, "dsc": dice(case.reference, case.prediction)}
        for tol in tolerances:
            row[f"nsd_{tol:g}mm"] = normalized_surface_dice(case.reference, case.prediction, spacing, tol)
        row["lesson"] = case.lesson
        rows.append(row)
    return pd.DataFrame(rows)


def metric_response(
    shifts_px: Sequence[int] = (0, 1, 2, 3, 4, 6),
    tolerances: Sequence[float] = (1.0, 2.0, 4.0),
    spacing: float = 1.0,
    shape: Sequence[int] = (64, 64),
) -> pd.DataFrame:
    """DSC and NSD of a large and a thin organ as the prediction slides sideways.

    Introduced in chapter *Evaluating segmentations*. Builds on the metrics of
    :mod:`amos_tutorial.evaluation.metrics`, :func:`thin_organ_pair` and ``demo_mask_pair``.

    Args:
        shifts_px: Shifts in pixels (along axis 1).
        tolerances: NSD tolerances in mm.
        spacing: Pixel size in mm (the same along both axes).
        shape: Array shape; must hold the largest shift.

    Returns:
        A tidy table: ``organ`` (``"large (radius 12 px)"`` / ``"thin (3 px wide)"``), ``shift_mm``,
        ``metric`` (``"DSC"`` or ``"NSD @ t mm"``), ``value``.

    Raises:
        ValueError: For a negative shift, an empty tolerance list or a bad spacing.

    Examples:
        >>> t = metric_response(shifts_px=(0, 1), tolerances=(1.0,))
        >>> t[(t.shift_mm == 1) & (t.metric == "DSC")].value.round(2).tolist()
        [0.95, 0.67]
    """
    from amos_tutorial.evaluation.metrics import demo_mask_pair, dice, normalized_surface_dice

    if any(int(s) < 0 for s in shifts_px):
        raise ValueError(f"shifts_px must be >= 0, got {tuple(shifts_px)}")
    if not list(tolerances):
        raise ValueError("tolerances is empty: pass at least one tolerance in mm")
    if not (isinstance(spacing, (int, float)) and math.isfinite(spacing) and spacing > 0):
        raise ValueError(f"spacing must be one positive number of mm, got {spacing!r}")
    shape = _check_shape2d(shape)
    rows = []
    for shift in (int(s) for s in shifts_px):
        pairs = {
            "large (radius 12 px)": demo_mask_pair(shift=(0, shift), shape=shape, radius=12.0),
            "thin (3 px wide)": thin_organ_pair(shape, width=3, length=30, shift=(0, shift)),
        }
        for organ, (ref, pred) in pairs.items():
            rows.append((organ, shift * spacing, "DSC", dice(ref, pred)))
            for tol in tolerances:
                rows.append(
                    (organ, shift * spacing, f"NSD @ {tol:g} mm", normalized_surface_dice(ref, pred, spacing, tol))
                )
    return pd.DataFrame(rows, columns=["organ", "shift_mm", "metric", "value"])


def anisotropy_table(
    spacing: Sequence[float] = (0.7, 5.0), radius_mm: float = 20.0, tolerances: Sequence[float] = (1.0, 2.0, 5.0)
) -> pd.DataFrame:
    """A one-voxel shift along a fine and along a coarse axis: the same voxels, very different millimetres.

    Introduced in chapter *Evaluating segmentations*. A round organ of ``radius_mm`` is drawn on a 2-D grid
    with anisotropic ``spacing`` (like a coronal slice of an AMOS CT: 0.7 mm pixels, 5 mm slices) and
    shifted by one voxel along each axis. Builds on the metrics of :mod:`amos_tutorial.evaluation.metrics`.

    Args:
        spacing: Pixel size in mm along the two axes.
        radius_mm: Radius of the organ in mm.
        tolerances: NSD tolerances in mm.

    Returns:
        One row per shifted axis: ``shift`` (description), ``shift_mm``, ``dsc`` and ``nsd_<t>mm`` columns.

    Raises:
        ValueError: For a bad spacing or radius.

    Examples:
        >>> t = anisotropy_table(tolerances=(1.0,))
        >>> t.nsd_1mm.round(2).tolist()
        [1.0, 0.4]
    """
    from amos_tutorial.evaluation.metrics import dice, normalized_surface_dice

    spacing = tuple(float(s) for s in spacing)
    if len(spacing) != 2 or not all(math.isfinite(s) and s > 0 for s in spacing):
        raise ValueError(f"spacing must be two positive numbers of mm, got {spacing}")
    if not radius_mm > 0:
        raise ValueError(f"radius_mm must be > 0, got {radius_mm}")
    half = [math.ceil(radius_mm / s) + 3 for s in spacing]
    grid = np.indices([2 * h + 1 for h in half], dtype=float)
    mm = [(g - h) * s for g, h, s in zip(grid, half, spacing)]
    ref = mm[0] ** 2 + mm[1] ** 2 <= radius_mm**2
    rows = []
    for axis in range(2):
        pred = np.roll(ref, 1, axis=axis)  # the organ is far from the edges: nothing wraps around
        row: dict[str, Any] = {
            "shift": f"1 voxel along axis {axis} ({spacing[axis]:g} mm pixels)",
            "shift_mm": spacing[axis],
            "dsc": dice(ref, pred),
        }
        for tol in tolerances:
            row[f"nsd_{tol:g}mm"] = normalized_surface_dice(ref, pred, spacing, tol)
        rows.append(row)
    return pd.DataFrame(rows)
