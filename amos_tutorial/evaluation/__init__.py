"""Evaluation as in the AMOS challenge: DSC and NSD per case and organ, summaries, submission packaging.

Introduced in chapter *Evaluating segmentations*.

* :mod:`.metrics`: array-level scores (``dice``, ``normalized_surface_dice``, ``score_case``) and small 2-D
  demo masks for the chapter;
* :mod:`.evaluate`: folders of NIfTI files -> a tidy DataFrame and a readable report (``amos evaluate``);
* :mod:`.modality_gap`: the CT-minus-MRI score per organ with bootstrap intervals over cases;
* :mod:`.submit`: check and zip predictions in the challenge's form (``amos submit``).

Examples:
    >>> from amos_tutorial.evaluation import dice, demo_mask_pair
    >>> ref, pred = demo_mask_pair(shift=(0, 0))
    >>> dice(ref, pred)
    1.0
"""

from amos_tutorial.evaluation.evaluate import (
    RESULT_COLUMNS,
    EvaluationError,
    check_pairs,
    evaluate_case,
    evaluate_folder,
    format_report,
    list_cases,
    modality_summary,
    organ_summary,
    overall_scores,
    read_header,
    read_label_map,
    save_metrics,
    task_summary,
)
from amos_tutorial.evaluation.metrics import (
    ABSENT_CONVENTIONS,
    DEFAULT_TOLERANCE_MM,
    METRIC_COLUMNS,
    demo_mask_pair,
    describe_conventions,
    dice,
    disk_mask,
    normalized_surface_dice,
    parse_tolerance,
    resolve_tolerances,
    score_case,
    spacing_from_affine,
    surface_distances,
    surface_elements,
)
from amos_tutorial.evaluation.modality_gap import GAP_COLUMNS, modality_gap
from amos_tutorial.evaluation.submit import (
    TASKS,
    SubmissionCheck,
    SubmissionError,
    check_submission,
    expected_cases,
    package_submission,
)

__all__ = [
    "ABSENT_CONVENTIONS",
    "DEFAULT_TOLERANCE_MM",
    "GAP_COLUMNS",
    "METRIC_COLUMNS",
    "RESULT_COLUMNS",
    "TASKS",
    "EvaluationError",
    "SubmissionCheck",
    "SubmissionError",
    "check_pairs",
    "check_submission",
    "demo_mask_pair",
    "describe_conventions",
    "dice",
    "disk_mask",
    "evaluate_case",
    "evaluate_folder",
    "expected_cases",
    "format_report",
    "list_cases",
    "modality_gap",
    "modality_summary",
    "normalized_surface_dice",
    "organ_summary",
    "overall_scores",
    "package_submission",
    "parse_tolerance",
    "read_header",
    "read_label_map",
    "resolve_tolerances",
    "save_metrics",
    "score_case",
    "spacing_from_affine",
    "surface_distances",
    "surface_elements",
    "task_summary",
]
