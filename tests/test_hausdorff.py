"""HD95: equal to MONAI's HausdorffDistanceMetric(percentile=95), within a voxel of DeepMind's, empty-mask rules."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import surface_distance as sd
import torch
from monai.metrics import HausdorffDistanceMetric
from monai.metrics.utils import get_edge_surface_distance
from scipy import ndimage

from amos_tutorial.evaluation.hausdorff import hausdorff_distance_95
from amos_tutorial.evaluation.scoring import score_case


@pytest.fixture(autouse=True)
def _deepmind_on_numpy2(monkeypatch):
    # surface-distance predates NumPy 2, which removed the np.Inf alias it uses for empty surfaces.
    monkeypatch.setattr(np, "Inf", np.inf, raising=False)


def blob_pair(seed: int, shape=(40, 36, 24)) -> tuple[np.ndarray, np.ndarray, tuple[float, ...]]:
    """Two overlapping smooth random blobs (touching the array border on some seeds) and a spacing."""
    rng = np.random.default_rng(seed)
    ref = ndimage.gaussian_filter(rng.random(shape), 3) > 0.5
    pred = ndimage.binary_dilation(ref, iterations=1) if seed % 2 else ndimage.gaussian_filter(rng.random(shape), 3) > 0.5
    pred = np.roll(pred, seed % 3, axis=0)
    spacing = tuple(float(s) for s in rng.choice([0.7, 0.8, 1.0, 2.5, 5.0], size=3))
    return ref, pred, spacing


def monai_hd95(ref: np.ndarray, pred: np.ndarray, spacing) -> float:
    onehot = lambda m: torch.from_numpy(np.stack([~m, m])[None].astype(np.float32))  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(HausdorffDistanceMetric(percentile=95)(onehot(pred), onehot(ref), spacing=list(spacing))[0, 0])


def monai_hd95_float64(ref: np.ndarray, pred: np.ndarray, spacing) -> float:
    """MONAI's edges and distances, with the percentile taken in float64 (MONAI's own quantile is float32)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, distances, _ = get_edge_surface_distance(
            torch.from_numpy(pred), torch.from_numpy(ref), spacing=list(spacing), symmetric=True
        )
    return max(float(np.percentile(d.numpy().astype(np.float64), 95)) for d in distances)


@pytest.mark.parametrize("seed", range(6))
def test_hd95_equals_monai(seed):
    ref, pred, spacing = blob_pair(seed)
    ours = hausdorff_distance_95(ref, pred, spacing)
    assert ours == pytest.approx(monai_hd95_float64(ref, pred, spacing), rel=1e-6, abs=1e-6)
    # MONAI's metric itself (its quantile is float32: on other masks the rounding can reach a few 1e-6).
    assert ours == pytest.approx(monai_hd95(ref, pred, spacing), rel=1e-6)


@pytest.mark.parametrize("seed", range(6))
def test_hd95_within_a_voxel_of_deepmind(seed):
    # DeepMind measures between area-weighted surface elements on the voxel-corner grid, not edge voxels.
    ref, pred, spacing = blob_pair(seed)
    ours = hausdorff_distance_95(ref, pred, spacing)
    theirs = sd.compute_robust_hausdorff(sd.compute_surface_distances(ref, pred, spacing), 95)
    assert abs(ours - theirs) <= max(spacing)


def test_hd95_of_a_shift_is_the_shift_in_mm():
    ref = np.zeros((30, 30, 10), bool)
    ref[8:20, 8:20, 3:7] = True
    assert hausdorff_distance_95(ref, np.roll(ref, 3, axis=1), (0.5, 0.8, 4.0)) == pytest.approx(2.4)
    assert hausdorff_distance_95(ref, ref, (0.5, 0.8, 4.0)) == 0.0


def test_cropping_gives_the_whole_array_value():
    ref, pred, spacing = blob_pair(1)
    padded = [np.pad(m, 7) for m in (ref, pred)]
    assert hausdorff_distance_95(*padded, spacing) == pytest.approx(hausdorff_distance_95(ref, pred, spacing))


def test_empty_masks_follow_the_convention():
    ref = np.zeros((8, 8, 4), bool)
    ref[2:5, 2:5, 1:3] = True
    empty = np.zeros_like(ref)
    assert math.isnan(hausdorff_distance_95(ref, empty, 1.0))
    assert math.isnan(hausdorff_distance_95(empty, ref, 1.0, absent="score"))
    assert math.isnan(hausdorff_distance_95(empty, empty, 1.0))
    assert hausdorff_distance_95(empty, empty, 1.0, absent="score") == 0.0


def test_score_case_has_an_hd95_column_per_organ():
    ref = np.zeros((30, 30, 10), np.uint8)
    ref[5:15, 5:15, 2:8] = 6
    ref[18:25, 18:25, 2:8] = 1
    pred = np.roll(ref, 2, axis=0)
    pred[pred == 1] = 0
    df = score_case(ref, pred, (1.0, 1.0, 2.0), organ_ids=(1, 6, 7)).set_index("organ")
    assert df.loc["liver", "hd95"] == pytest.approx(hausdorff_distance_95(ref == 6, pred == 6, (1.0, 1.0, 2.0)))
    assert math.isnan(df.loc["spleen", "hd95"])  # missed: undefined, while DSC scores it 0
    assert df.loc["spleen", "dsc"] == 0.0
    assert "HD95 of an organ absent from one of them is NaN" in df.attrs["conventions"]


def test_bad_inputs_raise_clear_errors():
    ref = np.ones((4, 4, 4), bool)
    with pytest.raises(ValueError, match="shapes differ"):
        hausdorff_distance_95(ref, ref[:3], 1.0)
    with pytest.raises(ValueError, match="spacing"):
        hausdorff_distance_95(ref, ref, (1.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="spacing"):
        hausdorff_distance_95(ref, ref, (1.0, 1.0))
    with pytest.raises(ValueError, match="absent"):
        hausdorff_distance_95(ref, ref, 1.0, absent="zero")
    with pytest.raises(ValueError, match="2-D or 3-D"):
        hausdorff_distance_95(ref[0, 0], ref[0, 0], 1.0)


@pytest.mark.parametrize("ndim", [2, 3])
def test_edges_equal_scipy_erosion(ndim):
    from amos_tutorial.evaluation.hausdorff import _edges

    mask = ndimage.gaussian_filter(np.random.default_rng(ndim).random((20,) * ndim), 2) > 0.5
    mask[0] = True  # a face on the border of the array
    np.testing.assert_array_equal(_edges(mask), mask ^ ndimage.binary_erosion(mask))
