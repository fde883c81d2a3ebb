"""Argument types shared by several ``amos`` sub-commands (a leading underscore: not a sub-command)."""

from __future__ import annotations

import argparse

__all__ = ["patch_size_arg"]


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
