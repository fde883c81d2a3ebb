"""``amos preprocess``: build the preprocessed cache that training and the sampler read.

Introduced in chapter *Preprocessing and augmentation*. Thin wrapper around
:func:`amos_tutorial.transforms.cache.preprocess_dataset`.
"""

from __future__ import annotations

import argparse
import sys

ORDER = 20

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from amos_tutorial.cli._args import check_output_folder
    from amos_tutorial.data.layout import load_amos
    from amos_tutorial.transforms.cache import preprocess_dataset, read_cache_index
    from amos_tutorial.transforms.preprocessing import PreprocessConfig

    check_output_folder(args.out, "--out")
    defaults = PreprocessConfig()
    config = PreprocessConfig(
        spacing=tuple(args.spacing) if args.spacing else defaults.spacing,
        ct_window=tuple(args.ct_window) if args.ct_window else defaults.ct_window,
        mri_percentiles=tuple(args.mri_percentiles) if args.mri_percentiles else defaults.mri_percentiles,
        crop_foreground=not args.no_crop,
    )
    device = args.device
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ValueError(f"--device {device}: CUDA is not available on this machine (use --device cpu)")
    dataset = load_amos(args.data)
    paths = preprocess_dataset(
        dataset, args.out, config=config, splits=args.splits, device=device, progress=not args.quiet
    )
    index = read_cache_index(args.out) or {}
    failed = index.get("failed", {})
    print(f"{args.out}: {len(paths)} cases preprocessed, {len(failed)} failed (spacing {list(config.spacing)} mm)")
    if failed:
        print(f"amos: {len(failed)} case(s) failed, listed in {args.out}/preprocess.json", file=sys.stderr)
        return 1
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``amos preprocess`` to the ``amos`` parser."""
    parser = subparsers.add_parser(
        "preprocess",
        help="resample, normalise and crop a dataset into a cache for training",
        description=(
            "Preprocess a dataset (RAS, target spacing, CT window / MRI z-score, foreground crop) into "
            "one file per case. Resumable: finished cases are skipped; a bad case is reported and skipped. "
            "Exit code 1 if some case failed."
        ),
    )
    parser.add_argument("--data", required=True, help="AMOS data folder, or 'synthetic'")
    parser.add_argument("--out", required=True, help="cache folder to write")
    parser.add_argument(
        "--spacing", nargs=3, type=float, metavar=("X", "Y", "Z"), help="target spacing in mm (1.5 1.5 2.0)"
    )
    parser.add_argument("--ct-window", nargs=2, type=float, metavar=("LO", "HI"), help="CT window in HU (-175 250)")
    parser.add_argument(
        "--mri-percentiles", nargs=2, type=float, metavar=("LO", "HI"), help="MRI clip percentiles (0.5 99.5)"
    )
    parser.add_argument("--no-crop", action="store_true", help="keep the whole field of view (no foreground crop)")
    parser.add_argument(
        "--splits", nargs="+", default=["training", "validation"], choices=["training", "validation", "test"],
        help="splits to preprocess (default: training validation)",
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default cpu)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=_run)
