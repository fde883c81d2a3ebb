"""``amos preprocess``: build the preprocessed cache that training and the sampler read.

Introduced in chapter *Preprocessing and augmentation*. Thin wrapper around
:func:`amos_tutorial.transforms.cache.preprocess_dataset`.
"""

from __future__ import annotations

import argparse
import sys

from amos_tutorial.cli._args import add_command, add_data_arg, add_device_arg, add_out_arg, add_progress_arg, spacing_arg

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
    from amos_tutorial.training.amp import resolve_device

    device = str(resolve_device(args.device))  # "auto" -> cuda, mps or cpu; a missing CUDA is one clear line
    dataset = load_amos(args.data)
    paths = preprocess_dataset(
        dataset, args.out, config=config, splits=args.splits, device=device, progress=not args.no_progress
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
    from amos_tutorial.transforms.preprocessing import PreprocessConfig

    config = PreprocessConfig()  # the defaults shown in --help are the library's
    parser = add_command(
        subparsers,
        "preprocess",
        help="resample, normalise and crop a dataset into a cache for training",
        description=(
            "Preprocess a dataset (RAS, target spacing, CT window / MRI z-score, foreground crop) into "
            "one file per case. Resumable: finished cases are skipped; a bad case is reported and skipped. "
            "Exit code 1 if some case failed."
        ),
    )
    add_data_arg(parser)
    add_out_arg(parser, "cache folder to write", required=True)
    parser.add_argument(
        "--spacing", type=spacing_arg, default=tuple(config.spacing), metavar="X,Y,Z",
        help="target spacing in mm",
    )  # fmt: skip
    parser.add_argument(
        "--ct-window", nargs=2, type=float, default=list(config.ct_window), metavar=("LO", "HI"), help="CT window in HU"
    )
    parser.add_argument(
        "--mri-percentiles", nargs=2, type=float, default=list(config.mri_percentiles), metavar=("LO", "HI"),
        help="MRI clip percentiles",
    )  # fmt: skip
    parser.add_argument("--no-crop", action="store_true", help="keep the whole field of view (no foreground crop)")
    parser.add_argument(
        "--splits", nargs="+", default=["training", "validation"], choices=["training", "validation", "test"],
        help="splits to preprocess",
    )
    add_device_arg(parser)
    add_progress_arg(parser)
    parser.set_defaults(func=_run)
