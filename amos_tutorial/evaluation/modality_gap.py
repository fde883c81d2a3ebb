"""The modality gap per organ: mean score on CT minus mean score on MRI, with bootstrap intervals over cases.

Introduced in chapter *CT and MRI: the two tasks*. Builds on NumPy and pandas. The input is the tidy table of
:func:`amos_tutorial.evaluation.evaluate_folder` (one row per case and organ), optionally with a ``model``
column (:func:`amos_tutorial.viz.evaluation.stack_results`).

The interval is a percentile bootstrap stratified by modality: the CT cases and the MRI cases are each
resampled with replacement, ``n_boot`` times, and the gap recomputed each time. It shows how much the gap
depends on which cases happened to be scored. With very few cases of a modality it is too narrow to be
trusted (a single MRI case contributes no spread at all); the table says how many cases each organ had.

Examples:
    >>> gap = modality_gap(stack_results({"task 1": df1, "task 2": df2}))  # doctest: +SKIP
    >>> gap.loc[gap.organ == "liver", ["model", "gap", "low", "high"]]      # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["GAP_COLUMNS", "modality_gap"]

#: Columns of :func:`modality_gap`.
GAP_COLUMNS: tuple[str, ...] = (
    "model", "organ_id", "organ", "ct", "mri", "gap", "low", "high", "n_ct", "n_mri",
)  # fmt: skip


def _bootstrap_means(values: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    draws = rng.integers(0, len(values), size=(n_boot, len(values)))
    return values[draws].mean(axis=1)


def modality_gap(
    df: pd.DataFrame,
    metric: str = "dsc",
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Per model and organ: mean ``metric`` on CT, on MRI, their difference and its bootstrap interval.

    Introduced in chapter *CT and MRI: the two tasks*. Builds on NumPy (``Generator.integers`` for the
    resampling) and pandas. NaN scores (organ absent from reference and prediction) are left out first.

    Args:
        df: The table of :func:`~amos_tutorial.evaluation.evaluate_folder`; a ``model`` column, when
            present, gives one gap per model.
        metric: Score column, any name of :func:`~amos_tutorial.evaluation.metric_table.metric_names`
            (for a distance such as ``"hd95"`` a positive gap means *worse* on CT).
        n_boot: Bootstrap resamples (>= 100).
        confidence: Coverage of the percentile interval, in (0, 1).
        seed: Seed of the resampling.

    Returns:
        Columns :data:`GAP_COLUMNS`: ``ct`` and ``mri`` are the means over cases, ``gap`` = ``ct - mri``
        (positive: better on CT), ``low``/``high`` the interval of the gap, ``n_ct``/``n_mri`` the cases
        scored. Organs without a score in both modalities get NaN gap and interval.
        ``df.attrs`` holds ``metric``, ``n_boot`` and ``confidence``.

    Raises:
        ValueError: For missing columns or bad settings.

    Examples:
        >>> rows = [{"case": f"c{i}", "organ_id": 6, "organ": "liver", "modality": m, "dsc": v}
        ...         for i, (m, v) in enumerate([("CT", 0.9), ("CT", 0.8), ("MRI", 0.5), ("MRI", 0.7)])]
        >>> gap = modality_gap(pd.DataFrame(rows))
        >>> round(float(gap.loc[0, "gap"]), 2), int(gap.loc[0, "n_mri"])
        (0.25, 2)
    """
    missing = [c for c in ("case", "organ_id", "organ", "modality", metric) if c not in df.columns]
    if missing:
        raise ValueError(f"table lacks column(s) {missing}; expected the output of evaluate_folder")
    if not isinstance(n_boot, int) or n_boot < 100:
        raise ValueError(f"n_boot must be an integer >= 100, got {n_boot!r}")
    if not 0.0 < float(confidence) < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    data = df.dropna(subset=[metric])
    data = data.assign(model=data["model"].astype(str) if "model" in data.columns else "")
    models = list(dict.fromkeys(data["model"]))
    rng = np.random.default_rng(seed)
    tail = (1.0 - float(confidence)) / 2.0
    rows = []
    for model in models:
        part = data[data["model"] == model]
        for (organ_id, organ), organ_rows in part.groupby(["organ_id", "organ"], sort=True):
            ct = organ_rows.loc[organ_rows["modality"] == "CT", metric].to_numpy(dtype=float)
            mri = organ_rows.loc[organ_rows["modality"] == "MRI", metric].to_numpy(dtype=float)
            row = {
                "model": model, "organ_id": int(organ_id), "organ": str(organ),
                "ct": ct.mean() if len(ct) else np.nan, "mri": mri.mean() if len(mri) else np.nan,
                "gap": np.nan, "low": np.nan, "high": np.nan, "n_ct": len(ct), "n_mri": len(mri),
            }  # fmt: skip
            if len(ct) and len(mri):
                gaps = _bootstrap_means(ct, n_boot, rng) - _bootstrap_means(mri, n_boot, rng)
                row.update(
                    gap=row["ct"] - row["mri"],
                    low=float(np.quantile(gaps, tail)),
                    high=float(np.quantile(gaps, 1.0 - tail)),
                )
            rows.append(row)
    out = pd.DataFrame(rows, columns=list(GAP_COLUMNS))
    out.attrs.update(metric=metric, n_boot=n_boot, confidence=float(confidence))
    return out
