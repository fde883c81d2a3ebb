"""``amos nnunet``: drive nnU-Net v2 on an AMOS folder (export, plan, train, predict, commands).

Introduced in chapter *nnU-Net v2: the framework that won*. A thin layer over :mod:`amos_tutorial.nnunet`;
nnU-Net v2 is the optional extra ``amos_tutorial[nnunet]``. Smoke run on the synthetic set (CPU)::

    amos nnunet export --task 2 --data synthetic --nnunet-dir runs/nnunet
    amos nnunet plan --task 2 --nnunet-dir runs/nnunet
    amos nnunet train --task 2 --fold 0 --nnunet-dir runs/nnunet
    amos nnunet predict --task 2 --fold 0 --nnunet-dir runs/nnunet --out runs/nnunet/fold0
    amos evaluate --pred runs/nnunet/fold0/pred --labels runs/nnunet/fold0/labels --data synthetic --out m.csv
    amos nnunet commands --task 1 --planner ResEncM    # nnU-Net's own commands for a full GPU run

Without ``--nnunet-dir`` the folders come from ``nnUNet_raw``, ``nnUNet_preprocessed``, ``nnUNet_results``.
"""

from __future__ import annotations

import argparse
import sys
import time

from amos_tutorial.cli._args import (
    add_command,
    add_data_arg,
    add_device_arg,
    add_out_arg,
    add_task_arg,
    add_workers_arg,
)

ORDER = 80

__all__ = ["register"]


def _friendly(handler):
    """Turn the missing-extra ImportError into the CLI's one-line error (exit code 2)."""

    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except ImportError as exc:
            print(f"amos: error: {exc}", file=sys.stderr)
            return 2

    return run


def _dataset_id(args: argparse.Namespace) -> int:
    from amos_tutorial.nnunet.export import TASK_DATASET_IDS

    return args.dataset_id or TASK_DATASET_IDS[args.task]


def _export(args: argparse.Namespace) -> int:
    from amos_tutorial.nnunet.export import export_release

    start = time.perf_counter()
    out = export_release(args.data, task=args.task, nnunet_dir=args.nnunet_dir, dataset_id=args.dataset_id)
    n = len(list((out / "imagesTr").glob("*.nii.gz")))
    print(f"{out}: {n} training cases for nnU-Net (Task {args.task}) in {time.perf_counter() - start:.1f} s")
    return 0


