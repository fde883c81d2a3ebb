"""Figures of the chapter *Evaluating segmentations*: how DSC and NSD react, per-organ scores, worst cases.

Introduced in chapter *Evaluating segmentations*; builds on :mod:`amos_tutorial.evaluation` (the metrics),
matplotlib, seaborn and the slice views of :mod:`amos_tutorial.viz.slices`.

Three groups of helpers, each returning plain data or a :class:`matplotlib.figure.Figure` made outside
pyplot (so a notebook shows it once, as the last expression of a cell):

* **small 2-D demonstrations**: :func:`metric_demo_cases` (a shifted organ, a thin organ, a noisy
  boundary, a far-away false positive), :func:`plot_metric_demos`, :func:`metric_response` /
  :func:`plot_metric_response` (scores against the shift in mm for several tolerances) and
  :func:`anisotropy_table` (the same one-voxel shift along a 0.7 mm and a 5 mm axis);
* **a yardstick**: :func:`perturb_labels` / :func:`simulate_predictions` write *simulated* predictions,
  reference label maps with known errors (shifted, eroded, dilated or missing organs). They are not a model:
  they show what the evaluation reports for errors of a known kind and size;
* **results of several models**: :func:`stack_results` (one table with a ``model`` column),
  :func:`plot_organ_scores` (per-organ box plots per model), :func:`plot_modality_scores` (CT vs MRI),
  :func:`case_scores`, :func:`worst_cases` and :func:`show_worst_cases` (prediction vs reference overlays).

Examples:
    >>> from amos_tutorial.viz.evaluation import metric_demo_cases, plot_metric_demos
    >>> fig = plot_metric_demos(metric_demo_cases())  # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from amos_tutorial.labels import LABELS, NUM_CLASSES

__all__ = [
    "ERROR_COLORS",
    "MetricDemo",
    "anisotropy_table",
    "case_scores",
    "island_pair",
    "metric_demo_cases",
    "metric_response",
    "noisy_boundary_pair",
    "perturb_labels",
    "plot_metric_demos",
    "plot_metric_response",
    "plot_modality_scores",
    "plot_organ_scores",
    "score_demo_cases",
    "show_prediction",
    "show_worst_cases",
    "simulate_predictions",
    "stack_results",
    "thin_organ_pair",
    "worst_cases",
]

ERROR_COLORS: dict[str, str] = {"missed": "#e41a1c", "extra": "#377eb8", "wrong organ": "#ff7f00"}
"""Colours of the error overlay: reference organ predicted as background (missed), background predicted as an
organ (extra), one organ predicted as another (wrong organ)."""

# Colours of the 2-D demonstrations: overlap, reference only, prediction only.
_DEMO_COLORS = {"both": "#7b68ae", "reference only": "#8fc1e3", "prediction only": "#f4a582"}


# --- small 2-D demonstrations ---------------------------------------------------------------------


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


def _figure(figsize: tuple[float, float]):
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, dpi=110, layout="constrained")


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
    fig = _figure((3.3 * ncols, 3.4 * nrows + 0.3))
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
        >>> fig = plot_metric_response(metric_response(shifts_px=(0, 2), tolerances=(1.0,)))
        >>> len(fig.axes)
        2
    """
    import seaborn as sns

    _require(table, ["organ", "shift_mm", "metric", "value"], "metric response table")
    organs = list(dict.fromkeys(table["organ"]))
    metrics = list(dict.fromkeys(table["metric"]))
    colors = dict(zip(metrics, ["0.15", *sns.color_palette("crest", max(len(metrics) - 1, 1)).as_hex()]))
    dashes = {m: "" if m == "DSC" else (4, 1.5) for m in metrics}
    fig = _figure((4.2 * len(organs), 3.4))
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


# --- simulated predictions: a yardstick with known errors ------------------------------------------


def _shifted(mask: np.ndarray, offset: Sequence[int]) -> np.ndarray:
    """Shift a boolean array by integer voxels, filling with False (no wrap-around)."""
    out = np.zeros_like(mask)
    src, dst = [], []
    for n, d in zip(mask.shape, offset):
        d = int(d)
        if abs(d) >= n:
            return out
        src.append(slice(max(0, -d), n - max(0, d)))
        dst.append(slice(max(0, d), n - max(0, -d)))
    out[tuple(dst)] = mask[tuple(src)]
    return out


