"""Tests of the plain-PyTorch CoTr and nnFormer ports and of `amos bench models`.

Everything runs the ``tiny`` variants on patches of at most 64x64x32 voxels with one torch thread.
The attention layers are checked against independent references: the deformable sampling against
scipy's ``map_coordinates``, the windowed attention through which voxels can influence which.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.ndimage import map_coordinates

from amos_tutorial.models import build_model_for_patch, get_model_spec
from amos_tutorial.models.cotr import CoTr, DeTransConfig, MSDeformableAttention3d, build_cotr, reference_points_3d
from amos_tutorial.models.nnformer import (
    NnFormer,
    NnFormerConfig,
    VolumeTransformerBlock,
    build_nnformer,
    relative_position_index,
)

torch.set_num_threads(1)

BUILDERS = {"cotr": build_cotr, "nnformer": build_nnformer}
SUPPORTED = {
    "cotr": [(16, 16, 16), (32, 32, 32), (64, 48, 8)],
    "nnformer": [(32, 32, 16), (32, 32, 32), (64, 32, 48)],
}
# Each breaks one axis rule: x for cotr (multiple of 16), z for nnformer (multiple of 16 on z).
UNSUPPORTED = {"cotr": ((24, 32, 32), "(16, 16, 8)"), "nnformer": ((32, 32, 24), "(32, 32, 16)")}


def _tiny(name: str, seed: int = 0, **kwargs) -> torch.nn.Module:
    torch.manual_seed(seed)
    return BUILDERS[name](1, 16, "tiny", **kwargs)


@pytest.fixture(scope="module")
def tiny_nets() -> dict[str, torch.nn.Module]:
    return {name: _tiny(name).eval() for name in BUILDERS}


# --- registry entries -------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_registry_entry_is_consistent_with_the_network(name):
    spec = get_model_spec(name)
    net = spec.factory(1, 16, "tiny")
    assert tuple(spec.extra["axis_divisors"]) == net.divisors
    for divisor in net.divisors:
        assert spec.divisible_by % divisor == 0, "the registry's single divisor must satisfy every axis"
    for patch in (spec.patch_size, spec.tiny_patch_size):
        assert all(p % spec.divisible_by == 0 for p in patch)
    assert spec.optimizer["name"] == "sgd"
    assert spec.schedule["name"] == "poly"
    assert spec.deep_supervision is False
    assert "arXiv" in spec.paper


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_unknown_variant_is_rejected(name):
    with pytest.raises(ValueError, match=f"{name}: variant"):
        BUILDERS[name](1, 16, "huge")


# --- shapes and patch checks ------------------------------------------------------------------


@pytest.mark.parametrize("name,patch", [(n, p) for n, ps in SUPPORTED.items() for p in ps])
def test_output_shape_matches_input_for_supported_patches(tiny_nets, name, patch):
    x = torch.randn(2, 1, *patch)
    with torch.no_grad():
        out = tiny_nets[name](x)
    assert out.shape == (2, 16, *patch)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_unsupported_patch_raises_clear_error(tiny_nets, name):
    patch, divisors = UNSUPPORTED[name]
    with pytest.raises(ValueError) as info:
        tiny_nets[name](torch.zeros(1, 1, *patch))
    message = str(info.value)
    assert message.startswith(f"{name}:")
    assert str(patch) in message
    assert divisors in message
    # The registry factory rejects it too, before any training starts.
    with pytest.raises(ValueError, match=f"^{name}:.*divisible"):
        build_model_for_patch(name, "tiny", patch_size=patch)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_wrong_channel_count_is_rejected(tiny_nets, name):
    with pytest.raises(ValueError, match=f"^{name}: expected 1 input channel"):
        tiny_nets[name](torch.zeros(1, 2, 32, 32, 32))


def test_cotr_refuses_a_patch_leaving_one_voxel_at_the_coarsest_level(tiny_nets):
    # Instance normalisation cannot normalise a single voxel: say so instead of failing inside torch.
    with pytest.raises(ValueError, match=r"^cotr: patch \(16, 16, 8\) is too small"):
        tiny_nets["cotr"](torch.zeros(1, 1, 16, 16, 8))


def test_nnformer_refuses_inputs_larger_than_its_patch():
    net = _tiny("nnformer", patch_size=(64, 64, 32)).eval()
    with torch.no_grad():
        assert net(torch.zeros(1, 1, 64, 64, 32)).shape == (1, 16, 64, 64, 32)
    with pytest.raises(ValueError, match=r"^nnformer: patch \(96, 64, 32\) is larger than \(64, 64, 32\)"):
        net(torch.zeros(1, 1, 96, 64, 32))


# --- gradients, determinism, deep supervision -------------------------------------------------


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_every_parameter_receives_a_finite_gradient(name):
    from monai.losses import DiceCELoss

    net = _tiny(name).train()
    x = torch.randn(2, 1, 32, 32, 32)
    y = torch.randint(0, 16, (2, 1, 32, 32, 32))
    DiceCELoss(to_onehot_y=True, softmax=True)(net(x), y).backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None]
    assert not missing, f"parameters without gradient: {missing}"
    bad = [n for n, p in net.named_parameters() if not torch.isfinite(p.grad).all()]
    assert not bad, f"non-finite gradients: {bad}"
    # The gradient reaches the attention machinery, not only the convolutions around it.
    attn = [p.grad for n, p in net.named_parameters() if "sampling_offsets" in n or "relative_position_bias" in n]
    assert attn
    assert any(g.abs().sum() > 0 for g in attn)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_same_seed_gives_identical_outputs_and_another_seed_differs(name):
    x = torch.randn(1, 1, 32, 32, 32, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        a = _tiny(name, seed=1).eval()(x)
        b = _tiny(name, seed=1).eval()(x)
        c = _tiny(name, seed=2).eval()(x)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)



def _weights(build) -> list[torch.Tensor]:
    torch.manual_seed(0)
    return list(build().state_dict().values())


@pytest.mark.parametrize(
    ("by_keywords", "by_config"),
    [
        (lambda: CoTr(1, 3, widths=(8, 16, 24, 24), blocks=(1, 1, 1), dim=24, depth=1, num_heads=2, ffn_dim=48),
         lambda: CoTr(1, 3, widths=(8, 16, 24, 24), blocks=(1, 1, 1),
                      detrans=DeTransConfig(dim=24, depth=1, num_heads=2, ffn_dim=48))),
        (lambda: NnFormer(1, 3, (64, 64, 32), embed_dim=12, depths=(1, 1, 1, 1), num_heads=(1, 1, 2, 2)),
         lambda: NnFormer(1, 3, (64, 64, 32), config=NnFormerConfig(embed_dim=12, depths=(1, 1, 1, 1),
                                                                    num_heads=(1, 1, 2, 2)))),
    ],
    ids=["cotr", "nnformer"],
)  # fmt: skip
def test_the_config_object_builds_the_network_the_keywords_build(by_keywords, by_config):
    a, b = _weights(by_keywords), _weights(by_config)
    assert len(a) == len(b)
    assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_an_unknown_network_setting_is_named():
    with pytest.raises(TypeError, match="heads"):
        CoTr(1, 3, heads=2)
    with pytest.raises(TypeError, match="embed"):
        NnFormer(1, 3, embed=12)

def test_deep_supervision_returns_highest_resolution_first():
    torch.manual_seed(0)
    nets = {
        "cotr": CoTr(1, 3, widths=(8, 16, 24, 24), blocks=(1, 1, 1), dim=24, depth=1, num_heads=2, ffn_dim=48,
                     deep_supervision=True),
        "nnformer": NnFormer(1, 3, (64, 64, 32), embed_dim=12, depths=(1, 1, 1, 1), num_heads=(1, 1, 2, 2),
                             deep_supervision=True),
    }  # fmt: skip
    x = torch.randn(1, 1, 64, 64, 32)
    for name, net in nets.items():
        outs = net.train()(x)
        assert isinstance(outs, list), name
        assert len(outs) >= 3, name
        assert outs[0].shape == (1, 3, 64, 64, 32)
        sizes = [math.prod(o.shape[2:]) for o in outs]
        assert sizes == sorted(sizes, reverse=True), f"{name}: outputs not ordered by resolution: {sizes}"
        sum(o.float().mean() for o in outs).backward()
        assert all(p.grad is not None for p in net.parameters()), name
        with torch.no_grad():
            assert net.eval()(x).shape == (1, 3, 64, 64, 32)


# --- the attention layers against independent references ---------------------------------------


def _reference_msda(attn: MSDeformableAttention3d, query, value, shapes) -> torch.Tensor:
    """Deformable attention computed voxel by voxel with scipy's trilinear interpolation."""
    b, n, dim = query.shape
    h, l_, k = attn.num_heads, attn.num_levels, attn.num_points
    dh = dim // h
    with torch.no_grad():
        v = attn.value_proj(value).numpy()
        offsets = attn.sampling_offsets(query).view(b, n, h, l_, k, 3).numpy()
        weights = attn.attention_weights(query).view(b, n, h, l_ * k).softmax(-1).view(b, n, h, l_, k).numpy()
    ref = torch.cat([reference_points_3d(s) for s in shapes]).numpy()
    starts = np.cumsum([0] + [math.prod(s) for s in shapes])
    out = np.zeros((b, n, dim))
    for bi in range(b):
        for lvl, shape in enumerate(shapes):
            vol = v[bi, starts[lvl] : starts[lvl + 1]].reshape(*shape, dim)
            size = np.array(shape, dtype=float)
            for hi in range(h):
                loc = ref[:, None, :] + offsets[bi, :, hi, lvl] / size  # (n, k, 3), normalised x, y, z
                idx = (loc * size - 0.5).reshape(-1, 3).T  # voxel index coordinates
                for c in range(dh):
                    ch = hi * dh + c
                    sampled = map_coordinates(vol[..., ch], idx, order=1, mode="grid-constant", cval=0.0)
                    out[bi, :, ch] += (sampled.reshape(n, k) * weights[bi, :, hi, lvl]).sum(-1)
    with torch.no_grad():
        return attn.output_proj(torch.from_numpy(out).float())


