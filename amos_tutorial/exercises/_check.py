"""The machinery shared by every checker: run a student's function on named inputs, compare, say one line.

Introduced in chapter *Exploring the data* (the first build-it-yourself exercise). A checker is a list of
:class:`Case` objects; :func:`run_cases` calls the student's function on each, stops at the first input
whose answer is wrong, and returns a :class:`CheckResult` whose text is one readable line: which input
failed, expected against got. A function that still raises ``NotImplementedError`` (the skeleton of the
exercise) gives "not implemented yet" instead of an error, so an unfinished notebook runs to its end.

Before any input is tried, :func:`delegation` makes sure the function is the student's own: a function that
*is*, or calls, the package's or MONAI's implementation of the exercise fails in one line. The expected
answers come from stored fixtures (:func:`load_fixture`, small ``.npz`` files in the package data, written by
``tests/exercise_fixtures.py``), not from a reference function a student could import.
"""

from __future__ import annotations

import builtins
import functools
import math
import sys
import sysconfig
import types
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "NOT_IMPLEMENTED",
    "Case",
    "CheckResult",
    "compare_arrays",
    "compare_numbers",
    "delegation",
    "load_fixture",
    "run_cases",
]

#: Packages whose implementation of an exercise a student's function must not hand the work to.
OWNED = ("amos_tutorial", "monai", "nnunetv2")
#: The module the student imports the checkers and the given helpers from (using it is allowed).
EXERCISES_MODULE = "amos_tutorial.exercises"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
_LIBRARY_ROOTS = tuple(
    str(Path(p).resolve()) for p in {sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
)

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


def load_fixture(name: str) -> dict[str, np.ndarray]:
    """The stored inputs and expected answers of one checker (``fixtures/<name>.npz`` in the package data).

    Raises:
        FileNotFoundError: If the fixture is missing (a broken install), naming the file.
    """
    path = FIXTURES / f"{name}.npz"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the checker's stored answers are missing; reinstall amos_tutorial")
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def _owner(obj: Any) -> str | None:
    """The dotted name of ``obj`` when it belongs to one of :data:`OWNED` (a module, function, class or instance)."""
    if isinstance(obj, types.ModuleType):
        name = obj.__name__
    elif isinstance(obj, (type, types.FunctionType, types.BuiltinFunctionType)):
        name = f"{getattr(obj, '__module__', '') or ''}.{getattr(obj, '__qualname__', getattr(obj, '__name__', ''))}"
    else:
        kind = type(obj)
        name = f"{kind.__module__}.{kind.__qualname__}"
    root = name.split(".")[0]
    mine = name == EXERCISES_MODULE or name.startswith(EXERCISES_MODULE + ".")
    return name if root in OWNED and not mine else None


def _is_library(fn: types.FunctionType) -> bool:
    file = fn.__globals__.get("__file__")
    return bool(file) and str(Path(file).resolve()).startswith(_LIBRARY_ROOTS)


def _names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


def _references(fn: types.FunctionType) -> list[Any]:
    """What a function's code can reach: its globals, closure, defaults, and what it imports locally."""
    names = _names(fn.__code__)
    found: list[Any] = []
    for name in sorted(names):
        if name in fn.__globals__:
            found.append(fn.__globals__[name])
        elif "." in name or name in OWNED:
            module = sys.modules.get(name)
            if module is not None:
                attrs = [getattr(module, n) for n in sorted(names) if n != name and hasattr(module, n)]
                found.extend(attrs or [module])
    found.extend(cell.cell_contents for cell in fn.__closure__ or () if cell.cell_contents is not None)
    found.extend(fn.__defaults__ or ())
    found.extend((fn.__kwdefaults__ or {}).values())
    return [value for value in found if not isinstance(value, (str, bytes, int, float, bool)) and value is not None]


def delegation(fn: Any, given: Iterable[Any] = ()) -> str | None:
    """None when ``fn`` is the student's own code; else one line naming what it hands the work to.

    ``fn`` fails when it is, wraps (``functools.partial``, ``__wrapped__``, a bound method, an instance) or
    calls (directly, through the student's own helpers, or through a module it reaches) a function, class or
    module of :data:`OWNED`, other than the helpers in ``given`` that the exercise provides. The code is
    inspected, not run.

    Args:
        fn: The student's function.
        given: Objects the exercise gives the student (``gaussian_weights``, ``surface_elements``).

    Returns:
        None, or "<what> is <name>" / "<what> calls <name>".
    """
    allowed = {id(obj) for obj in given}
    allowed.add(id(sys.modules.get(EXERCISES_MODULE)))
    seen: set[int] = set()
    queue: list[tuple[Any, int]] = [(fn, 0)]
    while queue:
        obj, depth = queue.pop(0)
        if id(obj) in seen or id(obj) in allowed or depth > 8 or len(seen) > 2000:
            continue
        seen.add(id(obj))
        if isinstance(obj, functools.partial):
            queue.append((obj.func, depth))
            queue.extend((v, depth + 1) for v in (*obj.args, *obj.keywords.values()))
            continue
        if isinstance(obj, types.MethodType):
            queue.extend([(obj.__func__, depth), (obj.__self__, depth)])
            continue
        wrapped = getattr(obj, "__wrapped__", None) if not isinstance(obj, types.ModuleType) else None
        if wrapped is not None and not isinstance(wrapped, (str, bytes, int, float)):
            queue.append((wrapped, depth))
        owner = _owner(obj)
        if owner is not None:
            return f"{'it is' if depth == 0 else 'it calls'} {owner}, the implementation this exercise asks you to write"
        if isinstance(obj, types.FunctionType):
            if not _is_library(obj):
                queue.extend((value, depth + 1) for value in _references(obj))
        elif isinstance(obj, type):
            if obj.__module__ not in ("builtins",) and obj.__module__.split(".")[0] not in sys.stdlib_module_names:
                queue.extend((v, depth + 1) for v in vars(obj).values() if isinstance(v, (types.FunctionType, staticmethod, classmethod, property)))
        elif isinstance(obj, (staticmethod, classmethod)):
            queue.append((obj.__func__, depth))
        elif isinstance(obj, property):
            queue.extend((f, depth) for f in (obj.fget, obj.fset) if f is not None)
        elif isinstance(obj, dict):
            queue.extend((v, depth + 1) for v in list(obj.values())[:200])
        elif isinstance(obj, (list, tuple, set, frozenset)):
            queue.extend((v, depth + 1) for v in list(obj)[:200])
        elif not isinstance(obj, (types.ModuleType, types.BuiltinFunctionType, np.ndarray, np.generic)) and callable(obj):
            kind = type(obj)
            if kind.__module__.split(".")[0] not in ("torch", "numpy", "scipy", "builtins"):
                queue.append((kind, depth))
                queue.extend((v, depth + 1) for v in list(getattr(obj, "__dict__", {}).values())[:200])
            elif hasattr(obj, "_modules"):  # a torch module built from parts: look at its parts
                queue.extend((v, depth + 1) for v in obj._modules.values())
    return None


def _is_text(got: Any) -> bool:
    return isinstance(got, (str, bytes)) or (isinstance(got, np.ndarray) and got.dtype.kind in "USO")


def compare_numbers(expected: float, got: Any, atol: float = 1e-6, rtol: float = 1e-5, what: str = "") -> str | None:
    """None when ``got`` is a number equal to ``expected`` (NaN equals NaN), else the one-line difference."""
    label = f"{what}: " if what else ""
    if _is_text(got):
        return f"{label}expected a number, got text {_short(got)}"
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
    if _is_text(got) or (isinstance(got, (list, tuple)) and any(_is_text(v) for v in np.ravel(np.asarray(got, dtype=object)))):
        return f"{label}expected an array of numbers, got text {_short(got)}"
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


def run_cases(exercise: str, fn: Callable[..., Any], cases: Sequence[Case], given: Iterable[Any] = ()) -> CheckResult:
    """Run ``fn`` on every case and return the verdict of the first failing one (or a pass).

    A function that is or calls the package's or MONAI's implementation (:func:`delegation`) fails before
    any input is tried.

    Args:
        exercise: Name shown in the verdict.
        fn: The student's function.
        cases: The inputs, in the order they are tried (simple ones first).
        given: Helpers of :data:`OWNED` the exercise gives the student (allowed in ``fn``).

    Returns:
        A :class:`CheckResult`.

    Raises:
        TypeError: If ``fn`` is not callable (a mistake in the checker cell, not in the exercise).
    """
    if not callable(fn):
        raise TypeError(f"check the exercise with a function, got {type(fn).__name__} {fn!r}")
    handed = delegation(fn, given)
    if handed:
        return CheckResult(exercise, False, True, f"✗ {exercise}: not your own code: {handed}; write it yourself")
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
