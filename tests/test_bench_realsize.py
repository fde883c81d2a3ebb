"""``amos bench realsize``: the three side-by-side stages (book vs nnU-Net v2) on a tiny size; columns, not timings."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from amos_tutorial.benchmark.realsize import (
    REALSIZE_COLUMNS,
    RealsizeOptions,
    format_realsize,
    memory_bound,
    realsize_report,
)


def test_memory_bound_extrapolates_per_voxel():
    bound = memory_bound(peak_gb=3.0, baseline_gb=1.0, voxels=10_000_000, limit_gb=5.0, shape=(100, 100, 1000))
    assert bound["bytes_per_voxel"] == 200.0
    assert bound["predicted_GB"] == pytest.approx(1.0 + 200.0 * 1e7 / 1e9)
    assert bound["max_slices"] == int(4e9 / (200.0 * 100 * 100))
    with pytest.raises(ValueError, match="peak >= baseline"):
        memory_bound(1.0, 2.0, 10)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"max_shape": (512, 512)}, "max_shape"), ({"cases": 1}, "cases"), ({"patch_size": (20, 16, 16)}, "divisible"),
     ({"overlap": 1.0}, "overlap")],
)  # fmt: skip
def test_bad_settings_fail_before_any_work(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        realsize_report(out=tmp_path / "rs", **kwargs)
    assert not (tmp_path / "rs").exists()



def test_settings_come_as_an_options_object_or_as_keywords(tmp_path):
    with pytest.raises(ValueError, match="overlap"):
        realsize_report(out=tmp_path / "rs", options=RealsizeOptions(overlap=1.0))
    with pytest.raises(ValueError, match="overlap"):
        realsize_report(out=tmp_path / "rs", options=RealsizeOptions(), overlap=1.0)
    with pytest.raises(TypeError, match="overlapp"):
        realsize_report(out=tmp_path / "rs", overlapp=0.5)
    assert not (tmp_path / "rs").exists()

@pytest.mark.slow
def test_tiny_run_has_the_three_stages_with_ratios(tmp_path):
    pytest.importorskip("nnunetv2")
    table = realsize_report(
        max_shape=(48, 48, 16), cases=2, out=tmp_path / "rs", patch_size=(16, 16, 16), batches=2, warmup=1,
        log=lambda line: None,
    )  # fmt: skip
    assert list(table.columns) == list(REALSIZE_COLUMNS)
    assert list(dict.fromkeys(table["stage"])) == ["preprocessing", "data loading", "prediction"]
    assert (table["stage"] == "preprocessing").sum() == 2 * 2, "each case at its own and at the common spacing"
    for column in ("book_s", "nnunet_s", "speedup", "book_peak_GB", "nnunet_peak_GB", "rss_ratio"):
        assert table[column].map(lambda v: math.isfinite(v) and v > 0).all(), f"{column}: {table[column].tolist()}"
    prediction = table[table["stage"] == "prediction"].iloc[0]
    assert 0 <= prediction["book_outside_s"] <= prediction["book_s"]
    assert 0 <= prediction["nnunet_outside_s"] <= prediction["nnunet_s"]
    assert set(table.attrs["bound"]) == {"bytes_per_voxel", "predicted_GB", "max_slices"}
    saved = pd.read_csv(tmp_path / "rs" / "realsize.csv")
    assert list(saved.columns) == list(REALSIZE_COLUMNS)
    text = format_realsize(table)
    assert "speedup" in text
    assert "512x512x500" in text
