"""Published AMOS reference results: a small table, one source per row, to put beside the book's own numbers.

Introduced in chapter *Evaluating segmentations*. Plain Python and pandas; nothing is downloaded.

Only numbers that a source we could read states are here, each row naming its source:

* **nnU-Net Revisited** (Isensee et al., MICCAI 2024, arXiv 2404.09556; the same table is in the nnU-Net
  repository, ``MIC-DKFZ/nnUNet``, ``documentation/resenc_presets.md``, read at commit ``004eef19``): mean Dice of a 5-fold
  cross-validation on the 360 labelled AMOS22 cases (CT and MRI), every model trained from scratch, with
  the GPU memory it needed (GB) and its run time (hours on one A100 40 GB).
* **The challenge winners** (DKFZ, "Extending nnU-Net is all you need", arXiv 2208.10791): 5-fold
  cross-validation Dice 90.13 for Task 1 (CT only) and 89.06 for Task 2 (CT and MRI).
* **The winners per organ** (``MIC-DKFZ/nnUNet`` commit ``db00053f``, ``documentation/amos2022/
  run_inference_task1.py`` and ``run_inference_task2.py``): the 5-fold cross-validation Dice of the final
  ensemble for each organ after the post-processing chosen for it, and the smallest reference volume per organ
  (:func:`winners_per_organ`). Their means are the published 90.13 and 89.06.
* **Primus** (``documentation/primus.md`` of the same repository, commit ``0e495086``): nnU-Net, ResEnc-L,
  MedNeXt-L, CoTr and three Primus transformers on AMOS22.
* **STU-Net** (Huang et al., arXiv 2304.06716; the table is ``assets/finetune_table.png`` of the
  ``uni-medical/STU-Net`` repository): mean Dice on AMOS-CT and on AMOS-MR separately, each a downstream task of
  its own (one fine-tuning per column; the caption: "the results on the CT (or MR) modality only"), and on the
  mixed AMOS column (:func:`published_by_modality`).
* **VISTA3D** (He et al., arXiv 2406.05285; tables ``vista3d/assets/imgs/scores.png``, ``benchmarkct.png`` and
  ``benchmarkmr.png`` of ``Project-MONAI/VISTA``, commit ``f73d7c2``): VISTA3D, nnU-Net, Auto3DSeg and
  TotalSegmentator on VISTA3D's own held-out split of AMOS22 (60 CT cases), and VISTA3D-CTMR and
  TotalSegmentator MRI on AMOS22-MR.

Every row has a **protocol** (:data:`PROTOCOLS`): which cases, which split. Rows of different protocols are
different experiments; :func:`require_same_protocol` and :func:`dice_difference` refuse to compare them.

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
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import pandas as pd

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
    "nnunet_amos2022": Source(
        key="nnunet_amos2022",
        short="nnU-Net AMOS 2022 notes (db00053f)",
        citation=(
            "MIC-DKFZ/nnUNet, commit db00053f, documentation/amos2022/readme.md, run_inference_task1.py and "
            "run_inference_task2.py, and the trainers and planners they name "
            "(nnUNetTrainerV2_ResencUNet_SimonsInit[_DA5], ExperimentPlanner3D_residual_v21_bfnnUNet*)"
        ),
        url="https://github.com/MIC-DKFZ/nnUNet/tree/db00053fab236afeb3fbf6d7f4daf230ea550fbc/documentation/amos2022",
        bibkey="nnunet2022amos",
    ),
    "primus": Source(
        key="primus",
        short="Primus table (nnU-Net primus.md, 0e495086)",
        citation=(
            "Wald et al., Primus: Enforcing Attention Usage for 3D Medical Image Segmentation (TMLR); table in "
            "MIC-DKFZ/nnUNet, commit 0e495086, documentation/primus.md"
        ),
        url="https://github.com/MIC-DKFZ/nnUNet/blob/0e495086eb108ff79afe106291e8c15bd2f2bc3a/documentation/primus.md",
        bibkey="wald2025primus",
    ),
    "vista3d": Source(
        key="vista3d",
        short="VISTA3D tables (Project-MONAI/VISTA, f73d7c2)",
        citation=(
            "He et al., VISTA3D: A Unified Segmentation Foundation Model For 3D Medical Imaging, arXiv 2406.05285 "
            "(tables: Project-MONAI/VISTA, commit f73d7c2, vista3d/assets/imgs/scores.png, benchmarkct.png, "
            "benchmarkmr.png)"
        ),
        url="https://arxiv.org/abs/2406.05285",
        bibkey="he2024vista3d",
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

PROTOCOLS: dict[str, str] = {
    "winners_task1": (
        "5-fold CV on the challenge's Task 1 training cases (200 CT, task1_dataset.json), final ensemble after "
        "post-processing"
    ),
    "winners_task2": (
        "5-fold CV on the challenge's Task 2 training cases (240 CT+MRI), final ensemble after post-processing"
    ),
    "revisited": "5-fold CV, 360 labelled cases (CT+MRI), from scratch",
    "primus": "mean Dice over the cross-validation folds (primus.md; the table is headed 'test set'; cases not stated)",
    "stunet_ct": "AMOS-CT: a downstream task of its own, CT cases only (split not stated)",
    "stunet_mr": "AMOS-MR: a downstream task of its own, MRI cases only (split not stated)",
    "stunet_mixed": "AMOS, CT and MRI together (split not stated)",
    "vista_ct60": "VISTA3D's own held-out split of AMOS22: 60 CT cases of imagesTr (AMOS22_5_folds.json)",
    "vista_ct": "VISTA3D-CTMR benchmark, AMOS22-CT (cases not stated)",
    "vista_mr": "VISTA3D-CTMR benchmark, AMOS22-MR (cases not stated)",
}
"""How each published number was measured, by key. Numbers of different protocols are not comparable."""

_REVISITED = PROTOCOLS["revisited"]
_NAN = math.nan

# (model, Dice %, VRAM GB, run time h on one A100 40 GB), as printed in nnU-Net Revisited
# (documentation/resenc_presets.md, AMOS column, n=360).
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
    ("MONAI Auto3DSeg DiNTS", 82.35, 29.2, 16),
    ("MONAI Auto3DSeg SwinUNETR", 85.05, 34.5, 9),
    ("No-Mamba Base", 89.04, 12.0, 24),
    ("U-Mamba Bot", 89.13, 12.4, 24),
    ("U-Mamba Enc", 88.38, 24.9, 47),
)

# (model, Dice %), the AMOS22 column of primus.md at commit 0e495086.
_PRIMUS_ROWS: tuple[tuple[str, float], ...] = (
    ("nnU-Net", 88.61),
    ("ResEnc-L", 89.39),
    ("MedNeXt-L", 89.58),
    ("CoTr", 87.93),
    ("Primus-M", 88.18),
    ("PrimusV2-M", 89.35),
    ("PrimusV3-S", 89.29),
)

_WINNER_MODEL = "DKFZ winning entry (extended nnU-Net)"

PUBLISHED_RESULTS: tuple[PublishedResult, ...] = (
    (
        PublishedResult(_WINNER_MODEL, "Task 1 (CT)", PROTOCOLS["winners_task1"], 90.13, _NAN, _NAN, "", "amos_winner"),
        PublishedResult(
            _WINNER_MODEL, "Task 2 (CT+MRI)", PROTOCOLS["winners_task2"], 89.06, _NAN, _NAN, "", "amos_winner"
        ),
    )
    + tuple(
        PublishedResult(model, "Task 2 (CT+MRI)", _REVISITED, dice, vram, hours, "1x A100 40 GB", "nnunet_revisited")
        for model, dice, vram, hours in _REVISITED_ROWS
    )
    + tuple(
        PublishedResult(model, "AMOS22 (cases not stated)", PROTOCOLS["primus"], dice, _NAN, _NAN, "", "primus")
        for model, dice in _PRIMUS_ROWS
    )
)
"""Every published number of this module, one :class:`PublishedResult` per row."""

MODALITY_RESULTS: tuple[PublishedResult, ...] = (
    PublishedResult("nnU-Net", "AMOS-CT", PROTOCOLS["stunet_ct"], 89.98, _NAN, _NAN, "", "stunet"),
    PublishedResult("nnU-Net", "AMOS-MR", PROTOCOLS["stunet_mr"], 87.39, _NAN, _NAN, "", "stunet"),
    PublishedResult("nnU-Net", "AMOS (CT+MR)", PROTOCOLS["stunet_mixed"], 89.48, _NAN, _NAN, "", "stunet"),
    PublishedResult("STU-Net-H (pre-trained, fine-tuned)", "AMOS-CT", PROTOCOLS["stunet_ct"], 91.16, _NAN, _NAN, "",
                    "stunet"),
    PublishedResult("STU-Net-H (pre-trained, fine-tuned)", "AMOS-MR", PROTOCOLS["stunet_mr"], 87.98, _NAN, _NAN, "",
                    "stunet"),
    PublishedResult("STU-Net-L (pre-trained, fine-tuned)", "AMOS (CT+MR)", PROTOCOLS["stunet_mixed"], 90.50, _NAN,
                    _NAN, "", "stunet"),
    PublishedResult("VISTA3D (automatic)", "AMOS-CT", PROTOCOLS["vista_ct60"], 84.1, _NAN, _NAN, "", "vista3d"),
    PublishedResult("VISTA3D (automatic + point prompts)", "AMOS-CT", PROTOCOLS["vista_ct60"], 85.6, _NAN, _NAN, "",
                    "vista3d"),
    PublishedResult("nnU-Net", "AMOS-CT", PROTOCOLS["vista_ct60"], 85.4, _NAN, _NAN, "", "vista3d"),
    PublishedResult("MONAI Auto3DSeg", "AMOS-CT", PROTOCOLS["vista_ct60"], 85.4, _NAN, _NAN, "", "vista3d"),
    PublishedResult("TotalSegmentator", "AMOS-CT", PROTOCOLS["vista_ct60"], 82.4, _NAN, _NAN, "", "vista3d"),
    PublishedResult("VISTA3D-CTMR", "AMOS-CT", PROTOCOLS["vista_ct"], 85.95, _NAN, _NAN, "", "vista3d"),
    PublishedResult("VISTA3D-CTMR", "AMOS-MR", PROTOCOLS["vista_mr"], 83.27, _NAN, _NAN, "", "vista3d"),
    PublishedResult("TotalSegmentator MRI", "AMOS-MR", PROTOCOLS["vista_mr"], 76.47, _NAN, _NAN, "", "vista3d"),
)  # fmt: skip
"""Published mean Dice on AMOS's CT and MRI cases (one modality each, or both), with source and protocol.

