"""One readable line for an expected error: the text ``amos`` prints instead of a traceback.

Introduced in chapter *Getting the data*. Every ``OSError`` names its path and a fix; the package's own
messages (which start with the path already) pass through; known ``RuntimeError`` s of the machine (out of
memory, a failed write) get a hint. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

__all__ = ["error_line", "refused_object"]

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


def refused_object(exc: BaseException) -> str | None:
    """What ``torch.load(weights_only=True)`` refused to load, if ``exc`` is such a refusal; else None.

    Introduced in chapter *Training the baselines*. torch's message starts with a long note about the
    ``weights_only`` default; the useful part (``unsupported GLOBAL posix.system``) comes later.

    Args:
        exc: The exception raised by ``torch.load``.

    Returns:
        For example ``"unsupported GLOBAL posix.system whose module posix is blocked"``, or
        ``"objects weights_only refuses"`` when the message names none; None for other errors.
    """
    import pickle

    text = str(exc)
    if not (isinstance(exc, pickle.UnpicklingError) and "weights only load failed" in text.lower()):
        return None
    for line in text.splitlines():
        if "unsupported" in line.lower():
            return " ".join(line.split()).rstrip(".")
    return "objects weights_only refuses"
