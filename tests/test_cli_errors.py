"""Every ``amos`` sub-command fails on an unwritable output with one line naming the path, not a traceback.

Each sub-command that writes is run (a) onto a path below a regular file (``NotADirectoryError``, a real
OS error), (b) into a read-only folder and, for file outputs, (c) onto an existing folder. It must
return a non-zero exit code and print exactly one ``amos: error: PATH: ...`` line.

About (b): the tests run as root in CI, and root writes into a ``chmod 555`` folder anyway. So when
running as root the read-only folder is *emulated*: ``os.mkdir``, ``os.open``, ``open``, ``os.replace``
and ``os.access`` are wrapped to answer ``EACCES`` for paths inside it, as the kernel does for a normal
user. As a normal user, the real ``chmod 555`` is used and nothing is emulated.
"""

from __future__ import annotations

import builtins
import errno
import io
import os
import shutil
from pathlib import Path

import pytest
from conftest import write_untrained_run
import torch

from amos_tutorial.cli import error_line, main

CONFIG_SPACING = (2.0, 2.0, 3.0)


@pytest.fixture
def regular_file(tmp_path) -> Path:
    path = tmp_path / "a_file"
    path.write_text("not a folder\n")
    return path


@pytest.fixture
def readonly_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "readonly"
    folder.mkdir()
    folder.chmod(0o555)
    if os.geteuid() != 0:
        yield folder
        folder.chmod(0o755)
        return
    prefix = os.path.abspath(folder)

    def inside(path) -> bool:
        if isinstance(path, int):
            return False
        try:
            full = os.path.abspath(os.fspath(path))
        except TypeError:
            return False
        return full == prefix or full.startswith(prefix + os.sep)

    def refuse(path):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(path))

    real_mkdir, real_open, real_os_open = os.mkdir, builtins.open, os.open
    real_replace, real_rename, real_access = os.replace, os.rename, os.access

    def mkdir(path, *args, **kwargs):
        if inside(path) and not os.path.lexists(path):
            refuse(path)
        return real_mkdir(path, *args, **kwargs)

    def os_open(path, flags, *args, **kwargs):
        if inside(path) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            refuse(path)
        return real_os_open(path, flags, *args, **kwargs)

    def open_(file, mode="r", *args, **kwargs):
        if inside(file) and any(c in mode for c in "wax+"):
            refuse(file)
        return real_open(file, mode, *args, **kwargs)

    def replace(src, dst, *args, **kwargs):
        if inside(dst) or inside(src):
            refuse(dst)
        return real_replace(src, dst, *args, **kwargs)

    def rename(src, dst, *args, **kwargs):
        if inside(dst) or inside(src):
            refuse(dst)
        return real_rename(src, dst, *args, **kwargs)

    def access(path, mode, *args, **kwargs):
        if inside(path) and mode & os.W_OK:
            return False
        return real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", mkdir)
    monkeypatch.setattr(os, "open", os_open)
    monkeypatch.setattr(builtins, "open", open_)
    monkeypatch.setattr(io, "open", open_)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(os, "rename", rename)
    monkeypatch.setattr(os, "access", access)
    yield folder


@pytest.fixture
def run_dir(tmp_path):
    """A run folder as ``amos train`` writes it: config.json and checkpoints/best.pt (untrained tiny UNet)."""
    return write_untrained_run(tmp_path / "run", tuple(CONFIG_SPACING))


def _empty_plan(tmp: Path) -> Path:
    from amos_tutorial.evaluation.postprocess import PostprocessPlan

    return PostprocessPlan(()).save(tmp / "plan.json")


