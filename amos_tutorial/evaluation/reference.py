"""Published AMOS reference results: a small table, one source per row, to put beside the book's own numbers.

Introduced in chapter *Evaluating segmentations*. Plain Python and pandas; nothing is downloaded.

The rows themselves, each with its source, are data in :mod:`amos_tutorial.evaluation.published`; this
module builds tables from them and compares them.

Every row has a **protocol** (:data:`PROTOCOLS`): which cases, which split. Rows of different protocols are
different experiments; :func:`require_same_protocol` and :func:`dice_difference` refuse to compare them.

Examples:
    >>> from amos_tutorial.evaluation.reference import published_results
    >>> table = published_results()
    >>> float(table.loc[table.model == "nnU-Net (original)", "dice"].iloc[0])
    88.64
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import asdict

import pandas as pd

from amos_tutorial.evaluation.published import (
    MIN_REFERENCE_VOLUME_MM3,
    MODALITY_RESULTS,
    NOT_REPRODUCED,
    PROTOCOLS,
    PUBLISHED_RESULTS,
    SOURCES,
    WINNERS_PER_ORGAN,
    OrganResult,
    PublishedResult,
    Source,
)

__all__ = [
    "MIN_REFERENCE_VOLUME_MM3",
    "NOT_REPRODUCED",
    "ORGAN_COLUMNS",
    "PROTOCOLS",
    "WINNERS_PER_ORGAN",
    "OrganResult",
    "PUBLISHED_RESULTS",
    "REFERENCE_COLUMNS",
    "SOURCES",
    "PublishedResult",
    "Source",
    "compare_with_published",
    "MODALITY_RESULTS",
    "dice_difference",
    "published_by_modality",
    "published_glue",
    "published_number_texts",
    "published_results",
    "require_same_protocol",
    "winners_per_organ",
]


ORGAN_COLUMNS: tuple[str, ...] = (
    "task", "organ_id", "organ", "dice", "postprocessing", "rate", "lr_fix", "min_volume_mm3", "protocol", "source",
)  # fmt: skip
"""Columns of :func:`winners_per_organ`."""

_LR_IDS = (2, 3, 11, 12)


def _describe_rule(rule: str, group: set[int]) -> tuple[str, float, bool]:
    """What a ``json_name`` of the winners' scripts does, as in their ``get_method_from_json_name``."""
    lr_fix = bool(group & set(_LR_IDS))  # the left/right fix runs for a group holding any kidney or adrenal
    if rule == "raw_metric.json":
        return "none (raw)", math.nan, False
    if rule == "3_final_pipeline.json":
        return "largest component", math.nan, lr_fix
    if rule.startswith(("1_final_pipeline_rate", "2_final_pipeline_rate")):
        rate = float(rule[21:25])
        keep = ", keeps the largest" if rule.startswith("2_") else ""
        return f"remove components < {rate:g} x min volume{keep}", rate, lr_fix
    raise ValueError(f"unknown post-processing rule {rule!r} in WINNERS_PER_ORGAN")


def winners_per_organ(task: str | None = None) -> pd.DataFrame:
    """The winners' per-organ cross-validation Dice and the post-processing they kept, one row per organ and task.

    Introduced in chapter *How AMOS 2022 was won*. Builds on :data:`WINNERS_PER_ORGAN` and pandas.

    Organs that share a rule were post-processed together by the winners, and the left/right kidney and adrenal
    fix ran for every group that holds one of ids 2, 3, 11, 12 (column ``lr_fix``).

    Args:
        task: Keep only rows whose task starts with this text, e.g. ``"Task 1"`` (None: both tasks).

    Returns:
        Columns :data:`ORGAN_COLUMNS`; ``dice`` in percent, ``rate`` NaN where the rule has none,
        ``min_volume_mm3`` from :data:`MIN_REFERENCE_VOLUME_MM3`.

    Raises:
        ValueError: For a task filter that matches nothing.

    Examples:
        >>> df = winners_per_organ()
        >>> df.groupby("task")["dice"].mean().round(2).tolist()
        [90.13, 89.06]
    """
    from amos_tutorial.labels import label_by_id

    rows = [r for r in WINNERS_PER_ORGAN if task is None or r.task.lower().startswith(str(task).lower())]
    if not rows:
        tasks = sorted({r.task for r in WINNERS_PER_ORGAN})
        raise ValueError(f"no per-organ result for task {task!r}; tasks are {tasks}")
    protocols = {"Task 1 (CT)": PROTOCOLS["winners_task1"], "Task 2 (CT+MRI)": PROTOCOLS["winners_task2"]}
    records = []
    for row in rows:
        group = {r.organ_id for r in WINNERS_PER_ORGAN if r.task == row.task and r.rule == row.rule}
        text, rate, lr_fix = _describe_rule(row.rule, group)
        records.append({
            "task": row.task, "organ_id": row.organ_id, "organ": label_by_id(row.organ_id).name,
            "dice": 100.0 * row.dice, "postprocessing": text, "rate": rate, "lr_fix": lr_fix,
            "min_volume_mm3": MIN_REFERENCE_VOLUME_MM3[row.organ_id], "protocol": protocols[row.task],
            "source": SOURCES["nnunet_amos2022"].short,
        })  # fmt: skip
    return pd.DataFrame.from_records(records, columns=list(ORGAN_COLUMNS))


