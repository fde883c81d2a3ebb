"""Checkers of the data exercises: window/level, resampling, patch sampling, MRI normalisation.

Introduced in chapters *Exploring the data* (window/level), *Preprocessing and augmentation*
(resampling, patch sampling) and *CT and MRI: the two tasks* (MRI normalisation). Each ``check_*`` runs the student's function on random and edge-case
inputs and returns a one-line :class:`~amos_tutorial.exercises._check.CheckResult`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from amos_tutorial.exercises._check import Case, CheckResult, compare_arrays, load_fixture, run_cases

__all__ = ["check_mri_normalisation", "check_patch_sampling", "check_resample_spacing", "check_window_level"]

_SEED = 0

_WINDOW_INPUTS = [
    "random HU volume, level 40 width 400",
    "book CT window -175..250 HU (level 37.5, width 425)",
    "values on the window edges",
    "int16 image as stored in CT files",
    "one voxel",
]


def check_window_level(fn: Callable[[np.ndarray, float, float], np.ndarray]) -> CheckResult:
    """Check ``fn(image_hu, level, width) -> array in [0, 1]`` (the display window of a CT slice).

    Inputs: a random HU volume with the abdomen window, the book's CT window (-175..250 HU), values exactly
    on the window's edges, an ``int16`` image (as CT files store it), and a single voxel. The expected
    answers are stored (:func:`~amos_tutorial.exercises._check.load_fixture`).
    """
    data = load_fixture("window_level")
    cases = []
    for i, name in enumerate(_WINDOW_INPUTS):
        x, (level, width), expected = data[f"c{i}_image"], data[f"c{i}_window"], data[f"c{i}_expected"]
        cases.append(
            Case(
                name,
                lambda f, x=x, lv=float(level), w=float(width): f(x.copy(), lv, w),
                lambda got, e=expected: compare_arrays(e, got, atol=1e-5),
            )
        )
    return run_cases("window/level", fn, cases)


_RESAMPLE_INPUTS = [
    "anisotropic 0.7x0.7x5 mm -> 1.5x1.5x2 mm",
    "already at the target spacing",
    "upsampling 2 mm -> 1.5 mm (last voxel past the end)",
    "one slice along z",
]


def check_resample_spacing(fn: Callable[[np.ndarray, Sequence[float], Sequence[float]], np.ndarray]) -> CheckResult:
    """Check ``fn(volume, spacing, target) -> volume`` (linear resampling of a 3-D array to a voxel size in mm).

    The answer follows MONAI ``Spacing``'s grid: output voxel ``i`` of an axis sits at input index
    ``i * target / spacing``, an axis of ``n`` voxels becomes ``round((n - 1) * spacing / target) + 1``, and
    positions past the last voxel take its value. Inputs: an anisotropic AMOS-like volume (0.7 x 0.7 x 5 mm
    to 1.5 x 1.5 x 2 mm), a volume already at the target spacing (must come back unchanged), upsampling
    whose last voxel falls past the input, and an axis with a single slice.
    """
    data = load_fixture("resample_spacing")
    cases = []
    for i, name in enumerate(_RESAMPLE_INPUTS):
        x, expected = data[f"c{i}_volume"], data[f"c{i}_expected"]
        s, t = tuple(data[f"c{i}_spacing"].tolist()), tuple(data[f"c{i}_target"].tolist())
        cases.append(
            Case(
                name,
                lambda f, x=x, s=s, t=t: f(x.copy(), s, t),
                lambda got, e=expected: compare_arrays(e, got, atol=1e-5),
            )
        )
    return run_cases("resample to spacing", fn, cases)


_DRAWS = 300


def _draw(fn: Callable, label: np.ndarray, patch: tuple[int, ...], draws: int = _DRAWS) -> list[tuple[int, ...]]:
    rng = np.random.default_rng(_SEED)
    starts = []
    for _ in range(draws):
        start = fn(label, patch, rng)
        starts.append(tuple(int(v) for v in start))
    return starts


def _outside(starts: list[tuple[int, ...]], label: np.ndarray, patch: tuple[int, ...]) -> str | None:
    limit = tuple(s - p for s, p in zip(label.shape, patch))
    for start in starts:
        if len(start) != label.ndim or any(not 0 <= a <= b for a, b in zip(start, limit)):
            return f"expected a patch start inside 0..{limit} (the patch must fit in the volume), got {start}"
    return None


def _judge_patches(
    starts: list[tuple[int, ...]], label: np.ndarray, patch: tuple[int, ...], min_share: dict[int, float]
) -> str | None:
    problem = _outside(starts, label, patch)
    if problem:
        return problem
    for organ, share in min_share.items():
        hits = sum(
            bool((label[tuple(slice(a, a + p) for a, p in zip(start, patch))] == organ).any()) for start in starts
        )
        if hits < share * len(starts):
            return (
                f"expected organ {organ} in at least {share:.0%} of the patches (every organ present equally "
                f"likely), got {hits / len(starts):.0%}"
            )
    if not min_share:
        return _judge_uniform(starts, tuple(s - p for s, p in zip(label.shape, patch)))
    return None


def _judge_uniform(starts: list[tuple[int, ...]], limit: tuple[int, ...]) -> str | None:
    """Every start of every axis about equally often (no organ: a uniformly random start)."""
    values = np.asarray(starts)
    for axis, top in enumerate(limit):
        counts = np.bincount(values[:, axis], minlength=top + 1)
        expected = len(starts) / (top + 1)
        if (counts == 0).any() or counts.max() > 2.5 * expected:
            return (
                f"expected random starts spread uniformly over 0..{top} along axis {axis} when no organ is present, "
                f"got {int((counts > 0).sum())} distinct values, the most frequent {int(counts.max())} times of {len(starts)}"
            )
    return None


def _judge_centred(starts: list[tuple[int, ...]], label: np.ndarray, patch: tuple[int, ...]) -> str | None:
    """The chosen voxel at the patch centre: ``start + patch // 2`` lies in the organ, on average at its centroid."""
    problem = _outside(starts, label, patch)
    if problem:
        return problem
    centres = np.asarray(starts) + np.asarray(patch) // 2
    offset = centres.mean(axis=0) - np.argwhere(label > 0).mean(axis=0)
    outside = sum(not label[tuple(c)] for c in centres)
    if outside or np.abs(offset).max() > 1.0:
        shown = tuple(round(float(v), 1) for v in offset)
        return (
            f"expected the chosen voxel at the patch centre (start = voxel - patch // 2), got patch centres "
            f"{shown} voxels from the organ's centre on average ({outside} of {len(starts)} off the organ)"
        )
    return None


