"""Tests of ``amos_tutorial.data.download`` (the whole release, or a few cases of it) against a real HTTP server.

The server of ``_release_server`` runs on 127.0.0.1 (no internet); one file's transfer is tested in
``test_fetch.py``, the extraction in ``test_extract.py``.
"""

from __future__ import annotations

import io
import json
import shutil
import stat
import time
import zipfile
from pathlib import Path

import pytest
from _release_server import CSV, FAST, md5, server, zip_with_entry  # noqa: F401 - server: fixture

from amos_tutorial.data import download as dl


def test_full_download_and_extraction(server, tmp_path, capsys):
    zip_bytes = server.files[dl.AMOS_ZIP_NAME]
    dest = tmp_path / "dest"
    root = dl.download_amos(dest, md5=md5(zip_bytes), base_url=server.base_url, **FAST)
    assert root == dest / "amos22"
    assert json.loads((root / "dataset.json").read_text())["numTraining"] == 1
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as zf:
        for info in zf.infolist():
            if not info.is_dir():
                assert (dest / info.filename).read_bytes() == zf.read(info)
    assert (dest / dl.METADATA_CSV_NAME).read_bytes() == CSV
    assert (dest / dl.AMOS_ZIP_NAME).read_bytes() == zip_bytes
    assert (dest / "amos22.zip.md5").read_text().split()[0] == md5(zip_bytes)
    assert (root / dl.COMPLETE_MARKER).is_file()
    leftovers = [p.name for p in dest.iterdir() if p.name.startswith(".") or p.suffix in (".part", ".corrupt")]
    assert leftovers == []
    assert f"amos data validate --data {root}" in capsys.readouterr().out
    # The query string Zenodo needs is sent.
    assert all(r[1] in (dl.AMOS_ZIP_NAME, dl.METADATA_CSV_NAME) for r in server.log)


def test_resume_after_cut_connection(server, tmp_path):
    zip_bytes = server.files[dl.AMOS_ZIP_NAME]
    cut_at = len(zip_bytes) // 3
    server.cut[dl.AMOS_ZIP_NAME] = (1, cut_at)
    root = dl.download_amos(tmp_path, md5=md5(zip_bytes), base_url=server.base_url, **FAST)
    gets = server.gets(dl.AMOS_ZIP_NAME)
    assert len(gets) == 2
    assert gets[0][2] is None
    assert gets[1][2] == f"bytes={cut_at}-"
    assert (tmp_path / dl.AMOS_ZIP_NAME).read_bytes() == zip_bytes
    assert (root / "dataset.json").is_file()


def test_corrupted_bytes_fail_checksum_and_nothing_is_extracted(server, tmp_path):
    good = server.files[dl.AMOS_ZIP_NAME]
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0xFF
    server.files[dl.AMOS_ZIP_NAME] = bytes(bad)
    with pytest.raises(dl.ChecksumError) as err:
        dl.download_amos(tmp_path, md5=md5(good), base_url=server.base_url, **FAST)
    message = str(err.value)
    zip_path = tmp_path / dl.AMOS_ZIP_NAME
    assert message.startswith(str(zip_path))
    assert md5(good) in message
    assert md5(bytes(bad)) in message
    assert "\n" not in message
    assert not zip_path.exists()
    assert (tmp_path / "amos22.zip.corrupt").read_bytes() == bytes(bad)
    assert not (tmp_path / "amos22").exists()
    assert not any(p.name.startswith(".amos22") for p in tmp_path.iterdir())
    # A rerun does not download the same 25 GB again, silently, nor pile up .corrupt.1, .corrupt.2...:
    # it stops with a line saying how to use the kept file or download again.
    n_gets = len(server.gets(dl.AMOS_ZIP_NAME))
    with pytest.raises(dl.ChecksumError) as err:
        dl.download_amos(tmp_path, md5=md5(good), base_url=server.base_url, **FAST)
    assert len(server.gets(dl.AMOS_ZIP_NAME)) == n_gets
    assert str(tmp_path / "amos22.zip.corrupt") in str(err.value)
    assert md5(bytes(bad)) in str(err.value)
    assert "\n" not in str(err.value)
    kept = sorted(p.name for p in tmp_path.glob("amos22.zip.corrupt*"))
    assert kept == ["amos22.zip.corrupt", "amos22.zip.corrupt.md5"]


