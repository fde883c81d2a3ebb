"""Dataset validation: a clean tiny set passes; each kind of broken file gives exactly one problem naming it."""

from __future__ import annotations

import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from amos_tutorial.data import validate
from amos_tutorial.data.layout import load_amos
from amos_tutorial.data.validate import Problem, validate_case, validate_dataset
from amos_tutorial.utils.io import load_nifti, save_nifti
from test_layout import AFFINE, SHAPE, build_layout

SPLITS = {"training": [1, 2, 3], "validation": [4], "test": [5]}


def run_validate(argv: list[str]) -> int:
    """Run ``amos data validate`` with these arguments."""
    from amos_tutorial.cli import main

    return main(["data", "validate", *argv])


@pytest.fixture
def clean(tmp_path) -> Path:
    return build_layout(tmp_path / "amos22", SPLITS)


def truncate(path: Path, keep: float) -> None:
    raw = path.read_bytes()
    path.write_bytes(raw[: int(len(raw) * keep)])


def cut_gzip_trailer(path: Path) -> None:
    # Only the CRC/length trailer goes: the header and every voxel are still decodable.
    path.write_bytes(path.read_bytes()[:-4])


def make_4d(path: Path) -> None:
    data, affine = load_nifti(path)
    nib.save(nib.Nifti1Image(np.stack([data, data], axis=-1), affine), str(path))


def put_nan(path: Path) -> None:
    data, affine = load_nifti(path)
    data = data.astype(np.float32)
    data[1, 2, 3] = np.nan
    save_nifti(data, affine, path)


def put_99(path: Path) -> None:
    data, affine = load_nifti(path)
    data[0, 0, 0] = 99
    save_nifti(data, affine, path, dtype=np.uint8)


def put_fraction(path: Path) -> None:
    data, affine = load_nifti(path)
    data = data.astype(np.float32)
    data[0, 0, 0] = 1.5
    save_nifti(data, affine, path)


def change_shape(path: Path) -> None:
    save_nifti(np.zeros(SHAPE[:2] + (SHAPE[2] + 1,)), AFFINE, path, dtype=np.uint8)


def flip_affine(path: Path) -> None:
    data, affine = load_nifti(path)
    save_nifti(data, np.diag([-1.0, 1.0, 1.0, 1.0]) @ affine, path, dtype=np.uint8)


# (what to break, which file of case amos_0002, regular expression for the message)
BROKEN = {
    "truncated": (lambda p: truncate(p, 0.6), "image", r"^cannot read the voxel data: truncated or corrupt \(EOFError"),
    "gzip-trailer-cut": (cut_gzip_trailer, "label", r"^cannot read the voxel data: truncated or corrupt"),
    "garbage": (lambda p: p.write_bytes(b"\x1f\x8b not really gzip"), "image", r"^not a readable NIfTI file"),
    "4-D image": (make_4d, "image", r"^4-D image of shape \(8, 8, 4, 2\); AMOS images are 3-D$"),
    "NaN in image": (put_nan, "image", r"^image has 1 non-finite voxel\(s\) \(NaN or inf\)$"),
    "label value 99": (put_99, "label", r"^label values outside 0-15: \[99\] \(1 voxel\(s\)\)$"),
    "fractional label": (put_fraction, "label", r"^label has 1 non-integer voxel\(s\)$"),
    "shape mismatch": (change_shape, "label", r"^label shape \(8, 8, 5\) differs from image shape \(8, 8, 4\)"),
    "flipped affine": (
        flip_affine, "label", r"^label affine differs from the image's by up to .* axis codes label LAS vs image RAS$"
    ),
    "missing label": (lambda p: p.unlink(), "label", r"^file missing \(listed as the training label of amos_0002\)$"),
}


