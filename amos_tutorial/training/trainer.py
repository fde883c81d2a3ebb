"""The training loop: one function that trains any registered model on AMOS, resumably.

Introduced in chapter *Training the baselines*. Builds on PyTorch (optimisers, autocast, DDP), MONAI
(``DiceCELoss``, ``sliding_window_inference``, ``WarmupCosineSchedule``) and this package's data
layer (``load_amos``), preprocessing cache (``preprocess_dataset`` / ``load_preprocessed``) and patch
sampler (``PatchSampler``).

What a run does:

1. reads the data folder (``load_amos``), takes the labelled training split for training and a few
   labelled cases for validation (the AMOS validation split when labelled, otherwise cases held
   out of the training split);
2. preprocesses every case once into a cache (one file per case, resumable);
3. trains for ``iterations`` steps of ``batch_size`` patches: patch ``k`` comes from
   ``PatchSampler.batch(k)``, a pure function of (seed, rank, k), so a resumed run sees exactly the
   batches an uninterrupted run would;
4. every epoch (``iterations_per_epoch`` steps) appends a row to ``metrics.csv`` and writes
   ``checkpoints/last.pt``; every ``val_every`` epochs and at the end it predicts the validation
   cases with a sliding window and records the Dice of each organ; the best mean Dice so far is
   kept in ``checkpoints/best.pt``.

Ctrl-C (SIGINT) or SIGTERM stops after the current step with a checkpoint; ``resume=True``
(``amos train --resume``) continues from it.

Run folder::

    RUN_DIR/config.json          the full TrainConfig (its ``task``: 1 = CT only, 2 = CT and MRI)
    RUN_DIR/cases.json           the training and validation cases the run used, with their modality
    RUN_DIR/metrics.csv          one row per epoch: loss, learning rate, time, Dice per organ
    RUN_DIR/checkpoints/last.pt  model, optimiser, scaler, scheduler, position, RNG states
    RUN_DIR/checkpoints/best.pt  the same at the best validation Dice
    RUN_DIR/tensorboard/         when TensorBoard is installed

Examples:
    >>> result = train(model="unet", data="synthetic", out="runs/unet_smoke", preset="smoke")  # doctest: +SKIP
    >>> result.metrics[["epoch", "train_loss", "val_dice"]]                                   # doctest: +SKIP
    >>> model, config = load_run("runs/unet_smoke", checkpoint="best")                             # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import os
import random
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from amos_tutorial.training.amp import amp_policy, resolve_device
from amos_tutorial.training.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from amos_tutorial.training.config import TrainConfig, load_config, make_config, save_config
from amos_tutorial.training.distributed import (
    any_rank,
    barrier,
    cleanup_distributed,
    init_distributed,
)
from amos_tutorial.training.interrupt import StopFlag
from amos_tutorial.training.losses import SegmentationLoss
from amos_tutorial.training.optim import build_optimizer, build_scheduler
from amos_tutorial.training.rundir import CASES_FILE, CHECKPOINT_DIR, RunDir
from amos_tutorial.training.step import train_step, validate
from amos_tutorial.training.volumes import prepare_volumes
from amos_tutorial.utils.io import atomic_write_text
from amos_tutorial.utils.lock import FolderLock

__all__ = [
    "CASES_FILE",
    "CHECKPOINT_DIR",
    "LOSS_FILE",
    "RunResult",
    "build_optimizer",
    "build_scheduler",
    "load_run",
    "prepare_volumes",
    "run_training",
    "seed_everything",
    "train",
    "train_step",
    "validate",
]

#: Written into a run folder trained with its own loss (``train(..., loss=fn)``): the function's name.
LOSS_FILE = "loss.json"


@dataclass
class RunResult:
    """What :func:`train` returns.

    Introduced in chapter *Training the baselines*.

    Attributes:
        run_dir: The run folder.
        config: The run's :class:`TrainConfig`.
        metrics: ``metrics.csv`` as a DataFrame (one row per epoch, all sessions of the run).
        iteration: Steps completed so far.
        completed: Whether the run reached ``config.iterations``.
        interrupted: Whether this session was stopped early (Ctrl-C, SIGTERM or ``stop_after``).
        stop_reason: ``"SIGINT"``, ``"SIGTERM"``, ``"stop_after"`` or None.
        best_dice: Best mean validation Dice so far (None before the first validation).
        losses: Training loss of every step of this session, by step index (0-based).
        last_checkpoint: Path of ``last.pt``.
        best_checkpoint: Path of ``best.pt`` (None before the first validation).
    """

    run_dir: Path
    config: TrainConfig
    metrics: pd.DataFrame
    iteration: int
    completed: bool
    interrupted: bool
    best_dice: float | None
    stop_reason: str | None = None
    losses: dict[int, float] = field(default_factory=dict)
    last_checkpoint: Path | None = None
    best_checkpoint: Path | None = None


# --------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch (all devices); optionally ask for deterministic kernels.

    Introduced in chapter *Training the baselines*. Builds on ``torch.manual_seed`` and
    ``torch.use_deterministic_algorithms``. Without ``deterministic``, cuDNN may pick the fastest
    (non-deterministic) convolution algorithms (``cudnn.benchmark``), as nnU-Net does.

    Args:
        seed: The seed (>= 0).
        deterministic: Deterministic algorithms (warn-only where none exists), no cuDNN benchmarking.
    """
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        # cuBLAS needs this workspace setting for deterministic matrix products on CUDA >= 10.2.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    else:
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.deterministic = False
        torch.backends.cudnn.benchmark = True



