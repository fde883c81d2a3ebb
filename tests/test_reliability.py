"""Reliability: the cache follows changed data, run folders are locked, bad data is named where it enters.

Each test here reproduces one failure that fault trials can provoke:
a stale preprocessed cache, two trainers in one run folder, a label 99 reaching the network, a
NIfTI header claiming gigabytes, validate saying OK where preprocessing fails, predict skipping
broken outputs, a download that starts 25 GB again after a checksum failure, and an unsafe
checkpoint reported as merely "corrupted".
"""

from __future__ import annotations

import errno
import gzip
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from conftest import write_untrained_run
import torch

from amos_tutorial.cli import main as amos_main
from amos_tutorial.data.layout import load_amos
from amos_tutorial.data.validate import validate_dataset
from amos_tutorial.transforms import cache as cache_mod
from amos_tutorial.transforms.cache import load_preprocessed_case, preprocess_dataset, read_cache_index
from amos_tutorial.transforms.preprocessing import PreprocessConfig, preprocess_case
from amos_tutorial.utils.io import MAX_NIFTI_VOXELS, load_nifti, save_nifti
from amos_tutorial.utils.lock import LOCK_NAME, FolderLock, LockedError

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG = PreprocessConfig(spacing=(2.0, 2.0, 3.0))


def copy_dataset(root: Path, dest: Path) -> Path:
    """A private copy of the session's synthetic set, which a test may then damage or fix."""
    return Path(shutil.copytree(root, dest))


def rewrite_label(path: Path, new: np.ndarray) -> None:
    """Replace a label map's voxels (same affine), as a user fixing a file would."""
    before = path.stat().st_mtime_ns
    img = nib.load(str(path))
    save_nifti(new, img.affine, path, dtype=np.uint8)
    if path.stat().st_mtime_ns == before:  # a file system with coarse time stamps: still a newer file
        os.utime(path, ns=(before + 1_000_000_000, before + 1_000_000_000))


