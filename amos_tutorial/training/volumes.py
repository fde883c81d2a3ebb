"""The volumes a run trains and validates on: its cases, preprocessed once into a cache and loaded.

Introduced in chapter *Training the baselines*. Builds on :func:`amos_tutorial.data.splits.run_cases` (which
cases) and the preprocessed cache (:mod:`amos_tutorial.transforms.cache`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch

from amos_tutorial.training.config import TrainConfig
from amos_tutorial.training.distributed import DistInfo, barrier

__all__ = ["PreparedVolumes", "prepare_volumes"]


class PreparedVolumes(NamedTuple):
    """What :func:`prepare_volumes` returns.

    Attributes:
        train: The training volumes.
        val: The validation volumes (none on ranks other than 0).
        cache_dir: The preprocessed cache folder.
        source: Where the validation cases come from (:class:`~amos_tutorial.data.splits.RunCases`).
    """

    train: list[Any]
    val: list[Any]
    cache_dir: Path
    source: str


def _data_cache_dir(config: TrainConfig, root: Path) -> Path:
    if config.cache_dir:
        return Path(config.cache_dir).expanduser()
    from amos_tutorial.transforms.cache import default_cache_dir

    return default_cache_dir(root, config.preprocess)


def prepare_volumes(
    config: TrainConfig,
    device: torch.device | str = "cpu",
    info: DistInfo | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> PreparedVolumes:
    """Read the data folder, preprocess it once into a cache and load the training/validation volumes.

    Introduced in chapter *Training the baselines*. Builds on :func:`amos_tutorial.data.layout.load_amos`,
    :func:`amos_tutorial.transforms.cache.preprocess_dataset` and ``load_preprocessed``.

    Args:
        config: The run's config (``data``, ``preprocess``, ``val_cases``, ``cache_dir``...).
        device: Device used for preprocessing.
        info: Distributed info; only rank 0 preprocesses, the others wait.
        progress: Show progress bars.
        log: Where messages go.

    Returns:
        A :class:`PreparedVolumes`: training and validation volumes, cache folder, validation source.

    Raises:
        ValueError: ``"ROOT: ..."`` when the folder has no labelled training case.
    """
    from amos_tutorial.data.layout import load_amos
    from amos_tutorial.data.splits import run_cases
    from amos_tutorial.transforms.cache import load_preprocessed, preprocess_dataset
    from amos_tutorial.transforms.preprocessing import PreprocessConfig

    info = info or DistInfo()
    dataset = load_amos(config.data, modality_rule=config.modality_rule)
    train_cases, val_cases, val_source, _ = run_cases(dataset, config.task, config.val_cases, config.fold)
    out_dir = _data_cache_dir(config, Path(dataset.root))
    if info.is_main:
        log(
            f"data: {dataset.root} - task {config.task} ({' and '.join(config.modalities)}): {len(train_cases)} "
            f"training cases, {len(val_cases)} validation cases ({val_source}); preprocessed cache: {out_dir}"
        )
        preprocess_dataset(
            _TaskView(dataset, config.modalities),
            out_dir,
            config=PreprocessConfig.from_dict(config.preprocess),
            splits=("training", "validation"),
            device=str(device),
            progress=progress,
        )
    barrier(info)
    # A case that failed to preprocess has no file (and was reported): train on the others.
    ready = {c.case_id for c in (*train_cases, *val_cases) if (out_dir / f"{c.case_id}.pt").is_file()}
    skipped = [c.case_id for c in (*train_cases, *val_cases) if c.case_id not in ready]
    if skipped:
        log(f"skipping {len(skipped)} case(s) that could not be preprocessed: {', '.join(skipped)}")
    wanted_train = [c.case_id for c in train_cases if c.case_id in ready]
    wanted_val = [c.case_id for c in val_cases if c.case_id in ready]
    if not wanted_train:
        raise ValueError(f"{out_dir}: no training case could be preprocessed (see the messages above)")
    from amos_tutorial.transforms.cache import default_memory_budget_gb

    # None: no limit on a large machine, a budget on a small one (free Colab), so that a run never loads more
    # cases than fit in RAM; the cases beyond the budget are memory-mapped.
    budget = config.memory_budget_gb if config.memory_budget_gb is not None else default_memory_budget_gb()
    if info.world_size > 1:
        # The sampler trains each rank on volumes[rank::world_size]: read this rank's shard, map the
        # others from disk (they cost no memory unless touched) so N processes do not hold N copies.
        from amos_tutorial.transforms.cache import load_preprocessed_case

        mine = wanted_train[info.rank :: info.world_size]
        loaded = {v.case_id: v for v in load_preprocessed(out_dir, mine, budget)}
        train_vols = [
            loaded[cid] if cid in loaded else load_preprocessed_case(out_dir / f"{cid}.pt", mmap=True)
            for cid in wanted_train
        ]
    else:
        train_vols = load_preprocessed(out_dir, case_ids=wanted_train, memory_budget_gb=budget)
    val_vols = load_preprocessed(out_dir, case_ids=wanted_val) if info.is_main else []
    return PreparedVolumes(list(train_vols), list(val_vols), out_dir, val_source)


class _TaskView:
    """The dataset seen through a task: ``split(name)`` keeps the cases of its modalities only.

    Task 1 must not even preprocess an MRI case, so the cache is filled through this view.
    """

    def __init__(self, dataset: Any, modalities: Sequence[str]) -> None:
        self.dataset, self.modalities = dataset, tuple(modalities)

    def split(self, name: str) -> list[Any]:
        return [c for c in self.dataset.split(name) if c.modality in self.modalities]
