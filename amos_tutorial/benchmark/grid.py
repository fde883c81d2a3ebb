"""``amos bench --executor local|slurm``: the (model, fold) grid, one job per cell, through submitit.

Introduced in chapter *Benchmarking the baselines*. Builds on :func:`amos_tutorial.benchmark.bench.run_benchmark`
(one cell = one model on one cross-validation fold: training, prediction and scoring, resumably) and on
`submitit <https://github.com/facebookincubator/submitit>`_, which runs each cell as its own job: a SLURM job
on a cluster (``executor="slurm"``) or a child process of this machine (``executor="local"``, submitit's
``LocalExecutor``, at most ``parallel`` at a time).

**Resumable and failure-tolerant.** Each cell is an ordinary benchmark folder,
``BENCH_DIR/grid/<model>_fold<K>/``, so a job that is killed resumes from its checkpoint when it runs again.
A cell whose ``bench_state.json`` says ``ok`` is not submitted again; a job that fails (an exception, a
killed process, a SLURM time limit) becomes one ``failed`` row with its error, and the other jobs still
finish. Running the same command again submits only the missing cells.

Folder::

    BENCH_DIR/grid.json                  the grid's settings (models, folds, budget, executor)
    BENCH_DIR/grid/<model>_fold<K>/      one benchmark folder per cell (bench.json, split.json, runs/<model>/)
    BENCH_DIR/jobs/                      submitit's pickles and logs (``<job id>_0_log.out`` / ``.err``)
    BENCH_DIR/results.csv                one row per (model, fold): ``fold``, ``job_id`` and :func:`bench_columns`
    BENCH_DIR/leaderboard.md, figures    per model, the mean over its finished folds

A SLURM example (one GPU per job, 12 hours each, partition ``gpu``)::

    amos bench --models nnunet,unet --folds 0,1,2,3,4 --data /data/amos22 --budget full \\
        --executor slurm --partition gpu --gpus-per-job 1 --time-limit 720 --out bench/full

Examples:
    >>> grid = run_grid(["unet", "segresnet"], folds=[0, 1], data="synthetic", out="bench/grid")  # doctest: +SKIP
    >>> grid.results[["model", "fold", "status", "mean_dsc"]]                                     # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from amos_tutorial.benchmark.bench import STATE_FILE, BenchResult
from amos_tutorial.benchmark.results import RESULTS_FILE, bench_columns
from amos_tutorial.utils.io import atomic_path, atomic_write_text
from amos_tutorial.utils.options import with_settings

__all__ = ["EXECUTORS", "GridJobs", "cell_dir", "grid_columns", "model_means", "run_grid", "run_grid_cell"]


def grid_columns() -> tuple[str, ...]:
    """Columns of the grid's ``results.csv``: ``fold``, ``job_id``, then :func:`bench_columns` (metrics as registered)."""
    return ("fold", "job_id", *bench_columns())


#: Where the jobs run: submitit's local executor (child processes) or SLURM.
EXECUTORS = ("local", "slurm")
GRID_FILE = "grid.json"


def cell_dir(out: str | os.PathLike, model: str, fold: int | None) -> Path:
    """The benchmark folder of one (model, fold) cell: ``OUT/grid/<model>_fold<K>`` (``<model>`` without a fold)."""
    return Path(out) / "grid" / (model if fold is None else f"{model}_fold{fold}")


def run_grid_cell(cell: dict[str, Any]) -> dict[str, Any]:
    """One job: train, predict and score one model on one fold in its own benchmark folder; return its row.

    Runs inside the submitit job (a SLURM job or a child process). ``cell`` holds ``model``, ``fold``,
    ``out`` (the cell's folder) and the keyword arguments of :func:`~amos_tutorial.benchmark.bench.run_benchmark`.
    """
    from amos_tutorial.benchmark.bench import run_benchmark

    kwargs = dict(cell["kwargs"])
    bench = run_benchmark([cell["model"]], out=cell["out"], fold=cell["fold"], progress=False, log=print, **kwargs)
    row = bench.results.iloc[0].to_dict()
    return {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}


