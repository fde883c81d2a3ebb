"""Tables and figures of training runs (amos_tutorial.viz.training).

Most tests use hand-made ``RunResult`` objects and run folders whose numbers are known, so every
expected value is derived by hand; one slow test trains a tiny UNet for real.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure

from amos_tutorial.training import TrainConfig, save_config
from amos_tutorial.training.trainer import RunResult
from amos_tutorial.models import overview
from amos_tutorial.training import runs as tr
from amos_tutorial.viz import training as vt


def _metrics(iterations=(4, 8, 12), losses=(3.0, 2.0, 1.5), seconds=(9.0, 2.0, 2.4), dice=(np.nan, 0.1, 0.3)):
    return pd.DataFrame(
        {
            "epoch": range(1, len(iterations) + 1),
            "iteration": list(iterations),
            "train_loss": list(losses),
            "lr": [0.01] * len(iterations),
            "seconds": list(seconds),
            "val_dice": list(dice),
        }
    )


def _run(model="unet", metrics=None, losses=None, run_dir=Path("unused")) -> RunResult:
    metrics = _metrics() if metrics is None else metrics
    config = TrainConfig(model=model, iterations=int(metrics["iteration"].max()), iterations_per_epoch=4)
    if losses is None:
        losses = {k: 4.0 - 0.2 * k for k in range(config.iterations)}
    return RunResult(
        run_dir=run_dir,
        config=config,
        metrics=metrics,
        iteration=config.iterations,
        completed=True,
        interrupted=False,
        best_dice=float(np.nanmax(metrics["val_dice"])) if "val_dice" in metrics else None,
        losses=losses,
    )


def _run_folder(tmp_path: Path, model="unet", metrics=None) -> Path:
    folder = tmp_path / model
    metrics = _metrics() if metrics is None else metrics
    save_config(TrainConfig(model=model, iterations=int(metrics["iteration"].max()), iterations_per_epoch=4),
                folder / "config.json")  # fmt: skip
    metrics.to_csv(folder / "metrics.csv", index=False)
    return folder


# --- memory arithmetic ----------------------------------------------------------------------------


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


def test_model_palette_is_stable_across_subsets():
    both = vt.model_palette(["nnunet", "unet", "my_new_net"])
    assert both["unet"] == vt.model_palette(["unet"])["unet"]
    assert both["my_new_net"] == vt.model_palette(["my_new_net"])["my_new_net"]
    assert len(set(vt.model_palette(["cotr", "nnformer", "nnunet", "unet"]).values())) == 4


# --- run tables -----------------------------------------------------------------------------------


def test_run_summary_from_results_and_folders(tmp_path):
    overview = pd.DataFrame({"model": ["unet", "vnet"], "params_full_M": [4.8, 45.7], "params_tiny_M": [0.05, 0.5]})
    other = _metrics(losses=(3.0, 2.5, 2.25), dice=(0.2, 0.4, 0.3))
    runs = {"unet": _run("unet"), "vnet": _run_folder(tmp_path, "vnet", other)}
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
    no_overview = tr.run_summary([_run("unet")])
    assert "params_full_M" not in no_overview.columns
    assert list(no_overview["model"]) == ["unet"]
    without_val = tr.run_summary([_run("unet", _metrics().drop(columns="val_dice"))])
    assert math.isnan(without_val.loc[0, "val_dice"])
    with pytest.raises(ValueError, match="no run"):
        tr.run_summary({})


def test_training_curves_per_step_or_per_epoch(tmp_path):
    curves = tr.training_curves({"a": _run("unet"), "b": _run_folder(tmp_path, "vnet")})
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
    resumed = _run("unet", losses={k: 1.0 for k in range(6, 12)})
    r_loss = tr.training_curves([resumed])
    assert set(r_loss[r_loss.metric == "train loss"].resolution) == {"epoch"}


def test_read_run_errors_name_the_file(tmp_path):
    folder = _run_folder(tmp_path, "unet")
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


# --- figures --------------------------------------------------------------------------------------


def test_plot_training_curves():
    curves = tr.training_curves({"unet": _run("unet"), "vnet": _run("vnet")})
    fig = vt.plot_training_curves(curves, smooth=3, title="smoke")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2
    ax_loss, ax_dice = fig.axes
    assert len(ax_loss.get_lines()) == 2
    assert len(ax_dice.get_lines()) == 2
    # Smoothing is a centred running mean per model: a loss alternating 0, 1, 0, 1... becomes 1/3 or 2/3
    # inside, (0 + 1) / 2 at the first step; the other model's line is smoothed on its own.
    zigzag = _run("unet", losses={k: float(k % 2) for k in range(12)})
    fig2 = vt.plot_training_curves(tr.training_curves({"zz": zigzag, "vnet": _run("vnet")}), smooth=3)
    lines = {ln.get_color(): ln.get_ydata() for ln in fig2.axes[0].get_lines()}
    y = lines[vt.model_palette(["zz"])["zz"]]
    assert y[0] == pytest.approx(0.5)
    assert y[1] == pytest.approx(1 / 3)
    assert y[2] == pytest.approx(2 / 3)
    other = lines[vt.model_palette(["vnet"])["vnet"]]
    assert other[0] == pytest.approx(3.9)
    assert other[5] == pytest.approx(4.0 - 0.2 * 5)
    assert len(other) == 12
    assert fig._suptitle.get_text() == "smoke"
    no_val = vt.plot_training_curves(curves[curves.metric == "train loss"])
    assert "no validation yet" in [t.get_text() for t in no_val.axes[1].texts]
    with pytest.raises(ValueError, match="smooth"):
        vt.plot_training_curves(curves, smooth=0)
    with pytest.raises(ValueError, match="lacks the columns"):
        vt.plot_training_curves(curves.drop(columns="metric"))
    with pytest.raises(ValueError, match="empty"):
        vt.plot_training_curves(curves.iloc[:0])


def test_plot_model_sizes():
    overview = pd.DataFrame(
        {"model": ["unet", "unetr", "new"], "family": ["CNN", "transformer encoder", "other"],
         "params_full_M": [4.8, 92.8, 0.5]}
    )  # fmt: skip
    fig = vt.plot_model_sizes(overview)
    ax = fig.axes[0]
    widths = sorted(p.get_width() for p in ax.patches)
    assert widths == [0.5, 4.8, 92.8]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["new", "unet", "unetr"]  # sorted by size
    with pytest.raises(ValueError, match="static_GiB"):
        vt.plot_model_sizes(overview, column="static_GiB")
    with pytest.raises(TypeError, match="DataFrame"):
        vt.plot_model_sizes(overview.to_dict())


# --- a real run (slow) ----------------------------------------------------------------------------


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


def test_organ_dice_curves_from_the_metrics_columns(tmp_path):
    metrics = _metrics()
    metrics["dice_liver"] = [np.nan, 0.2, 0.8]
    metrics["dice_spleen"] = [np.nan, 0.1, 0.6]
    metrics["dice_gallbladder"] = [np.nan, np.nan, 0.05]  # absent from the first validation's cases
    for run in (_run(metrics=metrics), _run_folder(tmp_path, metrics=metrics)):
        table = tr.organ_dice_curves(run)
        assert list(table.columns) == ["iteration", "organ", "dice"]
        # Organs in label order (spleen 1, gallbladder 4, liver 6), epochs without validation dropped.
        assert list(dict.fromkeys(table["organ"])) == ["spleen", "gallbladder", "liver"]
        liver = table[table.organ == "liver"]
        assert liver["iteration"].tolist() == [8, 12]
        assert liver["dice"].tolist() == [0.2, 0.8]
        assert table[table.organ == "gallbladder"]["iteration"].tolist() == [12]
    fig = vt.plot_organ_dice_curves(tr.organ_dice_curves(_run(metrics=metrics)), title="t")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_ylim() == (0.0, 1.0)
    assert len(ax.get_legend().get_texts()) == 3


def test_organ_dice_curves_refuse_a_run_without_validation():
    with pytest.raises(ValueError, match="no validation"):
        tr.organ_dice_curves(_run())  # val_dice but no per-organ columns
    with pytest.raises(ValueError, match="columns|empty"):
        vt.plot_organ_dice_curves(pd.DataFrame({"iteration": [], "organ": [], "dice": []}))