def check_patch_sampling(fn: Callable[[np.ndarray, tuple[int, ...], np.random.Generator], Sequence[int]]) -> CheckResult:
    """Check ``fn(label, patch_size, rng) -> start`` (organ-weighted patch sampling, nnU-Net style).

    The function picks one organ present in ``label`` (every organ equally likely), then one voxel of that
    organ, and returns the start (corner) of a ``patch_size`` patch centred on it as nearly as the volume
    allows (``start = clip(voxel - patch // 2, 0, shape - patch)``); with no organ present, a uniformly random
    start. Inputs: a large and a tiny organ, three organs far apart, a one-voxel organ in a corner, an empty
    label (the starts must spread uniformly), one organ far from the borders (the patch centre must be the
    chosen voxel: the mean offset from the organ's centre is measured), an anisotropic patch, and a patch as
    large as the volume. Each is drawn 300 times with
    ``np.random.default_rng(0)``.
    """
    big_and_tiny = np.zeros((40, 40, 12), np.uint8)
    big_and_tiny[2:30, 2:30, 1:11] = 6  # liver-sized
    big_and_tiny[36:38, 36:38, 5:6] = 11  # adrenal-sized, 4 voxels
    three = np.zeros((48, 16, 16), np.uint8)
    three[1:4, 2:5, 2:5], three[22:25, 6:9, 6:9], three[44:47, 10:13, 10:13] = 1, 2, 3
    middle = np.zeros((40, 40, 20), np.uint8)
    middle[16:24, 16:24, 8:12] = 3  # far from every border: no clipping, so the patch centre is the voxel
    corner = np.zeros((20, 20, 8), np.uint8)
    corner[19, 19, 7] = 4
    empty = np.zeros((16, 16, 8), np.uint8)
    inputs = [
        ("a large and a tiny organ", big_and_tiny, (16, 16, 4), {6: 0.4, 11: 0.4}),
        ("three organs far apart", three, (8, 8, 8), {1: 0.25, 2: 0.25, 3: 0.25}),
        ("one-voxel organ in a corner", corner, (8, 8, 4), {4: 1.0}),
        ("empty label (no organ)", empty, (8, 8, 4), {}),
        ("one organ in the middle (patch centred on its voxel)", middle, (16, 16, 8), None),
        ("anisotropic patch 12x12x2", big_and_tiny, (12, 12, 2), {6: 0.4, 11: 0.4}),
        ("patch as large as the volume", corner, (20, 20, 8), {4: 1.0}),
    ]
    cases = [
        Case(
            name,
            lambda f, lab=lab, p=p: _draw(f, lab, p),
            (lambda got, lab=lab, p=p: _judge_centred(got, lab, p))
            if share is None
            else (lambda got, lab=lab, p=p, share=share: _judge_patches(got, lab, p, share)),
        )
        for name, lab, p, share in inputs
    ]
    return run_cases("organ-weighted patch sampling", fn, cases)


_MRI_INPUTS = [
    "MRI-like volume with a few very bright voxels",
    "values below zero",
    "a constant volume (no NaN: subtract the mean, divide by 1)",
    "int16 volume as stored in MRI files",
    "2 x 2 x 2 voxels (percentiles between two values)",
]


def check_mri_normalisation(fn: Callable[[np.ndarray], np.ndarray]) -> CheckResult:
    """Check ``fn(image) -> array``: the book's MRI normalisation.

    Clip to the volume's 0.5th and 99.5th percentiles (``np.percentile``, linear), then subtract the mean
    and divide by the standard deviation (``np.std``, over the whole clipped volume); a constant volume is
    divided by 1. Inputs: an MRI-like volume with bright outliers, negative values, a constant volume, an
    ``int16`` volume and a 2 x 2 x 2 one; the expected answers are stored.
    """
    data = load_fixture("mri_normalisation")
    cases = [
        Case(
            name,
            lambda f, x=data[f"c{i}_image"]: f(x.copy()),
            lambda got, e=data[f"c{i}_expected"]: compare_arrays(e, got, atol=1e-4, rtol=1e-4),
        )
        for i, name in enumerate(_MRI_INPUTS)
    ]
    return run_cases("MRI normalisation", fn, cases)
