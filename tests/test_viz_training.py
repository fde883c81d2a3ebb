"""The training chapter's figures (amos_tutorial.viz.training)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import metrics_table, run_folder, run_result
from matplotlib.figure import Figure

from amos_tutorial.training import runs as tr
from amos_tutorial.viz import training as vt


def test_model_palette_is_stable_across_subsets():
    both = vt.model_palette(["nnunet", "unet", "my_new_net"])
    assert both["unet"] == vt.model_palette(["unet"])["unet"]
    assert both["my_new_net"] == vt.model_palette(["my_new_net"])["my_new_net"]
    assert len(set(vt.model_palette(["cotr", "nnformer", "nnunet", "unet"]).values())) == 4


def test_plot_training_curves():
    curves = tr.training_curves({"unet": run_result("unet"), "vnet": run_result("vnet")})
    fig = vt.plot_training_curves(curves, smooth=3, title="smoke")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2
    ax_loss, ax_dice = fig.axes
    assert len(ax_loss.get_lines()) == 2
    assert len(ax_dice.get_lines()) == 2
    # Smoothing is a centred running mean per model: a loss alternating 0, 1, 0, 1... becomes 1/3 or 2/3
    # inside, (0 + 1) / 2 at the first step; the other model's line is smoothed on its own.
    zigzag = run_result("unet", losses={k: float(k % 2) for k in range(12)})
    fig2 = vt.plot_training_curves(tr.training_curves({"zz": zigzag, "vnet": run_result("vnet")}), smooth=3)
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


def test_organ_dice_curves_from_the_metrics_columns(tmp_path):
    metrics = metrics_table()
    metrics["dice_liver"] = [np.nan, 0.2, 0.8]
    metrics["dice_spleen"] = [np.nan, 0.1, 0.6]
    metrics["dice_gallbladder"] = [np.nan, np.nan, 0.05]  # absent from the first validation's cases
    for run in (run_result(metrics=metrics), run_folder(tmp_path, metrics=metrics)):
        table = tr.organ_dice_curves(run)
        assert list(table.columns) == ["iteration", "organ", "dice"]
        # Organs in label order (spleen 1, gallbladder 4, liver 6), epochs without validation dropped.
        assert list(dict.fromkeys(table["organ"])) == ["spleen", "gallbladder", "liver"]
        liver = table[table.organ == "liver"]
        assert liver["iteration"].tolist() == [8, 12]
        assert liver["dice"].tolist() == [0.2, 0.8]
        assert table[table.organ == "gallbladder"]["iteration"].tolist() == [12]
    fig = vt.plot_organ_dice_curves(tr.organ_dice_curves(run_result(metrics=metrics)), title="t")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_ylim() == (0.0, 1.0)
    assert len(ax.get_legend().get_texts()) == 3


def test_organ_dice_curves_refuse_a_run_without_validation():
    with pytest.raises(ValueError, match="no validation"):
        tr.organ_dice_curves(run_result())  # val_dice but no per-organ columns
    with pytest.raises(ValueError, match="columns|empty"):
        vt.plot_organ_dice_curves(pd.DataFrame({"iteration": [], "organ": [], "dice": []}))
