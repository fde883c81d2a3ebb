"""Dice + cross-entropy, with nnU-Net's deep-supervision weighting.

Introduced in chapter *Training the baselines*. Builds on MONAI's ``DiceCELoss``, configured like
nnU-Net's loss: soft Dice over the foreground classes computed on the whole batch ("batch Dice"),
plus cross-entropy over all classes, with equal weights.

Deep-supervision models return several outputs in training mode, either as a list (coarse outputs
at their own resolution) or, like MONAI's ``DynUNet``, as one tensor ``(B, S, C, X, Y, Z)`` with all
outputs up-sampled to the patch. :class:`SegmentationLoss` takes all three forms. Output ``i``
(0 = full resolution) gets weight ``1 / 2**i``, normalised to sum to 1 (nnU-Net v1); targets are
down-sampled with nearest neighbour for coarse outputs.

Examples:
    >>> import torch
    >>> loss = SegmentationLoss()
    >>> logits = torch.randn(2, 16, 8, 8, 8)
    >>> target = torch.randint(0, 16, (2, 1, 8, 8, 8))
    >>> bool(loss(logits, target) > 0)
    True
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["LOSSES", "SegmentationLoss", "as_output_list", "cross_entropy", "deep_supervision_weights", "dice", "main_output"]


def as_output_list(output: torch.Tensor | list[torch.Tensor] | tuple[torch.Tensor, ...]) -> list[torch.Tensor]:
    """The outputs of a model as a list, full resolution first.

    Introduced in chapter *Training the baselines*.

    Args:
        output: ``(B, C, *spatial)``; a stacked deep-supervision tensor ``(B, S, C, *spatial)``
            (3-D spatial only: a 6-D tensor); or a list/tuple of ``(B, C, *spatial_i)``.

    Returns:
        A list of ``(B, C, *spatial_i)`` tensors.
    """
    if isinstance(output, (list, tuple)):
        if not output:
            raise ValueError("the model returned an empty list of outputs")
        return list(output)
    if output.ndim == 6:
        return list(torch.unbind(output, dim=1))
    if output.ndim != 5:
        raise ValueError(
            f"expected model output (B, C, X, Y, Z) or (B, S, C, X, Y, Z), got shape {tuple(output.shape)}"
        )
    return [output]


def main_output(output: torch.Tensor | list[torch.Tensor] | tuple[torch.Tensor, ...]) -> torch.Tensor:
    """The full-resolution output ``(B, C, *spatial)`` of any model output form.

    Introduced in chapter *Training the baselines*.
    """
    return as_output_list(output)[0]


def deep_supervision_weights(n: int) -> list[float]:
    """nnU-Net's weights ``1 / 2**i`` for ``n`` outputs, normalised to sum to 1.

    Introduced in chapter *Training the baselines*.

    Examples:
        >>> deep_supervision_weights(3)
        [0.5714285714285714, 0.2857142857142857, 0.14285714285714285]
    """
    if n < 1:
        raise ValueError(f"need at least one output, got {n}")
    raw = [0.5**i for i in range(n)]
    total = sum(raw)
    return [w / total for w in raw]


class SegmentationLoss(nn.Module):
    """Dice + cross-entropy (MONAI ``DiceCELoss``) with optional deep supervision.

    Introduced in chapter *Training the baselines*.

    Args:
        deep_supervision: Use every output of a deep-supervision model; if False only the
            full-resolution output is trained.
        include_background: Include the background in the Dice term (nnU-Net: no).
        batch_dice: Compute Dice over the whole batch rather than per sample (nnU-Net 3d_fullres: yes),
            which is stable when an organ is missing from one patch.
        base: A loss ``(logits (B, C, ...), target (B, 1, ...)) -> scalar`` used instead of Dice + CE (the
            student's ``my_dice_ce``, or cross-entropy alone); deep supervision still weights its outputs.

    Examples:
        >>> loss = SegmentationLoss(deep_supervision=True)
        >>> outs = torch.randn(2, 3, 16, 8, 8, 8)  # DynUNet training output: (B, S, C, X, Y, Z)
        >>> bool(loss(outs, torch.randint(0, 16, (2, 1, 8, 8, 8))) > 0)
        True
    """

    def __init__(
        self,
        deep_supervision: bool = True,
        include_background: bool = False,
        batch_dice: bool = True,
        base: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        super().__init__()
        from monai.losses import DiceCELoss

        self.deep_supervision = deep_supervision
        if base is not None:
            if not callable(base):
                raise ValueError(f"loss must be a function (logits, target) -> scalar tensor, got {type(base).__name__}")
            self.base = base
            return
        self.base = DiceCELoss(
            include_background=include_background,
            to_onehot_y=True,
            softmax=True,
            batch=batch_dice,
            smooth_nr=1e-5,
            smooth_dr=1e-5,
        )

    def forward(self, output: torch.Tensor | list[torch.Tensor], target: torch.Tensor) -> torch.Tensor:
        """Loss of a model output against an integer label map ``(B, 1, X, Y, Z)``.

        Args:
            output: Logits in any form accepted by :func:`as_output_list`.
            target: Class ids, shape ``(B, 1, X, Y, Z)`` (any integer or float dtype).

        Returns:
            A scalar tensor (computed in fp32, also under autocast).
        """
        outputs = as_output_list(output)
        if not self.deep_supervision:
            outputs = outputs[:1]
        if target.ndim != 5 or target.shape[1] != 1:
            raise ValueError(f"target must be (B, 1, X, Y, Z), got shape {tuple(target.shape)}")
        weights = deep_supervision_weights(len(outputs))
        total = torch.zeros((), dtype=torch.float32, device=target.device)
        for w, out in zip(weights, outputs):
            t = target
            if out.shape[2:] != target.shape[2:]:
                # Interpolation needs floats; nearest-exact keeps the class ids intact.
                t = F.interpolate(target.float(), size=out.shape[2:], mode="nearest-exact")
            total = total + w * self.base(out.float(), t)
        return total


def cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy alone over all classes, ``(logits (B, C, ...), target (B, 1, ...)) -> scalar``.

    Introduced in chapter *Training the baselines*, as the loss to compare Dice + cross-entropy with.

    Examples:
        >>> bool(cross_entropy(torch.zeros(1, 3, 2, 2, 2), torch.zeros(1, 1, 2, 2, 2)) > 0)
        True
    """
    return F.cross_entropy(logits, target[:, 0].long())


def dice(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Soft Dice alone over the foreground classes, on the whole batch (nnU-Net's batch Dice, MONAI ``DiceLoss``).

    Introduced in chapter *Training the baselines*.

    Examples:
        >>> 0 <= float(dice(torch.zeros(1, 3, 2, 2, 2), torch.zeros(1, 1, 2, 2, 2))) <= 1
        True
    """
    from monai.losses import DiceLoss

    return DiceLoss(include_background=False, to_onehot_y=True, softmax=True, batch=True,
                    smooth_nr=1e-5, smooth_dr=1e-5)(logits, target)


#: The package's losses by name (``amos train --loss NAME``); None is the default Dice + cross-entropy.
LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None] = {
    "dice_ce": None,
    "dice": dice,
    "ce": cross_entropy,
}