def dead_pid() -> int:
    """The id of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# ------------------------------------------------------------------------------------------------
# 1. The preprocessed cache follows its source files
# ------------------------------------------------------------------------------------------------


def test_cache_rebuilds_a_case_whose_label_was_fixed(synthetic_root, tmp_path, capsys):
    root = copy_dataset(synthetic_root, tmp_path / "amos22")
    out = tmp_path / "cache"
    dataset = load_amos(root)
    first, second = dataset.split("training")[:2]
    preprocess_dataset(dataset, out, CONFIG, splits=("training",), progress=False)
    old = load_preprocessed_case(out / f"{first.case_id}.pt")
    assert len(torch.unique(old.label)) > 2  # several organs
    kept_stamp = (out / f"{second.case_id}.pt").stat().st_mtime_ns

    # "Fix" the first label map: keep only its largest organ.
    label = np.asanyarray(nib.load(str(first.label)).dataobj).astype(np.uint8)
    values, counts = np.unique(label[label > 0], return_counts=True)
    organ = int(values[np.argmax(counts)])
    rewrite_label(first.label, np.where(label == organ, organ, 0).astype(np.uint8))
    capsys.readouterr()

    preprocess_dataset(load_amos(root), out, CONFIG, splits=("training",), progress=False)
    new = load_preprocessed_case(out / f"{first.case_id}.pt")
    assert set(torch.unique(new.label).tolist()) == {0, organ}  # the fixed data, not the cached one
    assert "source files changed" in capsys.readouterr().err
    assert (out / f"{second.case_id}.pt").stat().st_mtime_ns == kept_stamp  # unchanged cases are kept
    entry = read_cache_index(out)["cases"][first.case_id]
    assert entry["source"]["label"]["path"] == str(first.label.resolve())


def test_label_99_is_named_at_preprocessing_and_the_fix_is_used(synthetic_root, tmp_path, capsys):
    root = copy_dataset(synthetic_root, tmp_path / "amos22")
    out = tmp_path / "cache"
    case = load_amos(root).split("training")[0]
    good = np.asanyarray(nib.load(str(case.label)).dataobj).astype(np.uint8)
    preprocess_dataset(load_amos(root), out, CONFIG, splits=("training",), progress=False)
    assert (out / f"{case.case_id}.pt").is_file()

    bad = good.copy()
    bad[0, 0, 0] = 99
    rewrite_label(case.label, bad)
    with pytest.raises(ValueError) as err:
        preprocess_case(case.image, case.label, "CT", CONFIG)
    assert str(err.value).startswith(str(case.label))
    assert "99" in str(err.value)
    assert "0-15" in str(err.value)

    capsys.readouterr()
    preprocess_dataset(load_amos(root), out, CONFIG, splits=("training",), progress=False)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith(str(case.label))]
    assert len(lines) == 1
    assert "99" in lines[0]
    assert not (out / f"{case.case_id}.pt").exists()  # the old volume is not served in its place
    assert case.case_id in read_cache_index(out)["failed"]

    rewrite_label(case.label, good)
    preprocess_dataset(load_amos(root), out, CONFIG, splits=("training",), progress=False)
    fixed = load_preprocessed_case(out / f"{case.case_id}.pt")
    assert int(fixed.label.max()) < 16
    assert case.case_id not in read_cache_index(out)["failed"]


# ------------------------------------------------------------------------------------------------
# 2. Locks: one trainer per run folder, one writer per cache folder
# ------------------------------------------------------------------------------------------------

_HOLDER = textwrap.dedent(
    """
    import sys, time
    from amos_tutorial.utils.lock import FolderLock
    FolderLock(sys.argv[1], what="run folder").acquire()
    print("locked", flush=True)
    time.sleep(120)
    """
)


def _hold_lock(folder: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(folder)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_trainer_is_refused_and_a_killed_holder_is_taken_over(synthetic_root, tmp_path, capsys):
    run = tmp_path / "run"
    args = [
        "train", "--model", "unet", "--data", str(synthetic_root), "--out", str(run), "--preset", "smoke",
        "--iterations", "2", "--iterations-per-epoch", "2", "--device", "cpu", "--no-progress",
        "--cache-dir", str(tmp_path / "cache"),
    ]
    holder = _hold_lock(run)  # another `amos train` on the same folder, still running
    try:
        assert amos_main(args) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1
        assert str(run) in err
        assert f"process {holder.pid}" in err
        assert not (run / "config.json").exists()  # nothing of the second run was written
    finally:
        holder.kill()  # kill -9: the lock file stays behind
        holder.wait()
    assert (run / LOCK_NAME).is_file()
    assert amos_main(args) == 0  # the stale lock is detected and taken over
    captured = capsys.readouterr()
    assert "stale lock" in captured.err
    assert "finished" in captured.out
    assert not (run / LOCK_NAME).exists()  # released at the end


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path, capsys):
    folder = tmp_path / "run"
    folder.mkdir()
    pid = dead_pid()
    (folder / LOCK_NAME).write_text(json.dumps({"pid": pid, "host": socket.gethostname(), "started": "x"}))
    with FolderLock(folder, what="run folder") as lock:
        assert lock.held
        assert json.loads((folder / LOCK_NAME).read_text())["pid"] == os.getpid()
    assert f"process {pid}" in capsys.readouterr().err
    assert not (folder / LOCK_NAME).exists()


def test_lock_held_elsewhere_is_not_broken(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    record = {"pid": dead_pid(), "host": "another-machine", "started": "x"}
    (folder / LOCK_NAME).write_text(json.dumps(record))
    with pytest.raises(LockedError) as err:
        FolderLock(folder, what="run folder").acquire()
    message = str(err.value)
    assert message.startswith(str(folder))
    assert "another-machine" in message
    assert str(folder / LOCK_NAME) in message
    assert json.loads((folder / LOCK_NAME).read_text()) == record  # left alone


def test_cache_being_written_is_locked(tmp_path, small_cases, monkeypatch):
    out = tmp_path / "cache"
    holder = _hold_lock(out)
    try:
        monkeypatch.setattr(cache_mod, "CACHE_LOCK_WAIT_S", 0)
        with pytest.raises(LockedError, match=f"process {holder.pid}"):
            preprocess_dataset(small_cases, out, CONFIG, progress=False)
    finally:
        holder.kill()
        holder.wait()
    assert len(preprocess_dataset(small_cases, out, CONFIG, progress=False)) == 1


@pytest.fixture
def small_cases(tmp_path):
    from conftest import write_tiny_case

    case = write_tiny_case(tmp_path / "data")

    class _Dataset:
        def split(self, name):
            return [case] if name == "training" else []

    return _Dataset()


# ------------------------------------------------------------------------------------------------
# 3. NIfTI headers that claim more than the file holds
# ------------------------------------------------------------------------------------------------


def write_lying_nifti(path: Path, shape=(2000, 1000, 1000)) -> Path:
    """A ~4 KB .nii.gz whose header claims ``shape`` int16 voxels (2e9 voxels: 4 GB)."""
    header = nib.Nifti1Header()
    header.set_data_shape(shape)
    header.set_data_dtype(np.int16)
    header.set_sform(np.eye(4), code=1)
    header["vox_offset"] = 352
    raw = header.binaryblock + b"\0" * 4 + bytes(4096)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(raw))
    return path


@pytest.fixture
def no_voxel_reads(monkeypatch):
    """Fail the test if nibabel is asked for voxel data (a lying header must be refused before)."""
    from nibabel import arrayproxy

    def refuse(self, *args, **kwargs):
        raise AssertionError("voxel data read despite a header claiming more than the file holds")

    monkeypatch.setattr(arrayproxy.ArrayProxy, "__array__", refuse)
    monkeypatch.setattr(arrayproxy.ArrayProxy, "__getitem__", refuse)


def test_header_claiming_gigabytes_is_refused_before_reading(tmp_path, no_voxel_reads):
    path = write_lying_nifti(tmp_path / "imagesTr" / "amos_0001.nii.gz")
    assert path.stat().st_size < 10_000
    with pytest.raises(ValueError) as err:
        load_nifti(path)
    assert str(err.value).startswith(str(path))
    assert "header claims" in str(err.value)


def test_header_over_the_voxel_maximum_is_refused(tmp_path, no_voxel_reads):
    side = int(round(MAX_NIFTI_VOXELS ** (1 / 3))) + 2
    path = write_lying_nifti(tmp_path / "big.nii.gz", shape=(side, side, side))
    with pytest.raises(ValueError, match="MAX_NIFTI_VOXELS"):
        load_nifti(path)


# ------------------------------------------------------------------------------------------------
# 4. validate reports what preprocessing would choke on
# ------------------------------------------------------------------------------------------------


def _write_raw(path: Path, data: np.ndarray, affine: np.ndarray) -> Path:
    """Write a NIfTI with exactly this affine in the sform (nibabel cannot decompose a singular one into a qform)."""
    img = nib.Nifti1Image(data, None)
    img.set_sform(affine, code=1)
    img.set_qform(None, code=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(img, str(path))
    return path


def test_validate_reports_singular_affine_empty_axis_and_misnamed_files(tmp_path, no_voxel_reads):
    root = tmp_path / "amos22"
    flat = np.diag([1.5, 0.0, 2.0, 1.0])  # the y axis collapsed: no voxel has a place in space
    singular = _write_raw(root / "imagesTr" / "amos_0001.nii.gz", np.zeros((4, 4, 4), np.float32), flat)
    empty = _write_raw(root / "imagesTr" / "amos_0002.nii.gz", np.zeros((4, 0, 4), np.float32), np.eye(4))
    lying = write_lying_nifti(root / "imagesTr" / "amos_0003.nii.gz")
    stray = root / "imagesTr" / "scan_04.nii.gz"
    shutil.copy(singular, stray)
    notes = root / "labelsTr" / "notes.txt"
    notes.parent.mkdir()
    notes.write_text("x")
    (root / "imagesTr" / ".amos_0005.nii.gz.tmp").write_bytes(b"")  # a temporary: not reported

    problems = validate_dataset(root)
    by_path = {}
    for p in problems:
        by_path.setdefault(p.path, []).append(p.message)
    assert any("singular affine" in m for m in by_path[singular])
    assert any("zero-length axis" in m for m in by_path[empty])
    assert any("header claims" in m for m in by_path[lying])
    assert any("not amos_XXXX.nii.gz" in m for m in by_path[stray])
    assert any("not amos_XXXX.nii.gz" in m for m in by_path[notes])
    assert not any(p.name.startswith(".") for p in by_path)


# ------------------------------------------------------------------------------------------------
# 5. predict: broken outputs are not "done", empty folders and zero batches are errors
# ------------------------------------------------------------------------------------------------


@pytest.fixture
def run_dir(tmp_path):
    """A run folder as ``amos train`` writes it: config.json and checkpoints/best.pt (untrained tiny UNet)."""
    return write_untrained_run(tmp_path / "run", tuple(CONFIG.spacing))


def test_predict_redoes_empty_and_truncated_outputs(run_dir, synthetic_root, tmp_path):
    from amos_tutorial.inference import predict_folder

    images = tmp_path / "images"
    images.mkdir()
    for image in sorted(synthetic_root.glob("images*/amos_*.nii.gz"))[:3]:
        shutil.copy(image, images / image.name)
    out = tmp_path / "pred"
    first = predict_folder(run_dir, images, out, device="cpu", progress=False)
    assert (first["status"] == "written").all()
    names = sorted(p.name for p in images.iterdir())
    (out / names[0]).write_bytes(b"")  # 0 bytes: a copy that never started
    data = (out / names[1]).read_bytes()
    (out / names[1]).write_bytes(data[: len(data) // 2])  # cut in the middle: a full disk
    again = predict_folder(run_dir, images, out, device="cpu", progress=False).set_index("case")
    assert again.loc[names[0].split(".")[0], "status"] == "written"
    assert again.loc[names[1].split(".")[0], "status"] == "written"
    assert again.loc[names[2].split(".")[0], "status"] == "skipped"
    for name in names:
        assert nib.load(str(out / name)).shape == nib.load(str(images / name)).shape
        np.asanyarray(nib.load(str(out / name)).dataobj)  # readable to the end


def test_predict_empty_folder_and_zero_window_batch_are_errors(run_dir, tmp_path, capsys):
    from amos_tutorial.inference import predict_folder

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no image"):
        predict_folder(run_dir, empty, tmp_path / "pred", device="cpu", progress=False)
    assert amos_main(["predict", "--run", str(run_dir), "--images", str(empty), "--out", str(tmp_path / "p")]) == 2
    assert str(empty) in capsys.readouterr().err
    with pytest.raises(ValueError, match="sw_batch_size"):
        predict_folder(run_dir, empty, tmp_path / "pred", device="cpu", sw_batch_size=0, progress=False)
    with pytest.raises(SystemExit) as exit_info:
        amos_main(["predict", "--run", str(run_dir), "--images", str(empty), "--out", "x", "--sw-batch-size", "0"])
    assert exit_info.value.code == 2
    assert "--sw-batch-size" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------
# 6. A checkpoint with code in it is refused, and the message says why
# ------------------------------------------------------------------------------------------------


class _Payload:
    """Pickles into a call of ``os.system``: what a hostile checkpoint would carry."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_checkpoint_is_refused_for_safety(run_dir, synthetic_root, tmp_path, capsys):
    from amos_tutorial.training import load_checkpoint

    marker = tmp_path / "pwned"
    evil = run_dir / "checkpoints" / "best.pt"
    torch.save({"model": _Payload(marker)}, evil)
    with pytest.raises(ValueError) as err:
        load_checkpoint(evil)
    message = str(err.value)
    assert message.startswith(str(evil))
    assert "refused for safety" in message
    assert "not plain weights" in message
    assert "system" in message
    assert "corrupted" not in message
    images = str(synthetic_root / "imagesTr")
    assert amos_main(["predict", "--run", str(run_dir), "--images", images, "--out", str(tmp_path / "p")]) == 2
    err_lines = capsys.readouterr().err.strip().splitlines()
    assert len(err_lines) == 1
    assert "refused for safety" in err_lines[0]
    assert not marker.exists()  # nothing ran


