"""The residual-encoder U-Net (``resenc``) and the named augmentations (``off``, ``default``, ``da5``).

Cross-checks against nnU-Net v2 itself: its ResEnc M / L planners, its topology function and its
``get_network_from_plans`` must give the network ``build_model("resenc", ...)`` builds.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from amos_tutorial.cli import build_parser
from amos_tutorial.models import build_model, build_model_for_patch, count_parameters, get_model_spec
from amos_tutorial.models.resenc import RESENC_RECIPES, init_identity, resenc_arch_kwargs, resenc_topology
from amos_tutorial.training import TrainConfig, load_config, load_run, make_config, save_config
from amos_tutorial.training.config import PRESETS
from amos_tutorial.transforms.augment import (
    AUGMENTATIONS,
    AugmentConfig,
    draw_augment_params,
    get_augmentation,
    intensity_augment,
)

pytest.importorskip("dynamic_network_architectures")

#: AMOS's median image (x, y, z voxels and mm; AMOS_FACTS: 103 x 512 x 512 of 5.0 x 0.713 x 0.713 mm in z, y, x).
AMOS_MEDIAN_SHAPE = (512, 512, 103)
AMOS_MEDIAN_SPACING = (0.713, 0.713, 5.0)
PACKAGE_SPACING = (1.5, 1.5, 2.0)


def _nnunet_network(arch_kwargs: dict, deep_supervision: bool = True) -> torch.nn.Module:
    """The network nnU-Net builds from a plans file's ``architecture`` block."""
    from nnunetv2.utilities.get_network_from_plans import get_network_from_plans

    return get_network_from_plans(
        "dynamic_network_architectures.architectures.unet.ResidualEncoderUNet",
        arch_kwargs,
        ("conv_op", "norm_op", "dropout_op", "nonlin"),
        1,
        16,
        deep_supervision=deep_supervision,
    )


