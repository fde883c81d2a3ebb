"""The evaluation chapter's figures (amos_tutorial.viz.evaluation)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_SPACING, tiny_arrays, write_tiny_case
from matplotlib.figure import Figure

from amos_tutorial.evaluation import compare, demos
from amos_tutorial.utils.io import save_nifti
from amos_tutorial.viz import evaluation as ve


def test_demo_figures():
    fig = ve.plot_metric_demos(demos.metric_demo_cases())
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 4
    assert "DSC 0.89" in fig.axes[0].get_title()
    fig = ve.plot_metric_demos(demos.metric_demo_cases()[:3])
    assert sum(ax.get_visible() for ax in fig.axes) == 3
    fig = ve.plot_metric_response(demos.metric_response((0, 2), (1.0,)))
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match="2-D"):
        ve.plot_metric_demos([demos.MetricDemo("3-D", np.ones((2, 2, 2), bool), np.ones((2, 2, 2), bool), "")])
    with pytest.raises(ValueError, match="lacks the columns"):
        ve.plot_metric_response(pd.DataFrame({"organ": ["x"]}))


def test_score_figures(stacked):
    fig = ve.plot_organ_scores(stacked)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["spleen", "liver"]
    assert [t.get_text() for t in fig.axes[1].get_legend().get_texts()] == ["zeta", "alpha"]
    fig = ve.plot_modality_scores(stacked)
    assert [ax.get_title() for ax in fig.axes] == ["DSC", "NSD"]
    with pytest.raises(ValueError, match="no dsc score"):
        ve.plot_organ_scores(stacked.assign(dsc=np.nan))
    with pytest.raises(ValueError, match="lacks the columns"):
        ve.plot_modality_scores(stacked.drop(columns="modality"))


def test_error_map():
    ref = np.array([[0, 1, 1, 2]])
    pred = np.array([[1, 0, 1, 3]])
    assert ve._error_map(ref, pred).tolist() == [[2, 1, 0, 3]]  # extra, missed, correct, wrong organ


def test_show_prediction_draws_the_errors():
    image, ref = tiny_arrays()
    pred = ref.copy()
    pred[ref == 1] = 0  # spleen missed
    affine = np.diag([*TINY_SPACING, 1.0])
    fig = ve.show_prediction(image, ref, pred, affine, organ=1, modality="CT", title="t")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3
    assert [ax.get_title().split(" (")[0] for ax in fig.axes] == ["reference", "prediction", "errors"]
    legend = [t.get_text() for t in fig.axes[2].get_legend().get_texts()]
    assert "missed" in legend
    assert "1 spleen" in legend
    overlay = fig.axes[2].get_images()[-1].get_array()
    assert set(np.unique(overlay.compressed())) == {1}  # only "missed" voxels are drawn
    with pytest.raises(ValueError, match="share a grid"):
        ve.show_prediction(image, ref[:-1], pred, affine)


def test_show_worst_cases(tmp_path, stacked):
    case = write_tiny_case(tmp_path, "amos_0001")
    pred_dir = tmp_path / "pred"
    _, label = tiny_arrays()
    save_nifti(np.where(label == 6, 0, label), np.diag([*TINY_SPACING, 1.0]), pred_dir / "amos_0001.nii.gz")
    worst = compare.case_scores(stacked)
    worst = worst[worst.case == "amos_0001"].assign(worst_organ_id=6, worst_organ="liver")
    fig = ve.show_worst_cases(worst, case.image.parent, case.label.parent, {"zeta": pred_dir, "alpha": pred_dir})
    assert len(fig.axes) == 6
    titles = [sub.get_suptitle() for sub in fig.subfigs]
    assert "zeta: amos_0001" in titles[0]
    assert "liver" in titles[0]
    assert "alpha" in titles[1]
    assert "missed" in [t.get_text() for t in fig.legends[0].get_texts()]
    with pytest.raises(ValueError, match="no prediction folder"):
        ve.show_worst_cases(worst, case.image.parent, case.label.parent, {"zeta": pred_dir})
    with pytest.raises(FileNotFoundError, match="amos_0001"):
        ve.show_worst_cases(worst, case.image.parent, case.label.parent, {"zeta": tmp_path, "alpha": tmp_path})