def _tensorboard_writer(run_dir: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional
        return None
    return SummaryWriter(log_dir=str(run_dir / "tensorboard"))


# --------------------------------------------------------------------------------------------
# The run: a skeleton of named steps
# --------------------------------------------------------------------------------------------

# Non-finite losses in a row after which a run is declared diverged (a single one only skips its update).
MAX_NON_FINITE_STEPS = 10


def run_training(
    config: TrainConfig,
    run_dir: str | os.PathLike,
    resume: bool = False,
    progress: bool = True,
    stop_after: int | None = None,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> RunResult:
    """Train according to ``config`` into ``run_dir`` (see the module docstring).

    Introduced in chapter *Training the baselines*. Most users call :func:`train` or ``amos train``.
    The loop is a skeleton of named steps, as in nnU-Net's trainer: set up (folder, model, data,
    optimiser), restore (``resume``), then one training step at a time, the end of an epoch (log,
    validate and keep the best, checkpoint) and the stop conditions, and finally finish.

    Args:
        config: The full configuration (when resuming, the one read from ``run_dir``).
        run_dir: The run folder.
        resume: Continue from ``run_dir/checkpoints/last.pt``.
        progress: Show tqdm progress bars (rank 0 only).
        stop_after: Stop (with a checkpoint, as after Ctrl-C) after this many steps of this session;
            useful on time-limited machines such as Colab.
        loss: A loss ``(logits, target) -> scalar`` instead of Dice + cross-entropy (see :func:`train`).

    Returns:
        The :class:`RunResult` (on every rank; only rank 0 has written files).
    """
    if stop_after is not None and stop_after < 1:
        raise ValueError(f"stop_after must be >= 1, got {stop_after}")
    run = _TrainingRun(config, Path(run_dir), resume, progress, stop_after, loss)
    try:
        run.set_up()
        run.restore()
        run.begin()
        with StopFlag(run.log) as stop:
            while run.iteration < run.config.iterations:
                run.train_one_step()
                if run.at_epoch_end():
                    run.end_epoch()
                if run.should_stop(stop):
                    break
        return run.finish()
    finally:
        run.release()


class _TrainingRun:
    """One session of a run: the steps :func:`run_training` calls, and the state they share.

    The state is the model, optimiser, scaler and schedule, the position (``iteration``), the epoch's
    losses, the metrics rows and the best validation Dice. Every process runs every step; only the main
    process writes files, and the steps that talk to the other processes (``end_epoch``'s barrier,
    ``should_stop``'s vote) are reached by all of them at the same step.
    """

    def __init__(
        self,
        config: TrainConfig,
        run_dir: Path,
        resume: bool,
        progress: bool,
        stop_after: int | None,
        loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        self.config, self.run_dir, self.resume, self.stop_after = config, run_dir, resume, stop_after
        self.last_path, self.best_path = RunDir(run_dir).checkpoint("last"), RunDir(run_dir).checkpoint("best")
        self.folder = RunDir(run_dir)
        self.custom_loss = loss
        self.info, self.device = init_distributed(resolve_device(config.device))
        self.progress = progress and self.info.is_main
        self.log: Callable[[str], None] = print if self.info.is_main else (lambda msg: None)
        # One process writes a run folder: a second `amos train --out` on it is refused (one line naming the
        # holder) instead of mixing two runs. Taken before the data is read, so a bad --out fails at once.
        self.lock = FolderLock(run_dir, what="run folder") if self.info.is_main else None
        self.start = self.iteration = 0
        self.best_dice: float | None = None
        self.epoch_losses: list[float] = []
        self.rows: list[dict[str, Any]] = []
        self.losses: dict[int, float] = {}
        self.non_finite_steps = 0
        self.stop_reason: str | None = None

    # ---- set up and restore ----------------------------------------------------------------------

    def set_up(self) -> None:
        """Claim the folder, seed, build the model, read the data, then the sampler, optimiser and loss."""
        from amos_tutorial.models import build_model_for_patch
        from amos_tutorial.transforms.sampler import PatchSampler

        self._claim_folder()
        config, info, device = self.config, self.info, self.device
        if info.world_size != config.world_size:
            if self.resume:
                self.log(f"note: this run used {config.world_size} process(es), resuming with {info.world_size}")
            config = self.config = config.replace(world_size=info.world_size)
        self.policy = amp_policy(device, config.amp)
        seed_everything(config.seed, config.deterministic)
        # The model first: a patch it cannot take fails now, not after an hour of preprocessing.
        # Same seed on every rank: identical initial weights (DDP also broadcasts rank 0's).
        torch.manual_seed(config.seed)
        spacing = config.preprocess.get("spacing")
        self.net = build_model_for_patch(config.model, config.variant, config.patch_size, spacing).to(device)
        train_vols, self.val_vols, _, source = prepare_volumes(config, device, info, self.progress, self.log)
        if info.is_main:
            RunDir(self.run_dir).write_cases(config.task, train_vols, self.val_vols, source)
        self.sampler = PatchSampler(
            train_vols, config.patch_size, config.batch_size, device=device, organ_weighted=config.organ_weighted,
            augment=config.augment, seed=config.seed, rank=info.rank, world_size=info.world_size,
        )  # fmt: skip
        self.model: nn.Module = self.net
        if info.enabled:
            device_ids = [device.index] if device.type == "cuda" else None
            self.model = nn.parallel.DistributedDataParallel(self.net, device_ids=device_ids)
        self.optimizer = build_optimizer(self.net.parameters(), config.optimizer)
        self.scaler = self.policy.make_scaler()
        self.loss_fn = SegmentationLoss(deep_supervision=config.deep_supervision, base=self.custom_loss)
        self._record_loss()

    def _record_loss(self) -> None:
        """A run trained with its own loss says so in ``loss.json``; resuming it without that loss is refused."""
        path = self.run_dir / LOSS_FILE
        if self.custom_loss is None:
            if self.resume and path.is_file():
                name = json.loads(path.read_text(encoding="utf-8")).get("loss")
                raise ValueError(f"{path}: this run was trained with the loss {name}; pass it again (loss=...) to resume")
            return
        if self.info.is_main:
            fn = self.custom_loss
            name = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', type(fn).__name__)}"
            atomic_write_text(path, json.dumps({"loss": name}) + "\n")

    def _claim_folder(self) -> None:
        if self.lock is None:
            return
        self.lock.acquire()
        if not self.resume and RunDir(self.run_dir).has_run():
            raise ValueError(f"{self.run_dir}: already holds a run; resume it (--resume) or choose another folder")

    def restore(self) -> None:
        """When resuming, continue from ``last.pt``; then build the schedule at the run's position."""
        scheduler_state = None
        if self.resume and self.last_path.is_file():
            scheduler_state = self._load_last()
        elif self.resume:
            self.log(f"{self.last_path}: no checkpoint yet, starting {self.run_dir} from the beginning")
        config = self.config
        self.scheduler = build_scheduler(self.optimizer, config.schedule, config.iterations, self.start)
        if scheduler_state is not None and _same_schedule_length(scheduler_state, config.iterations):
            self.scheduler.load_state_dict(scheduler_state)
        self.iteration = self.start

    def _load_last(self) -> dict[str, Any] | None:
        """Weights, optimiser, scaler, position, losses of the open epoch, RNG and metrics rows of ``last.pt``."""
        # Loaded on the CPU: load_state_dict copies onto the model's device without a second GPU copy.
        state = load_checkpoint(self.last_path, map_location="cpu")
        try:
            self.net.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            if state.get("scaler"):
                self.scaler.load_state_dict(state["scaler"])
        except (RuntimeError, KeyError, ValueError) as exc:
            raise ValueError(f"{self.last_path}: checkpoint does not match this run's model/optimiser ({exc})") from exc
        self.start = int(state["iteration"])
        self.best_dice = state.get("best_dice")
        self.epoch_losses = [float(v) for v in state.get("epoch_losses", [])]
        set_rng_state(state["rng"])
        self.rows = self.folder.metrics_upto(self.start) if self.info.is_main else []
        self.log(f"resuming {self.run_dir} at step {self.start} of {self.config.iterations}")
        return state.get("scheduler")

    def begin(self) -> None:
        """Write ``config.json``, say what is trained, open TensorBoard and the progress bar."""
        from tqdm.auto import tqdm

        from amos_tutorial.models import count_parameters

        config, info = self.config, self.info
        if info.is_main:
            (self.run_dir / CHECKPOINT_DIR).mkdir(parents=True, exist_ok=True)
            save_config(config, RunDir(self.run_dir).config_path)
            self.log(
                f"training {config.model} ({config.variant}, {count_parameters(self.net) / 1e6:.2f} M parameters) on "
                f"{self.device} [{self.policy.name}], {info.world_size} process(es), patch {config.patch_size}, "
                f"batch {config.batch_size}, {config.iterations} steps"
            )
        self.writer = _tensorboard_writer(self.run_dir) if info.is_main else None
        self.epoch_start = time.perf_counter()
        self.bar = tqdm(
            total=config.iterations, initial=self.start, desc=f"{config.model}", disable=not self.progress,
            dynamic_ncols=True,
        )  # fmt: skip
        self.model.train()

    # ---- the loop's steps ------------------------------------------------------------------------

    def train_one_step(self) -> None:
        """One optimiser step on batch ``k = iteration`` (a pure function of seed, rank and k), then the schedule."""
        it = self.iteration
        batch = self.sampler.batch(it)
        loss = train_step(
            self.model, batch, self.loss_fn, self.optimizer, self.scaler, self.policy, self.config.grad_clip
        )
        self.scheduler.step()
        value = float(loss)
        if not math.isfinite(value):
            self.non_finite_steps += 1
            if self.non_finite_steps >= MAX_NON_FINITE_STEPS:
                raise RuntimeError(
                    f"{self.run_dir}: training diverged ({self.non_finite_steps} non-finite losses in a row at step "
                    f"{it}); lower the learning rate or resume from the last checkpoint"
                )
        else:
            self.non_finite_steps = 0
            self.epoch_losses.append(value)
        self.losses[it] = value
        self.iteration = it + 1
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{value:.4f}", refresh=False)
        if self.writer is not None:
            self.writer.add_scalar("train/loss", value, self.iteration)

    def at_epoch_end(self) -> bool:
        """Whether the last step closed an epoch (``iterations_per_epoch`` steps, or the run's last step)."""
        return self.iteration % self.config.iterations_per_epoch == 0 or self.iteration == self.config.iterations

    def _epoch(self) -> int:
        return -(-self.iteration // self.config.iterations_per_epoch)

    def end_epoch(self) -> None:
        """Append the epoch's row (validating when due), write ``metrics.csv`` and ``last.pt`` (``best.pt`` too)."""
        config, it, epoch = self.config, self.iteration, self._epoch()
        row: dict[str, Any] = {
            "epoch": epoch,
            "iteration": it,
            "train_loss": float(np.mean(self.epoch_losses)) if self.epoch_losses else float("nan"),
            "lr": float(self.optimizer.param_groups[0]["lr"]),
            "seconds": time.perf_counter() - self.epoch_start,
        }
        due = it == config.iterations or (config.val_every > 0 and epoch % config.val_every == 0)
        improved = False
        if due and self.info.is_main and self.val_vols:
            improved = self.validate_and_keep_best(row, epoch)
        self.epoch_losses = []
        if self.info.is_main:
            self.rows.append(row)
            self.folder.write_metrics(self.rows)
            self.save(self.last_path, epoch)
            if improved:
                self.save(self.best_path, epoch, {"val_dice": self.best_dice})
            if self.writer is not None:
                self.writer.add_scalar("train/epoch_loss", row["train_loss"], it)
                self.writer.add_scalar("train/lr", row["lr"], it)
                self.writer.flush()
        barrier(self.info)
        self.epoch_start = time.perf_counter()

    def validate_and_keep_best(self, row: dict[str, Any], epoch: int) -> bool:
        """Add the validation Dice (mean and per organ) to ``row``; True when it beats the best so far."""
        config = self.config
        table = validate(
            self.net, self.val_vols, config.patch_size, self.device, self.policy,
            sw_batch_size=config.sw_batch_size, overlap=config.sw_overlap,
        )  # fmt: skip
        per_organ = table.drop(columns="case_id").mean(axis=0, skipna=True)
        mean_dice = float(np.nanmean(per_organ.to_numpy(dtype=float))) if per_organ.notna().any() else float("nan")
        row["val_dice"] = mean_dice
        row.update({f"dice_{k}": float(v) for k, v in per_organ.items()})
        if self.writer is not None:
            self.writer.add_scalar("val/dice", mean_dice, self.iteration)
        improved = math.isfinite(mean_dice) and (self.best_dice is None or mean_dice > self.best_dice)
        if improved:
            self.best_dice = mean_dice
        self.bar.write(f"epoch {epoch}: loss {row['train_loss']:.4f}, validation Dice {mean_dice:.4f}")
        return improved

    def save(self, path: Path, epoch: int, extra: dict[str, Any] | None = None) -> None:
        """Checkpoint everything a resumed run needs to continue exactly (main process only)."""
        state = {
            "model": self.net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "iteration": self.iteration,
            "epoch": epoch,
            "best_dice": self.best_dice,
            "epoch_losses": list(self.epoch_losses),
            "rng": rng_state(),
            "config": self.config.to_dict(),
            "amp": self.policy.name,
        }
        state.update(extra or {})
        save_checkpoint(path, state)

    def should_stop(self, stop: StopFlag) -> bool:
        """Stop early (Ctrl-C, SIGTERM, ``stop_after``) on every process at the same step, with a checkpoint."""
        it = self.iteration
        session_done = self.stop_after is not None and it - self.start >= self.stop_after
        # The vote is collective: every process reaches it at every step before the last.
        if it >= self.config.iterations or not any_rank(stop.requested or session_done, self.info, self.device):
            return False
        if self.info.is_main:
            self.save(self.last_path, self._epoch())
        if stop.signal_name:
            self.stop_reason = stop.signal_name
        elif session_done:
            self.stop_reason = "stop_after"
        else:
            self.stop_reason = "stopped on another process"
        self.log(f"stopped at step {it} ({self.stop_reason}); checkpoint {self.last_path}; continue with resume")
        return True

    # ---- finish ------------------------------------------------------------------------------------

    def finish(self) -> RunResult:
        """Close the bar and TensorBoard, wait for every process, and report."""
        self.bar.close()
        if self.writer is not None:
            self.writer.close()
        barrier(self.info)
        return RunResult(
            run_dir=self.run_dir,
            config=self.config,
            metrics=pd.DataFrame(self.rows) if self.info.is_main else pd.DataFrame(),
            iteration=self.iteration,
            completed=self.iteration >= self.config.iterations,
            interrupted=self.stop_reason is not None,
            best_dice=self.best_dice,
            stop_reason=self.stop_reason,
            losses=self.losses,
            last_checkpoint=self.last_path,
            best_checkpoint=self.best_path if self.best_path.is_file() else None,
        )

    def release(self) -> None:
        """Free the run folder and leave the process group (also after an error)."""
        if self.lock is not None:
            self.lock.release()
        cleanup_distributed(self.info)


def _same_schedule_length(state: dict[str, Any], total: int) -> bool:
    # LambdaLR stores the lambda object's attributes; WarmupCosineSchedule its t_total.
    lambdas = state.get("lr_lambdas") or [None]
    first = lambdas[0] if isinstance(lambdas[0], dict) else {}
    length = state.get("t_total", first.get("total"))
    return length is None or int(length) == int(total)


def train(
    model: str = "unet",
    data: str | os.PathLike = "synthetic",
    out: str | os.PathLike | None = None,
    preset: str = "smoke",
    resume: bool = False,
    device: str = "auto",
    progress: bool = True,
    stop_after: int | None = None,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    **overrides: Any,
) -> RunResult:
    """Train a registered model on AMOS (or the synthetic set) and return the run's results.

    Introduced in chapter *Training the baselines*. The Python face of ``amos train``; see the
    module docstring for what a run does and writes.

    Args:
        model: Registry name (``amos_tutorial.models.list_models()``).
        data: AMOS folder or ``"synthetic"``.
        out: Run folder (default ``runs/<model>_<preset>``).
        preset: ``"smoke"`` (tiny, CPU, seconds: a pipeline check), ``"quick"`` (tiny, coarse grid, 600
            Adam steps: learns visibly in about a minute on a CPU) or ``"full"`` (the AMOS recipe).
        resume: Continue the run in ``out`` from its last checkpoint (its ``config.json`` is used;
            ``iterations``, ``device`` and ``amp`` may be changed).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"mps"``...
        progress: Show progress bars.
        stop_after: Stop with a checkpoint after this many steps of this session.
        loss: A function ``(logits (B, C, X, Y, Z), target (B, 1, X, Y, Z)) -> scalar tensor`` trained instead
            of Dice + cross-entropy: the student's ``my_dice_ce`` of chapter *Training the baselines*, or
            cross-entropy alone. Deep supervision still weights each output. Its name is kept in the run's
            ``loss.json`` (the function itself is not saved): pass it again when resuming.
        **overrides: Any :class:`TrainConfig` field (``iterations``: total steps, default the preset's;
            ``patch_size``, ``batch_size``, ``lr``, ``seed``...).

    Returns:
        A :class:`RunResult` with the metrics DataFrame.

    Raises:
        ValueError: ``"RUN_DIR: ..."`` when ``out`` already holds a run and ``resume`` is False,
            or for bad options.
        amos_tutorial.utils.lock.LockedError: ``"RUN_DIR: this run folder is in use by process ..."``
            when another process trains into ``out`` (a lock left by a killed process is taken over).
        FileNotFoundError: When resuming a folder without ``config.json``.

    Examples:
        >>> r = train("unet", data="synthetic", out="runs/demo", preset="smoke", iterations=20)  # doctest: +SKIP
        >>> r.metrics.tail(1)[["iteration", "train_loss", "val_dice"]]                         # doctest: +SKIP
    """
    run_dir = Path(out) if out is not None else Path("runs") / f"{model}_{preset}"
    iterations = overrides.pop("iterations", None)
    config_path = RunDir(run_dir).config_path
    if resume:
        if not config_path.is_file():
            raise FileNotFoundError(f"{config_path}: nothing to resume (no config.json in the run folder)")
        config = load_config(config_path)
        allowed = {"amp", "val_every", "cache_dir", "memory_budget_gb"}
        bad = sorted(k for k, v in overrides.items() if v is not None and k not in allowed)
        if bad:
            raise ValueError(
                f"{run_dir}: a resumed run keeps its config.json; only iterations, device, {', '.join(sorted(allowed))} "
                f"may change (got {bad})"
            )
        changes = {k: v for k, v in overrides.items() if v is not None}
        if iterations is not None:
            changes["iterations"] = int(iterations)
        if device != "auto":
            changes["device"] = device
        config = config.replace(**changes) if changes else config
    else:
        if RunDir(run_dir).has_run():
            raise ValueError(f"{run_dir}: already holds a run; resume it (--resume) or choose another folder")
        config = make_config(model, preset=preset, data=data, device=device, iterations=iterations, **overrides)
    return run_training(config, run_dir, resume=resume, progress=progress, stop_after=stop_after, loss=loss)


def load_run(
    run_dir: str | os.PathLike, checkpoint: str = "best", device: str | torch.device = "cpu"
) -> tuple[nn.Module, TrainConfig]:
    """Rebuild a trained model from its run folder, in eval mode.

    Introduced in chapter *Training the baselines*. Builds on :func:`~amos_tutorial.training.checkpoint.load_checkpoint`
    (``torch.load(weights_only=True)``) and the model registry.

    Args:
        run_dir: A folder written by ``amos train``.
        checkpoint: ``"best"`` (highest validation Dice; falls back to ``"last"`` with a warning when the
            run has not validated yet) or ``"last"``.
        device: Where to put the model.

    Returns:
        ``(model, config)``.

    Raises:
        FileNotFoundError: ``"PATH: ..."`` if the config or checkpoint is missing.
        ValueError: ``"PATH: ..."`` if the checkpoint is corrupted or does not fit the model.

    Examples:
        >>> model, cfg = load_run("runs/unet_smoke", checkpoint="best", device="cpu")  # doctest: +SKIP
    """
    from amos_tutorial.models import build_model_for_patch

    if checkpoint not in ("best", "last"):
        raise ValueError(f"checkpoint must be 'best' or 'last', got {checkpoint!r}")
    run_dir = Path(run_dir)
    config = load_config(RunDir(run_dir).config_path)
    path = RunDir(run_dir).checkpoint(checkpoint)
    if checkpoint == "best" and not path.is_file() and RunDir(run_dir).checkpoint("last").is_file():
        warnings.warn(f"{path}: not written yet (no validation so far); loading last.pt instead", stacklevel=2)
        path = RunDir(run_dir).checkpoint("last")
    dev = resolve_device(device)
    state = load_checkpoint(path, map_location=dev)
    net = build_model_for_patch(config.model, config.variant, config.patch_size, config.preprocess.get("spacing"))
    try:
        net.load_state_dict(state["model"])
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ValueError(f"{path}: weights do not fit {config.model} ({config.variant}): {first}") from exc
    return net.to(dev).eval(), config
