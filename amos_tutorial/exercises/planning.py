"""Checker of the planning exercise: nnU-Net's rule for the target spacing of ``3d_fullres``.

Introduced in chapter *nnU-Net v2: the framework that won*. nnU-Net resamples every case to one target
spacing derived from the dataset's fingerprint: the median spacing of each axis; but when one axis is much
coarser than the others (more than 3 times the finest other spacing) *and* has far fewer voxels (3 times
fewer than the smallest other axis, in median shape), that axis takes the 10th percentile of its spacings
instead, never finer than the other axes' largest spacing (then that spacing + 1e-5). The expected answers
are stored fixtures, made by ``tests/exercise_fixtures.py`` from a copy of nnU-Net v2's
``determine_fullres_target_spacing``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from amos_tutorial.exercises._check import Case, CheckResult, compare_arrays, load_fixture, run_cases

__all__ = ["check_target_spacing"]

_INPUTS = [
    "isotropic CT, no anisotropy: the median",
    "AMOS-like CT, 0.7 x 0.7 x 5 mm and few slices: the 10th percentile along z",
    "thick slices but many of them: the median",
    "10th percentile finer than the in-plane spacing: in-plane spacing + 1e-5",
    "the coarse axis first (z, y, x order)",
    "one case",
]


def check_target_spacing(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> CheckResult:
    """Check ``fn(spacings, shapes) -> target spacing`` (nnU-Net's ``3d_fullres`` rule).

    ``spacings`` and ``shapes`` are ``(N, 3)`` arrays, one row per case (shapes after cropping to the
    foreground); the answer has 3 values in mm. Inputs: an isotropic set, an AMOS-like anisotropic set,
    thick slices in large numbers (not anisotropic in voxels), a 10th percentile below the in-plane spacing,
    the coarse axis first, and a single case.
    """
    data = load_fixture("target_spacing")
    cases = []
    for i, name in enumerate(_INPUTS):
        spacings, shapes, expected = data[f"c{i}_spacings"], data[f"c{i}_shapes"], data[f"c{i}_expected"]
        cases.append(
            Case(
                name,
                lambda f, s=spacings, n=shapes: f(s.copy(), n.copy()),
                lambda got, e=expected: compare_arrays(e, got, atol=1e-6, rtol=1e-6, what="target spacing (mm)"),
            )
        )
    return run_cases("nnU-Net target spacing", fn, cases)