def test_existing_zip_is_verified_without_downloading(server, tmp_path):
    zip_bytes = server.files[dl.AMOS_ZIP_NAME]
    (tmp_path / dl.AMOS_ZIP_NAME).write_bytes(zip_bytes)  # e.g. copied in by hand
    root = dl.download_amos(tmp_path, md5=md5(zip_bytes), base_url=server.base_url, metadata=False, **FAST)
    assert server.gets(dl.AMOS_ZIP_NAME) == []
    assert (root / "readme.md").read_bytes() == b"test release\n"
    assert (tmp_path / "amos22.zip.md5").read_text().split()[0] == md5(zip_bytes)


@pytest.mark.parametrize(
    "name", ["amos22/../../evil.txt", "../evil.txt", "/tmp/evil.txt", "C:/evil.txt", "amos22\\..\\..\\evil.txt"]
)
def test_zip_entry_escaping_dest_is_refused(server, tmp_path, name):
    zip_bytes = zip_with_entry(zipfile.ZipInfo(name), b"owned")
    server.files[dl.AMOS_ZIP_NAME] = zip_bytes
    dest = tmp_path / "a" / "dest"
    before = set(tmp_path.rglob("*"))
    with pytest.raises(dl.UnsafeArchiveError) as err:
        dl.download_amos(dest, md5=None, base_url=server.base_url, **FAST)
    assert str(err.value).startswith(str(dest / dl.AMOS_ZIP_NAME))
    assert repr(name) in str(err.value)
    created = {p.relative_to(tmp_path).as_posix() for p in set(tmp_path.rglob("*")) - before}
    assert created == {"a", "a/dest", "a/dest/amos22.zip", f"a/dest/{dl.METADATA_CSV_NAME}"}
    assert not Path("/tmp/evil.txt").exists() or Path("/tmp/evil.txt").read_bytes() != b"owned"


def test_symlink_entry_is_refused(server, tmp_path):
    info = zipfile.ZipInfo("amos22/imagesTr/link")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    server.files[dl.AMOS_ZIP_NAME] = zip_with_entry(info, b"/etc/passwd")
    with pytest.raises(dl.UnsafeArchiveError, match="symbolic link"):
        dl.download_amos(tmp_path, md5=None, base_url=server.base_url, **FAST)
    assert not (tmp_path / "amos22").exists()
    assert not any(p.is_symlink() for p in tmp_path.rglob("*"))


@pytest.mark.parametrize("status", [404, 500])
def test_http_error_gives_one_line_with_status_and_url(server, tmp_path, status):
    server.status[dl.AMOS_ZIP_NAME] = status
    with pytest.raises(dl.DownloadError) as err:
        dl.download_amos(tmp_path, md5=None, base_url=server.base_url, retries=2, **FAST)
    message = str(err.value)
    url = dl.file_url(dl.AMOS_ZIP_NAME, server.base_url)
    assert message.startswith(url)
    assert str(status) in message
    assert "\n" not in message
    # 404 is final; a 500 may be transient and is retried.
    assert len(server.gets(dl.AMOS_ZIP_NAME)) == (1 if status == 404 else 3)
    assert not (tmp_path / "amos22").exists()


def test_second_run_makes_no_request(server, tmp_path, capsys):
    zip_bytes = server.files[dl.AMOS_ZIP_NAME]
    first = dl.download_amos(tmp_path, md5=md5(zip_bytes), base_url=server.base_url, **FAST)
    n_requests = len(server.log)
    capsys.readouterr()
    second = dl.download_amos(tmp_path, md5=md5(zip_bytes), base_url=server.base_url, **FAST)
    assert second == first
    assert len(server.log) == n_requests
    assert "already downloaded and extracted" in capsys.readouterr().out


