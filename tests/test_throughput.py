"""Throughput of the three data pipelines, and `amos bench pipeline` (amos_tutorial.benchmark.throughput)."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from conftest import preprocessed_volume

from amos_tutorial.benchmark import throughput


def test_pipeline_throughput_measures_three_pipelines():
    volumes = [preprocessed_volume("a"), preprocessed_volume("b", seed=1)]
    threads = torch.get_num_threads()
    frame = throughput.pipeline_throughput(volumes, (16, 16, 16), batch_size=2, n_batches=2, warmup=1, threads=1)
    assert torch.get_num_threads() == threads  # restored
    assert len(frame) == 3
    assert frame["pipeline"].iloc[-1].startswith("PatchSampler")
    assert (frame["patches_per_s"] > 0).all()
    assert frame["vs_tutorial"].iloc[0] == 1.0
    assert list(frame["where"]) == ["cpu", "cpu", "cpu"]
    assert frame.attrs["patch_size"] == (16, 16, 16)
    assert frame.attrs["threads"] == 1
    assert isinstance(frame, pd.DataFrame)
    with pytest.raises(ValueError, match="n_batches"):
        throughput.pipeline_throughput(volumes, (16, 16, 16), n_batches=0)
    with pytest.raises(ValueError, match="threads"):
        throughput.pipeline_throughput(volumes, (16, 16, 16), threads=0)
    with pytest.raises(ValueError, match="empty"):
        throughput.pipeline_throughput([], (16, 16, 16))


@pytest.mark.slow
def test_amos_bench_pipeline_prints_and_writes_the_table(synthetic_root, tmp_path, capsys):
    from amos_tutorial.cli import main as amos_main

    out = tmp_path / "pipeline.csv"
    code = amos_main([
        "bench", "pipeline", "--data", str(synthetic_root), "--patch-size", "16,16,8", "--iterations", "1",
        "--warmup", "0", "--device", "cpu", "--cache-dir", str(tmp_path / "cache"), "--out", str(out),
    ])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0
    assert "PatchSampler" in printed
    table = pd.read_csv(out)
    assert len(table) == 3
    assert (table["patches_per_s"] > 0).all()