def require_same_protocol(table: pd.DataFrame) -> str:
    """The one protocol of ``table``'s rows; raises when they mix protocols, which makes them not comparable.

    Introduced in chapter *How AMOS 2022 was won*. Any comparison of published rows goes through here.

    Args:
        table: Rows with a ``protocol`` column (from :func:`published_results`, :func:`published_by_modality`
            or :func:`winners_per_organ`).

    Returns:
        The protocol shared by every row.

    Raises:
        ValueError: If ``table`` is empty, has no ``protocol`` column, or holds more than one protocol.

    Examples:
        >>> require_same_protocol(published_results(source="nnunet_revisited"))
        '5-fold CV, 360 labelled cases (CT+MRI), from scratch'
    """
    if "protocol" not in getattr(table, "columns", ()):
        raise ValueError("table has no 'protocol' column: pass rows of published_results() or published_by_modality()")
    protocols = sorted(set(table["protocol"]))
    if not protocols:
        raise ValueError("table is empty: there is nothing to compare")
    if len(protocols) > 1:
        raise ValueError(f"rows of different protocols are not comparable: {protocols}")
    return protocols[0]


def dice_difference(table: pd.DataFrame, model: str, baseline: str) -> float:
    """Published Dice of ``model`` minus that of ``baseline``, in points, only if both share a protocol.

    Introduced in chapter *How AMOS 2022 was won*.

    Args:
        table: Published rows (:func:`published_results` or :func:`published_by_modality`), one per model.
        model: The ``model`` value of the row to compare.
        baseline: The ``model`` value of the row compared against.

    Returns:
        The difference in Dice points, rounded to 2 decimals (the precision of the sources).

    Raises:
        ValueError: If a model is missing or listed twice, or the two rows have different protocols.

    Examples:
        >>> dice_difference(published_results(source="nnunet_revisited"), "nnU-Net ResEnc M", "nnU-Net (original)")
        0.13
    """
    rows = []
    for name in (model, baseline):
        found = table[table["model"] == name]
        if len(found) != 1:
            raise ValueError(f"model {name!r} must be in table exactly once, found {len(found)} rows")
        rows.append(found)
    require_same_protocol(pd.concat(rows))
    return round(float(rows[0]["dice"].iloc[0]) - float(rows[1]["dice"].iloc[0]), 2)


