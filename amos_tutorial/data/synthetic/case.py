"""One synthetic case: the acquisition, the habitus, the field of view, the anatomy, the image.

Introduced in chapter *Getting the data*; built on numpy (geometry), scipy.ndimage (blur) and
nibabel.orientations (RAS/LPS reorientation). See the package docstring for how a case is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple, Sequence

import numpy as np

from amos_tutorial.data.synthetic.anatomy import Painter, draw_anatomy
from amos_tutorial.data.synthetic.scanner import (
    MR_CONTRASTS,
    MR_DTYPES,
    ORIENTATIONS,
    draw_acquisition,
    intensities,
    store_as,
)
from amos_tutorial.data.synthetic.shapes import Grid
from amos_tutorial.labels import NUM_CLASSES
from amos_tutorial.utils.options import with_settings

__all__ = [
    "DEFAULT_MAX_SHAPE", "MAX_SIDE", "MAX_VOXELS", "MIN_SIDE", "CaseOptions", "SyntheticCase", "check_shape3",
    "synthesize_case",
]

DEFAULT_MAX_SHAPE: tuple[int, int, int] = (160, 160, 64)
# Smallest side of a generated image (voxels).
MIN_SIDE = 16
#: Largest side of a generated image (voxels): twice a CT slice's 512.
MAX_SIDE = 1024
#: Largest generated image (voxels): 512 x 512 x 1024, about the largest AMOS CT (1 GB as float32).
MAX_VOXELS = 512 * 512 * 1024
# Reference craniocaudal field of view (mm): from below the prostate to above the liver dome.
_Z_BOTTOM, _Z_TOP = -222.0, 183.0


class SyntheticCase(NamedTuple):
    """One synthetic volume, as returned by :func:`synthesize_case`.

    Introduced in chapter *Getting the data*. A named tuple, so ``image, label, affine, info = synthesize_case(...)`` works.

    Attributes:
        image: 3-D array (X, Y, Z), slices on the last axis: ``int16`` HU for CT, ``float32`` or
            ``uint16`` for MRI.
        label: ``uint8`` array of the same shape, values 0-15 (AMOS label ids).
        affine: 4x4 voxel-to-world matrix (NIfTI RAS+ world, mm), RAS- or LPS-oriented.
        info: What was drawn: ``number``, ``modality``, ``sex``, ``spacing``, ``shape``,
            ``orientation``, ``dtype``, ``mr_contrast``, ``has_gallbladder``,
            ``has_prostate_uterus``, ``scale_xy``, ``scale_z``, ``organs`` (label ids present) and
            ``fallback_organs`` (organs too small for the grid, kept as one voxel).
    """

    image: np.ndarray
    label: np.ndarray
    affine: np.ndarray
    info: dict[str, Any]


def check_shape3(value: Any, name: str, minimum: int) -> tuple[int, int, int]:
    """``value`` as three integers from ``minimum`` to :data:`MAX_SIDE`, at most :data:`MAX_VOXELS` in all.

    Raises:
        ValueError: Naming ``name`` and the value, before anything is allocated.
    """
    try:
        out = tuple(int(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be three integers (X, Y, Z), got {value!r}") from None
    if len(out) != 3 or min(out) < minimum or max(out) > MAX_SIDE:
        raise ValueError(f"{name} must be three integers from {minimum} to {MAX_SIDE} (X, Y, Z), got {value!r}")
    if out[0] * out[1] * out[2] > MAX_VOXELS:
        raise ValueError(f"{name} {out} holds more than the {MAX_VOXELS} voxels of the largest AMOS scan")
    return out


@dataclass(frozen=True)
class CaseOptions:
    """The acquisition and anatomy of one synthetic case that a caller may fix; the rest is drawn.

    Introduced in chapter *Getting the data*.

    Attributes:
        max_shape: Largest (X, Y, Z) shape drawn, each at least 16.
        spacing: (in-plane, in-plane, slice) in mm; drawn (0.6-0.9, 1.25-5) when None.
        shape: Exact (X, Y, Z) shape, each at least 16; drawn up to ``max_shape`` when None.
        orientation: ``"RAS"`` or ``"LPS"`` axis codes of the array; drawn when None.
        image_dtype: For MRI, ``"float32"`` or ``"uint16"`` (drawn when None); CT is always ``int16``.
        mr_contrast: For MRI, ``"T1"`` or ``"T2"`` (drawn when None).
        has_gallbladder: False mimics a cholecystectomy (no label 4).
        has_prostate_uterus: False leaves out label 15.
    """

    max_shape: Sequence[int] = DEFAULT_MAX_SHAPE
    spacing: Sequence[float] | None = None
    shape: Sequence[int] | None = None
    orientation: str | None = None
    image_dtype: str | None = None
    mr_contrast: str | None = None
    has_gallbladder: bool = True
    has_prostate_uterus: bool = True


def synthesize_case(
    number: int = 1,
    modality: str = "CT",
    sex: str = "M",
    *,
    seed: int = 0,
    options: CaseOptions | None = None,
    **settings: Any,
) -> SyntheticCase:
    """Synthesize one CT- or MRI-like abdomen with its 15-organ label map.

    Introduced in chapter *Getting the data*; built on numpy (geometry), scipy.ndimage (blur) and
    nibabel.orientations (RAS/LPS reorientation). Everything not given is drawn from a generator
    seeded by ``(seed, number)``, so a case is reproducible on its own, bit for bit.

    Args:
        number: AMOS case number (1-599); also seeds the case.
        modality: ``"CT"`` or ``"MRI"``.
        sex: ``"M"`` (label 15 is a prostate) or ``"F"`` (label 15 is a uterus).
        seed: Non-negative dataset seed.
        options: What to fix instead of drawing (:class:`CaseOptions`: largest or exact shape, spacing,
            orientation, MRI dtype and contrast, gallbladder, prostate/uterus).
        **settings: Fields of :class:`CaseOptions` given as keywords (``max_shape=(48, 48, 24)``...); they
            override ``options``.

    Returns:
        A :class:`SyntheticCase` ``(image, label, affine, info)``.

    Raises:
        ValueError: If an argument is out of range.
        TypeError: For a keyword that is not a field of :class:`CaseOptions`.

    Examples:
        >>> import nibabel as nib
        >>> img, lab, aff, info = synthesize_case(501, "MRI", "F", max_shape=(48, 48, 24), orientation="RAS")
        >>> nib.aff2axcodes(aff), img.shape == lab.shape, int(lab.max()) <= 15
        (('R', 'A', 'S'), True, True)
    """
    o = with_settings(CaseOptions, options, settings)
    max_shape, spacing, shape, orientation, image_dtype = o.max_shape, o.spacing, o.shape, o.orientation, o.image_dtype
    mr_contrast, has_gallbladder, has_prostate_uterus = o.mr_contrast, o.has_gallbladder, o.has_prostate_uterus
    number, max_shape, shape, spacing = _check_arguments(
        number, modality, sex, seed, max_shape, shape, spacing, orientation, image_dtype, mr_contrast
    )
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), number]))
    # Draw everything in a fixed order, even what the caller overrides, so overriding one
    # parameter does not reshuffle the others.
    drawn = draw_acquisition(rng, modality)
    spacing = drawn.spacing if spacing is None else spacing
    orientation = orientation or drawn.orientation
    contrast = (mr_contrast or drawn.mr_contrast) if modality == "MRI" else None
    out_dtype = "int16" if modality == "CT" else (image_dtype or drawn.mr_dtype)
    habitus = _draw_habitus(rng)
    view = _field_of_view(rng, modality, habitus, spacing, max_shape, shape)

    painter = Painter(view.grid, rng, view.voxel_ref, view.k)
    draw_anatomy(painter, habitus, sex, has_gallbladder, has_prostate_uterus, modality)
    fallback = _complete_labels(painter, has_gallbladder, has_prostate_uterus)
    tissue, label = painter.tissue, painter.label
    nx, ny, nz = view.shape
    scale_xy, scale_z = view.scale_xy, view.scale_z
    del painter, view  # free the coordinate arrays before the intensity stage
    image = store_as(intensities(tissue, modality, contrast or "CT", rng), out_dtype)
    affine, image, label = _place_in_world(rng, image, label, spacing, orientation)
    present = [int(i) for i in np.flatnonzero(np.bincount(label.ravel(), minlength=NUM_CLASSES)) if i > 0]
    info = {
        "number": number,
        "modality": modality,
        "sex": sex,
        "spacing": tuple(float(s) for s in spacing),
        "shape": (nx, ny, nz),
        "orientation": orientation,
        "dtype": out_dtype,
        "mr_contrast": contrast,
        "has_gallbladder": bool(has_gallbladder),
        "has_prostate_uterus": bool(has_prostate_uterus),
        "scale_xy": float(scale_xy),
        "scale_z": float(scale_z),
        "organs": present,
        "fallback_organs": fallback,
    }
    return SyntheticCase(image, label, affine, info)


def _check_arguments(
    number: Any, modality: str, sex: str, seed: Any, max_shape: Any, shape: Any, spacing: Any,
    orientation: str | None, image_dtype: str | None, mr_contrast: str | None,
) -> tuple[int, tuple[int, int, int], tuple[int, int, int] | None, tuple[float, ...] | None]:
    """The checked ``(number, max_shape, shape, spacing)``; a ValueError naming the first bad argument."""
    number = int(number)
    if not 1 <= number <= 599:
        raise ValueError(f"number must be an AMOS case number 1-599, got {number}")
    if modality not in ("CT", "MRI"):
        raise ValueError(f"modality must be 'CT' or 'MRI', got {modality!r}")
    if sex not in ("M", "F"):
        raise ValueError(f"sex must be 'M' or 'F', got {sex!r}")
    if int(seed) < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    max_shape = check_shape3(max_shape, "max_shape", MIN_SIDE)
    if shape is not None:
        shape = check_shape3(shape, "shape", MIN_SIDE)
    if orientation is not None and orientation not in ORIENTATIONS:
        raise ValueError(f"orientation must be one of {ORIENTATIONS}, got {orientation!r}")
    if image_dtype is not None and image_dtype not in MR_DTYPES:
        raise ValueError(f"image_dtype must be one of {MR_DTYPES} (MRI only), got {image_dtype!r}")
    if mr_contrast is not None and mr_contrast not in MR_CONTRASTS:
        raise ValueError(f"mr_contrast must be 'T1' or 'T2', got {mr_contrast!r}")
    if spacing is not None:
        try:
            spacing = tuple(float(s) for s in spacing)
        except (TypeError, ValueError):
            raise ValueError(f"spacing must be three positive numbers in mm, got {spacing!r}") from None
        if len(spacing) != 3 or min(spacing) <= 0:
            raise ValueError(f"spacing must be three positive numbers in mm, got {spacing!r}")
    return number, max_shape, shape, spacing


def _draw_habitus(rng: np.random.Generator) -> dict[str, float]:
    """Body half-width, cavity depths, muscle and fat thicknesses (mm) of this case."""
    habitus = {
        "Ac": 135.0 * rng.uniform(0.92, 1.08),
        "Bca": 95.0 * rng.uniform(0.9, 1.1),
        "Bcp": 110.0 * rng.uniform(0.95, 1.05),
        "dm": rng.uniform(8, 14),
        "df": rng.uniform(8, 35),
    }
    habitus["dfa"] = habitus["df"] * rng.uniform(1.0, 1.5)
    return habitus


class _View(NamedTuple):
    grid: Grid
    voxel_ref: np.ndarray
    k: np.ndarray
    shape: tuple[int, int, int]
    scale_xy: float
    scale_z: float


def _field_of_view(
    rng: np.random.Generator, modality: str, habitus: dict[str, float], spacing: Sequence[float],
    max_shape: tuple[int, int, int], shape: tuple[int, int, int] | None,
) -> _View:
    """The case's shape, the scale of the mini patient (see the package docstring) and its bent grid."""
    half_w = habitus["Ac"] + habitus["dm"] + habitus["df"]
    depth_ant = habitus["Bca"] + habitus["dm"] + habitus["dfa"]
    depth_post = habitus["Bcp"] + habitus["dm"] + habitus["df"]
    mx, my, mz = max_shape
    nx = int(round(mx * rng.uniform(0.8, 1.0)))
    ny = min(my, nx) if modality == "CT" and mx == my else int(round(my * rng.uniform(0.75, 1.0)))
    fill = rng.uniform(0.8, 0.92)
    z_lo = _Z_BOTTOM - rng.uniform(0, 10)
    z_hi = _Z_TOP + rng.uniform(0, 10)
    height = z_hi - z_lo
    s_ratio = rng.uniform(0.85, 1.15)
    if shape is not None:
        nx, ny, nz = shape
    s_xy = fill * min(nx * spacing[0] / (2 * half_w), ny * spacing[1] / (depth_ant + depth_post))
    if shape is None:
        nz = int(np.clip(round(s_xy * s_ratio * height / spacing[2]), min(MIN_SIDE, mz), mz))
    s_z = nz * spacing[2] / height

    # Reference-frame coordinates of the voxel centres (internal grid is RAS: i -> right).
    off = rng.uniform(-0.03, 0.03, size=2)
    y_mid = (depth_ant - depth_post) / 2
    ax = (np.arange(nx) - (nx - 1) / 2) * spacing[0] / s_xy + off[0] * 2 * half_w
    ay = (np.arange(ny) - (ny - 1) / 2) * spacing[1] / s_xy + y_mid + off[1] * (depth_ant + depth_post)
    az = z_lo + (np.arange(nz) + 0.5) * spacing[2] / s_z
    grid = Grid((ax, ay, az), rng, max_disp=rng.uniform(6.0, 12.0))
    voxel_ref = np.array([spacing[0] / s_xy, spacing[1] / s_xy, spacing[2] / s_z])
    k = np.array([habitus["Ac"] / 135.0, (habitus["Bca"] + habitus["Bcp"]) / 205.0, 1.0])
    return _View(grid, voxel_ref, k, (nx, ny, nz), s_xy, s_z)


