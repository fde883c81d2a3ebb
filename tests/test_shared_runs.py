"""Runs shared between chapters through the cache (`shared_run`) and handed to the benchmark (`runs=`)."""

from __future__ import annotations

import threading

import pytest

from amos_tutorial.training.shared import shared_run, shared_run_dir

pytestmark = pytest.mark.slow

# The smallest run that trains: 4 steps of the tiny UNet on 32^3 patches.
TINY = dict(preset="smoke", iterations=4, iterations_per_epoch=2, val_cases=1, device="cpu")


def test_shared_run_trains_once_and_a_changed_setting_trains_anew(synthetic_root, tmp_path):
    first = shared_run("unet", data=synthetic_root, cache_dir=tmp_path, **TINY)
    assert first.completed
    assert first.iteration == 4
    assert first.run_dir == shared_run_dir("unet", data=synthetic_root, cache_dir=tmp_path, **TINY)
    last = first.run_dir / "checkpoints" / "last.pt"
    stamp = last.stat().st_mtime_ns
    again = shared_run("unet", data=synthetic_root, cache_dir=tmp_path, **TINY)
    assert again.run_dir == first.run_dir
    assert again.completed
    assert last.stat().st_mtime_ns == stamp, "a finished shared run must be read back, not trained again"
    assert len(again.metrics) == len(first.metrics)
    other = shared_run_dir("unet", data=synthetic_root, cache_dir=tmp_path, **{**TINY, "seed": 1})
    assert other != first.run_dir
    assert shared_run_dir("nnunet", data=synthetic_root, cache_dir=tmp_path, **TINY) != first.run_dir


def test_shared_run_key_follows_the_code(synthetic_root, tmp_path, monkeypatch):
    import amos_tutorial.training.shared as shared

    before = shared_run_dir("unet", data=synthetic_root, cache_dir=tmp_path, **TINY)
    monkeypatch.setattr(shared, "code_fingerprint", lambda: "changed-code")
    assert shared_run_dir("unet", data=synthetic_root, cache_dir=tmp_path, **TINY) != before


def test_a_second_caller_waits_for_the_first(synthetic_root, tmp_path):
    from filelock import FileLock

    run_dir = shared_run_dir("unet", data=synthetic_root, cache_dir=tmp_path, **TINY)
    run_dir.parent.mkdir(parents=True)
    results = []
    with FileLock(f"{run_dir}.lock"):  # another process is training this run
        worker = threading.Thread(
            target=lambda: results.append(shared_run("unet", data=synthetic_root, cache_dir=tmp_path, **TINY))
        )
        worker.start()
        worker.join(timeout=2)
        assert worker.is_alive()
        assert not results
        assert not (run_dir / "config.json").exists()
    worker.join()
    assert results
    assert results[0].completed


def test_benchmark_adopts_a_trained_run_and_refuses_a_mismatched_one(synthetic_root, tmp_path):
    from amos_tutorial.benchmark.bench import run_benchmark

    smoke = dict(preset="smoke", iterations=20, val_cases=1, device="cpu")
    trained = shared_run("unet", data=synthetic_root, cache_dir=tmp_path / "cache", **smoke)
    lines: list[str] = []
    bench = run_benchmark(
        ["unet"], data=synthetic_root, budget="smoke", out=tmp_path / "bench", device="cpu",
        runs={"unet": trained.run_dir}, progress=False, log=lines.append,
    )
    row = bench.results.iloc[0]
    assert row["status"] == "ok"
    assert row["iterations"] == 20
    assert any("using the run trained in" in line for line in lines)
    assert not any("training unet" in line for line in lines)
    # Training time comes from the adopted run's metrics.csv, not from the (instant) resume.
    assert row["train_time_s"] > 0
    wrong = shared_run("unet", data=synthetic_root, cache_dir=tmp_path / "cache", **{**smoke, "iterations": 8})
    refused = run_benchmark(["unet"], data=synthetic_root, budget="smoke", out=tmp_path / "bench2", device="cpu",
                            runs={"unet": wrong.run_dir}, progress=False, log=lambda m: None)
    row = refused.results.iloc[0]
    assert row["status"] == "failed"
    assert "config.json" in row["error"]
    assert "'iterations': 8" in row["error"]
