"""MONAI dictionary-transform chains: the "plain MONAI path" of the book.

Introduced in chapter *Preprocessing and augmentation*. These are the transforms a MONAI user would write, and the
reference that the fast torch path (:mod:`amos_tutorial.transforms.preprocessing`) is tested against:
the same orientation, grid, intensity normalisation and crop give the same arrays. The preprocessing
chain is invertible with ``monai.transforms.Invertd`` (see :func:`inverse_transforms`).

Examples:
    >>> from amos_tutorial.transforms.chains import preprocessing_transforms
    >>> pre = preprocessing_transforms("CT")
    >>> data = pre({"image": "imagesTr/amos_0001.nii.gz", "label": "labelsTr/amos_0001.nii.gz"})  # doctest: +SKIP
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from amos_tutorial.labels import NUM_CLASSES
from amos_tutorial.transforms.augment import AugmentConfig
from amos_tutorial.transforms.preprocessing import PreprocessConfig, mri_foreground
from amos_tutorial.utils.geometry import check_modality, check_patch_size

__all__ = [
    "preprocessing_transforms",
    "inverse_transforms",
    "augmentation_transforms",
    "tutorial_augmentation_transforms",
]




def preprocessing_transforms(
    modality: str = "CT",
    config: PreprocessConfig | None = None,
    image_key: str = "image",
    label_key: str | None = "label",
    load: bool = True,
):
    """The preprocessing as a MONAI ``Compose`` (load, channel first, RAS, spacing, intensity, crop).

    Introduced in chapter *Preprocessing and augmentation*. Built on MONAI: ``LoadImaged`` (nibabel reader),
    ``EnsureChannelFirstd``, ``Orientationd("RAS")``, ``Spacingd`` (bilinear image, nearest label,
    border padding), ``ScaleIntensityRanged`` (CT) or ``ClipIntensityPercentilesd`` +
    ``NormalizeIntensityd`` (MRI) and ``CropForegroundd``. Every step is invertible, so a
    prediction goes back to the original grid with :func:`inverse_transforms`. The label key may be
    missing from a sample (test cases).

    Args:
        modality: ``"CT"`` or ``"MRI"``.
        config: The same :class:`PreprocessConfig` as the fast path.
        image_key: Key of the image path / array.
        label_key: Key of the label, or None for image-only pipelines.
        load: Start with ``LoadImaged`` + ``EnsureChannelFirstd`` (False when the dict already holds
            channel-first ``MetaTensor`` s).

    Returns:
        A ``monai.transforms.Compose``.

    Examples:
        >>> pre = preprocessing_transforms("MRI", PreprocessConfig(spacing=(2.0, 2.0, 2.0)))
        >>> [type(t).__name__ for t in pre.transforms][:4]
        ['LoadImaged', 'EnsureChannelFirstd', 'Orientationd', 'Spacingd']
    """
    from monai import transforms as mt

    modality = check_modality(modality)
    config = config or PreprocessConfig()
    if not isinstance(config, PreprocessConfig):
        raise ValueError(f"config must be a PreprocessConfig, got {type(config).__name__}")
    keys = [image_key] + ([label_key] if label_key else [])
    modes = ["bilinear"] + (["nearest"] if label_key else [])
    steps: list = []
    if load:
        steps += [
            mt.LoadImaged(keys, reader="NibabelReader", image_only=True, allow_missing_keys=True),
            mt.EnsureChannelFirstd(keys, allow_missing_keys=True),
        ]
    steps += [
        mt.Orientationd(keys, axcodes="RAS", labels=None, allow_missing_keys=True),
        # float32 resampling (MONAI's default is float64): same result to ~1e-6, half the memory.
        mt.Spacingd(
            keys, pixdim=config.spacing, mode=modes, padding_mode="border", dtype=np.float32,
            allow_missing_keys=True,
        ),
    ]
    if modality == "CT":
        lo, hi = config.ct_window
        steps.append(mt.ScaleIntensityRanged(image_key, a_min=lo, a_max=hi, b_min=0.0, b_max=1.0, clip=True))
        select_fn = None  # MONAI's default: x > 0, i.e. above the window's lower bound
    else:
        lo_q, hi_q = config.mri_percentiles
        steps += [
            mt.ClipIntensityPercentilesd(image_key, lower=lo_q, upper=hi_q),
            mt.NormalizeIntensityd(image_key),
        ]
        select_fn = mri_foreground  # the same rule as the fast path (noisy air is cropped)
    if config.crop_foreground:
        kwargs = {} if select_fn is None else {"select_fn": select_fn}
        steps.append(
            mt.CropForegroundd(keys, source_key=image_key, allow_smaller=True, allow_missing_keys=True, **kwargs)
        )
    return mt.Compose(steps)


def inverse_transforms(
    preprocessing,
    keys: str | Sequence[str] = "pred",
    orig_key: str = "image",
    nearest_interp: bool = False,
    device: str | torch.device | None = None,
):
    """``Invertd`` that maps predictions back through a :func:`preprocessing_transforms` pipeline.

    Introduced in chapter *Preprocessing and augmentation* (used by prediction, :mod:`amos_tutorial.inference`).
    Built on ``monai.transforms.Invertd``: it replays the operations recorded on ``data[orig_key]`` backwards on ``data[keys]``. The
    prediction is first made a ``MetaTensor`` (``EnsureTyped(track_meta=True)``): given a plain
    tensor, ``Invertd`` would skip it with nothing but a warning.

    Args:
        preprocessing: The ``Compose`` that produced ``data[orig_key]``.
        keys: Key(s) of the prediction(s) to invert, ``(C, X, Y, Z)`` on the preprocessed grid.
        orig_key: Key of the preprocessed image whose recorded operations are inverted.
        nearest_interp: Use nearest-neighbour interpolation (label maps) instead of each step's own mode
            (probabilities).
        device: Where to run the inversion (None: where the prediction is).

    Returns:
        A ``monai.transforms.Compose`` of ``EnsureTyped`` and ``Invertd``.

    Examples:
        >>> data = pre({"image": path}); data["pred"] = probs                   # doctest: +SKIP
        >>> back = inverse_transforms(pre)(data)["pred"]  # original grid        # doctest: +SKIP
    """
    from monai import transforms as mt

    if not isinstance(preprocessing, mt.InvertibleTransform):
        raise ValueError(f"preprocessing must be an invertible MONAI transform, got {type(preprocessing).__name__}")
    return mt.Compose(
        [
            mt.EnsureTyped(keys, track_meta=True),
            mt.Invertd(
                keys=keys, transform=preprocessing, orig_keys=orig_key, nearest_interp=nearest_interp, device=device,
            ),
        ]
    )


def augmentation_transforms(
    patch_size: Sequence[int],
    num_samples: int = 2,
    config: AugmentConfig | None = None,
    class_ratios: Sequence[float] | None = None,
    image_key: str = "image",
    label_key: str = "label",
    indices_key: str | None = None,
):
    """Organ-weighted patch sampling and standard augmentation as MONAI dictionary transforms.

    Introduced in chapter *Preprocessing and augmentation*. The MONAI counterpart of
    :class:`amos_tutorial.transforms.sampler.PatchSampler`: the same kinds of augmentation with the
    same settings (:class:`AugmentConfig`), run per sample on the CPU. Built on ``SpatialPadd``,
    ``RandCropByLabelClassesd`` (patch centres drawn class by class, so small organs such as the
    adrenal glands are seen as often as the liver), ``RandFlipd``, ``RandRotate90d``, ``RandAffined``,
    ``RandScaleIntensityd``, ``RandShiftIntensityd``, ``RandAdjustContrastd`` and
    ``RandGaussianNoised``; for ``"da5"`` (chapter *How AMOS 2022 was won*) also
    ``RandScaleIntensityFixedMeand`` (contrast), ``RandSimulateLowResolutiond``, ``RandGaussianSmoothd`` and
    ``RandAdjustContrastd(invert_image=True)``.

    Args:
        patch_size: Patch ``(x, y, z)`` in voxels.
        num_samples: Patches cut from each volume per call.
        config: Augmentation settings (probabilities and ranges); default :class:`AugmentConfig`.
        class_ratios: Weight of each of the 16 classes (background first) when choosing a patch
            centre; default equal weights (every organ as likely as the background).
        image_key: Key of the image.
        label_key: Key of the label.
        indices_key: Key of precomputed per-class indices (``monai.transforms.ClassesToIndicesd``),
            which spares ``RandCropByLabelClassesd`` a scan of the whole volume on every call.

    Returns:
        A ``monai.transforms.Compose`` whose output is a list of ``num_samples`` dicts.

    Examples:
        >>> aug = augmentation_transforms((32, 32, 32), num_samples=2)
        >>> type(aug.transforms[1]).__name__
        'RandCropByLabelClassesd'
    """
    from monai import transforms as mt

    patch = check_patch_size(patch_size)
    if int(num_samples) < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    cfg = config or AugmentConfig()
    if not isinstance(cfg, AugmentConfig):
        raise ValueError(f"config must be an AugmentConfig, got {type(cfg).__name__}")
    ratios = [1.0] * NUM_CLASSES if class_ratios is None else [float(r) for r in class_ratios]
    if len(ratios) != NUM_CLASSES or min(ratios) < 0 or sum(ratios) <= 0:
        raise ValueError(
            f"class_ratios must be {NUM_CLASSES} non-negative weights (background first), got {class_ratios!r}"
        )
    keys = [image_key, label_key]
    steps = [
        mt.SpatialPadd(keys, spatial_size=patch),
        mt.RandCropByLabelClassesd(
            keys, label_key=label_key, spatial_size=patch, ratios=ratios, num_classes=NUM_CLASSES,
            num_samples=int(num_samples), indices_key=indices_key, warn=False,
        ),
    ]
    if cfg.flip_prob > 0:
        steps += [mt.RandFlipd(keys, prob=cfg.flip_prob, spatial_axis=axis) for axis in range(3)]
    if cfg.rot90_prob > 0 and patch[0] == patch[1]:
        steps.append(mt.RandRotate90d(keys, prob=cfg.rot90_prob, max_k=3, spatial_axes=(0, 1)))
    lo, hi = cfg.scale_range
    # MONAI's scale_range is added to 1; ours is a zoom of the content, i.e. 1 / sampling step.
    scale_range = ((1 / hi - 1, 1 / lo - 1),) * 3
    affine = {"mode": ("bilinear", "nearest"), "padding_mode": "border"}
    if cfg.affine_prob > 0:
        together = {"scale_range": scale_range} if cfg.zoom_prob is None else {}
        steps.append(
            mt.RandAffined(
                keys, prob=cfg.affine_prob, rotate_range=(0.0, 0.0, math.radians(cfg.max_rotation_deg)),
                **together, **affine,
            )
        )
    if cfg.zoom_prob is not None and cfg.zoom_prob > 0:
        steps.append(mt.RandAffined(keys, prob=cfg.zoom_prob, scale_range=scale_range, **affine))
    if cfg.intensity_scale_prob > 0:
        lo, hi = cfg.intensity_scale_range
        steps.append(mt.RandScaleIntensityd(image_key, factors=(lo - 1, hi - 1), prob=cfg.intensity_scale_prob))
    if cfg.intensity_shift_prob > 0:
        steps.append(mt.RandShiftIntensityd(image_key, offsets=cfg.intensity_shift, prob=cfg.intensity_shift_prob))
    if cfg.contrast_prob > 0:
        lo, hi = cfg.contrast_range
        steps.append(mt.RandScaleIntensityFixedMeand(image_key, factors=(lo - 1, hi - 1), prob=cfg.contrast_prob))
    if cfg.low_res_prob > 0:
        steps.append(mt.RandSimulateLowResolutiond(image_key, prob=cfg.low_res_prob, zoom_range=cfg.low_res_range))
    if cfg.blur_prob > 0:
        sigma = cfg.blur_sigma_range
        steps.append(mt.RandGaussianSmoothd(image_key, sigma_x=sigma, sigma_y=sigma, sigma_z=sigma, prob=cfg.blur_prob))
    if cfg.gamma_prob > 0:
        steps.append(mt.RandAdjustContrastd(image_key, prob=cfg.gamma_prob, gamma=cfg.gamma_range))
    if cfg.invert_gamma_prob > 0:
        steps.append(
            mt.RandAdjustContrastd(image_key, prob=cfg.invert_gamma_prob, gamma=cfg.gamma_range, invert_image=True)
        )
    if cfg.noise_prob > 0:
        steps.append(mt.RandGaussianNoised(image_key, prob=cfg.noise_prob, std=cfg.noise_std_max))
    return mt.Compose(steps)


def tutorial_augmentation_transforms(
    patch_size: Sequence[int] = (96, 96, 96),
    num_samples: int = 2,
    image_key: str = "image",
    label_key: str = "label",
):
    """The random transforms of MONAI's BTCV / Swin UNETR tutorials, for comparison.

    Introduced in chapter *Preprocessing and augmentation* (and measured by ``amos bench pipeline``). Built on
    ``RandCropByPosNegLabeld`` (pos 1, neg 1: half the centres in any organ, half in the background),
    ``RandFlipd`` on each axis, ``RandRotate90d`` and ``RandShiftIntensityd``, with the tutorials'
    probabilities. It recomputes foreground and background voxel indices of the whole volume on every
    call, which is why it is slow.

    Args:
        patch_size: Patch ``(x, y, z)`` in voxels (the tutorials use 96^3).
        num_samples: Patches per volume and call (the tutorials use 2 or 4).
        image_key: Key of the image.
        label_key: Key of the label.

    Returns:
        A ``monai.transforms.Compose`` whose output is a list of ``num_samples`` dicts.

    Examples:
        >>> len(tutorial_augmentation_transforms((32, 32, 32)).transforms)
        7
    """
    from monai import transforms as mt

    patch = check_patch_size(patch_size)
    keys = [image_key, label_key]
    return mt.Compose(
        [
            mt.SpatialPadd(keys, spatial_size=patch),
            mt.RandCropByPosNegLabeld(
                keys, label_key=label_key, spatial_size=patch, pos=1, neg=1, num_samples=int(num_samples),
                image_key=image_key, image_threshold=0,
            ),
            mt.RandFlipd(keys, spatial_axis=[0], prob=0.10),
            mt.RandFlipd(keys, spatial_axis=[1], prob=0.10),
            mt.RandFlipd(keys, spatial_axis=[2], prob=0.10),
            mt.RandRotate90d(keys, prob=0.10, max_k=3),
            mt.RandShiftIntensityd(image_key, offsets=0.10, prob=0.50),
        ]
    )
