"""The extension points of CONTRIBUTING.md: a toy model and a toy metric, registered from outside the package,
reach ``amos bench``'s results.csv and its report without an edit of any package module."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from torch import nn

from amos_tutorial.benchmark import report, run_benchmark
from amos_tutorial.benchmark.results import load_results
from amos_tutorial.evaluation import Metric, register_metric, unregister_metric
from amos_tutorial.models import ModelSpec, list_models, register_model, unregister_model


def _toy_net(in_channels: int, out_channels: int, variant: str) -> nn.Module:
    width = 4 if variant == "tiny" else 8
    return nn.Sequential(
        nn.Conv3d(in_channels, width, 3, padding=1), nn.ReLU(), nn.Conv3d(width, out_channels, 1)
    )


def _predicted_fraction(reference: np.ndarray, prediction: np.ndarray, spacing) -> float:
    """Predicted voxels per reference voxel of the organ (a toy: 1 is the right volume)."""
    return float(np.count_nonzero(prediction) / np.count_nonzero(reference))


@pytest.fixture
def toys():
    model = register_model(
        ModelSpec(
            name="toynet", factory=_toy_net, patch_size=(32, 32, 32), batch_size=2,
            optimizer={"name": "adam", "lr": 1e-3}, schedule={"name": "poly", "power": 0.9},
            tiny_patch_size=(16, 16, 16), divisible_by=1, description="two convolutions (test toy)",
        )
    )  # fmt: skip
    metric = register_metric(
        Metric("volfrac", "VolFrac", _predicted_fraction, higher_is_better=True, perfect=1.0, one_absent=0.0,
               value_range=None, description="predicted / reference volume (test toy)")  # fmt: skip
    )
    yield model, metric
    unregister_model("toynet")
    unregister_metric("volfrac")


def test_a_toy_model_and_metric_reach_results_and_report(toys, synthetic_root: Path, tmp_path: Path):
    assert "toynet" in list_models()
    out = tmp_path / "bench"
    result = run_benchmark(
        ["toynet"], data=str(synthetic_root), budget="smoke", out=out, device="cpu", cache_dir=tmp_path / "cache",
        threads=1, iterations=2, eval_cases=1, progress=False, log=lambda msg: None,
    )  # fmt: skip
    frame = load_results(out / "results.csv")
    row = frame.set_index("model").loc["toynet"]
    assert row["status"] == "ok", row["error"]
    assert row["parameters"] == sum(p.numel() for p in _toy_net(1, 16, "tiny").parameters())
    evaluation = pd.read_csv(out / "runs" / "toynet" / "evaluation.csv")
    assert row["mean_volfrac"] == pytest.approx(evaluation["volfrac"].mean())
    assert row["volfrac_liver"] == pytest.approx(evaluation.loc[evaluation.organ == "liver", "volfrac"].mean(), nan_ok=True)
    assert not math.isnan(row["mean_volfrac"])
    leaderboard = report.leaderboard_frame(result.results)
    assert "mean VolFrac" in leaderboard.columns
    assert leaderboard.loc[leaderboard.model == "toynet", "mean VolFrac"].item() == f"{row['mean_volfrac']:.4f}"
    files = report.write_report(result.results, out)
    assert "mean VolFrac" in Path(files["leaderboard"]).read_text(encoding="utf-8")
