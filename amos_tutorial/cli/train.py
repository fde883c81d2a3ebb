"""``amos train``: train a registered model on AMOS or the synthetic set.

Introduced in chapter *Training the baselines*. A thin layer over :func:`amos_tutorial.training.train`::

    amos train --model nnunet --data synthetic --out runs/nnunet_smoke --preset smoke
    amos train --model nnunet --data $AMOS_DATA_DIR --out runs/nnunet --preset full --device cuda
    amos train --model unet --data synthetic --out runs/unet_task1 --preset quick --task 1   # CT only
    amos train --model resenc --variant L --augment da5 --data $AMOS_DATA_DIR --out runs/resenc_l --preset full
    amos train --out runs/nnunet --resume                      # after Ctrl-C or a crash
    torchrun --standalone --nproc_per_node=4 -m amos_tutorial.cli train --model nnunet ...   # 4 GPUs

Exit codes: 0 when the run finished (or stopped at ``--stop-after``), 130 after Ctrl-C/SIGTERM
(a checkpoint was written: resume with ``--resume``), 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys

from amos_tutorial.cli._args import check_output_folder, patch_size_arg
from amos_tutorial.training.config import PRESETS, TASKS
from amos_tutorial.transforms.augment import AUGMENTATIONS

ORDER = 30

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from amos_tutorial.models import list_models
    from amos_tutorial.training import train
    from amos_tutorial.training.distributed import distributed_env
    from amos_tutorial.training.trainer import INTERRUPTED_EXIT_CODE

    check_output_folder(args.out, "--out")  # before the data is read, not after
    check_output_folder(args.cache_dir, "--cache-dir")
    if not args.resume:
        if not args.model:
            raise ValueError("--model is required for a new run (see `amos train --help`)")
        if args.model not in list_models():
            raise ValueError(f"unknown model {args.model!r}; choose one of {', '.join(list_models())}")
    overrides = {
        "patch_size": args.patch_size,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "seed": args.seed,
        "deterministic": True if args.deterministic else None,
        "amp": args.amp,
        "val_every": args.val_every,
        "val_cases": args.val_cases,
        "fold": args.fold,
        "iterations_per_epoch": args.iterations_per_epoch,
        "cache_dir": args.cache_dir,
        "variant": args.variant,
        "augment": args.augment,
        "task": args.task,
    }
    result = train(
        model=args.model or "",
        data=args.data,
        out=args.out,
        preset=args.preset,
        resume=args.resume,
        device=args.device,
        iterations=args.iterations,
        progress=not args.no_progress,
        stop_after=args.stop_after,
        **{k: v for k, v in overrides.items() if v is not None},
    )
    if distributed_env().is_main:
        best = "none yet" if result.best_dice is None else f"{result.best_dice:.4f}"
        state = "finished" if result.completed else f"stopped at step {result.iteration}"
        print(f"{result.run_dir}: {state} ({result.config.iterations} steps planned); best validation Dice {best}")
    if result.stop_reason in ("SIGINT", "SIGTERM"):
        return INTERRUPTED_EXIT_CODE
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``amos train`` to the ``amos`` parser."""
    parser = subparsers.add_parser(
        "train",
        help="train a baseline (unet, nnunet, swinunetr...) into a run folder",
        description=(
            "Train a registered model. The run folder receives config.json, metrics.csv, "
            "checkpoints/last.pt and best.pt (and tensorboard/ when installed). Ctrl-C writes a "
            "checkpoint and exits with 130; --resume continues. Under torchrun the same command "
            "trains with DistributedDataParallel."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--model", help="registry name (amos_tutorial.models.list_models()); not needed with --resume")
    parser.add_argument("--data", default="synthetic", help="AMOS folder or 'synthetic' (ignored with --resume)")
    parser.add_argument("--out", required=True, help="run folder")
    parser.add_argument(
        "--preset",
        choices=tuple(PRESETS),
        default="smoke",
        help="smoke: tiny CPU pipeline check (learns nothing); quick: tiny network on a coarse grid, 600 Adam "
        "steps, learns the large organs on a CPU (UNet: about a minute); colab: the full network for one T4, "
        "15,000 steps (an estimate, not measured: a few hours; use --stop-after and --resume); full: the schedule "
        "of the AMOS baselines (1000 x 250 steps)",
    )
    parser.add_argument(
        "--task",
        type=int,
        choices=TASKS,
        help="AMOS task: 1 trains and validates on CT cases only, 2 on CT and MRI (default 2); the modality "
        "comes from the metadata CSV, else the id rule",
    )
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from checkpoints/last.pt")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    parser.add_argument("--iterations", type=int, help="total optimiser steps (default: the preset's)")
    parser.add_argument("--iterations-per-epoch", type=int, help="steps per epoch (logging/checkpoint unit)")
    parser.add_argument("--batch-size", type=int, help="patches per step and per process")
    parser.add_argument("--patch-size", type=patch_size_arg, help="patch x,y,z in voxels, e.g. 96,96,96")
    parser.add_argument(
        "--variant",
        help="override the preset's model variant: tiny or full, or a size the model defines (resenc: M, L)",
    )
    parser.add_argument(
        "--augment",
        choices=tuple(AUGMENTATIONS),
        help="patch augmentation: off, default, or da5 (the AMOS 2022 winners' stronger set; default: default)",
    )
    parser.add_argument("--lr", type=float, help="learning rate (default: the model's recipe)")
    parser.add_argument("--seed", type=int, help="seed of weights, patches and RNGs (default 0)")
    parser.add_argument("--deterministic", action="store_true", help="deterministic algorithms (slower on GPU)")
    parser.add_argument("--amp", choices=("auto", "bf16", "fp16", "off"), help="mixed precision (default auto)")
    parser.add_argument("--val-every", type=int, help="validate every K epochs (0: only at the end)")
    parser.add_argument("--val-cases", type=int, help="number of labelled validation cases")
    parser.add_argument(
        "--fold", type=int, choices=range(5), metavar="K",
        help="train on nnU-Net's cross-validation fold K (0-4) of all labelled cases (see `amos splits`)",
    )
    parser.add_argument("--cache-dir", help="folder of the preprocessed cases (default in $AMOS_CACHE_DIR)")
    parser.add_argument("--stop-after", type=int, help="stop with a checkpoint after N steps of this session")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(func=_run)


if __name__ == "__main__":  # pragma: no cover
    from amos_tutorial.cli import main

    sys.exit(main(["train", *sys.argv[1:]]))
