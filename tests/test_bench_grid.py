"""``amos bench --folds/--executor``: the (model, fold) grid through submitit's local executor.

One slow test runs a 2-model x 2-fold smoke grid (tiny models, 2 iterations, one evaluation case) in which
one cell fails once (its state file is unreadable), then the same command again: only that cell is
submitted, the finished cells are not retrained, and the table is complete.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from amos_tutorial.benchmark.grid import cell_dir, grid_columns, model_means, run_grid
from amos_tutorial.cli import main as amos_main

pytest.importorskip("submitit")

MODELS = ["unet", "segresnet"]
FOLDS = [0, 1]


def _grid(root: Path, out: Path, cache: Path):
    return run_grid(
        MODELS, folds=FOLDS, data=str(root), out=out, parallel=2, iterations=2, eval_cases=1, device="cpu",
        cache_dir=cache, threads=1, log=lambda line: None,
    )  # fmt: skip


def test_bad_grid_arguments_fail_before_any_job(tmp_path):
    with pytest.raises(ValueError, match="executor"):
        run_grid(MODELS, folds=[0], out=tmp_path, executor="pbs")
    with pytest.raises(ValueError, match="fold must be"):
        run_grid(MODELS, folds=[7], out=tmp_path)
    with pytest.raises(ValueError, match="listed twice"):
        run_grid(MODELS, folds=[0, 0], out=tmp_path)
    with pytest.raises(ValueError, match="'fold' is set by the grid"):
        run_grid(MODELS, folds=[0], out=tmp_path, fold=1)
    assert not (tmp_path / "grid").exists(), "a job folder was made before the arguments were checked"


def test_cli_help_documents_a_slurm_example(capsys):
    with pytest.raises(SystemExit):
        amos_main(["bench", "--help"])
    text = capsys.readouterr().out
    for piece in ("--executor", "--folds", "--partition", "--gpus-per-job", "--time-limit", "--executor slurm"):
        assert piece in text, f"`amos bench --help` does not mention {piece}"


@pytest.mark.slow
def test_grid_survives_a_failed_job_and_resumes_only_the_missing_cell(tmp_path):
    from amos_tutorial.data.synthetic.dataset import generate_synthetic_dataset

    root = Path(generate_synthetic_dataset(tmp_path / "amos22", n_cases=8, seed=0, max_shape=(32, 32, 16)))
    out, cache = tmp_path / "grid", tmp_path / "cache"
    broken = cell_dir(out, "segresnet", 1) / "runs" / "segresnet" / "bench_state.json"
    broken.parent.mkdir(parents=True)
    broken.write_text("{not json", encoding="utf-8")

    first = _grid(root, out, cache)
    table = pd.read_csv(out / "results.csv", keep_default_na=False, na_values=[""])
    assert list(table.columns) == list(grid_columns())
    assert len(table) == len(MODELS) * len(FOLDS)
    status = {(m, f): s for m, f, s in zip(first.results["model"], first.results["fold"], first.results["status"])}
    assert status[("segresnet", 1)] == "failed"
    error = first.results.set_index(["model", "fold"]).loc[("segresnet", 1), "error"]
    assert "bench_state.json" in error, error
    assert sum(s == "ok" for s in status.values()) == 3, status
    means = model_means(first.results).set_index("model")
    assert means.loc["segresnet", "status"] == "failed", "a model with a missing fold is not finished"

    checkpoints = {c: cell_dir(out, *c) / "runs" / c[0] / "checkpoints" / "last.pt" for c in status if status[c] == "ok"}
    before = {c: p.stat().st_mtime_ns for c, p in checkpoints.items()}
    submitted = len(list((out / "jobs").glob("*_submitted.pkl")))
    broken.unlink()

    second = _grid(root, out, cache)
    assert (second.results["status"] == "ok").all(), second.results[["model", "fold", "status", "error"]]
    assert len(list((out / "jobs").glob("*_submitted.pkl"))) == submitted + 1, "finished cells were submitted again"
    after = {c: p.stat().st_mtime_ns for c, p in checkpoints.items()}
    assert after == before, "a finished cell was retrained"
    job_ids = second.results.set_index(["model", "fold"])["job_id"].fillna("")
    assert (job_ids.drop(("segresnet", 1)) == "").all(), f"finished cells got new jobs: {job_ids.to_dict()}"
    assert job_ids.loc[("segresnet", 1)] != "", "the missing cell was not submitted"
    assert (out / "leaderboard.md").is_file()
