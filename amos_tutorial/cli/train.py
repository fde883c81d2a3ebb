"""``amos train``: train a registered model on AMOS or the synthetic set.

Introduced in chapter *Training the baselines*. A thin layer over :func:`amos_tutorial.training.train`::

    amos train --model nnunet --data synthetic --out runs/nnunet_smoke --preset smoke
    amos train --model nnunet --data $AMOS_DATA_DIR --out runs/nnunet --preset full --device cuda
    amos train --model unet --data synthetic --out runs/unet_task1 --preset quick --task 1   # CT only
    amos train --model resenc --variant L --augment da5 --data $AMOS_DATA_DIR --out runs/resenc_l --preset full
    amos train --out runs/nnunet --resume                      # after Ctrl-C or a crash
    amos train --model unet --data synthetic --out runs/unet_mine --loss my_losses.py:my_dice_ce   # own loss
    torchrun --standalone --nproc_per_node=4 -m amos_tutorial.cli train --model nnunet ...   # 4 GPUs

Exit codes: 0 when the run finished (or stopped at ``--stop-after``), 130 after Ctrl-C/SIGTERM
(a checkpoint was written: resume with ``--resume``), 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys

from amos_tutorial.cli._args import (
    add_memory_budget_arg,
    add_amp_arg,
    add_batch_size_arg,
    add_cache_dir_arg,
    add_command,
    add_data_arg,
    add_device_arg,
    add_loss_arg,
    add_out_arg,
    add_patch_size_arg,
    add_progress_arg,
    add_seed_arg,
    add_task_arg,
    add_variant_arg,
    check_output_folder,
)
from amos_tutorial.training.config import COURSE_ITERATIONS, PRESETS
from amos_tutorial.transforms.augment import AUGMENTATIONS

ORDER = 30

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from amos_tutorial.models import list_models
    from amos_tutorial.training import train
    from amos_tutorial.training.distributed import distributed_env
    from amos_tutorial.training.interrupt import INTERRUPTED_EXIT_CODE

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
        "memory_budget_gb": args.memory_budget,
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
        loss=_loss_function(args.loss),
        **{k: v for k, v in overrides.items() if v is not None},
    )
    if distributed_env().is_main:
        best = "none yet" if result.best_dice is None else f"{result.best_dice:.4f}"
        state = "finished" if result.completed else f"stopped at step {result.iteration}"
        print(f"{result.run_dir}: {state} ({result.config.iterations} steps planned); best validation Dice {best}")
    if result.stop_reason in ("SIGINT", "SIGTERM"):
        return INTERRUPTED_EXIT_CODE
    return 0


def _loss_function(loss):
    """The function ``train(loss=...)`` takes: None for the default Dice + cross-entropy."""
    from amos_tutorial.training.losses import LOSSES

    return LOSSES[loss] if isinstance(loss, str) else loss


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``amos train`` to the ``amos`` parser."""
    parser = add_command(
        subparsers,
        "train",
        help="train a baseline (unet, nnunet, swinunetr...) into a run folder",
        description=(
            "Train a registered model. The run folder receives config.json, metrics.csv, "
            "checkpoints/last.pt and best.pt (and tensorboard/ when installed). Ctrl-C writes a "
            "checkpoint and exits with 130; --resume continues. Under torchrun the same command "
            "trains with DistributedDataParallel."
        ),
    )
    parser.add_argument("--model", help="registry name (amos_tutorial.models.list_models()); not needed with --resume")
    add_data_arg(parser)
    add_out_arg(parser, "run folder", required=True)
    parser.add_argument(
        "--preset",
        choices=tuple(PRESETS),
        default="smoke",
        help="smoke: tiny CPU pipeline check (learns nothing); quick: tiny network on a coarse grid, 600 Adam "
        "steps, learns the large organs on a CPU (UNet: about a minute); colab: the full network for one T4, "
        "15,000 steps (an estimate, not measured: a few hours; use --stop-after and --resume); course: the full "
        f"network on a course pack's grid (amos data pack) for a T4, {COURSE_ITERATIONS:,} steps (minutes there: an "
        "estimate, not measured); full: the schedule of the AMOS baselines (1000 x 250 steps)",
    )
    add_task_arg(
        parser, optional=True,
        help="AMOS task: 1 trains and validates on CT cases only, 2 on CT and MRI (default: the run's, else 2); "
        "the modality comes from the metadata CSV, else the id rule",
    )  # fmt: skip
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from checkpoints/last.pt")
    add_device_arg(parser)
    parser.add_argument("--iterations", type=int, help="total optimiser steps (default: the preset's)")
    parser.add_argument("--iterations-per-epoch", type=int, help="steps per epoch (logging/checkpoint unit)")
    add_batch_size_arg(parser, "patches per step and per process (default: the recipe's)")
    add_patch_size_arg(parser, "patch x,y,z in voxels, e.g. 96,96,96 (default: the recipe's)")
    add_variant_arg(
        parser, "model variant: tiny, full or a size the model defines (resenc: M, L) (default: the preset's)",
        model_sizes=True,
    )
    parser.add_argument(
        "--augment",
        choices=tuple(AUGMENTATIONS),
        help=(
            "patch augmentation: off, default, or da5 (a subset of nnU-Net's DA5, which one of the AMOS 2022 "
            "winners' three Task 1 configurations used; default: default)"
        ),
    )
    parser.add_argument("--lr", type=float, help="learning rate (default: the model's recipe)")
    add_loss_arg(parser)
    add_seed_arg(parser, "seed of weights, patches and RNGs (default: the run's, else 0)", optional=True)
    parser.add_argument("--deterministic", action="store_true", help="deterministic algorithms (slower on GPU)")
    add_amp_arg(parser, inherit="the run's, else auto")
    parser.add_argument("--val-every", type=int, help="validate every K epochs (0: only at the end)")
    parser.add_argument("--val-cases", type=int, help="number of labelled validation cases")
    parser.add_argument(
        "--fold", type=int, choices=range(5), metavar="K",
        help="train on nnU-Net's cross-validation fold K (0-4) of all labelled cases (see `amos splits`)",
    )
    add_cache_dir_arg(parser)
    add_memory_budget_arg(
        parser, "RAM for the training cases; the others are memory-mapped from the cache "
        "(default: no limit with 16 GB of RAM or more, about half the available RAM below)",
    )
    parser.add_argument("--stop-after", type=int, help="stop with a checkpoint after N steps of this session")
    add_progress_arg(parser)
    parser.set_defaults(func=_run)


if __name__ == "__main__":  # pragma: no cover
    from amos_tutorial.cli import main

    sys.exit(main(["train", *sys.argv[1:]]))