def commands(root: Path, run: Path, tmp: Path) -> dict[str, tuple[list[str], str]]:
    """Sub-command -> (arguments before the output, kind of output: 'folder' or 'file')."""
    labels = str(root / "labelsTr")
    return {
        "data synth": (["data", "synth", "--cases", "2", "--max-shape", "16,16,16", "--no-progress"], "folder"),
        "data download": (
            ["data", "download", "--base-url", "http://127.0.0.1:9/records/1/files", "--retries", "0",
             "--timeout", "1", "--no-progress"],
            "folder",
        ),
        "preprocess": (["preprocess", "--data", str(root), "--no-progress", "--out"], "folder"),
        "train": (
            ["train", "--model", "unet", "--data", str(root), "--preset", "smoke", "--iterations", "2",
             "--device", "cpu", "--no-progress", "--cache-dir", str(tmp / "cache"), "--out"],
            "folder",
        ),
        "predict": (
            ["predict", "--run", str(run), "--images", str(root / "imagesTr"), "--device", "cpu", "--no-progress",
             "--out"],
            "folder",
        ),
        "postprocess": (
            ["postprocess", "--pred", labels, "--plan", str(_empty_plan(tmp)), "--no-progress", "--out"], "folder"
        ),
        "evaluate": (["evaluate", "--pred", labels, "--labels", labels, "--no-progress", "--out"], "file"),
        "submit": (["submit", "--pred", labels, "--no-progress", "--out"], "file"),
    }


def _argv(args: list[str], out: Path) -> list[str]:
    # `data synth OUT` and `data download DEST` take the output as their positional argument.
    return [*args, str(out)] if args[-1] == "--out" or args[0] == "data" else [*args, "--out", str(out)]


def _one_error_line(capsys, path: Path) -> str:
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert "Traceback" not in captured.err
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("amos: error: "), lines[0]
    assert str(path) in lines[0], lines[0]
    return lines[0]


NAMES = ["data synth", "data download", "preprocess", "train", "predict", "postprocess", "evaluate", "submit"]


@pytest.mark.parametrize("name", NAMES)
def test_output_below_a_regular_file(name, synthetic_root, run_dir, tmp_path, regular_file, capsys):
    args, kind = commands(synthetic_root, run_dir, tmp_path)[name]
    out = regular_file / ("out.csv" if name == "evaluate" else "out.zip" if name == "submit" else "out")
    rc = main(_argv(args, out))
    assert rc != 0
    line = _one_error_line(capsys, regular_file)  # the file in the way (or the output below it)
    assert "not a folder" in line or "is a file" in line


@pytest.mark.parametrize("name", NAMES)
def test_output_in_a_read_only_folder(name, synthetic_root, run_dir, tmp_path, readonly_dir, capsys):
    args, kind = commands(synthetic_root, run_dir, tmp_path)[name]
    out = readonly_dir / ("out.csv" if name == "evaluate" else "out.zip" if name == "submit" else "out")
    rc = main(_argv(args, out))
    assert rc != 0
    line = _one_error_line(capsys, readonly_dir)
    assert "permission" in line.lower()


@pytest.mark.parametrize("name", ["evaluate", "submit"])
def test_file_output_naming_an_existing_folder(name, synthetic_root, run_dir, tmp_path, capsys, monkeypatch):
    from amos_tutorial.evaluation import evaluate as evaluate_mod

    args, kind = commands(synthetic_root, run_dir, tmp_path)[name]
    out = tmp_path / "existing_folder"
    out.mkdir()
    # The check comes before the work: scoring must not even start.
    monkeypatch.setattr(evaluate_mod, "evaluate_folder", lambda *a, **k: pytest.fail("scored before the check"))
    assert main(_argv(args, out)) != 0
    assert "existing folder" in _one_error_line(capsys, out)


def test_train_out_on_a_file_fails_before_reading_data(regular_file, tmp_path, capsys, monkeypatch):
    from amos_tutorial.training import trainer

    monkeypatch.setattr(trainer, "prepare_volumes", lambda *a, **k: pytest.fail("data read before the check"))
    rc = main(["train", "--model", "unet", "--data", "synthetic", "--out", str(regular_file), "--device", "cpu"])
    assert rc != 0
    assert "is a file" in _one_error_line(capsys, regular_file)


