"""How fast are DSC, NSD and HD95? All 15 organs of one AMOS-sized case: ours vs MONAI vs DeepMind, side by side.

Introduced in chapter *Evaluating segmentations*; builds on :func:`amos_tutorial.evaluation.score_case`,
MONAI's ``compute_surface_dice(use_subvoxels=True)`` and, when installed, DeepMind's ``surface-distance``.
``amos bench metrics`` prints the table.

Everything runs with one torch thread in this process, so the ratios compare like with like (set
``OMP_NUM_THREADS=1`` before starting Python to pin numpy too). The case is synthetic but AMOS-sized:
15 ellipsoidal organs with realistic volumes (liver about 1.5-2 L, adrenal glands a few ml) in a
512x512x100 grid at 0.7x0.7x5 mm; the "prediction" redraws every organ with its centre moved by a few mm
and its axes scaled by a few per cent, adds boundary noise, drops one adrenal gland and adds a
false-positive blob, so DSC is about 0.9 and NSD about 0.85, as for a good network (``shift=3`` moves the
whole prediction by 3 voxels for a bad one, the slow case of the NSD search).

Examples:
    >>> reference, prediction = metric_case((64, 64, 12), (3.0, 3.0, 10.0))
    >>> reference.shape == prediction.shape
    True
"""

from __future__ import annotations

import statistics
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["ORGAN_ELLIPSOIDS", "format_metric_timings", "metric_case", "metric_timings"]

ORGAN_ELLIPSOIDS: dict[int, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    6: ((-60, -20, 20), (90, 75, 80)),  # liver
    1: ((80, 60, 20), (45, 35, 50)),  # spleen
    2: ((-50, 60, -10), (30, 30, 55)),  # right kidney
    3: ((50, 60, -10), (30, 30, 55)),  # left kidney
    7: ((50, -30, 30), (60, 40, 50)),  # stomach
    8: ((0, 40, 0), (12, 12, 150)),  # aorta
    9: ((-25, 35, 0), (12, 10, 120)),  # inferior vena cava
    10: ((10, 10, 0), (60, 12, 15)),  # pancreas
    4: ((-50, -40, -5), (15, 15, 30)),  # gallbladder
    5: ((5, 40, 120), (8, 8, 40)),  # esophagus
    11: ((-35, 45, 40), (10, 5, 15)),  # right adrenal gland
    12: ((35, 45, 40), (10, 5, 15)),  # left adrenal gland
    13: ((-20, -10, -30), (40, 15, 30)),  # duodenum
    14: ((0, -20, -170), (35, 35, 30)),  # bladder
    15: ((0, 0, -200), (20, 20, 20)),  # prostate/uterus
}
"""Organ id -> (centre offset from the volume centre in mm (x, y, z), semi-axes in mm): plausible sizes."""


def _jitter(organs, rng, mm: float, fraction: float):
    """Move every centre by about ``mm`` and scale every semi-axis by up to ``fraction``."""
    return {
        organ: (
            np.asarray(c, float) + rng.normal(0, mm, 3),
            np.asarray(r, float) * (1 + rng.uniform(-fraction, fraction, 3)),
        )
        for organ, (c, r) in organs.items()
    }


def _draw_organs(shape, spacing, organs) -> np.ndarray:
    """Paint the ellipsoids (centre offset and semi-axes in mm) into a label map."""
    labels = np.zeros(shape, np.uint8)
    axes = [(np.arange(n) - n / 2) * s for n, s in zip(shape, spacing)]
    for organ, (c, r) in organs.items():
        box = []
        for a, cc, rr in zip(axes, c, r):
            inside = np.nonzero(np.abs(a - cc) <= rr)[0]
            if not inside.size:
                break
            box.append(slice(inside[0], inside[-1] + 1))
        else:
            grid = np.meshgrid(*[a[b] for a, b in zip(axes, box)], indexing="ij", sparse=True)
            mask = sum(((g - cc) / rr) ** 2 for g, cc, rr in zip(grid, c, r)) <= 1
            labels[tuple(box)][mask] = organ
    return labels


