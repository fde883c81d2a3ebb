"""``amos evaluate``: score a folder of predictions (DSC, NSD, HD95 per case and organ) and print a summary.

Introduced in chapter *Evaluating segmentations*. A thin wrapper around
:func:`amos_tutorial.evaluation.evaluate_folder`; every report states the NSD tolerance and the
absent-organ convention.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from amos_tutorial.cli._args import (
    add_affine_atol_arg,
    add_command,
    add_data_arg,
    add_modality_rule_arg,
    add_out_arg,
    add_progress_arg,
    add_workers_arg,
)

ORDER = 50


def _evaluate_command(args: argparse.Namespace) -> int:
    from amos_tutorial.evaluation import EvaluationError, evaluate_folder, format_report, save_metrics
    from amos_tutorial.evaluation.metrics import parse_tolerance
    from amos_tutorial.cli._args import check_output_file
    from amos_tutorial.utils.io import atomic_write_text

    check_output_file(args.out, "--out")  # before the scoring, not after it
    tolerance = parse_tolerance(args.tolerance) if args.tolerance is not None else None
    try:
        df = evaluate_folder(
            args.pred,
            args.labels,
            data_root=args.data,
            tolerance_mm=tolerance,
            absent=args.absent,
            modality_rule=args.modality_rule,
            affine_atol=args.affine_atol,
            num_workers=args.workers,
            progress=not args.no_progress,
        )
    except EvaluationError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"amos evaluate: {len(exc.problems)} problem(s), nothing written", file=sys.stderr)
        return 1
    report = format_report(df)
    out = save_metrics(df, args.out)
    summary = atomic_write_text(out.with_name(f"{out.stem}_summary.txt"), report + "\n")
    print(report)
    print(f"\nWrote {out} ({len(df)} rows) and {summary}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``amos evaluate`` to the ``amos`` parser.

    Introduced in chapter *Evaluating segmentations*. Builds on ``argparse``.

    Args:
        subparsers: The sub-parser action of ``amos``.

    Returns:
        The ``evaluate`` parser.

    Examples:
        >>> import argparse
        >>> sub = argparse.ArgumentParser(prog="amos").add_subparsers()
        >>> register(sub).prog
        'amos evaluate'
    """
    from amos_tutorial.evaluation.metrics import ABSENT_CONVENTIONS, DEFAULT_TOLERANCE_MM

    parser = add_command(
        subparsers,
        "evaluate",
        help="score predictions against reference labels (DSC, NSD and HD95 per case and organ)",
        description=(
            "Score every reference label map in --labels against the prediction of the same name in --pred: "
            "every metric of the metric table (DSC, NSD at a tolerance, HD95 in mm; spacing from the NIfTI "
            "header) per case and organ, written as a tidy CSV (case, organ_id, organ, modality, dsc, nsd, hd95, "
            "ref_ml, pred_ml, tolerance_mm) plus a summary. Missing predictions, shape or affine mismatches and labels outside 0-15 are listed one "
            "line per file (exit code 1)."
        ),
    )
    parser.add_argument(
        "--pred", type=Path, required=True, metavar="DIR", help="folder of predictions amos_XXXX.nii.gz"
    )
    parser.add_argument("--labels", type=Path, required=True, metavar="DIR", help="folder of reference label maps")
    add_out_arg(parser, "metrics table to write (metrics.csv)", type=Path, required=True, metavar="CSV")
    add_data_arg(parser, metadata_only=True)
    parser.add_argument(
        "--tolerance",
        default=None,
        metavar="MM",
        help=(
            f"NSD tolerance in mm: one number, or organ=MM items such as '2,pancreas=3' (default "
            f"{DEFAULT_TOLERANCE_MM:g} mm for every organ: our choice, the official AMOS tolerance is not published)"
        ),
    )
    parser.add_argument(
        "--absent",
        choices=ABSENT_CONVENTIONS,
        default="nan",
        help=(
            "organ absent from reference and prediction: nan (skipped in means, as nnU-Net) or "
            "score (counts as 1); absent from one only always scores 0"
        ),
    )
    add_modality_rule_arg(parser)
    add_affine_atol_arg(parser)
    add_workers_arg(parser, "worker processes (0: this one)")
    add_progress_arg(parser)
    parser.set_defaults(func=_evaluate_command)
    return parser
