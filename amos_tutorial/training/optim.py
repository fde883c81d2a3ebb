"""Optimiser and learning-rate schedule of a training run, built from the recipe dicts of a ``TrainConfig``.

Introduced in chapter *Training the baselines*. Builds on ``torch.optim`` and MONAI's ``WarmupCosineSchedule``.

Examples:
    >>> from torch import nn
    >>> opt = build_optimizer(nn.Linear(2, 2).parameters(), {"name": "adamw", "lr": 1e-3})
    >>> build_scheduler(opt, {"name": "poly"}, total_iterations=10).get_last_lr()
    [0.001]
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["PolyLambda", "build_optimizer", "build_scheduler"]


def build_optimizer(params: Any, recipe: dict[str, Any]) -> torch.optim.Optimizer:
    """A torch optimiser from a recipe dict.

    Introduced in chapter *Training the baselines*; builds on ``torch.optim``.

    Args:
        params: Model parameters.
        recipe: ``{"name": "sgd"|"adamw"|"adam", "lr": ..., <keyword arguments of the optimiser>}``.

    Returns:
        The optimiser.

    Raises:
        ValueError: For an unknown name or keyword.

    Examples:
        >>> opt = build_optimizer(nn.Linear(2, 2).parameters(), {"name": "sgd", "lr": 0.01, "momentum": 0.99})
        >>> type(opt).__name__
        'SGD'
    """
    kinds = {"sgd": torch.optim.SGD, "adamw": torch.optim.AdamW, "adam": torch.optim.Adam}
    kwargs = {k: v for k, v in recipe.items() if k != "name"}
    name = str(recipe.get("name", "")).lower()
    if name not in kinds:
        raise ValueError(f"unknown optimizer {recipe.get('name')!r}; choose one of {sorted(kinds)}")
    try:
        return kinds[name](params, **kwargs)
    except TypeError as exc:
        raise ValueError(f"bad optimizer settings {recipe!r}: {exc}") from exc


class PolyLambda:
    """``(1 - step / total) ** power``, nnU-Net's poly decay, as a picklable object.

    Introduced in chapter *Training the baselines*; used with ``torch.optim.lr_scheduler.LambdaLR``.

    A class rather than a lambda so that the scheduler's state dict holds plain numbers (loadable
    with ``weights_only=True``).
    """

    def __init__(self, total: int, power: float = 0.9) -> None:
        self.total = int(total)
        self.power = float(power)

    def __call__(self, step: int) -> float:
        return max(0.0, 1.0 - min(step, self.total) / max(self.total, 1)) ** self.power


def build_scheduler(
    optimizer: torch.optim.Optimizer, recipe: dict[str, Any], total_iterations: int, last_iteration: int = 0
) -> torch.optim.lr_scheduler.LRScheduler:
    """A per-iteration learning-rate schedule from a recipe dict.

    Introduced in chapter *Training the baselines*. ``poly`` builds on ``torch.optim.lr_scheduler.LambdaLR``,
    ``cosine`` on MONAI's ``WarmupCosineSchedule`` (linear warm-up, then cosine decay to 0),
    ``constant`` on ``ConstantLR``. All are closed-form in the step, so a schedule can be rebuilt at
    any position (used when a resumed run is given more iterations).

    Args:
        optimizer: The optimiser.
        recipe: ``{"name": "poly", "power": 0.9}``, ``{"name": "cosine", "warmup_fraction": 0.02}``
            (or ``"warmup_iterations"``) or ``{"name": "constant"}``.
        total_iterations: Length of the run.
        last_iteration: Steps already done (0 for a new run).

    Returns:
        The scheduler; call ``step()`` after every optimiser step.
    """
    from monai.optimizers import WarmupCosineSchedule

    name = str(recipe.get("name", "")).lower()
    if last_iteration > 0:
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
    last = last_iteration - 1 if last_iteration > 0 else -1
    if name == "poly":
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, PolyLambda(total_iterations, float(recipe.get("power", 0.9))), last_epoch=last
        )
    if name == "cosine":
        if "warmup_iterations" in recipe:
            warmup = int(recipe["warmup_iterations"])
        else:
            warmup = round(float(recipe.get("warmup_fraction", 0.0)) * total_iterations)
        return WarmupCosineSchedule(optimizer, warmup_steps=warmup, t_total=total_iterations, last_epoch=last)
    if name == "constant":
        return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0, last_epoch=last)
    raise ValueError(f"unknown schedule {recipe.get('name')!r}; choose poly, cosine or constant")
