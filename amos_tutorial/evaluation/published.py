"""Published AMOS reference results as data: the sources, their protocols and their rows.

Introduced in chapter *Evaluating segmentations*. Plain Python; nothing is downloaded. The tables, filters and
comparisons built from these rows are in :mod:`amos_tutorial.evaluation.reference`.

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

What is **not** here, on purpose: the per-baseline DSC/NSD tables of the AMOS paper (Ji et al., NeurIPS 2022
Datasets and Benchmarks, arXiv 2206.08023), which we could not read; no NSD value at all (the tolerance of the
official NSD is not published either, see :mod:`amos_tutorial.evaluation.metrics`); and no test-set
leaderboard numbers. Cross-validation Dice on the labelled cases is not a test-set score: compare a run of
your own with these rows only when it follows the same protocol (5 folds over the same labelled cases).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "MIN_REFERENCE_VOLUME_MM3",
    "MODALITY_RESULTS",
    "NOT_REPRODUCED",
    "PROTOCOLS",
    "PUBLISHED_RESULTS",
    "SOURCES",
    "WINNERS_PER_ORGAN",
    "OrganResult",
    "PublishedResult",
    "Source",
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


NOT_REPRODUCED: str = (
    "The per-baseline DSC/NSD tables of the AMOS paper (Ji et al., NeurIPS 2022) are not reproduced here: "
    "we could not read them, and we do not copy numbers we cannot check. Read them in the paper "
    "(arXiv 2206.08023). No published NSD is listed: the official NSD tolerance is not published."
)
"""The note that goes with every display of :data:`PUBLISHED_RESULTS`."""
