"""A user's own function, named on the command line as ``path/to/file.py:function`` or ``module:function``.

Introduced in chapter *Training the baselines* (``amos train --loss my_losses.py:my_dice_ce``) and chapter
*Evaluating segmentations* (``amos predict --blend my_window.py:my_sliding_window``). Builds on ``importlib``.
The file is run as a module of its own (as ``python file.py`` would run it, minus ``__main__``): only name
files you wrote or trust.

Examples:
    >>> load_function("math:sqrt")(9.0)
    3.0
    >>> load_function("math:nope")
    Traceback (most recent call last):
    ...
    ValueError: math:nope: module math has no function 'nope'
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["is_function_spec", "load_function"]


def is_function_spec(text: str) -> bool:
    """Whether ``text`` names a function (``FILE.py:NAME`` or ``MODULE:NAME``) rather than a built-in choice."""
    return ":" in text


def load_function(spec: str) -> Callable[..., Any]:
    """The function named by ``spec``: ``path/to/file.py:function`` or ``package.module:function``.

    Args:
        spec: ``FILE.py:NAME`` (a Python file, relative to the working folder or absolute) or
            ``MODULE:NAME`` (an importable module).

    Returns:
        The function (any callable).

    Raises:
        ValueError: One line naming the file or module and the problem (missing file, import error, no such
            function, not callable).
    """
    where, sep, name = str(spec).rpartition(":")
    if not sep or not where or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", name):
        raise ValueError(f"{spec}: expected FILE.py:FUNCTION or MODULE:FUNCTION")
    if where.endswith(".py"):
        path = Path(where).expanduser()
        if not path.is_file():
            raise ValueError(f"{spec}: file {path} does not exist")
        module_name = f"amos_user_{re.sub(r'[^A-Za-z0-9_]', '_', path.stem)}"
        loader_spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[module_name] = module  # functions stay picklable (worker processes) while it runs
        try:
            loader_spec.loader.exec_module(module)
        except Exception as exc:  # the user's file: any error, said in one line
            sys.modules.pop(module_name, None)
            raise ValueError(f"{spec}: {path} fails to run: {type(exc).__name__}: {_first_line(exc)}") from exc
        owner = f"file {path}"
    else:
        try:
            module = importlib.import_module(where)
        except Exception as exc:
            raise ValueError(f"{spec}: cannot import module {where}: {type(exc).__name__}: {_first_line(exc)}") from exc
        owner = f"module {where}"
    fn = module
    for part in name.split("."):
        fn = getattr(fn, part, None)
        if fn is None:
            raise ValueError(f"{spec}: {owner} has no function {name!r}")
    if not callable(fn):
        raise ValueError(f"{spec}: {name} in {owner} is a {type(fn).__name__}, not a function")
    return fn


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else ""