# ------------------------------------------------------------------------------------------------
# 7. Download: a checksum failure is not downloaded again silently; a full disk names the file
# ------------------------------------------------------------------------------------------------

from test_download import FAST, md5, server  # noqa: E402,F401  (the loopback HTTP server fixture)

from amos_tutorial.data import download as dl  # noqa: E402
from amos_tutorial.data import fetch  # noqa: E402


def _corrupt_once(server, tmp_path) -> bytes:
    good = server.files[dl.AMOS_ZIP_NAME]
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0xFF
    server.files[dl.AMOS_ZIP_NAME] = bytes(bad)
    with pytest.raises(dl.ChecksumError):
        dl.download_amos(tmp_path, md5=md5(good), base_url=server.base_url, metadata=False, **FAST)
    return bytes(bad)


def test_kept_corrupt_file_is_used_when_its_checksum_is_given(server, tmp_path):
    bad = _corrupt_once(server, tmp_path)
    n_gets = len(server.gets(dl.AMOS_ZIP_NAME))
    # The user trusts the file after all and passes its checksum: no new download, the kept file is used.
    zip_path = dl.download_amos(
        tmp_path, md5=md5(bad), base_url=server.base_url, metadata=False, extract=False, **FAST
    )
    assert len(server.gets(dl.AMOS_ZIP_NAME)) == n_gets
    assert zip_path.read_bytes() == bad
    assert not (tmp_path / "amos22.zip.corrupt").exists()


