"""A training run's folder as one type: its files, their names, and seconds per step by one rule.

Introduced in chapter *Training the baselines*. Builds on pandas. ``amos train`` writes a run folder:

==================  ==============================================================
``config.json``     the run's :class:`~amos_tutorial.training.TrainConfig`
``metrics.csv``     one row per epoch: iteration, seconds of training steps, losses, validation
``cases.json``      the cases it trained and validated on, and where they came from
``checkpoints/``    ``best.pt`` (best validation Dice) and ``last.pt`` (resume point)
==================  ==============================================================

The trainer, the run tables (:mod:`.runs`), the benchmark, the cross-validation predictions and the
shared runs name these files through :class:`RunDir` only.

Examples:
    >>> run = RunDir("runs/unet")
    >>> run.metrics_path.name, run.checkpoint("last").name
    ('metrics.csv', 'last.pt')
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from amos_tutorial.utils.io import atomic_path

__all__ = [
    "CASES_FILE",
    "CHECKPOINTS",
    "CHECKPOINT_DIR",
    "CONFIG_FILE",
    "METRICS_FILE",
    "RunDir",
    "scored_cases",
    "seconds_per_step",
]

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.csv"
"""The per-epoch table the trainer writes into a run folder."""
#: The cases a run trained and validated on (written by the main process at every start or resume).
CASES_FILE = "cases.json"
CHECKPOINT_DIR = "checkpoints"
#: The checkpoints of a run: the best validation Dice and the last step (the resume point).
CHECKPOINTS: tuple[str, ...] = ("best", "last")


def seconds_per_step(
    metrics: pd.DataFrame, session_starts: Sequence[int] = (), skip_first: bool = True
) -> float:
    """Seconds per training step from the ``iteration`` and ``seconds`` columns of ``metrics.csv``: the one rule.

    Introduced in chapter *Training the baselines*. Each row holds the seconds of the training steps of one
    epoch (validation excluded). A row covers the steps since the previous row, or since the start of the
    session that wrote it when a run was resumed in the middle of an epoch (the resumed row only timed the
    steps after the start). The first epoch also pays one-off costs (memory allocation, kernel selection,
    cuDNN autotuning), so ``skip_first`` leaves it out when there are later ones.

    Args:
        metrics: The run's metrics table.
        session_starts: The iterations at which training sessions started (resumed runs), if known.
        skip_first: Leave the first epoch out when the run has more than one.

    Returns:
        Seconds per step (NaN when the table is empty).

    Raises:
        ValueError: If the columns are missing.

    Examples:
        >>> frame = pd.DataFrame({"iteration": [4, 8, 12], "seconds": [9.0, 2.0, 2.2]})
        >>> round(seconds_per_step(frame), 3)
        0.525
        >>> round(seconds_per_step(frame, session_starts=[6], skip_first=False), 3)
        1.32
    """
    if not isinstance(metrics, pd.DataFrame) or not {"iteration", "seconds"} <= set(metrics.columns):
        raise ValueError("metrics must be a DataFrame with 'iteration' and 'seconds' columns (metrics.csv)")
    rows = sorted(zip(metrics["iteration"].astype(int), metrics["seconds"].astype(float)))
    seconds, covered, previous = [], [], 0
    for iteration, sec in rows:
        start = max([previous, *(s for s in session_starts if s < iteration)])
        seconds.append(sec)
        covered.append(iteration - start)
        previous = iteration
    if skip_first and len(rows) > 1:
        seconds, covered = seconds[1:], covered[1:]
    total = float(sum(covered))
    return float(sum(seconds)) / total if total > 0 else float("nan")


class RunDir:
    """The folder of one training run (it need not exist yet).

    Introduced in chapter *Training the baselines*.

    Args:
        path: The run folder.

    Examples:
        >>> RunDir("runs/unet").config_path.as_posix()
        'runs/unet/config.json'
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS_FILE

    @property
    def cases_path(self) -> Path:
        return self.path / CASES_FILE

    def checkpoint(self, which: str = "best") -> Path:
        """The path of checkpoint ``which`` (``"best"`` or ``"last"``), whether or not it exists."""
        if which not in CHECKPOINTS:
            raise ValueError(f"checkpoint must be one of {', '.join(map(repr, CHECKPOINTS))}, got {which!r}")
        return self.path / CHECKPOINT_DIR / f"{which}.pt"

    def has_run(self) -> bool:
        """Whether a run was started here (a config or a resume checkpoint exists)."""
        return self.config_path.is_file() or self.checkpoint("last").is_file()

    def metrics(self) -> pd.DataFrame:
        """The ``metrics.csv`` table (one row per epoch).

        Raises:
            FileNotFoundError: If the run has no metrics table yet.
            ValueError: ``"PATH: ..."`` if the table cannot be read.
        """
        path = self.metrics_path
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no metrics yet (the run has not finished an epoch)")
        try:
            return pd.read_csv(path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path}: cannot read the metrics table ({exc})") from exc

    def metrics_upto(self, iteration: int) -> list[dict[str, Any]]:
        """The metrics rows up to ``iteration`` (the resume point), as dicts; none when the table is missing.

        Rows written after the checkpoint (a crash between the table and the checkpoint) are dropped.

        Raises:
            ValueError: ``"PATH: ..."`` if the table cannot be read or has no ``iteration`` column.
        """
        try:
            frame = self.metrics()
        except FileNotFoundError:
            return []
        if "iteration" not in frame.columns:
            raise ValueError(f"{self.metrics_path}: not a metrics table of `amos train` (no 'iteration' column)")
        return frame[frame["iteration"] <= iteration].to_dict("records")

    def write_metrics(self, rows: list[dict[str, Any]]) -> pd.DataFrame:
        """Write ``metrics.csv`` atomically from one dict per epoch and return it as a table."""
        frame = pd.DataFrame(rows)
        with atomic_path(self.metrics_path) as tmp:
            frame.to_csv(tmp, index=False)
        return frame

    def cases(self) -> dict[str, Any]:
        """The ``cases.json`` record: the run's training and validation cases and their source.

        Raises:
            FileNotFoundError: If the run wrote none (runs older than the record).
            ValueError: ``"PATH: ..."`` if it is not JSON.
        """
        path = self.cases_path
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no record of the run's cases")
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path}: not a cases record ({exc})") from exc

    def recorded_cases(self, dataset: Any, which: str = "validation") -> list[Any]:
        """The cases the run recorded in ``cases.json`` (``"training"`` or ``"validation"``), as cases of ``dataset``.

        Later steps (predicting or showing a run's validation cases) read this record instead of choosing the
        cases again: it holds what the run really used (cases that failed to preprocess are not in it).

        Args:
            dataset: An :class:`~amos_tutorial.data.layout.AmosDataset` holding the run's cases.
            which: ``"training"`` or ``"validation"``.

        Returns:
            The cases, by case number.

        Raises:
            FileNotFoundError: If the run has no record, or a recorded case is not in ``dataset`` (one line
                naming the record and the data folder).
            ValueError: For another ``which``, or a record that is not JSON.
        """
        if which not in ("training", "validation"):
            raise ValueError(f"which must be 'training' or 'validation', got {which!r}")
        recorded = list(self.cases().get(which, {}))
        by_id = {c.case_id: c for c in dataset.cases}
        missing = [cid for cid in recorded if cid not in by_id]
        if missing:
            raise FileNotFoundError(
                f"{self.cases_path}: {which} case(s) {', '.join(missing[:3])} not in {dataset.root}"
            )
        return sorted((by_id[cid] for cid in recorded), key=lambda c: c.number)

    def write_cases(self, task: int, training: Sequence[Any], validation: Sequence[Any], source: str) -> None:
        """Record (atomically) the cases the run trains and validates on, by id with their modality, and the source.

        Args:
            task: The run's task (1 or 2).
            training: The training cases (anything with ``case_id`` and ``modality``).
            validation: The validation cases.
            source: Where the validation cases come from (:class:`~amos_tutorial.data.splits.RunCases`).
        """
        record = {
            "task": task,
            "training": {c.case_id: c.modality for c in training},
            "validation": {c.case_id: c.modality for c in validation},
            "source": source,
        }
        self.path.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.cases_path) as tmp:
            tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")

    def check_unseen(self, case_ids: Sequence[str]) -> None:
        """Refuse to score the run on cases it trained on (its ``cases.json`` says which).

        Raises:
            ValueError: ``"PATH: trained on ..."`` naming the first such cases.
            FileNotFoundError: If the run has no record.
        """
        seen = sorted(set(self.cases().get("training", {})) & set(case_ids))
        if seen:
            raise ValueError(
                f"{self.cases_path}: trained on {', '.join(seen[:3])}{' ...' if len(seen) > 3 else ''}, which would "
                f"be scored ({len(seen)} case(s)); score it on cases it held out"
            )

    def seconds_per_step(self, session_starts: Sequence[int] = (), skip_first: bool = True) -> float:
        """Seconds per training step of this run (:func:`seconds_per_step` of its metrics; NaN without any)."""
        try:
            frame = self.metrics()
        except FileNotFoundError:
            return float("nan")
        if not {"iteration", "seconds"} <= set(frame.columns):
            raise ValueError(
                f"{self.metrics_path}: no 'seconds'/'iteration' columns; not a metrics table of `amos train`"
            )
        return seconds_per_step(frame, session_starts, skip_first)


