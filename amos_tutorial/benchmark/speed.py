"""``amos bench speed``: is the GPU fed? The whole training loop against the raw step, side by side.

Introduced in chapter *Training the baselines* (section *Where does the time go?*). Builds on the
trainer's own :func:`~amos_tutorial.training.step.train_step` and the ``PatchSampler``.

For each model, on synthetic data and in one run:

* **raw step** (``s_per_step``): forward + Dice/CE loss + backward + optimiser step on random tensors
  already on the device (:func:`~amos_tutorial.benchmark.probe.training_step`, also used by ``amos bench
  models``); the fastest the GPU can train this model;
* **whole loop**: the same step fed by the training data path (``PatchSampler.batch(k)``: organ-weighted
  crops and augmentation of cached, preprocessed volumes);
* **data**: ``PatchSampler.batch(k)`` alone.

``ratio = raw step time / whole loop time``: 1.0 means the GPU never waits for data. Also reported:
patches per second and peak GPU memory (``torch.cuda.max_memory_allocated``; the loop's peak includes
the volumes the sampler keeps on the GPU). Every step synchronises once (reading the loss, as the
trainer does), so both timings include the same synchronisation.

On a CPU with ``variant="tiny"`` it runs in seconds (the tests do that); on a GPU use the full
variants (``variant="full"``) for figures worth quoting. Absolute times hold only on the machine
that measured them; compare ratios measured in the same run.

Examples:
    >>> frame = speed_benchmark(["unet"], iterations=2, variant="tiny", device="cpu", data="synthetic")  # doctest: +SKIP
    >>> frame[["model", "s_per_step", "loop_s_per_step", "ratio"]]  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from amos_tutorial.benchmark.results import error_line
from amos_tutorial.utils.io import atomic_path
from amos_tutorial.utils.options import with_settings
from amos_tutorial.utils.timing import free_gpu_memory, peak_memory_gib, reset_peak_memory, timed_calls

VARIANTS = ("tiny", "full")
"""Model variants ``amos bench speed`` measures: tiny (CPU) or the recipes (GPU)."""

__all__ = [
    "SPEED_COLUMNS", "SPEED_REPORT_COLUMNS", "VARIANTS", "SpeedOptions", "format_speed_report", "speed_benchmark",
    "speed_report",
]  # fmt: skip

#: Columns of the result table / CSV, in order.
SPEED_COLUMNS: tuple[str, ...] = (
    "model",
    "variant",
    "device",
    "amp",
    "patch",
    "batch",
    "params_M",
    "s_per_step",
    "loop_s_per_step",
    "data_s_per_step",
    "ratio",
    "patches_per_s",
    "loop_patches_per_s",
    "peak_gib",
    "loop_peak_gib",
    "iterations",
    "error",
)


@dataclass(frozen=True)
class SpeedOptions:
    """What ``amos bench speed`` runs and how long (the settings of :func:`speed_benchmark` and :func:`speed_report`).

    Introduced in chapter *Training the baselines*.

    Attributes:
        iterations: Timed steps per phase (after ``warmup`` untimed ones).
        variant: ``"tiny"`` (tiny variants, tiny patches: CPU) or ``"full"`` (the recipes: GPU).
        warmup: Untimed steps first (cuDNN autotuning, allocator warm-up).
        batch_size: Override the recipe's batch size.
        patch_size: Override the recipe's patch (x, y, z).
        amp: ``"auto"``, ``"bf16"``, ``"fp16"`` or ``"off"``.
        seed: Seed of weights, random tensors and patches.
        cache_dir: Preprocessed cache folder (default: the trainer's).

    Raises:
        ValueError: For a bad variant or iteration count (one line naming the value).
    """

    iterations: int = 20
    variant: str = "tiny"
    warmup: int = 3
    batch_size: int | None = None
    patch_size: Sequence[int] | None = None
    amp: str = "auto"
    seed: int = 0
    cache_dir: str | os.PathLike | None = None

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be 'tiny' or 'full', got {self.variant!r}")
        if self.iterations < 1 or self.warmup < 0:
            raise ValueError(f"need iterations >= 1 and warmup >= 0, got {self.iterations} and {self.warmup}")


_RETIRED = {"preset": "preset= is now variant= ('tiny' or 'full')"}


def speed_benchmark(
    models: Sequence[str] = ("unet", "nnunet"),
    device: str = "auto",
    data: str | os.PathLike = "synthetic",
    out_csv: str | os.PathLike | None = None,
    progress: bool = True,
    options: SpeedOptions | None = None,
    **settings: Any,
) -> pd.DataFrame:
    """Time the raw training step and the whole training loop of several models, side by side.

    Introduced in chapter *Training the baselines*. Builds on the trainer
    (:func:`~amos_tutorial.training.step.train_step`, the same optimiser, loss and mixed
    precision as ``amos train``) and ``PatchSampler``. A model that fails (out of memory, a patch
    it cannot take) gets a row with its ``error`` and the others still run.

    Args:
        models: Registry names.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
        data: Data for the whole loop: ``"synthetic"`` or a folder.
        out_csv: Also write the table here (atomically).
        progress: Print one line per model as it is measured.
        options: A :class:`SpeedOptions` (iterations, variant, warmup, batch and patch size, amp, seed, cache).
        **settings: Fields of :class:`SpeedOptions` as keywords (``iterations=2``); they override ``options``.

    Returns:
        One row per model with the columns :data:`SPEED_COLUMNS` (times in seconds per step).

    Raises:
        ValueError: For a bad variant, iteration count or unknown model.

    Examples:
        >>> speed_benchmark(["unet"], iterations=2, variant="tiny", device="cpu")  # doctest: +SKIP
    """
    from amos_tutorial.training.amp import amp_policy, resolve_device

    o = with_settings(SpeedOptions, options, settings, _RETIRED)
    iterations, warmup, seed, amp = o.iterations, o.warmup, o.seed, o.amp
    models = _check_models(models)
    dev = resolve_device(device)
    policy = amp_policy(dev, amp)
    say = print if progress else (lambda *a, **k: None)
    overrides: dict[str, Any] = {"variant": o.variant, "device": str(dev), "amp": amp, "seed": seed, "val_cases": 1}
    if o.batch_size is not None:
        overrides["batch_size"] = int(o.batch_size)
    if o.patch_size is not None:
        overrides["patch_size"] = tuple(int(p) for p in o.patch_size)
    if o.cache_dir is not None:
        overrides["cache_dir"] = str(o.cache_dir)
    volumes_cache: dict[Any, list[Any]] = {}
    rows = []
    for name in models:
        row: dict[str, Any] = {"model": name, "device": str(dev), "amp": policy.name, "iterations": iterations}
        try:
            row.update(_speed_row(name, data, overrides, volumes_cache, dev, policy, iterations, warmup, seed))
            say(
                f"{name}: step {row['s_per_step']:.4f} s, loop {row['loop_s_per_step']:.4f} s, "
                f"data {row['data_s_per_step']:.4f} s, ratio {row['ratio']:.2f}"
            )
        except (RuntimeError, ValueError) as exc:  # includes torch.cuda.OutOfMemoryError
            row["error"] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:200]}"
            say(f"{name}: failed ({row['error']})")
        finally:
            free_gpu_memory()
        rows.append(row)
    frame = pd.DataFrame(rows).reindex(columns=list(SPEED_COLUMNS))
    if out_csv is not None:
        with atomic_path(out_csv) as tmp:
            frame.to_csv(tmp, index=False)
    return frame


def _check_models(models: Sequence[str]) -> list[str]:
    from amos_tutorial.models import get_model_spec

    models = [m.strip() for m in models if m.strip()]
    if not models:
        raise ValueError("no model given")
    for name in models:
        try:
            get_model_spec(name)
        except KeyError as exc:
            raise ValueError(str(exc).strip("\"'")) from None
    return models


def _speed_row(name, data, overrides, volumes_cache, dev, policy, iterations, warmup, seed) -> dict[str, Any]:
    """Config, patch and timings of one model; volumes are shared by models with the same preprocessing."""
    from amos_tutorial.training.config import make_config
    from amos_tutorial.training.volumes import prepare_volumes

    variant = overrides["variant"]
    config = make_config(name, preset="smoke" if variant == "tiny" else "full", data=data, **overrides)
    row: dict[str, Any] = {
        "variant": config.variant, "patch": "x".join(str(p) for p in config.patch_size),
        "batch": config.batch_size, "error": "",
    }  # fmt: skip
    key = (str(data), str(overrides.get("cache_dir")), _json_key(config.preprocess))
    if key not in volumes_cache:
        volumes_cache[key] = prepare_volumes(config, dev, progress=False, log=lambda m: None)[0]
    row.update(_measure(name, config, volumes_cache[key], dev, policy, iterations, warmup, seed))
    return row


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
    from amos_tutorial.benchmark.probe import random_batch, training_step
    from amos_tutorial.models import build_model_for_patch, count_parameters
    from amos_tutorial.training.trainer import seed_everything
    from amos_tutorial.transforms.sampler import PatchSampler

    seed_everything(seed)
    net = build_model_for_patch(name, config.variant, config.patch_size, config.preprocess.get("spacing")).to(dev)
    step = training_step(net, config.optimizer, policy, config.deep_supervision, config.grad_clip)
    fixed = random_batch(config.batch_size, config.patch_size, dev, seed)
    sampler = PatchSampler(volumes, config.patch_size, config.batch_size, device=dev, seed=seed)
    for k in range(warmup):
        step(fixed)
        step(sampler.batch(k))
    out: dict[str, float] = {"params_M": count_parameters(net) / 1e6}
    reset_peak_memory(dev)
    out["s_per_step"] = timed_calls(lambda k: step(fixed), iterations, device=dev)
    out["peak_gib"] = peak_memory_gib(dev)
    reset_peak_memory(dev)
    out["loop_s_per_step"] = timed_calls(lambda k: step(sampler.batch(k)), iterations, first=warmup, device=dev)
    out["loop_peak_gib"] = peak_memory_gib(dev)
    out["data_s_per_step"] = timed_calls(sampler.batch, iterations, first=warmup + iterations, device=dev)
    out["ratio"] = out["s_per_step"] / out["loop_s_per_step"]
    out["patches_per_s"] = config.batch_size / out["s_per_step"]
    out["loop_patches_per_s"] = config.batch_size / out["loop_s_per_step"]
    return out


def _json_key(d: dict[str, Any]) -> str:
    # Models with the same preprocessing share the loaded volumes.
    return json.dumps(d, sort_keys=True)
#: Columns of :func:`speed_report`: those of the speed check with inference before ``error``.
SPEED_REPORT_COLUMNS: tuple[str, ...] = (*SPEED_COLUMNS[:-1], "inference_s_per_case", "inference_cases", "error")


def _inference_seconds(
    name: str, variant: str, data: str, device: str, amp: str, seed: int, cases: int
) -> tuple[float, int]:
    """Mean seconds per case of :func:`~amos_tutorial.inference.predict_case` with freshly initialised weights."""
    import torch

    from amos_tutorial.data.layout import load_amos
    from amos_tutorial.inference import predict_case
    from amos_tutorial.models import build_model_for_patch
    from amos_tutorial.training.amp import resolve_device
    from amos_tutorial.training.config import make_config
    from amos_tutorial.training.trainer import seed_everything

    dev = resolve_device(device)
    config = make_config(name, preset="smoke" if variant == "tiny" else "full", data=data, device=str(dev), amp=amp)
    seed_everything(seed)
    net = build_model_for_patch(name, config.variant, config.patch_size, config.preprocess.get("spacing"))
    net = net.to(dev).eval()
    dataset = load_amos(data)
    order = {"validation": 0, "test": 1, "training": 2}
    images = sorted(dataset.cases, key=lambda c: (order.get(c.split, 3), c.number))[:cases]
    if not images:
        raise ValueError(f"{dataset.root}: no image to time the inference on")
    with torch.inference_mode():
        if dev.type == "cuda":  # cuDNN picks its kernels on the first call: do not time it
            predict_case(net, images[0].image, config, dev, modality=images[0].modality)
        times = [sum(predict_case(net, c.image, config, dev, modality=c.modality).timings.values()) for c in images]
    return float(np.mean(times)), len(times)


def speed_report(
    models: Sequence[str] | str = ("unet", "nnunet"),
    device: str = "auto",
    data: str | os.PathLike = "synthetic",
    inference_cases: int = 1,
    out_csv: str | os.PathLike | None = None,
    progress: bool = True,
    options: SpeedOptions | None = None,
    **settings: Any,
) -> pd.DataFrame:
    """``amos bench speed``: raw step vs whole training loop, side by side, plus inference seconds per case.

    Introduced in chapter *Benchmarking the baselines*. Builds on
    :func:`amos_tutorial.benchmark.speed.speed_benchmark` (``ratio = raw step time / whole loop time``,
    1.0 = the GPU never waits for data) and :func:`amos_tutorial.inference.predict_case` (load,
    preprocessing, sliding window, inversion to the original grid, argmax; freshly initialised
    weights cost the same time as trained ones).

    Args:
        models: Registry names (list or comma-separated).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
        data: ``"synthetic"`` or an AMOS folder.
        inference_cases: Images predicted to time the inference (validation split first); 0 skips it.
        out_csv: Also write the table here (atomically).
        progress: Print one line per model.
        options: A :class:`SpeedOptions`.
        **settings: Fields of :class:`SpeedOptions` as keywords; they override ``options``.

    Returns:
        One row per model: the columns of ``speed_benchmark`` plus ``inference_s_per_case`` and ``inference_cases``.

    Raises:
        ValueError: For a bad variant, iteration count, case count or unknown model.

    Examples:
        >>> frame = speed_report(["unet"], iterations=2, warmup=1, device="cpu")  # doctest: +SKIP
        >>> print(format_speed_report(frame))                                       # doctest: +SKIP
    """
    o = with_settings(SpeedOptions, options, settings, _RETIRED)
    variant, amp, seed = o.variant, o.amp, o.seed
    if inference_cases < 0:
        raise ValueError(f"inference_cases must be >= 0, got {inference_cases}")
    names = models.split(",") if isinstance(models, str) else list(models)
    frame = speed_benchmark(names, device=device, data=data, progress=progress, options=o)
    frame["inference_s_per_case"] = np.nan
    frame["inference_cases"] = 0
    if inference_cases:
        data_root = str(data)
        for i, row in frame.iterrows():
            if row["error"]:
                continue
            try:
                seconds, count = _inference_seconds(
                    row["model"], variant, data_root, device, amp, seed, inference_cases
                )
                frame.loc[i, ["inference_s_per_case", "inference_cases"]] = [seconds, count]
                if progress:
                    print(f"{row['model']}: inference {seconds:.2f} s per case ({count} case(s))")
            except (RuntimeError, ValueError, FileNotFoundError) as exc:
                frame.loc[i, "error"] = f"inference: {error_line(exc)}"
            finally:
                free_gpu_memory()
    frame = frame.reindex(columns=list(SPEED_REPORT_COLUMNS))
    if out_csv is not None:
        with atomic_path(out_csv) as tmp:
            frame.to_csv(tmp, index=False)
    return frame


def format_speed_report(frame: pd.DataFrame) -> str:
    """The speed table as aligned text: raw step and whole loop side by side, the ratio, inference.

    Introduced in chapter *Benchmarking the baselines*; builds on pandas.

    Args:
        frame: The output of :func:`speed_report`.

    Returns:
        A printable table (times in ms per step, patches per second, seconds per case).

    Raises:
        ValueError: If ``frame`` lacks the columns of :func:`speed_report`.
    """
    needed = ("model", "s_per_step", "loop_s_per_step", "ratio", "inference_s_per_case")
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(f"speed table lacks the columns {missing}; expected the output of speed_report")

    def fmt(values: pd.Series, spec: str, scale: float = 1.0) -> pd.Series:
        return values.map(lambda v: format(v * scale, spec) if pd.notna(v) else "-")

    shown = pd.DataFrame(
        {
            "model": frame["model"],
            "variant": frame["variant"].fillna("-"),
            "patch": frame["patch"].fillna("-"),
            "batch": frame["batch"].map(lambda v: f"{int(v)}" if pd.notna(v) else "-"),
            "raw step ms": fmt(frame["s_per_step"], ".1f", 1e3),
            "whole loop ms": fmt(frame["loop_s_per_step"], ".1f", 1e3),
            "ratio": fmt(frame["ratio"], ".2f"),
            "raw patches/s": fmt(frame["patches_per_s"], ".1f"),
            "loop patches/s": fmt(frame["loop_patches_per_s"], ".1f"),
            "inference s/case": fmt(frame["inference_s_per_case"], ".2f"),
            "error": frame["error"].fillna(""),
        }
    )
    if not shown["error"].astype(bool).any():
        shown = shown.drop(columns="error")
    header = f"device {frame['device'].iloc[0]} [{frame['amp'].iloc[0]}]" if len(frame) else ""
    return header + "\n" + shown.to_string(index=False)