def test_interrupted_extraction_restarts_cleanly(server, tmp_path):
    zip_bytes = server.files[dl.AMOS_ZIP_NAME]
    zip_path = dl.download_amos(tmp_path, md5=md5(zip_bytes), base_url=server.base_url, extract=False, **FAST)
    assert zip_path == tmp_path / dl.AMOS_ZIP_NAME
    assert not (tmp_path / "amos22").exists()
    stale = tmp_path / ".amos22.extracting" / "amos22"
    stale.mkdir(parents=True)
    (stale / "half_written.nii.gz").write_bytes(b"\0" * 10)
    n_requests = len(server.log)
    root = dl.download_amos(tmp_path, md5=md5(zip_bytes), base_url=server.base_url, keep_zip=False, **FAST)
    assert len(server.log) == n_requests  # the verified zip is reused
    assert not (tmp_path / ".amos22.extracting").exists()
    assert not (root / "half_written.nii.gz").exists()
    assert (root / "imagesTs" / "amos_0002.nii.gz").is_file()
    assert not zip_path.exists()
    assert not (tmp_path / "amos22.zip.md5").exists()


def test_existing_release_not_made_by_us_is_left_alone(server, tmp_path):
    (tmp_path / "amos22").mkdir()
    (tmp_path / "amos22" / "mine.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="not completely extracted"):
        dl.download_amos(tmp_path, md5=None, base_url=server.base_url, metadata=False, **FAST)
    assert server.gets(dl.AMOS_ZIP_NAME) == []
    assert (tmp_path / "amos22" / "mine.txt").read_text() == "keep"


def test_not_enough_disk_space(server, tmp_path, monkeypatch):
    zip_bytes = server.files[dl.AMOS_ZIP_NAME]
    real = shutil.disk_usage

    def small_disk(path):
        usage = real(path)
        # Room for the zip, not for the zip and its extraction.
        return usage._replace(free=int(len(zip_bytes) * 1.5))

    monkeypatch.setattr(shutil, "disk_usage", small_disk)
    with pytest.raises(dl.DownloadError, match=r"need .* GB .*free") as err:
        dl.download_amos(tmp_path, md5=None, base_url=server.base_url, metadata=False, **FAST)
    assert str(err.value).startswith(str(tmp_path))
    assert not (tmp_path / "amos22.zip.part").exists()
    # Without extraction the zip fits.
    out = dl.download_amos(tmp_path, md5=None, base_url=server.base_url, metadata=False, extract=False, **FAST)
    assert out.read_bytes() == zip_bytes


def test_invalid_arguments_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="32 hexadecimal"):
        dl.download_amos(tmp_path, md5="abc")
    with pytest.raises(ValueError, match="http"):
        dl.download_amos(tmp_path, base_url="file:///etc")
    not_a_dir = tmp_path / "f"
    not_a_dir.write_text("x")
    with pytest.raises(ValueError, match="not a folder"):
        dl.download_amos(not_a_dir, base_url="http://127.0.0.1:9/")
    with pytest.raises(TypeError, match="timeot"):
        dl.download_amos(tmp_path, timeot=5)
    with pytest.raises(ValueError, match=str(tmp_path / "bad.zip")):
        (tmp_path / "bad.zip").write_bytes(b"not a zip")
        dl.check_zip_members(tmp_path / "bad.zip")


