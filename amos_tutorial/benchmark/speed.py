"""``amos bench speed``: is the GPU fed? The whole training loop against the raw step, side by side.

Introduced in chapter *Training the baselines* (section *Where does the time go?*). Builds on the
trainer's own :func:`~amos_tutorial.training.trainer.train_step` and the ``PatchSampler``.

For each model, on synthetic data and in one run:

* **raw step**: forward + Dice/CE loss + backward + optimiser step on random tensors already on the
  device; the fastest the GPU can train this model;
* **whole loop**: the same step fed by the training data path (``PatchSampler.batch(k)``: organ-weighted
  crops and augmentation of cached, preprocessed volumes);
* **data**: ``PatchSampler.batch(k)`` alone.

``ratio = raw step time / whole loop time``: 1.0 means the GPU never waits for data. Also reported:
patches per second and peak GPU memory (``torch.cuda.max_memory_allocated``; the loop's peak includes
the volumes the sampler keeps on the GPU). Every step synchronises once (reading the loss, as the
trainer does), so both timings include the same synchronisation.

On a CPU with ``preset="tiny"`` it runs in seconds (the tests do that); on a GPU use the full
variants (``preset="full"``) for figures worth quoting. Absolute times hold only on the machine
that measured them; compare ratios measured in the same run.

Examples:
    >>> frame = speed_benchmark(["unet"], iterations=2, preset="tiny", device="cpu", data="synthetic")  # doctest: +SKIP
    >>> frame[["model", "step_s", "loop_s", "ratio"]]                                                  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from amos_tutorial.utils.io import atomic_path

__all__ = ["SPEED_COLUMNS", "add_cli", "format_speed_table", "speed_benchmark"]

#: Columns of the result table / CSV, in order.
SPEED_COLUMNS: tuple[str, ...] = (
    "model",
    "variant",
    "device",
    "amp",
    "patch",
    "batch",
    "params_M",
    "step_s",
    "loop_s",
    "data_s",
    "ratio",
    "step_patches_per_s",
    "loop_patches_per_s",
    "step_peak_GiB",
    "loop_peak_GiB",
    "iterations",
    "error",
)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _peak_gib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return float("nan")


def _time_steps(step: Any, batches: Any, first: int, count: int, device: torch.device) -> float:
    """Seconds per call of ``step(batches(k))`` for ``k`` in ``first .. first + count - 1``."""
    _sync(device)
    start = time.perf_counter()
    for k in range(first, first + count):
        step(batches(k))
    _sync(device)
    return (time.perf_counter() - start) / count


def speed_benchmark(
    models: Sequence[str] = ("unet", "nnunet"),
    iterations: int = 20,
    preset: str = "tiny",
    device: str = "auto",
    warmup: int = 3,
    data: str | os.PathLike = "synthetic",
    batch_size: int | None = None,
    patch_size: Sequence[int] | None = None,
    amp: str = "auto",
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    out_csv: str | os.PathLike | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Time the raw training step and the whole training loop of several models, side by side.

    Introduced in chapter *Training the baselines*. Builds on the trainer
    (:func:`~amos_tutorial.training.trainer.train_step`, the same optimiser, loss and mixed
    precision as ``amos train``) and ``PatchSampler``. A model that fails (out of memory, a patch
    it cannot take) gets a row with its ``error`` and the others still run.

    Args:
        models: Registry names.
        iterations: Timed steps per phase (after ``warmup`` untimed ones).
        preset: ``"tiny"`` (tiny variants, tiny patches: CPU) or ``"full"`` (the recipes: GPU).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
        warmup: Untimed steps first (cuDNN autotuning, allocator warm-up).
        data: Data for the whole loop: ``"synthetic"`` or a folder.
        batch_size: Override the recipe's batch size.
        patch_size: Override the recipe's patch (x, y, z).
        amp: ``"auto"``, ``"bf16"``, ``"fp16"`` or ``"off"``.
        seed: Seed of weights, random tensors and patches.
        cache_dir: Preprocessed cache folder (default: the trainer's).
        out_csv: Also write the table here (atomically).
        progress: Print one line per model as it is measured.

    Returns:
        One row per model with the columns :data:`SPEED_COLUMNS` (times in seconds per step).

    Raises:
        ValueError: For a bad preset, iteration count or unknown model.

    Examples:
        >>> speed_benchmark(["unet"], iterations=2, preset="tiny", device="cpu")  # doctest: +SKIP
    """
    from amos_tutorial.models import get_model_spec
    from amos_tutorial.training.amp import amp_policy, resolve_device
    from amos_tutorial.training.config import make_config
    from amos_tutorial.training.trainer import prepare_volumes

    if preset not in ("tiny", "full"):
        raise ValueError(f"preset must be 'tiny' or 'full', got {preset!r}")
    if iterations < 1 or warmup < 0:
        raise ValueError(f"need iterations >= 1 and warmup >= 0, got {iterations} and {warmup}")
    models = [m.strip() for m in models if m.strip()]
    if not models:
        raise ValueError("no model given")
    for name in models:
        try:
            get_model_spec(name)
        except KeyError as exc:
            raise ValueError(str(exc).strip("\"'")) from None
    dev = resolve_device(device)
    policy = amp_policy(dev, amp)
    say = print if progress else (lambda *a, **k: None)

    volumes_cache: dict[Any, list[Any]] = {}
    rows = []
    for name in models:
        overrides: dict[str, Any] = {"variant": preset, "device": str(dev), "amp": amp, "seed": seed, "val_cases": 1}
        if batch_size is not None:
            overrides["batch_size"] = int(batch_size)
        if patch_size is not None:
            overrides["patch_size"] = tuple(int(p) for p in patch_size)
        if cache_dir is not None:
            overrides["cache_dir"] = str(cache_dir)
        row: dict[str, Any] = {"model": name, "device": str(dev), "amp": policy.name, "iterations": iterations}
        try:
            config = make_config(name, preset="smoke" if preset == "tiny" else "full", data=data, **overrides)
            row.update(
                variant=config.variant,
                patch="x".join(str(p) for p in config.patch_size),
                batch=config.batch_size,
                error="",
            )
            key = (str(data), str(cache_dir), _json_key(config.preprocess))
            if key not in volumes_cache:
                volumes_cache[key] = prepare_volumes(config, dev, progress=False, log=lambda m: None)[0]
            volumes = volumes_cache[key]
            row.update(_measure(name, config, volumes, dev, policy, iterations, warmup, seed))
            say(
                f"{name}: step {row['step_s']:.4f} s, loop {row['loop_s']:.4f} s, data {row['data_s']:.4f} s, "
                f"ratio {row['ratio']:.2f}"
            )
        except (RuntimeError, ValueError) as exc:  # includes torch.cuda.OutOfMemoryError
            row["error"] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:200]}"
            say(f"{name}: failed ({row['error']})")
        finally:
            if dev.type == "cuda":
                torch.cuda.empty_cache()
        rows.append(row)

    frame = pd.DataFrame(rows).reindex(columns=list(SPEED_COLUMNS))
    if out_csv is not None:
        with atomic_path(out_csv) as tmp:
            frame.to_csv(tmp, index=False)
    return frame


