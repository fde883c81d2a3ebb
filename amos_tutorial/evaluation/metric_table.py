"""The metrics of the package as data: one :class:`Metric` entry per score, in one table.

Introduced in chapter *Evaluating segmentations*. Plain Python over the score functions of
:mod:`.metrics` and :mod:`.hausdorff`. Every part of the package that shows or stores scores iterates over
this table instead of typing metric names: :func:`~amos_tutorial.evaluation.scoring.score_case` (one column per
metric), the summaries and the report of :mod:`.evaluate`, :mod:`.compare`, the columns of the benchmark's
``results.csv``, its leaderboard and the per-organ figures. Adding a metric is one function and one
:func:`register_metric` call; nothing else is edited.

The built-in entries:

========  =======================================  ==========  ==========  =============================
name      what                                     direction   both empty  one empty
========  =======================================  ==========  ==========  =============================
``dsc``   Dice similarity coefficient (AMOS)       higher      NaN or 1    0
``nsd``   normalized surface Dice at τ mm (AMOS)   higher      NaN or 1    0
``hd95``  95th-percentile Hausdorff distance, mm   lower       NaN or 0    NaN (undefined: no distance)
========  =======================================  ==========  ==========  =============================

"Both empty" follows the ``absent`` convention of :mod:`.metrics` (``"nan"`` or ``"score"``, the second
value); "one empty" is the metric's own rule, :attr:`Metric.one_absent`.

Examples:
    >>> [m.name for m in list_metrics()][:3]
    ['dsc', 'nsd', 'hd95']
    >>> get_metric("hd95").higher_is_better
    False
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from amos_tutorial.evaluation.hausdorff import hausdorff_distance_95
from amos_tutorial.evaluation.metrics import dice, normalized_surface_dice

__all__ = [
    "METRICS",
    "OPTIONS",
    "Metric",
    "challenge_metrics",
    "get_metric",
    "list_metrics",
    "metric_names",
    "register_metric",
    "unregister_metric",
]

#: Keywords a metric may take from the scoring call besides the masks and the spacing.
OPTIONS: tuple[str, ...] = ("tolerance_mm", "method")


@dataclass(frozen=True)
class Metric:
    """One score of a (reference, prediction) pair of binary masks, and how to show it.

    Introduced in chapter *Evaluating segmentations*.

    Attributes:
        name: Column name, lower case (``"dsc"``); per-organ benchmark columns are ``<name>_<organ>``.
        label: Name for people (``"DSC"``).
        compute: ``compute(reference, prediction, spacing, **options) -> float`` on two boolean masks of
            one organ, both non-empty (the empty cases follow ``perfect`` and ``one_absent``), cropped to
            the box of their union, ``spacing`` in mm per axis.
        higher_is_better: The direction: True for overlaps, False for distances.
        perfect: The score of an organ absent from both masks under ``absent="score"`` (1 for an overlap,
            0 mm for a distance).
        one_absent: The score of an organ absent from exactly one of the masks (0 for an overlap, NaN when
            the metric is undefined there).
        unit: ``""`` or a unit such as ``"mm"``.
        value_range: ``(low, high)`` of the values for figures, or None when unbounded.
        options: Keywords of ``compute`` taken from :data:`OPTIONS` (NSD: ``tolerance_mm`` and ``method``).
        challenge: True for the metrics the AMOS challenge ranks by (DSC and NSD).
        description: One line for reports and the extension guide.

    Examples:
        >>> get_metric("nsd").options
        ('tolerance_mm', 'method')
    """

    name: str
    label: str
    compute: Callable[..., float]
    higher_is_better: bool
    perfect: float
    one_absent: float
    unit: str = ""
    value_range: tuple[float, float] | None = (0.0, 1.0)
    options: tuple[str, ...] = ()
    challenge: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        if not (isinstance(self.name, str) and self.name.isidentifier() and self.name == self.name.lower()):
            raise ValueError(f"metric name must be a lower-case identifier such as 'hd95', got {self.name!r}")
        if not callable(self.compute):
            raise TypeError(f"metric {self.name!r}: compute must be callable, got {type(self.compute).__name__}")
        unknown = [o for o in self.options if o not in OPTIONS]
        if unknown:
            raise ValueError(f"metric {self.name!r}: unknown option(s) {unknown}; known: {list(OPTIONS)}")

    def score(self, reference: np.ndarray, prediction: np.ndarray, spacing, absent: str = "nan", **options) -> float:
        """The metric of two boolean masks, with the table's rules for empty masks.

        Args:
            reference: Boolean mask (any crop that holds both masks).
            prediction: Boolean mask of the same shape.
            spacing: Voxel size in mm per axis.
            absent: ``"nan"`` or ``"score"``: what an organ absent from both masks scores.
            **options: Values for :data:`OPTIONS`; those the metric does not take are ignored.

        Returns:
            A float (NaN where the rules say so).

        Examples:
            >>> ref = np.zeros((4, 4), bool); ref[:2] = True
            >>> get_metric("dsc").score(ref, ref, (1.0, 1.0))
            1.0
            >>> get_metric("hd95").score(ref, np.zeros_like(ref), (1.0, 1.0))
            nan
        """
        has_ref, has_pred = bool(reference.any()), bool(prediction.any())
        if not (has_ref or has_pred):
            return math.nan if absent == "nan" else float(self.perfect)
        if not (has_ref and has_pred):
            return float(self.one_absent)
        return float(self.compute(reference, prediction, spacing, **{k: options[k] for k in self.options}))

    def format(self, value: float) -> str:
        """``value`` as text with the metric's unit, 4 decimals (``"0.8123"``, ``"12.5000 mm"``)."""
        return f"{value:.4f}{' ' + self.unit if self.unit else ''}"


