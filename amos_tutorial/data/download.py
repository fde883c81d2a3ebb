"""Download and extract the real AMOS 2022 release from Zenodo (``amos data download DEST``).

Introduced in chapter *Getting the data*. Built on the standard library (:mod:`urllib.request` for
HTTP, :mod:`hashlib` for the checksum, :mod:`zipfile` and :mod:`shutil` for the extraction) and on
``tqdm`` for the progress bars, so that it works the same on a laptop, a cluster and Colab.

What ends up where::

    DEST/amos22.zip                        the release (about 24.2 GB), kept unless remove_zip=True
    DEST/amos22.zip.md5                    its verified MD5 (``md5sum -c`` format)
    DEST/labeled_data_meta_0000_0599.csv   the scanner/patient metadata (about 35 KB)
    DEST/amos22/                           the extracted release: the dataset root

The download of 24 GB over a long time is made safe in the usual ways: bytes go to
``amos22.zip.part`` and a cut connection is resumed with an HTTP ``Range`` request (also by simply
re-running the command), the finished file is checked against an MD5 and renamed into place only
then, extraction goes into a temporary folder renamed into place when complete, and a finished
run is detected and skipped.

The default MD5 :data:`AMOS_ZIP_MD5` comes from a third-party download script and is **unverified**:
if it fails on a download you trust, pass the checksum you trust (``md5=``/``--md5``) or disable the
check (``md5=None``/``--no-verify``).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import re
import shlex
import shutil
import stat
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from tqdm.auto import tqdm

from amos_tutorial.data.release import METADATA_CSV_NAME, RELEASE_DIR_NAME
from amos_tutorial.utils.io import atomic_write_text

__all__ = [
    "ZENODO_RECORD",
    "ZENODO_OLD_RECORD",
    "ZENODO_BASE_URL",
    "AMOS_ZIP_NAME",
    "AMOS_ZIP_MD5",
    "AMOS_ZIP_SIZE_GB",
    "METADATA_CSV_NAME",
    "RELEASE_DIR_NAME",
    "EXTRACTION_FACTOR",
    "COMPLETE_MARKER",
    "DownloadError",
    "ChecksumError",
    "UnsafeArchiveError",
    "file_url",
    "md5sum",
    "download_file",
    "check_zip_members",
    "extract_release",
    "download_amos",
]

ZENODO_RECORD = "7262581"
# Users report that the data of this older record differ from the challenge's: never use it.
ZENODO_OLD_RECORD = "7155725"
ZENODO_BASE_URL = f"https://zenodo.org/records/{ZENODO_RECORD}/files"
AMOS_ZIP_NAME = "amos22.zip"
#: MD5 of ``amos22.zip`` as published by a third-party download script (torch-em): UNVERIFIED.
AMOS_ZIP_MD5 = "67717b2a483ac0744c89c3016b7aaef7"
#: Approximate size of ``amos22.zip`` (22.6 GiB), only used in messages.
AMOS_ZIP_SIZE_GB = 24.2
#: Room the extracted release takes, relative to the zip size. The NIfTI files inside are already
#: gzip-compressed, so the release takes about as much room as the zip; 20 % is a margin. The
#: free-space check therefore asks for about 2.2 times the zip size (zip + extracted release).
EXTRACTION_FACTOR = 1.2
#: Written inside the release folder before it is renamed into place: its presence means that
#: this tool finished the extraction (a folder unzipped by hand may be incomplete).
COMPLETE_MARKER = ".amos_tutorial_download.json"

_EXTRACT_TMP = f".{RELEASE_DIR_NAME}.extracting"
_CHUNK = 1 << 20
_GB = 1e9
_USER_AGENT = "amos_tutorial-downloader (python urllib)"
# Server-side errors worth retrying: the request may well succeed a little later.
_RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_DRIVE = re.compile(r"^[A-Za-z]:")
_MD5_RE = re.compile(r"^[0-9a-fA-F]{32}$")


class DownloadError(OSError):
    """A download failed (HTTP error, connection lost too often, not enough disk space)."""


class ChecksumError(DownloadError):
    """A downloaded file does not have the expected MD5; the file was renamed ``*.corrupt`` (one kept)."""


class UnsafeArchiveError(ValueError):
    """A zip entry would be written outside the destination folder, or is a symbolic link."""


def _say(message: str) -> None:
    print(message, flush=True)


def _gb(n_bytes: float) -> str:
    return f"{n_bytes / _GB:.1f} GB"


def file_url(name: str, base_url: str = ZENODO_BASE_URL) -> str:
    """URL of one file of the Zenodo record: ``<base_url>/<name>?download=1``.

    Introduced in chapter *Getting the data*. Built on :mod:`urllib.parse`.

    Args:
        name: File name in the record, e.g. ``"amos22.zip"``.
        base_url: Folder URL of the record's files (a local mirror or a test server also works).

    Returns:
        The download URL.

    Raises:
        ValueError: If ``base_url`` is not an ``http://`` or ``https://`` URL (``file://`` and other
            schemes that urllib would accept are refused on purpose).

    Examples:
        >>> file_url("amos22.zip")
        'https://zenodo.org/records/7262581/files/amos22.zip?download=1'
    """
    if not isinstance(name, str) or not name or "/" in name:
        raise ValueError(f"file name must be a plain, non-empty file name, got {name!r}")
    scheme = urllib.parse.urlsplit(str(base_url)).scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"{base_url}: base URL must start with http:// or https://")
    return f"{str(base_url).rstrip('/')}/{urllib.parse.quote(name)}?download=1"


def md5sum(path: str | os.PathLike, progress: bool = False) -> str:
    """MD5 of a file as a lowercase hex string, read in 1 MiB chunks.

    Introduced in chapter *Getting the data*. Built on :mod:`hashlib`.

    Args:
        path: The file.
        progress: Show a tqdm progress bar (hashing the 24 GB zip takes one to two minutes).

    Returns:
        The 32-character hex digest.

    Raises:
        FileNotFoundError: If the file does not exist.

    Examples:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
        >>> _ = p.write_bytes(b"abc")
        >>> md5sum(p)
        '900150983cd24fb0d6963f7d28e17f72'
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file to hash does not exist")
    # usedforsecurity=False: MD5 is an integrity check here, and FIPS-mode Pythons refuse it otherwise.
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh, tqdm(
        total=path.stat().st_size, unit="B", unit_scale=True, unit_divisor=1024,
        desc=f"MD5 {path.name}", disable=not progress, leave=False,
    ) as bar:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()


