"""Multi-GPU training with ``torchrun`` and DistributedDataParallel.

Introduced in chapter *Training the baselines* (section *Training for real on a GPU*). Builds on
``torch.distributed``. The same ``amos train`` command runs on one device or under::

    torchrun --standalone --nproc_per_node=4 -m amos_tutorial.cli train --model nnunet --data DIR --out RUN

``torchrun`` starts one process per GPU and sets ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``; each
process trains a replica of the model on its own shard of the volumes (the patch sampler's
``rank``/``world_size``), and DDP averages the gradients. The backend is NCCL on CUDA and Gloo on
CPU (which is how CI tests this code without a GPU). Only rank 0 writes files.

Examples:
    >>> info = distributed_env()
    >>> info.world_size >= 1
    True
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["DistInfo", "any_rank", "barrier", "cleanup_distributed", "distributed_env", "init_distributed"]


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands in a (possibly single-process) run.

    Introduced in chapter *Training the baselines*; mirrors ``torch.distributed``'s rank/world size.

    Attributes:
        rank: Global rank (0 on a single process).
        world_size: Number of processes.
        local_rank: Rank on this machine (selects the GPU).
        backend: ``"nccl"``, ``"gloo"`` or None when not distributed.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def enabled(self) -> bool:
        """Whether a process group is running."""
        return self.backend is not None and self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Whether this process writes files and prints progress (rank 0)."""
        return self.rank == 0


def distributed_env() -> DistInfo:
    """Read ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` as set by ``torchrun`` (no process group yet).

    Introduced in chapter *Training the baselines*.

    Returns:
        A :class:`DistInfo` with ``backend=None``.

    Raises:
        ValueError: If the variables are not integers or are inconsistent.
    """
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError as exc:
        raise ValueError(f"RANK/WORLD_SIZE/LOCAL_RANK must be integers ({exc})") from exc
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"inconsistent torchrun environment: RANK={rank}, WORLD_SIZE={world}")
    return DistInfo(rank=rank, world_size=world, local_rank=local)


def init_distributed(device: torch.device) -> tuple[DistInfo, torch.device]:
    """Join the process group when started by ``torchrun`` and pick this process's device.

    Introduced in chapter *Training the baselines*. Builds on ``torch.distributed.init_process_group``.

    Args:
        device: The device asked for (``cuda`` becomes ``cuda:LOCAL_RANK``).

    Returns:
        ``(info, device)``. On a single process: ``DistInfo()`` and ``device`` unchanged.

    Raises:
        ValueError: If there are fewer GPUs than local processes.
    """
    info = distributed_env()
    if info.world_size == 1:
        return info, device
    if device.type == "cuda":
        if info.local_rank >= torch.cuda.device_count():
            raise ValueError(
                f"LOCAL_RANK {info.local_rank} but only {torch.cuda.device_count()} CUDA device(s): "
                "use --nproc_per_node <= number of GPUs"
            )
        device = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        backend = "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistInfo(info.rank, info.world_size, info.local_rank, backend), device


def cleanup_distributed(info: DistInfo) -> None:
    """Leave the process group (no-op on a single process)."""
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    """Wait for every process (no-op on a single process)."""
    if info.enabled:
        dist.barrier()


def any_rank(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """True on every process if ``flag`` is true on at least one.

    Introduced in chapter *Training the baselines*. Used so that all processes stop at the same
    iteration after Ctrl-C (a process that stopped alone would leave the others waiting forever in
    the next gradient all-reduce).
    """
    if not info.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)
