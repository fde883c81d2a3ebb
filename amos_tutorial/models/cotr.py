"""CoTr: a CNN encoder bridged to a deformable-transformer encoder, written in plain PyTorch.

Introduced in chapter *Training the baselines*. Reference: Y. Xie, J. Zhang, C. Shen, Y. Xia, "CoTr:
Efficiently Bridging CNN and Transformer for 3D Medical Image Segmentation", MICCAI 2021
(arXiv:2103.03024). This module was written for this project from the paper; it is not a copy of the
authors' code.

The idea: a transformer over every voxel of a 3-D feature map costs O(N^2). CoTr's *deformable*
self-attention (DeTrans, after Deformable DETR) lets each voxel attend to only ``K`` sampled
positions per head and per feature level, with the sampling offsets and the attention weights
predicted from the query itself, so the cost grows linearly with N and several resolutions can be
attended to at once (multi-scale deformable self-attention, MS-DMSA).

The network (input and output are (B, C, X, Y, Z), slices on the last axis):

* CNN encoder: a Conv-IN-LeakyReLU stem (stride ``stem_stride``, (2, 2, 1) by default because the
  slice axis is the coarsest one, as in the paper) and three stages of 3-D residual blocks (3, 3, 2
  blocks), each stage halving the resolution. Built on MONAI's ``Convolution`` and ``UnetResBlock``.
* DeTrans encoder: the ``detrans_levels`` coarsest feature maps are flattened into one token
  sequence, given a 3-D sine positional encoding plus a learned level embedding, and passed through
  ``depth`` DeTrans layers (MS-DMSA + feed-forward network, each followed by LayerNorm). The 3-D
  sampling is ``torch.nn.functional.grid_sample`` (trilinear), so no compiled CUDA extension is
  needed and the same code runs on CPU and GPU.
* Decoder: transposed convolutions, addition of the skip features (DeTrans outputs where a level
  went through DeTrans, CNN features elsewhere) and one residual block per level; the stem-level
  logits are upsampled trilinearly to the input size.

Defaults: DeTrans width 384, 6 layers, 6 heads, 4 sampling points, FFN width 1536, dropout 0.1, on
the two coarsest levels, CNN widths (64, 192, 384, 384). These follow the configuration the authors
released with the paper; choose ``detrans_levels=3`` to add the 1/4-resolution level (the
``192``-channel map is projected to the DeTrans width by a 1x1x1 convolution).

Choices of this port, where the paper leaves room: a 3x3x3 stem kernel; MONAI's residual block,
whose shortcut is a 1x1x1 convolution when a block changes width or stride; sampling offsets that
start along directions spread evenly over the sphere (a 3-D version of Deformable DETR's
initialisation); classification at the stem level before the final upsampling.

Output: one logit tensor (B, out_channels, X, Y, Z). With ``deep_supervision=True`` and the module in
training mode, a list ``[full, stem level, level 1, level 2]`` is returned, highest resolution first.
The registry entry keeps ``deep_supervision=False``: the single output trains with the same loss as
every single-output baseline (the AMOS organisers' code used deep supervision; the flag is there to
reproduce that).

Examples:
    >>> import torch
    >>> from amos_tutorial.models.cotr import build_cotr
    >>> net = build_cotr(1, 16, "tiny").eval()
    >>> net(torch.zeros(1, 1, 32, 32, 16)).shape
    torch.Size([1, 16, 32, 32, 16])
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from monai.networks.blocks import MLPBlock, UnetResBlock
from monai.networks.blocks.convolutions import Convolution

from amos_tutorial.models._blocks import as_3tuple, check_input, select_outputs
from amos_tutorial.models.monai_nets import CNN_RECIPE
from amos_tutorial.models.registry import ModelSpec, register_model
from amos_tutorial.utils.options import with_settings

__all__ = [
    "sine_position_encoding_3d",
    "reference_points_3d",
    "MSDeformableAttention3d",
    "DeTransLayer",
    "DeTransEncoder",
    "DeTransConfig",
    "CoTr",
    "build_cotr",
    "COTR_SPEC",
]

_NORM = ("instance", {"affine": True})
_ACT = ("leakyrelu", {"negative_slope": 0.01, "inplace": True})


def sine_position_encoding_3d(
    shape: Sequence[int], dim: int, device: torch.device | str | None = None, temperature: float = 10000.0
) -> torch.Tensor:
    """Fixed sine/cosine positional encoding of a 3-D grid, one ``dim``-vector per voxel.

    Introduced in chapter *Training the baselines*; builds on :mod:`torch`. Positions are normalised
    to the grid extent (voxel centres in (0, 2*pi)), so a model trained on one patch size sees
    comparable encodings on another. A third of the channels encodes each axis.

    Args:
        shape: Grid size (X, Y, Z).
        dim: Channels of the encoding.
        device: Device of the result.
        temperature: Base of the geometric frequency ladder.

    Returns:
        Tensor (X*Y*Z, dim), voxels in C order (x slowest, z fastest), like ``Tensor.flatten``.

    Examples:
        >>> sine_position_encoding_3d((4, 4, 2), 48).shape
        torch.Size([32, 48])
    """
    if len(shape) != 3 or dim <= 0:
        raise ValueError(f"need a 3-D shape and a positive dim, got shape={tuple(shape)}, dim={dim}")
    n_freq = math.ceil(dim / 6)
    freqs = temperature ** (torch.arange(n_freq, device=device, dtype=torch.float32) / n_freq)
    axes = [(torch.arange(n, device=device, dtype=torch.float32) + 0.5) / n * (2 * math.pi) for n in shape]
    grid = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, 3)
    angles = grid[:, :, None] / freqs  # (N, 3, n_freq)
    enc = torch.cat([angles.sin(), angles.cos()], dim=-1).reshape(grid.shape[0], -1)
    return enc[:, :dim]


def reference_points_3d(shape: Sequence[int], device: torch.device | str | None = None) -> torch.Tensor:
    """Normalised voxel centres of a 3-D grid, (X*Y*Z, 3) in (x, y, z) order, values in (0, 1).

    Introduced in chapter *Training the baselines*; builds on :mod:`torch`. Every query samples around
    its own position; normalised coordinates make that position meaningful on every feature level.

    Examples:
        >>> reference_points_3d((2, 1, 1)).tolist()
        [[0.25, 0.5, 0.5], [0.75, 0.5, 0.5]]
    """
    axes = [(torch.arange(n, device=device, dtype=torch.float32) + 0.5) / n for n in shape]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, 3)


def _head_directions(num_heads: int) -> torch.Tensor:
    # Spread the heads' initial sampling directions evenly over the sphere (a Fibonacci lattice),
    # the 3-D counterpart of Deformable DETR's ring of directions, so that heads start diverse.
    i = torch.arange(num_heads, dtype=torch.float64) + 0.5
    polar = torch.acos(1 - 2 * i / num_heads)
    azimuth = math.pi * (1 + 5**0.5) * i
    dirs = torch.stack([polar.sin() * azimuth.cos(), polar.sin() * azimuth.sin(), polar.cos()], dim=-1)
    return (dirs / dirs.abs().amax(dim=-1, keepdim=True)).float()


class MSDeformableAttention3d(nn.Module):
    """Multi-scale deformable self-attention over 3-D feature maps (MS-DMSA), in plain PyTorch.

    Introduced in chapter *Training the baselines*; builds on ``torch.nn.functional.grid_sample``.
    For each query, head ``h``, level ``l`` and point ``k`` a linear layer predicts an offset (in
    voxels of level ``l``) from the query's reference point, and another predicts an attention
    weight (softmax over the ``L*K`` points of a head); the output is the weighted sum of the values
    sampled trilinearly at those positions.

    Args:
        dim: Token width.
        num_heads: Attention heads; ``dim`` must be divisible by it.
        num_levels: Feature levels attended to.
        num_points: Sampling points per head and level.

    Examples:
        >>> import torch
        >>> attn = MSDeformableAttention3d(24, 2, 2, 4)
        >>> shapes = [(4, 4, 2), (2, 2, 1)]
        >>> x = torch.randn(1, 36, 24)
        >>> ref = torch.cat([reference_points_3d(s) for s in shapes])
        >>> attn(x, ref, x, shapes).shape
        torch.Size([1, 36, 24])
    """

    def __init__(self, dim: int, num_heads: int, num_levels: int, num_points: int) -> None:
        super().__init__()
        for name, value in (("dim", dim), ("num_heads", num_heads), ("num_levels", num_levels), ("num_points", num_points)):
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if dim % num_heads:
            raise ValueError(f"dim ({dim}) must be divisible by num_heads ({num_heads})")
        self.dim, self.num_heads, self.num_levels, self.num_points = dim, num_heads, num_levels, num_points
        self.sampling_offsets = nn.Linear(dim, num_heads * num_levels * num_points * 3)
        self.attention_weights = nn.Linear(dim, num_heads * num_levels * num_points)
        self.value_proj = nn.Linear(dim, dim)
        self.output_proj = nn.Linear(dim, dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Start with fixed, diverse sampling patterns and uniform attention (as Deformable DETR does)."""
        nn.init.zeros_(self.sampling_offsets.weight)
        dirs = _head_directions(self.num_heads)[:, None, None, :]  # (H, 1, 1, 3)
        steps = torch.arange(1, self.num_points + 1, dtype=torch.float32)[None, None, :, None]
        bias = (dirs * steps).expand(self.num_heads, self.num_levels, self.num_points, 3)
        with torch.no_grad():
            self.sampling_offsets.bias.copy_(bias.reshape(-1))
        nn.init.zeros_(self.attention_weights.weight)
        nn.init.zeros_(self.attention_weights.bias)
        for lin in (self.value_proj, self.output_proj):
            nn.init.xavier_uniform_(lin.weight)
            nn.init.zeros_(lin.bias)

    def forward(
        self,
        query: torch.Tensor,
        reference_points: torch.Tensor,
        value: torch.Tensor,
        spatial_shapes: Sequence[Sequence[int]],
    ) -> torch.Tensor:
        """Attend.

        Args:
            query: (B, N, dim) queries (features plus positional encoding).
            reference_points: (N, 3) normalised (x, y, z) position of each query, values in [0, 1].
            value: (B, N, dim) the flattened feature levels, concatenated in ``spatial_shapes`` order.
            spatial_shapes: (X, Y, Z) of each level; their voxel counts must sum to N.

        Returns:
            (B, N, dim).
        """
        b, n, _ = query.shape
        shapes = [tuple(int(s) for s in shape) for shape in spatial_shapes]
        if len(shapes) != self.num_levels or sum(math.prod(s) for s in shapes) != value.shape[1]:
            raise ValueError(
                f"expected {self.num_levels} levels whose voxels sum to {value.shape[1]} tokens, got shapes {shapes}"
            )
        h, l_, k = self.num_heads, self.num_levels, self.num_points
        dh = self.dim // h
        v = self.value_proj(value).view(b, -1, h, dh)
        # Sampling positions and weights stay in float32 under autocast: in bfloat16 a normalised
        # coordinate would be off by up to a sixth of a voxel on a 40-voxel level.
        offsets = self.sampling_offsets(query).float().view(b, n, h, l_, k, 3)
        weights = self.attention_weights(query).float().view(b, n, h, l_ * k).softmax(-1).view(b, n, h, l_, k)
        sizes = torch.tensor(shapes, dtype=torch.float32, device=offsets.device)  # (L, 3)
        loc = reference_points.float()[None, :, None, None, None, :] + offsets / sizes[None, None, None, :, None, :]
        # grid_sample wants coordinates in [-1, 1] ordered (W, H, D) = our (z, y, x) for a (D=X, H=Y, W=Z) volume.
        grid = (2.0 * loc - 1.0).flip(-1)
        out = torch.zeros(b * h, dh, n, device=query.device, dtype=torch.float32)
        start = 0
        for lvl, shape in enumerate(shapes):
            count = math.prod(shape)
            v_l = v[:, start : start + count].permute(0, 2, 3, 1).reshape(b * h, dh, *shape)
            g_l = grid[:, :, :, lvl].permute(0, 2, 1, 3, 4).reshape(b * h, n, k, 1, 3)
            sampled = F.grid_sample(v_l.float(), g_l, mode="bilinear", padding_mode="zeros", align_corners=False)
            w_l = weights[:, :, :, lvl].permute(0, 2, 1, 3).reshape(b * h, 1, n, k, 1)
            out = out + (sampled * w_l).sum(dim=(-2, -1))
            start += count
        out = out.view(b, h * dh, n).transpose(1, 2)
        return self.output_proj(out.to(value.dtype))