def test_cli_download(server, tmp_path, capsys):
    from amos_tutorial.cli import main

    zip_bytes = server.files[dl.AMOS_ZIP_NAME]
    dest = tmp_path / "d"
    rc = main(["data", "download", str(dest), "--base-url", server.base_url, "--md5", md5(zip_bytes), "--no-progress"])
    assert rc == 0
    assert (dest / "amos22" / "dataset.json").is_file()
    assert f"amos data validate --data {dest / 'amos22'}" in capsys.readouterr().out

    server.status[dl.AMOS_ZIP_NAME] = 404
    rc = main(["data", "download", str(tmp_path / "e"), "--base-url", server.base_url, "--no-verify", "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert rc == 1
    assert err.count("\n") == 0
    assert "404" in err
    assert err.startswith("amos: error: http://127.0.0.1")


def test_cli_help_explains_disk_checksum_and_old_record(capsys):
    from amos_tutorial.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["data", "download", "--help"])
    assert exc.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "~25 GB download + ~25 GB extracted" in text
    assert "UNVERIFIED" in text
    assert dl.AMOS_ZIP_MD5 in text
    assert dl.ZENODO_OLD_RECORD in text


# --------------------------------------------------------------------------------------------------
# amos data download DEST --cases: single cases over HTTP Range requests
# --------------------------------------------------------------------------------------------------
def zip_folder(root: Path, top: str = "amos22") -> bytes:
    """A release-shaped zip of a folder: every file under ``top/``, deflated, as amos22.zip is."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                zf.write(path, f"{top}/{path.relative_to(root).as_posix()}")
    return buf.getvalue()


@pytest.fixture(scope="module")
def synthetic_release(tmp_path_factory) -> tuple[Path, bytes]:
    """A synthetic release of 12 cases (both modalities, all splits) and its zip."""
    from amos_tutorial.data.synthetic import generate_synthetic_dataset

    root = generate_synthetic_dataset(
        tmp_path_factory.mktemp("release") / "amos22", n_cases=12, seed=1, max_shape=(32, 32, 16), progress=False
    )
    return Path(root), zip_folder(Path(root))


def first_training_case(root: Path) -> str:
    """``amos_XXXX`` of the first training case of a release folder."""
    return Path(json.loads((root / "dataset.json").read_text())["training"][0]["image"]).name[: -len(".nii.gz")]


@pytest.fixture
def release_server(server, synthetic_release):
    """The test server holding the synthetic release's zip and metadata CSV, with an ETag."""
    root, data = synthetic_release
    server.files = {dl.AMOS_ZIP_NAME: data, dl.METADATA_CSV_NAME: (root / dl.METADATA_CSV_NAME).read_bytes()}
    server.etag = {dl.AMOS_ZIP_NAME: '"v1"'}
    return server


def test_partial_download_fetches_a_fraction_validates_and_trains(release_server, tmp_path, capsys):
    from amos_tutorial.cli import main
    from amos_tutorial.data.layout import load_amos
    from amos_tutorial.data.partial import download_cases

    size = len(release_server.files[dl.AMOS_ZIP_NAME])
    result = download_cases(tmp_path / "dest", 3, base_url=release_server.base_url, progress=False, retry_wait=0)
    sent = release_server.sent[dl.AMOS_ZIP_NAME]
    print(f"3 of 12 cases: {sent:,} of {size:,} zip bytes sent by the server ({sent / size:.1%})")
    assert sent / size < 0.5
    assert result.fetched_bytes == sent
    assert result.zip_bytes == size
    ds = load_amos(result.root)
    assert sorted(c.case_id for c in ds.cases) == result.cases
    assert {(c.split, c.modality) for c in ds.cases} == {("training", "CT"), ("training", "MRI"), ("validation", "CT")}
    assert ds.metadata is not None
    for case in ds.cases:
        with zipfile.ZipFile(io.BytesIO(release_server.files[dl.AMOS_ZIP_NAME])) as zf:
            assert case.image.read_bytes() == zf.read(f"amos22/{case.image.relative_to(result.root).as_posix()}")
    capsys.readouterr()
    assert main(["data", "validate", "--data", str(result.root), "--no-progress"]) == 0
    assert "OK: 3 cases" in capsys.readouterr().out
    run = tmp_path / "run"
    rc = main(
        ["train", "--model", "unet", "--data", str(result.root), "--preset", "smoke", "--iterations", "2",
         "--device", "cpu", "--no-progress", "--cache-dir", str(tmp_path / "cache"), "--out", str(run)]
    )  # fmt: skip
    assert rc == 0
    assert (run / "checkpoints" / "last.pt").is_file()


def test_partial_download_resumes_member_by_member(release_server, tmp_path, monkeypatch):
    from amos_tutorial.data import partial

    real = partial._fetch_member
    calls = []

    def killed_on_the_third(zf, info, out, url, bar):
        calls.append(info.filename)
        if len(calls) == 3:  # a kill in the middle of a member: its part file stays behind
            out.parent.mkdir(parents=True, exist_ok=True)
            out.with_name(f".{out.name}.part").write_bytes(b"half")
            raise KeyboardInterrupt
        real(zf, info, out, url, bar)

    monkeypatch.setattr(partial, "_fetch_member", killed_on_the_third)
    dest = tmp_path / "dest"
    with pytest.raises(KeyboardInterrupt):
        partial.download_cases(dest, 2, base_url=release_server.base_url, progress=False)
    monkeypatch.setattr(partial, "_fetch_member", real)
    result = partial.download_cases(dest, 2, base_url=release_server.base_url, progress=False)
    assert result.members_kept == 2
    assert result.members_fetched == 2
    assert sorted(p.name for p in dest.rglob(".*.part")) == []
    assert len(result.listed) == 2


def test_rerun_fetches_nothing_again_and_adds_new_cases(release_server, synthetic_release, tmp_path):
    from amos_tutorial.data.fetch import TransferOptions
    from amos_tutorial.data.partial import download_cases

    case = first_training_case(synthetic_release[0])
    first = download_cases(tmp_path, case, base_url=release_server.base_url, progress=False)
    quiet = TransferOptions(retries=3, progress=False)  # the options object instead of the keywords
    again = download_cases(tmp_path, [int(case[5:])], base_url=release_server.base_url, options=quiet)
    assert again.members_fetched == 0
    assert again.members_kept == 2
    more = download_cases(tmp_path, 3, base_url=release_server.base_url, progress=False)
    assert first.listed == [case]
    assert set(more.listed) == {case, *more.cases}
    listed = json.loads((more.root / "dataset.json").read_text())
    assert listed["numTraining"] + listed["numValidation"] == len(more.listed)


def test_server_ignoring_range_gets_one_line_and_nothing_is_fetched(release_server, tmp_path, capsys):
    from amos_tutorial.cli import main

    release_server.ignore_range = True
    rc = main(["data", "download", str(tmp_path / "dest"), "--cases", "3", "--base-url", release_server.base_url,
               "--no-progress"])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert rc == 1
    assert len(err.splitlines()) == 1
    assert "ignores HTTP Range" in err
    assert "amos data download DEST" in err
    assert not (tmp_path / "dest" / "amos22").exists()
    assert [r[2] for r in release_server.gets(dl.AMOS_ZIP_NAME)] == ["bytes=0-0"]


@pytest.mark.parametrize("change", ["etag", "size"])
def test_changed_remote_file_is_one_line(release_server, tmp_path, change):
    from amos_tutorial.data.partial import RemoteChangedError, download_cases

    download_cases(tmp_path, 1, base_url=release_server.base_url, progress=False)
    if change == "etag":
        release_server.etag = {dl.AMOS_ZIP_NAME: '"v2"'}
    else:
        release_server.files = {**release_server.files, dl.AMOS_ZIP_NAME: release_server.files[dl.AMOS_ZIP_NAME] + b"x"}
    with pytest.raises(RemoteChangedError, match=f"remote zip changed.*{change}") as info:
        download_cases(tmp_path, 2, base_url=release_server.base_url, progress=False)
    assert "\n" not in str(info.value)


def test_corrupt_member_is_named_and_not_kept(release_server, synthetic_release, tmp_path):
    from amos_tutorial.data.partial import download_cases

    case = first_training_case(synthetic_release[0])
    data = bytearray(release_server.files[dl.AMOS_ZIP_NAME])
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = zf.getinfo(f"amos22/imagesTr/{case}.nii.gz")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for offset in range(start + 10, start + info.compress_size - 10, 97):  # garble the deflate stream
        data[offset] ^= 0xFF
    release_server.files = {**release_server.files, dl.AMOS_ZIP_NAME: bytes(data)}
    with pytest.raises(dl.DownloadError, match=f"member 'amos22/imagesTr/{case}.nii.gz'") as exc:
        download_cases(tmp_path, case, base_url=release_server.base_url, progress=False)
    assert "\n" not in str(exc.value)
    assert not (tmp_path / "amos22" / "imagesTr" / f"{case}.nii.gz").exists()
    assert list((tmp_path / "amos22" / "imagesTr").iterdir()) == []


def test_member_listed_but_missing_and_unknown_case(release_server, synthetic_release, tmp_path):
    from amos_tutorial.data.partial import download_cases

    case = first_training_case(synthetic_release[0])
    data = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(release_server.files[dl.AMOS_ZIP_NAME])) as src, zipfile.ZipFile(data, "w") as dst:
        for info in src.infolist():
            if not info.filename.endswith(f"labelsTr/{case}.nii.gz"):
                dst.writestr(info, src.read(info))
    release_server.files = {**release_server.files, dl.AMOS_ZIP_NAME: data.getvalue()}
    with pytest.raises(dl.DownloadError, match=f"'amos22/labelsTr/{case}.nii.gz', listed in dataset.json, is not"):
        download_cases(tmp_path / "a", case, base_url=release_server.base_url, progress=False)
    with pytest.raises(ValueError, match="amos_0999: not among"):
        download_cases(tmp_path / "b", "amos_0999", base_url=release_server.base_url, progress=False)


