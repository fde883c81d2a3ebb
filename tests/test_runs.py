"""Tables of training runs: summaries, curves and the errors of a bad run folder (amos_tutorial.training.runs)."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
from conftest import metrics_table, run_folder, run_result
from matplotlib.figure import Figure

from amos_tutorial.training import runs as tr
from amos_tutorial.viz import training as vt


def test_run_summary_from_results_and_folders(tmp_path):
    overview = pd.DataFrame({"model": ["unet", "vnet"], "params_full_M": [4.8, 45.7], "params_tiny_M": [0.05, 0.5]})
    other = metrics_table(losses=(3.0, 2.5, 2.25), dice=(0.2, 0.4, 0.3))
    runs = {"unet": run_result("unet"), "vnet": run_folder(tmp_path, "vnet", other)}
    table = tr.run_summary(runs, overview).set_index("model")
    assert table.loc["unet", "final_loss"] == 1.5
    assert table.loc["vnet", "final_loss"] == 2.25
    assert table.loc["unet", "val_dice"] == pytest.approx(0.3)
    assert table.loc["unet", "best_dice"] == pytest.approx(0.3)
    # The last validation, not the best one, is the "val_dice" of a run.
    assert table.loc["vnet", "val_dice"] == pytest.approx(0.3)
    assert table.loc["vnet", "best_dice"] == pytest.approx(0.4)
    assert table.loc["vnet", "params_full_M"] == 45.7
    assert table.loc["unet", "params_tiny_M"] == 0.05
    assert table.loc["unet", "s_per_step"] == pytest.approx(4.4 / 8)
    assert table.loc["unet", "iterations"] == 12
    assert table.loc["vnet", "variant"] == "tiny"
    no_overview = tr.run_summary([run_result("unet")])
    assert "params_full_M" not in no_overview.columns
    assert list(no_overview["model"]) == ["unet"]
    without_val = tr.run_summary([run_result("unet", metrics_table().drop(columns="val_dice"))])
    assert math.isnan(without_val.loc[0, "val_dice"])
    with pytest.raises(ValueError, match="no run"):
        tr.run_summary({})


def test_training_curves_per_step_or_per_epoch(tmp_path):
    curves = tr.training_curves({"a": run_result("unet"), "b": run_folder(tmp_path, "vnet")})
    assert list(curves.columns) == ["model", "iteration", "metric", "value", "resolution"]
    a_loss = curves[(curves.model == "a") & (curves.metric == "train loss")]
    assert (a_loss.resolution == "step").all()
    assert list(a_loss.iteration) == list(range(1, 13))
    assert a_loss.value.iloc[0] == pytest.approx(4.0)  # step index 0 is plotted at step 1
    b_loss = curves[(curves.model == "b") & (curves.metric == "train loss")]
    assert (b_loss.resolution == "epoch").all()
    assert list(b_loss.value) == [3.0, 2.0, 1.5]
    dice = curves[curves.metric == "validation Dice"]
    assert list(dice[dice.model == "a"].iteration) == [8, 12]  # the NaN of epoch 1 is dropped
    # A resumed run knows only the losses of its last session: fall back to the epoch means.
    resumed = run_result("unet", losses={k: 1.0 for k in range(6, 12)})
    r_loss = tr.training_curves([resumed])
    assert set(r_loss[r_loss.metric == "train loss"].resolution) == {"epoch"}


def test_read_run_errors_name_the_file(tmp_path):
    folder = run_folder(tmp_path, "unet")
    model, config, metrics, losses = tr.read_run(folder)
    assert model == "unet"
    assert config.model == "unet"
    assert len(metrics) == 3
    assert losses == {}
    (folder / "metrics.csv").unlink()
    with pytest.raises(FileNotFoundError, match=str(folder / "metrics.csv")):
        tr.read_run(folder)
    (folder / "metrics.csv").write_bytes(b"\xff\xfe\x00garbage\x00")
    with pytest.raises(ValueError, match="metrics.csv"):
        tr.read_run(str(folder))
    with pytest.raises(FileNotFoundError, match="config.json"):
        tr.read_run(tmp_path / "empty")
    with pytest.raises(TypeError, match="RunResult or a run folder"):
        tr.read_run(42)


@pytest.mark.slow
def test_tables_of_a_real_smoke_run(synthetic_root, tmp_path):
    from amos_tutorial.training import train

    torch.set_num_threads(1)
    result = train("unet", data=str(synthetic_root), out=tmp_path / "unet", preset="smoke", device="cpu",
                   iterations=4, iterations_per_epoch=2, val_every=1, val_cases=1, progress=False,
                   cache_dir=str(tmp_path / "cache"))  # fmt: skip
    from_result = tr.run_summary({"unet": result})
    from_folder = tr.run_summary({"unet": tmp_path / "unet"})
    cols = ["final_loss", "val_dice", "best_dice", "iterations"]
    pd.testing.assert_frame_equal(from_result[cols], from_folder[cols])
    assert from_result.loc[0, "iterations"] == 4
    assert from_result.loc[0, "s_per_step"] > 0
    curves = tr.training_curves({"unet": result})
    loss = curves[curves.metric == "train loss"]
    assert len(loss) == 4
    assert set(loss.resolution) == {"step"}
    assert len(curves[curves.metric == "validation Dice"]) == 2
    assert isinstance(vt.plot_training_curves(curves), Figure)
