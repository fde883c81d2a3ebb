"""Options objects: a dataclass of settings, given whole (``options=``) or field by field as keywords.

Introduced in chapter *Benchmarking the baselines*. Plain ``dataclasses``. The wide functions of the package
(:func:`~amos_tutorial.inference.predict_case`, :func:`~amos_tutorial.benchmark.run_benchmark`...) take an
options object and, for convenience, the same fields as keywords, which override it.

Examples:
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Knobs:
    ...     size: int = 1
    >>> with_settings(Knobs, None, {"size": 3})
    Knobs(size=3)
    >>> with_settings(Knobs, None, {"sise": 3})
    Traceback (most recent call last):
    ...
    TypeError: unknown setting(s) ['sise'] of Knobs; choose among ['size']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

__all__ = ["with_settings"]

T = TypeVar("T")


def with_settings(cls: type[T], options: T | None, settings: Mapping[str, Any], retired: Mapping[str, str] | None = None) -> T:
    """``options`` (default: ``cls()``) with the fields named in ``settings`` replaced.

    Args:
        cls: The options dataclass.
        options: An instance of it, or None for the defaults.
        settings: Field values given as keywords.
        retired: Keywords of earlier releases -> the one-line message that names their replacement.

    Returns:
        A new instance (the dataclass's own checks run again).

    Raises:
        TypeError: One line naming an unknown or retired keyword, or an ``options`` of another type.
    """
    if options is not None and not isinstance(options, cls):
        raise TypeError(f"options must be a {cls.__name__}, got {type(options).__name__}")
    for key in settings:
        if retired and key in retired:
            raise TypeError(retired[key])
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(settings) - fields)
    if unknown:
        raise TypeError(f"unknown setting(s) {unknown} of {cls.__name__}; choose among {sorted(fields)}")
    return dataclasses.replace(options if options is not None else cls(), **settings)
