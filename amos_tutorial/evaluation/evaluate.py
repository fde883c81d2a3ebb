"""Score a folder of predictions against reference labels: tidy per-case, per-organ scores and summaries.

Introduced in chapter *Evaluating segmentations*. Builds on nibabel (reading), :mod:`.scoring` (one column
per metric of :mod:`.metric_table`: DSC, NSD, HD95, ...) and pandas (tables). ``amos evaluate`` is a thin
wrapper around :func:`evaluate_folder` and :func:`format_report`.

Before any score is computed, every (reference, prediction) pair is checked from the NIfTI headers alone:
a missing prediction, a different shape or a different affine is a :class:`~amos_tutorial.data.validate.Problem`
naming the file. Label values (integers 0-15) are checked while scoring. All problems of all cases are
collected and raised together as :class:`EvaluationError`, so one run lists every bad file.

**Averages** follow the challenge: the mean over organs and cases, here the mean of every (case, organ)
score that is not NaN (with ``absent="nan"`` an organ absent from both reference and prediction has no
score); per organ and per modality the same mean within the group. nnU-Net's ``foreground_mean`` (the
mean of the per-organ means) equals it when no score is NaN.

Examples:
    >>> df = evaluate_folder("preds/", "amos22/labelsVa", data_root="amos22")  # doctest: +SKIP
    >>> print(format_report(df))  # doctest: +SKIP
    >>> df.groupby("modality")[["dsc", "nsd"]].mean()  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from amos_tutorial.data.folders import list_cases
from amos_tutorial.data.tasks import TASKS
from amos_tutorial.data.validate import Problem
from amos_tutorial.evaluation.metric_table import get_metric, metric_names
from amos_tutorial.evaluation.metrics import (
    Tolerance,
    resolve_tolerances,
    spacing_from_affine,
)
from amos_tutorial.evaluation.options import ScoreOptions
from amos_tutorial.evaluation.scoring import metric_columns, score_case, scoring_conventions
from amos_tutorial.labels import NUM_CLASSES, ORGAN_IDS
from amos_tutorial.utils.geometry import AFFINE_ATOL, nifti_stem
from amos_tutorial.utils.io import atomic_path

__all__ = [
    "EvaluationError",
    "list_cases",
    "read_label_map",
    "result_columns",
    "read_header",
    "evaluate_case",
    "check_pairs",
    "evaluate_folder",
    "organ_summary",
    "modality_summary",
    "task_summary",
    "overall_scores",
    "format_report",
    "save_metrics",
]

def result_columns() -> tuple[str, ...]:
    """Columns of the tidy result table of :func:`evaluate_case` and :func:`evaluate_folder`.

    Introduced in chapter *Evaluating segmentations*: ``case, organ_id, organ, modality``, one column per
    registered metric (:mod:`~amos_tutorial.evaluation.metric_table`), then ``ref_ml, pred_ml, tolerance_mm``.

    Examples:
        >>> result_columns()[:6]
        ('case', 'organ_id', 'organ', 'modality', 'dsc', 'nsd')
    """
    organ_id, organ, *rest = metric_columns()
    return ("case", organ_id, organ, "modality", *rest)


class EvaluationError(ValueError):
    """Inputs that cannot be scored; ``problems`` holds one :class:`Problem` per bad file.

    Introduced in chapter *Evaluating segmentations*. ``str()`` lists every problem on its own line, each
    starting with the file's path.

    Examples:
        >>> str(EvaluationError([Problem(Path("pred/amos_0001.nii.gz"), "missing prediction")]))
        'pred/amos_0001.nii.gz: missing prediction'
    """

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def _as_problem(message: str, paths: Sequence[Path]) -> Problem:
    """Turn a ``"PATH: message"`` error back into a Problem for the path it starts with."""
    for path in paths:
        if message.startswith(f"{path}: "):
            return Problem(path, message[len(f"{path}: ") :])
    return Problem(paths[0], message)


def read_header(path: str | os.PathLike) -> tuple[tuple[int, ...], np.ndarray]:
    """Shape and affine of a NIfTI file from its header only (builds on nibabel; no voxel data is read).

    Introduced in chapter *Evaluating segmentations*.

    Args:
        path: A ``.nii``/``.nii.gz`` file.

    Returns:
        ``(shape, affine)``.

    Raises:
        ValueError: ``"PATH: cannot read NIfTI header (...)"`` when the file is not readable.

    Examples:
        >>> shape, affine = read_header("labelsVa/amos_0008.nii.gz")  # doctest: +SKIP
    """
    import nibabel as nib

    path = Path(path)
    try:
        img = nib.load(str(path))
        return tuple(int(s) for s in img.shape), np.asarray(img.affine, dtype=np.float64)
    except Exception as exc:  # nibabel raises many types for broken files
        raise ValueError(f"{path}: cannot read NIfTI header ({type(exc).__name__}: {exc})") from exc


def read_label_map(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Load a label map as uint8, checking that every voxel is an integer in 0-15 (builds on nibabel).

    Introduced in chapter *Evaluating segmentations*. Float label maps written by other tools are
    accepted when every value is a whole number.

    Args:
        path: A 3-D NIfTI label map.

    Returns:
        ``(labels, affine)`` with ``labels`` a uint8 array.

    Raises:
        ValueError: A one-line message starting with the path: unreadable, not 3-D, non-integer or
            out-of-range values (the offending values are listed).

    Examples:
        >>> labels, affine = read_label_map("labelsVa/amos_0008.nii.gz")  # doctest: +SKIP
        >>> labels.dtype  # doctest: +SKIP
        dtype('uint8')
    """
    from amos_tutorial.utils.io import load_nifti

    path = Path(path)
    data, affine = load_nifti(path)
    if data.ndim != 3:
        raise ValueError(f"{path}: label map must be 3-D, got shape {data.shape}")
    if data.dtype.kind == "f":
        finite = np.isfinite(data)
        if not finite.all() or (data != np.round(data)).any():
            bad = np.unique(data[~finite | (data != np.round(np.where(finite, data, 0)))])[:10]
            raise ValueError(f"{path}: label map has non-integer values {bad.tolist()}")
    elif data.dtype.kind not in "iub":
        raise ValueError(f"{path}: label map has unsupported data type {data.dtype}")
    if data.size and (data.min() < 0 or data.max() >= NUM_CLASSES):
        bad = np.unique(data[(data < 0) | (data >= NUM_CLASSES)])[:10]
        shown = [int(v) for v in bad]
        raise ValueError(f"{path}: label values outside 0-{NUM_CLASSES - 1}: {shown}")
    return data.astype(np.uint8, copy=False), affine