def metric_case(
    shape: Sequence[int] = (512, 512, 100), spacing: Sequence[float] = (0.7, 0.7, 5.0), seed: int = 0, shift: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic reference label map and a good prediction of it (``shift``: move it by N voxels along x).

    Args:
        shape: Voxels (x, y, z).
        spacing: Voxel size in mm.
        seed: Seed of the organ positions and the errors.
        shift: Extra shift of the prediction along x, in voxels.

    Returns:
        ``(reference, prediction)``, uint8 label maps.
    """
    from scipy import ndimage

    shape, spacing = tuple(int(s) for s in shape), tuple(float(s) for s in spacing)
    rng = np.random.default_rng(seed)
    truth = _jitter(ORGAN_ELLIPSOIDS, rng, mm=2.0, fraction=0.05)
    reference = _draw_organs(shape, spacing, truth)
    predicted = _jitter(truth, rng, mm=0.7, fraction=0.02)
    del predicted[12]  # a missed left adrenal gland
    prediction = _draw_organs(shape, spacing, predicted)
    # Boundary noise: flip a random tenth of the in-plane boundary voxels to a neighbour's label.
    edge = ndimage.morphological_gradient(prediction, size=(3, 3, 1)) > 0
    flip = edge & (rng.random(shape) < 0.1)
    prediction[flip] = np.roll(prediction, 1, axis=0)[flip]
    centre = [n // 2 for n in shape]
    prediction[centre[0] - 8 : centre[0] + 8, centre[1] - 8 : centre[1] + 8, centre[2] : centre[2] + 3] = 4
    if shift:
        prediction = np.roll(prediction, int(shift), axis=0)
    return reference, prediction


def _times(call: Callable[[], Any], repeats: int) -> tuple[list[float], Any]:
    from amos_tutorial.utils.timing import timed_calls

    results: list[Any] = []
    times = [timed_calls(lambda k: results.append(call()), 1) for _ in range(repeats)]
    return times, results[-1]


def _monai_nsd(reference: np.ndarray, prediction: np.ndarray, spacing, tolerance: float) -> np.ndarray:
    """MONAI called the usual way: one-hot (B, C, X, Y, Z) tensors, one-hot conversion included."""
    import torch
    from monai.metrics import compute_surface_dice

    y = torch.nn.functional.one_hot(torch.from_numpy(reference).long(), 16).permute(3, 0, 1, 2)[None].bool()
    y_pred = torch.nn.functional.one_hot(torch.from_numpy(prediction).long(), 16).permute(3, 0, 1, 2)[None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nsd = compute_surface_dice(y_pred.bool(), y, [tolerance] * 15, spacing=spacing, use_subvoxels=True)
    return nsd[0].numpy()


def _deepmind_nsd(reference: np.ndarray, prediction: np.ndarray, spacing, tolerance: float) -> np.ndarray | None:
    """DeepMind's ``surface-distance`` looped over organs; None when it is not installed."""
    try:
        import surface_distance as sd
    except ImportError:
        return None
    if not hasattr(np, "Inf"):
        np.Inf = np.inf  # the package predates NumPy 2
    out = []
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        warnings.simplefilter("ignore")
        for organ in range(1, 16):
            d = sd.compute_surface_distances(reference == organ, prediction == organ, spacing)
            out.append(sd.compute_surface_dice_at_tolerance(d, tolerance))
    return np.array(out)


def metric_timings(
    shape: Sequence[int] = (512, 512, 100),
    spacing: Sequence[float] = (0.7, 0.7, 5.0),
    tolerance: float = 1.0,
    repeats: int = 5,
    shift: int = 0,
    monai: bool = True,
    deepmind: bool = True,
) -> pd.DataFrame:
    """Seconds to score all 15 organs of :func:`metric_case`, by method, and how far each NSD is from ours.

    Args:
        shape: Voxels of the case.
        spacing: Voxel size in mm.
        tolerance: NSD tolerance in mm.
        repeats: Timed runs of our ``score_case`` (half as many for the other two of our methods).
        shift: Move the prediction by N voxels along x (a bad prediction).
        monai: Also time MONAI (about 20 s at full size).
        deepmind: Also time DeepMind's surface-distance (skipped when not installed).

    Returns:
        One row per method: ``method``, ``what``, ``runs``, ``min_s``, ``median_s``, ``max_nsd_diff``;
        ``frame.attrs`` holds ``mean_dsc``, ``mean_nsd`` and the case.

    Raises:
        ValueError: If ``repeats`` < 1.
    """
    from amos_tutorial.evaluation import score_case
    from amos_tutorial.evaluation.metric_table import metric_names
    from amos_tutorial.utils.timing import thread_limit

    if int(repeats) < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    spacing = tuple(float(s) for s in spacing)
    reference, prediction = metric_case(shape, spacing, shift=shift)
    rows, ours = [], None
    with thread_limit(1):
        challenge = ("dsc", "nsd")
        score_case(reference, prediction, spacing, tolerance, metrics=challenge)  # warm-up: imports, area table
        for method, what in (("auto", "score_case, DSC+NSD+volumes (default)"), ("lookup", "NSD by ball lookup"),
                             ("edt", "NSD by distance transform")):  # fmt: skip
            runs = int(repeats) if method == "auto" else max(1, int(repeats) // 2)
            def score(m: str = method) -> pd.DataFrame:
                return score_case(reference, prediction, spacing, tolerance, method=m, metrics=challenge)

            times, df = _times(score, runs)
            ours = df["nsd"].to_numpy() if ours is None else ours
            rows.append((f"ours ({method})", what, times, df["nsd"].to_numpy()))
            if method == "auto":
                dsc = float(np.nanmean(df["dsc"]))
        # Every registered metric (HD95 too): what `amos evaluate` computes, so the cost of the extra metrics shows.
        times, df = _times(lambda: score_case(reference, prediction, spacing, tolerance), max(1, int(repeats) // 2))
        rows.append(("ours (every metric)", f"score_case, {'+'.join(metric_names()).upper()}+volumes", times,
                     df["nsd"].to_numpy()))
        others = (("MONAI", monai, _monai_nsd, "compute_surface_dice(use_subvoxels=True), NSD only"),
                  ("DeepMind", deepmind, _deepmind_nsd, "surface-distance looped over organs, NSD only"))  # fmt: skip
        for name, wanted, scorer, what in others:
            if wanted:
                times, nsd = _times(lambda s=scorer: s(reference, prediction, spacing, tolerance), 1)
                if nsd is not None:
                    rows.append((name, what, times, nsd))
    frame = pd.DataFrame(
        [{"method": m, "what": w, "runs": len(t), "min_s": min(t), "median_s": statistics.median(t),
          "max_nsd_diff": float(np.nanmax(np.abs(ours - nsd)))} for m, w, t, nsd in rows]
    )  # fmt: skip
    frame.attrs.update(mean_dsc=dsc, mean_nsd=float(np.nanmean(ours)), shape=tuple(reference.shape),
                       spacing=spacing, tolerance=float(tolerance), shift=int(shift))  # fmt: skip
    return frame


def format_metric_timings(frame: pd.DataFrame) -> str:
    """The table of :func:`metric_timings` as text, with the case and the speed-ups against MONAI and DeepMind."""
    a = frame.attrs
    lines = [
        f"case: {a['shape']} voxels at {a['spacing']} mm, 15 organs, tolerance {a['tolerance']:g} mm, prediction "
        f"shifted by {a['shift']} voxel(s), one torch thread",
        f"mean DSC {a['mean_dsc']:.4f}, mean NSD {a['mean_nsd']:.4f}",
        frame.to_string(index=False, float_format=lambda v: f"{v:.3g}"),
    ]
    best = float(frame["min_s"].iloc[0])
    for name in ("MONAI", "DeepMind"):
        other = frame.loc[frame["method"] == name, "min_s"]
        if len(other):
            lines.append(f"speed-up vs {name}: {float(other.iloc[0]) / best:.1f}x")
    return "\n".join(lines)