def _finished_row(folder: Path, model: str) -> dict[str, Any] | None:
    """The row of a cell finished earlier (its ``bench_state.json`` says ``ok``), else None."""
    path = folder / "runs" / model / STATE_FILE
    if not path.is_file():
        return None
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None  # the job reads it again and names the file in its error
    if isinstance(state, dict) and state.get("status") == "ok" and isinstance(state.get("row"), dict):
        return dict(state["row"])
    return None


def _job_error(exc: BaseException) -> str:
    """One line for a failed job: the last line of the job's traceback (submitit puts it in the message)."""
    text = str(exc).split("You can check full logs")[0]
    lines = [line.strip() for line in text.strip().splitlines() if line.strip() and not line.strip().startswith("-")]
    last = lines[-1] if lines else ""
    return f"{type(exc).__name__}: {last}"[:300]


def _make_executor(
    kind: str, folder: Path, timeout_min: float, partition: str | None, gpus_per_job: int, cpus_per_job: int | None,
    mem_gb: float | None, slurm_args: dict[str, Any] | None,
) -> Any:
    try:
        import submitit
    except ImportError as exc:  # pragma: no cover - an optional dependency
        raise ImportError("the benchmark grid needs submitit: pip install 'submitit>=1.5'") from exc

    if kind == "local":
        executor = submitit.LocalExecutor(folder=folder)
        executor.update_parameters(timeout_min=timeout_min, gpus_per_node=gpus_per_job)
        return executor
    executor = submitit.AutoExecutor(folder=folder, cluster="slurm")
    params: dict[str, Any] = {"timeout_min": int(timeout_min), "gpus_per_node": gpus_per_job, "nodes": 1,
                              "tasks_per_node": 1, "name": "amos-bench"}  # fmt: skip
    if partition:
        params["slurm_partition"] = partition
    if cpus_per_job:
        params["cpus_per_task"] = cpus_per_job
    if mem_gb:
        params["mem_gb"] = mem_gb
    params.update({f"slurm_{k}" if not k.startswith("slurm_") else k: v for k, v in (slurm_args or {}).items()})
    executor.update_parameters(**params)
    return executor


def _check_grid(
    models: Sequence[str] | str, folds: Sequence[int | None], executor: str, parallel: int | None, timeout_min: float,
    gpus_per_job: int,
) -> tuple[list[str], list[int | None]]:
    from amos_tutorial.benchmark.bench import _parse_models
    from amos_tutorial.data.splits import DEFAULT_FOLDS

    names = _parse_models(models)
    folds = list(folds)
    if not folds:
        raise ValueError("folds is empty: give at least one fold, e.g. folds=[0]")
    for fold in folds:
        if fold is not None and (isinstance(fold, bool) or not isinstance(fold, int) or not 0 <= fold < DEFAULT_FOLDS):
            raise ValueError(f"fold must be None or an integer from 0 to {DEFAULT_FOLDS - 1}, got {fold!r}")
    if len(set(folds)) != len(folds):
        raise ValueError(f"a fold is listed twice in {folds}")
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")
    if parallel is not None and parallel < 1:
        raise ValueError(f"parallel must be >= 1, got {parallel}")
    if not timeout_min > 0:
        raise ValueError(f"timeout_min must be > 0, got {timeout_min}")
    if gpus_per_job < 0:
        raise ValueError(f"gpus_per_job must be >= 0, got {gpus_per_job}")
    return names, folds


