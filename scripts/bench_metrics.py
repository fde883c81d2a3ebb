"""Benchmark: DSC + NSD of all 15 organs of one AMOS-sized case, ours vs MONAI vs DeepMind, side by side.

Run:  python scripts/bench_metrics.py [--shape 512 512 100] [--spacing 0.7 0.7 5] [--skip-monai]

Everything runs on one CPU core (threads pinned to 1 before numpy and torch load) in one process, so the
ratios printed at the end compare like with like. The case is synthetic but AMOS-sized: 15 ellipsoidal
organs with realistic volumes (liver about 1.5-2 L, adrenal glands a few ml) in a 512x512x100 grid at
0.7x0.7x5 mm; the "prediction" redraws every organ with its centre moved by a few mm and its axes
scaled by a few per cent, adds boundary noise, drops one adrenal gland and adds a false-positive blob, so
DSC is about 0.9 and NSD about 0.85, as for a good network (``--shift 3`` moves the whole prediction by
3 voxels for a bad one, the slow case of the NSD search).

The figures printed are: seconds for :func:`amos_tutorial.evaluation.score_case` (min and median of
``--repeats`` runs; DSC + NSD + volumes of 15 organs), for MONAI's ``compute_surface_dice(...,
use_subvoxels=True)`` called the usual way on one-hot tensors (NSD only; one-hot conversion included),
and for DeepMind's ``surface-distance`` looped over organs (NSD only); the ratios; and the largest NSD
difference between the three.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"  # one core, before numpy/torch start their thread pools

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from scipy import ndimage  # noqa: E402

# (centre offset from the volume centre in mm (x, y, z), semi-axes in mm): plausible abdominal sizes.
ORGANS: dict[int, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
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


def jitter(organs, rng, mm: float, fraction: float):
    """Move every centre by about ``mm`` and scale every semi-axis by up to ``fraction``."""
    return {
        organ: (
            np.asarray(c, float) + rng.normal(0, mm, 3),
            np.asarray(r, float) * (1 + rng.uniform(-fraction, fraction, 3)),
        )
        for organ, (c, r) in organs.items()
    }


def draw_organs(shape, spacing, organs) -> np.ndarray:
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


def make_case(shape, spacing, seed=0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = jitter(ORGANS, rng, mm=2.0, fraction=0.05)
    reference = draw_organs(shape, spacing, truth)
    predicted = jitter(truth, rng, mm=0.7, fraction=0.02)
    del predicted[12]  # a missed left adrenal gland
    prediction = draw_organs(shape, spacing, predicted)
    # Boundary noise: flip a random tenth of the in-plane boundary voxels to a neighbour's label.
    edge = ndimage.morphological_gradient(prediction, size=(3, 3, 1)) > 0
    flip = edge & (rng.random(shape) < 0.1)
    prediction[flip] = np.roll(prediction, 1, axis=0)[flip]
    centre = [n // 2 for n in shape]
    prediction[centre[0] - 8 : centre[0] + 8, centre[1] - 8 : centre[1] + 8, centre[2] : centre[2] + 3] = (
        4  # false positive
    )
    return reference, prediction


def timed(fn, repeats: int) -> tuple[list[float], object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return times, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=3, default=(512, 512, 100))
    parser.add_argument("--spacing", type=float, nargs=3, default=(0.7, 0.7, 5.0))
    parser.add_argument("--tolerance", type=float, default=1.0, help="NSD tolerance in mm (default 1)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--shift", type=int, default=0, help="also shift the prediction by N voxels along x (a bad prediction)"
    )
    parser.add_argument("--skip-monai", action="store_true", help="skip MONAI (about 20 s at full size)")
    parser.add_argument("--skip-deepmind", action="store_true", help="skip DeepMind surface-distance")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from amos_tutorial.evaluation import score_case

    shape, spacing, tol = tuple(args.shape), tuple(args.spacing), args.tolerance
    reference, prediction = make_case(shape, spacing)
    if args.shift:
        prediction = np.roll(prediction, args.shift, axis=0)
    print(
        f"case: {shape} voxels at {spacing} mm, 15 organs, tolerance {tol:g} mm, prediction shifted by "
        f"{args.shift} voxel(s), one CPU thread"
    )

    score_case(reference, prediction, spacing, tol)  # warm-up: imports and the area table cache
    rows = {}
    for method in ("auto", "lookup", "edt"):
        reps = args.repeats if method == "auto" else max(1, args.repeats // 2)
        times, df = timed(lambda m=method: score_case(reference, prediction, spacing, tol, method=m), reps)
        rows[method] = (times, df)
    ours_times, ours = rows["auto"]
    ours_nsd = ours["nsd"].to_numpy()
    print(
        f"mean DSC {np.nanmean(ours['dsc']):.4f}, mean NSD {np.nanmean(ours_nsd):.4f} (organs scored: "
        f"{int(np.isfinite(ours_nsd).sum())})"
    )
    print("\nstage                                          min s   median s")
    for method, (times, _) in rows.items():
        label = {
            "auto": "ours score_case (DSC+NSD+volumes, default)",
            "lookup": "ours, NSD by ball lookup",
            "edt": "ours, NSD by distance transform",
        }[method]
        print(f"{label:<45} {min(times):7.3f}   {statistics.median(times):7.3f}")
    for method in ("lookup", "edt"):
        assert np.allclose(rows[method][1]["nsd"], ours_nsd, equal_nan=True, atol=1e-12)

    monai_s = deepmind_s = None
    if not args.skip_monai:
        from monai.metrics import compute_surface_dice

        def run_monai() -> np.ndarray:
            # The usual call: one-hot (B, C, X, Y, Z) tensors; bool keeps 2 x 16 x 26M voxels at 0.8 GB.
            y = torch.nn.functional.one_hot(torch.from_numpy(reference).long(), 16).permute(3, 0, 1, 2)[None].bool()
            y_pred = torch.nn.functional.one_hot(torch.from_numpy(prediction).long(), 16).permute(3, 0, 1, 2)[None]
            nsd = compute_surface_dice(y_pred.bool(), y, [tol] * 15, spacing=spacing, use_subvoxels=True)
            return nsd[0].numpy()

        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            times, monai_nsd = timed(run_monai, 1)
        monai_s = times[0]
        print(f"{'MONAI compute_surface_dice(use_subvoxels=True)':<45} {monai_s:7.3f}   (NSD only, 1 run)")
        print(f"  max |NSD ours - MONAI| = {np.nanmax(np.abs(ours_nsd - monai_nsd)):.2e}")
    if not args.skip_deepmind:
        try:
            import surface_distance as sd
        except ImportError:
            sd = None
            print("DeepMind surface-distance not installed: skipped (pip install surface-distance)")
        if sd is not None:
            if not hasattr(np, "Inf"):
                np.Inf = np.inf  # the package predates NumPy 2

            def run_deepmind() -> np.ndarray:
                out = []
                for organ in range(1, 16):
                    with np.errstate(invalid="ignore"):
                        d = sd.compute_surface_distances(reference == organ, prediction == organ, spacing)
                        out.append(sd.compute_surface_dice_at_tolerance(d, tol))
                return np.array(out)

            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                times, deepmind_nsd = timed(run_deepmind, 1)
            deepmind_s = times[0]
            print(f"{'DeepMind surface-distance, loop over organs':<45} {deepmind_s:7.3f}   (NSD only, 1 run)")
            print(f"  max |NSD ours - DeepMind| = {np.nanmax(np.abs(ours_nsd - deepmind_nsd)):.2e}")
    best = min(ours_times)
    print(f"\ntarget: <= 0.5 s for 15 organs on one core -> {'met' if best <= 0.5 else 'NOT met'} ({best:.3f} s)")
    if monai_s:
        print(f"speed-up vs MONAI compute_surface_dice(use_subvoxels=True): {monai_s / best:.1f}x (target >= 3x)")
    if deepmind_s:
        print(f"speed-up vs DeepMind surface-distance loop: {deepmind_s / best:.1f}x")


if __name__ == "__main__":
    main()
