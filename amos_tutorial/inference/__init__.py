"""Prediction with trained runs: sliding window, flip TTA, back to the original grid (``amos predict``).

Introduced in chapter *Evaluating segmentations*. See :mod:`.predictor`.

Examples:
    >>> from amos_tutorial.inference import flip_combinations
    >>> len(flip_combinations())
    8
"""

from amos_tutorial.inference.predictor import (
    INFERENCE_PATHS,
    STAGES,
    ModalityMismatchWarning,
    Prediction,
    flip_combinations,
    predict_case,
    predict_folder,
    sliding_window_probabilities,
)

__all__ = [
    "INFERENCE_PATHS",
    "STAGES",
    "ModalityMismatchWarning",
    "Prediction",
    "flip_combinations",
    "predict_case",
    "predict_folder",
    "sliding_window_probabilities",
]
