"""A local stand-in for the Zenodo record: a release folder zipped and served on 127.0.0.1.

Introduced in chapter *Getting the data*, which shows the partial download (``amos data download
--cases``) against it without touching the internet. Built on :mod:`zipfile` and :mod:`http.server`
(a ``ThreadingHTTPServer`` in a daemon thread). The server answers ``GET`` and ``HEAD`` for the files of
one folder, honours ``Range`` requests (``bytes=A-B``, ``bytes=A-``, ``bytes=-N``) unless told not to,
sends an ``ETag`` and counts the bytes it sends, so a page can show what a download really fetched.

Examples:
    >>> with LocalRecord("/data/small_copy/amos22") as record:  # doctest: +SKIP
    ...     print(record.base_url, record.zip_bytes)
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from amos_tutorial.data.release import METADATA_CSV_NAME, RELEASE_DIR_NAME
from amos_tutorial.utils.io import atomic_path

__all__ = ["LocalRecord", "folder_bytes", "zip_release"]

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def folder_bytes(folder: str | os.PathLike) -> int:
    """Bytes of every file under ``folder`` (0 when it does not exist)."""
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def zip_release(root: str | os.PathLike, zip_path: str | os.PathLike) -> Path:
    """Zip a release folder the way ``amos22.zip`` is made: every file under ``amos22/``, deflated.

    Args:
        root: The release folder (holding ``dataset.json``).
        zip_path: The zip to write (atomically).

    Returns:
        ``zip_path``.

    Raises:
        FileNotFoundError: If ``root`` has no ``dataset.json``.
    """
    root = Path(root)
    if not (root / "dataset.json").is_file():
        raise FileNotFoundError(f"{root}: no dataset.json: not a release folder")
    with atomic_path(zip_path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                zf.write(path, f"{RELEASE_DIR_NAME}/{path.relative_to(root).as_posix()}")
    return Path(zip_path)


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # a page must not print the access log
        pass

    def do_HEAD(self) -> None:  # noqa: N802 (http.server's spelling)
        self._serve(head=True)

    def do_GET(self) -> None:  # noqa: N802
        self._serve(head=False)

    def _serve(self, head: bool) -> None:
        record: LocalRecord = self.server.record  # type: ignore[attr-defined]
        path = record.folder / unquote(urlsplit(self.path).path).rsplit("/", 1)[-1]
        if not path.is_file():
            self.send_error(404)
            return
        size = path.stat().st_size
        start, end = 0, size
        match = _RANGE.match(self.headers.get("Range", "")) if record.range_requests else None
        if match and (match.group(1) or match.group(2)):
            first, last = match.groups()
            if first:
                start, end = int(first), min(size, int(last) + 1 if last else size)
            else:
                start = max(0, size - int(last))
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        else:
            self.send_response(200)
        stat = path.stat()
        self.send_header("ETag", f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"')
        self.send_header("Content-Length", str(end - start))
        self.end_headers()
        if head:
            return
        with open(path, "rb") as fh:
            fh.seek(start)
            left = end - start
            while left > 0:
                chunk = fh.read(min(left, 1 << 20))
                if not chunk:
                    break
                try:
                    self.wfile.write(chunk)
                except (BrokenPipeError, ConnectionResetError):  # the client stopped reading (a probe)
                    return
                left -= len(chunk)
                record._count(path.name, len(chunk))


class LocalRecord:
    """``amos22.zip`` (and the metadata CSV) of a release folder, served on ``http://127.0.0.1:<port>``.

    Introduced in chapter *Getting the data*. Use it as a context manager (the server stops and the
    temporary zip is deleted at the end) or call :meth:`close`.

    Args:
        root: A (small) release folder: the synthetic set, a pack, a partial download.
        range_requests: Honour ``Range`` requests; False answers every request with the whole file,
            like a server without range support.

    Attributes:
        base_url: The folder URL to pass as ``--base-url``.
        folder: Where the served files are.
        zip_bytes: Size of the served ``amos22.zip``.
        range_requests: Can be switched at any time.
    """

    def __init__(self, root: str | os.PathLike, range_requests: bool = True):
        root = Path(root)
        self._tmp = tempfile.TemporaryDirectory(prefix="amos_record_")
        self.folder = Path(self._tmp.name)
        zip_release(root, self.folder / "amos22.zip")
        csv = root / METADATA_CSV_NAME if (root / METADATA_CSV_NAME).is_file() else root.parent / METADATA_CSV_NAME
        if csv.is_file():
            shutil.copyfile(csv, self.folder / METADATA_CSV_NAME)
        self.zip_bytes = (self.folder / "amos22.zip").stat().st_size
        self.range_requests = bool(range_requests)
        self._sent: dict[str, int] = {}
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.record = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}/records/local/files"

    def _count(self, name: str, n: int) -> None:
        with self._lock:
            self._sent[name] = self._sent.get(name, 0) + n

    def sent_bytes(self, name: str = "amos22.zip") -> int:
        """Bytes of ``name`` sent so far."""
        with self._lock:
            return self._sent.get(name, 0)

    def reset(self) -> None:
        """Set the byte counters back to zero."""
        with self._lock:
            self._sent.clear()

    def close(self) -> None:
        """Stop the server and delete the zip."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._tmp.cleanup()

    def __enter__(self) -> "LocalRecord":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
