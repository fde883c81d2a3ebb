"""Resampling axis by axis: orientation to RAS and a new spacing as flips, permutations and 1-D passes.

Introduced in chapter *Preprocessing and augmentation*. Orientation + spacing only ever map voxel indices to voxel
indices by a permutation, a flip and a scale per axis, so trilinear interpolation can be done as three 1-D passes
(``index_select`` + ``lerp``) on the CPU or the GPU, on the grid that ``monai.transforms.Spacing`` chooses.
:mod:`amos_tutorial.transforms.preprocessing` uses these helpers both ways: to the training grid and back to the
original image grid.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from amos_tutorial.utils.geometry import spacing_from_affine

__all__ = [
    "AXIS_TOL",
    "apply_orientation",
    "axis_map",
    "check_affine",
    "ras_orientation",
    "resample_axes",
    "target_grid",
]

#: Tolerance for "this affine maps axes onto axes": the products involved are exact up to float
#: round-off, MONAI's own AFFINE_TOL is 1e-3.
AXIS_TOL = 1e-4


def check_affine(affine: Any, what: str = "affine") -> np.ndarray:
    """``affine`` as a float64 4x4 matrix, checked.

    Args:
        affine: A 4x4 voxel-to-world matrix.
        what: How error messages name it.

    Returns:
        The matrix as a float64 array.

    Raises:
        ValueError: If it is not a finite 4x4 matrix, or is singular.
    """
    aff = np.asarray(affine, dtype=np.float64)
    if aff.shape != (4, 4) or not np.all(np.isfinite(aff)):
        raise ValueError(f"{what} must be a finite 4x4 matrix, got shape {aff.shape}")
    if abs(np.linalg.det(aff[:3, :3])) < 1e-12:
        raise ValueError(f"{what} is singular (zero voxel size or collapsed axes)")
    return aff


def ras_orientation(affine: np.ndarray, shape: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """nibabel orientation transform to RAS and the affine after applying it (as MONAI's Orientation)."""
    import nibabel as nib

    src = nib.orientations.io_orientation(affine)
    ornt = nib.orientations.ornt_transform(src, nib.orientations.axcodes2ornt("RAS"))
    new_affine = affine @ nib.orientations.inv_ornt_aff(ornt, shape)
    return ornt, new_affine


def apply_orientation(vol: torch.Tensor, ornt: np.ndarray) -> torch.Tensor:
    """Flip then permute the spatial axes of a channel-first tensor (MONAI's order of operations)."""
    flips = [i + 1 for i in range(3) if ornt[i, 1] == -1]
    if flips:
        vol = torch.flip(vol, dims=flips)
    perm = [0] + [int(i) + 1 for i in np.argsort(ornt[:, 0])]
    if perm != [0, 1, 2, 3]:
        vol = vol.permute(perm)
    return vol


def target_grid(affine_ras: np.ndarray, shape: Sequence[int], spacing: Sequence[float]) -> tuple[np.ndarray, tuple]:
    """Affine and shape of the resampled grid, chosen exactly as ``monai.transforms.Spacing`` does."""
    from monai.data.utils import AFFINE_TOL, compute_shape_offset, zoom_affine

    orig = np.asarray(spacing_from_affine(affine_ras))
    # Spacing keeps an axis untouched when it already has the target spacing (within AFFINE_TOL).
    out_d = np.array([o if abs(o - t) <= AFFINE_TOL else t for o, t in zip(orig, spacing)], dtype=np.float64)
    new_affine = zoom_affine(affine_ras, out_d, diagonal=False)
    out_shape, offset = compute_shape_offset(shape, affine_ras, new_affine, scale_extent=False)
    new_affine[:3, 3] = offset[:3]
    return new_affine, tuple(int(s) for s in out_shape)


def axis_map(m: np.ndarray) -> list[tuple[int, float, float]]:
    """Split a voxel-to-voxel affine into per-axis maps ``u[p] = a * i[j] + b``.

    Returns, for each output axis ``j``, the input axis ``p``, the scale ``a`` and the offset ``b``.

    Raises:
        ValueError: If the matrix mixes axes (an oblique resampling), which orientation + spacing
            never produce.
    """
    lin = m[:3, :3]
    out = []
    for j in range(3):
        col = lin[:, j]
        p = int(np.argmax(np.abs(col)))
        rest = np.delete(col, p)
        if abs(col[p]) < 1e-12 or np.any(np.abs(rest) > AXIS_TOL * abs(col[p])):
            raise ValueError(
                "the two grids are not axis-aligned (voxel map mixes axes): cannot resample axis by axis"
            )
        out.append((p, float(col[p]), float(m[p, 3])))
    if sorted(p for p, _, _ in out) != [0, 1, 2]:
        raise ValueError("the voxel map is not a permutation of the axes")
    return out


def resample_axes(
    vol: torch.Tensor,
    m: np.ndarray,
    out_shape: Sequence[int],
    mode: str,
    fill: float | None = None,
) -> torch.Tensor:
    """Resample a channel-first volume with a separable voxel map ``m`` (output index -> input index).

    Linear mode is exactly trilinear interpolation done as three 1-D passes; nearest rounds half to
    even like ``grid_sample``. Coordinates are clamped to the volume (``grid_sample``'s border
    padding). With ``fill`` set, output voxels whose centre maps outside ``[-0.5, n - 0.5]`` of an
    input axis get ``fill`` instead (used to put a cropped volume back into a larger grid).
    """
    axes = axis_map(m)
    vol = vol.permute(0, *(p + 1 for p, _, _ in axes))  # output axis j now reads input axis axes[j][0]
    device = vol.device
    outside = []
    # Shrinking axes first keeps the intermediate volumes small.
    order = sorted(range(3), key=lambda j: out_shape[j] / max(vol.shape[j + 1], 1))
    for j in order:
        _, a, b = axes[j]
        n = vol.shape[j + 1]
        coord = torch.arange(out_shape[j], dtype=torch.float64, device=device) * a + b
        if fill is not None:
            outside.append((j, (coord < -0.5) | (coord > n - 0.5)))
        coord = coord.clamp(0.0, n - 1.0)
        view = [1, 1, 1, 1]
        view[j + 1] = -1
        if mode == "nearest":
            vol = vol.index_select(j + 1, torch.round(coord).long())
        else:
            i0 = torch.floor(coord)
            w = (coord - i0).to(vol.dtype).view(view)
            i0 = i0.long()
            i1 = (i0 + 1).clamp(max=n - 1)
            lower = vol.index_select(j + 1, i0)
            vol = lower.lerp_(vol.index_select(j + 1, i1), w)  # in place: the output can be GBs
    if fill is not None:
        mask = torch.zeros(vol.shape[1:], dtype=torch.bool, device=device)
        for j, out_j in outside:
            view = [1, 1, 1]
            view[j] = -1
            mask |= out_j.view(view)
        if bool(mask.any()):
            vol = vol.masked_fill_(mask.unsqueeze(0), fill)  # vol is a fresh tensor from index_select
    return vol.contiguous()
