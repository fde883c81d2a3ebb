"""``amos predict``: label maps for a folder of images with a trained run, on the images' own grids.

Introduced in chapter *Evaluating segmentations*; ensembles (``--run`` repeated) and ``--postprocess`` in
chapter *How AMOS 2022 was won*. A thin wrapper around :func:`amos_tutorial.inference.predict_folder`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from amos_tutorial.cli._args import (
    add_amp_arg,
    add_blend_arg,
    add_checkpoint_arg,
    add_command,
    add_data_arg,
    add_device_arg,
    add_engine_arg,
    add_modality_rule_arg,
    add_out_arg,
    add_overwrite_arg,
    add_progress_arg,
    add_tta_arg,
    positive_int,
)

ORDER = 40


def _predict_command(args: argparse.Namespace) -> int:
    from amos_tutorial.cli._args import check_output_folder
    from amos_tutorial.inference import STAGES, predict_folder

    check_output_folder(args.out, "--out")
    runs = args.run[0] if len(args.run) == 1 else args.run
    table = predict_folder(
        runs,
        args.images,
        args.out,
        checkpoint=args.checkpoint,
        device=args.device,
        overlap=args.overlap,
        sw_batch_size=args.sw_batch_size,
        amp=args.amp,
        tta=args.tta,
        engine=args.engine,
        blend=args.blend,
        data_root=args.data,
        modality_rule=args.modality_rule,
        overwrite=args.overwrite,
        progress=not args.no_progress,
        postprocess=args.postprocess,
    )
    if len(args.run) > 1:
        print(f"ensemble of {len(args.run)} run(s): mean of their softmax probabilities")
    counts = table["status"].value_counts().to_dict()
    written = table[table["status"] == "written"]
    print(
        f"{len(table)} image(s): {counts.get('written', 0)} written, {counts.get('skipped', 0)} skipped "
        f"(already done), {counts.get('failed', 0)} failed -> {args.out}"
    )
    if len(written):
        means = ", ".join(f"{stage} {written[stage].mean():.2f}" for stage in (*STAGES, "save"))
        print(f"mean seconds per case: {means}")
    failed = table[table["status"] == "failed"]
    for row in failed.itertuples():
        print(f"failed: {row.case}: {row.error}")
    return 1 if len(failed) else 0


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``amos predict`` to the ``amos`` parser.

    Introduced in chapter *Evaluating segmentations*. Builds on ``argparse``.

    Args:
        subparsers: The sub-parser action of ``amos``.

    Returns:
        The ``predict`` parser.

    Examples:
        >>> import argparse
        >>> sub = argparse.ArgumentParser(prog="amos").add_subparsers()
        >>> register(sub).prog
        'amos predict'
    """
    parser = add_command(
        subparsers,
        "predict",
        help="predict label maps for a folder of images with a trained run",
        description=(
            "Predict every amos_XXXX.nii.gz of --images with the model of --run (or the ensemble of several "
            "--run): the run's preprocessing, "
            "a sliding window (the training patch, Gaussian blending, mixed precision by device, optional "
            "flip test-time augmentation), then back to each image's own grid (same shape and affine), "
            "saved as uint8 labels in --out. Finished cases are skipped, so an interrupted run resumes. "
            "A Task 1 (CT only) run warns on every MRI image it is asked to segment. "
            "Exit code 1 if any case failed (the others are still written)."
        ),
    )
    parser.add_argument(
        "--run",
        type=Path,
        required=True,
        action="append",
        metavar="RUN_DIR",
        help="folder written by amos train; repeat it for an ensemble (folds, configurations): the runs' "
        "softmax probabilities are averaged before the argmax (same labels, preprocessing and task)",
    )
    parser.add_argument("--images", type=Path, required=True, metavar="DIR", help="folder of images amos_XXXX.nii.gz")
    add_out_arg(parser, "folder for the label maps", type=Path, required=True, metavar="DIR")
    add_checkpoint_arg(parser, "best", "checkpoint of the run")
    add_device_arg(parser)
    parser.add_argument("--overlap", type=float, default=None, help="window overlap 0-1 (default: the run's, 0.5)")
    parser.add_argument(
        "--sw-batch-size", type=positive_int, default=None, metavar="N",
        help="windows per forward pass (default: the run's)",
    )
    add_amp_arg(parser, inherit="the run's")
    add_tta_arg(parser)
    add_engine_arg(parser)
    add_blend_arg(parser)
    add_data_arg(parser, metadata_only=True)
    add_modality_rule_arg(parser)
    parser.add_argument(
        "--postprocess",
        type=Path,
        default=None,
        metavar="PLAN",
        help="post-processing plan (JSON written by amos postprocess) applied before saving",
    )
    add_overwrite_arg(parser, "predict again cases already in --out")
    add_progress_arg(parser)
    parser.set_defaults(func=_predict_command)
    return parser