def _measure(
    name: str,
    config: Any,
    volumes: list[Any],
    dev: torch.device,
    policy: Any,
    iterations: int,
    warmup: int,
    seed: int,
) -> dict[str, float]:
    """Timings of one model: raw step, whole loop, data alone (see the module docstring)."""
    from amos_tutorial.models import build_model_for_patch, count_parameters
    from amos_tutorial.training.losses import SegmentationLoss
    from amos_tutorial.training.trainer import build_optimizer, seed_everything, train_step
    from amos_tutorial.transforms.sampler import PatchSampler

    seed_everything(seed)
    net = build_model_for_patch(name, config.variant, config.patch_size, config.preprocess.get("spacing")).to(dev)
    net.train()
    optimizer = build_optimizer(net.parameters(), config.optimizer)
    scaler = policy.make_scaler()
    loss_fn = SegmentationLoss(deep_supervision=config.deep_supervision)

    def step(batch: dict[str, torch.Tensor]) -> float:
        # float() synchronises once per step, exactly as the trainer does.
        return float(train_step(net, batch, loss_fn, optimizer, scaler, policy, config.grad_clip))

    gen = torch.Generator().manual_seed(seed)
    shape = (config.batch_size, 1, *config.patch_size)
    fixed = {
        "image": torch.randn(shape, generator=gen).to(dev),
        "label": torch.randint(0, 16, shape, generator=gen).to(dev),
    }
    sampler = PatchSampler(volumes, config.patch_size, config.batch_size, device=dev, seed=seed)
    for k in range(warmup):
        step(fixed)
        step(sampler.batch(k))
    out: dict[str, float] = {"params_M": count_parameters(net) / 1e6}
    _reset_peak(dev)
    out["step_s"] = _time_steps(step, lambda k: fixed, 0, iterations, dev)
    out["step_peak_GiB"] = _peak_gib(dev)
    _reset_peak(dev)
    out["loop_s"] = _time_steps(step, sampler.batch, warmup, iterations, dev)
    out["loop_peak_GiB"] = _peak_gib(dev)
    out["data_s"] = _time_steps(lambda b: None, sampler.batch, warmup + iterations, iterations, dev)
    out["ratio"] = out["step_s"] / out["loop_s"]
    out["step_patches_per_s"] = config.batch_size / out["step_s"]
    out["loop_patches_per_s"] = config.batch_size / out["loop_s"]
    return out


