"""Batch augmentation on the device: flips, 90-degree turns, mild rotation + zoom, intensity.

Introduced in chapter *Preprocessing and augmentation*. MONAI's random transforms work one sample at a time, each
launching its own small operations; here every random number of a batch is drawn first (on the CPU,
from one generator, so a batch is reproducible) and the batch is then transformed with a handful
of tensor operations: ``torch.flip`` / ``torch.rot90`` per sample, one ``affine_grid`` +
``grid_sample`` for the samples that are rotated or zoomed, and broadcast arithmetic for intensity.

Named settings (:data:`AUGMENTATIONS`, chosen by ``TrainConfig.augment`` / ``amos train --augment``): ``"off"``,
``"default"`` (:class:`AugmentConfig`'s defaults) and ``"da5"``, a subset of nnU-Net's DA5 (:data:`DA5`), which
one of the AMOS 2022 winners' three Task 1 configurations used (:data:`DA5_OMITTED` lists what it leaves out).

Conventions: patches are ``(B, 1, X, Y, Z)``; rotations turn the axial (x, y) plane about z, in mm
(the voxel spacing is taken into account), like MONAI's ``RandAffined(rotate_range=(0, 0, angle))``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "AUGMENTATIONS",
    "DA5",
    "DA5_OMITTED",
    "AugmentConfig",
    "get_augmentation",
    "draw_augment_params",
    "rotation_zoom_matrix",
    "flip_rot90",
    "affine_resample",
    "intensity_augment",
]


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of the standard augmentation (nnU-Net-like, milder spatially).

    Introduced in chapter *Preprocessing and augmentation*. Used by the GPU :class:`~amos_tutorial.transforms.sampler.PatchSampler`
    and by the MONAI chain :func:`~amos_tutorial.transforms.chains.augmentation_transforms` alike.

    Attributes:
        flip_prob: Probability of a flip, per axis.
        rot90_prob: Probability of a 90/180/270-degree turn in the axial plane (square patches only).
        affine_prob: Probability of a rotation about z plus an isotropic zoom.
        max_rotation_deg: Rotation angle drawn from +-this (degrees).
        scale_range: Zoom factor of the content (> 1 magnifies) drawn from this range.
        intensity_scale_prob: Probability of multiplying the intensities by a factor ...
        intensity_scale_range: ... drawn from this range.
        intensity_shift_prob: Probability of adding an offset ...
        intensity_shift: ... drawn from +-this.
        gamma_prob: Probability of a gamma curve (on the patch's own min..max range) ...
        gamma_range: ... with gamma drawn from this range.
        noise_prob: Probability of additive Gaussian noise ...
        noise_std_max: ... with a standard deviation drawn from 0..this.
        zoom_prob: Probability of the zoom drawn independently of the rotation (nnU-Net's
            ``p_scaling``); None (the default) zooms exactly the samples that rotate (``affine_prob``).
        blur_prob: Probability of a Gaussian blur ...
        blur_sigma_range: ... with sigma (voxels) drawn from this range.
        contrast_prob: Probability of a contrast change about the patch mean ...
        contrast_range: ... by a factor drawn from this range.
        low_res_prob: Probability of simulating low resolution (nearest down-sampling, trilinear up-sampling) ...
        low_res_range: ... to a fraction of the patch size drawn from this range.
        invert_gamma_prob: Probability of a gamma curve on the inverted intensities (range ``gamma_range``).

    The last eight fields are off by default (``"default"`` is unchanged by them); the ``"da5"`` preset of
    :data:`AUGMENTATIONS` turns them on. When they are all off no extra random number is drawn, so a batch of the
    default augmentation is the same as before they existed.

    Examples:
        >>> AugmentConfig(flip_prob=0.0).to_dict()["flip_prob"]
        0.0
    """

    flip_prob: float = 0.5
    rot90_prob: float = 0.5
    affine_prob: float = 0.2
    max_rotation_deg: float = 15.0
    scale_range: tuple[float, float] = (0.85, 1.25)
    intensity_scale_prob: float = 0.15
    intensity_scale_range: tuple[float, float] = (0.75, 1.25)
    intensity_shift_prob: float = 0.15
    intensity_shift: float = 0.1
    gamma_prob: float = 0.3
    gamma_range: tuple[float, float] = (0.7, 1.5)
    noise_prob: float = 0.1
    noise_std_max: float = 0.1
    zoom_prob: float | None = None
    blur_prob: float = 0.0
    blur_sigma_range: tuple[float, float] = (0.3, 1.5)
    contrast_prob: float = 0.0
    contrast_range: tuple[float, float] = (0.5, 2.0)
    low_res_prob: float = 0.0
    low_res_range: tuple[float, float] = (0.25, 1.0)
    invert_gamma_prob: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "zoom_prob" and value is None:
                continue
            if f.name.endswith("_prob"):
                if not 0.0 <= float(value) <= 1.0:
                    raise ValueError(f"AugmentConfig.{f.name} must be a probability in 0..1, got {value!r}")
            elif f.name.endswith("_range"):
                try:
                    lo, hi = (float(v) for v in value)
                except (TypeError, ValueError):
                    raise ValueError(f"AugmentConfig.{f.name} must be (low, high), got {value!r}") from None
                if not (0 < lo <= hi and math.isfinite(hi)):
                    raise ValueError(f"AugmentConfig.{f.name} must be positive with low <= high, got {value!r}")
                object.__setattr__(self, f.name, (lo, hi))
            elif float(value) < 0 or not math.isfinite(float(value)):
                raise ValueError(f"AugmentConfig.{f.name} must be a finite number >= 0, got {value!r}")

    @property
    def extended(self) -> bool:
        """True when a transform beyond the default set is on (independent zoom, blur, contrast, low resolution,
        inverted gamma): only then are their random numbers drawn."""
        return self.zoom_prob is not None or any(
            p > 0 for p in (self.blur_prob, self.contrast_prob, self.low_res_prob, self.invert_gamma_prob)
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "AugmentConfig":
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown AugmentConfig keys {unknown}; known keys are {sorted(known)}")
        return cls(**dict(d))


def _uniform(n: int, lo: float, hi: float, g: torch.Generator) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g, dtype=torch.float64)


