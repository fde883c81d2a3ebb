"""The metric table: entries, registration rules, and a registered metric reaching every table and summary."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from amos_tutorial.evaluation import compare, evaluate
from amos_tutorial.evaluation.metric_table import (
    Metric,
    challenge_metrics,
    get_metric,
    metric_names,
    register_metric,
    unregister_metric,
)
from amos_tutorial.evaluation.scoring import score_case


def _volume_ratio(reference, prediction, spacing):
    return float(prediction.sum() / reference.sum())


@pytest.fixture
def toy_metric():
    metric = register_metric(
        Metric("volratio", "VolRatio", _volume_ratio, higher_is_better=True, perfect=1.0, one_absent=math.nan)
    )
    yield metric
    unregister_metric("volratio")


def test_builtin_entries_and_directions():
    assert metric_names()[:3] == ("dsc", "nsd", "hd95")
    assert challenge_metrics() == ("dsc", "nsd")
    assert get_metric("hd95").higher_is_better is False
    assert get_metric("hd95").unit == "mm"
    assert math.isnan(get_metric("hd95").one_absent)
    assert get_metric("dsc").one_absent == 0.0


def test_registration_rules():
    with pytest.raises(ValueError, match="registered already"):
        register_metric(get_metric("dsc"))
    with pytest.raises(ValueError, match="lower-case identifier"):
        Metric("HD 95", "x", _volume_ratio, False, 0.0, math.nan)
    with pytest.raises(ValueError, match="unknown option"):
        Metric("x", "x", _volume_ratio, False, 0.0, math.nan, options=("radius",))
    with pytest.raises(ValueError, match="unknown metric 'nope'"):
        get_metric("nope")
    with pytest.raises(KeyError, match="no metric named"):
        unregister_metric("nope")


def test_a_registered_metric_reaches_score_case_and_every_summary(toy_metric):
    ref = np.zeros((20, 20, 8), np.uint8)
    ref[4:12, 4:12, 2:6] = 6
    pred = ref.copy()
    pred[4:8, 4:12, 2:6] = 0  # half the liver
    df = score_case(ref, pred, (1.0, 1.0, 2.0), organ_ids=(6, 7))
    assert df.loc[0, "volratio"] == pytest.approx(0.5)
    assert math.isnan(df.loc[1, "volratio"])
    table = df.assign(case="amos_0001", modality="CT")
    assert evaluate.organ_summary(table).loc["liver", "volratio"] == pytest.approx(0.5)
    assert evaluate.modality_summary(table).loc["all", "volratio"] == pytest.approx(0.5)
    assert evaluate.task_summary(table).loc[1, "volratio"] == pytest.approx(0.5)
    assert evaluate.overall_scores(table)["volratio"] == pytest.approx(0.5)
    assert "VolRatio 0.5000" in evaluate.format_report(table)
    assert compare.case_scores(table).loc[0, "volratio"] == pytest.approx(0.5)


def test_worst_cases_follow_the_direction_of_the_metric():
    rows = [
        {"case": c, "organ_id": 6, "organ": "liver", "modality": "CT", "dsc": d, "nsd": d, "hd95": h, "ref_ml": 1.0}
        for c, d, h in (("a", 0.9, 9.0), ("b", 0.5, 2.0), ("c", 0.7, 4.0))
    ]
    table = pd.DataFrame(rows)
    assert compare.worst_cases(table, n=1, metric="dsc").loc[0, "case"] == "b"
    assert compare.worst_cases(table, n=1, metric="hd95").loc[0, "case"] == "a"
    with pytest.raises(ValueError, match="metric must be one of"):
        compare.worst_cases(table, metric="volratio")