def test_full_disk_during_download_names_the_file(server, tmp_path, monkeypatch, capsys):
    real_open = open

    class FullDisk:
        def __init__(self, fh):
            self.fh = fh

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")  # what write() raises: no file name

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    def fake_open(file, mode="r", *args, **kwargs):
        fh = real_open(file, mode, *args, **kwargs)
        return FullDisk(fh) if str(file).endswith(".part") and "b" in mode and "w" in mode else fh

    monkeypatch.setattr(fetch, "open", fake_open, raising=False)  # the module that writes the .part file
    rc = amos_main(
        ["data", "download", str(tmp_path), "--base-url", server.base_url, "--no-metadata", "--skip-space-check",
         "--no-progress", "--timeout", "5", "--retries", "0"]
    )
    assert rc == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert str(tmp_path / "amos22.zip.part") in err
    assert "No space left" in err


# ------------------------------------------------------------------------------------------------
# Argument checks and leftovers of killed writes
# ------------------------------------------------------------------------------------------------


def test_window_helpers_check_their_arguments():
    from amos_tutorial.exercises.evaluation import gaussian_weights, window_starts

    with pytest.raises(ValueError, match="size must be at most 100000 voxels .* got 1000000000"):
        window_starts(10**9, 1, 0)
    with pytest.raises(ValueError, match=r"roi_size must be .* got \(0, 8, 8\)"):
        gaussian_weights((0, 8, 8))
    assert window_starts(9, 4, 0.5) == [0, 2, 4, 5]
    assert tuple(gaussian_weights((4, 4, 2)).shape) == (4, 4, 2)


def test_killed_writes_leave_no_temporary_file_for_the_next_run(tmp_path, small_cases):
    from amos_tutorial.utils.io import atomic_path, remove_partial_files

    out = tmp_path / "cache"
    out.mkdir()
    with pytest.raises(KeyboardInterrupt), atomic_path(out / "seen.pt") as tmp:
        partial = tmp
        tmp.write_bytes(b"half")
        os.link(tmp, out / ".amos_0001.pt.k1ll3d_9.pt")  # what a kill -9 leaves: the unlink never ran
        raise KeyboardInterrupt
    assert not partial.exists()
    kept = [out / ".amos.lock.json", out / "amos_0002.pt", out / ".amos_0001.pt.toolong99.pt"]
    for path in kept:
        path.write_text("not a temporary file of atomic_path")
    preprocess_dataset(small_cases, out, CONFIG, progress=False)
    assert not (out / ".amos_0001.pt.k1ll3d_9.pt").exists()
    assert all(p.exists() for p in kept)
    assert remove_partial_files(tmp_path / "absent") == []