def draw_augment_params(
    n: int, config: AugmentConfig, generator: torch.Generator, allow_rot90: bool = True
) -> dict[str, torch.Tensor]:
    """Draw the random parameters of ``n`` samples on the CPU.

    Introduced in chapter *Preprocessing and augmentation*. The same number of values is drawn whatever the
    probabilities, so changing one probability does not reshuffle the other parameters.

    Args:
        n: Batch size.
        config: Probabilities and ranges.
        generator: A CPU ``torch.Generator`` (seeded per batch by the sampler).
        allow_rot90: False for patches that are not square in the axial plane.

    Returns:
        CPU tensors of length ``n``: ``flip`` (n, 3) bool, ``rot90`` (k = 0..3), ``affine`` bool,
        ``angle`` (radians), ``zoom``, ``int_scale``, ``int_shift``, ``gamma``, ``noise_std``,
        ``blur_sigma``, ``contrast``, ``low_res``, ``invert_gamma``, with neutral values (no flip, k = 0,
        angle 0, zoom 1, scale 1, shift 0, gamma 1, std 0, sigma 0, contrast 1, low_res 1) where a
        transform is not applied.

    Examples:
        >>> p = draw_augment_params(4, AugmentConfig(), torch.Generator().manual_seed(0))
        >>> sorted(p)[:3], p["flip"].shape
        (['affine', 'angle', 'blur_sigma'], torch.Size([4, 3]))
    """
    c, g = config, generator
    flip = torch.rand(n, 3, generator=g) < c.flip_prob
    rot90 = torch.randint(1, 4, (n,), generator=g) * (torch.rand(n, generator=g) < c.rot90_prob)
    if not allow_rot90:
        rot90 = torch.zeros_like(rot90)
    affine = torch.rand(n, generator=g) < c.affine_prob
    max_angle = math.radians(c.max_rotation_deg)
    angle = _uniform(n, -max_angle, max_angle, g) * affine
    lo, hi = c.scale_range
    # log-uniform zoom: magnifying by 1.25 is as likely as shrinking by 1 / 1.25
    zoom = torch.exp(_uniform(n, math.log(lo), math.log(hi), g))
    raw_zoom = zoom
    zoom = torch.where(affine, zoom, torch.ones_like(zoom))
    on = torch.rand(n, generator=g) < c.intensity_scale_prob
    int_scale = torch.where(on, _uniform(n, *c.intensity_scale_range, g), torch.ones(n, dtype=torch.float64))
    on = torch.rand(n, generator=g) < c.intensity_shift_prob
    int_shift = _uniform(n, -c.intensity_shift, c.intensity_shift, g) * on
    on = torch.rand(n, generator=g) < c.gamma_prob
    gamma = torch.where(on, _uniform(n, *c.gamma_range, g), torch.ones(n, dtype=torch.float64))
    on = torch.rand(n, generator=g) < c.noise_prob
    noise_std = _uniform(n, 0.0, c.noise_std_max, g) * on
    ones = torch.ones(n, dtype=torch.float64)
    extra = {"blur_sigma": torch.zeros(n, dtype=torch.float64), "contrast": ones, "low_res": ones, "invert_gamma": ones}
    if c.extended:
        # Drawn only for the extended presets, after everything else: the default draws stay as they were.
        if c.zoom_prob is not None:
            zoom_on = torch.rand(n, generator=g) < c.zoom_prob
            zoom = torch.where(zoom_on, raw_zoom, torch.ones_like(raw_zoom))
        else:
            torch.rand(n, generator=g)
        on = torch.rand(n, generator=g) < c.blur_prob
        extra["blur_sigma"] = _uniform(n, *c.blur_sigma_range, g) * on
        on = torch.rand(n, generator=g) < c.contrast_prob
        extra["contrast"] = torch.where(on, _uniform(n, *c.contrast_range, g), ones)
        on = torch.rand(n, generator=g) < c.low_res_prob
        extra["low_res"] = torch.where(on, _uniform(n, *c.low_res_range, g), ones)
        on = torch.rand(n, generator=g) < c.invert_gamma_prob
        extra["invert_gamma"] = torch.where(on, _uniform(n, *c.gamma_range, g), ones)
    return {
        "flip": flip,
        "rot90": rot90,
        "affine": (angle != 0) | (zoom != 1),
        "angle": angle,
        "zoom": zoom,
        "int_scale": int_scale,
        "int_shift": int_shift,
        "gamma": gamma,
        "noise_std": noise_std,
        **extra,
    }


