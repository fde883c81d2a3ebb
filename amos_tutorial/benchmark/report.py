"""The benchmark's report: ``results.csv`` read back, a markdown leaderboard and two seaborn figures.

Introduced in chapter *Benchmarking the baselines*. Builds on pandas, seaborn and matplotlib. The
input is always the results table of :func:`amos_tutorial.benchmark.bench.run_benchmark` (one row per
model, :func:`~amos_tutorial.benchmark.results.bench_columns`), so every part of the report can be
re-drawn from a saved or committed ``results.csv``:

* :func:`leaderboard_markdown`: models ranked by mean DSC, with the mean of every metric of the metric table
  (:mod:`amos_tutorial.evaluation.metric_table`) that the table holds, training cost, speed and memory,
  under a header naming the budget, the data and the machine;
* :func:`plot_accuracy_vs_time`: mean DSC and NSD against training time;
* :func:`plot_organ_heatmap`: DSC and NSD (or any registered metric) per model and organ;
* :func:`write_report`: all three into the benchmark folder, atomically;
* :func:`choose_results`: the chapter's rule: results measured on a GPU when a file is committed, the
  smoke run otherwise, and a sentence saying which.

Smoke-budget and synthetic-data results carry a caveat (:func:`results_caveat`) in every title: they
check the pipeline and are never AMOS results.

Examples:
    >>> frame = load_results("bench/smoke/results.csv")      # doctest: +SKIP
    >>> print(leaderboard_markdown(frame))                    # doctest: +SKIP
    >>> fig = plot_accuracy_vs_time(frame)                    # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from amos_tutorial.benchmark.results import load_results
from amos_tutorial.evaluation.metric_table import challenge_metrics, get_metric, list_metrics, metric_names
from amos_tutorial.labels import ORGAN_IDS, label_by_id
from amos_tutorial.utils.io import atomic_path, atomic_write_text

__all__ = [
    "choose_results",
    "describe_results",
    "leaderboard_frame",
    "leaderboard_markdown",
    "load_results",
    "plot_accuracy_vs_time",
    "plot_organ_heatmap",
    "results_caveat",
    "write_report",
]


def _check(frame: pd.DataFrame, what: str = "results") -> None:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{what} must be a pandas DataFrame, got {type(frame).__name__}")
    needed = ("model", "status", "budget", "data", *(f"mean_{m}" for m in challenge_metrics()), "train_time_s")
    missing = [c for c in needed if c not in frame]
    if missing:
        raise ValueError(f"{what} lacks the columns {missing}; expected the table of run_benchmark / load_results")


def _data_name(value: Any) -> str:
    text = str(value)
    return "synthetic mini-AMOS" if text == "synthetic" else Path(text).name or text


def results_caveat(frame: pd.DataFrame) -> str | None:
    """The warning every smoke or synthetic result carries (None for real data under a GPU budget).

    Introduced in chapter *Benchmarking the baselines*.

    Args:
        frame: A results table.

    Returns:
        A sentence, or None when no row is a smoke or quick budget or synthetic data.

    Examples:
        >>> results_caveat(pd.DataFrame({"budget": ["smoke"], "data": ["synthetic"]}))[:5]
        'Smoke'
    """
    budgets = set(frame.get("budget", pd.Series(dtype=str)).astype(str))
    datas = set(frame.get("data", pd.Series(dtype=str)).astype(str))
    parts = []
    if "smoke" in budgets:
        parts.append("smoke budget (tiny networks, a few iterations)")
    if "quick" in budgets:
        parts.append("quick budget (tiny networks on a coarse grid, 600 iterations)")
    if "synthetic" in datas:
        parts.append("synthetic data")
    if not parts:
        return None
    return f"{' on '.join(parts).capitalize()}: a check of the pipeline, not AMOS results."


def describe_results(frame: pd.DataFrame) -> str:
    """One line naming what a results table is: budget, data, machine, software.

    Introduced in chapter *Benchmarking the baselines*.

    Args:
        frame: A results table.

    Returns:
        E.g. ``"budget short on amos22, NVIDIA H100 80GB HBM3 (cuda, bf16), torch 2.11, MONAI 1.6.1"``.
    """
    _check(frame)
    if frame.empty:
        return "no results"

    def values(column: str) -> str:
        found = [str(v) for v in pd.unique(frame[column].dropna())] if column in frame else []
        return "/".join(found) or "?"

    gpu = values("gpu")
    hardware = values("cpu") if gpu in ("none", "?") else gpu
    return (
        f"budget {values('budget')} on {'/'.join(_data_name(d) for d in pd.unique(frame['data']))}, "
        f"{hardware} ({values('device')}, {values('amp')}), torch {values('torch')}, MONAI {values('monai')}"
    )


def leaderboard_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The leaderboard as a table: finished models by mean DSC (best first), then the others.

    Introduced in chapter *Benchmarking the baselines*; builds on pandas.

    Args:
        frame: A results table.

    Returns:
        One row per model with readable columns (rank, scores, parameters, cost, speed, memory, status).
    """
    _check(frame)
    ranking = [f"mean_{m}" for m in challenge_metrics()]
    ok = frame[frame["status"] == "ok"].sort_values(ranking, ascending=False, na_position="last")
    rest = frame[frame["status"] != "ok"]
    ordered = pd.concat([ok, rest])

    def num(column: str, spec: str, scale: float = 1.0) -> pd.Series:
        if column not in ordered:
            return pd.Series("-", index=ordered.index)
        return ordered[column].map(lambda v: format(float(v) * scale, spec) if pd.notna(v) else "-")

    table = pd.DataFrame(
        {
            "rank": [str(i) for i in range(1, len(ok) + 1)] + ["-"] * len(rest),
            "model": ordered["model"].astype(str),
            **{
                f"mean {m.label}{f' ({m.unit})' if m.unit else ''}": num(f"mean_{m.name}", ".4f")
                for m in list_metrics()
                if m.challenge or (f"mean_{m.name}" in ordered and ordered[f"mean_{m.name}"].notna().any())
            },
            "params (M)": num("parameters", ".2f", 1e-6),
            "iterations": ordered.get("iterations", pd.Series(index=ordered.index)).map(
                lambda v: f"{int(v):,}" if pd.notna(v) else "-"
            ),
            "training (s)": num("train_time_s", ".1f"),
            "s / iteration": num("s_per_step", ".3f"),
            "patches / s": num("patches_per_s", ".1f"),
            "peak GPU (GiB)": num("peak_gib", ".2f"),
            "inference (s / case)": num("inference_s_per_case", ".2f"),
            "status": [s if not e else f"{s}: {e}" for s, e in zip(ordered["status"], ordered["error"].fillna(""))],
        }
    )
    return table.reset_index(drop=True)


