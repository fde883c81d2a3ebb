"""Safe extraction of the AMOS release zip: no entry outside the destination, no link, all or nothing.

Introduced in chapter *Getting the data*. Built on :mod:`zipfile` and :mod:`shutil`. Extraction goes into a
temporary folder renamed into place when complete, with :data:`COMPLETE_MARKER` inside, so that a finished
extraction is recognised and an interrupted one is never taken for the release.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import zipfile
import zlib
from datetime import datetime, timezone
from pathlib import Path

from tqdm.auto import tqdm

from amos_tutorial.data.fetch import CHUNK_BYTES, ensure_free_space, format_gb, say
from amos_tutorial.data.release import RELEASE_DIR_NAME
from amos_tutorial.utils.io import atomic_write_text

__all__ = [
    "COMPLETE_MARKER",
    "UnsafeArchiveError",
    "check_zip_members",
    "extract_release",
    "member_problem",
]

#: Written inside the release folder before it is renamed into place: its presence means that
#: this tool finished the extraction (a folder unzipped by hand may be incomplete).
COMPLETE_MARKER = ".amos_tutorial_download.json"

_EXTRACT_TMP = f".{RELEASE_DIR_NAME}.extracting"
_DRIVE = re.compile(r"^[A-Za-z]:")


class UnsafeArchiveError(ValueError):
    """A zip entry would be written outside the destination folder, or is a symbolic link."""



def member_problem(info: zipfile.ZipInfo) -> str | None:
    """Why this zip entry must not be extracted, or None when it is safe.

    Args:
        info: One entry of the zip.

    Returns:
        A few words (an absolute path, ``..``, a drive letter, a symbolic link...), or None.
    """
    name = info.filename
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "is a symbolic link"
    norm = name.replace("\\", "/")
    if norm.startswith("/") or _DRIVE.match(norm):
        return "is an absolute path"
    parts = [p for p in norm.split("/") if p not in ("", ".")]
    if ".." in parts:
        return "escapes the destination folder ('..')"
    if not parts:
        return "has an empty name"
    return None


def check_zip_members(zip_path: str | os.PathLike) -> list[zipfile.ZipInfo]:
    """Check every entry of a zip before anything is extracted.

    Introduced in chapter *Getting the data*. Built on :mod:`zipfile`.

    An entry is refused when its name would land outside the destination (``..`` components, an
    absolute path, a Windows drive letter, also with backslashes) or when it is a symbolic link
    (Unix file type stored in the high bits of ``external_attr``): a link could point anywhere and
    a later entry could be written through it.

    Args:
        zip_path: The archive.

    Returns:
        The archive's entries, in order.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If the file is not a readable zip archive.
        UnsafeArchiveError: ``"<zip>: entry '<name>' <problem>; nothing was extracted"`` for the first
            unsafe entry.

    Examples:
        >>> members = check_zip_members("/data/amos22.zip")  # doctest: +SKIP
    """
    zip_path = Path(zip_path)
    if not zip_path.is_file():
        raise FileNotFoundError(f"{zip_path}: zip file does not exist")
    try:
        with zipfile.ZipFile(zip_path) as zf:
            members = zf.infolist()
    except zipfile.BadZipFile as exc:
        raise ValueError(f"{zip_path}: not a valid zip file ({exc}); delete it and download again") from exc
    for info in members:
        problem = member_problem(info)
        if problem:
            raise UnsafeArchiveError(f"{zip_path}: entry {info.filename!r} {problem}; nothing was extracted")
    return members


def _find_release(folder: Path) -> Path | None:
    """The folder holding ``dataset.json``: the extraction folder itself or its ``amos22/`` (or single) child."""
    if (folder / "dataset.json").is_file():
        return folder
    preferred = folder / RELEASE_DIR_NAME
    if (preferred / "dataset.json").is_file():
        return preferred
    found = [d for d in folder.iterdir() if d.is_dir() and (d / "dataset.json").is_file()]
    return found[0] if len(found) == 1 else None


def extract_release(
    zip_path: str | os.PathLike,
    dest: str | os.PathLike,
    progress: bool = True,
    check_space: bool = True,
) -> Path:
    """Extract the release zip safely into ``dest/amos22``.

    Introduced in chapter *Getting the data*. Built on :mod:`zipfile` and :mod:`shutil`.

    Every entry is checked first (:func:`check_zip_members`), so an unsafe archive writes nothing.
    The files are extracted into ``dest/.amos22.extracting`` and the release folder (the one with
    ``dataset.json``) is renamed to ``dest/amos22`` only when complete, with a marker file
    (:data:`COMPLETE_MARKER`) inside. An interrupted extraction leaves only the temporary folder,
    which the next run deletes before starting again. File permissions stored in the zip are not
    applied (files get the user's default permissions).

    Args:
        zip_path: The release zip (``amos22.zip``).
        dest: The download folder; the release goes to ``dest/amos22``.
        progress: Show a tqdm progress bar.
        check_space: Check first that ``dest`` has room for the uncompressed entries.

    Returns:
        The dataset root ``dest/amos22``.

    Raises:
        UnsafeArchiveError: If an entry escapes ``dest`` or is a symbolic link.
        FileExistsError: If ``dest/amos22`` exists but was not completed by this tool (it is left alone).
        ValueError: If the zip is unreadable, fails its CRC check, or contains no ``dataset.json``.
        DownloadError: If the disk is too small.

    Examples:
        >>> root = extract_release("/data/amos22.zip", "/data")  # doctest: +SKIP
        >>> root.name  # doctest: +SKIP
        'amos22'
    """
    zip_path, dest = Path(zip_path), Path(dest)
    final = dest / RELEASE_DIR_NAME
    if final.exists():
        if (final / COMPLETE_MARKER).is_file():
            return final
        raise FileExistsError(
            f"{final}: folder exists but was not completely extracted by 'amos data download'; "
            "move it away (or delete it) and re-run"
        )
    members = check_zip_members(zip_path)
    total = sum(info.file_size for info in members)
    dest.mkdir(parents=True, exist_ok=True)
    tmp = dest / _EXTRACT_TMP
    if tmp.exists():
        say(f"{tmp}: removing an interrupted extraction, starting again")
        shutil.rmtree(tmp)
    if check_space:
        ensure_free_space(dest, total, f"{format_gb(total)} extracted release")
    tmp.mkdir()
    root_resolved = tmp.resolve()
    try:
        with zipfile.ZipFile(zip_path) as zf, tqdm(
            total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=f"extract {zip_path.name}",
            disable=not progress,
        ) as bar:
            for info in members:
                parts = [p for p in info.filename.replace("\\", "/").split("/") if p not in ("", ".")]
                out = tmp.joinpath(*parts)
                # Second line of defence after check_zip_members: the resolved path must stay inside.
                if not out.resolve().is_relative_to(root_resolved):
                    raise UnsafeArchiveError(f"{zip_path}: entry {info.filename!r} escapes the destination folder")
                if info.is_dir():
                    out.mkdir(parents=True, exist_ok=True)
                    continue
                out.parent.mkdir(parents=True, exist_ok=True)
                try:
                    with zf.open(info) as src, open(out, "wb") as dst:
                        shutil.copyfileobj(src, dst, CHUNK_BYTES)
                except (zipfile.BadZipFile, zlib.error, EOFError) as exc:  # a bad CRC or a broken deflate stream
                    raise zipfile.BadZipFile(f"member {info.filename!r}: {type(exc).__name__}: {exc}") from None
                bar.update(info.file_size)
        release = _find_release(tmp)
        if release is None:
            raise ValueError(f"{zip_path}: no dataset.json found in the archive: is this the AMOS release?")
        marker = {
            "zip": zip_path.name,
            "entries": len(members),
            "bytes": total,
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        atomic_write_text(release / COMPLETE_MARKER, json.dumps(marker, indent=2) + "\n")
        os.replace(release, final)
    except zipfile.BadZipFile as exc:  # CRC errors surface while reading an entry
        shutil.rmtree(tmp, ignore_errors=True)
        raise ValueError(f"{zip_path}: corrupt zip file ({exc}); delete it and download again") from exc
    except BaseException:
        # Includes Ctrl-C: leave no half-extracted tree (the next run would delete it anyway).
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(tmp, ignore_errors=True)
    return final