VISTA3D's tables give fractions (0.841); they are stored in percent like every other row."""

@dataclass(frozen=True)
class OrganResult:
    """One organ of the winners' final ensemble: its cross-validation Dice and the post-processing kept for it.

    Introduced in chapter *How AMOS 2022 was won*.

    Attributes:
        task: ``"Task 1 (CT)"`` or ``"Task 2 (CT+MRI)"``.
        organ_id: Label id (1-15).
        dice: 5-fold cross-validation Dice of the final ensemble for this organ, a fraction as in the source.
        rule: The source's name of the post-processing kept (``json_name``: ``"raw_metric.json"`` means none).
    """

    task: str
    organ_id: int
    dice: float
    rule: str


def _organs(task: str, rows: tuple[tuple[float, str], ...]) -> tuple[OrganResult, ...]:
    return tuple(OrganResult(task, organ_id, dice, rule) for organ_id, (dice, rule) in enumerate(rows, start=1))


# final_pp_for_organs of run_inference_task1.py / run_inference_task2.py (nnU-Net commit db00053f), organs 1-15.
WINNERS_PER_ORGAN: tuple[OrganResult, ...] = _organs("Task 1 (CT)", (
    (0.9762470053409747, "1_final_pipeline_rate0.75.json"),
    (0.9675394825341617, "1_final_pipeline_rate0.10.json"),
    (0.9627731976102032, "3_final_pipeline.json"),
    (0.8736083894974881, "1_final_pipeline_rate0.25.json"),
    (0.8548114298877836, "1_final_pipeline_rate0.25.json"),
    (0.9794434693055409, "3_final_pipeline.json"),
    (0.9157975574739058, "1_final_pipeline_rate0.75.json"),
    (0.9603680866311437, "1_final_pipeline_rate0.75.json"),
    (0.9175585153932445, "1_final_pipeline_rate0.10.json"),
    (0.8673404180730196, "raw_metric.json"),
    (0.7968925183844469, "raw_metric.json"),
    (0.8100986537273488, "3_final_pipeline.json"),
    (0.8378947041022881, "raw_metric.json"),
    (0.9230446621513407, "1_final_pipeline_rate0.10.json"),
    (0.8761071641695802, "raw_metric.json"),
)) + _organs("Task 2 (CT+MRI)", (
    (0.9732512370778962, "1_final_pipeline_rate0.10.json"),
    (0.9640832988865068, "raw_metric.json"),
    (0.9560604701741481, "raw_metric.json"),
    (0.8638663299956998, "1_final_pipeline_rate0.50.json"),
    (0.8279895992855236, "1_final_pipeline_rate0.90.json"),
    (0.9796343460008006, "3_final_pipeline.json"),
    (0.9116198810299261, "1_final_pipeline_rate0.25.json"),
    (0.954956293026744, "2_final_pipeline_rate0.90.json"),
    (0.9127333677543994, "1_final_pipeline_rate0.10.json"),
    (0.8666062113506989, "raw_metric.json"),
    (0.7700240487854779, "raw_metric.json"),
    (0.7800730312682457, "raw_metric.json"),
    (0.8194899060127955, "1_final_pipeline_rate0.10.json"),
    (0.9079541143746485, "1_final_pipeline_rate0.50.json"),
    (0.8712155869104051, "1_final_pipeline_rate0.25.json"),
))  # fmt: skip
"""The winners' per-organ 5-fold cross-validation Dice and post-processing, Task 1 then Task 2 (``nnunet_amos2022``)."""

