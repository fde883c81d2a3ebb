"""One training step and the validation of a model on preprocessed volumes.

Introduced in chapter *Training the baselines*. Builds on ``torch.autocast``/``GradScaler`` and MONAI's
``sliding_window_inference``. The trainer calls both; ``amos bench speed`` and ``amos bench models`` time
:func:`train_step` itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import torch
from torch import nn

from amos_tutorial.labels import ORGAN_IDS, label_by_id
from amos_tutorial.training.amp import AmpPolicy
from amos_tutorial.training.losses import main_output

__all__ = ["train_step", "validate"]


def train_step(
    model: nn.Module,
    batch: dict[str, torch.Tensor],
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    policy: AmpPolicy,
    grad_clip: float | None = None,
) -> torch.Tensor:
    """One optimiser step on a batch; returns the (detached) loss tensor.

    Introduced in chapter *Training the baselines*. Builds on ``torch.autocast`` and ``GradScaler``.
    The same function times the raw step in ``amos bench speed``.

    Args:
        model: The network (possibly DDP-wrapped), in training mode.
        batch: ``{"image": (B, 1, X, Y, Z) float, "label": (B, 1, X, Y, Z) integer}`` on the model's device.
        loss_fn: E.g. :class:`~amos_tutorial.training.losses.SegmentationLoss`.
        optimizer: The optimiser.
        scaler: A ``GradScaler`` (disabled unless fp16).
        policy: The mixed-precision policy.
        grad_clip: Clip the gradient norm to this (None: no clipping).

    Returns:
        The loss, detached (a non-finite loss skips the update).
    """
    optimizer.zero_grad(set_to_none=True)
    with policy.autocast():
        output = model(batch["image"])
        loss = loss_fn(output, batch["label"])
    if not torch.isfinite(loss):
        # A NaN/inf step would poison the weights; skip it (the caller counts and stops if it repeats).
        return loss.detach()
    scaler.scale(loss).backward()
    if grad_clip is not None:
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), float(grad_clip))
    scaler.step(optimizer)
    scaler.update()
    return loss.detach()


@torch.no_grad()
def validate(
    model: nn.Module,
    volumes: Sequence[Any],
    patch_size: Sequence[int],
    device: torch.device,
    policy: AmpPolicy,
    sw_batch_size: int = 2,
    overlap: float = 0.5,
) -> pd.DataFrame:
    """Dice per organ and case of a model on preprocessed labelled volumes.

    Introduced in chapter *Training the baselines*. Builds on MONAI's ``sliding_window_inference``
    (windows of the training patch, Gaussian blending) and
    :func:`amos_tutorial.evaluation.metrics.dice` (organ absent from both reference and prediction:
    NaN, skipped in means, as nnU-Net). The Dice is measured on the preprocessed grid, which is
    quick and good for model selection; the final scores of the book are measured on the original
    grid by ``amos evaluate``.

    Args:
        model: The network (its eval mode must return ``(B, C, X, Y, Z)`` logits).
        volumes: ``PreprocessedCase`` s with labels.
        patch_size: Window size (the training patch).
        device: Where the windows are run.
        policy: Mixed-precision policy.
        sw_batch_size: Windows per forward pass.
        overlap: Window overlap.

    Returns:
        One row per case: ``case_id`` and one column per organ (canonical names).
    """
    from monai.inferers import sliding_window_inference

    from amos_tutorial.evaluation.metrics import dice

    was_training = model.training
    model.eval()
    rows = []
    try:
        for vol in volumes:
            if vol.label is None:
                raise ValueError(f"{vol.case_id}: validation needs a label")
            image = vol.image.unsqueeze(0).to(device, torch.float32)
            with policy.autocast():
                logits = sliding_window_inference(
                    image,
                    roi_size=tuple(patch_size),
                    sw_batch_size=sw_batch_size,
                    predictor=model,
                    overlap=overlap,
                    mode="gaussian",
                )
            pred = main_output(logits).argmax(dim=1)[0].to("cpu", torch.uint8).numpy()
            ref = vol.label[0].to("cpu", torch.uint8).numpy()
            row: dict[str, Any] = {"case_id": vol.case_id}
            for organ in ORGAN_IDS:
                row[label_by_id(organ).name] = dice(ref == organ, pred == organ)
            rows.append(row)
    finally:
        model.train(was_training)
    return pd.DataFrame(rows)
