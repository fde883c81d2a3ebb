"""Published AMOS reference results: a small table, one source per row, to put beside the book's own numbers.

Introduced in chapter *Evaluating segmentations*. Plain Python and pandas; nothing is downloaded.

Only numbers that a source we could read states are here, each row naming its source:

* **nnU-Net Revisited** (Isensee et al., MICCAI 2024, arXiv 2404.09556; the same table is in the nnU-Net
  repository, ``MIC-DKFZ/nnUNet``, ``documentation/resenc_presets.md``): mean Dice of a 5-fold
  cross-validation on the 360 labelled AMOS22 cases (CT and MRI), every model trained from scratch, with
  the GPU memory it needed (GB) and its run time (hours on one A100 40 GB).
* **The challenge winners** (DKFZ, "Extending nnU-Net is all you need", arXiv 2208.10791): 5-fold
  cross-validation Dice 90.13 for Task 1 (CT only) and 89.06 for Task 2 (CT and MRI).

* **STU-Net** (Huang et al., arXiv 2304.06716; the table is ``assets/finetune_table.png`` of the
  ``uni-medical/STU-Net`` repository): mean Dice on AMOS-CT and on AMOS-MR separately, the only per-modality
  AMOS numbers we could read (:func:`published_by_modality`), for nnU-Net and for their largest model
  pre-trained on TotalSegmentator then fine-tuned.

What is **not** here, on purpose: the per-baseline DSC/NSD tables of the AMOS paper (Ji et al., NeurIPS 2022
Datasets and Benchmarks, arXiv 2206.08023), which we could not read; no NSD value at all (the tolerance of the
official NSD is not published either, see :mod:`amos_tutorial.evaluation.metrics`); and no test-set
leaderboard numbers. Cross-validation Dice on the labelled cases is not a test-set score: compare a run of
your own with these rows only when it follows the same protocol (5 folds over the same labelled cases).

Examples:
    >>> from amos_tutorial.evaluation.reference import published_results
    >>> table = published_results()
    >>> float(table.loc[table.model == "nnU-Net (original)", "dice"].iloc[0])
    88.64
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import pandas as pd

__all__ = [
    "NOT_REPRODUCED",
    "PUBLISHED_RESULTS",
    "REFERENCE_COLUMNS",
    "SOURCES",
    "PublishedResult",
    "Source",
    "compare_with_published",
    "MODALITY_RESULTS",
    "published_by_modality",
    "published_results",
]


@dataclass(frozen=True)
class Source:
    """Where published numbers come from.

    Introduced in chapter *Evaluating segmentations*.

    Attributes:
        key: Short identifier used by :class:`PublishedResult` rows.
        short: A few words for table columns (``"nnU-Net Revisited (MICCAI 2024)"``).
        citation: Authors, title and venue, as a reader would cite it.
        url: Where to read it.
        bibkey: Key of the entry in the book's ``book/references.bib``.
    """

    key: str
    short: str
    citation: str
    url: str
    bibkey: str


@dataclass(frozen=True)
class PublishedResult:
    """One published number, with its protocol and its source.

    Introduced in chapter *Evaluating segmentations*.

    Attributes:
        model: The method as its source names it.
        task: ``"Task 1 (CT)"`` or ``"Task 2 (CT+MRI)"``: which cases were used.
        protocol: How it was measured (cross-validation, which cases, training from scratch...).
        dice: Mean Dice in percent (0-100) as published.
        vram_gb: GPU memory of the training in GB, where the source gives it (else NaN).
        runtime_h: Training time in hours, where the source gives it (else NaN).
        hardware: The GPU the run time refers to ("" where none).
        source: Key into :data:`SOURCES`.
    """

    model: str
    task: str
    protocol: str
    dice: float
    vram_gb: float
    runtime_h: float
    hardware: str
    source: str


SOURCES: dict[str, Source] = {
    "nnunet_revisited": Source(
        key="nnunet_revisited",
        short="nnU-Net Revisited (MICCAI 2024)",
        citation=(
            "Isensee et al., nnU-Net Revisited: A Call for Rigorous Validation in 3D Medical Image "
            "Segmentation, MICCAI 2024 (table also in MIC-DKFZ/nnUNet, documentation/resenc_presets.md)"
        ),
        url="https://arxiv.org/abs/2404.09556",
        bibkey="isensee2024revisited",
    ),
    "amos_winner": Source(
        key="amos_winner",
        short="AMOS 2022 winners (arXiv 2208.10791)",
        citation="Isensee et al. (DKFZ), Extending nnU-Net is all you need, arXiv 2208.10791 (AMOS 2022 winners)",
        url="https://arxiv.org/abs/2208.10791",
        bibkey="isensee2022extending",
    ),
    "stunet": Source(
        key="stunet",
        short="STU-Net fine-tuning table",
        citation=(
            "Huang et al., STU-Net: Scalable and Transferable Medical Image Segmentation Models Empowered by "
            "Large-Scale Supervised Pre-training, arXiv 2304.06716 (table: uni-medical/STU-Net, "
            "assets/finetune_table.png)"
        ),
        url="https://arxiv.org/abs/2304.06716",
        bibkey="huang2023stunet",
    ),
}
"""The sources of :data:`PUBLISHED_RESULTS` and :data:`MODALITY_RESULTS`, by key."""

_REVISITED = "5-fold CV, 360 labelled cases (CT+MRI), from scratch"
_WINNER = "5-fold CV (challenge entry: residual encoder, larger batch, more augmentation, post-processing, ensemble)"
_NAN = math.nan

# (model, Dice %, VRAM GB, run time h on one A100 40 GB), as printed in nnU-Net Revisited.
_REVISITED_ROWS: tuple[tuple[str, float, float, float], ...] = (
    ("nnU-Net (original)", 88.64, 7.7, 9),
    ("nnU-Net ResEnc M", 88.77, 9.1, 12),
    ("nnU-Net ResEnc L", 89.41, 22.7, 35),
    ("nnU-Net ResEnc XL", 89.68, 36.6, 66),
    ("MedNeXt L k3", 89.62, 17.3, 68),
    ("MedNeXt L k5", 89.73, 18.0, 233),
    ("STU-Net S", 88.08, 5.2, 10),
    ("STU-Net B", 88.46, 8.8, 15),
    ("STU-Net L", 89.34, 26.5, 51),
    ("CoTr", 88.02, 8.2, 18),
    ("nnFormer", 81.55, 5.7, 8),
    ("SwinUNETR", 83.81, 13.1, 15),
    ("SwinUNETR V2", 86.24, 13.4, 15),
    ("MONAI Auto3DSeg SegResNet", 87.27, 20.0, 22),
    ("U-Mamba Bot", 89.13, 12.4, 24),
    ("U-Mamba Enc", 88.38, 24.9, 47),
)

PUBLISHED_RESULTS: tuple[PublishedResult, ...] = (
    PublishedResult(
        "DKFZ winning entry (extended nnU-Net)", "Task 1 (CT)", _WINNER, 90.13, _NAN, _NAN, "", "amos_winner"
    ),
    PublishedResult(
        "DKFZ winning entry (extended nnU-Net)", "Task 2 (CT+MRI)", _WINNER, 89.06, _NAN, _NAN, "", "amos_winner"
    ),
) + tuple(
    PublishedResult(model, "Task 2 (CT+MRI)", _REVISITED, dice, vram, hours, "1x A100 40 GB", "nnunet_revisited")
    for model, dice, vram, hours in _REVISITED_ROWS
)
"""Every published number of this module, one :class:`PublishedResult` per row."""

_STUNET = "trained and scored on one modality of AMOS; protocol as in the source"

MODALITY_RESULTS: tuple[PublishedResult, ...] = (
    PublishedResult("nnU-Net", "AMOS-CT", _STUNET, 89.98, _NAN, _NAN, "", "stunet"),
    PublishedResult("nnU-Net", "AMOS-MR", _STUNET, 87.39, _NAN, _NAN, "", "stunet"),
    PublishedResult("STU-Net-H (pre-trained, fine-tuned)", "AMOS-CT", _STUNET, 91.16, _NAN, _NAN, "", "stunet"),
    PublishedResult("STU-Net-H (pre-trained, fine-tuned)", "AMOS-MR", _STUNET, 87.98, _NAN, _NAN, "", "stunet"),
)
"""Published mean Dice on AMOS's CT and MRI cases separately (one modality each), with their source."""

