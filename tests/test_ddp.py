"""`amos train` under torchrun: 2 CPU processes, Gloo backend, DistributedDataParallel."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from amos_tutorial.training import load_checkpoint, load_config, load_run
from amos_tutorial.training.distributed import DistInfo, any_rank, distributed_env


def test_single_process_environment(monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    info = distributed_env()
    assert (info.rank, info.world_size, info.is_main, info.enabled) == (0, 1, True, False)
    assert any_rank(True, DistInfo(), torch.device("cpu")) is True
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "2")
    with pytest.raises(ValueError, match="RANK=2"):
        distributed_env()


@pytest.mark.slow
def test_two_gloo_processes_train_one_run(synthetic_root: Path, tmp_path: Path):
    run = tmp_path / "ddp"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "-m", "amos_tutorial.cli", "train", "--model", "unet", "--data", str(synthetic_root), "--out", str(run),
        "--iterations", "4", "--iterations-per-epoch", "2", "--device", "cpu",
        "--cache-dir", str(tmp_path / "cache"), "--no-progress",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env, timeout=400)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "2 process(es)" in proc.stdout
    # Only rank 0 printed and wrote: one summary line, one TensorBoard file at most.
    assert proc.stdout.count("finished (4 steps planned)") == 1
    assert len(list((run / "tensorboard").glob("events.*"))) <= 1
    config = load_config(run)
    assert config.world_size == 2
    metrics = pd.read_csv(run / "metrics.csv")
    assert list(metrics["iteration"]) == [2, 4]
    assert metrics["val_dice"].notna().iloc[-1]
    assert load_checkpoint(run / "checkpoints" / "last.pt")["iteration"] == 4
    model, _ = load_run(run, checkpoint="best")
    with torch.no_grad():
        out = model(torch.zeros(1, 1, *config.patch_size))
    assert torch.isfinite(out).all()
