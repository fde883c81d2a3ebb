"""The one training-step probe of the benchmarks, and the names of what they measure.

Introduced in chapter *Training the baselines*. Builds on the trainer's own
:func:`~amos_tutorial.training.step.train_step` (loss, mixed precision, gradient scaler and clipping
exactly as in a run), so that ``amos bench speed``, ``amos bench models`` and the benchmark time the same
step. Their tables share one vocabulary (:data:`MEASURES`).

Examples:
    >>> MEASURES["s_per_step"]
    'seconds per training step (forward, loss, backward, optimiser)'
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

__all__ = ["MEASURES", "random_batch", "training_step"]

#: The measurement columns of speed, models and results tables: one name per quantity, whatever the table.
MEASURES: dict[str, str] = {
    "params_M": "trainable parameters, in millions",
    "s_per_step": "seconds per training step (forward, loss, backward, optimiser)",
    "patches_per_s": "patches trained per second",
    "peak_gib": "peak memory of the measured work in GiB (GPU: allocated tensors; CPU: resident set, where measured)",
}


def training_step(
    net: torch.nn.Module,
    optimizer_recipe: dict[str, Any],
    policy: Any,
    deep_supervision: bool = False,
    grad_clip: float | None = None,
) -> Callable[[dict[str, torch.Tensor]], float]:
    """A function ``step(batch) -> loss`` running one training step of ``net`` exactly as the trainer does.

    Introduced in chapter *Training the baselines*. ``float()`` of the loss synchronises once per step, as the
    trainer's loop does, so every timing of it includes the same synchronisation.

    Args:
        net: The network, on its device, in training mode.
        optimizer_recipe: The recipe dict of :func:`~amos_tutorial.training.optim.build_optimizer`.
        policy: The mixed-precision policy (:func:`~amos_tutorial.training.amp.amp_policy`).
        deep_supervision: Train on every output (nnU-Net's weights), as ``TrainConfig.deep_supervision``.
        grad_clip: Gradient-norm clipping (None: none).

    Returns:
        The step function.
    """
    from amos_tutorial.training.losses import SegmentationLoss
    from amos_tutorial.training.optim import build_optimizer
    from amos_tutorial.training.step import train_step

    net.train()
    optimizer = build_optimizer(net.parameters(), optimizer_recipe)
    scaler = policy.make_scaler()
    loss_fn = SegmentationLoss(deep_supervision=deep_supervision)

    def step(batch: dict[str, torch.Tensor]) -> float:
        return float(train_step(net, batch, loss_fn, optimizer, scaler, policy, grad_clip))

    return step


def random_batch(batch: int, patch: Sequence[int], device: torch.device, seed: int = 0) -> dict[str, torch.Tensor]:
    """A batch of random images and labels (16 classes) already on ``device``: the raw step's input.

    Examples:
        >>> b = random_batch(2, (8, 8, 4), torch.device("cpu"))
        >>> tuple(b["image"].shape), int(b["label"].max()) < 16
        ((2, 1, 8, 8, 4), True)
    """
    gen = torch.Generator().manual_seed(seed)
    shape = (batch, 1, *patch)
    return {
        "image": torch.randn(shape, generator=gen).to(device),
        "label": torch.randint(0, 16, shape, generator=gen).to(device),
    }
