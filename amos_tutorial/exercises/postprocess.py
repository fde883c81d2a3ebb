"""Checker of the post-processing exercise: keep the largest connected component of an organ's mask.

Introduced in chapter *How AMOS 2022 was won*. The student's function must give the masks that the package's
own rule ``"largest_component"`` (3-D, 26-connectivity, as the AMOS 2022 winners used) gives; they are stored
fixtures.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from amos_tutorial.exercises._check import Case, CheckResult, compare_arrays, load_fixture, run_cases

__all__ = ["check_largest_component"]

_MASK_INPUTS = [
    "one voxel",
    "a large and a small box",
    "a box and a small one touching it by a corner only (26-connectivity)",
    "two boxes joined along an edge, and a third apart",
    "a box and single-voxel islands",
    "an empty mask",
]


def check_largest_component(fn: Callable[[np.ndarray], np.ndarray]) -> CheckResult:
    """Check ``fn(mask) -> mask``: keep only the largest 26-connected component of a 3-D boolean mask.

    The expected masks are stored (the package's ``largest_component`` rule made them). Inputs: one
    voxel, two boxes, a box touched by a corner or an edge only (26-connectivity joins them), single-voxel
    islands, an empty mask (stays empty). The answer must have the input's shape; its values are read as
    booleans.
    """
    def judge(expected: np.ndarray) -> Callable[[object], str | None]:
        def compare(got: object) -> str | None:
            shape_problem = compare_arrays(np.zeros(expected.shape), np.zeros(np.shape(got)), what="shape")
            if shape_problem:
                return shape_problem
            return compare_arrays(expected, np.asarray(got).astype(bool))

        return compare

    data = load_fixture("largest_component")
    cases = [
        Case(name, lambda f, m=data[f"c{i}_mask"]: f(m.copy()), judge(data[f"c{i}_expected"])) for i, name in enumerate(_MASK_INPUTS)
    ]
    return run_cases("largest component", fn, cases)