def _check_md5_arg(md5: str | None) -> str | None:
    if md5 is None:
        return None
    if not isinstance(md5, str) or not _MD5_RE.match(md5):
        raise ValueError(f"MD5 must be 32 hexadecimal characters, got {md5!r}")
    return md5.lower()


def _aside_path(path: Path, suffix: str = ".corrupt") -> Path:
    """``<path><suffix>``: the one place a file that failed its check is kept (a newer one replaces it)."""
    return path.with_name(path.name + suffix)


def _use_kept_corrupt(target: Path, md5: str | None, progress: bool) -> bool:
    """Deal with ``<target>.corrupt`` from an earlier run before downloading again.

    Returns True when the kept file is now accepted (it has the expected MD5, or no check is asked)
    and was renamed onto ``target``. Raises :class:`ChecksumError` when it still does not match:
    downloading ~25 GB again, silently, to very likely get the same bytes would help nobody.
    """
    aside = _aside_path(target)
    if not aside.is_file():
        return False
    if md5 is None:
        _say(f"{aside}: using the file kept by an earlier run (no checksum asked: --no-verify)")
        os.replace(aside, target)
        return True
    recorded = _sidecar_md5(aside)
    actual = recorded or md5sum(aside, progress=progress)
    if actual == md5:
        _say(f"{aside}: the file kept by an earlier run has the expected MD5 {md5}: using it")
        os.replace(aside, target)
        with contextlib.suppress(FileNotFoundError):
            _sidecar(aside).unlink()
        return True
    raise ChecksumError(
        f"{target}: an earlier download failed its MD5 check and is kept as {aside} (MD5 {actual}, expected {md5}); "
        f"not downloading it again. If you trust that file, re-run with --md5 {actual} (or --no-verify); "
        f"to download again, delete {aside} and re-run."
    )


