"""Results of several models side by side: one stacked table, per-case scores, the worst cases.

Introduced in chapter *Evaluating segmentations*; builds on pandas and the tables of
:func:`amos_tutorial.evaluation.evaluate_folder`. The figures live in :mod:`amos_tutorial.viz.evaluation`.

Examples:
    >>> from amos_tutorial.evaluation.compare import stack_results, worst_cases
    >>> both = stack_results({"unet": df_unet, "nnunet": df_nnunet})  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

from amos_tutorial.evaluation.metric_table import get_metric, metric_names
from amos_tutorial.utils.frames import require_columns

__all__ = ["case_scores", "stack_results", "worst_cases"]

_KEYS = ["case", "organ_id", "organ", "modality"]


def _metrics_of(df: pd.DataFrame, what: str) -> list[str]:
    """The registered metrics that ``df`` has columns for, after checking the identifying columns."""
    require_columns(df, [*_KEYS, "dsc"], what)
    return [m for m in metric_names() if m in df.columns]


def stack_results(results: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Put the tables of several models (``evaluate_folder`` output) into one, with a ``model`` column.

    Introduced in chapter *Evaluating segmentations*. Builds on pandas.

    Args:
        results: Model name -> the table of :func:`amos_tutorial.evaluation.evaluate_folder`, in the order
            figures should show the models.

    Returns:
        One table; ``model`` is an ordered categorical column (first column). ``df.attrs["conventions"]``
        is kept when every table states the same conventions.

    Raises:
        ValueError: If ``results`` is empty, a table lacks the evaluation columns, or the tables were
            scored with different conventions (their scores would not be comparable).

    Examples:
        >>> both = stack_results({"unet": df_unet, "nnunet": df_nnunet})  # doctest: +SKIP
    """
    if not results:
        raise ValueError("results is empty: pass {model name: evaluate_folder(...) table}")
    conventions = set()
    frames = []
    for model, df in results.items():
        _metrics_of(df, f"results of {model!r}")
        conventions.add(df.attrs.get("conventions", ""))
        frames.append(df.assign(model=str(model)))
    if len(conventions) > 1:
        raise ValueError(f"the tables were scored with different conventions, not comparable: {sorted(conventions)}")
    out = pd.concat(frames, ignore_index=True)
    out["model"] = pd.Categorical(out["model"], categories=[str(m) for m in results], ordered=True)
    out = out[["model", *[c for c in out.columns if c != "model"]]]
    out.attrs["conventions"] = conventions.pop()
    return out


def case_scores(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, case): the mean of every metric over organs (NaN skipped) and the worst organ.

    Introduced in chapter *Evaluating segmentations*. Builds on pandas.

    Args:
        df: Output of :func:`stack_results` (or one ``evaluate_folder`` table, then ``model`` is ``""``).

    Returns:
        Columns ``model, case, modality``, one per metric (``dsc, nsd, hd95, ...``), then ``worst_organ,
        worst_organ_id, worst_dsc``; the worst
        organ is the one with the lowest DSC among the organs present in the reference (ties: the larger
        reference volume first).

    Raises:
        ValueError: If the table lacks columns or is empty.

    Examples:
        >>> case_scores(stacked).sort_values("dsc").head(3)  # doctest: +SKIP
    """
    metrics = _metrics_of(df, "results table")
    data = df if "model" in df.columns else df.assign(model="")
    rows = []
    for (model, case), part in data.groupby(["model", "case"], observed=True, sort=False):
        present = part[part["ref_ml"] > 0] if "ref_ml" in part.columns else part
        present = present.dropna(subset=["dsc"])
        if "ref_ml" in present.columns:
            present = present.sort_values(["dsc", "ref_ml"], ascending=[True, False], kind="stable")
        else:
            present = present.sort_values("dsc", kind="stable")
        worst = present.iloc[0] if not present.empty else None
        rows.append(
            {
                "model": model,
                "case": case,
                "modality": part["modality"].iloc[0],
                **{m: part[m].mean() for m in metrics},
                "worst_organ": "" if worst is None else str(worst["organ"]),
                "worst_organ_id": 0 if worst is None else int(worst["organ_id"]),
                "worst_dsc": math.nan if worst is None else float(worst["dsc"]),
            }
        )
    out = pd.DataFrame(rows)
    if isinstance(data["model"].dtype, pd.CategoricalDtype):
        out["model"] = pd.Categorical(out["model"], categories=data["model"].cat.categories, ordered=True)
    return out


def worst_cases(df: pd.DataFrame, n: int = 1, metric: str = "dsc", per_model: bool = True) -> pd.DataFrame:
    """The cases with the worst mean score (lowest, or highest for a distance), per model (or overall).

    Introduced in chapter *Evaluating segmentations*. Builds on :func:`case_scores`. Ties are broken by the
    other metrics of the table in order, then by case id, so the choice is reproducible.

    Args:
        df: Output of :func:`stack_results`.
        n: Cases per model (or in total, with ``per_model=False``).
        metric: A metric of the table (:func:`~amos_tutorial.evaluation.metric_table.metric_names`).
        per_model: Pick the worst ``n`` of each model; otherwise the worst ``n`` (model, case) pairs.

    Returns:
        Rows of :func:`case_scores`, worst first (grouped by model when ``per_model``).

    Raises:
        ValueError: For an unknown metric or ``n`` < 1.

    Examples:
        >>> worst_cases(stacked, n=1)[["model", "case", "dsc", "worst_organ"]]  # doctest: +SKIP
    """
    if int(n) < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    scores = case_scores(df)
    if metric not in scores.columns:
        raise ValueError(f"metric must be one of {[m for m in metric_names() if m in scores.columns]}, got {metric!r}")
    order = [metric, *[m for m in metric_names() if m in scores.columns and m != metric], "case"]
    ascending = [get_metric(m).higher_is_better for m in order[:-1]] + [True]
    scores = scores.sort_values(order, ascending=ascending, kind="stable", na_position="first")
    if per_model:
        scores = (
            scores.groupby("model", observed=True, sort=True)
            .head(int(n))
            .sort_values(["model", *order], ascending=[True, *ascending], kind="stable")
        )
    else:
        scores = scores.head(int(n))
    return scores.reset_index(drop=True)