def test_cli_partial_download(release_server, tmp_path, capsys):
    from amos_tutorial.cli import main

    rc = main(["data", "download", str(tmp_path), "--cases", "2", "--modalities", "MRI", "--base-url",
               release_server.base_url, "--no-progress"])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0
    assert "2 case(s) ready" in out
    listed = json.loads((tmp_path / "amos22" / "dataset.json").read_text())
    assert listed["numTraining"] + listed["numValidation"] == 2
    with pytest.raises(SystemExit):
        main(["data", "download", str(tmp_path), "--modalities", "CT", "--no-progress"])


def test_local_record_serves_a_release_with_and_without_range(synthetic_release, tmp_path):
    from amos_tutorial.data.loopback import LocalRecord
    from amos_tutorial.data.partial import RangeNotSupportedError, download_cases

    root, _ = synthetic_release
    with LocalRecord(root) as record:
        result = download_cases(tmp_path / "a", 2, base_url=record.base_url, progress=False)
        assert record.sent_bytes() == result.fetched_bytes
        assert result.zip_bytes == record.zip_bytes
        assert record.sent_bytes(dl.METADATA_CSV_NAME) == (root / dl.METADATA_CSV_NAME).stat().st_size
        record.range_requests = False
        with pytest.raises(RangeNotSupportedError, match="ignores HTTP Range"):
            download_cases(tmp_path / "b", 2, base_url=record.base_url, progress=False)
    assert not (tmp_path / "b" / "amos22").exists()


