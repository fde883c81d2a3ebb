"""Tests of ``amos_tutorial.data.fetch``: one file over HTTP, resumed with ``Range`` and checked by its MD5.

Against the real HTTP server of ``_release_server`` on 127.0.0.1 (no internet).
"""

from __future__ import annotations

import pytest
from _release_server import FAST, md5, server  # noqa: F401 - server is a fixture

from amos_tutorial.data import download as dl
from amos_tutorial.data import fetch


def test_resume_after_stalled_connection_times_out(server, tmp_path):
    zip_bytes = server.files[dl.AMOS_ZIP_NAME]
    server.cut[dl.AMOS_ZIP_NAME] = (1, 1000)
    server.stall = 2.0
    out = fetch.download_file(
        dl.file_url(dl.AMOS_ZIP_NAME, server.base_url), tmp_path / "a.zip", md5=md5(zip_bytes),
        timeout=0.3, retry_wait=0.0, progress=False,
    )
    assert out.read_bytes() == zip_bytes
    assert [g[2] for g in server.gets(dl.AMOS_ZIP_NAME)] == [None, "bytes=1000-"]


def test_rerun_resumes_partial_file_left_by_earlier_run(server, tmp_path):
    zip_bytes = server.files[dl.AMOS_ZIP_NAME]
    server.cut[dl.AMOS_ZIP_NAME] = (99, 5000)  # every request is cut: retries run out
    url = dl.file_url(dl.AMOS_ZIP_NAME, server.base_url)
    with pytest.raises(fetch.DownloadError, match="re-run to resume") as err:
        fetch.download_file(url, tmp_path / "a.zip", md5=md5(zip_bytes), retries=1, **FAST)
    assert str(err.value).startswith(url)
    part = tmp_path / "a.zip.part"
    assert part.stat().st_size == 10_000
    assert not (tmp_path / "a.zip").exists()
    server.cut.clear()
    out = fetch.download_file(url, tmp_path / "a.zip", md5=md5(zip_bytes), **FAST)
    assert out.read_bytes() == zip_bytes
    assert not part.exists()
    assert server.gets(dl.AMOS_ZIP_NAME)[-1][2] == "bytes=10000-"


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    zip_bytes = server.files[dl.AMOS_ZIP_NAME]
    server.ignore_range = True
    (tmp_path / "a.zip.part").write_bytes(b"x" * 777)  # must not end up in the file
    out = fetch.download_file(
        dl.file_url(dl.AMOS_ZIP_NAME, server.base_url), tmp_path / "a.zip", md5=md5(zip_bytes), **FAST
    )
    assert server.gets(dl.AMOS_ZIP_NAME)[0][2] == "bytes=777-"
    assert out.read_bytes() == zip_bytes


def test_416_means_partial_file_is_complete(server, tmp_path):
    zip_bytes = server.files[dl.AMOS_ZIP_NAME]
    (tmp_path / "a.zip.part").write_bytes(zip_bytes)
    out = fetch.download_file(
        dl.file_url(dl.AMOS_ZIP_NAME, server.base_url), tmp_path / "a.zip", md5=md5(zip_bytes), **FAST
    )
    assert [g[2] for g in server.gets(dl.AMOS_ZIP_NAME)] == [f"bytes={len(zip_bytes)}-"]
    assert out.read_bytes() == zip_bytes
    assert not (tmp_path / "a.zip.part").exists()
