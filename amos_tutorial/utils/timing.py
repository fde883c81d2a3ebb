"""One way to time code: wait for the device, time a call, limit CPU threads, read peak memory.

Introduced in chapter *Training the baselines*; builds on :mod:`time` and torch. Every measurement of the
package (``amos bench ...``, :mod:`amos_tutorial.benchmark`) goes through these helpers, so a CUDA kernel
queue is always drained before a clock is read.

Examples:
    >>> seconds = timed_calls(lambda k: sum(range(100)), count=3)
    >>> seconds >= 0.0
    True
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

__all__ = [
    "format_duration",
    "free_gpu_memory", "peak_memory_gib", "reset_peak_memory", "synchronize", "thread_limit", "timed_calls"]


def format_duration(seconds: float) -> str:
    """A duration as people say it: seconds under a minute, minutes under an hour, then hours.

    Examples:
        >>> format_duration(8.4), format_duration(174), format_duration(5400)
        ('8 s', '2.9 min', '1.5 h')
    """
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative, got {seconds!r}")
    if seconds < 59.5:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def synchronize(device: Any) -> None:
    """Wait until every kernel queued on ``device`` (a CUDA or MPS device) has finished; no-op on the CPU."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def reset_peak_memory(device: Any) -> None:
    """Start a new peak-memory measurement on a CUDA device; no-op elsewhere."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_gib(device: Any) -> float:
    """Peak memory allocated by tensors on a CUDA device since the last reset, in GiB (NaN elsewhere)."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return float("nan")


def timed_calls(call: Callable[[int], Any], count: int, first: int = 0, warmup: int = 0, device: Any = "cpu") -> float:
    """Seconds per call of ``call(k)`` for ``k`` in ``first .. first + count - 1``, after ``warmup`` untimed calls.

    The untimed calls use ``k = first - warmup .. first - 1``; the device is synchronised before the clock
    starts and before it stops.

    Args:
        call: Called with the index of the call.
        count: Timed calls (>= 1).
        first: Index of the first timed call.
        warmup: Untimed calls before (>= 0).
        device: Device to synchronise.

    Raises:
        ValueError: If ``count`` < 1 or ``warmup`` < 0.
    """
    if int(count) < 1 or int(warmup) < 0:
        raise ValueError(f"need count >= 1 and warmup >= 0, got {count} and {warmup}")
    for k in range(first - int(warmup), first):
        call(k)
    synchronize(device)
    start = time.perf_counter()
    for k in range(first, first + int(count)):
        call(k)
    synchronize(device)
    return (time.perf_counter() - start) / int(count)


@contextlib.contextmanager
def thread_limit(threads: int | None) -> Iterator[None]:
    """Run the block with ``threads`` torch CPU threads, restoring the setting afterwards (None: unchanged).

    Raises:
        ValueError: If ``threads`` is not None and < 1.
    """
    import torch

    if threads is None:
        yield
        return
    if int(threads) < 1:
        raise ValueError(f"threads must be >= 1 or None, got {threads}")
    before = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def free_gpu_memory() -> None:
    """Give the CUDA caching allocator's free blocks back (after a model that failed or finished)."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
