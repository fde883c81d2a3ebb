"""Geometry facts shared by every stage: voxel spacing from an affine, NIfTI names, modality names.

Introduced in chapter *Exploring the data*; builds on numpy and ``nibabel.affines``. One definition of
each, so that data checks, preprocessing, evaluation and figures agree.

Examples:
    >>> spacing_from_affine(np.diag([-0.7, 0.7, 5.0, 1.0]))
    (0.7, 0.7, 5.0)
    >>> nifti_stem("amos_0001.nii.gz"), check_modality("mr")
    ('amos_0001', 'MRI')
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "AFFINE_ATOL",
    "MODALITIES",
    "NIFTI_SUFFIXES",
    "check_modality",
    "check_patch_size",
    "nifti_stem",
    "spacing_from_affine",
]

AFFINE_ATOL = 1e-3
"""Largest difference (mm) allowed between two affines that should be the same grid (MONAI's ``AFFINE_TOL``)."""

MODALITIES = ("CT", "MRI")
"""The two modalities of AMOS, spelled as everywhere in the package."""

NIFTI_SUFFIXES = (".nii.gz", ".nii")
"""File endings of NIfTI files, the longer first."""


def spacing_from_affine(affine: Any) -> tuple[float, ...]:
    """Voxel sizes in mm along the array axes, from a NIfTI affine (builds on ``nibabel.affines``).

    The spacing follows the *array* axes, whatever the orientation: the length of each column of the
    rotation-zoom block.

    Args:
        affine: A 4x4 (or (N+1)x(N+1)) voxel-to-world matrix.

    Returns:
        One positive float per spatial axis.

    Raises:
        ValueError: If the matrix is not square or a voxel size is zero or not finite.

    Examples:
        >>> spacing_from_affine(np.diag([-0.7, 0.7, 5.0, 1.0]))
        (0.7, 0.7, 5.0)
    """
    from nibabel.affines import voxel_sizes

    affine = np.asarray(affine, dtype=np.float64)
    if affine.ndim != 2 or affine.shape[0] != affine.shape[1] or affine.shape[0] < 3:
        raise ValueError(f"affine must be a square (N+1)x(N+1) matrix, got shape {affine.shape}")
    sizes = tuple(float(s) for s in voxel_sizes(affine))
    if not all(math.isfinite(s) and s > 0 for s in sizes):
        raise ValueError(f"affine has a degenerate voxel size {sizes}")
    return sizes


def nifti_stem(name: str) -> str | None:
    """The file name without ``.nii.gz`` / ``.nii`` (any case), or None for a name that is not NIfTI.

    Examples:
        >>> nifti_stem("amos_0001.NII.GZ"), nifti_stem("notes.txt")
        ('amos_0001', None)
    """
    lower = str(name).lower()
    for suffix in NIFTI_SUFFIXES:
        if lower.endswith(suffix):
            return str(name)[: -len(suffix)]
    return None


def check_modality(modality: str) -> str:
    """``"CT"`` or ``"MRI"`` from any case spelling (``"MR"`` counts as MRI).

    Raises:
        ValueError: For any other value.

    Examples:
        >>> check_modality("ct")
        'CT'
    """
    mod = str(modality).upper()
    mod = "MRI" if mod == "MR" else mod
    if mod not in MODALITIES:
        raise ValueError(f"modality must be 'CT' or 'MRI', got {modality!r}")
    return mod


def check_patch_size(patch_size: Any, name: str = "patch_size") -> tuple[int, int, int]:
    """Three positive integers (x, y, z) from any sequence, or a one-line error naming the bad value.

    Raises:
        ValueError: If ``patch_size`` is not three positive integers.

    Examples:
        >>> check_patch_size([96, 96, 64])
        (96, 96, 64)
    """
    try:
        patch = tuple(int(p) for p in patch_size)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be three positive integers (x, y, z), got {patch_size!r}") from None
    if len(patch) != 3 or min(patch) < 1:
        raise ValueError(f"{name} must be three positive integers (x, y, z), got {patch_size!r}")
    return patch  # type: ignore[return-value]