def _grid_problem(
    reference: Path, prediction: Path, ref_grid: tuple, pred_grid: tuple, affine_atol: float
) -> Problem | None:
    (ref_shape, ref_affine), (pred_shape, pred_affine) = ref_grid, pred_grid
    if len(pred_shape) != 3:
        return Problem(prediction, f"prediction must be 3-D, got shape {pred_shape}")
    if pred_shape != ref_shape:
        return Problem(prediction, f"shape {pred_shape} differs from the reference {ref_shape} ({reference})")
    diff = float(np.abs(pred_affine - ref_affine).max())
    if diff > affine_atol:
        return Problem(
            prediction,
            f"affine differs from the reference ({reference}) by up to {diff:.4g} mm (allowed {affine_atol:g}): "
            "resample the prediction onto the reference grid",
        )
    return None


def evaluate_case(
    reference: str | os.PathLike,
    prediction: str | os.PathLike,
    tolerance_mm: Tolerance = None,
    absent: str = "nan",
    case_id: str | None = None,
    modality: str | None = None,
    affine_atol: float = AFFINE_ATOL,
    organ_ids: Sequence[int] = ORGAN_IDS,
    method: str = "auto",
) -> pd.DataFrame:
    """Score one prediction file against its reference file (builds on nibabel and :func:`score_case`).

    Introduced in chapter *Evaluating segmentations*. Spacing comes from the reference's affine.

    Args:
        reference: Reference label map (``labelsVa/amos_XXXX.nii.gz``).
        prediction: Predicted label map on the same grid.
        tolerance_mm: NSD tolerance (see :func:`~amos_tutorial.evaluation.metrics.resolve_tolerances`).
        absent: Absent-organ convention, ``"nan"`` or ``"score"``.
        case_id: Case name for the ``case`` column (default: from the reference's file name).
        modality: ``"CT"``/``"MRI"`` for the ``modality`` column (default: the id rule of
            :func:`amos_tutorial.data.layout.modality_from_id`).
        affine_atol: Largest allowed absolute difference of the two affines (mm).
        organ_ids: Organs to score.
        method: NSD search strategy (see :func:`~amos_tutorial.evaluation.metrics.normalized_surface_dice`).

    Returns:
        One row per organ with the columns :func:`result_columns`.

    Raises:
        ValueError: One line starting with the path of the bad file (unreadable, grid mismatch, values).

    Examples:
        >>> evaluate_case("labelsVa/amos_0008.nii.gz", "pred/amos_0008.nii.gz")  # doctest: +SKIP
    """
    from amos_tutorial.data.layout import case_id as to_case_id
    from amos_tutorial.data.layout import modality_from_id

    reference, prediction = Path(reference), Path(prediction)
    for path in (reference, prediction):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: file does not exist")
    problem = _grid_problem(reference, prediction, read_header(reference), read_header(prediction), affine_atol)
    if problem is not None:
        raise ValueError(str(problem))
    ref, affine = read_label_map(reference)
    pred, _ = read_label_map(prediction)
    cid = case_id or to_case_id(nifti_stem(reference.name) or reference.name)
    df = score_case(ref, pred, spacing_from_affine(affine), tolerance_mm, absent, organ_ids, method)
    df.insert(0, "case", cid)
    df.insert(3, "modality", modality or modality_from_id(cid))
    return df[list(result_columns())]


