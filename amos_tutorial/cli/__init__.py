"""The ``amos`` command line: one entry point, one sub-command per pipeline step.

Each module in this package that defines ``register(subparsers)`` adds its own sub-command
(``data``, ``train``, ``predict``, ``evaluate``, ``submit``, ``bench``), so a new step is a new file.
A sub-command's handler returns the process exit code.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import pkgutil
import sys
from pathlib import Path

__all__ = ["TRACEBACK_ENV", "build_parser", "error_line", "main"]


def build_parser() -> argparse.ArgumentParser:
    """Build the ``amos`` parser with every registered sub-command."""
    from amos_tutorial import __version__

    parser = argparse.ArgumentParser(
        prog="amos",
        description=(
            "AMOS 2022 tutorial and benchmark suite: get and check the data, train, predict, "
            "evaluate and benchmark the AMOS baselines. Wherever a data folder is expected, "
            "'synthetic' means the built-in synthetic mini-AMOS set."
        ),
    )
    parser.add_argument("--version", action="version", version=f"amos_tutorial {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "register"):
            modules.append(module)
    for module in sorted(modules, key=lambda m: (getattr(m, "ORDER", 100), m.__name__)):
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return the exit code (used by the ``amos`` entry point)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        # `amos` or `amos data` alone: print the relevant help.
        (getattr(args, "_parser", None) or parser).print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("amos: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        line = error_line(exc)
        if line is None or os.environ.get(TRACEBACK_ENV):
            raise  # a bug, not a user error: the traceback is what helps
        # Expected errors: one clear line naming the file and the fix, no traceback.
        print(f"amos: error: {line}", file=sys.stderr)
        return 2 if isinstance(exc, (FileNotFoundError, ValueError)) else 1


#: Set this environment variable to 1 to get Python's traceback instead of the one-line error.
TRACEBACK_ENV = "AMOS_TRACEBACK"

# What to do about an OSError, by errno (the message names the path first).
_OS_HINTS = {
    errno.EACCES: "permission denied; fix the permissions or choose another path",
    errno.EPERM: "operation not permitted; choose another folder (or fix its permissions)",
    errno.EROFS: "read-only file system; choose a folder on a writable disk",
    errno.ENOSPC: "no space left on device; free some space or choose a folder on another disk",
    errno.ENOTDIR: "a part of this path is a file, not a folder; choose another path",
    errno.EISDIR: "is a folder, but a file is expected here; give a file name",
    errno.EEXIST: "already exists; choose another path (or move it away)",
    getattr(errno, "EDQUOT", -1): "disk quota exceeded; free some space or choose another folder",
}
# RuntimeErrors that are about the machine or the input, not bugs: (text in the message, hint).
_KNOWN_RUNTIME = (
    ("out of memory", "out of memory; use a smaller --batch-size, --patch-size or --sw-batch-size, or --device cpu"),
    ("inline_container", "could not write the file (full disk?)"),
    ("PytorchStreamWriter", "could not write the file (full disk?)"),
    ("No space left on device", "no space left on device"),
)


def error_line(exc: BaseException) -> str | None:
    """The one line ``amos`` prints for an expected error, or None for an unexpected one (a bug).

    Expected: ``ValueError`` and every ``OSError`` (the package's own messages start with the path;
    a bare OS error gets its path and a fix added), the package's lock error and known
    ``RuntimeError`` s of the machine (out of memory, a failed checkpoint write).

    Args:
        exc: The exception.

    Returns:
        One line of text without a traceback, or None.

    Examples:
        >>> error_line(NotADirectoryError(20, "Not a directory", "/tmp/file/run"))
        '/tmp/file/run: a part of this path is a file, not a folder; choose another path'
    """
    from amos_tutorial.utils.lock import LockedError

    if isinstance(exc, (ValueError, LockedError)):
        return _one_line(str(exc) or type(exc).__name__)
    if isinstance(exc, OSError):
        return _one_line(_os_error_text(exc))
    if isinstance(exc, RuntimeError):
        text = str(exc)
        for needle, hint in _KNOWN_RUNTIME:
            if needle in text:
                first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
                return _one_line(f"{hint} ({first[:200]})")
    return None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _os_error_text(exc: OSError) -> str:
    if exc.errno is None or (exc.filename is None and exc.errno not in _OS_HINTS):
        return str(exc) or type(exc).__name__  # the package's own message: it names the file already
    path = exc.filename
    strerror = exc.strerror or ""
    default_hint = _OS_HINTS.get(exc.errno, strerror.lower() or type(exc).__name__)
    # A message made by the package (see cli/_args.py) says more than the generic hint.
    generic = strerror == os.strerror(exc.errno) if exc.errno else True
    if exc.errno == errno.EEXIST and path is not None and Path(path).is_file():
        default_hint = "exists and is a file, but a folder is expected here; choose another path"
    text = default_hint if generic else strerror
    if path is None:
        return text
    cache_env = os.environ.get("AMOS_CACHE_DIR")
    if cache_env and _same_or_inside(Path(path), Path(cache_env).expanduser()):
        text += " ($AMOS_CACHE_DIR names this path: it must be a folder you can write to)"
    if exc.filename2:
        return f"{path} -> {exc.filename2}: {text}"
    return f"{path}: {text}"


def _same_or_inside(path: Path, folder: Path) -> bool:
    try:
        path.absolute().relative_to(folder.absolute())
    except ValueError:
        return False
    return True


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
