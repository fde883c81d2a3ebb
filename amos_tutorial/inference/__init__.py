"""Prediction with trained runs: sliding window, flip TTA, back to the original grid (``amos predict``).

Introduced in chapter *Evaluating segmentations*; ensembles of runs and cross-validation predictions in
chapter *How AMOS 2022 was won*. See :mod:`.predictor` and :mod:`.crossval`.

Examples:
    >>> from amos_tutorial.inference import flip_combinations
    >>> len(flip_combinations())
    8
"""

from amos_tutorial.inference.crossval import crossval_predictions, fold_validation_cases
from amos_tutorial.inference.predictor import (
    INFERENCE_PATHS,
    STAGES,
    ModalityMismatchWarning,
    Prediction,
    check_ensemble,
    ensemble_probabilities,
    flip_combinations,
    load_ensemble,
    predict_case,
    predict_folder,
    sliding_window_probabilities,
)

__all__ = [
    "INFERENCE_PATHS",
    "STAGES",
    "ModalityMismatchWarning",
    "Prediction",
    "check_ensemble",
    "crossval_predictions",
    "ensemble_probabilities",
    "flip_combinations",
    "fold_validation_cases",
    "load_ensemble",
    "predict_case",
    "predict_folder",
    "sliding_window_probabilities",
]