def check_pairs(
    pred_dir: str | os.PathLike, labels_dir: str | os.PathLike, affine_atol: float = AFFINE_ATOL
) -> tuple[dict[str, tuple[Path, Path]], list[Problem], list[str]]:
    """Match predictions to references and check their grids from the headers (builds on nibabel).

    Introduced in chapter *Evaluating segmentations*.

    Args:
        pred_dir: Folder of predictions ``amos_XXXX.nii.gz``.
        labels_dir: Folder of reference label maps.
        affine_atol: Largest allowed absolute affine difference (mm).

    Returns:
        ``(pairs, problems, notes)``: case id -> (reference, prediction) for the pairs that passed; one
        problem per missing prediction, unreadable header, shape or affine mismatch; notes for predictions
        without a reference (they are not scored).

    Examples:
        >>> pairs, problems, notes = check_pairs("pred/", "amos22/labelsVa")  # doctest: +SKIP
        >>> print("\\n".join(map(str, problems)) or f"{len(pairs)} pairs ready")  # doctest: +SKIP
    """
    if not affine_atol >= 0:
        raise ValueError(f"affine_atol must be >= 0, got {affine_atol!r}")
    references, problems = list_cases(labels_dir)
    predictions, pred_problems = list_cases(pred_dir)
    problems += pred_problems
    if not references:
        problems.append(Problem(Path(labels_dir), "no reference label maps amos_XXXX.nii.gz in this folder"))
    pairs: dict[str, tuple[Path, Path]] = {}
    for cid, ref_path in references.items():
        pred_path = predictions.get(cid)
        if pred_path is None:
            problems.append(Problem(Path(pred_dir) / f"{cid}.nii.gz", f"missing prediction for {ref_path}"))
            continue
        try:
            grids = read_header(ref_path), read_header(pred_path)
        except ValueError as exc:
            problems.append(_as_problem(str(exc), (ref_path, pred_path)))
            continue
        problem = _grid_problem(ref_path, pred_path, *grids, affine_atol)
        if problem is None:
            pairs[cid] = (ref_path, pred_path)
        else:
            problems.append(problem)
    extra = sorted(set(predictions) - set(references))
    notes = []
    if extra:
        shown = ", ".join(extra[:5]) + (" ..." if len(extra) > 5 else "")
        notes.append(f"{len(extra)} prediction(s) without a reference in {labels_dir} were not scored: {shown}")
    return pairs, problems, notes


def _score_pair(args: tuple) -> tuple[str, pd.DataFrame | None, Problem | None]:
    """Worker: score one pair; a bad file becomes a Problem instead of stopping the run."""
    cid, ref, pred, modality, tolerance_mm, absent, organ_ids, method = args
    try:
        # The grids were checked from the headers already (check_pairs): skip the second affine test.
        df = evaluate_case(ref, pred, tolerance_mm, absent, cid, modality, np.inf, organ_ids, method)
        return cid, df, None
    except (ValueError, FileNotFoundError) as exc:
        return cid, None, _as_problem(str(exc), (ref, pred))


