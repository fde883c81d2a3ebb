"""The model overview: parameter counts and memory arithmetic (amos_tutorial.models.overview)."""

from __future__ import annotations

import pytest

from amos_tutorial.models import overview


def test_optimizer_state_factor():
    assert overview.optimizer_state_factor({"name": "sgd", "lr": 0.01, "momentum": 0.99}) == 1
    assert overview.optimizer_state_factor({"name": "sgd", "lr": 0.01}) == 0  # plain SGD keeps no buffer
    assert overview.optimizer_state_factor("sgd") == 1  # a bare name means the recipe's SGD with momentum
    assert overview.optimizer_state_factor("Adam") == overview.optimizer_state_factor({"name": "adamw", "lr": 1e-4}) == 2
    with pytest.raises(ValueError, match="unknown optimizer 'lion'"):
        overview.optimizer_state_factor("lion")


def test_static_memory_is_weights_gradients_and_states():
    params = 2**28  # 1 GiB of fp32 numbers
    assert overview.static_memory_gib(params, "adamw") == pytest.approx(4.0)
    assert overview.static_memory_gib(params, {"name": "sgd", "lr": 0.01, "momentum": 0.99}) == pytest.approx(3.0)
    assert overview.static_memory_gib(params, {"name": "sgd", "lr": 0.01}) == pytest.approx(2.0)
    assert overview.static_memory_gib(params, "sgd", bytes_per_value=2) == pytest.approx(1.5)
    for bad in (-1, float("nan"), "12"):
        with pytest.raises(ValueError, match="params"):
            overview.static_memory_gib(bad)
    with pytest.raises(ValueError, match="bytes_per_value"):
        overview.static_memory_gib(10, bytes_per_value=0)


def test_model_overview_counts_the_registry_models():
    from amos_tutorial.models import build_model, count_parameters, get_model_spec

    frame = overview.model_overview(["unet", "segresnet"])
    assert list(frame["model"]) == ["unet", "segresnet"]
    row = frame.set_index("model").loc["unet"]
    full = count_parameters(build_model("unet", "full"))
    assert row["params_full_M"] == pytest.approx(full / 1e6)
    assert row["params_tiny_M"] == pytest.approx(count_parameters(build_model("unet", "tiny")) / 1e6)
    assert row["params_tiny_M"] < row["params_full_M"]
    assert row["static_GiB"] == pytest.approx(full * 4 * 3 / 2**30)  # SGD with momentum: 3 numbers each
    seg = frame.set_index("model").loc["segresnet"]
    assert seg["optimizer"] == "adam"
    assert seg["static_GiB"] == pytest.approx(seg["params_full_M"] * 1e6 * 16 / 2**30)
    assert row["family"] == "CNN"
    assert row["patch"] == "x".join(map(str, get_model_spec("unet").patch_size))
    tiny_only = overview.model_overview(["unet"], variants=["tiny"])
    assert "params_full_M" not in tiny_only.columns
    assert "static_GiB" not in tiny_only.columns
    with pytest.raises(KeyError, match="registered models"):
        overview.model_overview(["no_such_model"])
    with pytest.raises(ValueError, match="variants"):
        overview.model_overview(["unet"], variants=["huge"])
    with pytest.raises(ValueError, match="variants"):
        overview.model_overview(["unet"], variants=[])
