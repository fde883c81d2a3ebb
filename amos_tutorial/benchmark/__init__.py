"""Benchmarks of the AMOS baselines.

Introduced in chapters *Training the baselines* (:mod:`~amos_tutorial.benchmark.speed`: does the
training loop keep the GPU busy? ``amos bench speed``) and *Benchmarking the baselines*
(:mod:`~amos_tutorial.benchmark.bench`: train, predict and evaluate every model under one budget,
``amos bench``; :mod:`~amos_tutorial.benchmark.report`: leaderboard and figures).

Examples:
    >>> from amos_tutorial.benchmark import speed_benchmark, run_benchmark
    >>> frame = speed_benchmark(["unet"], iterations=2, preset="tiny", device="cpu")  # doctest: +SKIP
    >>> result = run_benchmark(["unet", "nnunet"], data="synthetic", budget="smoke", out="bench/smoke")  # doctest: +SKIP
"""

from amos_tutorial.benchmark import report
from amos_tutorial.benchmark.bench import (
    BENCH_COLUMNS,
    BUDGETS,
    BenchResult,
    Budget,
    budget_table,
    format_speed_report,
    run_benchmark,
    speed_report,
)
from amos_tutorial.benchmark.speed import SPEED_COLUMNS, format_speed_table, speed_benchmark

__all__ = [
    "BENCH_COLUMNS",
    "BUDGETS",
    "BenchResult",
    "Budget",
    "SPEED_COLUMNS",
    "budget_table",
    "format_speed_report",
    "format_speed_table",
    "report",
    "run_benchmark",
    "speed_benchmark",
    "speed_report",
]