def _sidecar(target: Path) -> Path:
    return target.with_name(target.name + ".md5")


def _sidecar_md5(target: Path) -> str | None:
    """The hash recorded by an earlier verification, if it is newer than the file itself."""
    side = _sidecar(target)
    try:
        if side.stat().st_mtime < target.stat().st_mtime:
            return None
        return side.read_text(encoding="utf-8").split()[0].lower()
    except (OSError, IndexError):
        return None


def _verify(path: Path, target: Path, md5: str, progress: bool) -> None:
    """Check ``path`` (the finished download of ``target``) against ``md5``; move it aside if wrong."""
    _say(f"Checking the MD5 of {target} ...")
    actual = md5sum(path, progress=progress)
    if actual == md5:
        return
    aside = _aside_path(target)
    os.replace(path, aside)  # replaces an older corrupt copy: one is kept, never a pile of them
    atomic_write_text(_sidecar(aside), f"{actual}  {aside.name}\n")  # a rerun need not hash it again
    hint = (
        " The expected value is the default one, published by a third-party script and unverified: if you "
        "trust this download, pass --md5 with the checksum you trust, or --no-verify."
        if md5 == AMOS_ZIP_MD5 else ""
    )
    raise ChecksumError(
        f"{target}: MD5 mismatch: expected {md5}, got {actual}; the file was kept as {aside} and is not used. "
        f"Delete it and re-run to download again.{hint}"
    )


def _total_from_content_range(value: str | None) -> int | None:
    # "bytes 100-199/200" or "bytes */200" (the latter in 416 answers)
    match = re.match(r"^\s*bytes\s+(?:\d+-\d+|\*)/(\d+)\s*$", value or "")
    return int(match.group(1)) if match else None


def _start_from_content_range(value: str | None) -> int | None:
    match = re.match(r"^\s*bytes\s+(\d+)-\d+/", value or "")
    return int(match.group(1)) if match else None


def _check_space(folder: Path, needed: int, what: str) -> None:
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise DownloadError(
            f"{folder}: not enough free disk space: need {_gb(needed)} ({what}), {_gb(free)} free. "
            "Free some space, choose another DEST, or (for the download) pass --no-extract."
        )


_DONE = "done"
_RESTART = "restart"


