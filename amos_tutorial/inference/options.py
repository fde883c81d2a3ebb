"""How to predict: the settings that :func:`predict_case`, :func:`predict_folder` and the cross-validation
predictions share, as one options object.

Introduced in chapter *Evaluating segmentations*. Plain dataclasses. Each function takes ``options=`` (a
:class:`PredictOptions`) and, for convenience, the same fields as keywords (``tta=True``), which override
the options object's; an unknown keyword is refused with one line naming it.

Examples:
    >>> PredictOptions(tta=True).engine
    'fast'
    >>> PredictOptions.build(None, {"overlap": 0.25}).overlap
    0.25
    >>> PredictOptions.build(None, {"path": "plain"})
    Traceback (most recent call last):
    ...
    TypeError: path= is now engine= (the inference engine, 'fast' or 'plain')
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from amos_tutorial.utils.options import with_settings

__all__ = ["BLEND_MODES", "ENGINES", "PredictOptions", "check_blend", "check_sw_batch_size"]

ENGINES: tuple[str, ...] = ("fast", "plain")
"""``"fast"``: torch preprocessing and inversion on the device. ``"plain"``: MONAI chain + ``Invertd`` on the CPU."""

#: The blending modes of the sliding window given by name (MONAI's ``mode``).
BLEND_MODES = ("gaussian", "constant")

# Keywords of earlier releases and the field that replaced them.
_RETIRED = {
    "path": "path= is now engine= (the inference engine, 'fast' or 'plain')",
    "which": "which= is now checkpoint= ('best' or 'last')",
}


def check_blend(blend: Any) -> None:
    """Raise a one-line ValueError unless ``blend`` is one of :data:`BLEND_MODES` or a function."""
    if not callable(blend) and blend not in BLEND_MODES:
        raise ValueError(f"blend must be one of {BLEND_MODES} or a function (image, predictor, roi_size, overlap), got {blend!r}")


def check_sw_batch_size(sw_batch_size: int | None) -> None:
    """Raise a one-line ValueError unless ``sw_batch_size`` is None (the run's) or a whole number >= 1."""
    if sw_batch_size is None:
        return
    if isinstance(sw_batch_size, bool) or not isinstance(sw_batch_size, numbers.Integral) or sw_batch_size < 1:
        raise ValueError(
            f"sw_batch_size must be a whole number of windows >= 1 (or None for the run's), got {sw_batch_size!r}"
        )


@dataclass(frozen=True)
class PredictOptions:
    """The settings of a prediction (None: the run's own value).

    Introduced in chapter *Evaluating segmentations*.

    Attributes:
        roi_size: Window size (default: the training patch).
        overlap: Window overlap (default: the run's, else 0.5).
        sw_batch_size: Windows per forward pass (default: the run's, else 2).
        amp: Mixed precision (default: the run's, else ``"auto"``: by device).
        tta: Average over flips of ``tta_axes`` (8 passes for 3 axes).
        tta_axes: Axes flipped by the test-time augmentation.
        engine: The inference engine, ``"fast"`` or ``"plain"`` (see :mod:`amos_tutorial.inference.predictor`).
        modality_rule: Id rule when the modality is not given (``"readme"`` or ``"organisers"``).
        blend: ``"gaussian"``, ``"constant"`` or a sliding-window function ``(image, predictor, roi_size,
            overlap) -> logits`` (see :func:`~amos_tutorial.inference.sliding_window_probabilities`).
        postprocess: A post-processing plan applied to the labels (a
            :class:`~amos_tutorial.evaluation.postprocess.PostprocessPlan`, or the JSON file written by
            ``amos postprocess``), or None.

    Raises:
        ValueError: One line naming the bad value.
    """

    roi_size: Sequence[int] | None = None
    overlap: float | None = None
    sw_batch_size: int | None = None
    amp: str | None = None
    tta: bool = False
    tta_axes: Sequence[int] = (0, 1, 2)
    engine: str = "fast"
    modality_rule: str = "readme"
    blend: str | Callable[..., Any] = "gaussian"
    postprocess: Any = None

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {self.engine!r}")
        check_sw_batch_size(self.sw_batch_size)
        check_blend(self.blend)
        if self.overlap is not None and not 0 <= self.overlap < 1:
            raise ValueError(f"overlap must be in [0, 1), got {self.overlap}")

    @classmethod
    def build(cls, options: PredictOptions | None, settings: Mapping[str, Any]) -> PredictOptions:
        """``options`` (default: all defaults) with the fields in ``settings`` replaced.

        Raises:
            TypeError: One line naming an unknown or retired keyword.
        """
        return with_settings(cls, options, settings, _RETIRED)
