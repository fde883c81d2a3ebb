"""Resampling axis by axis: a voxel map that only permutes, flips and scales axes, and nothing else."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from amos_tutorial.transforms.resample import axis_map, check_affine, resample_axes


def test_identity_map_gives_the_volume_back():
    vol = torch.arange(3 * 4 * 5, dtype=torch.float32).reshape(1, 3, 4, 5)
    out = resample_axes(vol, np.eye(4), (3, 4, 5), "linear")
    assert torch.equal(out, vol)


def test_half_voxel_steps_interpolate_linearly_and_nearest_rounds():
    vol = torch.tensor([0.0, 10.0, 20.0]).reshape(1, 3, 1, 1)
    m = np.diag([0.5, 1.0, 1.0, 1.0])  # output index i reads input index i / 2
    linear = resample_axes(vol, m, (5, 1, 1), "linear").flatten().tolist()
    assert linear == pytest.approx([0.0, 5.0, 10.0, 15.0, 20.0])
    nearest = resample_axes(vol, m, (5, 1, 1), "nearest").flatten().tolist()
    assert nearest == [0.0, 0.0, 10.0, 20.0, 20.0]  # half to even, as grid_sample


def test_a_flip_and_a_permutation_are_axis_maps():
    m = np.array([[0.0, 1.0, 0.0, 0.0], [-1.0, 0.0, 0.0, 3.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    assert axis_map(m) == [(1, -1.0, 3.0), (0, 1.0, 0.0), (2, 1.0, 0.0)]


def test_an_oblique_map_and_a_singular_affine_are_refused():
    rotation = np.eye(4)
    rotation[:2, :2] = [[0.8, -0.6], [0.6, 0.8]]
    with pytest.raises(ValueError, match="not axis-aligned"):
        axis_map(rotation)
    with pytest.raises(ValueError, match="singular"):
        check_affine(np.diag([1.0, 0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="4x4"):
        check_affine(np.eye(3))
