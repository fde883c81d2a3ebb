"""``amos splits``: nnU-Net's cross-validation folds of an AMOS folder.

Introduced in chapter *nnU-Net v2: the framework that won*. A thin layer over
:mod:`amos_tutorial.data.splits`::

    amos splits --data synthetic --folds 5                # Task 2 cases (all labelled), nnU-Net's folds
    amos splits --data $AMOS_DATA_DIR --task 1 --out splits_final.json
"""

from __future__ import annotations

import argparse
import json
import sys

from amos_tutorial.cli._args import add_command, add_data_arg, add_out_arg, add_task_arg
from amos_tutorial.data.splits import DEFAULT_FOLDS

ORDER = 35

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from amos_tutorial.data.splits import crossval_folds, nnunet_case_ids
    from amos_tutorial.utils.io import atomic_write_text

    ids = nnunet_case_ids(args.data, task=args.task)
    if len(ids) < args.folds:
        raise ValueError(f"{args.data}: {len(ids)} labelled case(s) for Task {args.task}, fewer than --folds {args.folds}")
    folds = crossval_folds(ids, n_folds=args.folds)
    for k, fold in enumerate(folds):
        print(f"fold {k}: {len(fold['train'])} train, {len(fold['val'])} val: {' '.join(fold['val'])}")
    if args.out:
        out = atomic_write_text(args.out, json.dumps(folds, indent=4) + "\n")
        print(f"Wrote {out} (nnU-Net's splits_final.json format)")
    return 0


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``amos splits`` to the ``amos`` parser."""
    parser = add_command(
        subparsers,
        "splits",
        help="nnU-Net's cross-validation folds of an AMOS folder",
        description=(
            "Print (and optionally write as splits_final.json) the folds nnU-Net v2 makes of the labelled "
            "cases its AMOS converter exports: KFold, shuffle, seed 12345, sorted ids. `amos train --fold K` "
            "trains on the same folds (Task 2 cases)."
        ),
    )
    add_data_arg(parser)
    parser.add_argument("--folds", type=int, default=DEFAULT_FOLDS, help="number of folds")
    add_task_arg(parser, help="AMOS task: 1 = CT cases only, 2 = all labelled cases")
    add_out_arg(parser, "write the folds to this JSON file")
    parser.set_defaults(func=_run)
    return parser


if __name__ == "__main__":  # pragma: no cover
    from amos_tutorial.cli import main

    sys.exit(main(["splits", *sys.argv[1:]]))
