"""The machinery shared by every checker: run a student's function on named inputs, compare, say one line.

Introduced in chapter *Exploring the data* (the first build-it-yourself exercise). A checker is a list of
:class:`Case` objects; :func:`run_cases` calls the student's function on each, stops at the first input
whose answer is wrong, and returns a :class:`CheckResult` whose text is one readable line: which input
failed, expected against got. A function that still raises ``NotImplementedError`` (the skeleton of the
exercise) gives "not implemented yet" instead of an error, so an unfinished notebook runs to its end.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["NOT_IMPLEMENTED", "Case", "CheckResult", "compare_arrays", "compare_numbers", "run_cases"]

NOT_IMPLEMENTED = "not implemented yet"
PASS_MARK = "passed"


@dataclass(frozen=True)
class CheckResult:
    """What a checker found; ``str()``/``repr()`` is the one line shown under the checker's cell.

    Attributes:
        exercise: Name of the exercise (``"dice"``).
        passed: Whether every input gave the expected answer.
        implemented: False when the function still raises ``NotImplementedError``.
        message: The one-line verdict.
        failed_input: Name of the input that failed (None if none failed).
    """

    exercise: str
    passed: bool
    implemented: bool
    message: str
    failed_input: str | None = None

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return self.message

    __repr__ = __str__


@dataclass(frozen=True)
class Case:
    """One input of a checker.

    Attributes:
        name: Short description of the input, printed when it fails (``"both masks empty"``).
        run: Calls the student's function on this input and returns its answer.
        judge: Takes the answer and returns None when it is right, else "expected ..., got ...".
    """

    name: str
    run: Callable[[Callable[..., Any]], Any]
    judge: Callable[[Any], str | None]


def _short(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.6g}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def compare_numbers(expected: float, got: Any, atol: float = 1e-6, rtol: float = 1e-5, what: str = "") -> str | None:
    """None when ``got`` is a number equal to ``expected`` (NaN equals NaN), else the one-line difference."""
    label = f"{what}: " if what else ""
    try:
        value = float(got)
    except (TypeError, ValueError):
        return f"{label}expected a number, got {type(got).__name__} {_short(got)}"
    if np.size(got) != 1:
        return f"{label}expected one number, got an array of shape {np.shape(got)}"
    if math.isnan(expected) or math.isnan(value):
        return None if math.isnan(expected) and math.isnan(value) else f"{label}expected {_short(expected)}, got {_short(value)}"
    if abs(value - expected) <= atol + rtol * abs(expected):
        return None
    return f"{label}expected {_short(expected)}, got {_short(value)}"


def compare_arrays(expected: np.ndarray, got: Any, atol: float = 1e-5, rtol: float = 1e-5, what: str = "") -> str | None:
    """None when ``got`` has ``expected``'s shape and values (within tolerance), else the one-line difference."""
    label = f"{what}: " if what else ""
    try:
        if hasattr(got, "detach"):
            got = got.detach().cpu().numpy()
        array = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return f"{label}expected an array, got {type(got).__name__}"
    expected = np.asarray(expected, dtype=np.float64)
    if array.shape != expected.shape:
        return f"{label}expected shape {expected.shape}, got {array.shape}"
    if expected.size == 0:
        return None
    bad = ~np.isclose(array, expected, atol=atol, rtol=rtol, equal_nan=True)
    if not bad.any():
        return None
    index = tuple(int(i) for i in np.argwhere(bad)[0])
    return (
        f"{label}{int(bad.sum())} of {bad.size} values differ; at index {index}: "
        f"expected {_short(float(expected[index]))}, got {_short(float(array[index]))}"
    )


def run_cases(exercise: str, fn: Callable[..., Any], cases: Sequence[Case]) -> CheckResult:
    """Run ``fn`` on every case and return the verdict of the first failing one (or a pass).

    Args:
        exercise: Name shown in the verdict.
        fn: The student's function.
        cases: The inputs, in the order they are tried (simple ones first).

    Returns:
        A :class:`CheckResult`.

    Raises:
        TypeError: If ``fn`` is not callable (a mistake in the checker cell, not in the exercise).
    """
    if not callable(fn):
        raise TypeError(f"check the exercise with a function, got {type(fn).__name__} {fn!r}")
    for case in cases:
        try:
            problem = case.judge(case.run(fn))
        except NotImplementedError as exc:
            hint = f" ({exc})" if str(exc) else ""
            return CheckResult(exercise, False, False, f"✗ {exercise}: {NOT_IMPLEMENTED}{hint}", case.name)
        except Exception as exc:  # noqa: BLE001 - a student's bug, reported as one line
            line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            return CheckResult(
                exercise, False, True, f"✗ {exercise}: on input '{case.name}' it raised {type(exc).__name__}: {line}", case.name
            )
        if problem:
            return CheckResult(exercise, False, True, f"✗ {exercise}: on input '{case.name}': {problem}", case.name)
    return CheckResult(exercise, True, True, f"✓ {exercise}: {PASS_MARK} all {len(cases)} inputs")
