"""Small layers and checks shared by the plain-PyTorch transformers (CoTr, nnFormer).

Introduced in chapter *Training the baselines*. Both networks downsample by a fixed factor per axis,
so they accept only patches whose every dimension is a multiple of that factor; :func:`check_input`
turns a wrong patch into one clear ``ValueError`` instead of a shape mismatch deep inside the decoder.
Everything here builds on :mod:`torch`.

Examples:
    >>> import torch
    >>> from amos_tutorial.models._blocks import check_input
    >>> check_input(torch.zeros(1, 1, 32, 32, 16), "demo", 1, (16, 16, 8))
    >>> check_input(torch.zeros(1, 1, 33, 32, 16), "demo", 1, (16, 16, 8))
    Traceback (most recent call last):
    ...
    ValueError: demo: patch (33, 32, 16) is not supported: every dimension (x, y, z) must be divisible by (16, 16, 8); the nearest larger supported patch is (48, 32, 16)
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn as nn

__all__ = ["as_3tuple", "round_up_patch", "check_input", "LayerNorm3d", "select_outputs"]


def as_3tuple(value: int | Sequence[int], name: str) -> tuple[int, int, int]:
    """Return ``value`` as an (x, y, z) tuple of positive ints.

    Introduced in chapter *Training the baselines*; plain Python.

    Args:
        value: One int (used for all three axes) or three ints.
        name: Argument name, for the error message.

    Returns:
        The three values.

    Raises:
        ValueError: If ``value`` does not hold one or three positive ints.

    Examples:
        >>> as_3tuple(4, "window")
        (4, 4, 4)
        >>> as_3tuple((2, 2, 1), "stride")
        (2, 2, 1)
    """
    if isinstance(value, int):
        value = (value,) * 3
    values = tuple(value)
    if len(values) != 3 or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values):
        raise ValueError(f"{name} must be a positive int or three positive ints (x, y, z), got {value!r}")
    return values  # type: ignore[return-value]


def round_up_patch(patch: Sequence[int], divisors: Sequence[int]) -> tuple[int, ...]:
    """Smallest patch at least as large as ``patch`` whose dimensions are multiples of ``divisors``.

    Introduced in chapter *Training the baselines*; plain Python.

    Args:
        patch: Spatial size (x, y, z).
        divisors: Required multiple per axis.

    Returns:
        The rounded-up patch.

    Examples:
        >>> round_up_patch((33, 32, 5), (16, 16, 8))
        (48, 32, 8)
    """
    return tuple(max(d, -(-p // d) * d) for p, d in zip(patch, divisors))


def check_input(
    x: torch.Tensor,
    model_name: str,
    in_channels: int,
    divisors: Sequence[int],
    max_patch: Sequence[int] | None = None,
    min_coarse_voxels: int = 1,
) -> None:
    """Check a network input of shape (B, C, X, Y, Z) before the forward pass.

    Introduced in chapter *Training the baselines*; builds on :mod:`torch`.

    Args:
        x: The input batch.
        model_name: Registry name of the model, quoted in the error.
        in_channels: Channels the model was built for.
        divisors: Every spatial dimension must be a multiple of these (x, y, z).
        max_patch: Largest spatial size the model accepts, or None for no limit.
        min_coarse_voxels: Fewest voxels the coarsest feature map (1/``divisors`` of the input)
            may have; instance normalisation, for one, needs 2.

    Raises:
        ValueError: Naming the model, the patch and the rule it breaks.
    """
    if not isinstance(x, torch.Tensor) or x.ndim != 5:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{model_name}: expected a tensor of shape (B, C, X, Y, Z), got {shape}")
    if x.shape[1] != in_channels:
        raise ValueError(f"{model_name}: expected {in_channels} input channel(s), got {x.shape[1]} (input shape {tuple(x.shape)})")
    patch = tuple(int(s) for s in x.shape[2:])
    divisors = tuple(int(d) for d in divisors)
    if any(p % d for p, d in zip(patch, divisors)):
        raise ValueError(
            f"{model_name}: patch {patch} is not supported: every dimension (x, y, z) must be divisible by "
            f"{divisors}; the nearest larger supported patch is {round_up_patch(patch, divisors)}"
        )
    coarse = tuple(p // d for p, d in zip(patch, divisors))
    if math.prod(coarse) < min_coarse_voxels:
        raise ValueError(
            f"{model_name}: patch {patch} is too small: its coarsest feature map would be {coarse} voxel(s) and "
            f"the network needs at least {min_coarse_voxels}; the smallest supported patches are like "
            f"{tuple(d * (2 if i == 2 else 1) for i, d in enumerate(divisors))}"
        )
    if max_patch is not None and any(p > m for p, m in zip(patch, max_patch)):
        raise ValueError(
            f"{model_name}: patch {patch} is larger than {tuple(max_patch)}, the largest patch this network was "
            f"built for; build it with a larger patch_size or predict with a sliding window of at most that size"
        )


class LayerNorm3d(nn.LayerNorm):
    """LayerNorm over the channels of a channels-first (B, C, X, Y, Z) tensor.

    Introduced in chapter *Training the baselines*; a thin wrapper of :class:`torch.nn.LayerNorm`
    (transformers normalise each voxel's feature vector, convolutions keep channels first).

    Examples:
        >>> import torch
        >>> LayerNorm3d(8)(torch.randn(2, 8, 4, 4, 4)).shape
        torch.Size([2, 8, 4, 4, 4])
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return super().forward(x.movedim(1, -1)).movedim(-1, 1)


def select_outputs(outputs: list[torch.Tensor], deep_supervision: bool, training: bool) -> torch.Tensor | list[torch.Tensor]:
    """Return the list of logits (highest resolution first) in deep-supervised training, else the first.

    Introduced in chapter *Training the baselines*; plain Python.

    Args:
        outputs: Logits, highest resolution first.
        deep_supervision: Whether the model was built with deep supervision.
        training: The module's ``training`` flag.
    """
    return list(outputs) if (deep_supervision and training) else outputs[0]
