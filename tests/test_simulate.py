"""Simulated predictions: perturbed label maps that look like a model's (amos_tutorial.evaluation.simulate)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import TINY_ORGANS, tiny_arrays, write_tiny_case

from amos_tutorial.evaluation import evaluate_folder, simulate
from amos_tutorial.utils.io import load_nifti, save_nifti


def test_perturb_labels_is_reproducible_and_honest_about_its_damage():
    _, label = tiny_arrays()
    pred, log = simulate.perturb_labels(label, seed=3, max_shift=(2, 2, 1), p_missing=0.3, p_resize=0.5)
    again, log2 = simulate.perturb_labels(label, seed=3, max_shift=(2, 2, 1), p_missing=0.3, p_resize=0.5)
    assert (pred == again).all()
    assert log.equals(log2)
    assert pred.dtype == np.uint8
    assert pred.shape == label.shape
    assert log.organ_id.tolist() == sorted(TINY_ORGANS)
    for row in log.itertuples():
        if row.missing:
            assert not (pred == row.organ_id).any()
            assert row.shift is None
        else:
            assert (pred == row.organ_id).any()
            assert all(abs(s) <= m for s, m in zip(row.shift, (2, 2, 1)))


def test_perturb_labels_exact_effects():
    _, label = tiny_arrays()
    same, _ = simulate.perturb_labels(label, max_shift=(0, 0, 0), p_missing=0.0, p_resize=0.0)
    assert (same == label).all()
    gone, log = simulate.perturb_labels(label, p_missing=1.0)
    assert not gone.any()
    assert log.missing.all()
    # One block, shifted by exactly its logged shift (no wrap-around: the block is far from the edges).
    block = np.zeros((20, 20, 10), np.uint8)
    block[6:12, 6:12, 3:7] = 6
    moved, log = simulate.perturb_labels(block, seed=5, max_shift=(2, 2, 2), p_missing=0.0, p_resize=0.0)
    shift = log["shift"].iloc[0]
    assert (moved == np.roll(block, shift, axis=(0, 1, 2))).all()
    # Dilation and erosion by one voxel, as logged.
    seen = set()
    for seed in range(20):
        resized, log = simulate.perturb_labels(block, seed=seed, max_shift=(0, 0, 0), p_missing=0.0, p_resize=1.0)
        kind = log["resize"].iloc[0]
        seen.add(kind)
        # The 6x6x4 block gains one layer on each face (6-connected dilation) or loses its outer layer.
        size = {"dilated 1 voxel": 6 * 6 * 4 + 2 * (6 * 4 + 6 * 4 + 6 * 6), "eroded 1 voxel": 4 * 4 * 2}[kind]
        assert (resized > 0).sum() == size, kind
    assert seen == {"dilated 1 voxel", "eroded 1 voxel"}


@pytest.mark.parametrize(
    "label, kwargs, match",
    [
        (np.zeros((4, 4, 4), np.float32), {}, "integer dtype"),
        (np.full((4, 4, 4), 16, np.uint8), {}, "0-15"),
        (np.zeros((4, 4, 4), np.uint8), {"max_shift": (1, 1)}, "max_shift"),
        (np.zeros((4, 4, 4), np.uint8), {"max_shift": (1, -1, 1)}, "max_shift"),
        (np.zeros((4, 4, 4), np.uint8), {"p_missing": 1.5}, "p_missing"),
        (np.zeros((4, 4, 4), np.uint8), {"p_resize": -0.1}, "p_resize"),
    ],
)
def test_perturb_labels_refuses_bad_input(label, kwargs, match):
    with pytest.raises(ValueError, match=match):
        simulate.perturb_labels(label, **kwargs)


def test_simulate_predictions_look_like_a_models(tmp_path):
    for cid in ("amos_0001", "amos_0002"):
        write_tiny_case(tmp_path, cid)
    labels, out = tmp_path / "labelsTr", tmp_path / "sim"
    log = simulate.simulate_predictions(labels, out, seed=1)
    assert sorted(p.name for p in out.iterdir()) == ["amos_0001.nii.gz", "amos_0002.nii.gz"]
    pred, affine = load_nifti(out / "amos_0002.nii.gz")
    ref, ref_affine = load_nifti(labels / "amos_0002.nii.gz")
    assert pred.shape == ref.shape
    assert np.allclose(affine, ref_affine)
    assert set(log.case) == {"amos_0001", "amos_0002"}
    df = evaluate_folder(out, labels, progress=False)  # accepted like any prediction folder
    assert len(df) == 2 * 15
    # A case's damage depends on its id, not on which other cases are simulated.
    simulate.simulate_predictions(labels, tmp_path / "one", seed=1, cases=["amos_0002"])
    assert (load_nifti(tmp_path / "one" / "amos_0002.nii.gz")[0] == pred).all()
    with pytest.raises(ValueError, match="no label map for amos_0003"):
        simulate.simulate_predictions(labels, tmp_path / "x", cases=["amos_0003"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no reference label maps"):
        simulate.simulate_predictions(tmp_path / "empty", tmp_path / "x")
    with pytest.raises(FileNotFoundError):
        simulate.simulate_predictions(tmp_path / "missing", tmp_path / "x")


def test_simulate_predictions_names_a_bad_file(tmp_path):
    save_nifti(np.full((4, 4, 4), 20, np.uint8), np.eye(4), tmp_path / "labels" / "amos_0001.nii.gz")
    with pytest.raises(ValueError, match=r"amos_0001\.nii\.gz.*0-15"):
        simulate.simulate_predictions(tmp_path / "labels", tmp_path / "out")