def _plan(args: argparse.Namespace) -> int:
    from amos_tutorial.nnunet.plans import plan_and_preprocess

    plans = plan_and_preprocess(_dataset_id(args), args.nnunet_dir, smoke=not args.full, processes=args.workers)
    print(f"Wrote {plans}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from amos_tutorial.nnunet.trainer import train_fold
    from amos_tutorial.training.amp import resolve_device

    out = train_fold(
        _dataset_id(args), args.configuration, args.fold, args.nnunet_dir, args.epochs, args.iterations_per_epoch,
        str(resolve_device(args.device)), resume=args.resume, trainer=args.trainer,
    )
    print(f"{out}/fold_{args.fold}: checkpoint_final.pth, validation/summary.json")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from amos_tutorial.nnunet.env import nnunet_folders
    from amos_tutorial.nnunet.plans import PLANS_IDENTIFIER
    from amos_tutorial.nnunet.predict import predict_fold_validation, predict_folder
    from amos_tutorial.training.amp import resolve_device

    nnunet_folders(args.nnunet_dir)
    device = str(resolve_device(args.device))
    model = args.model
    if model is None:
        from amos_tutorial.nnunet.plans import dataset_folder

        results = dataset_folder(_dataset_id(args), "nnUNet_results")
        model = results / f"{args.trainer}__{PLANS_IDENTIFIER}__{args.configuration}"
    if args.input is None:
        pred, labels = predict_fold_validation(model, args.fold, args.out, device=device)
        print(f"{pred}: fold {args.fold} validation cases; references in {labels}")
        print(f"score them: amos evaluate --pred {pred} --labels {labels} --out {args.out}/metrics.csv")
    else:
        files = predict_folder(model, args.input, args.out, folds=(args.fold,), device=device)
        print(f"{args.out}: {len(files)} segmentations")
    return 0


def _commands(args: argparse.Namespace) -> int:
    from amos_tutorial.nnunet.plans import full_commands

    print("\n".join(full_commands(args.task, args.planner, args.fold)))
    return 0


def _trainer_arg(parser: argparse.ArgumentParser, trainers, default: str, help: str) -> None:
    parser.add_argument("--trainer", choices=tuple(trainers), default=default, help=help)


_TASK_HELP = "AMOS task: 1 = CT (Dataset218), 2 = CT and MRI (Dataset219)"


def _common(parser: argparse.ArgumentParser, data: bool = False) -> None:
    add_task_arg(parser, help=_TASK_HELP)
    parser.add_argument("--dataset-id", type=int, help="nnU-Net dataset id (default 218 for Task 1, 219 for Task 2)")
    parser.add_argument(
        "--nnunet-dir", metavar="DIR",
        help="one folder for nnUNet_raw, nnUNet_preprocessed, nnUNet_results (default: those variables)",
    )
    if data:
        add_data_arg(parser)


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``amos nnunet export|plan|train|predict|commands`` to the ``amos`` parser."""
    from amos_tutorial.nnunet.plans import FULL_PRESETS, SMOKE_CONFIGURATION
    from amos_tutorial.nnunet.trainer import DEFAULT_TRAINER, SMOKE_EPOCHS, SMOKE_ITERATIONS, TRAINERS

    parser = add_command(
        subparsers,
        "nnunet",
        help="drive nnU-Net v2 (extra amos_tutorial[nnunet]): export, plan, train, predict",
        description=(
            "Run nnU-Net v2 itself on an AMOS folder: nnU-Net's AMOS converters, planner, preprocessor, trainer "
            "and predictor. Smoke defaults: a small CPU configuration and a short trainer."
        ),
    )
    parser.set_defaults(_parser=parser)
    sub = parser.add_subparsers(dest="nnunet_command", metavar="STEP")

    p = add_command(sub, "export", help="AMOS release -> nnUNet_raw with nnU-Net's converters")
    _common(p, data=True)
    p.set_defaults(func=_friendly(_export))

    p = add_command(sub, "plan", help="fingerprint, plans (+ the CPU configuration), preprocessing")
    _common(p)
    p.add_argument("--full", action="store_true", help="preprocess nnU-Net's 2d and 3d_fullres instead of the CPU one")
    add_workers_arg(p, "worker processes of the fingerprint and the preprocessing", default=2)
    p.set_defaults(func=_friendly(_plan))

    p = add_command(sub, "train", help="one fold with nnU-Net's trainer, short schedule")
    _common(p)
    p.add_argument("--fold", type=int, choices=range(5), default=0, metavar="K", help="nnU-Net fold 0-4")
    p.add_argument("--configuration", default=SMOKE_CONFIGURATION, help="plans configuration")
    p.add_argument("--epochs", type=int, default=SMOKE_EPOCHS, help="epochs (nnU-Net: 1000)")
    p.add_argument(
        "--iterations-per-epoch", type=int, default=SMOKE_ITERATIONS, help="training steps per epoch (nnU-Net: 250)"
    )
    _trainer_arg(p, TRAINERS, DEFAULT_TRAINER, "the book's nnU-Net trainer (nnU-Net's -tr): "
                 + "; ".join(f"{name}: {what}" for name, what in TRAINERS.items()))
    add_device_arg(p)
    p.add_argument("--resume", action="store_true", help="continue from the fold's latest checkpoint")
    p.set_defaults(func=_friendly(_train))

    p = add_command(sub, "predict", help="nnU-Net's predictor: a fold's validation cases or a folder")
    _common(p)
    p.add_argument("--fold", type=int, choices=range(5), default=0, metavar="K", help="nnU-Net fold 0-4")
    p.add_argument("--configuration", default=SMOKE_CONFIGURATION, help="plans configuration")
    _trainer_arg(p, TRAINERS, DEFAULT_TRAINER, "trainer whose model folder --model falls back on")
    p.add_argument("--model", help="model folder (default: the folder of --trainer and --configuration)")
    p.add_argument("--input", help="folder of *_0000.nii.gz images (default: the fold's validation cases)")
    add_out_arg(p, "output folder", required=True)
    add_device_arg(p)
    p.set_defaults(func=_friendly(_predict))

    p = add_command(sub, "commands", help="print nnU-Net's commands for a full GPU run")
    add_task_arg(p, help=_TASK_HELP)
    p.add_argument(
        "--planner", choices=tuple(FULL_PRESETS), default="default",
        help="nnU-Net's planner: its standard one or a residual-encoder one (nnU-Net calls them presets)",
    )  # fmt: skip
    p.add_argument("--fold", default="0", help="fold 0-4 or all")
    p.set_defaults(func=_commands)
    return parser


if __name__ == "__main__":  # pragma: no cover
    from amos_tutorial.cli import main

    sys.exit(main(["nnunet", *sys.argv[1:]]))
