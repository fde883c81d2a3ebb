"""Tests of ``amos_tutorial.data.extract``: the release zip checked entry by entry, then extracted safely."""

from __future__ import annotations

import io
import stat
import zipfile

import pytest
from _release_server import make_release_zip

from amos_tutorial.data import extract


def test_check_zip_members_accepts_release(tmp_path):
    path = tmp_path / "r.zip"
    path.write_bytes(make_release_zip(seed=1))
    names = [i.filename for i in extract.check_zip_members(path)]
    assert "amos22/dataset.json" in names
    assert len(names) == 6


def test_broken_deflate_stream_in_the_full_zip_names_the_member(tmp_path):
    data = bytearray(make_release_zip())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = zf.getinfo("amos22/imagesTr/amos_0001.nii.gz")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for offset in range(start + 10, start + info.compress_size - 10, 97):
        data[offset] ^= 0xFF
    zip_path = tmp_path / "amos22.zip"
    zip_path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="corrupt zip file.*member 'amos22/imagesTr/amos_0001.nii.gz'") as exc:
        extract.extract_release(zip_path, tmp_path / "out", progress=False)
    assert "\n" not in str(exc.value)
    assert not (tmp_path / "out" / "amos22").exists()


@pytest.mark.parametrize(
    ("name", "mode", "problem"),
    [
        ("amos22/imagesTr/amos_0001.nii.gz", 0o644, None),
        ("/etc/passwd", 0o644, "absolute"),
        ("amos22/../../x", 0o644, ".."),
        ("C:/x", 0o644, "absolute"),  # a drive letter
        ("amos22/link", stat.S_IFLNK | 0o777, "symbolic link"),
    ],
)
def test_member_problem_names_what_is_unsafe(name, mode, problem):
    info = zipfile.ZipInfo(name)
    info.external_attr = mode << 16
    found = extract.member_problem(info)
    assert found is None if problem is None else problem in found


def test_an_unsafe_entry_stops_the_extraction_before_anything_is_written(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("amos22/dataset.json", b"{}")
        zf.writestr("amos22/../../escape.txt", b"x")
    (tmp_path / "amos22.zip").write_bytes(buf.getvalue())
    with pytest.raises(extract.UnsafeArchiveError, match="escape.txt"):
        extract.extract_release(tmp_path / "amos22.zip", tmp_path / "out", progress=False)
    assert not (tmp_path / "out" / "amos22").exists()
    assert not list(tmp_path.rglob("escape.txt"))