def test_deformable_attention_matches_scipy_trilinear_reference():
    torch.manual_seed(0)
    shapes = [(4, 3, 2), (2, 2, 1)]  # non-cubic, so any swapped axis shows
    attn = MSDeformableAttention3d(dim=8, num_heads=2, num_levels=2, num_points=3)
    with torch.no_grad():  # random offsets of a few voxels instead of the structured initialisation
        attn.sampling_offsets.weight.normal_(0, 0.5)
        attn.sampling_offsets.bias.normal_(0, 1.5)
        attn.attention_weights.weight.normal_(0, 0.5)
    n = sum(math.prod(s) for s in shapes)
    query, value = torch.randn(2, n, 8), torch.randn(2, n, 8)
    ref = torch.cat([reference_points_3d(s) for s in shapes])
    with torch.no_grad():
        got = attn(query, ref, value, shapes)
    torch.testing.assert_close(got, _reference_msda(attn, query, value, shapes), atol=1e-5, rtol=1e-4)


def test_deformable_attention_offset_of_one_voxel_along_x_reads_the_next_voxel():
    shape = (4, 3, 2)
    attn = MSDeformableAttention3d(dim=4, num_heads=1, num_levels=1, num_points=1)
    with torch.no_grad():
        for lin in (attn.value_proj, attn.output_proj):
            lin.weight.copy_(torch.eye(4))
            lin.bias.zero_()
        attn.sampling_offsets.bias.copy_(torch.tensor([1.0, 0.0, 0.0]))
        value = torch.randn(1, math.prod(shape), 4)
        out = attn(torch.zeros_like(value), reference_points_3d(shape), value, [shape])
    vol, res = value.view(*shape, 4), out.view(*shape, 4)
    torch.testing.assert_close(res[:-1], vol[1:])
    assert torch.all(res[-1] == 0), "beyond the border the sample is zero padding"


