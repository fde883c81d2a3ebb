"""Stopping a training run politely: the first Ctrl-C (or SIGTERM) ends it after the current step.

Introduced in chapter *Training the baselines*. Builds on the standard ``signal`` module.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["INTERRUPTED_EXIT_CODE", "StopFlag"]

# Exit code of a run stopped by Ctrl-C (128 + SIGINT), the shell convention.
INTERRUPTED_EXIT_CODE = 130


class StopFlag:
    """Turns the first SIGINT/SIGTERM into a polite "stop after this step"; a second one aborts."""

    def __init__(self, log: Callable[[str], None]) -> None:
        self.requested = False
        self.signal_name = ""
        self._log = log
        self._previous: dict[int, Any] = {}

    def _handler(self, signum: int, frame: Any) -> None:
        if self.requested:
            # Second Ctrl-C: the user really wants out now.
            raise KeyboardInterrupt
        self.requested = True
        self.signal_name = signal.Signals(signum).name
        self._log(f"\n{self.signal_name} received: stopping after this step and writing a checkpoint (again to abort)")

    def __enter__(self) -> StopFlag:
        # Signal handlers can only be installed from the main thread (not in a notebook's worker thread).
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
