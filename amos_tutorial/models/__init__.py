"""The model registry and the AMOS baselines.

Introduced in chapter *Training the baselines*. Importing this package registers every built-in
model: the MONAI networks of :mod:`amos_tutorial.models.monai_nets` (``unet``, ``vnet``, ``unetr``,
``swinunetr``, ``nnunet``, ``segresnet``), the plain-PyTorch ports of CoTr and nnFormer, and nnU-Net's
residual-encoder U-Net ``resenc`` (:mod:`amos_tutorial.models.resenc`, chapter *How AMOS 2022 was won*).

Examples:
    >>> from amos_tutorial.models import list_models, build_model_for_patch
    >>> "nnunet" in list_models()
    True
    >>> net = build_model_for_patch("unetr", "tiny", patch_size=(32, 32, 64))
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

from torch import nn

from amos_tutorial.models.registry import (
    ModelSpec,
    all_variants,
    available_models,
    build_model,
    get_model_spec,
    list_models,
    register_model,
    unregister_model,
)

# Imported for their side effect: each module registers its models.
from amos_tutorial.models import monai_nets  # noqa: F401  isort: skip
from amos_tutorial.models import cotr, nnformer  # noqa: F401  isort: skip
from amos_tutorial.models import resenc  # noqa: F401  isort: skip

__all__ = [
    "ModelSpec",
    "all_variants",
    "available_models",
    "build_model",
    "build_model_for_patch",
    "count_parameters",
    "get_model_spec",
    "list_models",
    "register_model",
    "unregister_model",
]


def build_model_for_patch(
    name: str,
    variant: str = "full",
    patch_size: Sequence[int] | None = None,
    spacing: Sequence[float] | None = None,
    in_channels: int = 1,
    out_channels: int = 16,
) -> nn.Module:
    """Instantiate a registered model for a given training patch and voxel spacing.

    Introduced in chapter *Training the baselines*. Some architectures depend on the patch (UNETR's
    ``img_size``, nnU-Net's topology, which also depends on the spacing). Their factories accept
    ``patch_size`` / ``spacing`` keywords, and this function passes them on; other factories get the
    plain ``(in_channels, out_channels, variant)`` call of
    :func:`~amos_tutorial.models.registry.build_model`. The trainer, the speed check and
    ``load_run`` all build models through here so that a checkpoint always finds its architecture.

    Args:
        name: Registry name.
        variant: ``"full"``, ``"tiny"`` or another of the model's ``variants``.
        patch_size: Training patch (x, y, z); None means the variant's recommended patch.
        spacing: Spacing (x, y, z mm) of the preprocessed data, for spacing-aware factories.
        in_channels: Input channels.
        out_channels: Classes including background.

    Returns:
        The network (on the CPU, in training mode).

    Raises:
        KeyError: For an unknown model name.
        ValueError: For a bad variant or a patch the architecture cannot take.

    Examples:
        >>> build_model_for_patch("nnunet", "tiny", patch_size=(32, 32, 32), spacing=(1.5, 1.5, 2.0)).__class__.__name__
        'DynUNet'
    """
    spec = get_model_spec(name)
    spec.check_variant(variant)
    if patch_size is not None:
        patch = tuple(int(p) for p in patch_size)
        if len(patch) != 3 or any(p <= 0 for p in patch):
            raise ValueError(f"{name}: patch size must be 3 positive integers, got {tuple(patch_size)}")
    else:
        patch = None
    params = inspect.signature(spec.factory).parameters
    kwargs = {}
    if patch is not None and "patch_size" in params:
        kwargs["patch_size"] = patch
    if spacing is not None and "spacing" in params:
        kwargs["spacing"] = tuple(float(s) for s in spacing)
    return spec.factory(in_channels, out_channels, variant, **kwargs)


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters of a model.

    Introduced in chapter *Training the baselines*; plain PyTorch.

    Args:
        model: Any ``nn.Module``.
        trainable_only: Count only parameters with ``requires_grad``.

    Returns:
        The parameter count.

    Examples:
        >>> import torch
        >>> count_parameters(torch.nn.Linear(3, 2))
        8
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
