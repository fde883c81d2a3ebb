"""`amos bench speed` on the CPU with tiny settings: the table, the CSV and the CLI."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from amos_tutorial.benchmark.speed import SPEED_COLUMNS, speed_benchmark
from amos_tutorial.cli import main as amos_main


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("preprocessed")


@pytest.mark.slow
def test_speed_table_and_csv(synthetic_root, cache, tmp_path):
    torch.set_num_threads(1)
    csv = tmp_path / "speed.csv"
    frame = speed_benchmark(
        ["unet"], iterations=2, warmup=1, variant="tiny", device="cpu", data=synthetic_root,
        cache_dir=cache, out_csv=csv, progress=False,
    )  # fmt: skip
    assert list(frame.columns) == list(SPEED_COLUMNS)
    assert len(frame) == 1
    row = frame.iloc[0]
    assert row["error"] == ""
    assert row["variant"] == "tiny"
    assert row["device"] == "cpu"
    assert row["amp"] == "fp32"
    assert row["s_per_step"] > 0
    assert row["loop_s_per_step"] > 0
    assert row["data_s_per_step"] > 0
    assert row["ratio"] == pytest.approx(row["s_per_step"] / row["loop_s_per_step"])
    assert row["loop_patches_per_s"] == pytest.approx(row["batch"] / row["loop_s_per_step"])
    assert pd.isna(row["loop_peak_gib"])  # no GPU: no peak memory
    back = pd.read_csv(csv, keep_default_na=False, na_values=[""])
    assert list(back["model"]) == ["unet"]
    assert back["loop_s_per_step"].iloc[0] == pytest.approx(row["loop_s_per_step"])


@pytest.mark.slow
def test_one_failing_model_does_not_stop_the_others(synthetic_root, cache):
    torch.set_num_threads(1)
    # UNETR's 16^3 tokens cannot tile a 40^3 patch; the tiny UNet can take it.
    frame = speed_benchmark(
        ["unetr", "unet"], iterations=1, warmup=0, variant="tiny", device="cpu", data=synthetic_root,
        cache_dir=cache, patch_size=(40, 40, 40), progress=False,
    )  # fmt: skip
    errors = dict(zip(frame["model"], frame["error"]))
    assert "unetr" in errors["unetr"]
    assert errors["unet"] == ""
    assert frame.set_index("model").loc["unet", "loop_s_per_step"] > 0


def test_bad_arguments_are_reported():
    with pytest.raises(ValueError, match="no_such_net"):
        speed_benchmark(["no_such_net"], device="cpu")
    with pytest.raises(ValueError, match="variant"):
        speed_benchmark(["unet"], variant="medium", device="cpu")
    with pytest.raises(TypeError, match="preset= is now variant="):
        speed_benchmark(["unet"], preset="tiny", device="cpu")
    with pytest.raises(TypeError, match="iteration"):
        speed_benchmark(["unet"], iteration=2, device="cpu")


@pytest.mark.slow
def test_cli_prints_the_table_and_writes_the_csv(synthetic_root, cache, tmp_path, capsys):
    csv = tmp_path / "bench" / "speed.csv"
    code = amos_main([
        "bench", "speed", "--models", "unet", "--iterations", "1", "--warmup", "0", "--device", "cpu",
        "--data", str(synthetic_root), "--cache-dir", str(cache), "--out", str(csv),
    ])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert csv.is_file()
    assert "ratio" in out
    assert "unet" in out


def test_bench_without_subcommand_prints_help(capsys):
    assert amos_main(["bench"]) == 2
    assert "speed" in capsys.readouterr().out
