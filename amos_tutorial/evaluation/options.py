"""How to score: the settings of :func:`~amos_tutorial.evaluation.evaluate.evaluate_folder` as one options object.

Introduced in chapter *Evaluating segmentations*. A plain dataclass; ``evaluate_folder`` also takes its fields
as keywords (``absent="score"``), which override the object's.

Examples:
    >>> ScoreOptions(absent="score").absent
    'score'
    >>> ScoreOptions(method="fast")
    Traceback (most recent call last):
    ...
    ValueError: method must be 'auto', 'lookup' or 'edt', got 'fast'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from amos_tutorial.evaluation.metrics import ABSENT_CONVENTIONS, Tolerance
from amos_tutorial.labels import ORGAN_IDS
from amos_tutorial.utils.options import with_settings

__all__ = ["ScoreOptions"]


@dataclass(frozen=True)
class ScoreOptions:
    """The scoring conventions of an evaluation.

    Introduced in chapter *Evaluating segmentations*.

    Attributes:
        tolerance_mm: NSD tolerance (see :func:`~amos_tutorial.evaluation.metrics.resolve_tolerances`).
        absent: Absent-organ convention, ``"nan"`` (nnU-Net) or ``"score"``.
        organ_ids: Organs to score.
        method: NSD search strategy, ``"auto"``, ``"lookup"`` or ``"edt"``.

    Raises:
        ValueError: One line naming a bad ``absent`` or ``method``.
    """

    tolerance_mm: Tolerance = None
    absent: str = "nan"
    organ_ids: Sequence[int] = ORGAN_IDS
    method: str = "auto"

    def __post_init__(self) -> None:
        if self.absent not in ABSENT_CONVENTIONS:
            raise ValueError(f"absent must be one of {ABSENT_CONVENTIONS}, got {self.absent!r}")
        if self.method not in ("auto", "lookup", "edt"):
            raise ValueError(f"method must be 'auto', 'lookup' or 'edt', got {self.method!r}")

    @classmethod
    def build(cls, options: ScoreOptions | None, settings: Mapping[str, Any]) -> ScoreOptions:
        """``options`` (default: all defaults) with the fields in ``settings`` replaced.

        Raises:
            TypeError: One line naming an unknown keyword.
        """
        return with_settings(cls, options, settings)