def _complete_labels(painter: Painter, has_gallbladder: bool, has_prostate_uterus: bool) -> list[int]:
    """Keep an organ the grid is too coarse for as one voxel, so that the label set is complete; those organs."""
    expected = [i for i in range(1, NUM_CLASSES) if (i != 4 or has_gallbladder) and (i != 15 or has_prostate_uterus)]
    counts = np.bincount(painter.label.ravel(), minlength=NUM_CLASSES)
    fallback = []
    for organ in expected:
        if counts[organ] == 0:
            idx = painter.grid.voxel_of(painter.centers.get(organ, np.zeros(3)))
            painter.label[idx] = organ
            fallback.append(organ)
    return fallback


def _place_in_world(
    rng: np.random.Generator, image: np.ndarray, label: np.ndarray, spacing: Sequence[float], orientation: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A scanner-like table position, then the arrays reoriented with nibabel: ``(affine, image, label)``."""
    from nibabel import orientations as nio

    nx, ny, nz = image.shape
    center = np.array([rng.uniform(-10, 10), rng.uniform(-40, 40), rng.uniform(-600, -100)])
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = center - affine[:3, :3] @ ((np.array([nx, ny, nz]) - 1) / 2)
    if orientation != "RAS":
        xform = nio.ornt_transform(nio.axcodes2ornt("RAS"), nio.axcodes2ornt(tuple(orientation)))
        affine = affine @ nio.inv_ornt_aff(xform, (nx, ny, nz))
        image = np.ascontiguousarray(nio.apply_orientation(image, xform))
        label = np.ascontiguousarray(nio.apply_orientation(label, xform))
    return affine, image, label