def _modalities(cases: Sequence[str], data_root, modality_rule: str) -> tuple[dict[str, str], str]:
    from amos_tutorial.data.layout import load_amos, modality_from_id

    by_id = {cid: modality_from_id(cid, modality_rule) for cid in cases}
    if data_root is None:
        return by_id, f"id rule ({modality_rule}: id {'<' if modality_rule == 'readme' else '<='} 500 is CT)"
    dataset = load_amos(data_root, modality_rule=modality_rule)
    known = {c.case_id: c for c in dataset.cases}
    sources: set[str] = set()
    for cid in cases:
        if cid in known:
            by_id[cid] = known[cid].modality
            sources.add(known[cid].modality_source)
        else:
            sources.add("id-rule")
    return by_id, f"dataset {dataset.root} ({' and '.join(sorted(sources)) or 'no cases'})"


def evaluate_folder(
    pred_dir: str | os.PathLike,
    labels_dir: str | os.PathLike,
    data_root: str | os.PathLike | None = None,
    modality_rule: str = "readme",
    affine_atol: float = AFFINE_ATOL,
    num_workers: int = 0,
    progress: bool = False,
    options: ScoreOptions | None = None,
    **settings: Any,
) -> pd.DataFrame:
    """Score every reference in ``labels_dir`` against the prediction of the same name in ``pred_dir``.

    Introduced in chapter *Evaluating segmentations*. Builds on :func:`evaluate_case`, pandas and
    :mod:`concurrent.futures` (``num_workers`` processes).

    Args:
        pred_dir: Folder of predictions ``amos_XXXX.nii.gz``.
        labels_dir: Folder of reference label maps (every one of them must have a prediction).
        data_root: An AMOS data folder (or ``"synthetic"``): modality from
            :func:`amos_tutorial.data.layout.load_amos` (scanner metadata first). None: the id rule.
        modality_rule: ``"readme"`` or ``"organisers"``: the id rule used where metadata does not decide.
        affine_atol: Largest allowed absolute difference of the affines (mm).
        num_workers: Worker processes (0: score in this process).
        progress: Show a tqdm progress bar.
        options: The scoring conventions (:class:`~amos_tutorial.evaluation.options.ScoreOptions`: NSD
            tolerance, absent-organ convention, organs, NSD search strategy).
        **settings: Fields of :class:`~amos_tutorial.evaluation.options.ScoreOptions` as keywords
            (``tolerance_mm=2``, ``absent="score"``); they override ``options``.

    Returns:
        The tidy table (:func:`result_columns`), one row per case and organ. ``df.attrs`` holds
        ``absent``, ``conventions`` (the sentence for reports), ``modality_source`` and ``notes``.

    Raises:
        EvaluationError: Listing every problem (missing predictions, grid mismatches, bad label values),
            one line per file. Its ``problems`` attribute holds them.
        FileNotFoundError: If a folder does not exist.

    Examples:
        >>> df = evaluate_folder("runs/unet/pred_va", "amos22/labelsVa", data_root="amos22")  # doctest: +SKIP
    """
    o = ScoreOptions.build(options, settings)
    tolerance_mm, absent, organ_ids, method = o.tolerance_mm, o.absent, o.organ_ids, o.method
    if num_workers < 0:
        raise ValueError(f"num_workers must be >= 0, got {num_workers}")
    resolve_tolerances(tolerance_mm, organ_ids)  # fail on a bad tolerance before reading any file
    pairs, problems, notes = check_pairs(pred_dir, labels_dir, affine_atol)
    if problems:
        raise EvaluationError(problems)
    modalities, modality_source = _modalities(list(pairs), data_root, modality_rule)
    jobs = [
        (cid, ref, pred, modalities[cid], tolerance_mm, absent, tuple(organ_ids), method)
        for cid, (ref, pred) in pairs.items()
    ]
    from tqdm.auto import tqdm

    bar = tqdm(total=len(jobs), desc="evaluate", unit="case", disable=not progress)
    results: dict[str, pd.DataFrame] = {}
    errors: list[Problem] = []

    def collect(item: tuple[str, pd.DataFrame | None, Problem | None]) -> None:
        cid, df, error = item
        if error is None:
            results[cid] = df
        else:
            errors.append(error)
        bar.update(1)

    if num_workers == 0:
        for job in jobs:
            collect(_score_pair(job))
    else:
        with ProcessPoolExecutor(max_workers=num_workers) as pool:
            for item in pool.map(_score_pair, jobs):
                collect(item)
    bar.close()
    if errors:
        raise EvaluationError(errors)
    df = pd.concat([results[cid] for cid in sorted(results)], ignore_index=True)
    df.attrs.update(
        absent=absent,
        conventions=scoring_conventions(tolerance_mm, absent),
        modality_source=modality_source,
        notes=notes,
        model_task=_model_task(Path(pred_dir)),
    )
    return df