def test_relative_position_index_of_a_smaller_window_reuses_the_same_offsets():
    full = relative_position_index((3, 3, 2), (3, 3, 2))
    small = relative_position_index((2, 1, 2), (3, 3, 2))
    # Voxel (i, j, k) of the small window is voxel (i, j, k) of the full one: same offset, same row.
    small_coords = [(i, j, k) for i in range(2) for j in range(1) for k in range(2)]
    flat = [i * 6 + j * 2 + k for i, j, k in small_coords]
    assert torch.equal(small, full[flat][:, flat])
    assert full.unique().numel() == 5 * 5 * 3  # every offset of a 3x3x2 window, each once
    with pytest.raises(ValueError, match="no larger than"):
        relative_position_index((4, 1, 1), (3, 3, 2))


def _influence(block: VolumeTransformerBlock, where: tuple[int, int, int], context: bool = False) -> torch.Tensor:
    """Which output voxels change when the input (or the context) at ``where`` changes."""
    torch.manual_seed(0)
    x = torch.randn(1, 4, 4, 4, 8)
    ctx = torch.randn(1, 4, 4, 4, 8) if block.cross else None
    # A random change: a constant one would vanish in the LayerNorm in front of the attention.
    kick = 3.0 * torch.randn(8)
    with torch.no_grad():
        base = block(x, ctx)
        if context:
            ctx = ctx.clone()
            ctx[(0, *where)] += kick
        else:
            x = x.clone()
            x[(0, *where)] += kick
        changed = (block(x, ctx) - base).abs().amax(-1)[0] > 1e-6
    return changed


def test_local_window_attention_stays_inside_its_window():
    torch.manual_seed(0)
    plain = VolumeTransformerBlock(8, 2, (2, 2, 2), shift=False, table_window=(2, 2, 2)).eval()
    expected = torch.zeros(4, 4, 4, dtype=torch.bool)
    expected[0:2, 0:2, 0:2] = True
    assert torch.equal(_influence(plain, (1, 1, 1)), expected)


