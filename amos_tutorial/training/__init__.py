"""Training the AMOS baselines: config, trainer, checkpoints, mixed precision, DDP.

Introduced in chapter *Training the baselines*. The chapters call :func:`train` and
:func:`load_run`; the command line is ``amos train`` (:mod:`amos_tutorial.cli.train`).

Examples:
    >>> from amos_tutorial.training import train, load_run
    >>> result = train(model="unet", data="synthetic", out="runs/unet_smoke", preset="smoke")  # doctest: +SKIP
    >>> model, config = load_run("runs/unet_smoke", checkpoint="best", device="cpu")              # doctest: +SKIP
"""

from amos_tutorial.training.amp import AmpPolicy, amp_policy, resolve_device
from amos_tutorial.training.checkpoint import load_checkpoint, save_checkpoint
from amos_tutorial.training.config import PRESETS, TrainConfig, load_config, make_config, save_config
from amos_tutorial.training.losses import SegmentationLoss
from amos_tutorial.training.rundir import RunDir
from amos_tutorial.training.trainer import RunResult, load_run, run_training, train

__all__ = [
    "PRESETS",
    "AmpPolicy",
    "RunDir",
    "RunResult",
    "SegmentationLoss",
    "TrainConfig",
    "amp_policy",
    "load_checkpoint",
    "load_config",
    "load_run",
    "make_config",
    "resolve_device",
    "run_training",
    "save_checkpoint",
    "save_config",
    "train",
]
