"""From scratch, then reuse: the student's own functions in the package's pipeline, beside the package's.

Introduced in chapters *Training the baselines* (the student's loss trains the quick model, through
``train(..., loss=my_dice_ce)``), *Evaluating segmentations* (the student's sliding window predicts the
validation cases, through ``predict_folder(..., blend=my_sliding_window)``) and *How AMOS 2022 was won* (the
student's largest-component rule post-processes the test predictions, :func:`postprocess_comparison`).
A reuse cell first asks the exercise's checker: a function that does not pass yet is not reused, and
:func:`not_done_line` says so in one line (so the book, whose skeletons are unfinished, builds without
running anything).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from amos_tutorial.exercises._check import CheckResult

__all__ = ["not_done_line", "postprocess_comparison"]


def not_done_line(verdict: CheckResult, what: str) -> str | None:
    """None when the student's function passed its check; else one line: what waits for it, and why.

    Args:
        verdict: The checker's result for the student's function.
        what: What the cell does with the function once it passes (``"trains the quick model with it"``).
    """
    if verdict.passed:
        return None
    return f"Not reused yet: once its check passes, this cell {what}. The check says: {verdict}"


def postprocess_comparison(
    pred_dir: str | os.PathLike, labels_dir: str | os.PathLike, rule: Callable[[np.ndarray], np.ndarray]
) -> pd.DataFrame:
    """Mean Dice of every predicted case: as predicted, after the package's rule, after the student's ``rule``.

    Each organ of a prediction keeps only the part that ``rule`` keeps of its mask (the student's
    ``my_largest_component``); the package's ``largest_component`` rule does the same for comparison.

    Args:
        pred_dir: Folder of predicted ``amos_XXXX.nii.gz`` label maps.
        labels_dir: Folder of the reference label maps (same file names).
        rule: ``rule(mask) -> mask`` for one organ's boolean mask.

    Returns:
        One row per case: ``case`` and the mean Dice over the organs of its reference ``as predicted``,
        ``package's rule`` and ``your rule``.

    Raises:
        FileNotFoundError: If ``pred_dir`` holds no prediction or a reference label is missing.
    """
    from amos_tutorial.evaluation.metrics import dice
    from amos_tutorial.evaluation.postprocess import Rule, apply_rules
    from amos_tutorial.utils.io import load_nifti

    preds = sorted(Path(pred_dir).glob("amos_*.nii.gz"))
    if not preds:
        raise FileNotFoundError(f"{pred_dir}: no predicted amos_XXXX.nii.gz here")
    rows = []
    for path in preds:
        reference_path = Path(labels_dir) / path.name
        if not reference_path.is_file():
            raise FileNotFoundError(f"{reference_path}: no reference label for the prediction {path.name}")
        pred, affine = load_nifti(path)
        pred = pred.astype(np.uint8)
        reference = load_nifti(reference_path)[0].astype(np.uint8)
        organs = [int(o) for o in np.unique(pred) if o > 0]
        spacing = tuple(float(s) for s in np.linalg.norm(affine[:3, :3], axis=0))
        package = apply_rules(pred, spacing, [Rule("largest_component", (o,)) for o in organs])
        yours = np.zeros_like(pred)
        for organ in organs:
            yours[np.asarray(rule(pred == organ), bool) & (pred == organ)] = organ
        scored = [int(o) for o in np.unique(reference) if o > 0]
        row = {"case": path.name.removesuffix(".nii.gz")}
        for name, labels in (("as predicted", pred), ("package's rule", package), ("your rule", yours)):
            row[name] = float(np.mean([dice(reference == o, labels == o) for o in scored])) if scored else np.nan
        rows.append(row)
    return pd.DataFrame(rows)
