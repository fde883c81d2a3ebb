"""Evaluation as in the AMOS challenge: DSC and NSD (and HD95) per case and organ, summaries, submissions.

Introduced in chapter *Evaluating segmentations*.

* :mod:`.metrics`: array-level scores (``dice``, ``normalized_surface_dice``) and small 2-D demo masks for
  the chapter; :mod:`.hausdorff`: ``hausdorff_distance_95``;
* :mod:`.metric_table`: the metrics as data (``METRICS``, ``register_metric``): every table, summary and
  figure iterates over it; :mod:`.scoring`: ``score_case``, one column per metric;
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
    result_columns,
    save_metrics,
    task_summary,
)
from amos_tutorial.evaluation.hausdorff import hausdorff_distance_95
from amos_tutorial.evaluation.metric_table import (
    METRICS,
    Metric,
    challenge_metrics,
    get_metric,
    list_metrics,
    metric_names,
    register_metric,
    unregister_metric,
)
from amos_tutorial.evaluation.options import ScoreOptions
from amos_tutorial.evaluation.metrics import (
    ABSENT_CONVENTIONS,
    DEFAULT_TOLERANCE_MM,
    demo_mask_pair,
    describe_conventions,
    dice,
    disk_mask,
    normalized_surface_dice,
    parse_tolerance,
    resolve_tolerances,
    spacing_from_affine,
    surface_distances,
    surface_elements,
)
from amos_tutorial.evaluation.modality_gap import GAP_COLUMNS, modality_gap
from amos_tutorial.evaluation.scoring import metric_columns, score_case, scoring_conventions
from amos_tutorial.evaluation.submit import (
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
    "ScoreOptions",
    "METRICS",
    "EvaluationError",
    "Metric",
    "SubmissionCheck",
    "SubmissionError",
    "challenge_metrics",
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
    "get_metric",
    "hausdorff_distance_95",
    "list_cases",
    "list_metrics",
    "metric_columns",
    "metric_names",
    "modality_gap",
    "modality_summary",
    "normalized_surface_dice",
    "organ_summary",
    "overall_scores",
    "package_submission",
    "parse_tolerance",
    "read_header",
    "read_label_map",
    "register_metric",
    "resolve_tolerances",
    "result_columns",
    "save_metrics",
    "score_case",
    "scoring_conventions",
    "spacing_from_affine",
    "surface_distances",
    "surface_elements",
    "task_summary",
    "unregister_metric",
]