def _model_task(pred_dir: Path) -> int | None:
    """The task of the run that made the predictions, from ``predict.json`` (None when not recorded)."""
    import json

    try:
        task = json.loads((pred_dir / "predict.json").read_text(encoding="utf-8")).get("task")
    except (OSError, ValueError, AttributeError):
        return None
    return int(task) if task in TASKS else None


def _check_frame(df: pd.DataFrame) -> list[str]:
    """Check the identifying columns and return the metric columns the table holds, in table order."""
    missing = [c for c in ("case", "organ", "organ_id", "modality") if c not in df.columns]
    metrics = [m for m in metric_names() if m in df.columns]
    if missing or not metrics:
        missing += [] if metrics else [f"one of {list(metric_names())}"]
        raise ValueError(f"result table lacks column(s) {missing}; expected the output of evaluate_folder")
    return metrics


def organ_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Mean of every metric per organ over cases (NaN skipped), with how many cases had a score.

    Introduced in chapter *Evaluating segmentations*. Builds on pandas.

    Args:
        df: The table of :func:`evaluate_folder` (or several concatenated).

    Returns:
        Indexed by organ (id order) with columns ``organ_id``, one per metric (``dsc, nsd, hd95, ...``),
        ``n_scored`` (cases with a score of the first metric, DSC) and ``ref_ml``.

    Examples:
        >>> organ_summary(df).loc["liver", "dsc"]  # doctest: +SKIP
    """
    metrics = _check_frame(df)
    grouped = df.groupby(["organ_id", "organ"], sort=True)
    columns = {m: (m, "mean") for m in metrics}
    out = grouped.agg(**columns, n_scored=(metrics[0], "count"), ref_ml=("ref_ml", "mean"))
    return out.reset_index(level="organ_id")


def modality_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Mean of every metric over organs and cases per modality, plus an ``all`` row (NaN skipped).

    Introduced in chapter *Evaluating segmentations*. Builds on pandas.

    Args:
        df: The table of :func:`evaluate_folder`.

    Returns:
        Indexed by modality (and ``"all"``) with columns ``cases`` and one per metric.

    Examples:
        >>> modality_summary(df).loc["CT", "nsd"]  # doctest: +SKIP
    """
    metrics = _check_frame(df)
    rows = {}
    for modality, part in sorted(df.groupby("modality")):
        rows[modality] = (part["case"].nunique(), *part[metrics].mean())
    rows["all"] = (df["case"].nunique(), *df[metrics].mean())
    out = pd.DataFrame.from_dict(rows, orient="index", columns=["cases", *metrics])
    out.index.name = "modality"
    return out




