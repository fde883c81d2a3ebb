"""One file over HTTP, made safe for a 24 GB download: resume, retries, MD5 check, free-space check.

Introduced in chapter *Getting the data*. Built on the standard library (:mod:`urllib.request` for HTTP,
:mod:`hashlib` for the checksum) and ``tqdm`` for the progress bars. Bytes go to ``NAME.part`` and a cut
connection is resumed with an HTTP ``Range`` request (also by re-running); the finished file is checked against
an MD5 and renamed into place only then. :mod:`amos_tutorial.data.download` uses it for the AMOS release.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import re
import shutil
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tqdm.auto import tqdm

from amos_tutorial.data.release import AMOS_ZIP_MD5
from amos_tutorial.utils.io import atomic_write_text

__all__ = [
    "CHUNK_BYTES",
    "ChecksumError",
    "DownloadError",
    "TransferOptions",
    "check_md5",
    "download_file",
    "ensure_free_space",
    "format_gb",
    "md5_sidecar",
    "md5sum",
    "say",
]

#: Bytes read or written at a time.
CHUNK_BYTES = 1 << 20
_GB = 1e9
_USER_AGENT = "amos_tutorial-downloader (python urllib)"
# Server-side errors worth retrying: the request may well succeed a little later.
_RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_MD5_RE = re.compile(r"^[0-9a-fA-F]{32}$")


@dataclass(frozen=True)
class TransferOptions:
    """How patiently a download talks to the server, and whether it shows progress.

    Introduced in chapter *Getting the data*. Shared by :func:`amos_tutorial.data.download.download_amos` and
    :func:`amos_tutorial.data.partial.download_cases`.

    Attributes:
        timeout: Seconds without data before a connection counts as cut.
        retries: Retries of a cut transfer (``download_amos``: also of a 408/429/5xx answer, per file;
            ``download_cases``: per member, in this run, default 3).
        retry_wait: Seconds before the first retry (``download_amos`` doubles it each time, at most 60 s).
        progress: Show tqdm progress bars.
    """

    timeout: float = 60.0
    retries: int = 10
    retry_wait: float = 2.0
    progress: bool = True


class DownloadError(OSError):
    """A download failed (HTTP error, connection lost too often, not enough disk space)."""


class ChecksumError(DownloadError):
    """A downloaded file does not have the expected MD5; the file was renamed ``*.corrupt`` (one kept)."""



def say(message: str) -> None:
    """Print one progress line at once (flushed, so that it shows in notebooks and logs)."""
    print(message, flush=True)


def format_gb(n_bytes: float) -> str:
    """Bytes as decimal gigabytes with one decimal (``"24.2 GB"``)."""
    return f"{n_bytes / _GB:.1f} GB"



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
        while chunk := fh.read(CHUNK_BYTES):
            digest.update(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()


def check_md5(md5: str | None) -> str | None:
    """An expected MD5, checked and in lower case; None (no check) stays None.

    Args:
        md5: 32 hexadecimal characters, or None.

    Returns:
        The lower-case checksum, or None.

    Raises:
        ValueError: If ``md5`` is not 32 hexadecimal characters.
    """
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
        say(f"{aside}: using the file kept by an earlier run (no checksum asked: --no-verify)")
        os.replace(aside, target)
        return True
    recorded = _sidecar_md5(aside)
    actual = recorded or md5sum(aside, progress=progress)
    if actual == md5:
        say(f"{aside}: the file kept by an earlier run has the expected MD5 {md5}: using it")
        os.replace(aside, target)
        with contextlib.suppress(FileNotFoundError):
            md5_sidecar(aside).unlink()
        return True
    raise ChecksumError(
        f"{target}: an earlier download failed its MD5 check and is kept as {aside} (MD5 {actual}, expected {md5}); "
        f"not downloading it again. If you trust that file, re-run with --md5 {actual} (or --no-verify); "
        f"to download again, delete {aside} and re-run."
    )


def md5_sidecar(target: Path) -> Path:
    """The ``<target>.md5`` file that records a verified checksum (``md5sum -c`` format)."""
    return target.with_name(target.name + ".md5")


def _sidecar_md5(target: Path) -> str | None:
    """The hash recorded by an earlier verification, if it is newer than the file itself."""
    side = md5_sidecar(target)
    try:
        if side.stat().st_mtime < target.stat().st_mtime:
            return None
        return side.read_text(encoding="utf-8").split()[0].lower()
    except (OSError, IndexError):
        return None


def _verify(path: Path, target: Path, md5: str, progress: bool) -> None:
    """Check ``path`` (the finished download of ``target``) against ``md5``; move it aside if wrong."""
    say(f"Checking the MD5 of {target} ...")
    actual = md5sum(path, progress=progress)
    if actual == md5:
        return
    aside = _aside_path(target)
    os.replace(path, aside)  # replaces an older corrupt copy: one is kept, never a pile of them
    atomic_write_text(md5_sidecar(aside), f"{actual}  {aside.name}\n")  # a rerun need not hash it again
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


def ensure_free_space(folder: Path, needed: int, what: str) -> None:
    """Raise unless ``folder``'s disk has ``needed`` bytes free.

    Args:
        folder: An existing folder on the disk to check.
        needed: Bytes needed.
        what: What the bytes are for, for the message.

    Raises:
        DownloadError: Naming the folder, the bytes needed and free.
    """
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise DownloadError(
            f"{folder}: not enough free disk space: need {format_gb(needed)} ({what}), {format_gb(free)} free. "
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
                say(f"{part}: already complete")
                return _DONE
            # The part file is larger than the remote file: it belongs to something else.
            say(f"{part}: larger than the file on the server ({have} > {total} bytes), restarting")
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
                say(f"{part}: server resumed at byte {start} instead of {have}, restarting")
                part.unlink()
                return _RESTART
        elif response.status == 200:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            if have:
                say(f"{part}: server ignored the resume request, restarting from zero")
        else:
            raise DownloadError(
                f"{url}: unexpected HTTP {response.status} {response.reason} (while downloading {name})"
            )
        if space_needed is not None:
            if total is None:
                say(f"{url}: server did not give the file size, skipping the free-space check")
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
    chunk_size: int = CHUNK_BYTES,
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
    md5 = check_md5(md5)
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
            atomic_write_text(md5_sidecar(target), f"{md5}  {target.name}\n")
        say(f"{target}: already downloaded, not downloading again")
        return target

    part = target.with_name(target.name + ".part")
    if not part.exists() and _use_kept_corrupt(target, md5, progress):
        if md5 is not None:
            atomic_write_text(md5_sidecar(target), f"{md5}  {target.name}\n")
        return target
    space_checked = not check_space

    def space_needed(total: int, start: int) -> None:
        nonlocal space_checked
        what = f"{format_gb(total - start)} download"
        if extra_space_ratio:
            what += f" + {format_gb(extra_space_ratio * total)} extraction"
        ensure_free_space(target.parent, (total - start) + int(extra_space_ratio * total), what)
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
        say(f"{url}: {type(outcome).__name__}: {outcome}; retry {failures}/{retries} in {wait:.0f} s")
        time.sleep(wait)

    if md5 is not None:
        _verify(part, target, md5, progress)
    os.replace(part, target)
    if md5 is not None:
        atomic_write_text(md5_sidecar(target), f"{md5}  {target.name}\n")
    return target