def _markdown_table(table: pd.DataFrame) -> str:
    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(c) for c in table.columns) + " |"]
    lines.append("|" + "|".join("---" if i < 2 or c == "status" else "---:" for i, c in enumerate(table.columns)) + "|")
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)


def leaderboard_markdown(frame: pd.DataFrame, title: str | None = None) -> str:
    """The leaderboard as markdown: a title, what was measured where, the caveat, the table.

    Introduced in chapter *Benchmarking the baselines*. Plain markdown (no extra dependency), so it
    renders on GitHub and in the book.

    Args:
        frame: A results table.
        title: First line (default: ``"AMOS benchmark leaderboard"``).

    Returns:
        Markdown text.

    Examples:
        >>> print(leaderboard_markdown(load_results("bench/smoke/results.csv")))  # doctest: +SKIP
    """
    _check(frame)
    lines = [f"# {title or 'AMOS benchmark leaderboard'}", ""]
    lines.append(f"Measured with: {describe_results(frame)}.")
    if "eval_cases" in frame and frame["eval_cases"].notna().any():
        lines.append(f"Scores: mean over organs and {int(frame['eval_cases'].max())} evaluation case(s), NaN skipped.")
    caveat = results_caveat(frame)
    if caveat:
        lines += ["", f"**{caveat}**"]
    lines += [
        "",
        (
            "Training time: seconds in the training loop (steps and patch sampling; validation and "
            "checkpoints excluded). Inference: seconds per case, from reading the image to writing the labels."
        ),
        "",
        _markdown_table(leaderboard_frame(frame)),
        "",
    ]
    return "\n".join(lines)


def _title(frame: pd.DataFrame, what: str) -> str:
    caveat = results_caveat(frame)
    budget = "/".join(str(b) for b in pd.unique(frame["budget"].dropna()))
    data = "/".join(_data_name(d) for d in pd.unique(frame["data"].dropna()))
    title = f"{what}: {budget} budget, {data}"
    return f"{title}\n{caveat}" if caveat else title