def published_number_texts() -> set[str]:
    """Every published Dice (and GPU memory) of this module as it would be typed in prose.

    The chapters' prose-number test looks for these strings in Markdown cells: a published number must be
    glued or printed from this module, never typed. Dice in percent with the source's 2 decimals, with 1
    decimal, and as a fraction with 3 and 4 decimals; per-organ Dice with 3 decimals as a fraction and 1
    decimal in percent; GPU memory with 1 decimal. Whole numbers (hours) are left out: they collide with
    counts.

    Returns:
        A set of strings such as ``"90.13"``, ``"0.9013"``, ``"88.6"``.
    """
    figures: set[str] = set()
    for row in PUBLISHED_RESULTS + MODALITY_RESULTS:
        figures |= {f"{row.dice:.2f}", f"{row.dice:.1f}", f"{row.dice / 100:.3f}", f"{row.dice / 100:.4f}"}
        if not math.isnan(row.vram_gb):
            figures.add(f"{row.vram_gb:.1f}")
    for organ in WINNERS_PER_ORGAN:
        figures |= {f"{organ.dice:.3f}", f"{100 * organ.dice:.1f}", f"{100 * organ.dice:.2f}"}
    return figures


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def published_glue() -> dict[str, str]:
    """Glue names and texts of the published numbers a chapter's prose quotes, formatted as the source prints them.

    Introduced in chapter *Segmenting 15 abdominal organs: a hands-on AMOS 2022 book*. A chapter glues these (``glue(name, text)``) and its Markdown quotes
    ``{glue:text}`name```, so that no published number is typed by hand.

    Names: ``winners_task1_dice`` and ``winners_task2_dice``; ``revisited_<model>_dice``, ``..._vram`` and
    ``..._hours`` for every row of nnU-Net Revisited, ``<model>`` being the model name in lower case with
    ``_`` for anything else than letters and digits (``nnU-Net ResEnc L`` -> ``nnu_net_resenc_l``);
    ``<source>_<model>_<modality>_dice`` for every row of :data:`MODALITY_RESULTS`
    (``stunet_nnu_net_amos_mr_dice``). VISTA3D's three-decimal fractions are given in percent with 2 decimals.

    Returns:
        Name -> text: Dice with 2 decimals, GPU memory with 1, hours as whole numbers.

    Examples:
        >>> published_glue()["revisited_nnu_net_original_dice"]
        '88.64'
    """
    texts = {}
    for row in PUBLISHED_RESULTS:
        if row.source == "amos_winner":
            texts[f"winners_task{row.task[5]}_dice"] = f"{row.dice:.2f}"
        elif row.source == "nnunet_revisited":
            stem = f"revisited_{_slug(row.model)}"
            texts.update({f"{stem}_dice": f"{row.dice:.2f}", f"{stem}_vram": f"{row.vram_gb:.1f}",
                          f"{stem}_hours": f"{row.runtime_h:.0f}"})  # fmt: skip
    for row in MODALITY_RESULTS:
        texts[f"{row.source}_{_slug(row.model)}_{_slug(row.task)}_dice"] = f"{row.dice:.2f}"
    return texts


REFERENCE_COLUMNS: tuple[str, ...] = (
    "kind",
    "model",
    "task",
    "protocol",
    "dice",
    "vram_gb",
    "runtime_h",
    "hardware",
    "source",
    "citation",
)
"""Columns of :func:`published_results` and :func:`compare_with_published`."""


def published_results(source: str | None = None, task: str | None = None) -> pd.DataFrame:
    """The published reference numbers as a DataFrame, one row per number, each with its source.

    Introduced in chapter *Evaluating segmentations*. Builds on pandas.

    Args:
        source: Keep only the rows of this key of :data:`SOURCES` (None: all).
        task: Keep only rows whose task starts with this text, e.g. ``"Task 1"`` (None: all).

    Returns:
        Columns :data:`REFERENCE_COLUMNS`; ``kind`` is ``"published"``, ``dice`` is in percent, ``source``
        is the source's short name and ``citation`` its full reference (with the URL).
        ``df.attrs["note"]`` holds :data:`NOT_REPRODUCED`.

    Raises:
        ValueError: For an unknown source or a task filter that matches nothing.

    Examples:
        >>> published_results(source="amos_winner")[["task", "dice"]].values.tolist()
        [['Task 1 (CT)', 90.13], ['Task 2 (CT+MRI)', 89.06]]
    """
    if source is not None and source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; choose one of {sorted(SOURCES)}")
    rows = [r for r in PUBLISHED_RESULTS if source is None or r.source == source]
    if task is not None:
        rows = [r for r in rows if r.task.lower().startswith(str(task).lower())]
        if not rows:
            tasks = sorted({r.task for r in PUBLISHED_RESULTS})
            raise ValueError(f"no published result for task {task!r}; tasks are {tasks}")
    records = []
    for row in rows:
        record = asdict(row)
        source = SOURCES[row.source]
        record["source"] = source.short
        record["citation"] = f"{source.citation}, {source.url}"
        records.append({"kind": "published", **record})
    df = pd.DataFrame.from_records(records, columns=list(REFERENCE_COLUMNS))
    df.attrs["note"] = NOT_REPRODUCED
    return df