def perturb_labels(
    label: np.ndarray,
    seed: int = 0,
    max_shift: Sequence[int] = (1, 1, 1),
    p_missing: float = 0.05,
    p_resize: float = 0.3,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Make a *simulated* prediction from a reference label map by damaging each organ in a known way.

    Introduced in chapter *Evaluating segmentations*. Builds on numpy and :mod:`scipy.ndimage`
    (``find_objects``, ``binary_erosion``, ``binary_dilation``). Each organ present is, independently:
    dropped with probability ``p_missing`` (a missed organ); otherwise shifted by a random whole number of
    voxels (up to ``max_shift`` per axis), then eroded or dilated by one voxel with probability
    ``p_resize``. Organs are painted largest first, so small organs are not covered by large ones.

    Args:
        label: 3-D (or 2-D) integer label map with values 0-15.
        seed: Seed: the same seed gives the same damage.
        max_shift: Largest shift in voxels along each axis.
        p_missing: Probability that an organ is left out.
        p_resize: Probability that an organ is eroded or dilated (half each).

    Returns:
        ``(prediction, log)``: a uint8 label map of the same shape, and one row per organ present with
        ``organ_id, organ, missing, shift, resize`` (``shift`` None and ``resize`` ``"-"`` for a missing organ).

    Raises:
        ValueError: For label values outside 0-15, a ``max_shift`` of the wrong length or negative values,
            or probabilities outside [0, 1].

    Examples:
        >>> ref = np.zeros((20, 20, 8), np.uint8); ref[5:15, 5:15, 2:6] = 6
        >>> pred, log = perturb_labels(ref, seed=1, p_missing=0.0)
        >>> pred.shape, log.organ.tolist()
        ((20, 20, 8), ['liver'])
    """
    from scipy import ndimage

    label = np.asarray(label)
    if label.dtype.kind not in "iub":
        raise ValueError(f"label map must have an integer dtype, got {label.dtype}")
    if label.size and (label.min() < 0 or label.max() >= NUM_CLASSES):
        raise ValueError(f"label values must lie in 0-{NUM_CLASSES - 1}, found {label.min()}..{label.max()}")
    max_shift = tuple(int(s) for s in max_shift)
    if len(max_shift) != label.ndim or min(max_shift) < 0:
        raise ValueError(f"max_shift must have {label.ndim} values >= 0, got {max_shift}")
    for name, p in (("p_missing", p_missing), ("p_resize", p_resize)):
        if not 0.0 <= float(p) <= 1.0:
            raise ValueError(f"{name} must lie in [0, 1], got {p}")
    rng = np.random.default_rng(seed)
    labels = label.astype(np.uint8, copy=False)
    boxes = ndimage.find_objects(labels)
    present = [(i + 1, box) for i, box in enumerate(boxes) if box is not None]
    sizes = {organ: int(np.count_nonzero(labels[box] == organ)) for organ, box in present}
    out = np.zeros(labels.shape, dtype=np.uint8)
    log = []
    for organ, box in sorted(present, key=lambda item: -sizes[item[0]]):
        # Draw every random number for every organ, so one organ's fate does not change the others'.
        missing = bool(rng.random() < p_missing)
        shift = tuple(int(rng.integers(-m, m + 1)) for m in max_shift)
        resize_draw, grow = rng.random(), rng.random() < 0.5
        resize = "none" if resize_draw >= p_resize else ("dilated 1 voxel" if grow else "eroded 1 voxel")
        if missing:
            log.append((organ, LABELS[organ].name, True, None, "-"))
            continue
        log.append((organ, LABELS[organ].name, False, shift, resize))
        # Work on the organ's box, grown by the shift and one voxel of dilation.
        pad = [m + 1 for m in max_shift]
        region = tuple(slice(max(0, b.start - p), min(n, b.stop + p)) for b, p, n in zip(box, pad, labels.shape))
        mask = labels[region] == organ
        if resize.startswith("dilated"):
            mask = ndimage.binary_dilation(mask)
        elif resize.startswith("eroded"):
            eroded = ndimage.binary_erosion(mask)
            mask = eroded if eroded.any() else mask  # a one-voxel-thin organ would vanish: keep it
        mask = _shifted(mask, shift)
        out[region][mask] = organ
    table = pd.DataFrame(log, columns=["organ_id", "organ", "missing", "shift", "resize"])
    return out, table.sort_values("organ_id", ignore_index=True)


def simulate_predictions(
    labels_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    seed: int = 0,
    cases: Sequence[str] | None = None,
    **kwargs: Any,
) -> pd.DataFrame:
    """Write a *simulated* prediction (:func:`perturb_labels`) for every reference label map of a folder.

    Introduced in chapter *Evaluating segmentations*. Builds on
    :func:`amos_tutorial.evaluation.list_cases`, :func:`~amos_tutorial.evaluation.read_label_map` and
    :func:`amos_tutorial.utils.io.save_nifti` (atomic writes, the reference's affine). The files look
    exactly like a model's predictions, so ``evaluate_folder`` and ``amos submit`` accept them.

    Args:
        labels_dir: Folder of reference label maps ``amos_XXXX.nii.gz``.
        out_dir: Where the simulated predictions go (created).
        seed: Base seed; case ``amos_XXXX`` uses ``seed + XXXX``, so a case's damage does not depend on
            which other cases are simulated.
        cases: Case ids to simulate (default: all).
        **kwargs: Passed to :func:`perturb_labels` (``max_shift``, ``p_missing``, ``p_resize``).

    Returns:
        The damage log: one row per case and organ present (``case`` + the columns of :func:`perturb_labels`).

    Raises:
        FileNotFoundError: If ``labels_dir`` does not exist.
        ValueError: If it holds no label map, a requested case is missing, or a file is not a valid label
            map (one line naming the file).

    Examples:
        >>> log = simulate_predictions("amos22/labelsVa", "runs/simulated/pred")  # doctest: +SKIP
    """
    from amos_tutorial.data.layout import case_id as to_case_id
    from amos_tutorial.evaluation.evaluate import list_cases, read_label_map
    from amos_tutorial.utils.io import save_nifti

    found, _ = list_cases(labels_dir)
    if not found:
        raise ValueError(f"{labels_dir}: no reference label maps amos_XXXX.nii.gz in this folder")
    if cases is not None:
        wanted = [to_case_id(c) for c in cases]
        missing = [c for c in wanted if c not in found]
        if missing:
            raise ValueError(f"{labels_dir}: no label map for {', '.join(missing)}")
        found = {c: found[c] for c in wanted}
    out_dir = Path(out_dir)
    logs = []
    for cid, path in found.items():
        reference, affine = read_label_map(path)
        number = int(cid.split("_")[-1])
        try:
            prediction, log = perturb_labels(reference, seed=seed + number, **kwargs)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from exc
        save_nifti(prediction, affine, out_dir / f"{cid}.nii.gz", dtype=np.uint8)
        log.insert(0, "case", cid)
        logs.append(log)
    return pd.concat(logs, ignore_index=True)


# --- results of several models --------------------------------------------------------------------


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{what} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} lacks the columns {missing}")
    if frame.empty:
        raise ValueError(f"{what} is empty: nothing to show")


def stack_results(results: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Put the tables of several models (``evaluate_folder`` output) into one, with a ``model`` column.

    Introduced in chapter *Evaluating segmentations*. Builds on pandas.

    Args:
        results: Model name -> the table of :func:`amos_tutorial.evaluation.evaluate_folder`, in the order
            figures should show the models.

    Returns:
        One table; ``model`` is an ordered categorical column (first column). ``df.attrs["conventions"]``
        is kept when every table states the same conventions.

    Raises:
        ValueError: If ``results`` is empty, a table lacks the evaluation columns, or the tables were
            scored with different conventions (their scores would not be comparable).

    Examples:
        >>> both = stack_results({"unet": df_unet, "nnunet": df_nnunet})  # doctest: +SKIP
    """
    if not results:
        raise ValueError("results is empty: pass {model name: evaluate_folder(...) table}")
    conventions = set()
    frames = []
    for model, df in results.items():
        _require(df, ["case", "organ_id", "organ", "modality", "dsc", "nsd"], f"results of {model!r}")
        conventions.add(df.attrs.get("conventions", ""))
        frames.append(df.assign(model=str(model)))
    if len(conventions) > 1:
        raise ValueError(f"the tables were scored with different conventions, not comparable: {sorted(conventions)}")
    out = pd.concat(frames, ignore_index=True)
    out["model"] = pd.Categorical(out["model"], categories=[str(m) for m in results], ordered=True)
    out = out[["model", *[c for c in out.columns if c != "model"]]]
    out.attrs["conventions"] = conventions.pop()
    return out


def _model_palette(models: Sequence[str]) -> dict[str, str]:
    import seaborn as sns

    return dict(zip(models, sns.color_palette("colorblind", len(models)).as_hex()))


def _models(df: pd.DataFrame) -> list[str]:
    column = df["model"]
    if isinstance(column.dtype, pd.CategoricalDtype):
        return [m for m in column.cat.categories if m in set(column)]
    return list(dict.fromkeys(column))


def plot_organ_scores(df: pd.DataFrame, metrics: Sequence[str] = ("dsc", "nsd")):
    """Per-organ box plots of DSC and NSD over cases, one box per model.

    Introduced in chapter *Evaluating segmentations*. Builds on seaborn (``boxplot`` + ``stripplot``).
    NaN scores (organ absent from reference and prediction under ``absent="nan"``) are left out.

    Args:
        df: Output of :func:`stack_results`.
        metrics: Score columns, one panel each.

    Returns:
        The Figure.

    Raises:
        ValueError: If the table lacks columns, is empty, or has no score at all.

    Examples:
        >>> fig = plot_organ_scores(stack_results({"unet": df}))  # doctest: +SKIP
    """
    import seaborn as sns

    from amos_tutorial.viz.plots import _organ_ticklabels

    metrics = list(metrics)
    _require(df, ["model", "organ", *metrics], "results table")
    data = df.assign(organ=df["organ"].astype(str), model=df["model"].astype(str))
    models = _models(df)
    order = [lab.name for lab in LABELS[1:] if lab.name in set(data["organ"])]
    palette = _model_palette(models)
    fig = _figure((3.5 * len(metrics) + 2.0, 0.3 * len(order) * max(1, len(models) / 2) + 1.4))
    axes = np.atleast_1d(fig.subplots(1, len(metrics), sharey=True))
    for i, (ax, metric) in enumerate(zip(axes, metrics)):
        part = data.dropna(subset=[metric])
        if part.empty:
            raise ValueError(f"results table has no {metric} score (all NaN)")
        common = {"data": part, "y": "organ", "x": metric, "hue": "model", "order": order, "hue_order": models}
        sns.boxplot(**common, palette=palette, fliersize=0, linewidth=0.8, ax=ax, legend=i == len(metrics) - 1)
        sns.stripplot(**common, palette=palette, dodge=True, size=2.5, alpha=0.7, legend=False, ax=ax)
        ax.set(xlabel=metric.upper(), ylabel="", xlim=(-0.03, 1.03))
    _organ_ticklabels(axes[0].get_yticklabels())
    sns.move_legend(axes[-1], "upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, title="model")
    return fig


def case_scores(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, case): mean DSC and NSD over organs (NaN skipped) and the worst organ.

    Introduced in chapter *Evaluating segmentations*. Builds on pandas.

    Args:
        df: Output of :func:`stack_results` (or one ``evaluate_folder`` table, then ``model`` is ``""``).

    Returns:
        Columns ``model, case, modality, dsc, nsd, worst_organ, worst_organ_id, worst_dsc``; the worst
        organ is the one with the lowest DSC among the organs present in the reference (ties: the larger
        reference volume first).

    Raises:
        ValueError: If the table lacks columns or is empty.

    Examples:
        >>> case_scores(stacked).sort_values("dsc").head(3)  # doctest: +SKIP
    """
    _require(df, ["case", "organ_id", "organ", "modality", "dsc", "nsd"], "results table")
    data = df if "model" in df.columns else df.assign(model="")
    rows = []
    for (model, case), part in data.groupby(["model", "case"], observed=True, sort=False):
        present = part[part["ref_ml"] > 0] if "ref_ml" in part.columns else part
        present = present.dropna(subset=["dsc"])
        if "ref_ml" in present.columns:
            present = present.sort_values(["dsc", "ref_ml"], ascending=[True, False], kind="stable")
        else:
            present = present.sort_values("dsc", kind="stable")
        worst = present.iloc[0] if not present.empty else None
        rows.append(
            {
                "model": model,
                "case": case,
                "modality": part["modality"].iloc[0],
                "dsc": part["dsc"].mean(),
                "nsd": part["nsd"].mean(),
                "worst_organ": "" if worst is None else str(worst["organ"]),
                "worst_organ_id": 0 if worst is None else int(worst["organ_id"]),
                "worst_dsc": math.nan if worst is None else float(worst["dsc"]),
            }
        )
    out = pd.DataFrame(rows)
    if isinstance(data["model"].dtype, pd.CategoricalDtype):
        out["model"] = pd.Categorical(out["model"], categories=data["model"].cat.categories, ordered=True)
    return out


def worst_cases(df: pd.DataFrame, n: int = 1, metric: str = "dsc", per_model: bool = True) -> pd.DataFrame:
    """The cases with the lowest mean score, per model (or overall).

    Introduced in chapter *Evaluating segmentations*. Builds on :func:`case_scores`. Ties are broken by the
    other metric, then by case id, so the choice is reproducible.

    Args:
        df: Output of :func:`stack_results`.
        n: Cases per model (or in total, with ``per_model=False``).
        metric: ``"dsc"`` or ``"nsd"``.
        per_model: Pick the worst ``n`` of each model; otherwise the worst ``n`` (model, case) pairs.

    Returns:
        Rows of :func:`case_scores`, worst first (grouped by model when ``per_model``).

    Raises:
        ValueError: For an unknown metric or ``n`` < 1.

    Examples:
        >>> worst_cases(stacked, n=1)[["model", "case", "dsc", "worst_organ"]]  # doctest: +SKIP
    """
    if metric not in ("dsc", "nsd"):
        raise ValueError(f"metric must be 'dsc' or 'nsd', got {metric!r}")
    if int(n) < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    other = "nsd" if metric == "dsc" else "dsc"
    scores = case_scores(df).sort_values([metric, other, "case"], kind="stable", na_position="first")
    if per_model:
        scores = (
            scores.groupby("model", observed=True, sort=True)
            .head(int(n))
            .sort_values(["model", metric, other, "case"], kind="stable")
        )
    else:
        scores = scores.head(int(n))
    return scores.reset_index(drop=True)


def plot_modality_scores(df: pd.DataFrame):
    """CT vs MRI: the mean DSC and NSD of each case (over organs), per model and modality.

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

    from amos_tutorial.viz.plots import MODALITY_COLORS

    _require(df, ["model", "case", "organ_id", "organ", "modality", "dsc", "nsd"], "results table")
    scores = case_scores(df)
    scores["model"] = scores["model"].astype(str)
    models = _models(df)
    modalities = [m for m in ("CT", "MRI") if m in set(scores["modality"])] + sorted(
        set(scores["modality"]) - {"CT", "MRI"}
    )
    palette = {m: MODALITY_COLORS.get(m, "0.4") for m in modalities}
    several = len(modalities) > 1  # one modality (a CT-only copy): nothing to dodge, and seaborn cannot
    fig = _figure((2.6 + 1.0 * len(models) * 2, 3.4))
    axes = fig.subplots(1, 2, sharey=True)
    for i, (ax, metric) in enumerate(zip(axes, ("dsc", "nsd"))):
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
            legend=i == 1,
        )
        ax.set(title=metric.upper(), xlabel="", ylabel="mean over the organs of a case", ylim=(-0.03, 1.03))
        ax.tick_params(axis="x", labelrotation=15)
    if axes[1].get_legend() is not None:
        sns.move_legend(axes[1], "upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, title="mean of")
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
    new_figure = axes is None
    if axes is None:
        fig = _figure((10.5, 4.3))
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
    if title is not None and new_figure:
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

    _require(worst, ["model", "case", "modality", "dsc", "nsd", "worst_organ_id"], "worst-case table")
    unknown = sorted({str(m) for m in worst["model"]} - {str(m) for m in pred_dirs})
    if unknown:
        raise ValueError(f"no prediction folder for model(s) {unknown}; pred_dirs has {sorted(map(str, pred_dirs))}")
    fig = _figure((8.0, 3.0 * len(worst) + 0.9))
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