#: ``min_gt_volume`` of the same files (identical in both): the smallest reference volume of each organ over the
#: training cases, in mm^3. Rule ``rate r`` drops connected components smaller than r times this volume.
MIN_REFERENCE_VOLUME_MM3: dict[int, float] = {
    1: 14514.522334710227, 2: 32323.283026438632, 3: 10084.375, 4: 1242.140625, 5: 418.857421875,
    6: 653406.1819358291, 7: 30.576200410175325, 8: 26481.439208984375, 9: 31401.75782125006,
    10: 15213.30078125, 11: 1076.1044686954742, 12: 663.6894633476112, 13: 19243.98566040845,
    14: 14665.392605173933, 15: 7937.479259275528,
}  # fmt: skip

ORGAN_COLUMNS: tuple[str, ...] = (
    "task", "organ_id", "organ", "dice", "postprocessing", "rate", "lr_fix", "min_volume_mm3", "protocol", "source",
)  # fmt: skip
"""Columns of :func:`winners_per_organ`."""

_LR_IDS = (2, 3, 11, 12)


def _describe_rule(rule: str, group: set[int]) -> tuple[str, float, bool]:
    """What a ``json_name`` of the winners' scripts does, as in their ``get_method_from_json_name``."""
    lr_fix = bool(group & set(_LR_IDS))  # the left/right fix runs for a group holding any kidney or adrenal
    if rule == "raw_metric.json":
        return "none (raw)", _NAN, False
    if rule == "3_final_pipeline.json":
        return "largest component", _NAN, lr_fix
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
