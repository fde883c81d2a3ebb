"""The MONAI baselines of the registry: UNet, VNet, UNETR, Swin UNETR, nnU-Net (DynUNet) and SegResNet.

Introduced in chapter *Training the baselines*. Every network here is a MONAI network
(``monai.networks.nets``); this module only chooses their hyper-parameters, derives nnU-Net's
topology from the patch and the voxel spacing, and records each model's training recipe with its
source in a :class:`~amos_tutorial.models.registry.ModelSpec`.

Recipes and their sources:

* **CNNs (nnunet, unet, vnet)**: the AMOS baselines were trained with the organisers' fork of
  nnU-Net v1 (branch ``code`` of JiYuanFeng/AMOS): SGD, lr 1e-2, momentum 0.99, Nesterov,
  weight decay 3e-5, poly decay with exponent 0.9, 1000 epochs x 250 iterations, batch 2,
  patch 64x160x160 (z, y, x), i.e. ``(160, 160, 64)`` in this package's (x, y, z) order, Dice +
  cross-entropy with deep supervision.
* **Transformers (unetr, swinunetr)**: as in their papers and MONAI's BTCV tutorials (Hatamizadeh
  et al., UNETR, WACV 2022; Swin UNETR, BrainLes 2021): AdamW, lr 1e-4, weight decay 1e-5, linear
  warm-up then cosine decay, patch 96^3.
* **segresnet**: as in its paper (Myronenko, BrainLes 2018): Adam, lr 1e-4, weight decay 1e-5,
  poly decay 0.9; patch taken from the AMOS CNN recipe.

The budget (1000 epochs x 250 iterations) is the AMOS benchmark's for every model so that models
are compared at equal training length.

Every model has a ``"tiny"`` variant (a few thousand to a few hundred thousand parameters) for CPU
smoke runs and tests; it keeps the architecture family but not its capacity.

Examples:
    >>> from amos_tutorial.models import build_model, get_model_spec
    >>> net = build_model("nnunet", variant="tiny")
    >>> get_model_spec("nnunet").patch_size
    (160, 160, 64)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from amos_tutorial.models.registry import QUICK_PATCH_SIZE, ModelSpec, register_model
from amos_tutorial.utils.geometry import check_patch_size

__all__ = [
    "CNN_RECIPE",
    "DEFAULT_SPACING",
    "TRANSFORMER_RECIPE",
    "NnUNetTopology",
    "TinyVNet",
    "build_nnunet",
    "build_segresnet",
    "build_swinunetr",
    "build_unet",
    "build_unetr",
    "build_vnet",
    "nnunet_topology",
]

#: Target spacing (x, y, z mm) of this package's preprocessing, used to derive nnU-Net's topology.
#: Kept equal to ``PreprocessConfig().spacing``; pass ``spacing=`` when you change the preprocessing.
DEFAULT_SPACING: tuple[float, float, float] = (1.5, 1.5, 2.0)

_CNN_PATCH = (160, 160, 64)
_TRANSFORMER_PATCH = (96, 96, 96)
_TINY_PATCH = (32, 32, 32)

#: Training recipe of the AMOS CNN baselines (organisers' nnU-Net v1 fork).
CNN_RECIPE: dict[str, Any] = {
    "optimizer": {"name": "sgd", "lr": 1e-2, "momentum": 0.99, "nesterov": True, "weight_decay": 3e-5},
    "schedule": {"name": "poly", "power": 0.9, "epochs": 1000, "iterations_per_epoch": 250},
    "source": "AMOS baselines: JiYuanFeng/AMOS branch 'code' (nnU-Net v1 fork), arXiv 2206.08023",
}

#: Training recipe of the transformer baselines (their papers, MONAI BTCV tutorials).
TRANSFORMER_RECIPE: dict[str, Any] = {
    "optimizer": {"name": "adamw", "lr": 1e-4, "weight_decay": 1e-5},
    "schedule": {"name": "cosine", "warmup_fraction": 0.02, "epochs": 1000, "iterations_per_epoch": 250},
    "source": "UNETR (arXiv 2103.10504) / Swin UNETR (arXiv 2201.01266) papers and MONAI BTCV tutorials; "
    "budget of the AMOS benchmark",
}

_SEGRESNET_RECIPE: dict[str, Any] = {
    "optimizer": {"name": "adam", "lr": 1e-4, "weight_decay": 1e-5},
    "schedule": {"name": "poly", "power": 0.9, "epochs": 1000, "iterations_per_epoch": 250},
    "source": "SegResNet paper (arXiv 1810.11654); patch and budget of the AMOS CNN baselines",
}


def _check_variant(variant: str) -> None:
    if variant not in ("full", "tiny"):
        raise ValueError(f"variant must be 'full' or 'tiny', got {variant!r}")


def _check_patch(patch_size: Sequence[int] | None, divisible_by: int | Sequence[int], model: str) -> None:
    if patch_size is None:
        return
    div = [divisible_by] * 3 if isinstance(divisible_by, int) else list(divisible_by)
    if len(patch_size) != 3 or any(int(p) <= 0 or int(p) % d for p, d in zip(patch_size, div)):
        raise ValueError(f"{model}: patch size {tuple(patch_size)} must be 3 positive sizes divisible by {tuple(div)}")


# --------------------------------------------------------------------------------------------
# nnU-Net topology
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NnUNetTopology:
    """The network layout nnU-Net derives from a patch size and a voxel spacing.

    Introduced in chapter *Training the baselines* (see :func:`nnunet_topology`).

    Attributes:
        kernel_sizes: Convolution kernel per resolution stage (``len = stages``).
        strides: Down-sampling stride per stage; the first is ``(1, 1, 1)``.
        filters: Feature maps per stage (base doubling, capped).
        pools_per_axis: How many times each axis is halved.
        divisible_by: Each patch axis must be a multiple of this (``2 ** pools_per_axis``).
    """

    kernel_sizes: tuple[tuple[int, int, int], ...]
    strides: tuple[tuple[int, int, int], ...]
    filters: tuple[int, ...]
    pools_per_axis: tuple[int, int, int]
    divisible_by: tuple[int, int, int]

    @property
    def num_pools(self) -> int:
        """Number of down-sampling steps (stages - 1)."""
        return len(self.strides) - 1


def nnunet_topology(
    patch_size: Sequence[int],
    spacing: Sequence[float] = DEFAULT_SPACING,
    base_filters: int = 32,
    max_filters: int = 320,
    min_feature_map: int = 4,
    max_pools: int = 999,
) -> NnUNetTopology:
    """Derive kernels, strides and filters from a patch and a spacing, the nnU-Net (v1, 3d_fullres) way.

    Introduced in chapter *Training the baselines*. Re-implements
    ``get_pool_and_conv_props`` of nnU-Net v1 (``nnunet/experiment_planning/common_utils.py``,
    Apache-2.0; Isensee et al., Nature Methods 2021), whose output feeds MONAI's ``DynUNet``:

    * an axis is pooled while its feature map is at least ``2 * min_feature_map`` voxels and its
      current spacing is less than twice the finest current spacing (so a thick-slice axis waits
      until the in-plane axes have caught up);
    * the convolution kernel is 3 along the largest group of axes whose spacings are within a
      factor 2 of each other, 1 along the others; the bottleneck always uses 3x3x3;
    * filters start at ``base_filters`` and double per stage up to ``max_filters`` (32..320 in 3D).

    Args:
        patch_size: Patch (x, y, z) in voxels.
        spacing: Voxel spacing (x, y, z) in mm of the preprocessed data.
        base_filters: Feature maps of the first stage.
        max_filters: Cap on the feature maps.
        min_feature_map: Smallest bottleneck edge (nnU-Net: 4).
        max_pools: Cap on pools per axis (nnU-Net 3D: 999, i.e. none).

    Returns:
        The :class:`NnUNetTopology`.

    Raises:
        ValueError: If the patch or spacing is not 3 positive numbers, or the patch is too small to pool.

    Examples:
        >>> t = nnunet_topology((160, 160, 64), spacing=(1.5, 1.5, 2.0))
        >>> t.strides[-1], t.filters
        ((2, 2, 1), (32, 64, 128, 256, 320, 320))
        >>> nnunet_topology((160, 160, 48), spacing=(0.7, 0.7, 5.0)).kernel_sizes[0]
        (3, 3, 1)
    """
    check_patch_size(patch_size)
    if len(spacing) != 3 or any(float(s) <= 0 for s in spacing):
        raise ValueError(f"spacing must be 3 positive numbers (x, y, z mm), got {tuple(spacing)}")
    if base_filters < 1 or max_filters < base_filters:
        raise ValueError(f"need 1 <= base_filters <= max_filters, got {base_filters}, {max_filters}")
    current_spacing = [float(s) for s in spacing]
    current_size = [float(p) for p in patch_size]
    pools = [0, 0, 0]
    kernels: list[tuple[int, int, int]] = []
    strides: list[tuple[int, int, int]] = [(1, 1, 1)]
    while True:
        min_spacing = min(current_spacing)
        valid = [i for i in range(3) if current_spacing[i] / min_spacing < 2]
        # The kernel is 3 along the biggest group of axes with spacings within a factor 2.
        axes: list[int] = []
        for a in range(3):
            partners = [
                i
                for i in range(3)
                if current_spacing[i] / current_spacing[a] < 2 and current_spacing[a] / current_spacing[i] < 2
            ]
            if len(partners) > len(axes):
                axes = partners
        kernel = tuple(3 if i in axes else 1 for i in range(3))
        valid = [i for i in valid if current_size[i] >= 2 * min_feature_map and pools[i] < max_pools]
        if not valid:
            break
        stride = tuple(2 if i in valid else 1 for i in range(3))
        for i in valid:
            pools[i] += 1
            current_spacing[i] *= 2
            current_size[i] /= 2
        kernels.append(kernel)  # type: ignore[arg-type]
        strides.append(stride)  # type: ignore[arg-type]
    if len(strides) < 2:
        raise ValueError(
            f"patch {tuple(patch_size)} is too small to pool at all (each axis needs >= {2 * min_feature_map} voxels)"
        )
    kernels.append((3, 3, 3))  # bottleneck
    filters = tuple(min(base_filters * 2**i, max_filters) for i in range(len(strides)))
    return NnUNetTopology(
        kernel_sizes=tuple(kernels),
        strides=tuple(strides),
        filters=filters,
        pools_per_axis=tuple(pools),  # type: ignore[arg-type]
        divisible_by=tuple(2**p for p in pools),  # type: ignore[arg-type]
    )


# --------------------------------------------------------------------------------------------
# Factories
# --------------------------------------------------------------------------------------------


def build_nnunet(
    in_channels: int = 1,
    out_channels: int = 16,
    variant: str = "full",
    patch_size: Sequence[int] | None = None,
    spacing: Sequence[float] | None = None,
    deep_supervision: bool = True,
) -> nn.Module:
    """nnU-Net's 3d_fullres network as MONAI ``DynUNet``.

    Introduced in chapter *Training the baselines*. Builds on ``monai.networks.nets.DynUNet`` with
    the topology of :func:`nnunet_topology`: instance norm (affine), leaky ReLU (0.01), transposed
    convolutions, 32..320 filters (tiny: 8..64). With deep supervision, in training mode the network
    returns a tensor ``(B, num_pools - 1, C, X, Y, Z)`` (all heads up-sampled to the patch, full
    resolution first); in eval mode the usual ``(B, C, X, Y, Z)``.

    Args:
        in_channels: Input channels.
        out_channels: Classes including background.
        variant: ``"full"`` or ``"tiny"``.
        patch_size: Patch (x, y, z) the topology is derived from (default: the variant's recipe patch).
        spacing: Spacing (x, y, z mm) of the preprocessed data (default :data:`DEFAULT_SPACING`).
        deep_supervision: Add nnU-Net's auxiliary outputs.

    Returns:
        The network.

    Examples:
        >>> net = build_nnunet(variant="tiny")
        >>> net.eval()(torch.zeros(1, 1, 32, 32, 32)).shape
        torch.Size([1, 16, 32, 32, 32])
    """
    from monai.networks.nets import DynUNet

    _check_variant(variant)
    patch = tuple(patch_size) if patch_size is not None else (_CNN_PATCH if variant == "full" else _TINY_PATCH)
    base, cap = (32, 320) if variant == "full" else (8, 64)
    topo = nnunet_topology(patch, spacing if spacing is not None else DEFAULT_SPACING, base, cap)
    _check_patch(patch, topo.divisible_by, "nnunet")
    use_ds = deep_supervision and topo.num_pools >= 3
    return DynUNet(
        spatial_dims=3,
        in_channels=in_channels,
        out_channels=out_channels,
        kernel_size=[list(k) for k in topo.kernel_sizes],
        strides=[list(s) for s in topo.strides],
        upsample_kernel_size=[list(s) for s in topo.strides[1:]],
        filters=list(topo.filters),
        norm_name=("INSTANCE", {"affine": True}),
        act_name=("leakyrelu", {"inplace": True, "negative_slope": 0.01}),
        deep_supervision=use_ds,
        deep_supr_num=topo.num_pools - 2 if use_ds else 1,
    )


def build_unet(
    in_channels: int = 1, out_channels: int = 16, variant: str = "full", patch_size: Sequence[int] | None = None
) -> nn.Module:
    """MONAI ``UNet`` (residual units, instance norm, PReLU).

    Introduced in chapter *Training the baselines*. Full: channels 16..256, 4 strided levels, 2
    residual units per block (the configuration of MONAI's 3D tutorials); tiny: 8..32, 2 levels.

    Args:
        in_channels: Input channels.
        out_channels: Classes including background.
        variant: ``"full"`` or ``"tiny"``.
        patch_size: Checked for divisibility (16 full, 4 tiny) when given.

    Returns:
        The network.

    Examples:
        >>> build_unet(variant="tiny").eval()(torch.zeros(1, 1, 32, 32, 32)).shape
        torch.Size([1, 16, 32, 32, 32])
    """
    from monai.networks.nets import UNet

    _check_variant(variant)
    if variant == "full":
        channels, strides, res = (16, 32, 64, 128, 256), (2, 2, 2, 2), 2
    else:
        channels, strides, res = (8, 16, 32), (2, 2), 1
    _check_patch(patch_size, 2 ** len(strides), "unet")
    return UNet(
        spatial_dims=3,
        in_channels=in_channels,
        out_channels=out_channels,
        channels=channels,
        strides=strides,
        num_res_units=res,
        norm="INSTANCE",
    )


class TinyVNet(nn.Module):
    """A two-level V-Net made of MONAI's own V-Net blocks, for CPU smoke runs.

    Introduced in chapter *Training the baselines*; builds on ``monai.networks.nets.vnet`` blocks.

    MONAI's ``VNet`` hard-codes 16..256 channels and four levels (45.6 M parameters); this keeps its
    blocks (5x5x5 input/output convolutions, residual down/up transitions, batch norm, ELU) with
    8..32 channels and two levels.

    Args:
        in_channels: Input channels (must divide 8).
        out_channels: Classes including background.
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 16) -> None:
        super().__init__()
        from monai.networks.nets.vnet import DownTransition, InputTransition, OutputTransition, UpTransition

        if 8 % in_channels:
            raise ValueError(f"TinyVNet: in_channels must divide 8, got {in_channels}")
        act = ("elu", {"inplace": True})
        self.in_tr = InputTransition(3, in_channels, 8, act)
        self.down16 = DownTransition(3, 8, 1, act)
        self.down32 = DownTransition(3, 16, 2, act)
        self.up32 = UpTransition(3, 32, 32, 1, act)
        self.up16 = UpTransition(3, 32, 16, 1, act)
        self.out_tr = OutputTransition(3, 16, out_channels, act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, out_channels, *spatial)`` for input ``(B, in_channels, *spatial)``."""
        out8 = self.in_tr(x)
        out16 = self.down16(out8)
        out32 = self.down32(out16)
        x = self.up32(out32, out16)
        x = self.up16(x, out8)
        return self.out_tr(x)


def build_vnet(
    in_channels: int = 1, out_channels: int = 16, variant: str = "full", patch_size: Sequence[int] | None = None
) -> nn.Module:
    """MONAI ``VNet`` (Milletari et al., 2016); tiny variant :class:`TinyVNet`.

    Introduced in chapter *Training the baselines*. Builds on ``monai.networks.nets.VNet`` with its
    defaults (dropout 0.5 in the deep blocks, batch norm, ELU).

    Args:
        in_channels: Input channels (must divide 16, tiny: 8).
        out_channels: Classes including background.
        variant: ``"full"`` or ``"tiny"``.
        patch_size: Checked for divisibility (16 full, 4 tiny) when given.

    Returns:
        The network.

    Examples:
        >>> build_vnet(variant="tiny").eval()(torch.zeros(1, 1, 32, 32, 32)).shape
        torch.Size([1, 16, 32, 32, 32])
    """
    from monai.networks.nets import VNet

    _check_variant(variant)
    if variant == "tiny":
        _check_patch(patch_size, 4, "vnet")
        return TinyVNet(in_channels, out_channels)
    _check_patch(patch_size, 16, "vnet")
    return VNet(spatial_dims=3, in_channels=in_channels, out_channels=out_channels)


def build_unetr(
    in_channels: int = 1, out_channels: int = 16, variant: str = "full", patch_size: Sequence[int] | None = None
) -> nn.Module:
    """MONAI ``UNETR``; its ``img_size`` is the training patch.

    Introduced in chapter *Training the baselines*. Full: ViT-B/16 encoder (hidden 768, MLP 3072,
    12 heads), feature size 16, as in the UNETR paper; tiny: hidden 48, MLP 96, 4 heads, feature 8.
    UNETR's position embedding is tied to ``img_size``, so inference must use the same window size
    (sliding window with ``roi_size = patch``).

    Args:
        in_channels: Input channels.
        out_channels: Classes including background.
        variant: ``"full"`` or ``"tiny"``.
        patch_size: Patch (x, y, z), multiple of 16 (default: 96^3 full, 32^3 tiny).

    Returns:
        The network.

    Examples:
        >>> build_unetr(variant="tiny").eval()(torch.zeros(1, 1, 32, 32, 32)).shape
        torch.Size([1, 16, 32, 32, 32])
    """
    from monai.networks.nets import UNETR

    _check_variant(variant)
    patch = tuple(patch_size) if patch_size is not None else (_TRANSFORMER_PATCH if variant == "full" else _TINY_PATCH)
    _check_patch(patch, 16, "unetr")
    if variant == "full":
        kw: dict[str, Any] = {"feature_size": 16, "hidden_size": 768, "mlp_dim": 3072, "num_heads": 12}
    else:
        kw = {"feature_size": 8, "hidden_size": 48, "mlp_dim": 96, "num_heads": 4}
    return UNETR(
        in_channels=in_channels, out_channels=out_channels, img_size=patch, norm_name="instance", res_block=True, **kw
    )


def build_swinunetr(
    in_channels: int = 1, out_channels: int = 16, variant: str = "full", patch_size: Sequence[int] | None = None
) -> nn.Module:
    """MONAI ``SwinUNETR`` (MONAI 1.6 API: no ``img_size``; ``feature_size`` divisible by 12).

    Introduced in chapter *Training the baselines*. Full: feature size 48, depths (2, 2, 2, 2), heads
    (3, 6, 12, 24), window 7, instance norm, as in the Swin UNETR paper's BTCV model; tiny: feature
    size 12, depths (1, 1, 1, 1), heads (1, 2, 4, 8), group norm.

    Args:
        in_channels: Input channels.
        out_channels: Classes including background.
        variant: ``"full"`` or ``"tiny"``.
        patch_size: Checked for divisibility by 32 when given.

    Returns:
        The network.

    Examples:
        >>> build_swinunetr(variant="tiny").eval()(torch.zeros(1, 1, 32, 32, 32)).shape
        torch.Size([1, 16, 32, 32, 32])
    """
    from monai.networks.nets import SwinUNETR

    _check_variant(variant)
    _check_patch(patch_size, 32, "swinunetr")
    if variant == "full":
        kw: dict[str, Any] = {"feature_size": 48, "depths": (2, 2, 2, 2), "num_heads": (3, 6, 12, 24)}
    else:
        # A 32^3 patch leaves a 1x1x1 bottleneck, where instance norm is undefined in training:
        # group norm (3 groups; every width is a multiple of 12) behaves the same at any size.
        kw = {
            "feature_size": 12,
            "depths": (1, 1, 1, 1),
            "num_heads": (1, 2, 4, 8),
            "norm_name": ("group", {"num_groups": 3}),
        }
    return SwinUNETR(in_channels=in_channels, out_channels=out_channels, spatial_dims=3, **kw)


def build_segresnet(
    in_channels: int = 1, out_channels: int = 16, variant: str = "full", patch_size: Sequence[int] | None = None
) -> nn.Module:
    """MONAI ``SegResNet`` (Myronenko, 2018).

    Introduced in chapter *Training the baselines*. Full: 32 initial filters, blocks (1, 2, 2, 4) down
    and (1, 1, 1) up, group norm (8 groups); tiny: 8 filters, blocks (1, 1, 1) / (1, 1).

    Args:
        in_channels: Input channels.
        out_channels: Classes including background.
        variant: ``"full"`` or ``"tiny"``.
        patch_size: Checked for divisibility (8 full, 4 tiny) when given.

    Returns:
        The network.

    Examples:
        >>> build_segresnet(variant="tiny").eval()(torch.zeros(1, 1, 32, 32, 32)).shape
        torch.Size([1, 16, 32, 32, 32])
    """
    from monai.networks.nets import SegResNet

    _check_variant(variant)
    if variant == "full":
        kw: dict[str, Any] = {"init_filters": 32, "blocks_down": (1, 2, 2, 4), "blocks_up": (1, 1, 1)}
        _check_patch(patch_size, 8, "segresnet")
    else:
        kw = {"init_filters": 8, "blocks_down": (1, 1, 1), "blocks_up": (1, 1)}
        _check_patch(patch_size, 4, "segresnet")
    return SegResNet(spatial_dims=3, in_channels=in_channels, out_channels=out_channels, **kw)


# --------------------------------------------------------------------------------------------
# Registry entries
# --------------------------------------------------------------------------------------------


def _register_all() -> None:
    cnn = {"optimizer": CNN_RECIPE["optimizer"], "schedule": CNN_RECIPE["schedule"]}
    trf = {"optimizer": TRANSFORMER_RECIPE["optimizer"], "schedule": TRANSFORMER_RECIPE["schedule"]}
    specs = [
        ModelSpec(
            name="nnunet",
            factory=build_nnunet,
            patch_size=_CNN_PATCH,
            batch_size=2,
            tiny_patch_size=_TINY_PATCH,
            quick_patch_size=QUICK_PATCH_SIZE,
            tiny_batch_size=2,
            deep_supervision=True,
            divisible_by=32,
            paper="Isensee et al., nnU-Net, Nature Methods 2021",
            description="nnU-Net 3d_fullres U-Net (MONAI DynUNet): topology from patch and spacing, deep supervision",
            extra={"source": CNN_RECIPE["source"]},
            **cnn,
        ),
        ModelSpec(
            name="unet",
            factory=build_unet,
            patch_size=_CNN_PATCH,
            batch_size=2,
            tiny_patch_size=_TINY_PATCH,
            quick_patch_size=QUICK_PATCH_SIZE,
            divisible_by=16,
            paper="Ronneberger et al., MICCAI 2015; Kerfoot et al., STACOM 2018 (residual units)",
            description="MONAI residual U-Net, 16..256 channels",
            extra={"source": CNN_RECIPE["source"]},
            **cnn,
        ),
        ModelSpec(
            name="vnet",
            factory=build_vnet,
            patch_size=_CNN_PATCH,
            batch_size=2,
            tiny_patch_size=_TINY_PATCH,
            quick_patch_size=QUICK_PATCH_SIZE,
            divisible_by=16,
            paper="Milletari et al., V-Net, 3DV 2016",
            description="V-Net: residual stages, 5x5x5 convolutions, strided-convolution down-sampling",
            extra={"source": CNN_RECIPE["source"]},
            **cnn,
        ),
        ModelSpec(
            name="unetr",
            factory=build_unetr,
            patch_size=_TRANSFORMER_PATCH,
            batch_size=2,
            tiny_patch_size=_TINY_PATCH,
            divisible_by=16,
            paper="Hatamizadeh et al., UNETR, WACV 2022",
            description="ViT encoder on 16^3 tokens with a convolutional decoder; img_size = patch",
            extra={"source": TRANSFORMER_RECIPE["source"]},
            **trf,
        ),
        ModelSpec(
            name="swinunetr",
            factory=build_swinunetr,
            patch_size=_TRANSFORMER_PATCH,
            batch_size=2,
            tiny_patch_size=_TINY_PATCH,
            divisible_by=32,
            paper="Hatamizadeh et al., Swin UNETR, BrainLes 2021",
            description="Swin transformer encoder (shifted windows) with a convolutional decoder",
            extra={"source": TRANSFORMER_RECIPE["source"]},
            **trf,
        ),
        ModelSpec(
            name="segresnet",
            factory=build_segresnet,
            patch_size=_CNN_PATCH,
            batch_size=2,
            tiny_patch_size=_TINY_PATCH,
            quick_patch_size=QUICK_PATCH_SIZE,
            divisible_by=8,
            paper="Myronenko, 3D MRI brain tumor segmentation using autoencoder regularization, BrainLes 2018",
            description="Residual encoder-decoder with group norm (without the VAE branch)",
            optimizer=_SEGRESNET_RECIPE["optimizer"],
            schedule=_SEGRESNET_RECIPE["schedule"],
            extra={"source": _SEGRESNET_RECIPE["source"]},
        ),
    ]
    for spec in specs:
        # Re-importing this module (e.g. importlib.reload in a notebook) must not fail.
        register_model(spec, overwrite=True)


_register_all()
