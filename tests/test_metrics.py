"""DSC and NSD: equal to the DeepMind reference and to MONAI on random masks, conventions, tolerances, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from amos_tutorial.evaluation import metrics as M
from amos_tutorial.evaluation import scoring as S
from amos_tutorial.labels import ORGAN_IDS

sd = pytest.importorskip("surface_distance")


@pytest.fixture(autouse=True)
def _deepmind_on_numpy2(monkeypatch):
    # surface-distance predates NumPy 2, which removed the np.Inf alias it uses for empty surfaces.
    monkeypatch.setattr(np, "Inf", np.inf, raising=False)


def deepmind_nsd(ref: np.ndarray, pred: np.ndarray, spacing, tol: float) -> float:
    with np.errstate(invalid="ignore", divide="ignore"):
        dists = sd.compute_surface_distances(ref.astype(bool), pred.astype(bool), tuple(spacing))
        return float(sd.compute_surface_dice_at_tolerance(dists, tol))


def random_pair(rng: np.random.Generator, ndim: int) -> tuple[np.ndarray, np.ndarray, tuple, float]:
    """Two masks with the awkward cases mixed in: empty, one voxel, touching the border, noisy."""
    shape = tuple(int(s) for s in rng.integers(3, 13, ndim))
    spacing = tuple(float(s) for s in rng.uniform(0.3, 3.5, ndim).round(int(rng.integers(1, 4))))
    kind = int(rng.integers(0, 7))
    ref = ndimage.binary_opening(rng.random(shape) < 0.55) if kind < 4 else rng.random(shape) < 0.15
    pred = ref.copy()
    flip = rng.random(shape) < rng.uniform(0.0, 0.3)
    pred[flip] = ~pred[flip]
    if kind == 4:
        pred[:] = False
    elif kind == 5:
        ref[:] = False
        ref[tuple(int(rng.integers(0, s)) for s in shape)] = True  # one-voxel organ
    elif kind == 6:
        ref[:] = True  # fills the box: every face touches the border
    # Tolerances that coincide with spacing multiples make ties (distance == tolerance) frequent.
    tol = float(rng.choice([0.0, 0.7, 1.0, 2.0, spacing[0], 2 * spacing[-1], 4.2]))
    return ref, pred, spacing, tol


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("method", ["lookup", "edt", "auto"])
def test_nsd_equals_deepmind_on_random_masks(ndim, method):
    rng = np.random.default_rng(100 + ndim)
    checked = 0
    for _ in range(60):
        ref, pred, spacing, tol = random_pair(rng, ndim)
        expected = deepmind_nsd(ref, pred, spacing, tol)
        if rng.random() < 0.5:  # nibabel returns Fortran-ordered arrays
            ref, pred = np.asfortranarray(ref), np.asfortranarray(pred)
        got = M.normalized_surface_dice(ref, pred, spacing, tol, method=method)
        if math.isnan(expected):
            assert math.isnan(got)
        else:
            assert got == pytest.approx(expected, abs=1e-6), (spacing, tol)
            checked += 1
    assert checked > 40  # most draws are non-trivial


def test_nsd_tie_at_tolerance_counts_as_within():
    ref = np.zeros((12, 12, 8), bool)
    ref[3:8, 3:8, 2:6] = True
    pred = np.roll(ref, 1, axis=2)  # one slice = exactly 2.5 mm along z
    spacing = (0.8, 0.8, 2.5)
    assert M.normalized_surface_dice(ref, pred, spacing, 2.5) == pytest.approx(deepmind_nsd(ref, pred, spacing, 2.5))
    below = M.normalized_surface_dice(ref, pred, spacing, 2.4999)
    assert below == pytest.approx(deepmind_nsd(ref, pred, spacing, 2.4999), abs=1e-9)
    assert below < M.normalized_surface_dice(ref, pred, spacing, 2.5)


def test_surface_distances_match_deepmind():
    rng = np.random.default_rng(3)
    ref = ndimage.binary_opening(rng.random((10, 11, 7)) < 0.6)
    pred = np.roll(ref, 2, axis=0)
    spacing = (0.7, 1.1, 3.0)
    ours = M.surface_distances(ref, pred, spacing)
    theirs = sd.compute_surface_distances(ref, pred, spacing)
    for key in ("distances_gt_to_pred", "distances_pred_to_gt"):
        area_key = "surfel_areas_gt" if key.endswith("pred") else "surfel_areas_pred"
        ours_sorted = sorted(zip(ours[key], ours[area_key]))
        np.testing.assert_allclose(np.array(ours_sorted), np.column_stack([theirs[key], theirs[area_key]]), atol=1e-9)


def random_label_maps(seed: int, shape=(22, 18, 10)) -> tuple[np.ndarray, np.ndarray]:
    """Multi-organ maps: organs of many sizes, one at the border, one of one voxel, absences on purpose."""
    rng = np.random.default_rng(seed)
    ref = np.zeros(shape, np.uint8)
    for organ in (1, 2, 3, 6, 7, 10, 13):
        centre = [int(rng.integers(0, s)) for s in shape]
        box = tuple(slice(max(0, c - int(rng.integers(1, 5))), c + int(rng.integers(1, 5))) for c in centre)
        ref[box] = organ
    ref[0:4, 0:5, :] = 8  # touches three faces of the volume
    ref[tuple(s // 2 for s in shape)] = 11  # one voxel
    pred = ref.copy()
    noise = rng.random(shape) < 0.12
    pred[noise] = rng.integers(0, 16, int(noise.sum()))
    pred[pred == 13] = 0  # organ missing from the prediction
    pred[ref == 0] = np.where(rng.random(int((ref == 0).sum())) < 0.01, 14, pred[ref == 0])  # 14 only predicted
    return ref, pred


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_score_case_matches_deepmind_and_monai_dice(seed):
    from monai.metrics import DiceMetric
    from monai.networks.utils import one_hot

    ref, pred = random_label_maps(seed)
    spacing = (0.9, 1.3, 4.0)
    tol = {"default": 1.0, "liver": 2.0, "arota": 4.0}
    df = S.score_case(ref, pred, spacing, tolerance_mm=tol, absent="score")
    assert list(df.columns) == list(S.metric_columns())
    assert df["organ_id"].tolist() == list(ORGAN_IDS)

    monai_dice = DiceMetric(include_background=False, reduction="none", ignore_empty=False)
    y = one_hot(torch.from_numpy(ref.astype(np.int64))[None, None], 16)
    y_pred = one_hot(torch.from_numpy(pred.astype(np.int64))[None, None], 16)
    np.testing.assert_allclose(df["dsc"].to_numpy(), monai_dice(y_pred, y)[0].numpy(), atol=1e-6)

    for row in df.itertuples():
        expected_tol = {6: 2.0, 8: 4.0}.get(row.organ_id, 1.0)
        assert row.tolerance_mm == expected_tol
        expected = deepmind_nsd(ref == row.organ_id, pred == row.organ_id, spacing, expected_tol)
        if math.isnan(expected):  # absent from both: the "score" convention says 1
            assert row.nsd == 1.0
        else:
            assert row.nsd == pytest.approx(expected, abs=1e-6)


@pytest.mark.filterwarnings("ignore:the (prediction|ground truth) of class")
def test_score_case_nsd_matches_monai_subvoxels():
    from monai.metrics import compute_surface_dice
    from monai.networks.utils import one_hot

    ref, pred = random_label_maps(5)
    spacing = (0.8, 0.8, 3.0)
    df = S.score_case(ref, pred, spacing, tolerance_mm=1.5)
    y = one_hot(torch.from_numpy(ref.astype(np.int64))[None, None], 16)
    y_pred = one_hot(torch.from_numpy(pred.astype(np.int64))[None, None], 16)
    theirs = compute_surface_dice(y_pred, y, [1.5] * 15, spacing=spacing, use_subvoxels=True)[0].numpy()
    np.testing.assert_allclose(df["nsd"].to_numpy(), theirs, atol=1e-6, equal_nan=True)


def test_absent_conventions():
    ref = np.zeros((8, 8, 4), np.uint8)
    ref[2:5, 2:5, 1:3] = 1  # spleen in both
    pred = ref.copy()
    ref[6, 6, 2] = 3  # left kidney only in the reference
    pred[0, 0, 0] = 4  # gallbladder only in the prediction
    for absent, both_absent in (("nan", math.nan), ("score", 1.0)):
        df = S.score_case(ref, pred, 1.0, absent=absent).set_index("organ_id")
        assert df.loc[1, "dsc"] == 1.0
        assert df.loc[1, "nsd"] == 1.0
        assert df.loc[3, "dsc"] == 0.0
        assert df.loc[3, "nsd"] == 0.0
        assert df.loc[4, "dsc"] == 0.0
        assert df.loc[4, "nsd"] == 0.0
        for value in df.loc[15, ["dsc", "nsd"]]:
            assert (math.isnan(value) and math.isnan(both_absent)) or value == both_absent
        assert absent in df.attrs["conventions"]
    assert math.isnan(M.dice(np.zeros(3, bool), np.zeros(3, bool)))


def test_volumes_in_ml_follow_spacing():
    ref = np.zeros((10, 10, 6), np.uint8)
    ref[1:5, 1:6, 1:4] = 6  # 60 voxels
    pred = np.zeros_like(ref)
    pred[1:5, 1:6, 1:3] = 6  # 40 voxels
    spacing = (0.5, 2.0, 5.0)  # 5 mm^3 per voxel
    row = S.score_case(ref, pred, spacing, organ_ids=(6,)).iloc[0]
    assert row.ref_ml == pytest.approx(60 * 5.0 / 1000)
    assert row.pred_ml == pytest.approx(40 * 5.0 / 1000)
    assert row.dsc == pytest.approx(2 * 40 / 100)


def test_tolerance_parsing_and_resolution():
    assert M.parse_tolerance(" 2.5 ") == 2.5
    assert M.parse_tolerance("1,liver=3, LKI=0.5,15=2") == {"default": 1.0, 6: 3.0, 3: 0.5, 15: 2.0}
    resolved = M.resolve_tolerances("2,postcava=4")
    assert resolved[9] == 4.0
    assert resolved[1] == 2.0
    assert len(resolved) == 15
    assert set(M.resolve_tolerances(None).values()) == {M.DEFAULT_TOLERANCE_MM}
    assert M.resolve_tolerances({"inferior_vena_cava": 3}, organ_ids=(9,)) == {9: 3.0}
    for bad in ("liver=abc", "-1", "nan", "kidney=2", "1,2", "", "16=1"):
        with pytest.raises(ValueError):
            M.resolve_tolerances(bad)


def test_describe_conventions_states_both_rules():
    text = M.describe_conventions(None, "nan")
    assert "1 mm for every organ" in text
    assert "not published" in text
    assert "NaN" in text
    text = M.describe_conventions({"default": 1.0, "pancreas": 3.0}, "score")
    assert "except pancreas 3 mm" in text
    assert "-> 1" in text


def test_bad_inputs_raise_clear_errors():
    ref = np.zeros((4, 4, 4), np.uint8)
    with pytest.raises(ValueError, match="label 16"):
        S.score_case(ref, np.full_like(ref, 16), 1.0)
    with pytest.raises(ValueError, match="shapes differ"):
        S.score_case(ref, np.zeros((4, 4, 3), np.uint8), 1.0)
    with pytest.raises(ValueError, match="integer dtype"):
        S.score_case(ref, ref.astype(np.float32), 1.0)
    with pytest.raises(ValueError, match="negative"):
        S.score_case(ref.astype(np.int16), np.full((4, 4, 4), -1, np.int16), 1.0)
    with pytest.raises(ValueError, match="spacing"):
        S.score_case(ref, ref, (1.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="absent"):
        S.score_case(ref, ref, 1.0, absent="zero")
    with pytest.raises(ValueError, match="method"):
        M.normalized_surface_dice(ref > 0, ref > 0, 1.0, method="fast")


def test_spacing_from_affine_handles_flips_and_rotations():
    affine = np.diag([-0.7, -0.7, 5.0, 1.0])
    assert M.spacing_from_affine(affine) == pytest.approx((0.7, 0.7, 5.0))
    rot = np.eye(4)
    rot[:3, :3] = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1]]) @ np.diag([0.8, 1.2, 3.0])
    assert M.spacing_from_affine(rot) == pytest.approx((0.8, 1.2, 3.0))
    with pytest.raises(ValueError):
        M.spacing_from_affine(np.zeros((4, 4)))


def test_demo_masks_for_the_chapter():
    ref, pred = M.demo_mask_pair(shift=(0, 3), shape=(40, 40), radius=10)
    assert ref.shape == (40, 40)
    assert ref.sum() == pred.sum()
    assert 0 < M.dice(ref, pred) < 1
    # A 3-voxel shift is within a 3 mm tolerance at 1 mm spacing, and not within 2 mm.
    assert M.normalized_surface_dice(ref, pred, 1.0, 3.0) == 1.0
    assert M.normalized_surface_dice(ref, pred, 1.0, 2.0) < 1.0
    ball = M.disk_mask((9, 9, 9), radius=2)
    assert ball.sum() == 33
    assert ball[4, 4, 4]
