"""Argument types and output checks shared by several ``amos`` sub-commands.

A leading underscore: this module is not a sub-command.
"""

from __future__ import annotations

import argparse
import errno
import os
from pathlib import Path

__all__ = ["check_output_file", "check_output_folder", "patch_size_arg", "positive_int"]


def patch_size_arg(text: str) -> tuple[int, int, int]:
    """Parse a patch size given as ``96,96,96`` or ``160x160x64`` (x, y, z voxels).

    Examples:
        >>> patch_size_arg("160x160x64")
        (160, 160, 64)
    """
    parts = text.replace("x", ",").split(",")
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"patch size must look like 96,96,96 or 160x160x64, got {text!r}") from None
    if len(values) != 3 or min(values) < 1:
        raise argparse.ArgumentTypeError(f"patch size needs 3 positive sizes (x, y, z), got {text!r}")
    return values  # type: ignore[return-value]


def positive_int(text: str) -> int:
    """Parse an integer >= 1 (argparse type).

    Examples:
        >>> positive_int("4")
        4
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _first_existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists (``.`` for a relative path with none)."""
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return candidate
    return Path(".")


def _check_parent_writable(path: Path, option: str) -> None:
    anchor = _first_existing(path.parent if path != path.parent else path)
    if not anchor.is_dir():
        raise NotADirectoryError(
            errno.ENOTDIR, f"{anchor} is a file, not a folder; choose another {option}", str(path)
        )
    if not os.access(anchor, os.W_OK | os.X_OK):
        raise PermissionError(
            errno.EACCES, f"no permission to write in {anchor}; choose another {option} (or fix its permissions)",
            str(path),
        )


def check_output_folder(path: str | os.PathLike | None, option: str = "--out") -> None:
    """Check, before any long work, that ``path`` can be a folder this process writes into.

    Args:
        path: The output folder (existing or not); None: nothing to check.
        option: The option's name, for the message.

    Raises:
        NotADirectoryError: If ``path`` or one of its parents is a file.
        PermissionError: If the folder (or the nearest existing parent) is not writable.
    """
    if path is None:
        return
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(
            errno.ENOTDIR, f"exists and is a file, not a folder; choose another {option}", str(path)
        )
    if path.is_dir():
        if not os.access(path, os.W_OK | os.X_OK):
            raise PermissionError(
                errno.EACCES, f"no permission to write in this folder; choose another {option}", str(path)
            )
        return
    _check_parent_writable(path, option)


def check_output_file(path: str | os.PathLike | None, option: str = "--out") -> None:
    """Check, before any long work, that ``path`` can be written as a file.

    Args:
        path: The output file (existing or not); None: nothing to check.
        option: The option's name, for the message.

    Raises:
        IsADirectoryError: If ``path`` is an existing folder.
        NotADirectoryError: If one of its parents is a file.
        PermissionError: If its folder is not writable.
    """
    if path is None:
        return
    path = Path(path).expanduser()
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, f"is an existing folder; give {option} a file name", str(path))
    _check_parent_writable(path, option)