def task_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Mean scores as each AMOS task would count these predictions: Task 1 on CT, Task 2 on all cases.

    Introduced in chapter *CT and MRI: the two tasks*. Builds on pandas. The challenge's Task 1 has CT
    cases only and Task 2 has CT and MRI cases; a table with both modalities therefore gives two scores.

    Args:
        df: The table of :func:`evaluate_folder`.

    Returns:
        Indexed by ``task`` (1, 2) with columns ``modalities, cases`` and one per metric (NaN where no case
        counts).

    Examples:
        >>> task_summary(df).loc[1, "dsc"]  # doctest: +SKIP
    """
    metrics = _check_frame(df)
    rows = {}
    for task, modalities in ((t.id, t.modalities) for t in TASKS.values()):
        part = df[df["modality"].isin(modalities)]
        rows[task] = ("+".join(modalities), part["case"].nunique(), *part[metrics].mean())
    out = pd.DataFrame.from_dict(rows, orient="index", columns=["modalities", "cases", *metrics])
    out.index.name = "task"
    return out


def overall_scores(df: pd.DataFrame) -> dict[str, float]:
    """Every metric averaged over organs and cases (NaN skipped): the challenge's DSC and NSD, then the rest.

    Introduced in chapter *Evaluating segmentations*. Builds on pandas.

    Args:
        df: The table of :func:`evaluate_folder`.

    Returns:
        ``{"dsc": ..., "nsd": ..., "hd95": ...}``, one entry per metric column of the table.

    Examples:
        >>> overall_scores(evaluate_folder("pred/", "amos22/labelsVa"))  # doctest: +SKIP
        {'dsc': 0.88..., 'nsd': 0.79..., 'hd95': 7.1...}
    """
    return {m: float(df[m].mean()) for m in _check_frame(df)}


def format_report(df: pd.DataFrame, title: str | None = None) -> str:
    """A readable text report: conventions, per-organ means, per-modality and per-task means, overall.

    Introduced in chapter *Evaluating segmentations*. Builds on pandas' text formatting.

    Args:
        df: The table of :func:`evaluate_folder` (``df.attrs`` supplies the conventions sentence).
        title: First line (default: cases and modalities counted).

    Returns:
        Multi-line text; it always states the NSD tolerance and the absent-organ convention.

    Examples:
        >>> print(format_report(evaluate_folder("pred/", "amos22/labelsVa")))  # doctest: +SKIP
    """
    metrics = _check_frame(df)
    conventions = df.attrs.get("conventions")
    if not conventions:
        absent = df.attrs.get("absent", "nan")
        tolerances = df.groupby("organ_id")["tolerance_mm"].first().to_dict() if "tolerance_mm" in df else None
        conventions = scoring_conventions(tolerances, absent, metrics)
    per_modality = modality_summary(df)
    counts = ", ".join(f"{int(r.cases)} {m}" for m, r in per_modality.drop(index="all").iterrows())
    lines = [
        title or f"AMOS evaluation: {df['case'].nunique()} case(s) ({counts}), {df['organ_id'].nunique()} organ(s)"
    ]
    lines.append(f"Conventions: {conventions}")
    if df.attrs.get("modality_source"):
        lines.append(f"Modality from: {df.attrs['modality_source']}")
    if df.attrs.get("model_task") in TASKS:
        task = df.attrs["model_task"]
        lines.append(f"Predictions by a Task {task} run (trained on {' and '.join(TASKS[task].modalities)})")
    lines.append("Averages: mean over organs and cases of every score that is not NaN.")
    lines += [f"Note: {n}" for n in df.attrs.get("notes", [])]
    organs = organ_summary(df)[[*metrics, "n_scored"]]
    lines += ["", "Per organ (mean over cases):", organs.to_string(float_format=lambda v: f"{v:.4f}")]
    lines += ["", "Per modality (mean over organs and cases):"]
    lines.append(per_modality.to_string(float_format=lambda v: f"{v:.4f}"))
    lines += ["", "Per task (as the challenge scores it: Task 1 on the CT cases, Task 2 on all cases):"]
    lines.append(task_summary(df).to_string(float_format=lambda v: f"{v:.4f}"))
    overall = overall_scores(df)
    overall_text = "  ".join(f"{get_metric(m).label} {get_metric(m).format(v)}" for m, v in overall.items())
    lines += ["", f"Overall: {overall_text}"]
    return "\n".join(lines)


def save_metrics(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write the tidy table as CSV atomically (builds on pandas and :func:`amos_tutorial.utils.io.atomic_path`).

    Introduced in chapter *Evaluating segmentations*. NaN scores are written as empty cells.

    Args:
        df: The table of :func:`evaluate_folder`.
        path: Destination ``.csv``.

    Returns:
        The path written.

    Examples:
        >>> save_metrics(df, "runs/unet/metrics_va.csv")  # doctest: +SKIP
    """
    path = Path(path)
    with atomic_path(path, suffix=".csv") as tmp:
        df.to_csv(tmp, index=False, float_format="%.6f")
    return path
