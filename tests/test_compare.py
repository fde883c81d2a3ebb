"""Tables of several models: stacking, per-case scores and worst cases (amos_tutorial.evaluation.compare)."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import score_table

from amos_tutorial.evaluation import compare


def test_stack_results(stacked):
    assert stacked.columns[0] == "model"
    assert list(stacked.model.cat.categories) == ["zeta", "alpha"]  # the caller's order, not sorted
    assert len(stacked) == 8
    assert stacked.attrs["conventions"] == "NSD tolerance 1 mm"
    other = score_table({("amos_0001", 1): 0.5})
    other.attrs["conventions"] = "NSD tolerance 2 mm"
    with pytest.raises(ValueError, match="different conventions"):
        compare.stack_results({"a": score_table({("amos_0001", 1): 0.5}), "b": other})
    with pytest.raises(ValueError, match="results is empty"):
        compare.stack_results({})
    with pytest.raises(ValueError, match="lacks the columns"):
        compare.stack_results({"a": pd.DataFrame({"case": ["x"]})})


def test_case_scores_and_worst_cases(stacked):
    scores = compare.case_scores(stacked).set_index(["model", "case"])
    assert scores.loc[("zeta", "amos_0001"), "dsc"] == pytest.approx(0.7)
    assert scores.loc[("alpha", "amos_0001"), "dsc"] == pytest.approx(0.8)  # NaN skipped
    assert scores.loc[("zeta", "amos_0600"), "worst_organ"] == "spleen"
    assert scores.loc[("zeta", "amos_0600"), "modality"] == "MRI"
    worst = compare.worst_cases(stacked, n=1)
    assert worst[["model", "case"]].values.tolist() == [["zeta", "amos_0600"], ["alpha", "amos_0001"]]
    overall = compare.worst_cases(stacked, n=2, per_model=False)
    assert overall.case.tolist() == ["amos_0600", "amos_0001"]
    assert overall.model.tolist() == ["zeta", "zeta"]
    by_nsd = compare.worst_cases(stacked, n=1, metric="nsd")
    assert by_nsd.dsc.round(2).tolist() == [0.3, 0.8]
    with pytest.raises(ValueError, match="metric"):
        compare.worst_cases(stacked, metric="hd95")
    with pytest.raises(ValueError, match="n must be"):
        compare.worst_cases(stacked, n=0)
