"""nnU-Net's residual-encoder U-Net (``resenc``): the architecture of the AMOS 2022 winners, at nnU-Net's sizes.

Introduced in chapter *How AMOS 2022 was won*. Builds on the implementation nnU-Net itself uses,
``dynamic_network_architectures.architectures.unet.ResidualEncoderUNet`` (PyPI
``dynamic-network-architectures``, Apache-2.0, installed with nnU-Net v2 by ``scripts/setup_env.sh``).
This module only derives its arguments the way nnU-Net's ResEnc planners do
(``nnunetv2/experiment_planning/experiment_planners/residual_unets/residual_encoder_unet_planners.py``):

* topology from the patch and the voxel spacing with nnU-Net v2's ``get_pool_and_conv_props``
  (re-implemented in :func:`resenc_topology`, compared against nnU-Net's own in the tests);
* features ``32 * 2**stage`` capped at 320, residual blocks per encoder stage ``(1, 3, 4, 6, 6, 6, ...)``,
  one convolution per decoder stage, instance norm (affine, eps 1e-5), leaky ReLU, convolution bias;
* He initialisation, then the **identity initialisation** of :func:`init_identity`: the last norm of
  every residual block starts at zero, so each block starts as (nearly) the identity.

Variants: ``"M"`` and ``"L"`` are nnU-Net's ResEnc M (8 GB) and L (24 GB) presets. Their networks are the same
for the same patch; the presets differ in the patch and batch that nnU-Net's planner fits into the memory
target. :data:`RESENC_RECIPES` holds what ``nnUNetPlannerResEncM`` / ``nnUNetPlannerResEncL`` (nnU-Net 2.8.1)
plan for AMOS's median image (512 x 512 x 103 voxels of 0.713 x 0.713 x 5 mm) resampled to this package's
1.5 x 1.5 x 2 mm grid (tests/test_resenc.py re-runs the planners and checks them). ``"full"`` means ``"M"``.
The winners' own 2022 plans (1.5 x 1 x 1 mm, a patch grown from a 512 mm cube, batch 5-6 for a 40 GB A100) are
not a variant: their planner is hard to rerun (nnU-Net issue 1290); ``build_model_for_patch("resenc", "L",
patch_size=..., spacing=...)`` builds the same family for any patch and spacing. ``"tiny"`` keeps the
architecture (residual encoder, deep supervision, identity initialisation) with 8..64 features and
``(1, 2, 2, 2, ...)`` blocks, for CPU smoke runs.

Deep supervision as in nnU-Net v2: in training mode the network returns a list of outputs, full resolution
first, one per decoder stage except the coarsest (nnU-Net gives that one loss weight 0); in eval mode it
returns only the full-resolution logits ``(B, C, X, Y, Z)``.

The recipe (:data:`RESENC_RECIPE`): SGD, lr 1e-2, momentum 0.99, Nesterov, weight decay 3e-5, poly decay
(exponent 0.9), 1000 epochs x 250 iterations: nnU-Net v2's ``nnUNetTrainer`` defaults, also the winners'
(Isensee et al., "Extending nnU-Net is all you need", arXiv 2208.10791). The registry records nnU-Net
Revisited's published AMOS results of ResEnc M and L with their source (``extra["published"]``), but no
published parameter count: none we could cite for these settings; count them with ``count_parameters``.

Examples:
    >>> from amos_tutorial.models import build_model, count_parameters
    >>> net = build_model("resenc", variant="tiny")  # doctest: +SKIP
    >>> net.eval()(torch.zeros(1, 1, 32, 32, 32)).shape  # doctest: +SKIP
    torch.Size([1, 16, 32, 32, 32])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from amos_tutorial.models.monai_nets import DEFAULT_SPACING, NnUNetTopology
from amos_tutorial.models.registry import QUICK_PATCH_SIZE, ModelSpec, register_model

__all__ = [
    "RESENC_BLOCKS",
    "RESENC_RECIPE",
    "RESENC_RECIPES",
    "RESENC_VARIANTS",
    "TINY_BLOCKS",
    "build_resenc",
    "init_identity",
    "resenc_arch_kwargs",
    "resenc_topology",
]

#: Residual blocks per encoder stage of nnU-Net's ResEnc planners (``UNet_blocks_per_stage_encoder``).
RESENC_BLOCKS: tuple[int, ...] = (1, 3, 4, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6)
#: Residual blocks per encoder stage of the ``tiny`` variant.
TINY_BLOCKS: tuple[int, ...] = (1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2)
_FEATURES = {"full": (32, 320), "tiny": (8, 64)}
#: Smallest bottleneck edge of nnU-Net's planners (``UNet_featuremap_min_edge_length``).
_MIN_FEATURE_MAP = 4
_TINY_PATCH = (32, 32, 32)

#: The variants of ``resenc``: ``"full"`` is ``"M"``.
RESENC_VARIANTS: tuple[str, ...] = ("full", "tiny", "M", "L")

#: Patch (x, y, z) and batch of nnU-Net's ResEnc M and L planners for AMOS on the 1.5 x 1.5 x 2 mm grid.
RESENC_RECIPES: dict[str, dict[str, Any]] = {
    "M": {"patch_size": (128, 128, 128), "batch_size": 2, "planner": "nnUNetPlannerResEncM", "vram_target_gb": 8},
    "L": {"patch_size": (192, 192, 192), "batch_size": 2, "planner": "nnUNetPlannerResEncL", "vram_target_gb": 24},
}

#: Training recipe of nnU-Net v2 (``nnUNetTrainer``) and of the AMOS 2022 winners.
RESENC_RECIPE: dict[str, Any] = {
    "optimizer": {"name": "sgd", "lr": 1e-2, "momentum": 0.99, "nesterov": True, "weight_decay": 3e-5},
    "schedule": {"name": "poly", "power": 0.9, "epochs": 1000, "iterations_per_epoch": 250},
    "source": "nnU-Net v2 nnUNetTrainer defaults (MIC-DKFZ/nnUNet); AMOS 2022 winners, arXiv 2208.10791; "
    "patch/batch: nnUNetPlannerResEncM/L (nnunetv2 2.8.1) on AMOS's median image at 1.5 x 1.5 x 2 mm",
}


def _variant_size(variant: str) -> str:
    if variant not in RESENC_VARIANTS:
        raise ValueError(f"resenc: variant must be one of {list(RESENC_VARIANTS)}, got {variant!r}")
    return "tiny" if variant == "tiny" else "full"


def resenc_topology(
    patch_size: Sequence[int],
    spacing: Sequence[float] = DEFAULT_SPACING,
    base_filters: int = 32,
    max_filters: int = 320,
    min_feature_map: int = _MIN_FEATURE_MAP,
) -> NnUNetTopology:
    """Kernels, strides and filters from a patch and a spacing, the nnU-Net v2 way.

    Introduced in chapter *How AMOS 2022 was won*. Re-implements ``get_pool_and_conv_props`` of nnU-Net v2
    (``nnunetv2/experiment_planning/experiment_planners/network_topology.py``, Apache-2.0), which differs
    from v1 (:func:`~amos_tutorial.models.monai_nets.nnunet_topology`) in two details: an axis whose
    spacing comes within a factor 2 of the finest keeps kernel 3 from then on, and a lone axis is pooled
    only while it is at least ``3 * min_feature_map`` voxels.

    Args:
        patch_size: Patch (x, y, z) in voxels.
        spacing: Voxel spacing (x, y, z) in mm.
        base_filters: Features of the first stage.
        max_filters: Cap on the features.
        min_feature_map: Smallest bottleneck edge.

    Returns:
        The :class:`~amos_tutorial.models.monai_nets.NnUNetTopology`.

    Raises:
        ValueError: If the patch or spacing is not 3 positive numbers or the patch cannot be pooled.

    Examples:
        >>> t = resenc_topology((128, 128, 128), spacing=(1.5, 1.5, 2.0))
        >>> t.num_pools, t.filters
        (5, (32, 64, 128, 256, 320, 320))
    """
    if len(patch_size) != 3 or any(int(p) <= 0 for p in patch_size):
        raise ValueError(f"resenc: patch size must be 3 positive integers, got {tuple(patch_size)}")
    if len(spacing) != 3 or any(not float(s) > 0 for s in spacing):
        raise ValueError(f"resenc: spacing must be 3 positive numbers (x, y, z mm), got {tuple(spacing)}")
    current_spacing = [float(s) for s in spacing]
    current_size = [int(p) for p in patch_size]
    pools = [0, 0, 0]
    kernel = [1, 1, 1]
    kernels: list[tuple[int, ...]] = []
    strides: list[tuple[int, ...]] = [(1, 1, 1)]
    while True:
        valid = [i for i in range(3) if current_size[i] >= 2 * min_feature_map]
        if not valid:
            break
        finest = min(current_spacing[i] for i in valid)
        valid = [i for i in valid if current_spacing[i] / finest < 2]
        if len(valid) == 1 and current_size[valid[0]] < 3 * min_feature_map:
            break
        for d in range(3):
            if kernel[d] != 3 and current_spacing[d] / min(current_spacing) < 2:
                kernel[d] = 3
        for i in valid:
            pools[i] += 1
            current_spacing[i] *= 2
            current_size[i] = math.ceil(current_size[i] / 2)
        strides.append(tuple(2 if i in valid else 1 for i in range(3)))
        kernels.append(tuple(kernel))
    if len(strides) < 2:
        raise ValueError(
            f"resenc: patch {tuple(patch_size)} is too small to pool (each axis needs >= {2 * min_feature_map} voxels)"
        )
    kernels.append((3, 3, 3))  # bottleneck
    filters = tuple(min(base_filters * 2**i, max_filters) for i in range(len(strides)))
    return NnUNetTopology(
        kernel_sizes=tuple(kernels),  # type: ignore[arg-type]
        strides=tuple(strides),  # type: ignore[arg-type]
        filters=filters,
        pools_per_axis=tuple(pools),  # type: ignore[arg-type]
        divisible_by=tuple(2**p for p in pools),  # type: ignore[arg-type]
    )


def resenc_arch_kwargs(
    variant: str = "full", patch_size: Sequence[int] | None = None, spacing: Sequence[float] | None = None
) -> dict[str, Any]:
    """The ``arch_kwargs`` of an nnU-Net plans file for this network (class and norm names as strings).

    Introduced in chapter *How AMOS 2022 was won*. The same dictionary nnU-Net's ResEnc planner writes into
    ``plans["configurations"][...]["architecture"]["arch_kwargs"]``, in this package's (x, y, z) axis order;
    ``nnunetv2.utilities.get_network_from_plans`` builds the same network from it.

    Args:
        variant: ``"full"``/``"M"``, ``"L"`` or ``"tiny"``.
        patch_size: Patch (x, y, z); None: the variant's recipe patch.
        spacing: Spacing (x, y, z mm) of the preprocessed data (default ``DEFAULT_SPACING``).

    Returns:
        The keyword arguments (without ``input_channels``, ``num_classes`` and ``deep_supervision``).

    Raises:
        ValueError: For an unknown variant or a patch not divisible by ``2 ** pools`` per axis.

    Examples:
        >>> resenc_arch_kwargs("M")["n_blocks_per_stage"]
        (1, 3, 4, 6, 6, 6)
    """
    size = _variant_size(variant)
    if patch_size is None:
        patch = _TINY_PATCH if size == "tiny" else RESENC_RECIPES["L" if variant == "L" else "M"]["patch_size"]
    else:
        patch = tuple(int(p) for p in patch_size)
    base, cap = _FEATURES[size]
    topo = resenc_topology(patch, spacing if spacing is not None else DEFAULT_SPACING, base, cap)
    if any(p % d for p, d in zip(patch, topo.divisible_by)):
        raise ValueError(f"resenc: patch size {tuple(patch)} must be divisible by {topo.divisible_by} per axis")
    stages = len(topo.strides)
    blocks = (TINY_BLOCKS if size == "tiny" else RESENC_BLOCKS)[:stages]
    return {
        "n_stages": stages,
        "features_per_stage": topo.filters,
        "conv_op": "torch.nn.modules.conv.Conv3d",
        "kernel_sizes": topo.kernel_sizes,
        "strides": topo.strides,
        "n_blocks_per_stage": tuple(blocks),
        "n_conv_per_stage_decoder": (1,) * (stages - 1),
        "conv_bias": True,
        "norm_op": "torch.nn.modules.instancenorm.InstanceNorm3d",
        "norm_op_kwargs": {"eps": 1e-5, "affine": True},
        "dropout_op": None,
        "dropout_op_kwargs": None,
        "nonlin": "torch.nn.LeakyReLU",
        "nonlin_kwargs": {"inplace": True},
    }


def _require_dna():
    try:
        from dynamic_network_architectures.architectures import unet
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "resenc needs dynamic-network-architectures (nnU-Net's networks): run scripts/setup_env.sh, or "
            "pip install --no-deps 'dynamic-network-architectures>=0.4.4,<0.5'"
        ) from exc
    return unet


def init_identity(net: nn.Module) -> int:
    """Zero the last norm (weight and bias) of every residual block, so each block starts as the identity.

    Introduced in chapter *How AMOS 2022 was won*. A residual block computes ``act(norm2(conv2(...)) + skip(x))``;
    with ``norm2`` zeroed the residual branch adds nothing and the block passes its input on. nnU-Net does this in
    ``ResidualEncoderUNet.initialize``: ``InitWeights_He(1e-2)`` and then ``init_last_bn_before_add_to_0``
    (``dynamic_network_architectures/initialization/weight_init.py``), which this function applies; the winners'
    2022 code called it "SimonsInit".

    Args:
        net: A network holding ``dynamic_network_architectures`` residual blocks (``BasicBlockD`` /
            ``BottleneckD``).

    Returns:
        The number of residual blocks initialised.

    Examples:
        >>> init_identity(build_resenc(variant="tiny"))  # doctest: +SKIP
        7
    """
    from dynamic_network_architectures.building_blocks.residual import BasicBlockD, BottleneckD
    from dynamic_network_architectures.initialization.weight_init import init_last_bn_before_add_to_0

    net.apply(init_last_bn_before_add_to_0)
    return sum(isinstance(m, (BasicBlockD, BottleneckD)) for m in net.modules())


def _resenc_class() -> type:
    unet = _require_dna()

    class ResEncUNet(unet.ResidualEncoderUNet):
        """``ResidualEncoderUNet`` with nnU-Net's training/inference switch of deep supervision.

        Same parameters and state-dict keys as nnU-Net's class. In training mode with deep supervision
        the coarsest output (loss weight 0 in nnU-Net v2) is dropped; eval mode returns only the logits.
        """

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._supervise = bool(self.decoder.deep_supervision)

        def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
            supervise = self._supervise and self.training
            self.decoder.deep_supervision = supervise
            out = super().forward(x)
            if supervise and len(out) > 1:
                return list(out[:-1])
            return out

    return ResEncUNet


def build_resenc(
    in_channels: int = 1,
    out_channels: int = 16,
    variant: str = "full",
    patch_size: Sequence[int] | None = None,
    spacing: Sequence[float] | None = None,
    deep_supervision: bool = True,
) -> nn.Module:
    """nnU-Net's residual-encoder U-Net for a patch and a spacing, He + identity initialised.

    Introduced in chapter *How AMOS 2022 was won*. Builds
    ``dynamic_network_architectures.architectures.unet.ResidualEncoderUNet`` from :func:`resenc_arch_kwargs`.

    Args:
        in_channels: Input channels.
        out_channels: Classes including background.
        variant: ``"full"`` (= ``"M"``), ``"M"``, ``"L"`` or ``"tiny"``.
        patch_size: Patch (x, y, z) the topology is derived from (default: the variant's recipe patch).
        spacing: Spacing (x, y, z mm) of the preprocessed data (default ``DEFAULT_SPACING``).
        deep_supervision: Return the auxiliary outputs in training mode.

    Returns:
        The network (training mode).

    Raises:
        ValueError: For a bad variant or patch.
        ImportError: If ``dynamic-network-architectures`` is not installed.

    Examples:
        >>> net = build_resenc(variant="tiny")  # doctest: +SKIP
        >>> [o.shape[2] for o in net(torch.zeros(2, 1, 32, 32, 32))]  # doctest: +SKIP
        [32, 16, 8]
    """
    import pydoc

    from dynamic_network_architectures.initialization.weight_init import InitWeights_He

    kwargs = resenc_arch_kwargs(variant, patch_size, spacing)
    cls = _resenc_class()
    for key in ("conv_op", "norm_op", "nonlin"):
        kwargs[key] = pydoc.locate(kwargs[key])
    net = cls(input_channels=in_channels, num_classes=out_channels, deep_supervision=deep_supervision, **kwargs)
    net.apply(InitWeights_He(1e-2))
    init_identity(net)
    return net


def _register() -> None:
    register_model(
        ModelSpec(
            name="resenc",
            factory=build_resenc,
            requires=("dynamic_network_architectures",),
            patch_size=RESENC_RECIPES["M"]["patch_size"],
            batch_size=RESENC_RECIPES["M"]["batch_size"],
            optimizer=RESENC_RECIPE["optimizer"],
            schedule=RESENC_RECIPE["schedule"],
            tiny_patch_size=_TINY_PATCH,
            quick_patch_size=QUICK_PATCH_SIZE,
            tiny_batch_size=2,
            deep_supervision=True,
            divisible_by=32,
            paper="Isensee et al., nnU-Net Revisited, MICCAI 2024 (ResEnc presets); AMOS 2022 winners: "
            "Isensee et al., Extending nnU-Net is all you need, arXiv 2208.10791",
            description="nnU-Net's residual-encoder U-Net (dynamic-network-architectures), identity-initialised "
            "residual blocks, deep supervision",
            extra={
                "source": RESENC_RECIPE["source"],
                "implementation": "dynamic_network_architectures.architectures.unet.ResidualEncoderUNet",
                "published": {
                    "params_M": "not found in the sources we could read",
                    "amos_dice_nnunet_revisited_M_L": "88.77 / 89.41",
                    "amos_train_vram_gb_nnunet_revisited_M_L": "9.1 / 22.7",
                    "amos_train_hours_a100_nnunet_revisited_M_L": "12 / 35",
                    "source": "nnU-Net Revisited (Isensee et al., MICCAI 2024), MIC-DKFZ/nnUNet "
                    "documentation/resenc_presets.md; 5-fold CV on 360 AMOS cases (CT+MRI), one A100 40 GB, "
                    "nnU-Net's own plans",
                },
            },
            variants=RESENC_VARIANTS,
            variant_recipes={
                k: {"patch_size": v["patch_size"], "batch_size": v["batch_size"]} for k, v in RESENC_RECIPES.items()
            },
        ),
        overwrite=True,
    )


_register()