class DeTransLayer(nn.Module):
    """One DeTrans layer: MS-DMSA and a feed-forward network, each with a residual and LayerNorm.

    Introduced in chapter *Training the baselines*; builds on :class:`MSDeformableAttention3d` and
    MONAI's ``MLPBlock`` (GELU).

    Args:
        dim: Token width.
        num_heads: Attention heads.
        num_levels: Feature levels.
        num_points: Sampling points per head and level.
        ffn_dim: Hidden width of the feed-forward network.
        dropout: Dropout after attention and inside the feed-forward network.

    Examples:
        >>> import torch
        >>> layer = DeTransLayer(24, 2, 1, 2, 48)
        >>> tokens = torch.randn(1, 8, 24)
        >>> pos = sine_position_encoding_3d((2, 2, 2), 24)[None]
        >>> layer(tokens, pos, reference_points_3d((2, 2, 2)), [(2, 2, 2)]).shape
        torch.Size([1, 8, 24])
    """

    def __init__(self, dim: int, num_heads: int, num_levels: int, num_points: int, ffn_dim: int, dropout: float = 0.1) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.attn = MSDeformableAttention3d(dim, num_heads, num_levels, num_points)
        self.drop = nn.Dropout(dropout)
        self.norm1 = nn.LayerNorm(dim)
        self.ffn = MLPBlock(dim, ffn_dim, dropout_rate=dropout, act="GELU")
        self.norm2 = nn.LayerNorm(dim)

    def forward(
        self, src: torch.Tensor, pos: torch.Tensor, reference_points: torch.Tensor, spatial_shapes: Sequence[Sequence[int]]
    ) -> torch.Tensor:
        """Apply the layer to tokens ``src`` (B, N, dim) with positional encoding ``pos`` (1 or B, N, dim)."""
        src = self.norm1(src + self.drop(self.attn(src + pos, reference_points, src, spatial_shapes)))
        return self.norm2(src + self.ffn(src))