def _dsc(reference: np.ndarray, prediction: np.ndarray, spacing) -> float:
    return dice(reference, prediction)


METRICS: dict[str, Metric] = {}
"""The registered metrics by name, in registration order (the built-in ones first)."""


def register_metric(metric: Metric, *, replace: bool = False) -> Metric:
    """Add a metric to :data:`METRICS`: from then on it is scored, summarised, stored and drawn everywhere.

    Introduced in chapter *Evaluating segmentations*. Plain Python.

    Args:
        metric: The entry.
        replace: Allow replacing an entry of the same name.

    Returns:
        ``metric``.

    Raises:
        ValueError: If the name is taken (and ``replace`` is False).

    Examples:
        >>> toy = register_metric(Metric("toy", "Toy", lambda r, p, s: 1.0, True, 1.0, 0.0))
        >>> "toy" in metric_names()
        True
        >>> unregister_metric("toy").name
        'toy'
    """
    if not isinstance(metric, Metric):
        raise TypeError(f"register_metric takes a Metric, got {type(metric).__name__}")
    if metric.name in METRICS and not replace:
        raise ValueError(f"a metric named {metric.name!r} is registered already (pass replace=True)")
    METRICS[metric.name] = metric
    return metric


def unregister_metric(name: str) -> Metric:
    """Remove a metric from :data:`METRICS` and return it (tests and notebooks that add a metric for a while).

    Raises:
        KeyError: If no metric has that name.
    """
    if name not in METRICS:
        raise KeyError(f"no metric named {name!r}; registered: {', '.join(METRICS)}")
    return METRICS.pop(name)


def list_metrics() -> list[Metric]:
    """The registered metrics, in order (DSC, NSD, HD95, then any registered later)."""
    return list(METRICS.values())


def metric_names() -> tuple[str, ...]:
    """The column names of the registered metrics, in order."""
    return tuple(METRICS)


def challenge_metrics() -> tuple[str, ...]:
    """The names of the metrics the AMOS challenge ranks by (``("dsc", "nsd")``), in order."""
    return tuple(m.name for m in METRICS.values() if m.challenge)


def get_metric(name: str) -> Metric:
    """The entry of one metric.

    Raises:
        ValueError: ``"unknown metric 'x'; registered: dsc, nsd, hd95"``.
    """
    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r}; registered: {', '.join(METRICS)}")
    return METRICS[name]


register_metric(
    Metric(
        "dsc", "DSC", _dsc, higher_is_better=True, perfect=1.0, one_absent=0.0, challenge=True,
        description="Dice similarity coefficient 2|R∩P|/(|R|+|P|), the volume overlap (AMOS challenge)",
    )
)  # fmt: skip
register_metric(
    Metric(
        "nsd", "NSD", normalized_surface_dice, higher_is_better=True, perfect=1.0, one_absent=0.0,
        options=("tolerance_mm", "method"), challenge=True,
        description="normalized surface Dice at a tolerance in mm, DeepMind's surfels (AMOS challenge)",
    )
)  # fmt: skip
register_metric(
    Metric(
        "hd95", "HD95", hausdorff_distance_95, higher_is_better=False, perfect=0.0, one_absent=math.nan,
        unit="mm", value_range=None,
        description="95th-percentile Hausdorff distance between the edge voxels, mm (MONAI's definition); "
        "NaN when the organ is missing from the reference or the prediction",
    )
)  # fmt: skip