def compare_with_published(
    own: Mapping[str, float],
    label: str,
    task: str = "Task 2 (CT+MRI)",
    protocol: str = "",
    percent: bool | None = None,
) -> pd.DataFrame:
    """The book's own Dice scores under the published ones, every row labelled with what it is.

    Introduced in chapter *Evaluating segmentations*. Builds on :func:`published_results` and pandas.

    The own rows get ``kind`` = ``label`` (e.g. ``"this book: smoke run on synthetic data, not an AMOS
    result"``), so a table can never show them as published numbers.

    Args:
        own: Model name -> mean Dice, either as a fraction (0-1, as :func:`~amos_tutorial.evaluation.overall_scores`
            returns it) or in percent.
        label: What the own numbers are; shown in the ``kind`` column. Required and non-empty on purpose.
        task: The task of the own rows (``"Task 1 (CT)"`` or ``"Task 2 (CT+MRI)"``).
        protocol: How the own numbers were measured (e.g. ``"4 synthetic validation cases"``).
        percent: Whether ``own`` is in percent already; None decides from the values (all <= 1: fractions).

    Returns:
        Own rows first, then every published row, columns :data:`REFERENCE_COLUMNS`, Dice in percent;
        ``df.attrs["note"]`` holds :data:`NOT_REPRODUCED`.

    Raises:
        ValueError: If ``label`` is empty, ``own`` is empty or holds a value that is not a finite number
            in range.

    Examples:
        >>> table = compare_with_published({"unet": 0.5}, label="this book: smoke run, synthetic data")
        >>> row = table.iloc[0]
        >>> row["kind"], row["model"], float(row["dice"])
        ('this book: smoke run, synthetic data', 'unet', 50.0)
    """
    if not str(label).strip():
        raise ValueError("label must say what the own numbers are, e.g. 'this book: smoke run on synthetic data'")
    if not own:
        raise ValueError("own is empty: pass {model name: mean Dice}")
    values = {}
    for model, value in own.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"Dice of {model!r} must be a number, got {value!r}") from None
        if math.isnan(number):
            values[model] = number
            continue
        if not math.isfinite(number) or number < 0:
            raise ValueError(f"Dice of {model!r} must be a finite number >= 0, got {value!r}")
        values[model] = number
    finite = [v for v in values.values() if not math.isnan(v)]
    if percent is None:
        percent = any(v > 1.0 for v in finite)
    limit = 100.0 if percent else 1.0
    bad = {m: v for m, v in values.items() if not math.isnan(v) and v > limit}
    if bad:
        raise ValueError(f"Dice values {bad} exceed {limit:g} ({'percent' if percent else 'fractions'})")
    scale = 1.0 if percent else 100.0
    own_rows = [
        {
            "kind": str(label),
            "model": str(model),
            "task": task,
            "protocol": protocol,
            "dice": round(value * scale, 2) if not math.isnan(value) else value,
            "vram_gb": math.nan,
            "runtime_h": math.nan,
            "hardware": "",
            "source": "this book",
            "citation": "",
        }
        for model, value in values.items()
    ]
    published = published_results()
    df = pd.concat([pd.DataFrame(own_rows, columns=list(REFERENCE_COLUMNS)), published], ignore_index=True)
    df.attrs["note"] = NOT_REPRODUCED
    return df


def published_by_modality(source: str | None = None) -> pd.DataFrame:
    """The published mean Dice per modality (:data:`MODALITY_RESULTS`), one row per number, with its source.

    Introduced in chapter *CT and MRI: the two tasks*. Builds on pandas.

    Args:
        source: Keep only the rows of this key of :data:`SOURCES` (None: all).

    Returns:
        Columns :data:`REFERENCE_COLUMNS` with ``task`` renamed ``modality`` (``"AMOS-CT"``/``"AMOS-MR"``),
        Dice in percent; ``df.attrs["note"]`` holds :data:`NOT_REPRODUCED`.

    Raises:
        ValueError: For a source without per-modality rows.

    Examples:
        >>> table = published_by_modality(source="stunet")
        >>> table.pivot(index="model", columns="modality", values="dice").loc["nnU-Net", ["AMOS-CT", "AMOS-MR"]].tolist()
        [89.98, 87.39]
    """
    rows = [r for r in MODALITY_RESULTS if source is None or r.source == source]
    if not rows:
        raise ValueError(f"no per-modality rows for source {source!r}; sources are "
                         f"{sorted({r.source for r in MODALITY_RESULTS})}")  # fmt: skip
    records = []
    for row in rows:
        record = asdict(row)
        source = SOURCES[row.source]
        record.update(source=source.short, citation=f"{source.citation}, {source.url}")
        records.append({"kind": "published", **record})
    df = pd.DataFrame.from_records(records, columns=list(REFERENCE_COLUMNS)).rename(columns={"task": "modality"})
    df.attrs["note"] = NOT_REPRODUCED
    return df