class DeTransEncoder(nn.Module):
    """The DeTrans encoder: flatten several feature levels into one sequence and apply DeTrans layers.

    Introduced in chapter *Training the baselines*; builds on :class:`DeTransLayer`.

    Args:
        dim: Token width (channels of every input level).
        depth: Number of DeTrans layers.
        num_heads: Attention heads.
        num_levels: Number of input feature maps.
        num_points: Sampling points per head and level.
        ffn_dim: Hidden width of the feed-forward networks.
        dropout: Dropout rate.

    Examples:
        >>> import torch
        >>> enc = DeTransEncoder(24, 1, 2, 2, 2, 48)
        >>> outs = enc([torch.randn(1, 24, 4, 4, 2), torch.randn(1, 24, 2, 2, 1)])
        >>> [tuple(o.shape) for o in outs]
        [(1, 24, 4, 4, 2), (1, 24, 2, 2, 1)]
    """

    def __init__(
        self, dim: int, depth: int, num_heads: int, num_levels: int, num_points: int, ffn_dim: int, dropout: float = 0.1
    ) -> None:
        super().__init__()
        if not isinstance(depth, int) or depth <= 0:
            raise ValueError(f"depth must be a positive int, got {depth!r}")
        self.dim, self.num_levels = dim, num_levels
        self.level_embed = nn.Parameter(torch.empty(num_levels, dim))
        nn.init.normal_(self.level_embed)
        self.layers = nn.ModuleList(
            DeTransLayer(dim, num_heads, num_levels, num_points, ffn_dim, dropout) for _ in range(depth)
        )

    def forward(self, features: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Map a list of (B, dim, X_l, Y_l, Z_l) maps (finest first) to maps of the same shapes."""
        if len(features) != self.num_levels:
            raise ValueError(f"expected {self.num_levels} feature levels, got {len(features)}")
        shapes = [tuple(int(s) for s in f.shape[2:]) for f in features]
        device = features[0].device
        src = torch.cat([f.flatten(2).transpose(1, 2) for f in features], dim=1)
        pos = torch.cat(
            [sine_position_encoding_3d(s, self.dim, device) + self.level_embed[i] for i, s in enumerate(shapes)], dim=0
        )[None].to(src.dtype)
        ref = torch.cat([reference_points_3d(s, device) for s in shapes], dim=0)
        for layer in self.layers:
            src = layer(src, pos, ref, shapes)
        outs, start = [], 0
        for f, s in zip(features, shapes):
            count = math.prod(s)
            outs.append(src[:, start : start + count].transpose(1, 2).reshape(f.shape[0], self.dim, *s))
            start += count
        return outs


@dataclass(frozen=True)
class DeTransConfig:
    """The DeTrans encoder of :class:`CoTr`, with the paper's constructor arguments.

    Introduced in chapter *Training the baselines*.

    Attributes:
        dim: DeTrans token width.
        depth: DeTrans layers.
        num_heads: DeTrans attention heads.
        num_points: Sampling points per head and level.
        ffn_dim: DeTrans feed-forward width.
        dropout: DeTrans dropout.
    """

    dim: int = 384
    depth: int = 6
    num_heads: int = 6
    num_points: int = 4
    ffn_dim: int = 1536
    dropout: float = 0.1


class CoTr(nn.Module):
    """CoTr segmentation network (CNN encoder, DeTrans encoder, CNN decoder).

    Introduced in chapter *Training the baselines*; builds on MONAI blocks and
    :class:`DeTransEncoder`. See the module docstring for the architecture.

    Args:
        in_channels: Input channels (1 for CT or MRI).
        out_channels: Classes including background (16 for AMOS).
        widths: Channels of the stem and of the three encoder stages.
        blocks: Residual blocks in each of the three encoder stages.
        stem_stride: Stride (x, y, z) of the stem convolution.
        detrans_levels: How many of the coarsest encoder levels (1-3) go through DeTrans.
        deep_supervision: In training mode, return logits at every decoder level (highest
            resolution first) instead of one tensor.
        detrans: The DeTrans encoder (:class:`DeTransConfig`: token width, layers, heads, sampling points,
            feed-forward width, dropout).
        **settings: Fields of :class:`DeTransConfig` given as keywords (``dim=24``, ``depth=1``...); they
            override ``detrans``.

    Raises:
        ValueError: For inconsistent arguments, and (in ``forward``) for an input whose size is not
            a multiple of :attr:`divisors` or leaves a single voxel at the coarsest level.
        TypeError: For a keyword that is not a field of :class:`DeTransConfig`.

    Examples:
        >>> import torch
        >>> net = CoTr(1, 3, widths=(8, 16, 24, 24), blocks=(1, 1, 1), dim=24, depth=1, num_heads=2, ffn_dim=48)
        >>> net.divisors
        (16, 16, 8)
        >>> net.eval()(torch.zeros(1, 1, 16, 32, 8)).shape
        torch.Size([1, 3, 16, 32, 8])
        >>> net(torch.zeros(1, 1, 16, 16, 8))
        Traceback (most recent call last):
        ...
        ValueError: cotr: patch (16, 16, 8) is too small: its coarsest feature map would be (1, 1, 1) voxel(s) and the network needs at least 2; the smallest supported patches are like (16, 16, 16)
    """

    model_name = "cotr"

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 16,
        widths: Sequence[int] = (64, 192, 384, 384),
        blocks: Sequence[int] = (3, 3, 2),
        stem_stride: int | Sequence[int] = (2, 2, 1),
        detrans_levels: int = 2,
        *,
        deep_supervision: bool = False,
        detrans: DeTransConfig | None = None,
        **settings: Any,
    ) -> None:
        super().__init__()
        config = with_settings(DeTransConfig, detrans, settings)
        dim, depth, num_heads, num_points = config.dim, config.depth, config.num_heads, config.num_points
        ffn_dim, dropout = config.ffn_dim, config.dropout
        widths, blocks = tuple(widths), tuple(blocks)
        if in_channels <= 0 or out_channels <= 0:
            raise ValueError(f"in_channels and out_channels must be positive, got {in_channels}, {out_channels}")
        if len(widths) != 4 or any(w <= 0 for w in widths):
            raise ValueError(f"widths must be four positive ints (stem, stage 1-3), got {widths}")
        if len(blocks) != 3 or any(b <= 0 for b in blocks):
            raise ValueError(f"blocks must be three positive ints (stage 1-3), got {blocks}")
        if detrans_levels not in (1, 2, 3):
            raise ValueError(f"detrans_levels must be 1, 2 or 3, got {detrans_levels}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.stem_stride = as_3tuple(stem_stride, "stem_stride")
        self.divisors = tuple(s * 8 for s in self.stem_stride)
        self.deep_supervision = deep_supervision
        self.detrans_first = 4 - detrans_levels  # index of the finest level that goes through DeTrans

        self.stem = Convolution(
            3, in_channels, widths[0], strides=self.stem_stride, kernel_size=3, act=_ACT, norm=_NORM, bias=False
        )
        self.stages = nn.ModuleList()
        for i in range(3):
            layers = [UnetResBlock(3, widths[i], widths[i + 1], 3, 2, _NORM, _ACT)]
            layers += [UnetResBlock(3, widths[i + 1], widths[i + 1], 3, 1, _NORM, _ACT) for _ in range(blocks[i] - 1)]
            self.stages.append(nn.Sequential(*layers))

        def proj(c_in: int, c_out: int) -> nn.Module:
            return nn.Identity() if c_in == c_out else nn.Conv3d(c_in, c_out, 1)

        levels = range(self.detrans_first, 4)
        self.to_tokens = nn.ModuleList(proj(widths[i], dim) for i in levels)
        self.from_tokens = nn.ModuleList(proj(dim, widths[i]) for i in levels)
        self.detrans = DeTransEncoder(dim, depth, num_heads, detrans_levels, num_points, ffn_dim, dropout)

        self.up = nn.ModuleList(nn.ConvTranspose3d(widths[i + 1], widths[i], 2, 2, bias=False) for i in range(3))
        self.decode = nn.ModuleList(UnetResBlock(3, widths[i], widths[i], 3, 1, _NORM, _ACT) for i in range(3))
        self.head = nn.Conv3d(widths[0], out_channels, 1)
        self.aux_heads = (
            nn.ModuleList(nn.Conv3d(widths[i], out_channels, 1) for i in range(3)) if deep_supervision else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        """Segment a batch (B, C, X, Y, Z) into logits (B, out_channels, X, Y, Z)."""
        check_input(x, self.model_name, self.in_channels, self.divisors, min_coarse_voxels=2)
        feats = [self.stem(x)]
        for stage in self.stages:
            feats.append(stage(feats[-1]))
        first = self.detrans_first
        tokens = self.detrans([p(f) for p, f in zip(self.to_tokens, feats[first:])])
        for i, (p, t) in enumerate(zip(self.from_tokens, tokens)):
            feats[first + i] = p(t)

        y = feats[3]
        decoded = []
        for i in (2, 1, 0):
            y = self.decode[i](self.up[i](y) + feats[i])
            decoded.append(y)
        # The 1x1x1 classifier and trilinear upsampling are both linear (interpolation weights sum to
        # one), so classifying first gives the same logits while upsampling 16 channels instead of 64.
        outputs = [F.interpolate(self.head(y), size=x.shape[2:], mode="trilinear", align_corners=False)]
        if self.aux_heads is not None and self.training:
            # decoded holds levels 2, 1, 0; the trainer expects the highest resolution first.
            outputs += [self.aux_heads[i](d) for i, d in zip((0, 1, 2), decoded[::-1])]
        return select_outputs(outputs, self.deep_supervision, self.training)


_TINY = dict(widths=(16, 32, 48, 48), blocks=(1, 1, 1), dim=48, depth=2, num_heads=4, num_points=4, ffn_dim=96)


def build_cotr(
    in_channels: int = 1, out_channels: int = 16, variant: str = "full", patch_size: Sequence[int] | None = None
) -> CoTr:
    """Registry factory of CoTr.

    Introduced in chapter *Training the baselines*; builds on :class:`CoTr`.

    Args:
        in_channels: Input channels.
        out_channels: Classes including background.
        variant: ``"full"`` (the paper's configuration, see the module docstring) or ``"tiny"``
            (widths 16-48, one block per stage, a 2-layer DeTrans of width 48: a CPU smoke model).
        patch_size: Training patch (x, y, z), checked here so that a bad patch fails before
            training starts; CoTr accepts any multiple of (16, 16, 8) except (16, 16, 8) itself,
            whose 1x1x1 coarsest map instance normalisation cannot normalise.

    Returns:
        The network (single-tensor output).

    Raises:
        ValueError: For an unknown variant or an unsupported patch.

    Examples:
        >>> net = build_cotr(1, 16, "tiny")
        >>> net.divisors
        (16, 16, 8)
    """
    if variant not in ("full", "tiny"):
        raise ValueError(f"cotr: variant must be 'full' or 'tiny', got {variant!r}")
    net = CoTr(in_channels, out_channels) if variant == "full" else CoTr(in_channels, out_channels, **_TINY)
    if patch_size is not None:
        patch = as_3tuple(tuple(patch_size), "patch_size")
        check_input(
            torch.empty(1, in_channels, *patch, device="meta"), net.model_name, in_channels, net.divisors, min_coarse_voxels=2
        )
    return net


COTR_SPEC = register_model(
    ModelSpec(
        name="cotr",
        factory=build_cotr,
        # The AMOS benchmark trained CoTr with its organisers' nnU-Net v1 fork, like every baseline:
        # patch 64x160x160 (z, y, x), batch 2, SGD 1e-2 / 0.99 Nesterov, poly 0.9, 1000 x 250
        # iterations (CNN_RECIPE). The CoTr paper trained BCV with its own patch and schedule.
        patch_size=(160, 160, 64),
        batch_size=2,
        optimizer=dict(CNN_RECIPE["optimizer"]),
        schedule=dict(CNN_RECIPE["schedule"]),
        tiny_patch_size=(32, 32, 32),
        tiny_batch_size=2,
        deep_supervision=False,
        divisible_by=16,  # x and y need 16, z needs 8: one int must cover every axis
        paper="Xie et al., CoTr, MICCAI 2021, arXiv:2103.03024",
        description="CNN encoder + multi-scale deformable self-attention (grid_sample, no CUDA extension) + CNN decoder",
        extra={
            "axis_divisors": (16, 16, 8),
            "published": {
                "params_M": "not found in the sources we could read",
                "amos_dice_nnunet_revisited": 88.02,
                "amos_train_vram_gb_nnunet_revisited": 8.2,
                "source": "nnU-Net Revisited (Isensee et al., MICCAI 2024), MIC-DKFZ/nnUNet documentation/resenc_presets.md; "
                "5-fold CV on 360 AMOS cases, their own patch and batch",
            },
        },
    )
)