@pytest.mark.slow  # a child process: its imports alone take several seconds on a busy 2-core machine
def test_partial_download_killed_for_real_resumes(release_server, tmp_path):
    import os
    import subprocess
    import sys

    from amos_tutorial.data.partial import PARTIAL_MARKER, download_cases

    dest = tmp_path / "dest"
    release_server.hang_from = {dl.AMOS_ZIP_NAME: 5}  # probe, tail, dataset.json, two members, then it hangs
    cmd = [sys.executable, "-m", "amos_tutorial.cli", "data", "download", str(dest), "--cases", "3",
           "--base-url", release_server.base_url, "--timeout", "60", "--no-progress"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))
    state = dest / "amos22" / PARTIAL_MARKER
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if state.is_file() and len(json.loads(state.read_text())["members"]) == 2:
            break
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    assert len(json.loads(state.read_text())["members"]) == 2
    release_server.hang_from = {}
    result = download_cases(dest, 3, base_url=release_server.base_url, progress=False)
    assert result.members_kept == 2
    assert result.members_fetched == 4


def test_partial_download_goes_on_without_the_metadata_csv(release_server, tmp_path, capsys):
    from amos_tutorial.data.partial import download_cases

    release_server.files = {dl.AMOS_ZIP_NAME: release_server.files[dl.AMOS_ZIP_NAME]}
    result = download_cases(tmp_path, 2, base_url=release_server.base_url, progress=False)
    assert len(result.cases) == 2
    assert "modalities come from the case ids" in capsys.readouterr().out
    assert not (tmp_path / dl.METADATA_CSV_NAME).exists()