def test_clean_dataset_passes(clean, capsys):
    assert validate_dataset(clean) == []
    assert run_validate(["--data", str(clean), "--no-progress"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    n_files = sum(len(v) for v in SPLITS.values()) * 2 - len(SPLITS["test"])
    assert out == [f"OK: {sum(map(len, SPLITS.values()))} cases ({n_files} files) checked in {clean}, no problems"]


@pytest.mark.parametrize("kind", list(BROKEN))
def test_each_broken_file_gives_one_problem(clean, capsys, kind):
    breaker, which, pattern = BROKEN[kind]
    case = load_amos(clean).case(2)
    target = case.image if which == "image" else case.label
    breaker(target)
    problems = validate_dataset(clean)
    assert len(problems) == 1, problems
    assert problems[0].path == target
    assert problems[0].message.count("\n") == 0
    assert re.search(pattern, problems[0].message), problems[0].message
    assert validate_case(load_amos(clean).case(2)) == problems
    assert run_validate(["--data", str(clean), "--no-progress"]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == str(problems[0])
    assert lines[0].startswith(str(target))
    assert lines[-1].startswith("1 problem(s) in 1 file(s)")


def test_all_problems_of_several_bad_cases_in_one_run(clean, capsys):
    ds = load_amos(clean)
    truncate(ds.case(1).image, 0.5)
    put_99(ds.case(2).label)
    put_nan(ds.case(3).image)
    put_99(ds.case(3).label)
    ds.case(5).image.unlink()
    orphan = save_nifti(np.zeros(SHAPE), AFFINE, clean / "labelsVa" / "amos_0042.nii.gz", dtype=np.uint8)
    expected = [ds.case(1).image, ds.case(2).label, ds.case(3).image, ds.case(3).label, ds.case(5).image, orphan]
    problems = validate_dataset(clean, progress=True)
    assert [p.path for p in problems] == expected
    assert problems[-1] == Problem(orphan, "label file without an image")
    assert run_validate(["--data", str(clean), "--no-progress"]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert out[:-1] == [str(p) for p in problems]
    assert out[-1].startswith(f"{len(expected)} problem(s) in {len(expected)} file(s)")


def test_unexpected_error_in_one_case_does_not_stop_the_run(clean, monkeypatch):
    real = validate.validate_case

    def flaky(case, affine_atol=1e-3):
        if case.number == 1:
            raise MemoryError("simulated")
        return real(case, affine_atol=affine_atol)

    monkeypatch.setattr(validate, "validate_case", flaky)
    put_99(load_amos(clean).case(4).label)
    problems = validate_dataset(clean)
    assert [p.path.name for p in problems] == ["amos_0001.nii.gz", "amos_0004.nii.gz"]
    assert "unexpected error while checking amos_0001 (MemoryError: simulated)" in problems[0].message


def test_values_are_checked_across_slabs(clean, monkeypatch):
    # One slice per slab: problems in the last slice and counts summed over slabs must still be found.
    monkeypatch.setattr(validate, "_SLAB_VOXELS", SHAPE[0] * SHAPE[1])
    case = load_amos(clean).case(1)
    data, affine = load_nifti(case.image)
    data[:, :, -1] = np.inf
    data[0, 0, 0] = np.nan
    save_nifti(data, affine, case.image)
    labels, _ = load_nifti(case.label)
    labels[0, 0, 1] = 17
    labels[0, 0, 3] = 99
    save_nifti(labels, affine, case.label, dtype=np.uint8)
    problems = validate_case(case)
    assert [str(p) for p in problems] == [
        f"{case.image}: image has {SHAPE[0] * SHAPE[1] + 1} non-finite voxel(s) (NaN or inf)",
        f"{case.label}: label values outside 0-15: [17, 99] (2 voxel(s))",
    ]


def test_fractional_and_out_of_range_labels_are_separate_problems(clean):
    case = load_amos(clean).case(1)
    labels, affine = load_nifti(case.label)
    labels = labels.astype(np.float32)
    labels[0, 0, 0], labels[1, 1, 1], labels[2, 2, 2] = 2.5, 16.0, np.nan
    save_nifti(labels, affine, case.label)
    assert [p.message for p in validate_case(case)] == [
        "label has 1 non-finite voxel(s) (NaN or inf)",
        "label has 1 non-integer voxel(s)",
        "label values outside 0-15: [16] (1 voxel(s))",
    ]


def test_affine_tolerance(clean):
    case = load_amos(clean).case(1)
    data, affine = load_nifti(case.label)
    shifted = affine.copy()
    shifted[0, 3] += 0.01
    save_nifti(data, shifted, case.label, dtype=np.uint8)
    assert len(validate_case(case)) == 1
    assert validate_case(case, affine_atol=0.02) == []
    with pytest.raises(ValueError, match="affine_atol must be >= 0"):
        validate_case(case, affine_atol=-1)


def test_uncompressed_nifti_truncation(tmp_path):
    root = build_layout(tmp_path, {"training": [7]}, with_json=False)
    gz = root / "imagesTr" / "amos_0007.nii.gz"
    plain = gz.with_name("amos_0007.nii")
    data, affine = load_nifti(gz)
    gz.unlink()
    nib.save(nib.Nifti1Image(data, affine), str(plain))
    assert validate_dataset(root) == []
    truncate(plain, 0.7)
    problems = validate_dataset(root)
    assert [p.path for p in problems] == [plain]
    assert "truncated or corrupt" in problems[0].message


def test_generated_synthetic_set_is_valid(tmp_path):
    from amos_tutorial.data import synthetic

    root = synthetic.generate_synthetic_dataset(tmp_path / "syn", n_cases=4, seed=1, max_shape=(32, 32, 16))
    ds = load_amos(root)
    assert len(ds.cases) >= 4
    assert validate_dataset(ds) == []


def test_argument_checks(clean):
    with pytest.raises(TypeError, match="expected an AmosCase"):
        validate_case(str(clean / "imagesTr" / "amos_0001.nii.gz"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="affine_atol must be >= 0"):
        validate_dataset(clean, affine_atol=float("nan"))