def model_means(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per model for the leaderboard: the mean of its finished folds (its first row when none finished)."""
    rows = []
    for _, group in frame.groupby("model", sort=False):
        done = group[group["status"] == "ok"]
        if done.empty:
            rows.append(group.iloc[0].to_dict())
            continue
        row = done.iloc[0].to_dict()
        for column in done.columns:
            if pd.api.types.is_numeric_dtype(done[column]) and column not in ("fold", "seed"):
                row[column] = done[column].mean()
        if len(done) < len(group):
            row["status"] = "failed"
            row["error"] = f"{len(group) - len(done)} of {len(group)} fold(s) not finished"
        rows.append(row)
    return pd.DataFrame(rows).reindex(columns=list(bench_columns()))


@dataclass(frozen=True)
class GridJobs:
    """How the cells of a grid run as jobs (submitit's executor and its limits).

    Introduced in chapter *Benchmarking the baselines*.

    Attributes:
        executor: ``"local"`` (submitit's LocalExecutor: child processes of this machine) or ``"slurm"``.
        parallel: Jobs running at the same time (default: 1 locally, every cell on SLURM).
        timeout_min: Time limit of each job in minutes (SLURM's ``--time``; a local job is stopped after it).
        partition: SLURM partition.
        gpus_per_job: GPUs per job (SLURM ``--gpus-per-node``; locally, the CUDA devices a job sees).
        cpus_per_job: SLURM ``--cpus-per-task``.
        mem_gb: SLURM memory per job in GB.
        slurm_args: Further SLURM parameters of submitit (``{"account": "abc", "qos": "high"}``).
        poll_s: Seconds between two looks at the jobs (default: 0.5 locally, 30 on SLURM).
    """

    executor: str = "local"
    parallel: int | None = None
    timeout_min: float = 24 * 60
    partition: str | None = None
    gpus_per_job: int = 0
    cpus_per_job: int | None = None
    mem_gb: float | None = None
    slurm_args: dict[str, Any] | None = None
    poll_s: float | None = None


def run_grid(
    models: Sequence[str] | str,
    folds: Sequence[int | None] = (0,),
    data: str | os.PathLike = "synthetic",
    budget: str = "smoke",
    out: str | os.PathLike | None = None,
    *,
    jobs: GridJobs | None = None,
    log: Callable[[str], None] = print,
    **settings: Any,
) -> BenchResult:
    """Run every (model, fold) cell of a benchmark as its own submitit job, wait, and merge the rows.

    Introduced in chapter *Benchmarking the baselines*. Builds on :func:`run_grid_cell` (one cell =
    :func:`~amos_tutorial.benchmark.bench.run_benchmark` of one model with ``fold=``) and submitit. See the
    module docstring for the folder, resuming and a SLURM example.

    Args:
        models: Registry names, as a list or a comma-separated string.
        folds: nnU-Net cross-validation folds (0-4); ``[None]`` runs each model on the benchmark's own split.
        data: ``"synthetic"`` or an AMOS folder.
        budget: A budget of :data:`~amos_tutorial.benchmark.budgets.BUDGETS`.
        out: Grid folder (default ``bench/<budget>``).
        jobs: How the cells run (:class:`GridJobs`: executor, parallel jobs, limits, SLURM settings).
        log: Where progress messages go.
        **settings: Fields of :class:`GridJobs` (``executor="slurm"``, ``parallel=2``...), which override
            ``jobs``, and keyword arguments of :func:`~amos_tutorial.benchmark.bench.run_benchmark`
            (``iterations``, ``device``, ``cache_dir``, ``threads``, ``eval_cases``...), the same for every cell.

    Returns:
        A :class:`~amos_tutorial.benchmark.bench.BenchResult` whose ``results`` has one row per cell
        (:func:`grid_columns`); ``results.csv``, ``leaderboard.md`` and the figures are in ``out``.

    Raises:
        ValueError: For a bad model, fold, executor or option (one line).
        ImportError: When submitit is not installed.
    """
    from amos_tutorial.benchmark.bench import _check_settings, _write_json
    from amos_tutorial.benchmark.report import write_report

    job_fields = {f.name for f in dataclasses.fields(GridJobs)}
    j = with_settings(GridJobs, jobs, {k: settings.pop(k) for k in list(settings) if k in job_fields})
    bench_kwargs = settings
    names, folds = _check_grid(models, folds, j.executor, j.parallel, j.timeout_min, j.gpus_per_job)
    for key in ("out", "fold", "progress", "log", "models"):
        if key in bench_kwargs:
            raise ValueError(f"{key!r} is set by the grid itself, not by a keyword argument")
    out_dir = Path(out) if out is not None else Path("bench") / budget
    out_dir.mkdir(parents=True, exist_ok=True)
    kwargs = {"data": str(data), "budget": budget, **bench_kwargs}
    settings = {"models": names, "folds": folds, **{k: v for k, v in kwargs.items()}}
    _check_settings(out_dir / GRID_FILE, json.loads(json.dumps(settings, default=str)))
    _write_json(out_dir / GRID_FILE, settings)
    cells = [(m, f) for m in names for f in folds]
    rows: dict[tuple[str, int | None], dict[str, Any]] = {}
    todo = []
    for model, fold in cells:
        done = _finished_row(cell_dir(out_dir, model, fold), model)
        if done is not None:
            rows[(model, fold)] = {**done, "job_id": "", "fold": fold}
            log(f"{model} fold {fold}: finished earlier, not submitted")
        else:
            todo.append((model, fold))
    if todo:
        submitter = _make_executor(
            j.executor, out_dir / "jobs", j.timeout_min, j.partition, j.gpus_per_job, j.cpus_per_job, j.mem_gb,
            j.slurm_args,
        )  # fmt: skip
        limit = j.parallel or (1 if j.executor == "local" else len(todo))
        wait = j.poll_s if j.poll_s is not None else (0.5 if j.executor == "local" else 30.0)
        rows.update(_submit_and_wait(submitter, todo, out_dir, kwargs, limit, wait, log))
    frame = pd.DataFrame([_grid_row(rows[c], *c) for c in cells]).reindex(columns=list(grid_columns()))
    path = out_dir / RESULTS_FILE
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    files = {"results": path}
    files.update(write_report(model_means(frame), out_dir, log=log))
    summary = ", ".join(f"{n} {s}" for s, n in frame["status"].value_counts().items())
    atomic_write_text(out_dir / "grid_status.txt", f"{len(cells)} cell(s): {summary}\n")
    return BenchResult(results=frame, out_dir=out_dir, files=files)


def _grid_row(row: dict[str, Any], model: str, fold: int | None) -> dict[str, Any]:
    return {**{c: np.nan for c in grid_columns()}, **row, "model": model, "fold": fold}


def _submit_and_wait(
    executor: Any, todo: list[tuple[str, int | None]], out_dir: Path, kwargs: dict[str, Any], limit: int,
    wait: float, log: Callable[[str], None],
) -> dict[tuple[str, int | None], dict[str, Any]]:
    """Submit the cells, at most ``limit`` running at once, and collect one row per cell (its error if it failed)."""
    pending = list(todo)
    running: dict[tuple[str, int | None], Any] = {}
    rows: dict[tuple[str, int | None], dict[str, Any]] = {}
    while pending or running:
        while pending and len(running) < limit:
            model, fold = pending.pop(0)
            cell = {"model": model, "fold": fold, "out": str(cell_dir(out_dir, model, fold)), "kwargs": kwargs}
            running[(model, fold)] = job = executor.submit(run_grid_cell, cell)
            log(f"{model} fold {fold}: submitted as job {job.job_id}")
        finished = [key for key, job in running.items() if job.done()]
        for key in finished:
            job = running.pop(key)
            try:
                row = dict(job.result())
            except Exception as exc:  # noqa: BLE001 - one failed job is one row; the others go on
                row = {"status": "failed", "error": _job_error(exc)}
            row["job_id"] = str(job.job_id)
            rows[key] = row
            log(f"{key[0]} fold {key[1]}: job {job.job_id} {row.get('status')} {row.get('error') or ''}".rstrip())
        if not finished:
            time.sleep(wait)
    return rows