def test_cache_dir_variable_naming_a_file(regular_file, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("AMOS_CACHE_DIR", str(regular_file))
    rc = main(["train", "--model", "unet", "--data", "synthetic", "--out", str(tmp_path / "run"), "--device", "cpu"])
    assert rc != 0
    assert "$AMOS_CACHE_DIR" in _one_error_line(capsys, regular_file)


def test_checkpoint_onto_a_full_disk(synthetic_root, tmp_path, capsys, monkeypatch):
    """Emulated full disk: torch.save fails as it does on a full disk, and the disk reports 0 bytes free."""
    import collections

    from amos_tutorial.training import checkpoint as checkpoint_mod

    run = tmp_path / "run"
    base = ["train", "--device", "cpu", "--no-progress", "--cache-dir", str(tmp_path / "cache"), "--out", str(run)]
    new_run = ["--model", "unet", "--data", str(synthetic_root), "--preset", "smoke", "--iterations-per-epoch", "2"]
    assert main([*base, *new_run, "--iterations", "2"]) == 0
    last = run / "checkpoints" / "last.pt"
    before = last.read_bytes()
    capsys.readouterr()

    def full_disk_save(obj, f, *args, **kwargs):
        Path(f).write_bytes(b"PK\x03\x04")  # a few bytes got out before the disk filled up
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")

    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(checkpoint_mod.torch, "save", full_disk_save)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(1, 1, 0))
    rc = main([*base, "--resume", "--iterations", "4"])
    assert rc != 0
    line = _one_error_line(capsys, last.parent)
    assert "no space left" in line
    assert last.read_bytes() == before  # the previous checkpoint is intact
    assert not [p for p in last.parent.iterdir() if p.name.startswith(".")]  # no temporary left


def test_predict_onto_a_full_disk(synthetic_root, run_dir, tmp_path, capsys, monkeypatch):
    """Emulated full disk: writing a prediction fails with ENOSPC and no file name, as ``write()`` does."""
    import nibabel as nib

    def full_disk_save(img, filename, *args, **kwargs):
        Path(filename).write_bytes(b"\x1f\x8b")  # a few bytes got out
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(nib, "save", full_disk_save)
    out = tmp_path / "pred"
    rc = main(["predict", "--run", str(run_dir), "--images", str(synthetic_root / "imagesTr"), "--out", str(out),
               "--device", "cpu", "--no-progress"])
    assert rc != 0
    assert "no space left" in _one_error_line(capsys, out / "amos_")
    assert not list(out.glob("*.nii.gz"))
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_validate_with_an_unreadable_image_folder(synthetic_root, tmp_path, capsys, monkeypatch):
    """Emulated unreadable imagesTr (chmod 000 does not stop root): listing and opening it fail with EACCES."""
    root = Path(shutil.copytree(synthetic_root, tmp_path / "amos22"))
    folder = os.path.abspath(root / "imagesTr")

    def inside(path) -> bool:
        if isinstance(path, int):
            return False
        full = os.path.abspath(os.fspath(path))
        return full == folder or full.startswith(folder + os.sep)

    def guard(real):
        def wrapper(path=".", *args, **kwargs):
            if inside(path):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(path))
            return real(path, *args, **kwargs)

        return wrapper

    real_open = builtins.open
    monkeypatch.setattr(os, "listdir", guard(os.listdir))
    monkeypatch.setattr(os, "scandir", guard(os.scandir))
    monkeypatch.setattr(os, "stat", guard(os.stat))
    monkeypatch.setattr(builtins, "open", guard(real_open))
    monkeypatch.setattr(io, "open", guard(real_open))
    rc = main(["data", "validate", "--data", str(root), "--no-progress"])
    assert rc == 1  # problems found (not "OK")
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert "OK" not in captured.out
    assert f"{folder}: cannot list the folder (Permission denied)" in captured.out
    assert "problem(s)" in captured.out


def test_error_line_covers_os_errors_and_known_runtime_errors():
    assert error_line(PermissionError(errno.EACCES, "Permission denied", "/x/y")).startswith("/x/y: permission denied")
    assert "no space left" in error_line(OSError(errno.ENOSPC, "No space left on device", "/x/y"))
    assert error_line(IsADirectoryError(errno.EISDIR, "Is a directory", "/x")).startswith("/x: is a folder")
    assert "out of memory" in error_line(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert error_line(RuntimeError("some internal bug")) is None  # unexpected: the traceback is kept
    assert error_line(KeyError("x")) is None
