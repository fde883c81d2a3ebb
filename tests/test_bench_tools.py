"""`amos bench metrics` and `amos bench predict` on tiny cases (the full-size figures come from a GPU run)."""

from __future__ import annotations

import numpy as np
import pytest

from amos_tutorial.benchmark.metric_speed import metric_case, metric_timings
from amos_tutorial.benchmark.predict_speed import label_agreement, predict_timings
from amos_tutorial.cli import main as amos_main


def test_metric_case_is_a_good_but_imperfect_prediction():
    reference, prediction = metric_case((96, 96, 16), (3.5, 3.5, 25.0))
    assert reference.shape == prediction.shape == (96, 96, 16)
    assert 12 in set(np.unique(reference).tolist())
    assert 12 not in set(np.unique(prediction).tolist())  # the missed left adrenal gland
    shifted = metric_case((96, 96, 16), (3.5, 3.5, 25.0), shift=3)[1]
    assert np.array_equal(shifted, np.roll(prediction, 3, axis=0))


def test_metric_timings_agree_across_methods():
    frame = metric_timings((96, 96, 16), (3.5, 3.5, 25.0), repeats=1, monai=False, deepmind=False)
    assert list(frame["method"]) == ["ours (auto)", "ours (lookup)", "ours (edt)", "ours (every metric)"]
    assert (frame["min_s"] > 0).all()
    assert frame["max_nsd_diff"].max() < 1e-9
    assert 0.0 < frame.attrs["mean_dsc"] < 1.0


def test_cli_bench_metrics_prints_the_table(capsys):
    code = amos_main(["bench", "metrics", "--shape", "64,64,12", "--spacing", "5,5,30", "--repeats", "1",
                      "--skip-monai", "--skip-deepmind"])  # fmt: skip
    assert code == 0
    assert "ours (auto)" in capsys.readouterr().out


def test_label_agreement_counts_the_differing_voxels():
    plain = np.zeros((6, 6, 6), np.uint8)
    plain[1:5, 1:5, 1:5] = 6
    fast = plain.copy()
    fast[1, 1, 1] = 0
    result = label_agreement(fast, plain)
    assert result["voxels_differ"] == 1
    assert result["voxels_off_border"] == 0
    assert result["lowest_label_dice"] == pytest.approx(2 * 63 / (63 + 64))



def test_predict_timings_names_an_unknown_setting():
    with pytest.raises(TypeError, match="sw_batch"):
        predict_timings(device="cpu", sw_batch=2)

@pytest.mark.slow
def test_predict_timings_on_a_tiny_ct():
    table, agreement = predict_timings(device="cpu", shape=(48, 48, 16), spacing=(4.0, 4.0, 8.0), roi=(32, 32, 32),
                                       log=lambda line: None)  # fmt: skip
    assert agreement["same_grid"]
    assert list(table.columns) == ["fast", "plain", "ratio"]
    assert table.loc["end to end without load", "fast"] > 0
