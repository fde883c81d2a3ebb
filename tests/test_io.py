"""Atomic writes never leave partial files; NIfTI round trips keep data, dtype and affine."""

import numpy as np
import pytest

from amos_tutorial.utils.io import atomic_path, atomic_write_text, load_nifti, save_nifti


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half written")
            raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_nifti_round_trip_keeps_dtype_and_affine(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.integers(-1000, 1000, size=(6, 5, 4)).astype(np.int16)
    affine = np.diag([-0.8, -0.8, 2.5, 1.0])
    affine[:3, 3] = [10.0, -20.0, 30.0]
    path = save_nifti(data, affine, tmp_path / "img.nii.gz")
    back, back_affine = load_nifti(path)
    assert back.dtype == np.int16
    np.testing.assert_array_equal(back, data)
    np.testing.assert_allclose(back_affine, affine)
    labels, _ = load_nifti(path, dtype=np.uint8)
    assert labels.dtype == np.uint8


def test_load_nifti_names_the_file_on_garbage(tmp_path):
    bad = tmp_path / "broken.nii.gz"
    bad.write_bytes(b"not a nifti at all")
    with pytest.raises(ValueError, match="broken.nii.gz"):
        load_nifti(bad)


def test_atomic_files_get_umask_permissions_not_0600(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "shared.json", "{}")
    finally:
        os.umask(old)
    assert (path.stat().st_mode & 0o777) == 0o644
