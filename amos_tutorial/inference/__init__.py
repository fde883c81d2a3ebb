"""Prediction with trained runs: sliding window, flip TTA, back to the original grid (``amos predict``).

Introduced in chapter *Evaluating segmentations*; ensembles of runs and cross-validation predictions in
chapter *How AMOS 2022 was won*. One concept per module: :mod:`.options` (how to predict), :mod:`.window`
(the sliding window and flips), :mod:`.ensemble` (loading and averaging runs), :mod:`.predictor` (one case
on its original grid), :mod:`.folder` (a folder, resumable) and :mod:`.crossval`.

Examples:
    >>> from amos_tutorial.inference import flip_combinations
    >>> len(flip_combinations())
    8
"""

from amos_tutorial.inference.crossval import crossval_predictions, fold_validation_cases
from amos_tutorial.inference.ensemble import check_ensemble, ensemble_probabilities, load_ensemble
from amos_tutorial.inference.folder import predict_folder
from amos_tutorial.inference.options import BLEND_MODES, ENGINES, PredictOptions
from amos_tutorial.inference.predictor import STAGES, ModalityMismatchWarning, Prediction, predict_case
from amos_tutorial.inference.window import flip_combinations, sliding_window_probabilities

__all__ = [
    "BLEND_MODES",
    "ENGINES",
    "STAGES",
    "ModalityMismatchWarning",
    "PredictOptions",
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