def _finished(frame: pd.DataFrame, what: str) -> pd.DataFrame:
    _check(frame)
    ok = frame[(frame["status"] == "ok") & frame["mean_dsc"].notna()]
    if ok.empty:
        raise ValueError(f"no finished model with scores in the results: nothing to plot in the {what}")
    return ok


def _time_unit(seconds: pd.Series) -> tuple[float, str]:
    top = float(np.nanmax(seconds.to_numpy(dtype=float)))
    if top >= 3 * 3600:
        return 3600.0, "hours"
    if top >= 3 * 60:
        return 60.0, "minutes"
    return 1.0, "seconds"


def plot_accuracy_vs_time(frame: pd.DataFrame):
    """Mean DSC and mean NSD (the challenge's metrics) of every finished model against its training time.

    Introduced in chapter *Benchmarking the baselines*; builds on :func:`seaborn.scatterplot`. Marker
    area grows with the parameter count; each point is labelled with its model and parameters (millions).

    Args:
        frame: A results table.

    Returns:
        A :class:`matplotlib.figure.Figure` with two panels.

    Raises:
        ValueError: If no model finished with scores.
    """
    import seaborn as sns
    from matplotlib.figure import Figure

    ok = _finished(frame, "accuracy figure").copy()
    scale, unit = _time_unit(ok["train_time_s"])
    ok["training"] = ok["train_time_s"] / scale
    ok["params (M)"] = ok["parameters"].astype(float) / 1e6
    palette = dict(zip(ok["model"], sns.color_palette("tab10", len(ok)).as_hex()))
    fig = Figure(figsize=(7.4, 3.5), dpi=110, layout="constrained")
    metrics = challenge_metrics()
    axes = np.atleast_1d(fig.subplots(1, len(metrics), sharex=True))
    spread = ok["training"].max() / max(ok["training"].min(), 1e-9)
    labels = [(f"mean_{m}", f"mean {get_metric(m).label}") for m in metrics]
    for ax, (column, label) in zip(axes, labels):
        sns.scatterplot(
            data=ok, x="training", y=column, hue="model", size="params (M)", sizes=(60, 400),
            palette=palette, legend=False, ax=ax, edgecolor="black", linewidth=0.5,
        )  # fmt: skip
        for _, row in ok.iterrows():
            text = f"{row['model']} ({row['params (M)']:.2g} M)"
            ax.annotate(text, (row["training"], row[column]), xytext=(7, 5), textcoords="offset points", fontsize=8)
        if spread > 20:
            ax.set_xscale("log")
        ax.set_xlabel(f"training time ({unit})")
        ax.set_ylabel(label)
        ax.set_ylim(-0.02, 1.0)
        ax.margins(x=0.15)
    fig.suptitle(_title(ok, "Accuracy against training time (marker area: parameters)"), fontsize=9)
    return fig


def plot_organ_heatmap(frame: pd.DataFrame, metrics: tuple[str, ...] | None = None):
    """DSC and NSD (or any registered metric) of every finished model and organ as heatmaps, ranked by mean DSC.

    Introduced in chapter *Benchmarking the baselines*; builds on :func:`seaborn.heatmap`. Organ names
    sit on boxes of their fixed colour (:mod:`amos_tutorial.labels`). A blank cell is an organ with
    no score in any evaluation case (absent from reference and prediction).

    Args:
        frame: A results table.
        metrics: Metric names of :mod:`~amos_tutorial.evaluation.metric_table`, one panel each (default: the
            challenge's, DSC and NSD). A distance (lower is better) gets the reversed colour map.

    Returns:
        A :class:`matplotlib.figure.Figure`.

    Raises:
        ValueError: For an unknown metric or one without scores, or if no model finished with scores.
    """
    import seaborn as sns
    from matplotlib.figure import Figure

    metrics = tuple(challenge_metrics() if metrics is None else metrics)
    bad = [m for m in metrics if m not in metric_names()]
    if bad or not metrics:
        raise ValueError(f"metrics must be a non-empty selection of {list(metric_names())}, got {metrics!r}")
    ok = _finished(frame, "organ heatmap").sort_values("mean_dsc", ascending=False)
    organs = [label_by_id(i) for i in ORGAN_IDS]
    fig = Figure(figsize=(7.6, 1.6 + len(metrics) * (0.8 + 0.32 * len(ok))), dpi=110, layout="constrained")
    axes = np.atleast_1d(fig.subplots(len(metrics), 1, sharex=True))
    for ax, metric in zip(axes, metrics):
        entry = get_metric(metric)
        values = ok.set_index("model")[[f"{metric}_{o.name}" for o in organs]].astype(float)
        values.columns = [o.name for o in organs]
        if values.isna().all().all():
            raise ValueError(f"the results hold no {entry.label} score (written before {metric} was registered?)")
        low, high = entry.value_range or (None, None)
        label = f"{entry.label}{f' ({entry.unit})' if entry.unit else ''}"
        sns.heatmap(
            values, ax=ax, vmin=low, vmax=high, cmap="mako" if entry.higher_is_better else "mako_r",
            annot=len(ok) <= 10, fmt=".2f" if entry.value_range else ".1f",
            annot_kws={"fontsize": 7}, cbar_kws={"label": label, "shrink": 0.9}, linewidths=0.5,
        )  # fmt: skip
        ax.set_ylabel("")
        ax.set_xlabel("")
        ax.set_title(f"{label} per organ (mean over evaluation cases)", fontsize=9, loc="left")
        ax.tick_params(axis="y", rotation=0)
    axes[-1].tick_params(axis="x", rotation=60, labelsize=8)
    for tick in axes[-1].get_xticklabels():
        tick.set_horizontalalignment("right")
        _color_tick(tick)
    fig.suptitle(_title(ok, "Per-organ scores"), fontsize=9)
    return fig


