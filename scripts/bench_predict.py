"""Benchmark: predict one AMOS-like CT, fast path vs MONAI plain path, stage by stage, and their label agreement.

Run:  python scripts/bench_predict.py                      # GPU: AMOS-sized CT (512x512x100 at 0.7x0.7x5 mm)
      python scripts/bench_predict.py --device cpu         # CPU: a reduced case, tiny network (minutes, not hours)
      python scripts/bench_predict.py --run runs/nnunet    # a trained run instead of random weights

The image is a synthetic CT from :func:`amos_tutorial.data.synthetic.synthesize_case` in LPS orientation (so
the orientation step does real work), saved as NIfTI. The network is DynUNet (the registry's ``nnunet``) with
random weights unless ``--run`` is given: timings do not depend on the weights, and random weights make the
agreement test harder (noisy probabilities everywhere, not just at organ borders).

Both paths run the same sliding window (MONAI ``sliding_window_inference``, Gaussian blending, mixed precision
by device) on the same device; they differ in preprocessing (torch on the device vs the MONAI preset on the
CPU) and inversion (:func:`~amos_tutorial.transforms.preprocessing.invert_to_original` on the device vs MONAI
``Invertd`` on the CPU). Printed: the device, the seconds of each stage (minimum over ``--repeats`` after one
warm-up), the end-to-end time without loading and writing, and how many voxels of the two label maps differ
(and whether they all lie on organ borders).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda, mps")
    parser.add_argument(
        "--shape", type=int, nargs=3, default=None, help="image shape (GPU 512 512 100, CPU 192 192 40)"
    )
    parser.add_argument("--spacing", type=float, nargs=3, default=(0.7, 0.7, 5.0), help="image spacing in mm")
    parser.add_argument("--model", default="nnunet", help="registry name (default nnunet = MONAI DynUNet)")
    parser.add_argument("--variant", choices=("full", "tiny"), default=None, help="GPU full, CPU tiny by default")
    parser.add_argument("--run", type=Path, default=None, help="use a trained run folder instead of random weights")
    parser.add_argument("--roi", type=int, nargs=3, default=None, help="window (default: the model's patch)")
    parser.add_argument("--overlap", type=float, default=0.5)
    parser.add_argument("--sw-batch-size", type=int, default=4)
    parser.add_argument("--amp", default="auto", choices=("auto", "bf16", "fp16", "off"))
    parser.add_argument("--tta", action="store_true", help="flip test-time augmentation (8 passes)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per path (GPU 3, CPU 1)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    import nibabel as nib
    import torch
    from scipy import ndimage

    from amos_tutorial.data.synthetic import synthesize_case
    from amos_tutorial.inference import STAGES, predict_case
    from amos_tutorial.training.amp import amp_policy, resolve_device
    from amos_tutorial.transforms.preprocessing import PreprocessConfig
    from amos_tutorial.utils.io import save_nifti

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    gpu = device.type != "cpu"
    shape = tuple(args.shape or ((512, 512, 100) if gpu else (192, 192, 40)))
    repeats = args.repeats or (3 if gpu else 1)
    if args.run is not None:
        from amos_tutorial.training import load_run

        model, config = load_run(args.run, device=device)
        pre_config, roi = PreprocessConfig.from_dict(config.preprocess), tuple(args.roi or config.patch_size)
        name = f"{config.model} ({config.variant}) from {args.run}"
    else:
        from amos_tutorial.models import build_model_for_patch, get_model_spec

        spec = get_model_spec(args.model)
        variant = args.variant or ("full" if gpu else "tiny")
        roi = tuple(args.roi or (spec.patch_size if variant == "full" else spec.tiny_patch_size))
        pre_config = PreprocessConfig()
        torch.manual_seed(0)
        model = build_model_for_patch(args.model, variant, roi, pre_config.spacing).to(device).eval()
        n_params = sum(p.numel() for p in model.parameters()) / 1e6
        name = f"{args.model} ({variant}, random weights, {n_params:.1f}M parameters)"
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        device_name = torch.cuda.get_device_name(device)
    else:
        device_name = f"{device.type} ({torch.get_num_threads()} torch threads)"

    case = synthesize_case(1, "CT", shape=shape, spacing=tuple(args.spacing), orientation="LPS", seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        path = save_nifti(case.image, case.affine, Path(tmp) / "amos_0001.nii.gz", dtype=np.int16)
        print(f"device: {device_name}; AMP {amp_policy(device, args.amp).name}")
        print(f"image: {shape} at {tuple(args.spacing)} mm (LPS); model: {name}")
        tta = "8 flips" if args.tta else "off"
        print(f"window {roi}, overlap {args.overlap}, sw_batch_size {args.sw_batch_size}, TTA {tta}, ", end="")
        print(f"target spacing {pre_config.spacing} mm")
        kwargs = dict(
            roi_size=roi,
            overlap=args.overlap,
            sw_batch_size=args.sw_batch_size,
            amp=args.amp,
            tta=args.tta,
            modality="CT",
        )
        results, timings = {}, {}
        for which in ("fast", "plain"):
            runs = []
            for i in range(repeats + 1):  # the first run warms up (cuDNN autotuning, caches)
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(device)
                pred = predict_case(model, path, pre_config, device, path=which, **kwargs)
                if i > 0 or repeats == 0:
                    runs.append(pred.timings)
                seconds = sum(v for k, v in pred.timings.items() if k != "load")
                note = " (warm-up)" if i == 0 else ""
                print(f"  {which} run {i}{note}: {seconds:.2f} s without loading", file=sys.stderr)
            results[which] = pred
            timings[which] = {stage: min(r[stage] for r in runs) for stage in STAGES}
            if device.type == "cuda":
                timings[which]["peak_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
        grid = nib.load(str(path))
        same_grid = all(r.labels.shape == grid.shape and np.allclose(r.affine, grid.affine) for r in results.values())
        print(f"\noutputs on the input grid {grid.shape} (shape and affine): {same_grid}")

    print(f"\n{'stage (s, min of ' + str(repeats) + ')':<28}{'fast':>10}{'plain':>10}{'ratio':>8}")
    for stage in STAGES:
        f, p = timings["fast"][stage], timings["plain"][stage]
        print(f"{stage:<28}{f:>10.3f}{p:>10.3f}{p / max(f, 1e-9):>8.1f}")
    total = {k: sum(v for s, v in timings[k].items() if s in STAGES and s != "load") for k in timings}
    ratio = total["plain"] / total["fast"]
    print(f"{'end to end without load':<28}{total['fast']:>10.3f}{total['plain']:>10.3f}{ratio:>8.1f}")
    if "peak_gib" in timings["fast"]:
        print(f"{'peak GPU memory (GiB)':<28}{timings['fast']['peak_gib']:>10.2f}{timings['plain']['peak_gib']:>10.2f}")

    fast, plain = results["fast"].labels, results["plain"].labels
    differ = fast != plain
    border = ndimage.morphological_gradient(plain, size=3) > 0
    off_border = int((differ & ~border).sum())
    print(f"\nlabel agreement fast vs plain: {1 - differ.mean():.6f} ", end="")
    print(f"({int(differ.sum())} of {differ.size} voxels differ, {off_border} of them off organ borders)")
    organs = [k for k in range(1, 16) if (plain == k).any() or (fast == k).any()]
    if organs:
        dices = [2 * ((fast == k) & (plain == k)).sum() / ((fast == k).sum() + (plain == k).sum()) for k in organs]
        print(f"lowest per-label Dice between the two paths: {min(dices):.6f} ({len(organs)} labels predicted)")
    if gpu:
        print(f"goal: <= 2 s end to end without loading/writing on the GPU -> {total['fast']:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