def rotation_zoom_matrix(angle: float, zoom: float, spacing: Sequence[float] = (1.0, 1.0, 1.0)) -> np.ndarray:
    """3x3 map from output voxel offsets to input voxel offsets for a rotation about z and a zoom.

    Introduced in chapter *Preprocessing and augmentation*. The rotation is a rotation in mm: with anisotropic voxels
    (1.5 x 1.5 x 2 mm) it is conjugated by the spacing so that organs are turned, not sheared.

    Args:
        angle: Rotation angle in radians (axial plane).
        zoom: Content magnification (> 1 samples a smaller region).
        spacing: Voxel size (x, y, z) in mm.

    Returns:
        A float64 (3, 3) numpy array.

    Examples:
        >>> rotation_zoom_matrix(0.0, 2.0).diagonal().tolist()
        [0.5, 0.5, 0.5]
    """
    if zoom <= 0:
        raise ValueError(f"zoom must be > 0, got {zoom}")
    c, s = math.cos(angle), math.sin(angle)
    rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    sp = np.asarray(spacing, dtype=np.float64)
    return (np.diag(1.0 / sp) @ rot @ np.diag(sp)) / zoom


def flip_rot90(x: torch.Tensor, flip: Sequence[bool], k: int) -> torch.Tensor:
    """Flip a ``(C, X, Y, Z)`` sample along the chosen axes, then turn it ``k`` quarter turns in (x, y).

    Introduced in chapter *Preprocessing and augmentation*. Built on ``torch.flip`` and ``torch.rot90``.

    Args:
        x: One sample, channel first.
        flip: Three booleans, flip along x, y, z.
        k: Quarter turns in the axial plane (needs a square (x, y) patch when odd).

    Returns:
        The transformed sample (``x`` itself when nothing is applied).

    Examples:
        >>> flip_rot90(torch.arange(8.0).view(1, 2, 2, 2), [True, False, False], 0)[0, :, 0, 0].tolist()
        [4.0, 0.0]
    """
    dims = [d + 1 for d in range(3) if bool(flip[d])]
    if dims:
        x = torch.flip(x, dims)
    if int(k) % 4:
        x = torch.rot90(x, int(k), dims=(1, 2))
    return x


