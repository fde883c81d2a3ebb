"""The budgets of ``amos bench``: how much work every model of a benchmark gets.

Introduced in chapter *Benchmarking the baselines*; builds on the trainer's presets
(:data:`amos_tutorial.training.config.PRESETS`).

Examples:
    >>> budget_table().loc["smoke", "variant"]
    'tiny'
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

__all__ = ["BUDGETS", "Budget", "budget_table"]


@dataclass(frozen=True)
class Budget:
    """How much work every model of a benchmark gets.

    Introduced in chapter *Benchmarking the baselines*.

    Attributes:
        name: ``"smoke"``, ``"quick"``, ``"short"`` or ``"full"``.
        preset: Trainer preset (:data:`amos_tutorial.training.PRESETS`): model variant, validation settings.
        iterations: Optimiser steps per model; None takes each model's recipe (1000 x 250).
        val_cases: Labelled cases the trainer validates on (and holds out when the validation split has no labels).
        eval_cases: Cases the benchmark predicts and scores (None: every labelled evaluation case).
        device_hint: Where the budget is meant to run.
        description: One sentence for tables and ``--help``.
    """

    name: str
    preset: str
    iterations: int | None
    val_cases: int
    eval_cases: int | None
    device_hint: str
    description: str

    @property
    def variant(self) -> str:
        """The model variant of the budget's trainer preset (``"tiny"`` or ``"full"``)."""
        from amos_tutorial.training.config import PRESETS

        return str(PRESETS[self.preset]["variant"])


#: The budgets of ``amos bench --budget``.
BUDGETS: dict[str, Budget] = {
    "smoke": Budget(
        "smoke", "smoke", 20, 1, 2, "CPU",
        "tiny variants and 32^3 patches, 20 iterations, 2 evaluation cases: checks the pipeline in a minute per "
        "model on a CPU; the scores mean nothing",
    ),
    "quick": Budget(
        "quick", "quick", 600, 2, None, "CPU",
        "tiny variants on a coarse 3x3x4 mm grid, 600 Adam iterations, every labelled evaluation case: one to "
        "six minutes per model on a CPU, long enough for UNet, nnU-Net and CoTr to learn the large organs of the "
        "synthetic set; not AMOS scores",
    ),
    "short": Budget(
        "short", "full", 2500, 10, None, "one GPU",
        "full variants and recipes for 2,500 iterations (10 nnU-Net epochs, 1% of the recipe), every labelled "
        "evaluation case: a first ranking on a GPU",
    ),
    "full": Budget(
        "full", "full", None, 10, None, "one GPU per model",
        "the recipe: full variants, 1000 epochs x 250 iterations, every labelled evaluation case",
    ),
}  # fmt: skip


def budget_table() -> pd.DataFrame:
    """The budgets as a table, for the chapter and ``--help``.

    Introduced in chapter *Benchmarking the baselines*. Builds on pandas and the trainer's presets.

    Returns:
        One row per budget: variant, iterations, validation and evaluation cases, where to run it, what it is for.

    Examples:
        >>> budget_table().loc["smoke", "variant"]
        'tiny'
    """
    rows = {
        b.name: {
            "variant": b.variant,
            "iterations": "recipe (1000 x 250)" if b.iterations is None else f"{b.iterations:,}",
            "validation cases (trainer)": b.val_cases,
            "evaluation cases": "all labelled" if b.eval_cases is None else b.eval_cases,
            "meant for": b.device_hint,
            "what": b.description,
        }
        for b in BUDGETS.values()
    }
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "budget"
    return frame
