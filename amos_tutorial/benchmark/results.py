"""The schema of benchmark results: columns, statuses, the machine a row was measured on, loading a table.

Introduced in chapter *Benchmarking the baselines*; builds on pandas, torch and MONAI. Both the benchmark
runner (:mod:`~amos_tutorial.benchmark.bench`) and the report (:mod:`~amos_tutorial.benchmark.report`) read
the schema from here, so neither imports the other's internals.

The score columns follow the metric table (:mod:`amos_tutorial.evaluation.metric_table`): ``mean_<metric>``
and ``<metric>_<organ>`` for every registered metric, so a metric registered before ``amos bench`` runs
reaches ``results.csv`` and the report without an edit here.

Examples:
    >>> organ_columns()[:2]
    ('dsc_spleen', 'dsc_kidney_right')
    >>> bench_columns()[:2]
    ('model', 'status')
"""

from __future__ import annotations

import contextlib
import os
import platform
from pathlib import Path
from typing import Any

import pandas as pd

from amos_tutorial.evaluation.metric_table import metric_names
from amos_tutorial.labels import ORGAN_IDS, label_by_id

__all__ = [
    "MACHINE_COLUMNS",
    "RESULTS_FILE",
    "STATUSES",
    "bench_columns",
    "error_line",
    "load_results",
    "machine_info",
    "mean_columns",
    "organ_columns",
]

RESULTS_FILE = "results.csv"
"""Name of the results table in a benchmark folder."""


#: Outcome of one model: finished, failed (``error`` says why), stopped (resume it) or not reached.
STATUSES: tuple[str, ...] = ("ok", "failed", "interrupted", "pending")


def mean_columns() -> tuple[str, ...]:
    """Score columns over all organs and cases: ``mean_<metric>`` per registered metric, then the DSC per modality.

    Introduced in chapter *Benchmarking the baselines*.

    Examples:
        >>> mean_columns()[:3]
        ('mean_dsc', 'mean_nsd', 'mean_hd95')
    """
    return (*(f"mean_{m}" for m in metric_names()), "mean_dsc_ct", "mean_dsc_mri")


def organ_columns() -> tuple[str, ...]:
    """Per-organ score columns: ``<metric>_<organ>`` for the 15 organs, one block per registered metric.

    Introduced in chapter *Benchmarking the baselines*.

    Examples:
        >>> len(organ_columns()) == 15 * len(metric_names())
        True
    """
    return tuple(f"{metric}_{label_by_id(i).name}" for metric in metric_names() for i in ORGAN_IDS)


#: Machine and software columns (see :func:`machine_info`).
MACHINE_COLUMNS: tuple[str, ...] = (
    "device", "amp", "cpu", "gpu", "cpu_count", "torch_threads", "torch", "monai", "amos_tutorial", "python",
)  # fmt: skip


def bench_columns() -> tuple[str, ...]:
    """Columns of ``results.csv``, in order (the score columns follow the registered metrics).

    Introduced in chapter *Benchmarking the baselines*.

    Examples:
        >>> "mean_hd95" in bench_columns()
        True
    """
    return (
        "model", "status", "error", "budget", "data", "task", "variant", "patch", "batch_size", "seed",
        "parameters", "iterations", "train_time_s", "s_per_step", "patches_per_s", "peak_gib",
        "inference_s_per_case", "eval_cases", *mean_columns(),
        *organ_columns(), *MACHINE_COLUMNS, "train_sessions", "finished_at",
    )  # fmt: skip


def _cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def machine_info(device: str | Any = "auto", amp: str = "auto") -> dict[str, Any]:
    """The machine and software versions a benchmark row was measured with.

    Introduced in chapter *Benchmarking the baselines*. Builds on :mod:`torch` (``torch.cuda``), MONAI
    and :mod:`platform`.

    Args:
        device: The torch device (``"auto"`` resolves like the trainer).
        amp: Mixed-precision mode, resolved for that device (``"auto"``: bf16 on recent GPUs, fp32 on a CPU).

    Returns:
        ``{column: value}`` for :data:`MACHINE_COLUMNS`.

    Examples:
        >>> sorted(machine_info("cpu")) == sorted(MACHINE_COLUMNS)
        True
    """
    import monai
    import torch

    from amos_tutorial import __version__
    from amos_tutorial.training.amp import amp_policy, resolve_device

    dev = resolve_device(device)
    if dev.type == "cuda":
        gpu = torch.cuda.get_device_name(dev)
    elif dev.type == "mps":
        gpu = "Apple GPU (MPS)"
    else:
        gpu = "none"
    return {
        "device": str(dev),
        "amp": amp_policy(dev, amp).name,
        "cpu": _cpu_name(),
        "gpu": gpu,
        "cpu_count": os.cpu_count() or 1,
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "monai": monai.__version__,
        "amos_tutorial": __version__,
        "python": platform.python_version(),
    }


def error_line(exc: BaseException) -> str:
    """``"TypeName: first line of the message"``, at most 300 characters: the ``error`` cell of a row."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first}"[:300]


#: Columns renamed since the first results tables (old -> new): one vocabulary with the speed and model tables
#: (:data:`amos_tutorial.benchmark.probe.MEASURES`).
_RENAMED_COLUMNS = {"s_per_iteration": "s_per_step", "peak_gpu_mem_GiB": "peak_gib"}
#: Columns added after the first results tables, with the value an older table implies.
_ADDED_COLUMNS = {"task": 2, "mean_dsc_ct": float("nan"), "mean_dsc_mri": float("nan")}


def load_results(path: str | os.PathLike) -> pd.DataFrame:
    """Read a ``results.csv`` written by ``amos bench`` and check its columns.

    Introduced in chapter *Benchmarking the baselines*; builds on pandas.

    Args:
        path: The CSV file.

    Returns:
        The table, columns in :func:`bench_columns` order (empty cells are NaN; the score columns of a metric
        the table was written without are NaN).

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: ``"PATH: ..."`` if it is not a readable CSV or lacks columns.

    Examples:
        >>> load_results("book/results/gpu_results.csv")  # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no results table (run `amos bench` first)")
    try:
        frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a readable CSV ({str(exc).strip().splitlines()[0]})") from None
    frame = frame.rename(columns={old: new for old, new in _RENAMED_COLUMNS.items() if new not in frame.columns})
    # Tables written before runs had a task trained on CT and MRI (Task 2) and had no per-modality means.
    for column, value in _ADDED_COLUMNS.items():
        if column not in frame.columns:
            frame[column] = value
    # A metric registered after the table was written has none of its columns in it: no score.
    for metric in metric_names():
        block = (f"mean_{metric}", *_organ_block(metric))
        if not any(c in frame.columns for c in block):
            frame = frame.assign(**dict.fromkeys(block, float("nan")))
    columns = bench_columns()
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise ValueError(f"{path}: not a results table of `amos bench` (missing columns {shown})")
    frame["error"] = frame["error"].fillna("").astype(str)
    return frame[list(columns)]


def _organ_block(metric: str) -> tuple[str, ...]:
    return tuple(f"{metric}_{label_by_id(i).name}" for i in ORGAN_IDS)