def affine_resample(
    image: torch.Tensor,
    label: torch.Tensor | None,
    matrices: torch.Tensor,
    patch_size: Sequence[int],
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Resample a batch of crops around their centres with one ``affine_grid`` + ``grid_sample``.

    Introduced in chapter *Preprocessing and augmentation*. The crops are larger than the patch (a margin that
    holds the rotated / zoomed-out patch), so no sample falls outside real image data.

    Args:
        image: ``(n, 1, Rx, Ry, Rz)`` float crops centred on the patch centres.
        label: ``(n, 1, Rx, Ry, Rz)`` integer crops or None.
        matrices: ``(n, 3, 3)`` output-to-input voxel offset maps (:func:`rotation_zoom_matrix`).
        patch_size: Output ``(x, y, z)``.

    Returns:
        ``(image (n, 1, *patch) float, label (n, 1, *patch) same dtype as the input or None)``:
        trilinear for the image, nearest neighbour for the label.

    Examples:
        >>> crop = torch.rand(1, 1, 12, 12, 8)
        >>> out, _ = affine_resample(crop, None, torch.eye(3)[None], (8, 8, 4))  # identity: the centre
        >>> bool(torch.allclose(out, crop[:, :, 2:10, 2:10, 2:6], atol=1e-5))
        True
    """
    n = image.shape[0]
    in_size = torch.tensor(image.shape[2:], dtype=torch.float64)
    out_size = torch.tensor(list(patch_size), dtype=torch.float64)
    m = matrices.to(torch.float64)
    # normalised coordinates (align_corners=False): x_in = (2 / N_in) M (N_out / 2) x_out
    theta3 = torch.diag(2.0 / in_size) @ m @ torch.diag(out_size / 2.0)
    # affine_grid orders coordinates (W, H, D) = (z, y, x): reverse both axes of the matrix.
    theta3 = theta3.flip(1).flip(2)
    theta = torch.cat([theta3, torch.zeros(n, 3, 1, dtype=torch.float64)], dim=2).float()
    # non_blocking: a blocking host-to-GPU copy would wait for the whole queue (the last training step).
    theta = theta.to(image.device, non_blocking=True)
    size = [n, 1, *(int(p) for p in patch_size)]
    grid = F.affine_grid(theta, size, align_corners=False)
    out = F.grid_sample(image.float(), grid, mode="bilinear", padding_mode="border", align_corners=False)
    out_label = None
    if label is not None:
        lab = F.grid_sample(label.float(), grid, mode="nearest", padding_mode="border", align_corners=False)
        out_label = lab.round().to(label.dtype)
    return out, out_label


def intensity_augment(
    image: torch.Tensor, params: Mapping[str, torch.Tensor], noise: torch.Tensor | None = None
) -> torch.Tensor:
    """Per-sample intensity scale, shift, contrast, low resolution, blur, gamma and noise on a batch, in place.

    Introduced in chapter *Preprocessing and augmentation*; the contrast, low-resolution, blur and inverted-gamma
    steps of ``"da5"`` in chapter *How AMOS 2022 was won*. The batch is ``(B, 1, X, Y, Z)``. Scale and shift are
    one broadcast multiply-add for the whole batch; contrast, low resolution, blur, gamma (on each patch's own
    min..max range, as nnU-Net does) and noise touch only the samples that draw them.

    Args:
        image: Float batch on any device (modified in place and returned).
        params: Output of :func:`draw_augment_params` (CPU tensors).
        noise: Standard-normal noise ``(n, 1, X, Y, Z)`` for the ``n`` samples with ``noise_std > 0``
            (drawn on the CPU by the caller so that the batch is reproducible on any device).

    Returns:
        ``image``.

    Examples:
        >>> p = draw_augment_params(2, AugmentConfig(intensity_shift_prob=1.0), torch.Generator().manual_seed(0))
        >>> noise = torch.randn(int((p["noise_std"] > 0).sum()), 1, 4, 4, 4)
        >>> out = intensity_augment(torch.zeros(2, 1, 4, 4, 4), p, noise)
        >>> bool((out != 0).all())  # every sample shifted
        True
    """
    b = image.shape[0]
    view = (b,) + (1,) * (image.ndim - 1)
    dev, dt = image.device, image.dtype
    scale, shift = params["int_scale"], params["int_shift"]
    # Host-to-device copies are non_blocking so that the CPU never waits for queued GPU work.
    if bool((scale != 1).any()) or bool((shift != 0).any()):
        image.mul_(scale.to(dt).view(view).to(dev, non_blocking=True))
        image.add_(shift.to(dt).view(view).to(dev, non_blocking=True))
    _contrast(image, params)
    _low_resolution(image, params)
    _blur(image, params)
    idx = torch.nonzero(params["gamma"] != 1).flatten()
    if idx.numel():
        sel = idx.to(dev, non_blocking=True)
        sub = image[sel]
        dims = tuple(range(1, image.ndim))
        lo = sub.amin(dim=dims, keepdim=True)
        rng = (sub.amax(dim=dims, keepdim=True) - lo).clamp_min(1e-7)
        g = params["gamma"][idx].to(dt).view((-1,) + (1,) * (image.ndim - 1)).to(dev, non_blocking=True)
        image[sel] = ((sub - lo) / rng).pow(g) * rng + lo
    _inverted_gamma(image, params)
    idx = torch.nonzero(params["noise_std"] > 0).flatten()
    if idx.numel():
        if noise is None or noise.shape[0] != idx.numel():
            raise ValueError(f"noise must hold {idx.numel()} samples, got {None if noise is None else noise.shape[0]}")
        std = params["noise_std"][idx].to(dt).view((-1,) + (1,) * (image.ndim - 1)).to(dev, non_blocking=True)
        sel = idx.to(dev, non_blocking=True)
        image[sel] += noise.to(dev, dt, non_blocking=True) * std
    return image


def _selected(params: Mapping[str, torch.Tensor], key: str, neutral: float) -> list[int]:
    value = params.get(key)
    if value is None:
        return []
    return torch.nonzero(value != neutral).flatten().tolist()


def _contrast(image: torch.Tensor, params: Mapping[str, torch.Tensor]) -> None:
    """Contrast about each chosen patch's mean (nnU-Net's ``ContrastTransform``, without range preservation)."""
    for i in _selected(params, "contrast", 1.0):
        mean = image[i].mean()
        image[i] = (image[i] - mean) * float(params["contrast"][i]) + mean


def _low_resolution(image: torch.Tensor, params: Mapping[str, torch.Tensor]) -> None:
    """Nearest down-sampling to a fraction of the size, trilinear up-sampling back (``SimulateLowResolution``)."""
    for i in _selected(params, "low_res", 1.0):
        shape = image.shape[2:]
        small = [max(1, round(int(n) * float(params["low_res"][i]))) for n in shape]
        down = F.interpolate(image[i : i + 1].float(), size=small, mode="nearest")
        image[i : i + 1] = F.interpolate(down, size=tuple(shape), mode="trilinear", align_corners=False).to(image.dtype)


def _blur(image: torch.Tensor, params: Mapping[str, torch.Tensor]) -> None:
    """Separable Gaussian blur of the chosen samples, sigma in voxels, replicate padding."""
    for i in _selected(params, "blur_sigma", 0.0):
        sigma = float(params["blur_sigma"][i])
        radius = max(1, math.ceil(3 * sigma))
        t = torch.arange(-radius, radius + 1, dtype=torch.float32, device=image.device)
        k = torch.exp(-0.5 * (t / sigma) ** 2)
        k = k / k.sum()
        x = image[i : i + 1].float()
        for axis in range(3):
            shape = [1, 1, 1, 1, 1]
            shape[2 + axis] = k.numel()
            pad = [0, 0, 0, 0, 0, 0]
            pad[2 * (2 - axis)] = pad[2 * (2 - axis) + 1] = radius
            x = F.conv3d(F.pad(x, pad, mode="replicate"), k.view(shape))
        image[i : i + 1] = x.to(image.dtype)


def _inverted_gamma(image: torch.Tensor, params: Mapping[str, torch.Tensor]) -> None:
    """Gamma on the inverted intensities of the chosen patches (their own min..max range)."""
    for i in _selected(params, "invert_gamma", 1.0):
        x = image[i]
        lo, hi = x.min(), x.max()
        rng = (hi - lo).clamp_min(1e-7)
        image[i] = hi - ((hi - x) / rng).pow(float(params["invert_gamma"][i])) * rng


#: A subset of nnU-Net's ``nnUNetTrainerDA5`` (used by one of the AMOS 2022 winners' three Task 1
#: configurations, by none of Task 2's): rotation +-30 degrees (p 0.4), zoom
#: 0.7..1.43 (p 0.2, independent of the rotation), and more intensity transforms. Probabilities of the added
#: transforms are nnU-Net's ``apply_probability * p_per_channel`` for one channel: Gaussian blur sigma 0.3..1.5
#: (0.2 * 0.5), contrast 0.5..2 (0.2 * 0.5), low resolution 0.25..1 (0.15 * 0.5), gamma on the inverted image
#: (two transforms of p 0.1), noise variance up to 0.1 (here the std is drawn uniformly up to 0.316, p 0.1). Not
#: reproduced: nnU-Net rotates a chosen sample about each of the three axes with p 0.5, here about z (the axial
#: plane) only, every time; the median filter, sharpening,
#: blank rectangles, brightness gradients and local gamma. Source: nnunetv2 2.8.1,
#: ``nnunetv2/training/nnUNetTrainer/variants/data_augmentation/nnUNetTrainerDA5.py``.
DA5 = AugmentConfig(
    affine_prob=0.4,
    max_rotation_deg=30.0,
    scale_range=(0.7, 1.43),
    zoom_prob=0.2,
    noise_std_max=math.sqrt(0.1),
    blur_prob=0.1,
    blur_sigma_range=(0.3, 1.5),
    contrast_prob=0.1,
    contrast_range=(0.5, 2.0),
    low_res_prob=0.075,
    low_res_range=(0.25, 1.0),
    invert_gamma_prob=0.19,
)

#: What nnU-Net's DA5 does that :data:`DA5` (``--augment da5``) does not: the book's preset is a subset.
DA5_OMITTED: tuple[str, ...] = (
    "rotation about all three axes (here about z only)",
    "median filter",
    "sharpening",
    "blank rectangles",
    "brightness gradients",
    "local gamma",
)

#: Named augmentations of training (``TrainConfig.augment``, ``amos train --augment``): None means no augmentation.
AUGMENTATIONS: dict[str, AugmentConfig | None] = {"off": None, "default": AugmentConfig(), "da5": DA5}


def get_augmentation(name: str) -> AugmentConfig | None:
    """The :class:`AugmentConfig` of a named augmentation (None for ``"off"``).

    Introduced in chapter *How AMOS 2022 was won*.

    Raises:
        ValueError: Naming the unknown value and the known names.

    Examples:
        >>> get_augmentation("da5").max_rotation_deg
        30.0
    """
    if name not in AUGMENTATIONS:
        raise ValueError(f"unknown augmentation {name!r}; choose one of {sorted(AUGMENTATIONS)}")
    return AUGMENTATIONS[name]
