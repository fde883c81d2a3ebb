"""``amos bench memory`` on a tiny size: the columns and the projection, not the timings."""

from __future__ import annotations

import pandas as pd
import pytest

from amos_tutorial.benchmark.memory import (
    MEMORY_COLUMNS,
    MEMORY_STEPS,
    PROJECTED_CASES,
    format_memory_table,
    memory_table,
    project_memory,
)


def test_bench_memory_tiny_run_has_every_step_and_projection(tmp_path, capsys):
    from amos_tutorial.cli import main

    out = tmp_path / "memory.csv"
    rc = main(["bench", "memory", "--cases", "2", "--max-shape", "32,32,16", "--iterations", "1",
               "--device", "cpu", "--in-process", "--out", str(out)])  # fmt: skip
    printed = capsys.readouterr().out
    assert rc == 0, printed
    table = pd.read_csv(out)
    assert list(table["step"]) == list(MEMORY_STEPS)
    for column in MEMORY_COLUMNS:
        assert column in table.columns
    for n in PROJECTED_CASES:
        for prefix in ("peak_rss_gb", "hours", "fits"):
            assert f"{prefix}_{n}" in table.columns
    assert table["error"].isna().all()
    assert (table["peak_rss_gb"] > 0).all()
    assert "PROJECTIONS" in printed


def _measured(train_peak: float = 2.0) -> pd.DataFrame:
    table = pd.DataFrame({
        "step": list(MEMORY_STEPS), "cases": [4] * 4, "seconds": [40.0, 20.0, 30.0, 8.0],
        "s_per_case": [10.0, 5.0, None, 2.0], "peak_rss_gb": [1.5, 1.0, train_peak, 1.2],
        "memory": ["x"] * 4, "error": [None] * 4, "case_bytes": [4e8, None, None, None],
    })  # fmt: skip
    table.attrs.update(budget_gb=4.8, n_cases=4, max_shape=[512, 512, 300], device="cpu")
    return table


def test_projection_keeps_streaming_steps_and_caps_training_at_the_budget():
    projected = project_memory(_measured(), cases=(240,), ram_gb=12.7).set_index("step")
    assert projected.loc["preprocess", "peak_rss_gb_240"] == 1.5
    # train: 0.1 GB per cached case, 0.4 GB held when measured; 240 cases fill the 4.8 GB budget
    assert projected.loc["train", "peak_rss_gb_240"] == round(2.0 - 0.4 + 4.8, 2)
    assert projected.loc["preprocess", "hours_240"] == round(10.0 * 240 / 3600, 2)
    assert projected.loc["train", "hours_240"] == round(30.0 / 3600, 2)
    assert bool(projected.loc["train", "fits_240"])
    assert not bool(project_memory(_measured(train_peak=9.0), cases=(240,)).set_index("step").loc["train", "fits_240"])
    assert "PROJECTIONS" in format_memory_table(projected.reset_index())


def test_memory_table_names_an_unknown_setting():
    with pytest.raises(TypeError, match="workdir"):
        memory_table(n_cases=2, workdir="x")