NOT_REPRODUCED: str = (
    "The per-baseline DSC/NSD tables of the AMOS paper (Ji et al., NeurIPS 2022) are not reproduced here: "
    "we could not read them, and we do not copy numbers we cannot check. Read them in the paper "
    "(arXiv 2206.08023). No published NSD is listed: the official NSD tolerance is not published."
)
"""The note that goes with every display of :data:`PUBLISHED_RESULTS`."""

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
            "vram_gb": _NAN,
            "runtime_h": _NAN,
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


def published_by_modality() -> pd.DataFrame:
    """The published mean Dice per modality (:data:`MODALITY_RESULTS`), one row per number, with its source.

    Introduced in chapter *CT and MRI: the two tasks*. Builds on pandas.

    Returns:
        Columns :data:`REFERENCE_COLUMNS` with ``task`` renamed ``modality`` (``"AMOS-CT"``/``"AMOS-MR"``),
        Dice in percent; ``df.attrs["note"]`` holds :data:`NOT_REPRODUCED`.

    Examples:
        >>> published_by_modality().pivot(index="model", columns="modality", values="dice").loc["nnU-Net"].tolist()
        [89.98, 87.39]
    """
    records = []
    for row in MODALITY_RESULTS:
        record = asdict(row)
        source = SOURCES[row.source]
        record.update(source=source.short, citation=f"{source.citation}, {source.url}")
        records.append({"kind": "published", **record})
    df = pd.DataFrame.from_records(records, columns=list(REFERENCE_COLUMNS)).rename(columns={"task": "modality"})
    df.attrs["note"] = NOT_REPRODUCED
    return df
