"""Is the GPU fed? Patches per second of the MONAI per-sample chains and of the ``PatchSampler``.

Introduced in chapter *Preprocessing and augmentation*; builds on MONAI's dictionary transforms,
:class:`~amos_tutorial.transforms.sampler.PatchSampler` and :mod:`amos_tutorial.utils.timing`. The
one measurement of the data pipeline: the chapter shows its table, ``amos bench pipeline`` prints it.

Examples:
    >>> from amos_tutorial.benchmark.throughput import pipeline_throughput
    >>> pipeline_throughput(volumes, (32, 32, 32), n_batches=5)   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from amos_tutorial.transforms.chains import augmentation_transforms, tutorial_augmentation_transforms
from amos_tutorial.transforms.sampler import PatchSampler
from amos_tutorial.utils.timing import thread_limit, timed_calls

__all__ = ["pipeline_report", "pipeline_throughput"]


def _monai_volumes(volumes: Sequence[Any]) -> list[dict[str, Any]]:
    from monai.data import MetaTensor

    data = []
    for v in volumes:
        affine = torch.as_tensor(np.asarray(v.meta.get("affine", np.eye(4)), dtype=np.float64))
        # As after LoadImaged + CacheDataset: float MetaTensors, label included.
        data.append({"image": MetaTensor(v.image.float(), affine=affine),
                     "label": MetaTensor(v.label.float(), affine=affine)})
    return data


def pipeline_throughput(
    volumes: Sequence[Any],
    patch_size: Sequence[int],
    batch_size: int = 2,
    n_batches: int = 10,
    device: str | torch.device = "cpu",
    warmup: int = 2,
    threads: int | None = 1,
    seed: int = 0,
) -> pd.DataFrame:
    """Patches per second of three data pipelines on the same cached volumes, measured side by side.

    Introduced in chapter *Preprocessing and augmentation*; builds on MONAI's dictionary transforms and
    :class:`~amos_tutorial.transforms.sampler.PatchSampler`. The pipelines:

    1. *MONAI tutorial chain*: :func:`~amos_tutorial.transforms.chains.tutorial_augmentation_transforms`
       (``RandCropByPosNegLabeld``, flips, 90-degree turns, intensity shift), one volume per step
       giving ``batch_size`` patches, per sample, on the CPU, then stacked and moved to ``device``;
    2. *MONAI organ-weighted chain*: :func:`~amos_tutorial.transforms.chains.augmentation_transforms`
       (``RandCropByLabelClassesd`` and the same augmentation as the sampler, rotation and zoom
       included), per sample, on the CPU;
    3. *PatchSampler*: whole batches, organ-weighted, full augmentation, on ``device``.

    All run in this one process (no ``DataLoader`` workers), so on a CPU the figures are per core;
    workers multiply pipelines 1 and 2 by at most the number of free cores.

    Args:
        volumes: Labelled preprocessed cases (``load_preprocessed``).
        patch_size: Patch ``(x, y, z)``.
        batch_size: Patches per batch.
        n_batches: Timed batches per pipeline.
        device: Where batches must end up (``"cpu"``, ``"cuda"``...).
        warmup: Untimed batches first.
        threads: torch CPU threads during the measurement (restored afterwards); 1 is what each
            ``DataLoader`` worker uses; None keeps the current setting.
        seed: Seed of every pipeline.

    Returns:
        One row per pipeline: ``pipeline``, ``where`` (device of the random transforms),
        ``s_per_batch``, ``patches_per_s`` and ``vs_tutorial`` (throughput relative to pipeline 1).

    Raises:
        ValueError: On a bad ``n_batches``, ``warmup`` or ``threads``.

    Examples:
        >>> pipeline_throughput(volumes, (32, 32, 32), n_batches=5)   # doctest: +SKIP
    """
    if int(n_batches) < 1 or int(warmup) < 0:
        raise ValueError(f"need n_batches >= 1 and warmup >= 0, got {n_batches} and {warmup}")
    if threads is not None and int(threads) < 1:
        raise ValueError(f"threads must be >= 1 or None, got {threads}")
    volumes = list(volumes)
    if not volumes:
        raise ValueError("volumes is empty: pass labelled preprocessed cases")
    device = torch.device(device)
    timing = {"count": int(n_batches), "warmup": int(warmup), "first": int(warmup), "device": device}
    with thread_limit(threads):
        rows = _time_monai_chains(volumes, patch_size, batch_size, device, seed, timing)
        sampler = PatchSampler(volumes, patch_size, batch_size, device=device, seed=seed)
        rows.append(("PatchSampler (whole batch)", str(device), timed_calls(sampler.batch, **timing)))
    frame = pd.DataFrame(rows, columns=["pipeline", "where", "s_per_batch"])
    frame["patches_per_s"] = (batch_size / frame["s_per_batch"]).round(1)
    frame["vs_tutorial"] = (frame["patches_per_s"] / frame["patches_per_s"].iloc[0]).round(2)
    frame["s_per_batch"] = frame["s_per_batch"].round(4)
    frame.attrs.update({"patch_size": tuple(int(p) for p in patch_size), "batch_size": int(batch_size),
                        "threads": torch.get_num_threads() if threads is None else int(threads)})
    return frame


def _time_monai_chains(volumes, patch_size, batch_size, device, seed, timing) -> list[tuple[str, str, float]]:
    """Seconds per batch of the two MONAI per-sample chains, each batch moved to ``device``."""
    data = _monai_volumes(volumes)
    chains = (
        ("MONAI tutorial chain (per sample)", tutorial_augmentation_transforms(patch_size, num_samples=batch_size)),
        ("MONAI organ-weighted chain (per sample)", augmentation_transforms(patch_size, num_samples=batch_size)),
    )
    rows = []
    for name, chain in chains:
        chain.set_random_state(seed)

        def next_batch(k, chain=chain):
            samples = chain(data[k % len(data)])
            image = torch.stack([s["image"].as_tensor() for s in samples]).to(device, non_blocking=True)
            label = torch.stack([s["label"].as_tensor() for s in samples]).to(device, non_blocking=True)
            return image, label

        rows.append((name, "cpu", timed_calls(next_batch, **timing)))
    return rows


def pipeline_report(
    data: str = "synthetic",
    variant: str = "tiny",
    patch_size: Sequence[int] | None = None,
    batch_size: int = 2,
    n_batches: int = 10,
    device: str = "cpu",
    warmup: int = 2,
    threads: int | None = 1,
    seed: int = 0,
    cache_dir: str | None = None,
) -> pd.DataFrame:
    """``amos bench pipeline``: :func:`pipeline_throughput` on the training volumes of a data folder.

    The volumes come from the trainer's preprocessed cache (:func:`~amos_tutorial.training.volumes.prepare_volumes`,
    preprocessing once when it is missing), with the preprocessing of the UNet recipe of ``variant``.

    Args:
        data: ``"synthetic"`` or an AMOS folder.
        variant: ``"tiny"`` (the smoke preset's grid and patch) or ``"full"`` (the recipe's).
        patch_size: Patch (x, y, z); default: the variant's UNet patch.
        batch_size: Patches per batch.
        n_batches: Timed batches per pipeline.
        device: Where batches must end up.
        warmup: Untimed batches first.
        threads: torch CPU threads during the measurement (None: unchanged).
        seed: Seed of every pipeline.
        cache_dir: Preprocessed cache folder (default: the trainer's).

    Returns:
        The table of :func:`pipeline_throughput`.

    Raises:
        ValueError: For a bad variant or the errors of :func:`pipeline_throughput`.
    """
    from amos_tutorial.training.config import make_config
    from amos_tutorial.training.volumes import prepare_volumes

    if variant not in ("tiny", "full"):
        raise ValueError(f"variant must be 'tiny' or 'full', got {variant!r}")
    overrides = {"cache_dir": str(cache_dir)} if cache_dir is not None else {}
    config = make_config("unet", preset="smoke" if variant == "tiny" else "full", data=data, **overrides)
    volumes = prepare_volumes(config, "cpu", progress=False, log=lambda message: None)[0]
    patch = tuple(int(p) for p in patch_size) if patch_size else tuple(config.patch_size)
    return pipeline_throughput(volumes, patch, batch_size, n_batches, device, warmup, threads, seed)