def scored_cases(runs: Sequence[str | os.PathLike], dataset: Any) -> Any:
    """The labelled cases on which to score several runs, read from their ``cases.json`` records.

    Introduced in chapter *Evaluating segmentations*. Nothing is chosen again: when every run validated on the
    release's validation split, the whole labelled validation split (``imagesVa``/``labelsVa``), which none of
    them trained on; otherwise the cases that every run held out of training (runs of Task 1 and Task 2 hold out
    different cases of a copy with MRI). Either way, no run trained on a returned case.

    Args:
        runs: Run folders (each with a ``cases.json``).
        dataset: The :class:`~amos_tutorial.data.layout.AmosDataset` the runs were trained on.

    Returns:
        A :class:`~amos_tutorial.data.splits.RunCases` whose ``val`` holds the cases to score, by case number,
        ``train`` the cases any run trained on, and ``source``/``from_split`` where the scored cases come from.

    Raises:
        ValueError: If ``runs`` is empty, the runs held out no case in common, or a run trained on a scored
            case (one line naming the record).
        FileNotFoundError: If a run has no record, or a recorded case is not in ``dataset``.
    """
    from amos_tutorial.data.splits import HELD_OUT, VALIDATION_SPLIT, RunCases, labelled_cases

    folders = [RunDir(run) for run in runs]
    if not folders:
        raise ValueError("runs is empty: pass at least one run folder")
    in_split = {c.case_id for c in dataset.split("validation")}
    held = {run: run.recorded_cases(dataset, "validation") for run in folders}
    trained = {c.case_id: c for run in folders for c in run.recorded_cases(dataset, "training")}
    if all(cases and {c.case_id for c in cases} <= in_split for cases in held.values()):
        chosen, source, from_split = labelled_cases(dataset, "validation"), VALIDATION_SPLIT, True
    else:
        first = folders[0]
        common = set.intersection(*({c.case_id for c in cases} for cases in held.values()))
        chosen = [c for c in held[first] if c.case_id in common]
        if not chosen:
            raise ValueError(
                f"{first.cases_path}: the runs held out no case in common ("
                + "; ".join(f"{run.path.name}: {', '.join(c.case_id for c in cases) or 'none'}" for run, cases in held.items())
                + "): compare runs that held out the same cases"
            )
        source, from_split = first.cases().get("source", HELD_OUT), False
    for run in folders:
        run.check_unseen([c.case_id for c in chosen])
    return RunCases(sorted(trained.values(), key=lambda c: c.number), chosen, source, from_split)
