"""Benchmarks of the AMOS baselines.

Introduced in chapter *Training the baselines*. :mod:`amos_tutorial.benchmark.speed` measures
whether the training loop keeps the GPU busy (``amos bench speed``).

Examples:
    >>> from amos_tutorial.benchmark import speed_benchmark
    >>> frame = speed_benchmark(["unet"], iterations=2, preset="tiny", device="cpu")  # doctest: +SKIP
"""

from amos_tutorial.benchmark.speed import SPEED_COLUMNS, format_speed_table, speed_benchmark

__all__ = ["SPEED_COLUMNS", "format_speed_table", "speed_benchmark"]