def _attempt(
    url: str,
    part: Path,
    name: str,
    timeout: float,
    chunk_size: int,
    progress: bool,
    space_needed: Callable[[int, int], None] | None,
) -> str | BaseException:
    """One HTTP request appending to ``part``.

    Returns:
        ``_DONE`` when ``part`` is complete, ``_RESTART`` when it was discarded and the download
        must start again, or the (retryable) error that interrupted it.

    Raises:
        DownloadError: On a final HTTP error, or from ``space_needed``.
    """
    have = part.stat().st_size if part.is_file() else 0
    headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)  # noqa: S310
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and have:
            total = _total_from_content_range(exc.headers.get("Content-Range"))
            if total is None or total == have:
                _say(f"{part}: already complete")
                return _DONE
            # The part file is larger than the remote file: it belongs to something else.
            _say(f"{part}: larger than the file on the server ({have} > {total} bytes), restarting")
            part.unlink()
            return _RESTART
        if exc.code in _RETRY_STATUS:
            return exc
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason} (while downloading {name})") from None
    except (OSError, http.client.HTTPException) as exc:
        return exc

    with response:
        start, total = 0, None
        content_range = response.headers.get("Content-Range")
        if response.status == 206:
            start = _start_from_content_range(content_range) or 0
            total = _total_from_content_range(content_range)
            if start != have:
                _say(f"{part}: server resumed at byte {start} instead of {have}, restarting")
                part.unlink()
                return _RESTART
        elif response.status == 200:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            if have:
                _say(f"{part}: server ignored the resume request, restarting from zero")
        else:
            raise DownloadError(
                f"{url}: unexpected HTTP {response.status} {response.reason} (while downloading {name})"
            )
        if space_needed is not None:
            if total is None:
                _say(f"{url}: server did not give the file size, skipping the free-space check")
            else:
                space_needed(total, start)
        # read1 returns what has arrived so far: read(n) would wait for n bytes and lose them all
        # when the connection is cut or times out in between.
        read = getattr(response, "read1", response.read)
        received = 0
        error: BaseException | None = None
        with open(part, "ab" if start else "wb") as fh, tqdm(
            total=total, initial=start, unit="B", unit_scale=True, unit_divisor=1024, desc=name, disable=not progress,
        ) as bar:
            while True:
                try:
                    chunk = read(chunk_size)
                except (OSError, http.client.HTTPException) as exc:
                    error = exc
                    break
                if not chunk:
                    break
                try:
                    fh.write(chunk)
                except OSError as exc:  # a full disk: say which file, and that a rerun resumes
                    raise DownloadError(
                        f"{part}: cannot write ({exc.strerror or exc}) after {start + received} bytes; "
                        "free some space (or choose another DEST) and re-run to resume"
                    ) from exc
                received += len(chunk)
                bar.update(len(chunk))
    if error is not None:
        return error
    # http.client returns b"" (no error) when a connection with a Content-Length is closed early,
    # so completeness is checked against the announced size.
    if total is not None and start + received < total:
        return ConnectionError(f"connection closed after {start + received} of {total} bytes")
    return _DONE


