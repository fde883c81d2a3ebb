"""The manifest of a course pack and its default grid: what is in it, where it came from, and a SHA-256 per file.

Introduced in chapter *Getting the data*. Built on :mod:`hashlib` and :mod:`json`. ``amos data pack``
writes it (:func:`write_manifest`); ``amos data validate`` checks every file against it
(:func:`manifest_problems`), so one altered byte in a pack copied through a shared drive is found and
named.

Examples:
    >>> manifest_problems("/data/pack")  # doctest: +SKIP
    []
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from amos_tutorial.utils.io import atomic_write_text

__all__ = [
    "MANIFEST_NAME",
    "PACK_KIND",
    "PACK_SPACING",
    "sha256_file",
    "write_manifest",
    "read_manifest",
    "manifest_problems",
]

#: Default voxel size of a pack, in mm (x, y, z), chosen for a free Colab machine (12.7 GB of RAM): about 2.7
#: times fewer voxels per case than the training default 1.5 x 1.5 x 2.0 mm ((2 / 1.5) ** 2 * 3 / 2), so every
#: step and the training cache shrink by about as much. ``amos bench memory`` measures each step at real sizes.
PACK_SPACING: tuple[float, float, float] = (2.0, 2.0, 3.0)
#: File name of the manifest, in the pack's root beside ``dataset.json``.
MANIFEST_NAME = "pack_manifest.json"
#: The manifest's ``kind``: marks a folder as a course pack.
PACK_KIND = "amos_tutorial course pack"
_CHUNK = 1 << 20


def sha256_file(path: str | os.PathLike) -> str:
    """SHA-256 of a file as a lowercase hex string, read in 1 MiB chunks.

    Examples:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
        >>> _ = p.write_bytes(b"abc")
        >>> sha256_file(p)[:16]
        'ba7816bf8f01cfea'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(root: str | os.PathLike, info: dict[str, Any]) -> Path:
    """Write ``root/pack_manifest.json``: ``info`` plus the SHA-256 of every other file under ``root``.

    Args:
        root: The pack's root folder.
        info: What the pack is (source, cases, spacing, licence...); ``kind`` and ``files`` are set here.

    Returns:
        The manifest's path.
    """
    root = Path(root)
    files = {
        p.relative_to(root).as_posix(): sha256_file(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != MANIFEST_NAME and not p.name.startswith(".")
    }
    manifest = {"kind": PACK_KIND, **info, "files": files}
    return atomic_write_text(root / MANIFEST_NAME, json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")


def read_manifest(root: str | os.PathLike) -> dict[str, Any] | None:
    """The manifest of a pack, or None when ``root`` holds none.

    Raises:
        ValueError: ``"<manifest>: ..."`` if it is not a readable pack manifest.
    """
    path = Path(root) / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: unreadable pack manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("kind") != PACK_KIND or not isinstance(manifest.get("files"), dict):
        raise ValueError(f"{path}: not a course-pack manifest (no kind {PACK_KIND!r} with a 'files' table)")
    return manifest


def manifest_problems(root: str | os.PathLike) -> list[tuple[Path, str]]:
    """Every file of a pack checked against its manifest: ``(path, problem)`` pairs, empty when all match.

    A file listed but missing, a file whose SHA-256 differs (altered or corrupt) and a case file present but
    not listed are problems. A folder without a manifest has none.

    Raises:
        ValueError: If the manifest itself is unreadable.
    """
    root = Path(root)
    manifest = read_manifest(root)
    if manifest is None:
        return []
    problems: list[tuple[Path, str]] = []
    listed = manifest["files"]
    for rel, expected in sorted(listed.items()):
        path = root / rel
        if not path.is_file():
            problems.append((path, f"listed in {MANIFEST_NAME} but missing"))
        elif sha256_file(path) != expected:
            problems.append((path, f"SHA-256 differs from {MANIFEST_NAME}: the file was altered or is corrupt"))
    for path in sorted(root.rglob("*.nii*")):
        if path.is_file() and path.relative_to(root).as_posix() not in listed:
            problems.append((path, f"not listed in {MANIFEST_NAME}: not part of the pack as made"))
    return problems
