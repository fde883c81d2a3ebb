"""``amos postprocess``: per-organ post-processing rules, chosen on cross-validation predictions or read from a plan.

Introduced in chapter *How AMOS 2022 was won*. A thin wrapper around
:func:`amos_tutorial.evaluation.postprocess.choose_rules` and
:func:`~amos_tutorial.evaluation.postprocess.postprocess_folder`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from amos_tutorial.cli._args import add_command, add_out_arg, add_overwrite_arg, add_progress_arg

ORDER = 45


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of millilitres > 0, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def _postprocess_command(args: argparse.Namespace) -> int:
    from amos_tutorial.cli._args import check_output_folder
    from amos_tutorial.evaluation.postprocess import (
        DEFAULT_MIN_ML,
        PLAN_FILE,
        PostprocessPlan,
        choose_rules,
        postprocess_folder,
    )

    check_output_folder(args.out, "--out")
    if args.choose:
        if args.labels is None:
            raise ValueError(f"{args.predictions}: --choose needs --labels DIR (the reference of these predictions)")
        min_ml = args.min_ml if args.min_ml is not None else DEFAULT_MIN_ML
        plan = choose_rules(args.predictions, args.labels, args.images, min_ml=min_ml, progress=not args.no_progress)
        with_cases = plan.table[plan.table["cases"] > 0]
        print(with_cases.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        kept = ", ".join(f"{r.rule} {r.organ_name}" for r in plan.rules) or "none"
        print(f"{len(plan.rules)} rule(s) kept: {kept}")
    else:
        if args.min_ml is not None:
            raise ValueError(f"{args.plan}: --min-ml chooses a threshold with --choose; a plan has its own")
        plan = PostprocessPlan.load(args.plan)
    table = postprocess_folder(
        args.predictions, args.out, plan, images_dir=args.images, overwrite=args.overwrite,
        progress=not args.no_progress,
    )
    counts = table["status"].value_counts().to_dict()
    print(
        f"{len(table)} prediction(s): {counts.get('written', 0)} written, {counts.get('skipped', 0)} skipped "
        f"(already done), {counts.get('failed', 0)} failed -> {args.out} (plan: {Path(args.out) / PLAN_FILE})"
    )
    failed = table[table["status"] == "failed"]
    for row in failed.itertuples():
        print(f"failed: {row.case}: {row.error}")
    return 1 if len(failed) else 0


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``amos postprocess`` to the ``amos`` parser.

    Introduced in chapter *How AMOS 2022 was won*. Builds on ``argparse``.

    Args:
        subparsers: The sub-parser action of ``amos``.

    Returns:
        The ``postprocess`` parser.

    Examples:
        >>> import argparse
        >>> sub = argparse.ArgumentParser(prog="amos").add_subparsers()
        >>> register(sub).prog
        'amos postprocess'
    """
    from amos_tutorial.evaluation.postprocess import DEFAULT_MIN_ML

    parser = add_command(
        subparsers,
        "postprocess",
        help="post-process predictions per organ (rules chosen on cross-validation predictions)",
        description=(
            "Apply per-organ rules to the label maps of --pred and write them to --out: fix left/right "
            "swaps of kidneys and adrenal glands by the body's midline, remove components under --min-ml, keep "
            "the largest component (3-D, 26-connectivity). With --choose the rules are chosen as nnU-Net does, "
            "on cross-validation predictions and their --labels: a rule is kept for an organ only if it raises "
            "that organ's mean Dice. The plan is saved as --out/postprocess_plan.json; give it to --plan here or "
            "to amos predict --postprocess. Finished cases are skipped while their prediction is unchanged, so an "
            "interrupted run resumes. Exit code 1 if any prediction could not be post-processed (the others are "
            "still written)."
        ),
    )
    parser.add_argument(
        "--pred", dest="predictions", type=Path, required=True, metavar="DIR",
        help="folder of predicted label maps amos_XXXX.nii.gz (as in amos evaluate)",
    )
    add_out_arg(parser, "folder for the post-processed maps", type=Path, required=True, metavar="DIR")
    how = parser.add_mutually_exclusive_group(required=True)
    how.add_argument("--plan", type=Path, metavar="PLAN", help="plan JSON written by amos postprocess --choose")
    how.add_argument("--choose", action="store_true", help="choose the rules on these predictions and --labels")
    parser.add_argument("--labels", type=Path, default=None, metavar="DIR", help="reference label maps (with --choose)")
    parser.add_argument(
        "--images", type=Path, default=None, metavar="DIR",
        help="the images, to find the body's midline (default: the organs' extent)",
    )
    parser.add_argument(
        "--min-ml", type=_positive_float, default=None, metavar="ML",
        help=f"volume under which remove_small drops a component (default {DEFAULT_MIN_ML} ml)",
    )
    add_overwrite_arg(parser, "post-process again cases already in --out")
    add_progress_arg(parser)
    parser.set_defaults(func=_postprocess_command)
    return parser