def download_file(
    url: str,
    target: str | os.PathLike,
    md5: str | None = None,
    timeout: float = 60.0,
    retries: int = 10,
    retry_wait: float = 2.0,
    progress: bool = True,
    check_space: bool = True,
    extra_space_ratio: float = 0.0,
    chunk_size: int = _CHUNK,
) -> Path:
    """Download ``url`` to ``target``: streaming, resumable, verified, renamed into place at the end.

    Introduced in chapter *Getting the data*. Built on :mod:`urllib.request`, :mod:`hashlib` and ``tqdm``.

    Bytes go to ``<target>.part``. A partial file left by an earlier run or by a cut connection is
    continued with an HTTP ``Range`` request; a server that ignores ``Range`` (answers 200) makes the
    download restart from zero, and a 416 answer means the part file is already complete. Only a
    complete file that passes the MD5 check is renamed onto ``target``; a file that fails is renamed
    ``<target>.corrupt`` (replacing an older one) and a :class:`ChecksumError` is raised. A rerun
    does not download again while ``<target>.corrupt`` exists: it uses that file if it now matches
    (another ``md5``, or ``md5=None``), and otherwise stops with a :class:`ChecksumError` that says
    how to go on. An existing ``target`` is not downloaded again: it is verified (unless
    ``<target>.md5`` already records the expected hash).

    Args:
        url: ``http(s)://`` URL of the file.
        target: Final path of the file.
        md5: Expected MD5 (32 hex characters) or None for no check.
        timeout: Seconds without any data before a connection counts as cut.
        retries: How many times in all a cut connection or a 408/429/5xx answer is retried (each
            retry resumes where the previous one stopped); then a :class:`DownloadError` is raised
            and re-running resumes again.
        retry_wait: Seconds before the first retry; doubled at each retry (at most 60 s).
        progress: Show tqdm progress bars.
        check_space: Before the transfer, check that the folder has room for the rest of the file
            (from ``Content-Length``) plus ``extra_space_ratio`` times the file size.
        extra_space_ratio: Room needed beyond the file itself, relative to its size (for example
            :data:`EXTRACTION_FACTOR` when the file will be extracted beside itself).
        chunk_size: Bytes read at a time.

    Returns:
        ``target`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: If an argument is invalid.
        DownloadError: On an HTTP error (message: the URL, the status and the reason), on too many
            cut connections, or when the disk is too small.
        ChecksumError: If the file does not have the expected MD5.

    Examples:
        >>> download_file(file_url("labeled_data_meta_0000_0599.csv"), "/data/meta.csv")  # doctest: +SKIP
        PosixPath('/data/meta.csv')
    """
    md5 = _check_md5_arg(md5)
    if urllib.parse.urlsplit(str(url)).scheme.lower() not in ("http", "https"):
        raise ValueError(f"{url}: URL must start with http:// or https://")
    if timeout <= 0 or retries < 0 or retry_wait < 0 or chunk_size <= 0 or extra_space_ratio < 0:
        raise ValueError(
            "timeout and chunk_size must be positive; retries, retry_wait and extra_space_ratio non-negative, "
            f"got timeout={timeout}, retries={retries}, retry_wait={retry_wait}, chunk_size={chunk_size}, "
            f"extra_space_ratio={extra_space_ratio}"
        )
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)

    if target.is_file():
        if md5 is not None and _sidecar_md5(target) != md5:
            _verify(target, target, md5, progress)
            atomic_write_text(_sidecar(target), f"{md5}  {target.name}\n")
        _say(f"{target}: already downloaded, not downloading again")
        return target

    part = target.with_name(target.name + ".part")
    if not part.exists() and _use_kept_corrupt(target, md5, progress):
        if md5 is not None:
            atomic_write_text(_sidecar(target), f"{md5}  {target.name}\n")
        return target
    space_checked = not check_space

    def space_needed(total: int, start: int) -> None:
        nonlocal space_checked
        what = f"{_gb(total - start)} download"
        if extra_space_ratio:
            what += f" + {_gb(extra_space_ratio * total)} extraction"
        _check_space(target.parent, (total - start) + int(extra_space_ratio * total), what)
        space_checked = True  # once is enough: a retry needs less room than the first attempt

    failures = 0
    while True:
        outcome = _attempt(
            url, part, target.name, timeout, chunk_size, progress, None if space_checked else space_needed
        )
        if outcome == _DONE:
            break
        if outcome == _RESTART:  # the part file was discarded: start again, not a failure
            continue
        failures += 1
        if failures > retries:
            have = part.stat().st_size if part.is_file() else 0
            kept = f"{have} bytes kept in {part}: re-run to resume" if have else "re-run to try again"
            raise DownloadError(
                f"{url}: download failed after {retries} retries ({type(outcome).__name__}: {outcome}); {kept}"
            )
        wait = min(retry_wait * 2 ** (failures - 1), 60.0)
        _say(f"{url}: {type(outcome).__name__}: {outcome}; retry {failures}/{retries} in {wait:.0f} s")
        time.sleep(wait)

    if md5 is not None:
        _verify(part, target, md5, progress)
    os.replace(part, target)
    if md5 is not None:
        atomic_write_text(_sidecar(target), f"{md5}  {target.name}\n")
    return target


def _member_problem(info: zipfile.ZipInfo) -> str | None:
    """Why this zip entry must not be extracted, or None when it is safe."""
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
        problem = _member_problem(info)
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
        _say(f"{tmp}: removing an interrupted extraction, starting again")
        shutil.rmtree(tmp)
    if check_space:
        _check_space(dest, total, f"{_gb(total)} extracted release")
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
                        shutil.copyfileobj(src, dst, _CHUNK)
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


