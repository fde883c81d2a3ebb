"""The model registry: every baseline builds, takes its patch and returns 16-class logits."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from amos_tutorial.models import build_model, build_model_for_patch, count_parameters, get_model_spec, list_models
from amos_tutorial.models.monai_nets import (
    DEFAULT_SPACING,
    TinyVNet,
    nnunet_topology,
)
from amos_tutorial.training.losses import as_output_list, deep_supervision_weights

MONAI_BASELINES = ("unet", "vnet", "unetr", "swinunetr", "nnunet", "segresnet")
NUM_CLASSES = 16


def test_registry_holds_every_baseline():
    names = set(list_models())
    assert set(MONAI_BASELINES) <= names
    assert {"cotr", "nnformer"} <= names  # registered by their own modules, imported by the package


@pytest.mark.parametrize("name", list_models())
def test_recommended_patches_fit_the_architecture(name):
    spec = get_model_spec(name)
    for patch in (spec.patch_size, spec.tiny_patch_size):
        assert len(patch) == 3
        assert all(p % spec.divisible_by == 0 for p in patch), (name, patch, spec.divisible_by)
    assert spec.batch_size >= 1
    assert spec.tiny_batch_size >= 1
    assert spec.optimizer["lr"] > 0
    assert spec.schedule["name"] in ("poly", "cosine", "constant")


def test_cnn_recipes_follow_the_amos_baselines():
    # AMOS baselines (organisers' nnU-Net v1 fork): SGD 1e-2, momentum 0.99, Nesterov, poly 0.9,
    # 1000 x 250 iterations, patch 64x160x160 (z, y, x) = (160, 160, 64) in (x, y, z).
    for name in ("nnunet", "unet", "vnet"):
        spec = get_model_spec(name)
        assert spec.optimizer["name"] == "sgd"
        assert spec.optimizer["nesterov"] is True
        assert math.isclose(spec.optimizer["lr"], 1e-2)
        assert math.isclose(spec.optimizer["momentum"], 0.99)
        assert spec.schedule["name"] == "poly"
        assert math.isclose(spec.schedule["power"], 0.9)
        assert spec.schedule["epochs"] * spec.schedule["iterations_per_epoch"] == 1000 * 250
        assert spec.patch_size == (160, 160, 64)
    for name in ("unetr", "swinunetr"):
        spec = get_model_spec(name)
        assert spec.optimizer["name"] == "adamw"
        assert spec.schedule["name"] == "cosine"
        assert spec.patch_size == (96, 96, 96)
    assert get_model_spec("nnunet").deep_supervision


@pytest.mark.parametrize("name", list_models())
def test_tiny_variant_returns_logits_for_its_patch(name):
    torch.manual_seed(0)
    spec = get_model_spec(name)
    net = build_model_for_patch(name, "tiny", spec.tiny_patch_size)
    x = torch.randn(spec.tiny_batch_size, 1, *spec.tiny_patch_size)
    with torch.no_grad():
        net.eval()
        out = net(x)
        assert tuple(out.shape) == (spec.tiny_batch_size, NUM_CLASSES, *spec.tiny_patch_size)
        assert torch.isfinite(out).all()
        net.train()
        outputs = as_output_list(net(x))
    assert tuple(outputs[0].shape) == (spec.tiny_batch_size, NUM_CLASSES, *spec.tiny_patch_size)
    if spec.deep_supervision:
        assert len(outputs) > 1
    # Tiny means tiny: small enough for a CPU smoke run.
    assert count_parameters(net) < 5_000_000


@pytest.mark.slow
def test_full_variants_are_larger_than_tiny_ones():
    torch.set_num_threads(1)
    counts = {}
    for name in MONAI_BASELINES:
        full = count_parameters(build_model(name, "full"))
        tiny = count_parameters(build_model(name, "tiny"))
        assert full > 10 * tiny, name
        counts[name] = full
    # The transformers are the big ones (UNETR's ViT-B encoder, Swin UNETR at feature size 48).
    assert counts["unetr"] > counts["nnunet"] > counts["unet"]


def test_nnunet_topology_isotropic_follows_the_pooling_rule():
    patch = (128, 128, 96)
    topo = nnunet_topology(patch, spacing=(1.0, 1.0, 1.0))
    for axis, size in enumerate(patch):
        # Pool while the feature map is >= 2 * 4 voxels: floor(log2(size / 4)) pools.
        assert topo.pools_per_axis[axis] == math.floor(math.log2(size / 4))
        assert size // topo.divisible_by[axis] >= 4
        assert size % topo.divisible_by[axis] == 0
    assert topo.strides[0] == (1, 1, 1)
    assert len(topo.kernel_sizes) == len(topo.strides) == len(topo.filters)
    assert all(k == (3, 3, 3) for k in topo.kernel_sizes)
    assert topo.filters[0] == 32
    assert max(topo.filters) == 320
    assert list(topo.filters) == sorted(topo.filters)


def test_nnunet_topology_anisotropic_waits_on_the_thick_axis():
    topo = nnunet_topology((160, 160, 48), spacing=(0.7, 0.7, 5.0))
    # z (5 mm) is more than twice as coarse as x/y: no z pooling and no z kernel at first.
    assert topo.strides[1][2] == 1
    assert topo.strides[1][:2] == (2, 2)
    assert topo.kernel_sizes[0][2] == 1
    assert topo.kernel_sizes[0][:2] == (3, 3)
    assert topo.pools_per_axis[2] < topo.pools_per_axis[0]
    assert topo.kernel_sizes[-1] == (3, 3, 3)


def test_nnunet_topology_rejects_bad_input():
    with pytest.raises(ValueError, match="patch_size"):
        nnunet_topology((64, 64), DEFAULT_SPACING)
    with pytest.raises(ValueError, match="spacing"):
        nnunet_topology((64, 64, 64), (1.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="too small"):
        nnunet_topology((6, 6, 6), DEFAULT_SPACING)


def test_nnunet_follows_patch_and_spacing():
    net = build_model_for_patch("nnunet", "tiny", patch_size=(64, 64, 16), spacing=(0.8, 0.8, 3.0))
    topo = nnunet_topology((64, 64, 16), (0.8, 0.8, 3.0), base_filters=8, max_filters=64)
    assert [tuple(s) for s in net.strides] == [tuple(s) for s in topo.strides]
    with torch.no_grad():
        out = net.eval()(torch.zeros(1, 1, 64, 64, 16))
    assert tuple(out.shape) == (1, NUM_CLASSES, 64, 64, 16)


def test_deep_supervision_weights_are_nnunets():
    # The chapter shows the trainer's own function, for the outputs DynUNet trains (num_pools - 1).
    w = deep_supervision_weights(nnunet_topology((160, 160, 64), (1.5, 1.5, 2.0)).num_pools - 1)
    assert len(w) == 4
    assert math.isclose(sum(w), 1.0)
    assert all(math.isclose(a / b, 2.0) for a, b in itertools.pairwise(w))
    with pytest.raises(ValueError):
        deep_supervision_weights(0)


def test_unetr_takes_a_non_cubic_patch_and_rejects_a_bad_one():
    net = build_model_for_patch("unetr", "tiny", patch_size=(32, 32, 64))
    with torch.no_grad():
        assert tuple(net.eval()(torch.zeros(1, 1, 32, 32, 64)).shape) == (1, NUM_CLASSES, 32, 32, 64)
    with pytest.raises(ValueError, match="unetr"):
        build_model_for_patch("unetr", "tiny", patch_size=(30, 32, 32))


def test_registry_errors_are_helpful():
    with pytest.raises(KeyError, match="nnunet"):
        build_model("no_such_net")
    with pytest.raises(ValueError, match="variant"):
        build_model("unet", variant="huge")
    with pytest.raises(ValueError, match="variant"):
        build_model_for_patch("unet", variant="huge")
    with pytest.raises(ValueError, match="in_channels"):
        TinyVNet(in_channels=3)
