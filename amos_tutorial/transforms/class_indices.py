"""The class index table: where each organ of a label map lies, for drawing patch centres inside organs.

Introduced in chapter *Preprocessing and augmentation*. :mod:`amos_tutorial.transforms.preprocessing` stores it
with every preprocessed case, and the patch sampler reads it.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["DEFAULT_MAX_INDICES_PER_CLASS", "compute_class_indices"]

#: Voxels kept per class for patch-centre sampling (nnU-Net keeps 10,000): enough to cover an organ,
#: small enough that the index table of a case stays around a megabyte.
DEFAULT_MAX_INDICES_PER_CLASS = 20_000


def compute_class_indices(
    label: torch.Tensor | np.ndarray,
    max_per_class: int | None = DEFAULT_MAX_INDICES_PER_CLASS,
    seed: int = 0,
) -> dict[int, torch.Tensor]:
    """Flat voxel indices of every organ present in a label map, computed in one pass.

    Introduced in chapter *Preprocessing and augmentation*. This is the table that lets the patch sampler draw a
    patch centre inside any organ instantly (MONAI's ``RandCropByLabelClassesd`` recomputes it from
    the whole volume on every crop unless given ``indices_key``). Built on ``torch.nonzero`` and a
    stable sort by class.

    Args:
        label: ``(X, Y, Z)`` or ``(1, X, Y, Z)`` integer label map.
        max_per_class: Keep at most this many voxels per class (a deterministic random subset, sorted);
            None keeps all.
        seed: Seed of that subset.

    Returns:
        ``{class id: int32 CPU tensor of indices into label.reshape(-1)}`` for each non-zero class present.

    Examples:
        >>> lab = torch.zeros(4, 4, 4, dtype=torch.uint8); lab[1, 2, 3] = 7
        >>> compute_class_indices(lab)
        {7: tensor([27], dtype=torch.int32)}
    """
    lab = torch.as_tensor(label)
    if lab.ndim == 4 and lab.shape[0] == 1:
        lab = lab[0]
    if lab.ndim != 3:
        raise ValueError(f"label must be (X, Y, Z) or (1, X, Y, Z), got shape {tuple(lab.shape)}")
    if max_per_class is not None and max_per_class < 1:
        raise ValueError(f"max_per_class must be >= 1 or None, got {max_per_class}")
    if lab.numel() >= 2**31:
        raise ValueError(f"label has {lab.numel()} voxels: too many for int32 indices")
    flat = lab.reshape(-1)
    idx = torch.nonzero(flat).flatten()
    cls = flat[idx].long()
    order = torch.argsort(cls, stable=True)
    idx, cls = idx[order].cpu(), cls[order].cpu()
    counts = torch.bincount(cls)
    gen = torch.Generator().manual_seed(int(seed))
    out: dict[int, torch.Tensor] = {}
    start = 0
    for c, n in enumerate(counts.tolist()):
        if n == 0:
            continue
        part = idx[start : start + n]
        start += n
        if max_per_class is not None and n > max_per_class:
            keep = torch.randperm(n, generator=gen)[:max_per_class].sort().values
            part = part[keep]
        out[c] = part.to(torch.int32)
    return out
