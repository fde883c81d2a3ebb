"""Checkers of the evaluation exercises: DSC and NSD from scratch, Gaussian sliding-window inference.

Introduced in chapter *Evaluating segmentations*. DSC and NSD follow the book's conventions (two empty
masks score NaN, one empty mask scores 0); the sliding window places and weights its windows as MONAI's
``sliding_window_inference(..., mode="gaussian")`` does. The expected answers are stored fixtures. Three
helpers are *given* to the student: :func:`window_starts`, :func:`gaussian_weights` and
:func:`surface_elements` (the area of each surface element, from :mod:`amos_tutorial.evaluation.metrics`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

from amos_tutorial.evaluation.metrics import surface_elements
from amos_tutorial.exercises._check import Case, CheckResult, compare_arrays, compare_numbers, load_fixture, run_cases

__all__ = [
    "check_dice",
    "check_nsd",
    "check_sliding_window",
    "gaussian_weights",
    "surface_elements",
    "window_starts",
]

#: Gaussian width of the sliding-window weights, as a fraction of the window (MONAI's default).
SIGMA_SCALE = 0.125


_MASK_INPUTS = [
    "a box and the box shifted by 2 voxels",
    "a box and a noisy copy",
    "identical masks",
    "one voxel, predicted right",
    "reference empty, prediction not",
    "both masks empty",
    "2-D disk against a shifted disk",
]


def check_dice(fn: Callable[[np.ndarray, np.ndarray], float]) -> CheckResult:
    """Check ``fn(reference, prediction) -> float``, the Dice similarity coefficient of two boolean masks.

    The book's convention: two empty masks score NaN, one empty mask scores 0. Inputs: shifted and noisy
    boxes, identical masks, one voxel, one empty mask, two empty masks, and a 2-D pair; the expected scores
    are stored.
    """
    data = load_fixture("metrics")
    cases = []
    for i, name in enumerate(_MASK_INPUTS):
        r, p, expected = data[f"c{i}_reference"], data[f"c{i}_prediction"], float(data[f"c{i}_dice"])
        cases.append(Case(name, lambda f, r=r, p=p: f(r.copy(), p.copy()), lambda got, e=expected: compare_numbers(e, got)))
    return run_cases("Dice (DSC)", fn, cases)


def check_nsd(fn: Callable[[np.ndarray, np.ndarray, Sequence[float], float], float]) -> CheckResult:
    """Check ``fn(reference, prediction, spacing, tolerance_mm) -> float``, the normalized surface Dice.

    Surface elements weighted by area (:func:`surface_elements`, given), distances within or exactly at the
    tolerance count; both empty: NaN. Inputs: the masks of :func:`check_dice`, with isotropic and
    anisotropic (0.7 x 0.7 x 5 mm) spacing and two tolerances; the expected scores are stored.
    """
    data = load_fixture("metrics")
    cases = []
    for i, name in enumerate(_MASK_INPUTS):
        r, p, expected = data[f"c{i}_reference"], data[f"c{i}_prediction"], float(data[f"c{i}_nsd"])
        spacing, tol = tuple(data[f"c{i}_spacing"].tolist()), float(data[f"c{i}_tolerance"])
        cases.append(
            Case(
                f"{name}, spacing {spacing} mm, tolerance {tol} mm",
                lambda f, r=r, p=p, s=spacing, t=tol: f(r.copy(), p.copy(), s, t),
                lambda got, e=expected: compare_numbers(e, got),
            )
        )
    return run_cases("normalized surface Dice (NSD)", fn, cases, given=(surface_elements,))


#: Longest axis :func:`window_starts` and :func:`gaussian_weights` accept (voxels): far beyond any scan.
_MAX_AXIS = 100_000
#: Most windows :func:`window_starts` lists on one axis.
_MAX_WINDOWS = 100_000


def window_starts(size: int, roi: int, overlap: float) -> list[int]:
    """Where the windows of one axis start, exactly as MONAI's ``sliding_window_inference`` places them.

    Given to the student. Windows step by ``int(roi * (1 - overlap))`` voxels (at least 1) from 0; the last
    one is moved back to end flush with the volume.

    Args:
        size: Length of the axis in voxels (at least ``roi``).
        roi: Window length in voxels.
        overlap: Fraction of a window shared with the next one, in [0, 1).

    Returns:
        The start index of every window along the axis.

    Raises:
        ValueError: If ``roi`` is not in 1..size, ``overlap`` not in [0, 1), ``size`` is larger than a
            scan's axis can be, or the axis would need more than 100,000 windows.

    Examples:
        >>> window_starts(10, 4, 0.5)
        [0, 2, 4, 6]
        >>> window_starts(9, 4, 0.5)
        [0, 2, 4, 5]
    """
    if not 1 <= int(roi) <= int(size):
        raise ValueError(f"roi must be between 1 and the axis length {size}, got {roi!r}")
    if not 0.0 <= float(overlap) < 1.0:
        raise ValueError(f"overlap must be in [0, 1), got {overlap!r}")
    if int(size) > _MAX_AXIS:
        raise ValueError(f"size must be at most {_MAX_AXIS} voxels (an axis of a scan), got {size!r}")
    if int(size) / max(int(roi * (1.0 - overlap)), 1) > _MAX_WINDOWS:
        raise ValueError(
            f"roi {roi!r} with overlap {overlap!r} gives more than {_MAX_WINDOWS} windows on an axis of {size}; "
            "use a larger roi or a smaller overlap"
        )
    if roi == size:
        return [0]
    step = max(int(roi * (1.0 - overlap)), 1)
    count = next(i for i in range(math.ceil(size / step) + 1) if i * step + roi >= size) + 1
    return [min(i * step, size - roi) for i in range(count)]


def gaussian_weights(roi_size: Sequence[int]) -> torch.Tensor:
    """The Gaussian weight of every voxel of a window (MONAI's importance map, sigma = roi / 8).

    Given to the student: voxels near the window centre count more than those at its border, where the
    network sees less context.

    Args:
        roi_size: Window size per spatial axis.

    Returns:
        A float tensor of shape ``roi_size``, 1 at the centre.

    Raises:
        ValueError: If ``roi_size`` is not 1 to 3 whole sizes of 1 to 100,000 voxels.
    """
    from monai.data.utils import compute_importance_map

    try:
        sizes = tuple(int(r) for r in roi_size)
    except (TypeError, ValueError):
        raise ValueError(f"roi_size must be 1 to 3 window sizes in voxels, got {roi_size!r}") from None
    if not 1 <= len(sizes) <= 3 or any(not 1 <= r <= _MAX_AXIS for r in sizes):
        raise ValueError(f"roi_size must be 1 to 3 window sizes from 1 to {_MAX_AXIS} voxels, got {roi_size!r}")

    return compute_importance_map(sizes, mode="gaussian", sigma_scale=SIGMA_SCALE, device="cpu")


class _PositionNet(torch.nn.Module):
    """A predictor whose answer depends on where a voxel sits in the window (so blending matters)."""

    def __init__(self, classes: int) -> None:
        super().__init__()
        self.classes = classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spatial = x.shape[2:]
        ramp = torch.linspace(-1.0, 1.0, spatial[0]).view(-1, *([1] * (len(spatial) - 1)))
        base = x.mean(dim=1, keepdim=True)
        return torch.cat([base * (k + 1) + ramp * (k - 1) for k in range(self.classes)], dim=1)


def _window_case(name: str, image: torch.Tensor, expected: np.ndarray, predictor: Callable, roi: tuple[int, ...], overlap: float) -> Case:
    def judge(got) -> str | None:
        if not isinstance(got, torch.Tensor):
            return f"expected a torch.Tensor, got {type(got).__name__}"
        return compare_arrays(expected, got, atol=1e-4, rtol=1e-4)

    def run(fn: Callable):
        with torch.no_grad():
            return fn(image.clone(), predictor, roi, overlap)

    return Case(name, run, judge)


#: name, predictor (classes of the position network, or 0 for the 1x1 convolution), roi, overlap of each input.
_WINDOW_INPUTS = [
    ("3-D volume 20x18x12, window 8x8x4, overlap 0.5", 2, (8, 8, 4), 0.5),
    ("an axis exactly one window long", 3, (6, 6, 4), 0.5),
    ("overlap 0.25", 2, (8, 6, 5), 0.25),
    ("a 1x1 convolution network, 2 input channels", 0, (6, 6, 4), 0.5),
    ("the image is exactly one window", 2, (8, 8, 4), 0.5),
]


def check_sliding_window(fn: Callable[..., torch.Tensor]) -> CheckResult:
    """Check ``fn(image, predictor, roi_size, overlap) -> prediction``, Gaussian-blended sliding-window inference.

    ``image`` is ``(1, C, *spatial)``, at least ``roi_size`` along every axis; ``predictor`` maps a window
    ``(1, C, *roi_size)`` to ``(1, K, *roi_size)``; the answer is ``(1, K, *spatial)``: every window's
    prediction weighted by :func:`gaussian_weights`, summed, and divided by the summed weights, with the
    windows where :func:`window_starts` puts them. Inputs: a 3-D volume with a predictor that depends on the
    position in the window, an axis exactly one window long, overlap 0.25, a 1x1 convolution network, and an
    image of exactly one window; the expected predictions are stored.
    """
    data = load_fixture("sliding_window")
    conv = torch.nn.Conv3d(2, 3, 1).eval()
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(data["conv_weight"]))
        conv.bias.copy_(torch.from_numpy(data["conv_bias"]))
    cases = [
        _window_case(
            name, torch.from_numpy(data[f"c{i}_image"]), data[f"c{i}_expected"], _PositionNet(classes) if classes else conv, roi, overlap
        )
        for i, (name, classes, roi, overlap) in enumerate(_WINDOW_INPUTS)
    ]
    return run_cases("sliding-window inference", fn, cases, given=(gaussian_weights, window_starts))
