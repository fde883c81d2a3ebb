"""Checker of the post-processing exercise: keep the largest connected component of an organ's mask.

Introduced in chapter *How AMOS 2022 was won*. The student's function is compared with the package's own rule
``"largest_component"`` of :func:`amos_tutorial.evaluation.postprocess.apply_rules` (3-D, 26-connectivity, as the
AMOS 2022 winners used), applied to a label map that holds the mask as one organ.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from amos_tutorial.exercises._check import Case, CheckResult, compare_arrays, run_cases

__all__ = ["check_largest_component", "reference_largest_component"]

#: The organ label the masks are given as when the package's rule is applied (the liver).
_ORGAN = 6


def reference_largest_component(mask: np.ndarray) -> np.ndarray:
    """The package's ``largest_component`` rule on one boolean mask (the answer the checker expects)."""
    from amos_tutorial.evaluation.postprocess import Rule, apply_rules

    label_map = np.where(np.asarray(mask, bool), _ORGAN, 0).astype(np.uint8)
    kept = apply_rules(label_map, (1.0, 1.0, 1.0), [Rule("largest_component", (_ORGAN,))])
    return np.asarray(kept) == _ORGAN


def _masks() -> list[tuple[str, np.ndarray]]:
    two = np.zeros((12, 12, 8), bool)
    two[1:6, 1:6, 1:5] = True  # 100 voxels
    two[8:10, 8:10, 5:7] = True  # 8 voxels
    diagonal = np.zeros((10, 10, 10), bool)
    diagonal[1:4, 1:4, 1:4] = True  # 27 voxels
    diagonal[4:6, 4:6, 4:6] = True  # 8 voxels touching the cube by one corner only: one component in 26-connectivity
    diagonal[8, 0, 8] = True
    edge = np.zeros((8, 8, 8), bool)
    edge[1:3, 1:3, 1:3] = True  # 8 voxels
    edge[3, 3, 1:6] = True  # 5 voxels touching the cube along an edge (18-connected)
    edge[6:8, 6:8, 6:8] = True  # 8 voxels on their own
    islands = np.zeros((16, 16, 6), bool)
    rng = np.random.default_rng(0)
    islands[2:10, 2:10, 1:5] = True
    for x, y, z in rng.integers(0, [16, 16, 6], size=(6, 3)):
        if not islands[max(x - 1, 0) : x + 2, max(y - 1, 0) : y + 2, max(z - 1, 0) : z + 2].any():
            islands[x, y, z] = True
    one = np.zeros((5, 5, 5), bool)
    one[2, 2, 2] = True
    return [
        ("one voxel", one),
        ("a large and a small box", two),
        ("a box and a small one touching it by a corner only (26-connectivity)", diagonal),
        ("two boxes joined along an edge, and a third apart", edge),
        ("a box and single-voxel islands", islands),
        ("an empty mask", np.zeros((6, 6, 6), bool)),
    ]


def check_largest_component(fn: Callable[[np.ndarray], np.ndarray]) -> CheckResult:
    """Check ``fn(mask) -> mask``: keep only the largest 26-connected component of a 3-D boolean mask.

    Compared with :func:`reference_largest_component` (the package's ``largest_component`` rule). Inputs: one
    voxel, two boxes, a box touched by a corner or an edge only (26-connectivity joins them), single-voxel
    islands, an empty mask (stays empty). The answer must have the input's shape; its values are read as
    booleans.
    """
    def judge(mask: np.ndarray) -> Callable[[object], str | None]:
        def compare(got: object) -> str | None:
            shape_problem = compare_arrays(np.zeros(mask.shape), np.zeros(np.shape(got)), what="shape")
            if shape_problem:
                return shape_problem
            return compare_arrays(reference_largest_component(mask), np.asarray(got).astype(bool))

        return compare

    cases = [Case(name, lambda f, m=m: f(m.copy()), judge(m)) for name, m in _masks()]
    return run_cases("largest component", fn, cases)
