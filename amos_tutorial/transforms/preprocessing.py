"""Fast preprocessing in plain torch: the ONE definition used by the training cache and by prediction.

Introduced in chapter *Preprocessing and augmentation*. The steps are those of the MONAI chain
(:func:`amos_tutorial.transforms.chains.preprocessing_transforms`) and give the same arrays:

1. orientation to RAS (a flip and a permutation of the array axes, as ``monai.transforms.Orientation``);
2. resampling to the target spacing (1.5 x 1.5 x 2.0 mm by default) on the grid that
   ``monai.transforms.Spacing`` chooses (computed with MONAI's own ``zoom_affine`` and
   ``compute_shape_offset``): linear for the image, nearest neighbour for the label, border padding;
3. intensity: CT windowed from -175..250 HU to 0..1; MRI clipped to its 0.5 / 99.5 percentiles, then
   z-scored per volume;
4. crop to the foreground bounding box (CT: voxels above the window's lower bound; MRI: voxels whose
   3 x 3 x 3 neighbourhood mean lies above a tenth of the way from the darkest to the brightest
   neighbourhood, see :func:`mri_foreground`, so that the noisy air around the body is cropped).

Why not simply run the MONAI chain? MONAI resamples with ``grid_sample`` on a full 3-D grid of
coordinates. Orientation + spacing only ever maps voxel indices to voxel indices by a permutation, a
flip and a scale per axis, so the same trilinear interpolation can be done as three 1-D passes
(``index_select`` + ``lerp``): fewer operations, no coordinate grid in memory, and the same code runs
on the CPU or the GPU. :func:`invert_to_original` uses the same trick to bring a prediction back to
the original image grid on the GPU.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from amos_tutorial.labels import NUM_CLASSES
from amos_tutorial.transforms.class_indices import DEFAULT_MAX_INDICES_PER_CLASS, compute_class_indices
from amos_tutorial.transforms.resample import (
    apply_orientation,
    check_affine,
    ras_orientation,
    resample_axes,
    target_grid,
)
from amos_tutorial.utils.geometry import AFFINE_ATOL, MODALITIES, check_modality, spacing_from_affine

__all__ = [
    "MODALITIES",
    "PreprocessConfig",
    "PreprocessedCase",
    "preprocess_case",
    "preprocess_array",
    "invert_to_original",
    "resample_and_crop",
    "compute_class_indices",
    "foreground_mask",
    "mri_foreground",
    "MRI_FOREGROUND_FRACTION",
    "DEFAULT_MAX_INDICES_PER_CLASS",
]

#: MRI foreground: the smoothed image above this fraction of its range (darkest to brightest neighbourhood).
#: Air noise in a z-scored MRI stays within a few percent of the range once averaged over 27 voxels, and
#: every tissue of the body lies well above a tenth of it (the dark ones, bowel gas and the lung bases,
#: sit inside the body's box anyway).
MRI_FOREGROUND_FRACTION = 0.1
_MAX_BAD_VALUES_SHOWN = 10


def _pair(value: Any, name: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be two numbers (low, high), got {value!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
        raise ValueError(f"{name} must be two finite numbers with low < high, got {value!r}")
    return lo, hi


@dataclass(frozen=True)
class PreprocessConfig:
    """Settings of the preprocessing, shared by the fast path and the MONAI chain.

    Introduced in chapter *Preprocessing and augmentation*. Saved with every cache and training run (``to_dict``) so
    that prediction preprocesses exactly like training did.

    Attributes:
        spacing: Target voxel size in mm along the RAS axes (x, y, z). Default 1.5 x 1.5 x 2.0.
        ct_window: HU range mapped linearly to 0..1 (values outside are clipped). Default -175..250.
        mri_percentiles: Percentiles at which MRI intensities are clipped before the per-volume
            z-score. Default 0.5 / 99.5.
        crop_foreground: Crop to the bounding box of the body (the foreground), like MONAI's
            ``CropForegroundd``.

    Examples:
        >>> cfg = PreprocessConfig(spacing=(2.0, 2.0, 3.0))
        >>> PreprocessConfig.from_dict(cfg.to_dict()) == cfg
        True
    """

    spacing: tuple[float, float, float] = (1.5, 1.5, 2.0)
    ct_window: tuple[float, float] = (-175.0, 250.0)
    mri_percentiles: tuple[float, float] = (0.5, 99.5)
    crop_foreground: bool = True

    def __post_init__(self) -> None:
        try:
            spacing = tuple(float(s) for s in self.spacing)
        except (TypeError, ValueError):
            raise ValueError(f"spacing must be three numbers in mm, got {self.spacing!r}") from None
        if len(spacing) != 3 or not all(math.isfinite(s) and s > 0 for s in spacing):
            raise ValueError(f"spacing must be three positive numbers in mm (x, y, z), got {self.spacing!r}")
        window = _pair(self.ct_window, "ct_window")
        pct = _pair(self.mri_percentiles, "mri_percentiles")
        if not (0.0 <= pct[0] and pct[1] <= 100.0):
            raise ValueError(f"mri_percentiles must lie in 0..100, got {self.mri_percentiles!r}")
        # Frozen dataclass: normalise lists (e.g. from JSON) to tuples of floats so equality works.
        object.__setattr__(self, "spacing", spacing)
        object.__setattr__(self, "ct_window", window)
        object.__setattr__(self, "mri_percentiles", pct)
        object.__setattr__(self, "crop_foreground", bool(self.crop_foreground))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (lists instead of tuples).

        Examples:
            >>> PreprocessConfig().to_dict()["spacing"]
            [1.5, 1.5, 2.0]
        """
        return {
            "spacing": list(self.spacing),
            "ct_window": list(self.ct_window),
            "mri_percentiles": list(self.mri_percentiles),
            "crop_foreground": self.crop_foreground,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "PreprocessConfig":
        """Build a config from :meth:`to_dict` output; missing keys take their defaults.

        Raises:
            ValueError: On unknown keys (a typo would otherwise be silently ignored).
        """
        if not isinstance(d, Mapping):
            raise ValueError(f"PreprocessConfig.from_dict expects a mapping, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown PreprocessConfig keys {unknown}; known keys are {sorted(known)}")
        return cls(**dict(d))


@dataclass
class PreprocessedCase:
    """One case on the preprocessed grid.

    Introduced in chapter *Preprocessing and augmentation*. Built by :func:`preprocess_case`, stored one file per case
    by :func:`amos_tutorial.transforms.cache.preprocess_dataset`.

    Attributes:
        case_id: ``"amos_0001"``.
        modality: ``"CT"`` or ``"MRI"``.
        image: ``(1, X, Y, Z)`` float32, RAS orientation, target spacing, normalised.
        label: ``(1, X, Y, Z)`` uint8 or None (test cases).
        meta: What inversion needs, plain python types only (so ``torch.load(weights_only=True)``
            reads it): ``original_shape``, ``original_affine``, ``affine`` (of the preprocessed grid),
            ``resampled_shape``, ``crop_box`` (``[[x0, x1], [y0, y1], [z0, z1]]`` in the resampled grid),
            ``spacing``, ``original_spacing``, ``modality``, ``config`` and ``source`` (the image path).
        class_indices: ``{class id: int32 tensor of flat voxel indices}`` of the organs present
            (subsampled to at most ``DEFAULT_MAX_INDICES_PER_CLASS`` each), computed once here so that
            the patch sampler never scans a volume for organ voxels again. None without a label.
    """

    case_id: str
    modality: str
    image: torch.Tensor
    label: torch.Tensor | None
    meta: dict
    class_indices: dict[int, torch.Tensor] | None = field(default=None)

    @property
    def shape(self) -> tuple[int, int, int]:
        """Spatial shape ``(X, Y, Z)`` of the preprocessed volume."""
        return tuple(int(s) for s in self.image.shape[1:])  # type: ignore[return-value]

    def nbytes(self) -> int:
        """Bytes held by the image, the label and the class index table."""
        total = self.image.numel() * self.image.element_size()
        if self.label is not None:
            total += self.label.numel() * self.label.element_size()
        for t in (self.class_indices or {}).values():
            total += t.numel() * t.element_size()
        return total

    def to(self, device: str | torch.device) -> "PreprocessedCase":
        """Copy of the case with image and label on ``device`` (the index table stays on the CPU)."""
        return PreprocessedCase(
            self.case_id,
            self.modality,
            self.image.to(device),
            None if self.label is None else self.label.to(device),
            self.meta,
            self.class_indices,
        )


# ----------------------------------------------------------------------------------------------
# label checks and intensity helpers


def _bad_label_values(label: np.ndarray | torch.Tensor) -> list[int | float]:
    """Up to 10 distinct label values outside ``0..NUM_CLASSES-1`` (after rounding, as preprocessing does), sorted."""
    arr = label.cpu().numpy() if isinstance(label, torch.Tensor) else np.asarray(label)
    if arr.size == 0:
        return []
    if np.issubdtype(arr.dtype, np.inexact):
        arr = np.round(arr)
        wrong = ~np.isfinite(arr) | (arr < 0) | (arr >= NUM_CLASSES)
    else:
        if int(arr.min()) >= 0 and int(arr.max()) < NUM_CLASSES:  # the common case: no scan of a mask
            return []
        wrong = (arr < 0) | (arr >= NUM_CLASSES)
    values = np.unique(arr[wrong])[:_MAX_BAD_VALUES_SHOWN].tolist()
    return [int(v) if float(v).is_integer() else float(v) for v in values]


def _percentile(x: torch.Tensor, q: float) -> float:
    """``np.percentile(x, q)`` (linear method) with ``kthvalue``, which has no size limit unlike ``quantile``."""
    flat = x.reshape(-1)
    n = flat.numel()
    pos = q / 100.0 * (n - 1)
    lo, hi = int(math.floor(pos)), int(math.ceil(pos))
    v_lo = float(torch.kthvalue(flat, lo + 1).values)
    v_hi = v_lo if hi == lo else float(torch.kthvalue(flat, hi + 1).values)
    return v_lo + (v_hi - v_lo) * (pos - lo)


def mri_foreground(image: torch.Tensor, fraction: float = MRI_FOREGROUND_FRACTION) -> torch.Tensor:
    """The body of a normalised MRI: voxels whose 3 x 3 x 3 mean is above ``fraction`` of the range.

    Introduced in chapter *CT and MRI: the two tasks*. An MRI has no fixed intensity for air (no
    Hounsfield units), and the air around the body is noise: after the percentile clip only a few voxels
    sit exactly at the minimum, so "above the minimum" keeps almost all the air. Averaging each voxel with
    its 26 neighbours (``torch.nn.functional.avg_pool3d``, edges averaged over the voxels inside) divides
    the noise by about five; the threshold then lies ``fraction`` of the way from the darkest to the
    brightest smoothed voxel. A module-level function, so MONAI's ``CropForegroundd`` can use it as
    ``select_fn`` (and pickle it into DataLoader workers): both preprocessing paths crop with this rule.

    Args:
        image: A normalised image, ``(X, Y, Z)`` or channel-first ``(C, X, Y, Z)`` (each channel on its own).
        fraction: Position of the threshold in the smoothed range, in (0, 1).

    Returns:
        A boolean tensor of the image's shape.

    Examples:
        >>> img = torch.zeros(8, 8, 8); img[2:6, 2:6, 2:6] = 5.0
        >>> int(mri_foreground(img).sum()) >= 64
        True
    """
    if not 0.0 < float(fraction) < 1.0:
        raise ValueError(f"fraction must lie in (0, 1), got {fraction!r}")
    x = torch.as_tensor(image)
    if x.ndim not in (3, 4):
        raise ValueError(f"image must be (X, Y, Z) or (C, X, Y, Z), got shape {tuple(x.shape)}")
    vol = (x[None] if x.ndim == 3 else x).float()[:, None]  # (C, 1, X, Y, Z)
    smooth = torch.nn.functional.avg_pool3d(vol, 3, stride=1, padding=1, count_include_pad=False)[:, 0]
    flat = smooth.reshape(smooth.shape[0], -1)
    lo, hi = flat.min(dim=1).values, flat.max(dim=1).values
    threshold = (lo + float(fraction) * (hi - lo)).view(-1, 1, 1, 1)
    mask = smooth > threshold
    return mask[0] if x.ndim == 3 else mask


def foreground_mask(image: torch.Tensor, modality: str) -> torch.Tensor:
    """The voxels that define the foreground crop of a normalised image.

    Introduced in chapter *Preprocessing and augmentation*. CT: voxels above the window's lower bound (``x > 0``, the
    default ``select_fn`` of MONAI's ``CropForegroundd``). MRI: the smoothed threshold of
    :func:`mri_foreground` (the noise in the air around an MRI body would keep all of it otherwise).

    Args:
        image: A normalised image, ``(X, Y, Z)`` (or channel-first for MRI).
        modality: ``"CT"`` or ``"MRI"``.

    Returns:
        A boolean tensor of the same shape.

    Examples:
        >>> foreground_mask(torch.tensor([0.0, 0.2, 1.0]), "CT").tolist()
        [False, True, True]
    """
    if check_modality(modality) == "CT":
        return image > 0
    return mri_foreground(image)


def _bounding_box(mask: torch.Tensor) -> list[list[int]] | None:
    """``[[start, end), ...]`` of the True voxels of a 3-D mask (MONAI's ``generate_spatial_bounding_box``)."""
    box = []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        hits = torch.nonzero(mask.any(dim=other[1]).any(dim=other[0])).flatten()
        if hits.numel() == 0:
            return None
        box.append([int(hits[0]), int(hits[-1]) + 1])
    return box


# ----------------------------------------------------------------------------------------------
# the pipeline


def _normalise(image: torch.Tensor, modality: str, config: PreprocessConfig) -> torch.Tensor:
    if modality == "CT":
        lo, hi = config.ct_window
        # Same arithmetic as MONAI's ScaleIntensityRange(a_min, a_max, 0, 1, clip=True).
        return ((image - lo) / (hi - lo)).clamp_(0.0, 1.0)
    lo_q, hi_q = config.mri_percentiles
    lo, hi = _percentile(image, lo_q), _percentile(image, hi_q)
    image = image.clamp(lo, hi)
    mean = image.mean()
    std = image.std(unbiased=False)
    if float(std) == 0.0:  # a constant volume: MONAI's NormalizeIntensity divides by 1 then
        std = torch.ones_like(std)
    return (image - mean) / std


def preprocess_array(
    image: np.ndarray | torch.Tensor,
    affine: np.ndarray,
    modality: str,
    config: PreprocessConfig | None = None,
    label: np.ndarray | torch.Tensor | None = None,
    device: str | torch.device = "cpu",
    case_id: str = "",
    max_indices_per_class: int | None = DEFAULT_MAX_INDICES_PER_CLASS,
) -> PreprocessedCase:
    """Preprocess an in-memory volume: RAS, target spacing, intensity normalisation, foreground crop.

    Introduced in chapter *Preprocessing and augmentation*. Plain torch (``index_select``, ``lerp``, ``kthvalue``) on
    ``device``; the grid geometry comes from MONAI (``zoom_affine``, ``compute_shape_offset``) and
    nibabel (orientation), so the result matches
    :func:`amos_tutorial.transforms.chains.preprocessing_transforms`.

    Args:
        image: ``(X, Y, Z)`` array in the voxel order of ``affine`` (as nibabel loads it).
        affine: 4x4 voxel-to-world (RAS mm) matrix of the image.
        modality: ``"CT"`` (HU) or ``"MRI"``.
        config: Preprocessing settings (default :class:`PreprocessConfig`).
        label: Optional ``(X, Y, Z)`` integer label map on the image's grid.
        device: Where to compute (``"cpu"``, ``"cuda"``...); results stay on that device.
        case_id: Name used in error messages and stored in the result.
        max_indices_per_class: Passed to :func:`compute_class_indices`.

    Returns:
        A :class:`PreprocessedCase`.

    Raises:
        ValueError: On a wrong shape, affine, modality or label.

    Examples:
        >>> img = np.full((20, 20, 10), -1000.0, np.float32); img[5:15, 5:15, 2:8] = 40.0
        >>> case = preprocess_array(img, np.diag([0.75, 0.75, 3.0, 1.0]), "CT")
        >>> case.image.shape, float(case.image.max()) <= 1.0
        (torch.Size([1, 5, 5, 8]), True)
    """
    config = config or PreprocessConfig()
    if not isinstance(config, PreprocessConfig):
        raise ValueError(f"config must be a PreprocessConfig, got {type(config).__name__}")
    modality = check_modality(modality)
    name = f"{case_id}: " if case_id else ""
    arr = torch.as_tensor(np.asarray(image) if not isinstance(image, torch.Tensor) else image)
    if arr.ndim == 4 and arr.shape[-1] == 1:  # some writers keep a trailing time axis of length 1
        arr = arr[..., 0]
    if arr.ndim != 3 or min(arr.shape) < 1:
        raise ValueError(f"{name}image must be a 3-D (X, Y, Z) array, got shape {tuple(arr.shape)}")
    try:
        aff = check_affine(affine)
    except ValueError as exc:
        raise ValueError(f"{name}{exc}") from None
    shape = tuple(int(s) for s in arr.shape)
    arr = arr.to(device=device, dtype=torch.float32)
    if not bool(torch.isfinite(arr).all()):
        raise ValueError(f"{name}image contains NaN or infinite values")
    lab = None
    if label is not None:
        lab = torch.as_tensor(np.asarray(label) if not isinstance(label, torch.Tensor) else label)
        if lab.ndim == 4 and lab.shape[-1] == 1:
            lab = lab[..., 0]
        if tuple(lab.shape) != shape:
            raise ValueError(f"{name}label shape {tuple(lab.shape)} differs from image shape {shape}")
        if lab.is_floating_point():
            lab = torch.round(lab)
        bad = _bad_label_values(lab)
        if bad:
            raise ValueError(f"{name}label values outside 0-{NUM_CLASSES - 1}: {bad}")
        lab = lab.to(device=device, dtype=torch.uint8)

    # 1. orientation to RAS
    ornt, aff_ras = ras_orientation(aff, shape)
    vol = apply_orientation(arr[None], ornt)
    lab_vol = None if lab is None else apply_orientation(lab[None], ornt)
    shape_ras = tuple(int(s) for s in vol.shape[1:])

    # 2. resampling: output index -> input index is a per-axis scale and shift
    new_affine, out_shape = target_grid(aff_ras, shape_ras, config.spacing)
    vox_map = np.linalg.solve(aff_ras, new_affine)
    vol = resample_axes(vol, vox_map, out_shape, "linear")
    if lab_vol is not None:
        lab_vol = resample_axes(lab_vol, vox_map, out_shape, "nearest")

    # 3. intensity
    vol = _normalise(vol, modality, config)

    # 4. foreground crop
    box = [[0, s] for s in out_shape]
    if config.crop_foreground:
        found = _bounding_box(foreground_mask(vol[0], modality))
        if found is not None:  # an all-background volume is kept whole rather than cropped to nothing
            box = found
    sl = (slice(None), *(slice(a, b) for a, b in box))
    vol = vol[sl].contiguous()
    if lab_vol is not None:
        lab_vol = lab_vol[sl].contiguous()
    crop_affine = new_affine.copy()
    crop_affine[:3, 3] = new_affine[:3, :3] @ np.array([a for a, _ in box], dtype=np.float64) + new_affine[:3, 3]

    meta = {
        "case_id": case_id,
        "modality": modality,
        "original_shape": list(shape),
        "original_affine": aff.tolist(),
        "original_spacing": list(spacing_from_affine(aff)),
        "resampled_shape": list(out_shape),
        "crop_box": box,
        "affine": crop_affine.tolist(),
        "spacing": list(spacing_from_affine(new_affine)),
        "orientation": "RAS",
        "config": config.to_dict(),
    }
    class_indices = None
    if lab_vol is not None:
        class_indices = compute_class_indices(lab_vol, max_per_class=max_indices_per_class)
    return PreprocessedCase(case_id, modality, vol, lab_vol, meta, class_indices)


def resample_and_crop(
    image: np.ndarray,
    affine: np.ndarray,
    modality: str,
    spacing: Sequence[float],
    label: np.ndarray | None = None,
    crop: bool = True,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Steps 1, 2 and 4 of :func:`preprocess_array` without the intensity step: a coarser copy of a scan.

    Introduced in chapter *Getting the data* (``amos data pack``). The same orientation, resampling and
    foreground crop as the training preprocessing (the crop box is found on the normalised image, as
    there), applied to the original intensities, so the result is again a scan in Hounsfield units (CT)
    or scanner units (MRI) that every command reads like a release file.

    Args:
        image: ``(X, Y, Z)`` array in the voxel order of ``affine``.
        affine: 4x4 voxel-to-world matrix.
        modality: ``"CT"`` or ``"MRI"`` (decides the foreground rule).
        spacing: Target voxel size in mm (x, y, z).
        label: Optional label map on the image's grid (nearest-neighbour resampling).
        crop: Crop to the body's bounding box.

    Returns:
        ``(image, label, affine)``: the image in the input's dtype (rounded for integer types), the label
        as uint8 (or None), and the RAS affine of the new grid.

    Examples:
        >>> img = np.full((20, 20, 10), -1000, np.int16); img[5:15, 5:15, 2:8] = 40
        >>> out, _, aff = resample_and_crop(img, np.diag([0.75, 0.75, 3.0, 1.0]), "CT", (1.5, 1.5, 3.0))
        >>> out.shape, out.dtype, float(aff[0, 0])
        ((5, 5, 6), dtype('int16'), 1.5)
    """
    config = PreprocessConfig(spacing=tuple(spacing), crop_foreground=crop)
    modality = check_modality(modality)
    dtype = np.asarray(image).dtype
    aff = check_affine(affine)
    arr = torch.as_tensor(np.asarray(image, dtype=np.float32))
    if arr.ndim == 4 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim != 3:
        raise ValueError(f"image must be a 3-D (X, Y, Z) array, got shape {tuple(arr.shape)}")
    ornt, aff_ras = ras_orientation(aff, tuple(arr.shape))
    vol = apply_orientation(arr[None], ornt)
    new_affine, out_shape = target_grid(aff_ras, tuple(vol.shape[1:]), config.spacing)
    vox_map = np.linalg.solve(aff_ras, new_affine)
    vol = resample_axes(vol, vox_map, out_shape, "linear")
    box = [[0, s] for s in out_shape]
    if crop:  # the crop box of the training preprocessing: found on the normalised image
        found = _bounding_box(foreground_mask(_normalise(vol[0].clone(), modality, config), modality))
        box = found if found is not None else box
    sl = tuple(slice(a, b) for a, b in box)
    out = vol[0][sl].numpy()
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        out = np.clip(np.round(out), info.min, info.max)
    out = np.ascontiguousarray(out.astype(dtype if dtype.kind in "iuf" else np.float32))
    lab = None
    if label is not None:
        lab_arr = np.asarray(label)
        lab_t = torch.as_tensor((np.round(lab_arr) if lab_arr.dtype.kind == "f" else lab_arr).astype(np.uint8))
        if lab_t.ndim == 4 and lab_t.shape[-1] == 1:
            lab_t = lab_t[..., 0]
        lab_vol = resample_axes(apply_orientation(lab_t[None], ornt), vox_map, out_shape, "nearest")
        lab = np.ascontiguousarray(lab_vol[0][sl].numpy())
    crop_affine = new_affine.copy()
    crop_affine[:3, 3] = new_affine[:3, :3] @ np.array([a for a, _ in box], dtype=np.float64) + new_affine[:3, 3]
    return out, lab, crop_affine


def preprocess_case(
    image_path: str | os.PathLike,
    label_path: str | os.PathLike | None = None,
    modality: str = "CT",
    config: PreprocessConfig | None = None,
    device: str | torch.device = "cpu",
    affine_atol: float = AFFINE_ATOL,
    max_indices_per_class: int | None = DEFAULT_MAX_INDICES_PER_CLASS,
) -> PreprocessedCase:
    """Load a NIfTI case and preprocess it (see :func:`preprocess_array`).

    Introduced in chapter *Preprocessing and augmentation*. Reading goes through nibabel
    (:func:`amos_tutorial.utils.io.load_nifti`); the computation runs on ``device``.

    Args:
        image_path: ``imagesTr/amos_0001.nii.gz`` or similar.
        label_path: Optional label map on the same grid.
        modality: ``"CT"`` or ``"MRI"``.
        config: Preprocessing settings.
        device: Where to compute.
        affine_atol: Largest difference allowed between the image's and the label's affine (mm).
        max_indices_per_class: Passed to :func:`compute_class_indices`.

    Returns:
        A :class:`PreprocessedCase` whose ``case_id`` is the file name without ``.nii.gz``.

    Raises:
        ValueError: ``"PATH: problem"`` for an unreadable file, a shape or affine mismatch, or bad values.
        FileNotFoundError: If a file does not exist.

    Examples:
        >>> case = preprocess_case("imagesTr/amos_0001.nii.gz", "labelsTr/amos_0001.nii.gz")  # doctest: +SKIP
    """
    from amos_tutorial.utils.io import load_nifti

    image_path = Path(image_path)
    for p in (image_path, label_path):
        if p is not None and not Path(p).is_file():
            raise FileNotFoundError(f"{p}: file does not exist")
    case_id = image_path.name.split(".nii")[0]
    image, affine = load_nifti(image_path, dtype=np.float32)
    label = None
    if label_path is not None:
        label_path = Path(label_path)
        label, label_affine = load_nifti(label_path)
        if label.shape[:3] != image.shape[:3]:
            raise ValueError(
                f"{label_path}: label shape {label.shape} differs from image shape {image.shape} of {image_path}"
            )
        diff = float(np.abs(label_affine - affine).max())
        if diff > affine_atol:
            raise ValueError(
                f"{label_path}: label affine differs from the image's by {diff:.3g} mm (> {affine_atol}); "
                f"check the pair with `amos data validate`"
            )
        # Checked here, once per case, so a stray value never reaches the network (on a GPU it would end
        # in a device-side assert far from the file); the message names the label file.
        bad = _bad_label_values(label)
        if bad:
            raise ValueError(
                f"{label_path}: label values outside 0-{NUM_CLASSES - 1}: {bad}; fix the file "
                "(`amos data validate` lists every such file)"
            )
    try:
        case = preprocess_array(
            image, affine, modality, config, label=label, device=device, case_id=case_id,
            max_indices_per_class=max_indices_per_class,
        )
    except ValueError as exc:
        raise ValueError(f"{image_path}: {str(exc).removeprefix(f'{case_id}: ')}") from None
    case.meta["source"] = str(image_path)
    return case


def invert_to_original(
    volume: torch.Tensor,
    meta: Mapping[str, Any],
    mode: str = "trilinear",
    fill: float = 0.0,
) -> torch.Tensor:
    """Bring a volume on the preprocessed grid back to the original image grid, on its own device.

    Introduced in chapter *Preprocessing and augmentation* (used by prediction, :mod:`amos_tutorial.inference`).
    Undoes the crop, the resampling and the orientation in one separable resampling (three 1-D passes of ``index_select`` and
    ``lerp``), so a 16-channel softmax goes back to a 512 x 512 x 100 CT in a fraction of a second on
    a GPU. Voxels of the original grid outside the cropped box get ``fill`` (background).

    Args:
        volume: ``(C, X, Y, Z)`` on the preprocessed grid (``meta["affine"]``), any float dtype
            (``nearest`` also takes integer label maps).
        meta: The ``meta`` of the :class:`PreprocessedCase` (needs ``affine``, ``original_affine``,
            ``original_shape``).
        mode: ``"trilinear"`` for probabilities or images, ``"nearest"`` for label maps.
        fill: Value outside the cropped region.

    Returns:
        ``(C, *original_shape)`` tensor on ``volume.device``.

    Raises:
        ValueError: On a wrong shape, mode or incomplete meta.

    Examples:
        >>> case = preprocess_case("imagesTr/amos_0001.nii.gz")              # doctest: +SKIP
        >>> probs = model(case.image[None].cuda()).softmax(1)[0]            # doctest: +SKIP
        >>> labels = invert_to_original(probs, case.meta).argmax(0)         # doctest: +SKIP
    """
    if mode not in ("trilinear", "nearest"):
        raise ValueError(f"mode must be 'trilinear' or 'nearest', got {mode!r}")
    missing = [k for k in ("affine", "original_affine", "original_shape") if k not in meta]
    if missing:
        raise ValueError(f"meta lacks {missing}: pass the meta of a PreprocessedCase")
    if not isinstance(volume, torch.Tensor) or volume.ndim != 4:
        raise ValueError(f"volume must be a (C, X, Y, Z) tensor, got {getattr(volume, 'shape', type(volume))}")
    pre_affine = check_affine(meta["affine"], "meta['affine']")
    orig_affine = check_affine(meta["original_affine"], "meta['original_affine']")
    orig_shape = tuple(int(s) for s in meta["original_shape"])
    vox_map = np.linalg.solve(pre_affine, orig_affine)  # original index -> preprocessed index
    if mode == "trilinear" and not volume.is_floating_point():
        volume = volume.float()
    return resample_axes(volume, vox_map, orig_shape, "nearest" if mode == "nearest" else "linear", fill=fill)
