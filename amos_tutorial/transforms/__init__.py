"""Preprocessing, the preprocessed cache, augmentation and the fast patch sampler.

Introduced in chapter *Preprocessing and augmentation*. Modules:

* :mod:`~amos_tutorial.transforms.preprocessing`: the fast torch preprocessing (RAS, spacing,
  intensity, crop) used by the cache and by prediction, and its inverse;
* :mod:`~amos_tutorial.transforms.chains`: the same steps as MONAI dictionary transforms (the
  reference; invertible with ``Invertd``), plus MONAI augmentation chains;
* :mod:`~amos_tutorial.transforms.cache`: one file per preprocessed case, resumable;
* :mod:`~amos_tutorial.transforms.augment` and :mod:`~amos_tutorial.transforms.sampler`: batch
  augmentation and the organ-weighted :class:`PatchSampler`.

Names are imported on first use, so ``import amos_tutorial.transforms`` does not load MONAI.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "PreprocessConfig": "preprocessing",
    "PreprocessedCase": "preprocessing",
    "preprocess_case": "preprocessing",
    "preprocess_array": "preprocessing",
    "invert_to_original": "preprocessing",
    "compute_class_indices": "preprocessing",
    "foreground_mask": "preprocessing",
    "mri_foreground": "preprocessing",
    "preprocessing_transforms": "chains",
    "inverse_transforms": "chains",
    "augmentation_transforms": "chains",
    "tutorial_augmentation_transforms": "chains",
    "preprocess_dataset": "cache",
    "load_preprocessed": "cache",
    "load_preprocessed_case": "cache",
    "save_preprocessed": "cache",
    "default_cache_dir": "cache",
    "available_memory_gb": "cache",
    "suggest_memory_budget_gb": "cache",
    "AugmentConfig": "augment",
    "AUGMENTATIONS": "augment",
    "get_augmentation": "augment",
    "PatchSampler": "sampler",
    "SamplerOptions": "sampler",
    "BatchPlan": "sampler",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
