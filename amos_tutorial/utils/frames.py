"""Argument checks for tables: one place that says which columns a function needs.

Introduced in chapter *Exploring the data*; builds on pandas.

Examples:
    >>> import pandas as pd
    >>> require_columns(pd.DataFrame({"a": [1]}), ["a"], "table")
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

__all__ = ["require_columns"]


def require_columns(frame: Any, columns: Sequence[str], what: str) -> None:
    """Check that ``frame`` is a non-empty DataFrame with ``columns``.

    Args:
        frame: The table to check.
        columns: Column names it must have.
        what: How the error message names the table.

    Raises:
        TypeError: If ``frame`` is not a DataFrame.
        ValueError: If columns are missing or the table is empty.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{what} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} lacks the columns {missing}")
    if frame.empty:
        raise ValueError(f"{what} is empty: nothing to show")
