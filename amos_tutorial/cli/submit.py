"""``amos submit``: check predictions and package them as the challenge's ``results/amos_XXXX.nii.gz`` zip.

Introduced in chapter *Evaluating segmentations*. A thin wrapper around
:func:`amos_tutorial.evaluation.package_submission`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from amos_tutorial.cli._args import (
    add_affine_atol_arg,
    add_command,
    add_modality_rule_arg,
    add_out_arg,
    add_overwrite_arg,
    add_progress_arg,
    add_task_arg,
)

ORDER = 60


def _submit_command(args: argparse.Namespace) -> int:
    from amos_tutorial.cli._args import check_output_file
    from amos_tutorial.data.tasks import TASKS
    from amos_tutorial.evaluation.submit import SubmissionError, package_submission

    check_output_file(args.out, "--out")  # before the checks of every prediction, not after them
    try:
        out = package_submission(
            args.pred,
            args.out,
            images_dir=args.images,
            task=args.task,
            modality_rule=args.modality_rule,
            affine_atol=args.affine_atol,
            overwrite=args.overwrite,
            progress=not args.no_progress,
            on_note=lambda note: print(f"note: {note}"),
        )
    except SubmissionError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"amos submit: {len(exc.problems)} problem(s), no zip written", file=sys.stderr)
        return 1
    except FileExistsError as exc:
        print(f"amos: error: {exc}", file=sys.stderr)
        return 2
    import zipfile

    with zipfile.ZipFile(out) as archive:
        count = len(archive.namelist())
    task = f"Task {args.task} ({TASKS[args.task].name})" if args.task else "no task filter"
    print(f"Wrote {out}: {count} prediction(s) in results/, {task}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``amos submit`` to the ``amos`` parser.

    Introduced in chapter *Evaluating segmentations*. Builds on ``argparse``.

    Args:
        subparsers: The sub-parser action of ``amos``.

    Returns:
        The ``submit`` parser.

    Examples:
        >>> import argparse
        >>> sub = argparse.ArgumentParser(prog="amos").add_subparsers()
        >>> register(sub).prog
        'amos submit'
    """
    parser = add_command(
        subparsers,
        "submit",
        help="check predictions and zip them in the challenge's form (results/amos_XXXX.nii.gz)",
        description=(
            "Check every prediction (name amos_XXXX.nii.gz, readable, 3-D, integer labels 0-15; with --images: "
            "one per expected case, same shape and affine as the image) and write them into a zip as "
            "results/amos_XXXX.nii.gz. Any problem is listed one line per file and no zip is written (exit 1). "
            "Task 1 is CT only: MRI predictions are left out of the zip."
        ),
    )
    parser.add_argument("--pred", type=Path, required=True, metavar="DIR", help="folder of predictions")
    add_out_arg(parser, "zip to write (results.zip)", type=Path, required=True, metavar="ZIP")
    parser.add_argument(
        "--images", type=Path, default=None, metavar="DIR", help="images of the evaluated set (imagesVa / imagesTs)"
    )
    add_task_arg(
        parser, optional=True, help="AMOS task: 1 = CT only (MRI predictions left out), 2 = CT and MRI "
        "(default: no task filter)",
    )  # fmt: skip
    add_modality_rule_arg(parser)
    add_affine_atol_arg(parser)
    add_overwrite_arg(parser, "replace an existing zip")
    add_progress_arg(parser)
    parser.set_defaults(func=_submit_command)
    return parser
