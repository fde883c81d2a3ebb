"""How to benchmark: the settings of :func:`~amos_tutorial.benchmark.bench.run_benchmark` as one options object.

Introduced in chapter *Benchmarking the baselines*. A plain dataclass; ``run_benchmark`` also takes its
fields as keywords (``iterations=20``), which override the object's.

Examples:
    >>> BenchOptions(iterations=20).checkpoint
    'last'
    >>> BenchOptions.build(None, {"tta": True}).tta
    True
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from amos_tutorial.utils.options import with_settings

__all__ = ["BenchOptions"]


@dataclass(frozen=True)
class BenchOptions:
    """The settings every model of a benchmark shares (see :func:`~amos_tutorial.benchmark.bench.run_benchmark`).

    Introduced in chapter *Benchmarking the baselines*.

    Attributes:
        iterations: Override the budget's iterations per model (same for every model).
        minutes: Equal wall-clock instead: each model trains for the iterations that fit in this many
            minutes at its whole-loop speed, measured first on this machine (``amos bench speed``'s loop).
        amp: Mixed precision (``"auto"``, ``"bf16"``, ``"fp16"``, ``"off"``; None: the trainer's default).
        seed: Seed of weights, patches and the choice of evaluation cases.
        eval_cases: Number of evaluation cases (None: all; -1: the budget's).
        patch_size: Override every model's recipe patch (x, y, z).
        batch_size: Override every model's recipe batch size.
        tta: Flip test-time augmentation in prediction (8 passes).
        checkpoint: ``"last"`` (default, see :mod:`amos_tutorial.benchmark.bench`) or ``"best"``.
        tolerance_mm: NSD tolerance (None: the evaluator's default).
        cache_dir: Preprocessed cache folder (None: the trainer's, shared with ``amos train``).
        eval_workers: Processes for the evaluation (0: in this process).
        stop_after: Stop each training session after this many steps, with a checkpoint, and end the
            benchmark there (for time-limited sessions such as Colab); run again to resume.
        threads: torch CPU threads during the run (None: leave as is). On a busy 2-core machine, 1 avoids
            oversubscription.
        modality_rule: Id rule where the metadata do not decide CT or MRI.
        fold: nnU-Net's cross-validation fold (0-4): every model trains on the fold's training cases and is
            scored on its validation cases. None: the benchmark's own split.
        external: Extra rows scored from existing prediction folders, ``{"nnunetv2": "PATH"}``: each folder
            must hold ``amos_XXXX.nii.gz`` for every evaluation case; it is scored by the same evaluator on
            the same cases, nothing is trained.
    """

    iterations: int | None = None
    minutes: float | None = None
    amp: str | None = None
    seed: int = 0
    eval_cases: int | None = -1
    patch_size: Sequence[int] | None = None
    batch_size: int | None = None
    tta: bool = False
    checkpoint: str = "last"
    tolerance_mm: float | None = None
    cache_dir: str | os.PathLike | None = None
    eval_workers: int = 0
    stop_after: int | None = None
    threads: int | None = None
    modality_rule: str = "readme"
    fold: int | None = None
    external: Mapping[str, str | os.PathLike] | None = field(default=None)

    @classmethod
    def build(cls, options: BenchOptions | None, settings: Mapping[str, Any]) -> BenchOptions:
        """``options`` (default: all defaults) with the fields in ``settings`` replaced.

        Raises:
            TypeError: One line naming an unknown keyword.
        """
        return with_settings(cls, options, settings)
