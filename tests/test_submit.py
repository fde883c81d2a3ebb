"""Submission packaging: the challenge's zip layout, Task 1 filtering, and refusal of malformed sets."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from amos_tutorial.cli import main
from amos_tutorial.evaluation import SubmissionError, check_submission, expected_cases, package_submission
from amos_tutorial.utils.io import save_nifti

AFFINE = np.diag([0.8, 0.8, 2.5, 1.0])
SHAPE = (10, 9, 6)
CASES = ("amos_0008", "amos_0101", "amos_0555")  # two CT, one MRI by the id rule


@pytest.fixture
def submission(tmp_path):
    images, preds = tmp_path / "imagesVa", tmp_path / "pred"
    rng = np.random.default_rng(0)
    for cid in CASES:
        save_nifti(rng.normal(size=SHAPE).astype(np.float32), AFFINE, images / f"{cid}.nii.gz")
        save_nifti(rng.integers(0, 16, SHAPE), AFFINE, preds / f"{cid}.nii.gz", dtype=np.uint8)
    (preds / "notes.txt").write_text("not a prediction: ignored")
    return images, preds


def test_zip_holds_results_folder_byte_for_byte(submission, tmp_path):
    images, preds = submission
    out = package_submission(preds, tmp_path / "results.zip", images_dir=images, task=2)
    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist()) == [f"results/{c}.nii.gz" for c in CASES]
        for cid in CASES:
            assert archive.read(f"results/{cid}.nii.gz") == (preds / f"{cid}.nii.gz").read_bytes()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left


def test_task1_leaves_out_mri_with_a_note(submission, tmp_path):
    images, preds = submission
    assert list(expected_cases(images, task=1)) == ["amos_0008", "amos_0101"]
    check = check_submission(preds, images, task=1)
    assert check.ok
    assert list(check.files) == ["amos_0008", "amos_0101"]
    assert any("amos_0555" in note for note in check.notes)
    notes = []
    out = package_submission(preds, tmp_path / "t1.zip", images_dir=images, task=1, on_note=notes.append)
    assert len(zipfile.ZipFile(out).namelist()) == 2
    assert notes == check.notes  # the caller hears about the left-out MRI case


def test_cli_task1_prints_the_left_out_cases(submission, tmp_path, capsys):
    from amos_tutorial.cli import main

    images, preds = submission
    code = main(["submit", "--pred", str(preds), "--images", str(images), "--task", "1",
                 "--out", str(tmp_path / "t1.zip"), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    assert any(line.startswith("note: ") and "amos_0555" in line for line in out.splitlines())


def test_malformed_sets_are_refused_one_line_per_problem(submission, tmp_path):
    images, preds = submission
    (preds / "amos_0101.nii.gz").unlink()  # missing case
    save_nifti(np.full(SHAPE, 1.0, np.float32), AFFINE, preds / "amos_0008.nii.gz")  # float labels
    bad_values = np.zeros(SHAPE, np.uint8)
    bad_values[0, 0, 0] = 42
    save_nifti(bad_values, AFFINE, preds / "amos_0555.nii.gz", dtype=np.uint8)
    save_nifti(np.zeros(SHAPE, np.uint8), AFFINE, preds / "amos_0777.nii.gz")  # no such image
    save_nifti(np.zeros(SHAPE, np.uint8), AFFINE, preds / "case12.nii.gz")  # not an AMOS name
    out = tmp_path / "results.zip"
    with pytest.raises(SubmissionError) as info:
        package_submission(preds, out, images_dir=images)
    assert not out.exists()
    by_file = {}
    for problem in info.value.problems:
        by_file.setdefault(problem.path.name, []).append(problem.message)
    assert set(by_file) == {
        "amos_0008.nii.gz",
        "amos_0101.nii.gz",
        "amos_0555.nii.gz",
        "amos_0777.nii.gz",
        "case12.nii.gz",
    }
    assert "integer" in by_file["amos_0008.nii.gz"][0]
    assert "missing prediction" in by_file["amos_0101.nii.gz"][0]
    assert "42" in by_file["amos_0555.nii.gz"][0]
    assert "no image" in by_file["amos_0777.nii.gz"][0]
    assert all(line.startswith(str(preds)) for line in str(info.value).splitlines())


def test_grid_and_file_problems(submission, tmp_path):
    images, preds = submission
    save_nifti(np.zeros((10, 9, 5), np.uint8), AFFINE, preds / "amos_0008.nii.gz")  # wrong shape
    moved = AFFINE.copy()
    moved[2, 3] = 7.5
    save_nifti(np.zeros(SHAPE, np.uint8), moved, preds / "amos_0101.nii.gz")  # wrong affine
    good = (preds / "amos_0555.nii.gz").read_bytes()
    (preds / "amos_0555.nii.gz").write_bytes(good[: len(good) // 2])  # truncated download/copy
    check = check_submission(preds, images)
    messages = {p.path.name: p.message for p in check.problems}
    assert "shape" in messages["amos_0008.nii.gz"]
    assert "affine" in messages["amos_0101.nii.gz"]
    assert "cannot read" in messages["amos_0555.nii.gz"]
    assert not check.ok
    assert check.files == {}


def test_without_images_only_files_are_checked(submission, tmp_path):
    _, preds = submission
    check = check_submission(preds)
    assert check.ok
    assert len(check.files) == 3
    assert any("completeness" in note for note in check.notes)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert not check_submission(empty).ok


def test_cli_submit(submission, tmp_path, capsys):
    images, preds = submission
    out = tmp_path / "results.zip"
    assert (
        main(
            ["submit", "--pred", str(preds), "--out", str(out), "--images", str(images), "--task", "2", "--no-progress"]
        )
        == 0
    )
    assert "3 prediction(s)" in capsys.readouterr().out
    assert main(["submit", "--pred", str(preds), "--out", str(out), "--no-progress"]) == 2  # exists
    assert "already exists" in capsys.readouterr().err
    (preds / "amos_0008.nii.gz").unlink()
    before = out.read_bytes()
    code = main(
        ["submit", "--pred", str(preds), "--out", str(out), "--images", str(images), "--overwrite", "--no-progress"]
    )
    err = capsys.readouterr().err.splitlines()
    assert code == 1
    assert err[0].startswith(str(preds / "amos_0008.nii.gz"))
    assert out.read_bytes() == before  # the old zip is untouched
