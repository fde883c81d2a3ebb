"""A release server for the download tests: a real HTTP server on 127.0.0.1 (no internet), in a thread.

It serves a small stand-in for ``amos22.zip`` and the metadata CSV, supports ``Range`` requests and can be told
to cut the connection, stall, ignore ``Range`` or answer with an error, per file. A test module that needs it
imports the ``server`` fixture (``from _release_server import server``).
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import re
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from amos_tutorial.data import download as dl

#: Quick transfers: a short timeout, no wait between retries, no progress bar.
FAST = dict(timeout=5.0, retry_wait=0.0, progress=False)


def make_release_zip(seed: int = 0, extra: dict[str, bytes] | None = None) -> bytes:
    """A small stand-in for amos22.zip: a few files in amos22/ with a dataset.json."""
    rng = random.Random(seed)
    files = {
        "amos22/dataset.json": json.dumps(
            {
                "training": [{"image": "./imagesTr/amos_0001.nii.gz", "label": "./labelsTr/amos_0001.nii.gz"}],
                "validation": [],
                "test": [{"image": "./imagesTs/amos_0002.nii.gz"}],
                "numTraining": 1,
            }
        ).encode(),
        "amos22/readme.md": b"test release\n",
        # Random (incompressible) bytes so that the zip is large enough to be cut in the middle.
        "amos22/imagesTr/amos_0001.nii.gz": rng.randbytes(40_000),
        "amos22/labelsTr/amos_0001.nii.gz": rng.randbytes(20_000),
        "amos22/imagesTs/amos_0002.nii.gz": rng.randbytes(30_000),
    }
    files.update(extra or {})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("amos22/", b"")
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def zip_with_entry(info: zipfile.ZipInfo, data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("amos22/dataset.json", b"{}")
        zf.writestr(info, data)
    return buf.getvalue()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


CSV = (
    "amos_id,Patient's Birth Date,Patient's Sex,Patient's Age,Manufacturer's Model Name,Manufacturer,"
    "Acquisition Date,Site\n1,19600101,M,061Y,Optima CT660,GE,20200101,A\n"
).encode()


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_HEAD(self):
        self._serve(head=True)

    def do_GET(self):
        self._serve(head=False)

    def _serve(self, head: bool) -> None:
        srv = self.server
        name = urlsplit(self.path).path.rsplit("/", 1)[-1]
        rng = self.headers.get("Range")
        with srv.lock:
            index = sum(1 for r in srv.log if r[0] == "GET" and r[1] == name)
            srv.log.append((self.command, name, rng))
        if name in srv.status:
            self.send_error(srv.status[name])
            return
        if name not in srv.files:
            self.send_error(404)
            return
        if srv.hang_from.get(name) is not None and index >= srv.hang_from[name]:
            time.sleep(20)  # a transfer that never comes: the client is killed meanwhile
            return
        data = srv.files[name]
        start, end = 0, len(data)
        if rng and not srv.ignore_range:
            first, last = re.fullmatch(r"bytes=(\d*)-(\d*)", rng).groups()
            if first:
                start, end = int(first), min(len(data), int(last) + 1 if last else len(data))
            else:  # a suffix range: the last N bytes
                start = max(0, len(data) - int(last))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
        else:
            self.send_response(200)
        if name in srv.etag:
            self.send_header("ETag", srv.etag[name])
        self.send_header("Content-Length", str(end - start))
        self.end_headers()
        if head:
            return
        body = data[start:end]
        cut = srv.cut.get(name)  # (first n GET requests are cut, after this many bytes)
        with srv.lock:
            srv.sent[name] = srv.sent.get(name, 0) + len(body[: cut[1]] if cut and index < cut[0] else body)
        if cut and index < cut[0]:
            self.wfile.write(body[: cut[1]])
            self.wfile.flush()
            if srv.stall:
                time.sleep(srv.stall)
            self.close_connection = True
            return
        self.wfile.write(body)


class Server:
    """Handle on the running test server: files, behaviours and the request log."""

    def __init__(self, httpd: ThreadingHTTPServer):
        object.__setattr__(self, "httpd", httpd)
        object.__setattr__(self, "base_url", f"http://127.0.0.1:{httpd.server_address[1]}/records/1/files")

    def __getattr__(self, item):
        return getattr(self.httpd, item)

    def __setattr__(self, item, value):
        # Behaviours are read by the handler from the server object itself.
        setattr(self.httpd, item, value)

    def gets(self, name: str) -> list[tuple[str, str, str | None]]:
        return [r for r in self.httpd.log if r[0] == "GET" and r[1] == name]


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.lock = threading.Lock()
    httpd.log = []
    httpd.status = {}
    httpd.cut = {}
    httpd.stall = 0.0
    httpd.ignore_range = False
    httpd.etag = {}
    httpd.hang_from = {}  # file name -> index of the first GET that hangs
    httpd.sent = {}  # body bytes written per file name
    zip_bytes = make_release_zip()
    httpd.files = {dl.AMOS_ZIP_NAME: zip_bytes, dl.METADATA_CSV_NAME: CSV}
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Server(httpd)
    finally:
        httpd.shutdown()
        httpd.server_close()
