"""Benchmarks of the AMOS baselines: every measurement of the package lives here.

Introduced in chapters *Training the baselines* (:mod:`~amos_tutorial.benchmark.speed`: does the
training loop keep the GPU busy? ``amos bench speed``) and *Benchmarking the baselines*
(:mod:`~amos_tutorial.benchmark.bench`: train, predict and evaluate every model under one budget,
``amos bench``; :mod:`~amos_tutorial.benchmark.grid`: the same per (model, fold) cell as submitit jobs,
``amos bench --folds --executor local|slurm``; :mod:`~amos_tutorial.benchmark.report`: leaderboard and
figures). The other modules:
:mod:`~amos_tutorial.benchmark.results` (the schema of ``results.csv``, machine facts, loading),
:mod:`~amos_tutorial.benchmark.budgets` (``--budget``), :mod:`~amos_tutorial.benchmark.throughput`
(data pipelines side by side) and :mod:`~amos_tutorial.benchmark.models` (parameters, seconds per step,
peak memory, inference and metric timings).

Examples:
    >>> from amos_tutorial.benchmark import speed_benchmark, run_benchmark
    >>> frame = speed_benchmark(["unet"], iterations=2, variant="tiny", device="cpu")  # doctest: +SKIP
    >>> result = run_benchmark(["unet", "nnunet"], data="synthetic", budget="smoke", out="bench/smoke")  # doctest: +SKIP
"""

from amos_tutorial.benchmark import report
from amos_tutorial.benchmark.bench import BenchResult, run_benchmark
from amos_tutorial.benchmark.budgets import BUDGETS, Budget, budget_table
from amos_tutorial.benchmark.results import bench_columns, load_results, machine_info
from amos_tutorial.benchmark.speed import SPEED_COLUMNS, format_speed_report, speed_benchmark, speed_report

__all__ = [
    "BUDGETS",
    "BenchResult",
    "Budget",
    "SPEED_COLUMNS",
    "bench_columns",
    "budget_table",
    "format_speed_report",
    "load_results",
    "machine_info",
    "report",
    "run_benchmark",
    "speed_benchmark",
    "speed_report",
]