def test_shifted_windows_move_by_half_a_window_and_mask_wrapped_voxels():
    torch.manual_seed(0)
    shifted = VolumeTransformerBlock(8, 2, (2, 2, 2), shift=True, table_window=(2, 2, 2)).eval()
    expected = torch.zeros(4, 4, 4, dtype=torch.bool)
    expected[1:3, 1:3, 1:3] = True
    assert torch.equal(_influence(shifted, (1, 1, 1)), expected)
    # Voxel (0, 0, 0) shares its shifted window with voxels of the opposite border, which the
    # cyclic shift brought there; the mask must keep them apart.
    only_itself = torch.zeros(4, 4, 4, dtype=torch.bool)
    only_itself[0, 0, 0] = True
    assert torch.equal(_influence(shifted, (0, 0, 0)), only_itself)


def test_global_attention_reaches_every_voxel_and_skip_attention_reads_the_context():
    torch.manual_seed(0)
    glob = VolumeTransformerBlock(8, 2, None, shift=False, table_window=(4, 4, 4)).eval()
    assert _influence(glob, (0, 0, 0)).all()
    skip = VolumeTransformerBlock(8, 2, (2, 2, 2), shift=False, table_window=(2, 2, 2), cross=True).eval()
    expected = torch.zeros(4, 4, 4, dtype=torch.bool)
    expected[2:4, 0:2, 0:2] = True
    assert torch.equal(_influence(skip, (3, 1, 0), context=True), expected)


# --- training smoke test ----------------------------------------------------------------------


def _blob_case(shape=(32, 32, 32)) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed volume with two spherical 'organs' of different brightness, plus noise."""
    grid = np.stack(np.meshgrid(*[np.arange(s) for s in shape], indexing="ij"), -1).astype(float)
    label = np.zeros(shape, dtype=np.int64)
    label[np.linalg.norm(grid - (10, 12, 10), axis=-1) < 6] = 1
    label[np.linalg.norm(grid - (22, 20, 21), axis=-1) < 7] = 2
    rng = np.random.default_rng(0)
    image = np.choose(label, [0.0, 1.0, -1.0]) + rng.normal(0, 0.3, shape)
    return torch.from_numpy(image).float()[None, None], torch.from_numpy(label)[None, None]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_smoke_training_reduces_the_loss(name):
    from monai.losses import DiceCELoss

    torch.manual_seed(0)
    net = BUILDERS[name](1, 3, "tiny").train()
    image, label = _blob_case()
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = loss_fn(net(image), label)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(math.isfinite(v) for v in losses)
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:3]), losses


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_full_variant_runs_at_a_small_patch(name):
    torch.manual_seed(0)
    net = BUILDERS[name](1, 16, "full").eval()
    with torch.no_grad():
        out = net(torch.randn(1, 1, 32, 32, 16))
    assert out.shape == (1, 16, 32, 32, 16)
    assert torch.isfinite(out).all()


# --- amos bench models (amos_tutorial.benchmark.models) -------------------------------------


def test_model_report_measures_a_training_step_and_writes_csv(tmp_path, capsys):
    from amos_tutorial.benchmark.models import measure_model
    from amos_tutorial.cli import main as amos_main

    row = measure_model("cotr", "tiny", patch=(16, 16, 16), batch=1, mode="train", repeats=1)
    assert row["error"] is None, row["error"]
    assert row["params_M"] > 0
    assert row["s_per_step"] > 0
    assert row["peak_gib"] >= row["rss_before_gib"] > 0
    bad = measure_model("cotr", "tiny", patch=(24, 16, 8), batch=1, mode="forward")
    assert bad["error"].startswith("ValueError: cotr: patch (24, 16, 8)")

    out = tmp_path / "report.csv"
    code = amos_main(["bench", "models", "--models", "nnformer,cotr", "--variant", "tiny", "--mode", "forward",
                      "--patch-size", "32,32,16", "--batch-size", "1", "--repeats", "1", "--device", "cpu",
                      "--in-process", "--out", str(out)])  # fmt: skip
    assert code == 0
    table = capsys.readouterr().out
    assert "| nnformer | tiny | 32x32x16 |" in table
    assert "| cotr | tiny | 32x32x16 |" in table
    lines = out.read_text().splitlines()
    assert lines[0].startswith("model,variant,patch")
    assert len(lines) == 3


def test_nnformer_mlp_ratio_sets_the_width_of_every_blocks_mlp():
    def widths(net):
        return {m.linear1.out_features // m.linear1.in_features for m in net.modules() if type(m).__name__ == "MLPBlock"}

    small = dict(patch_size=(32, 32, 16), embed_patch=(2, 2, 1), embed_dim=8, num_heads=(1, 1, 1, 1), window=(2, 2, 2))
    assert widths(NnFormer(**small)) == {4}  # the paper's ratio, the default
    assert widths(NnFormer(**small, mlp_ratio=2.0)) == {2}
    with pytest.raises(ValueError, match="mlp_ratio"):
        NnFormer(**small, mlp_ratio=0.0)