def download_amos(
    dest: str | os.PathLike,
    md5: str | None = AMOS_ZIP_MD5,
    base_url: str = ZENODO_BASE_URL,
    extract: bool = True,
    keep_zip: bool = True,
    metadata: bool = True,
    check_space: bool = True,
    timeout: float = 60.0,
    retries: int = 10,
    retry_wait: float = 2.0,
    progress: bool = True,
) -> Path:
    """Download the AMOS 2022 release (Zenodo record 7262581) into ``dest`` and extract it.

    Introduced in chapter *Getting the data*. Built on the standard library (:mod:`urllib.request`,
    :mod:`hashlib`, :mod:`zipfile`, :mod:`shutil`) and ``tqdm``; see :func:`download_file` and
    :func:`extract_release` for the details of resuming, verification and safe extraction.

    Steps: the metadata CSV goes to ``dest/labeled_data_meta_0000_0599.csv``; ``amos22.zip``
    (about 24.2 GB) is downloaded (after a free-space check: about 2.2 times the zip size when
    extracting), checked against ``md5`` and extracted to ``dest/amos22``. Every step that is already
    done is skipped, so re-running after an interruption continues where it stopped and re-running
    after success makes no request at all. The older Zenodo record 7155725 holds different data
    and is not used.

    Args:
        dest: Download folder (created if needed).
        md5: Expected MD5 of the zip; the default :data:`AMOS_ZIP_MD5` is from a third-party script
            and unverified. None disables the check.
        base_url: Folder URL of the record's files (a mirror, or a local test server).
        extract: Extract the zip; if False, stop after the (verified) download.
        keep_zip: Keep ``amos22.zip`` after a successful extraction (False deletes it and its ``.md5``).
        metadata: Also download the metadata CSV.
        check_space: Check free disk space before downloading and before extracting.
        timeout: Seconds without data before a connection counts as cut.
        retries: Retries of a cut connection or a 408/429/5xx answer, per file.
        retry_wait: Seconds before the first retry (doubled each time, at most 60 s).
        progress: Show tqdm progress bars.

    Returns:
        The dataset root ``dest/amos22``; with ``extract=False``, the path of the zip.

    Raises:
        ValueError: On an invalid argument or an unreadable zip.
        UnsafeArchiveError: If the zip contains an entry escaping ``dest`` or a symbolic link.
        DownloadError: On HTTP errors, too many cut connections or a too small disk.
        ChecksumError: If the zip's MD5 differs (it is renamed ``amos22.zip.corrupt``).
        FileExistsError: If ``dest/amos22`` exists but was not completed by this tool.

    Examples:
        >>> root = download_amos("/data/amos")  # doctest: +SKIP
        >>> root  # doctest: +SKIP
        PosixPath('/data/amos/amos22')
    """
    md5 = _check_md5_arg(md5)
    file_url(AMOS_ZIP_NAME, base_url)  # validates base_url before anything touches the disk
    dest = Path(dest).expanduser()
    if dest.exists() and not dest.is_dir():
        raise ValueError(f"{dest}: download destination exists and is not a folder")
    dest.mkdir(parents=True, exist_ok=True)
    root = dest / RELEASE_DIR_NAME
    zip_path = dest / AMOS_ZIP_NAME
    options = dict(timeout=timeout, retries=retries, retry_wait=retry_wait, progress=progress)

    if metadata:
        csv_path = dest / METADATA_CSV_NAME
        if csv_path.is_file():
            _say(f"{csv_path}: already downloaded")
        else:
            download_file(file_url(METADATA_CSV_NAME, base_url), csv_path, md5=None, check_space=check_space, **options)

    if extract and root.exists() and not (root / COMPLETE_MARKER).is_file():
        # Checked before a 24 GB download rather than after it.
        raise FileExistsError(
            f"{root}: folder exists but was not completely extracted by 'amos data download'; "
            "move it away (or delete it) and re-run"
        )
    if extract and (root / COMPLETE_MARKER).is_file():
        _say(f"{root}: already downloaded and extracted, nothing to do")
    else:
        download_file(
            file_url(AMOS_ZIP_NAME, base_url), zip_path, md5=md5, check_space=check_space,
            extra_space_ratio=EXTRACTION_FACTOR if extract else 0.0, **options,
        )
        if not extract:
            _say(f"{zip_path}: downloaded (not extracted)")
            return zip_path
        _say(f"Extracting {zip_path} into {root} ...")
        extract_release(zip_path, dest, progress=progress, check_space=check_space)
        if not keep_zip:
            zip_path.unlink()
            with contextlib.suppress(FileNotFoundError):
                _sidecar(zip_path).unlink()
    _say(f"AMOS 2022 release ready in {root}\nCheck it with:  amos data validate --data {shlex.quote(str(root))}")
    return root
