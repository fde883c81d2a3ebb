"""The sliding window over a whole volume, with flip test-time augmentation, as softmax probabilities.

Introduced in chapter *Evaluating segmentations*. Builds on MONAI's ``sliding_window_inference`` and torch
autocast.

Examples:
    >>> len(flip_combinations())
    8
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import torch

from amos_tutorial.inference.options import check_blend

__all__ = ["flip_combinations", "sliding_window_probabilities"]


def flip_combinations(axes: Sequence[int] = (0, 1, 2)) -> list[tuple[int, ...]]:
    """Every subset of the spatial ``axes`` to mirror for flip test-time augmentation (nnU-Net's mirroring).

    Introduced in chapter *Evaluating segmentations*. Plain Python (``itertools``).

    Args:
        axes: Spatial axes (0, 1, 2 = x, y, z) that may be flipped.

    Returns:
        ``2 ** len(axes)`` tuples of axes, the empty tuple (no flip) first.

    Examples:
        >>> flip_combinations((0, 2))
        [(), (0,), (2,), (0, 2)]
    """
    axes = tuple(int(a) for a in axes)
    if any(a not in (0, 1, 2) for a in axes) or len(set(axes)) != len(axes):
        raise ValueError(f"flip axes must be distinct values among 0, 1, 2, got {axes}")
    return [combo for n in range(len(axes) + 1) for combo in itertools.combinations(axes, n)]


def sliding_window_probabilities(
    model: Callable[[torch.Tensor], Any],
    image: torch.Tensor,
    roi_size: Sequence[int],
    overlap: float = 0.5,
    sw_batch_size: int = 2,
    amp: str = "auto",
    tta_flips: Sequence[Sequence[int]] = ((),),
    blend: str | Callable[..., torch.Tensor] = "gaussian",
) -> torch.Tensor:
    """Class probabilities of a whole volume with MONAI's sliding window, optionally averaged over flips.

    Introduced in chapter *Evaluating segmentations*. Builds on ``monai.inferers.sliding_window_inference``
    (Gaussian blending of overlapping windows) and torch autocast.

    Args:
        model: A network in eval mode taking ``(B, 1, X, Y, Z)``; deep-supervision outputs (lists or
            ``(B, S, C, ...)`` tensors) are reduced to the full-resolution one.
        image: ``(1, 1, X, Y, Z)`` preprocessed image on the model's device.
        roi_size: Window size (the training patch).
        overlap: Fraction of overlap between windows (0-1).
        sw_batch_size: Windows per forward pass.
        amp: ``"auto"`` (bf16 on recent GPUs, fp16 on older ones, fp32 on CPU), ``"bf16"``, ``"fp16"`` or ``"off"``.
        tta_flips: Spatial axes to flip per pass (see :func:`flip_combinations`); probabilities of the
            passes are averaged after flipping back.
        blend: How overlapping windows are averaged: ``"gaussian"`` (centre voxels count more, nnU-Net's
            and the book's default) or ``"constant"`` (a plain mean), both MONAI's; or a function
            ``blend(image, predictor, roi_size, overlap) -> logits`` that does the whole sliding window
            (the student's ``my_sliding_window`` of chapter *Evaluating segmentations*).

    Returns:
        ``(1, C, X, Y, Z)`` float32 softmax probabilities on the image's device.

    Examples:
        >>> net = torch.nn.Conv3d(1, 16, 1).eval()
        >>> probs = sliding_window_probabilities(net, torch.zeros(1, 1, 20, 20, 10), roi_size=(16, 16, 8))
        >>> tuple(probs.shape), round(float(probs.sum(1).mean()), 4)
        ((1, 16, 20, 20, 10), 1.0)
    """
    from monai.inferers import sliding_window_inference

    from amos_tutorial.training.amp import amp_policy
    from amos_tutorial.training.losses import main_output

    if not 0 <= overlap < 1:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    if sw_batch_size < 1:
        raise ValueError(f"sw_batch_size must be >= 1, got {sw_batch_size}")
    if image.ndim != 5 or image.shape[:2] != (1, 1):
        raise ValueError(f"image must be (1, 1, X, Y, Z), got {tuple(image.shape)}")
    check_blend(blend)
    policy = amp_policy(image.device, amp)
    flips = [tuple(int(a) + 2 for a in f) for f in tta_flips] or [()]

    def predictor(window: torch.Tensor) -> torch.Tensor:
        return main_output(model(window))

    total = None
    with torch.no_grad(), policy.autocast():
        for dims in flips:
            x = torch.flip(image, dims) if dims else image
            roi = tuple(int(r) for r in roi_size)
            if callable(blend):
                logits = _blend_padded(blend, x, predictor, roi, overlap)
            else:
                logits = sliding_window_inference(
                    x, roi_size=roi, sw_batch_size=sw_batch_size, predictor=predictor, overlap=overlap, mode=blend
                )
            probs = _softmax_(logits.float())
            if dims:
                probs = torch.flip(probs, dims)
            total = probs if total is None else total.add_(probs)
    return total / len(flips)


def _blend_padded(blend: Callable[..., torch.Tensor], image: torch.Tensor, predictor, roi: tuple[int, ...], overlap: float) -> torch.Tensor:
    """``blend(image, ...)`` on the image padded up to the window where it is smaller, as MONAI's window pads it.

    A sliding-window function may assume that every axis is at least one window long; a resampled case can
    be smaller than the training patch. Zeros are added on both sides (MONAI's ``constant`` padding, half
    before) and the logits are cropped back to the image.
    """
    diffs = [max(r - n, 0) for r, n in zip(roi, image.shape[2:])]
    if not any(diffs):
        return blend(image, predictor, roi, overlap)
    pad = [p for d in reversed(diffs) for p in (d // 2, d - d // 2)]
    logits = blend(torch.nn.functional.pad(image, pad), predictor, roi, overlap)
    crop = tuple(slice(d // 2, d // 2 + n) for d, n in zip(diffs, image.shape[2:]))
    return logits[(..., *crop)]


def _softmax_(logits: torch.Tensor) -> torch.Tensor:
    """Softmax over the channels in place: no second 16-channel volume beside the logits."""
    logits.sub_(logits.amax(dim=1, keepdim=True)).exp_()
    return logits.div_(logits.sum(dim=1, keepdim=True))


#: The blending modes of :func:`sliding_window_probabilities` given by name (MONAI's ``mode``).