def _color_tick(tick: Any) -> None:
    from matplotlib.colors import to_rgb

    from amos_tutorial.labels import LABELS

    colors = {lab.name: lab.color for lab in LABELS}
    color = colors.get(tick.get_text())
    if color is None:
        return
    r, g, b = to_rgb(color)
    tick.set_color("black" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.5 else "white")
    tick.set_bbox({"facecolor": color, "edgecolor": "none", "boxstyle": "round,pad=0.2"})


def _save_png(fig: Any, path: Path) -> Path:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return path


def write_report(
    frame: pd.DataFrame, out_dir: str | os.PathLike, log: Callable[[str], None] | None = None
) -> dict[str, Path]:
    """Write ``leaderboard.md``, ``accuracy_vs_time.png`` and ``organ_heatmap.png`` into ``out_dir``, atomically.

    Introduced in chapter *Benchmarking the baselines*. Builds on :func:`leaderboard_markdown`,
    :func:`plot_accuracy_vs_time`, :func:`plot_organ_heatmap` and :mod:`amos_tutorial.utils.io`.

    Args:
        frame: A results table.
        out_dir: The benchmark folder.
        log: Where to say that the figures were skipped (no finished model); None: silent.

    Returns:
        ``{"leaderboard": path, "accuracy_vs_time": path, "organ_heatmap": path}`` (figures only when a
        model finished with scores).
    """
    out_dir = Path(out_dir)
    files = {"leaderboard": atomic_write_text(out_dir / "leaderboard.md", leaderboard_markdown(frame))}
    if ((frame["status"] == "ok") & frame["mean_dsc"].notna()).any():
        files["accuracy_vs_time"] = _save_png(plot_accuracy_vs_time(frame), out_dir / "accuracy_vs_time.png")
        files["organ_heatmap"] = _save_png(plot_organ_heatmap(frame), out_dir / "organ_heatmap.png")
    elif log is not None:
        log("no model finished with scores yet: figures not drawn")
    return files


def choose_results(committed: str | os.PathLike | None, fallback: pd.DataFrame | None) -> tuple[pd.DataFrame, str]:
    """The chapter's rule: show GPU results when a ``results.csv`` is committed, the smoke run otherwise.

    Introduced in chapter *Benchmarking the baselines*.

    Args:
        committed: A committed results file (e.g. ``book/results/gpu_results.csv``); may not exist.
        fallback: The results of this run (e.g. the smoke benchmark).

    Returns:
        ``(table, sentence)``: the table to show and a sentence saying what it is (budget, data, machine),
        with the caveat when it is a smoke or synthetic run.

    Raises:
        ValueError: If the committed file exists but is not a results table (one line naming it), or
            neither source is available.
    """
    if committed is not None and Path(committed).is_file():
        table = load_results(committed)
        source = f"committed results {Path(committed).name} ({describe_results(table)})"
    elif fallback is not None:
        _check(fallback, "fallback")
        table = fallback
        where = f" ({Path(committed).name} is not committed yet)" if committed is not None else ""
        source = f"the results of this run{where}: {describe_results(table)}"
    else:
        raise ValueError("no results to show: give a committed results.csv or the results of a run")
    caveat = results_caveat(table)
    return table, f"Showing {source}." + (f" {caveat}" if caveat else "")