def _json_key(d: dict[str, Any]) -> str:
    # Models with the same preprocessing share the loaded volumes.
    return json.dumps(d, sort_keys=True)


def format_speed_table(frame: pd.DataFrame) -> str:
    """The speed table as aligned text (times in ms per step).

    Introduced in chapter *Training the baselines*; builds on pandas.

    Args:
        frame: The output of :func:`speed_benchmark`.

    Returns:
        A printable table.
    """
    shown = pd.DataFrame(
        {
            "model": frame["model"],
            "variant": frame["variant"],
            "patch": frame["patch"],
            "batch": frame["batch"],
            "params M": frame["params_M"].map(lambda v: f"{v:.2f}" if pd.notna(v) else "-"),
            "step ms": (frame["step_s"] * 1e3).map(lambda v: f"{v:.1f}" if pd.notna(v) else "-"),
            "loop ms": (frame["loop_s"] * 1e3).map(lambda v: f"{v:.1f}" if pd.notna(v) else "-"),
            "data ms": (frame["data_s"] * 1e3).map(lambda v: f"{v:.1f}" if pd.notna(v) else "-"),
            "ratio": frame["ratio"].map(lambda v: f"{v:.2f}" if pd.notna(v) else "-"),
            "patches/s loop": frame["loop_patches_per_s"].map(lambda v: f"{v:.1f}" if pd.notna(v) else "-"),
            "peak GiB": frame["loop_peak_GiB"].map(lambda v: f"{v:.2f}" if pd.notna(v) and not math.isnan(v) else "-"),
            "error": frame["error"].fillna(""),
        }
    )
    header = f"device {frame['device'].iloc[0]} [{frame['amp'].iloc[0]}]" if len(frame) else ""
    return header + "\n" + shown.to_string(index=False)


def add_cli(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the options of ``amos bench speed`` to the ``bench`` command group.

    The handler is set by :func:`amos_tutorial.cli.bench.add_bench_subcommands`, which adds inference
    seconds per case (:func:`amos_tutorial.benchmark.bench.speed_report`) to this table.
    """
    parser = subparsers.add_parser(
        "speed",
        help="whole training loop vs raw step: is the GPU fed?",
        description=(
            "Train each model for a fixed number of steps on synthetic data and report, side by side, "
            "seconds per step of the whole loop (PatchSampler + step) and of the raw step (random "
            "tensors on the device), their ratio, patches/s and peak GPU memory."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--models", default="unet,nnunet", help="comma-separated registry names")
    parser.add_argument("--iterations", type=int, default=20, help="timed steps per phase")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument(
        "--preset", choices=("tiny", "full"), default="tiny", help="tiny variants (CPU) or full recipes (GPU)"
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    parser.add_argument("--amp", choices=("auto", "bf16", "fp16", "off"), default="auto", help="mixed precision")
    parser.add_argument("--batch-size", type=int, help="override the recipe's batch size")
    parser.add_argument("--data", default="synthetic", help="data for the whole loop ('synthetic' or a folder)")
    parser.add_argument("--cache-dir", help="preprocessed cache folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="bench/speed.csv", help="CSV written with the table")
    return parser
