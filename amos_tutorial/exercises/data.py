"""Checkers of the data exercises: window/level, resampling to a spacing, organ-weighted patch sampling.

Introduced in chapters *Exploring the data* (window/level) and *Preprocessing and augmentation*
(resampling, patch sampling). Each ``check_*`` runs the student's function on random and edge-case
inputs and returns a one-line :class:`~amos_tutorial.exercises._check.CheckResult`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from amos_tutorial.exercises._check import Case, CheckResult, compare_arrays, run_cases

__all__ = [
    "check_patch_sampling",
    "check_resample_spacing",
    "check_window_level",
    "reference_resample_spacing",
    "reference_window_level",
]

_SEED = 0


def reference_window_level(image: np.ndarray, level: float, width: float) -> np.ndarray:
    """The expected answer of the window/level exercise: HU ``level ± width/2`` mapped linearly to 0..1, clipped."""
    low = float(level) - float(width) / 2.0
    return np.clip((np.asarray(image, dtype=np.float64) - low) / float(width), 0.0, 1.0)


def check_window_level(fn: Callable[[np.ndarray, float, float], np.ndarray]) -> CheckResult:
    """Check ``fn(image_hu, level, width) -> array in [0, 1]`` (the display window of a CT slice).

    Inputs: a random HU volume with the abdomen window, the book's CT window (-175..250 HU), values exactly
    on the window's edges, an ``int16`` image (as CT files store it), and a single voxel.
    """
    rng = np.random.default_rng(_SEED)
    volume = rng.uniform(-1024, 1500, size=(6, 5, 4))
    edges = np.array([[-160.0, 40.0, 240.0, -161.0, 241.0]])
    stored = rng.integers(-1024, 2000, size=(8, 8)).astype(np.int16)
    inputs = [
        ("random HU volume, level 40 width 400", volume, 40.0, 400.0),
        ("book CT window -175..250 HU (level 37.5, width 425)", volume, 37.5, 425.0),
        ("values on the window edges", edges, 40.0, 400.0),
        ("int16 image as stored in CT files", stored, 50.0, 350.0),
        ("one voxel", np.array([[[100.0]]]), 40.0, 400.0),
    ]
    cases = [
        Case(
            name,
            lambda f, x=x, lv=lv, w=w: f(x.copy(), lv, w),
            lambda got, x=x, lv=lv, w=w: compare_arrays(reference_window_level(x, lv, w), got, atol=1e-5),
        )
        for name, x, lv, w in inputs
    ]
    return run_cases("window/level", fn, cases)


def reference_resample_spacing(volume: np.ndarray, spacing: Sequence[float], target: Sequence[float]) -> np.ndarray:
    """The expected answer of the resampling exercise (the convention of MONAI's ``Spacing``).

    Output voxel ``i`` of an axis sits ``i * target`` mm from the first input voxel's centre, i.e. at input
    index ``i * target / spacing``; the output has ``round((n - 1) * spacing / target) + 1`` voxels; values
    are interpolated linearly, and indices past the last voxel take the last voxel's value.
    """
    out = np.asarray(volume, dtype=np.float64)
    for axis, (s, t) in enumerate(zip(spacing, target)):
        n = out.shape[axis]
        m = int(np.round((n - 1) * float(s) / float(t))) + 1
        coord = np.clip(np.arange(m) * float(t) / float(s), 0.0, n - 1.0)
        lo = np.floor(coord).astype(int)
        hi = np.minimum(lo + 1, n - 1)
        shape = [1] * out.ndim
        shape[axis] = m
        w = (coord - lo).reshape(shape)
        out = np.take(out, lo, axis=axis) * (1 - w) + np.take(out, hi, axis=axis) * w
    return out


def check_resample_spacing(fn: Callable[[np.ndarray, Sequence[float], Sequence[float]], np.ndarray]) -> CheckResult:
    """Check ``fn(volume, spacing, target) -> volume`` (linear resampling of a 3-D array to a voxel size in mm).

    Inputs: an anisotropic AMOS-like volume (0.7 x 0.7 x 5 mm to 1.5 x 1.5 x 2 mm), a volume already at the
    target spacing (must come back unchanged), upsampling whose last voxel falls past the input, and an axis
    with a single slice.
    """
    rng = np.random.default_rng(_SEED)
    inputs = [
        ("anisotropic 0.7x0.7x5 mm -> 1.5x1.5x2 mm", rng.normal(size=(12, 10, 5)), (0.7, 0.7, 5.0), (1.5, 1.5, 2.0)),
        ("already at the target spacing", rng.normal(size=(5, 4, 3)), (1.5, 1.5, 2.0), (1.5, 1.5, 2.0)),
        ("upsampling 2 mm -> 1.5 mm (last voxel past the end)", rng.normal(size=(9, 4, 3)), (2.0, 1.5, 2.0), (1.5, 1.5, 2.0)),
        ("one slice along z", rng.normal(size=(6, 6, 1)), (1.0, 1.0, 5.0), (1.5, 1.5, 2.0)),
    ]
    cases = [
        Case(
            name,
            lambda f, x=x, s=s, t=t: f(x.copy(), s, t),
            lambda got, x=x, s=s, t=t: compare_arrays(reference_resample_spacing(x, s, t), got, atol=1e-5),
        )
        for name, x, s, t in inputs
    ]
    return run_cases("resample to spacing", fn, cases)


_DRAWS = 300


def _draw(fn: Callable, label: np.ndarray, patch: tuple[int, ...], draws: int = _DRAWS) -> list[tuple[int, ...]]:
    rng = np.random.default_rng(_SEED)
    starts = []
    for _ in range(draws):
        start = fn(label, patch, rng)
        starts.append(tuple(int(v) for v in start))
    return starts


def _judge_patches(
    starts: list[tuple[int, ...]], label: np.ndarray, patch: tuple[int, ...], min_share: dict[int, float]
) -> str | None:
    limit = tuple(s - p for s, p in zip(label.shape, patch))
    for start in starts:
        if len(start) != label.ndim or any(not 0 <= a <= b for a, b in zip(start, limit)):
            return f"expected a patch start inside 0..{limit} (the patch must fit in the volume), got {start}"
    for organ, share in min_share.items():
        hits = sum(
            bool((label[tuple(slice(a, a + p) for a, p in zip(start, patch))] == organ).any()) for start in starts
        )
        if hits < share * len(starts):
            return (
                f"expected organ {organ} in at least {share:.0%} of the patches (every organ present equally "
                f"likely), got {hits / len(starts):.0%}"
            )
    if not min_share and len(set(starts)) < 2:
        return f"expected random patch positions when no organ is present, got the same start {starts[0]} every time"
    return None


def check_patch_sampling(fn: Callable[[np.ndarray, tuple[int, ...], np.random.Generator], Sequence[int]]) -> CheckResult:
    """Check ``fn(label, patch_size, rng) -> start`` (organ-weighted patch sampling, nnU-Net style).

    The function picks one organ present in ``label`` (every organ equally likely), then one voxel of that
    organ, and returns the start (corner) of a ``patch_size`` patch centred on it as nearly as the volume
    allows (``start = clip(voxel - patch // 2, 0, shape - patch)``); with no organ present, a uniformly random
    start. Inputs: a large and a tiny organ, three organs far apart, a one-voxel organ in a corner, an empty
    label, an anisotropic patch, and a patch as large as the volume. Each is drawn 300 times with
    ``np.random.default_rng(0)``.
    """
    big_and_tiny = np.zeros((40, 40, 12), np.uint8)
    big_and_tiny[2:30, 2:30, 1:11] = 6  # liver-sized
    big_and_tiny[36:38, 36:38, 5:6] = 11  # adrenal-sized, 4 voxels
    three = np.zeros((48, 16, 16), np.uint8)
    three[1:4, 2:5, 2:5], three[22:25, 6:9, 6:9], three[44:47, 10:13, 10:13] = 1, 2, 3
    corner = np.zeros((20, 20, 8), np.uint8)
    corner[19, 19, 7] = 4
    empty = np.zeros((16, 16, 8), np.uint8)
    inputs = [
        ("a large and a tiny organ", big_and_tiny, (16, 16, 4), {6: 0.4, 11: 0.4}),
        ("three organs far apart", three, (8, 8, 8), {1: 0.25, 2: 0.25, 3: 0.25}),
        ("one-voxel organ in a corner", corner, (8, 8, 4), {4: 1.0}),
        ("empty label (no organ)", empty, (8, 8, 4), {}),
        ("anisotropic patch 12x12x2", big_and_tiny, (12, 12, 2), {6: 0.4, 11: 0.4}),
        ("patch as large as the volume", corner, (20, 20, 8), {4: 1.0}),
    ]
    cases = [
        Case(
            name,
            lambda f, lab=lab, p=p: _draw(f, lab, p),
            lambda got, lab=lab, p=p, share=share: _judge_patches(got, lab, p, share),
        )
        for name, lab, p, share in inputs
    ]
    return run_cases("organ-weighted patch sampling", fn, cases)