def _same_weights_layout(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    assert all(sa[k].shape == sb[k].shape for k in sa)


@pytest.fixture(scope="module")
def planner_dataset(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A minimal nnU-Net dataset (dataset.json + fingerprint) so nnU-Net's planners can be instantiated."""
    pytest.importorskip("nnunetv2")
    from amos_tutorial.nnunet.env import nnunet_folders

    root = tmp_path_factory.mktemp("nnunet")
    folders = nnunet_folders(root)
    name = "Dataset990_ResEncCheck"
    raw = folders["nnUNet_raw"] / name
    pre = folders["nnUNet_preprocessed"] / name
    raw.mkdir(parents=True)
    pre.mkdir(parents=True)
    labels = {"background": 0, **{f"organ{i}": i for i in range(1, 16)}}
    dataset = {"channel_names": {"0": "CT"}, "labels": labels, "numTraining": 0, "file_ending": ".nii.gz"}
    (raw / "dataset.json").write_text(json.dumps({**dataset, "dataset": {}}))
    (pre / "dataset_fingerprint.json").write_text(json.dumps({"median_relative_size_after_cropping": 1.0}))
    return name


@pytest.mark.slow
@pytest.mark.parametrize("variant,planner", [("M", "nnUNetPlannerResEncM"), ("L", "nnUNetPlannerResEncL")])
def test_resenc_is_the_network_of_nnunets_resenc_planner(variant, planner, planner_dataset):
    from nnunetv2.experiment_planning.experiment_planners.residual_unets import residual_encoder_unet_planners

    # nnU-Net's own planner, on AMOS's median image resampled to this package's grid, in nnU-Net's (z, y, x) order.
    median = [round(n * s / t) for n, s, t in zip(AMOS_MEDIAN_SHAPE, AMOS_MEDIAN_SPACING, PACKAGE_SPACING)]
    plans = getattr(residual_encoder_unet_planners, planner)(planner_dataset)
    plan = plans.get_plans_for_configuration(
        PACKAGE_SPACING[::-1], median[::-1], "check", float(np.prod(median)) * 360, {}
    )  # fmt: skip
    patch = tuple(int(p) for p in plan["patch_size"][::-1])
    assert patch == RESENC_RECIPES[variant]["patch_size"]
    assert int(plan["batch_size"]) == RESENC_RECIPES[variant]["batch_size"]
    assert get_model_spec("resenc").recipe_for(variant) == (patch, int(plan["batch_size"]))

    theirs = _nnunet_network(plan["architecture"]["arch_kwargs"])
    ours = build_model_for_patch("resenc", variant, patch_size=patch, spacing=PACKAGE_SPACING)
    assert count_parameters(ours) == count_parameters(theirs)
    _same_weights_layout(ours, theirs)  # a checkpoint of one loads into the other


@pytest.mark.parametrize(
    "patch,spacing",
    [
        ((128, 128, 128), (1.5, 1.5, 2.0)),
        ((160, 160, 64), (0.7, 0.7, 5.0)),  # thick slices: z waits, kernels 3x3x1 first
        ((192, 160, 80), (0.8, 0.8, 2.5)),
        ((32, 32, 32), (3.0, 3.0, 4.0)),  # the quick grid of the tiny variant
        ((96, 48, 24), (1.0, 1.0, 1.0)),  # a lone axis stops at 3 x the minimum feature map
    ],
)
def test_topology_equals_nnunet_v2(patch, spacing):
    from nnunetv2.experiment_planning.experiment_planners.network_topology import get_pool_and_conv_props

    pytest.importorskip("nnunetv2")
    pools, strides, kernels, _, _ = get_pool_and_conv_props(spacing[::-1], patch[::-1], 4, 999999)
    topo = resenc_topology(patch, spacing)
    assert topo.pools_per_axis == tuple(pools[::-1])
    assert topo.strides == tuple(tuple(s[::-1]) for s in strides)
    assert topo.kernel_sizes == tuple(tuple(k[::-1]) for k in kernels)


def test_arch_kwargs_build_the_same_network_through_nnunets_code_path():
    pytest.importorskip("nnunetv2")
    for variant, patch, spacing in [("tiny", (32, 32, 32), (3.0, 3.0, 4.0)), ("M", (160, 160, 64), (0.8, 0.8, 3.0))]:
        kwargs = resenc_arch_kwargs(variant, patch, spacing)
        ours = build_model_for_patch("resenc", variant, patch_size=patch, spacing=spacing)
        theirs = _nnunet_network(kwargs)
        assert count_parameters(ours) == count_parameters(theirs) > 0
        _same_weights_layout(ours, theirs)


def test_variants_and_their_errors():
    spec = get_model_spec("resenc")
    assert set(spec.variants) == {"full", "tiny", "M", "L"}
    assert spec.recipe_for("full") == spec.recipe_for("M")
    assert make_config("resenc", preset="full", variant="L").patch_size == RESENC_RECIPES["L"]["patch_size"]
    assert make_config("resenc", preset="full").patch_size == RESENC_RECIPES["M"]["patch_size"]
    assert spec.optimizer["name"] == "sgd"
    assert spec.optimizer["momentum"] == 0.99
    assert spec.optimizer["nesterov"]
    assert spec.schedule["name"] == "poly"
    assert spec.deep_supervision
    with pytest.raises(ValueError, match="resenc: variant must be one of .*got 'XL'"):
        build_model("resenc", variant="XL")
    with pytest.raises(ValueError, match="unet: variant must be one of .*got 'M'"):
        make_config("unet", variant="M")
    with pytest.raises(ValueError, match="unet: variant must be one of"):
        TrainConfig(model="unet", variant="L")
    with pytest.raises(ValueError, match=r"divisible by \(8, 8, 8\)"):
        build_model_for_patch("resenc", "tiny", patch_size=(36, 32, 32), spacing=(3.0, 3.0, 4.0))


def test_tiny_is_small_and_the_m_variant_large():
    tiny = count_parameters(build_model("resenc", "tiny"))
    assert tiny < 2e6
    kwargs = resenc_arch_kwargs("M")
    assert kwargs["features_per_stage"][-1] == 320
    assert max(kwargs["features_per_stage"]) == 320
    assert kwargs["n_blocks_per_stage"] == (1, 3, 4, 6, 6, 6)
    assert kwargs["norm_op"].endswith("InstanceNorm3d")


def test_identity_initialisation_makes_every_residual_branch_vanish():
    from dynamic_network_architectures.building_blocks.residual import BasicBlockD

    torch.manual_seed(0)
    net = build_model("resenc", "tiny")
    blocks = [m for m in net.modules() if isinstance(m, BasicBlockD)]
    assert len(blocks) == sum(resenc_arch_kwargs("tiny")["n_blocks_per_stage"])
    for block in blocks:
        assert not block.conv2.norm.weight.any()
        assert not block.conv2.norm.bias.any()
        x = torch.randn(1, block.conv1.conv.in_channels, 8, 8, 8)
        # act(residual + skip) with a vanishing residual: the block is act(skip(x)) (the identity on the skip).
        assert torch.allclose(block(x), block.nonlin2(block.skip(x)), atol=1e-6)
    # He initialisation everywhere else: the convolutions are not zero.
    assert all(m.weight.abs().sum() > 0 for m in net.modules() if isinstance(m, torch.nn.Conv3d))
    # init_identity on a freshly perturbed network zeroes them again and counts the blocks.
    for block in blocks:
        torch.nn.init.ones_(block.conv2.norm.weight)
    assert init_identity(net) == len(blocks)
    assert all(not b.conv2.norm.weight.any() for b in blocks)


def test_deep_supervision_in_training_and_logits_in_eval():
    net = build_model("resenc", "tiny")
    stages = resenc_arch_kwargs("tiny")["n_stages"]
    outs = net.train()(torch.randn(2, 1, 32, 32, 32))
    assert isinstance(outs, list)
    assert len(outs) == stages - 2  # the coarsest (nnU-Net weight 0) is dropped
    assert [o.shape[2] for o in outs] == [32 // 2**i for i in range(stages - 2)]
    assert net.eval()(torch.randn(1, 1, 32, 32, 32)).shape == (1, 16, 32, 32, 32)


@pytest.mark.slow
def test_tiny_resenc_trains_through_the_package_trainer(synthetic_root, tmp_path):
    from amos_tutorial.training.trainer import run_training

    torch.set_num_threads(1)
    config = make_config(
        "resenc", preset="smoke", data=str(synthetic_root), iterations=2, iterations_per_epoch=1, device="cpu",
        augment="da5", cache_dir=str(tmp_path / "cache"),
    )  # fmt: skip
    result = run_training(config, tmp_path / "run", progress=False)
    assert result.completed
    assert all(math.isfinite(v) for v in result.losses.values())
    torch.manual_seed(config.seed)  # the trainer's initial weights
    initial = build_model_for_patch("resenc", "tiny", config.patch_size, config.preprocess["spacing"])
    trained, _ = load_run(result.run_dir, checkpoint="last")
    before, after = initial.state_dict(), trained.state_dict()
    # Gradients reached the first convolution and moved the zero-initialised norms off zero.
    assert not torch.equal(before["encoder.stem.convs.0.conv.weight"], after["encoder.stem.convs.0.conv.weight"])
    zeroed = [k for k in before if k.endswith("conv2.norm.weight")]
    assert zeroed
    assert all(after[k].abs().sum() > 0 for k in zeroed)
    assert load_config(result.run_dir).augment == "da5"


# ----------------------------------------------------------------------------------------------
# Named augmentations
# ----------------------------------------------------------------------------------------------


def test_augmentations_are_named():
    assert set(AUGMENTATIONS) == {"off", "default", "da5"}
    assert AUGMENTATIONS["off"] is None
    assert AUGMENTATIONS["default"] == AugmentConfig()
    with pytest.raises(ValueError, match="unknown augmentation 'strong'"):
        get_augmentation("strong")


def test_da5_draws_rotations_up_to_30_degrees_and_zooms_in_its_range():
    n = 20_000
    p = draw_augment_params(n, AUGMENTATIONS["da5"], torch.Generator().manual_seed(0))
    angles = torch.rad2deg(p["angle"].abs())
    rotated = angles > 0
    # Uniform in +-30 degrees on 40 % of the samples: the largest of ~8000 draws is within 0.1 degree of 30.
    assert angles.max() <= 30.0
    assert angles.max() > 29.9
    assert abs(rotated.float().mean() - 0.4) < 0.02
    assert abs(angles[rotated].mean() - 15.0) < 0.5
    zoomed = p["zoom"] != 1
    assert p["zoom"].min() >= 0.7
    assert p["zoom"].max() <= 1.43
    assert p["zoom"].min() < 0.71
    assert p["zoom"].max() > 1.42
    # The zoom is independent of the rotation (nnU-Net's p_scaling 0.2).
    assert abs(zoomed.float().mean() - 0.2) < 0.02
    assert abs((zoomed & rotated).float().mean() - 0.08) < 0.015
    # The default stays milder.
    d = draw_augment_params(n, AUGMENTATIONS["default"], torch.Generator().manual_seed(0))
    assert torch.rad2deg(d["angle"].abs()).max() <= 15.0
    assert d["zoom"].min() >= 0.85


def test_default_draws_are_unchanged_by_the_extended_transforms():
    # With the extended fields off nothing extra is drawn (the generator ends where it did before they existed)
    # and their values are neutral; turning one on leaves the default set's draws as they were.
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    p = draw_augment_params(64, AugmentConfig(), g1)
    draw_augment_params(64, AugmentConfig(gamma_prob=0.9, noise_prob=0.0), g2)
    assert torch.equal(g1.get_state(), g2.get_state())
    assert (p["blur_sigma"] == 0).all()
    assert (p["contrast"] == 1).all()
    assert (p["low_res"] == 1).all()
    assert (p["invert_gamma"] == 1).all()
    q = draw_augment_params(64, AugmentConfig(blur_prob=0.5), torch.Generator().manual_seed(3))
    for key in ("flip", "rot90", "angle", "zoom", "int_scale", "int_shift", "gamma", "noise_std"):
        assert torch.equal(p[key], q[key]), key
    assert (q["blur_sigma"] > 0).any()


def test_da5_intensity_transforms_do_what_they_say():
    torch.manual_seed(0)
    x = torch.rand(4, 1, 16, 16, 16)
    neutral = draw_augment_params(4, AugmentConfig(**{**_off(), "gamma_prob": 0.0}), torch.Generator().manual_seed(0))

    def run(**changes):
        p = {k: v.clone() for k, v in neutral.items()}
        p.update({k: torch.full((4,), float(v), dtype=torch.float64) for k, v in changes.items()})
        return intensity_augment(x.clone(), p)

    assert torch.equal(run(), x)
    blurred = run(blur_sigma=1.5)
    assert blurred.std() < 0.5 * x.std()
    assert torch.allclose(blurred.mean(), x.mean(), atol=0.02)
    contrast = run(contrast=2.0)
    dims = (1, 2, 3, 4)
    assert torch.allclose(contrast.std(dim=dims), 2 * x.std(dim=dims), rtol=1e-4)
    assert torch.allclose(contrast.mean(dim=dims), x.mean(dim=dims), atol=1e-5)
    low = run(low_res=0.25)
    assert low.std() < x.std()
    assert not torch.equal(low, x)
    inverted = run(invert_gamma=1.5)
    assert torch.allclose(inverted.amin(dim=dims), x.amin(dim=dims))
    assert torch.allclose(inverted.amax(dim=dims), x.amax(dim=dims))
    assert (inverted >= x - 1e-6).all()
    assert not torch.allclose(inverted, x)  # gamma > 1 on 1 - x brightens


def _off() -> dict:
    return {f: 0.0 for f in ("flip_prob", "rot90_prob", "affine_prob", "intensity_scale_prob", "intensity_shift_prob",
                             "noise_prob")}  # fmt: skip


def test_the_sampler_applies_a_named_augmentation():
    from amos_tutorial.transforms.preprocessing import PreprocessedCase
    from amos_tutorial.transforms.sampler import PatchSampler

    g = torch.Generator().manual_seed(0)
    image = torch.rand(1, 40, 40, 24, generator=g)
    label = torch.zeros(1, 40, 40, 24, dtype=torch.uint8)
    label[0, 10:30, 10:30, 6:18] = 6
    vol = PreprocessedCase("amos_0001", "CT", image, label, {"spacing": (1.5, 1.5, 2.0)})
    off = PatchSampler([vol], (16, 16, 16), 8, augment="off", seed=1).batch(0)
    da5 = PatchSampler([vol], (16, 16, 16), 8, augment="da5", seed=1)
    assert da5.augment
    assert da5.augment_config == AUGMENTATIONS["da5"]
    batch = da5.batch(0)
    assert batch["image"].shape == off["image"].shape
    assert not torch.equal(batch["image"], off["image"])
    assert set(batch["label"].unique().tolist()) <= {0, 6}
    assert not PatchSampler([vol], (16, 16, 16), 2, augment="off").augment
    with pytest.raises(ValueError, match="unknown augmentation 'da6'"):
        PatchSampler([vol], (16, 16, 16), 2, augment="da6")


def test_augment_is_a_name_in_the_config_and_old_boolean_configs_load(tmp_path):
    assert make_config("unet").augment == "default"
    assert make_config("resenc", augment="da5").augment == "da5"
    for old, name in ((True, "default"), (False, "off")):
        d = make_config("unet").to_dict()
        d["augment"] = old
        path = tmp_path / f"{old}.json"
        path.write_text(json.dumps(d))
        assert load_config(path).augment == name
    with pytest.raises(ValueError) as err:
        make_config("unet", augment="strong")
    assert "'strong'" in str(err.value)
    assert "\n" not in str(err.value)
    bad = make_config("unet").to_dict()
    bad["augment"] = "strong"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(ValueError) as err:
        load_config(path)
    assert str(path) in str(err.value)
    assert "'strong'" in str(err.value)
    assert "\n" not in str(err.value)
    saved = save_config(make_config("unet", augment="off"), tmp_path / "run" / "config.json")
    assert json.loads(Path(saved).read_text())["augment"] == "off"


def test_cli_options_parse(capsys):
    parser = build_parser()
    args = parser.parse_args(["train", "--model", "resenc", "--out", "x", "--augment", "da5", "--variant", "L"])
    assert args.augment == "da5"
    assert args.variant == "L"
    assert parser.parse_args(["train", "--out", "x"]).augment is None  # the preset's default stays
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--out", "x", "--augment", "strong"])
    assert "strong" in capsys.readouterr().err


def test_monai_preset_runs_the_da5_transforms():
    from amos_tutorial.transforms.chains import augmentation_transforms

    names = [type(t).__name__ for t in augmentation_transforms((16, 16, 16), config=AUGMENTATIONS["da5"]).transforms]
    for name in ("RandGaussianSmoothd", "RandScaleIntensityFixedMeand", "RandSimulateLowResolutiond"):
        assert name in names
    plain = [type(t).__name__ for t in augmentation_transforms((16, 16, 16)).transforms]
    assert "RandGaussianSmoothd" not in plain


def test_every_preset_keeps_the_default_augmentation():
    for preset in PRESETS:
        assert make_config("resenc", preset=preset).augment == "default"


def test_bench_models_lists_resenc_and_its_named_sizes(capsys):
    from amos_tutorial.benchmark.models import measure_model
    from amos_tutorial.cli import main as amos_main

    row = measure_model("resenc", "tiny", batch=1, mode="train", repeats=1)
    assert row["error"] is None
    assert row["patch"] == "32x32x32"
    assert row["s_per_step"] > 0
    assert measure_model("unet", "M")["error"].startswith("ValueError: unet: variant must be one of")
    assert amos_main(["bench", "models", "--variant", "L", "--device", "cpu"]) == 0
    table = capsys.readouterr().out
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert rows == [line for line in rows if line.startswith("| resenc | L | 192x192x192 | 2 |")]
    assert rows
    with pytest.raises(SystemExit) as exc:  # argparse: --variant takes the names some model defines
        amos_main(["bench", "models", "--variant", "XL", "--device", "cpu"])
    assert exc.value.code == 2
    assert "invalid choice: 'XL'" in capsys.readouterr().err
