"""The cases of a benchmark: which cases every model trains on and is scored on, and the evaluation folder.

Introduced in chapter *Benchmarking the baselines*. Builds on :func:`amos_tutorial.data.splits.run_cases` (the
trainer's rule) and :func:`amos_tutorial.data.stats.select_cases`. ``BENCH_DIR/split.json`` records the result,
and ``BENCH_DIR/eval/images`` and ``eval/labels`` link (or copy) the evaluation cases. Once a model is trained,
:func:`check_run_cases` reads what its run really used (the run's ``cases.json``) before anything is scored.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from collections.abc import Callable
from typing import Any

from amos_tutorial.training.rundir import RunDir
from amos_tutorial.utils.io import atomic_path

__all__ = ["check_run_cases", "link_eval_cases", "prepare_split"]


def _link_or_copy(source: Path, target: Path) -> None:
    if target.is_symlink() or target.exists():
        if target.is_symlink() and Path(os.readlink(target)) == source:
            return
        target.unlink()
    try:
        target.symlink_to(source)
    except OSError:  # no symlinks (some Windows setups): copy instead
        with atomic_path(target) as tmp:
            shutil.copyfile(source, tmp)


def prepare_split(
    data: str, val_cases: int, eval_cases: int | None, seed: int, modality_rule: str, out_dir: Path,
    fold: int | None = None,
) -> dict[str, Any]:
    """Choose the training and evaluation cases by the trainer's rule (nothing is written yet).

    The benchmark trains Task 2 runs (the trainer's default): :func:`~amos_tutorial.data.splits.run_cases`
    gives their training cases; they are scored on the whole labelled validation split, or, without one, on
    the cases the runs hold out. With ``fold``, the trainer's cross-validation rule instead: nnU-Net's fold of
    every labelled case, trained on its training cases and evaluated on (a selection of) its validation cases.
    """
    from amos_tutorial.data.layout import load_amos
    from amos_tutorial.data.splits import labelled_cases, run_cases
    from amos_tutorial.data.stats import select_cases

    dataset = load_amos(data, modality_rule=modality_rule)
    cases = run_cases(dataset, task=2, fold=fold, val_cases=val_cases)
    train_cases = cases.train
    if fold is not None:
        pool, source = cases.val, f"nnU-Net's fold {fold}"
    elif cases.from_split:
        pool, source = labelled_cases(dataset, "validation", task=2), "AMOS validation split (labelsVa)"
    elif {c.case_id for c in cases.val} & {c.case_id for c in cases.train}:
        raise ValueError(f"{dataset.root}: a benchmark needs at least 2 labelled cases (one to train, one to score)")
    else:
        pool, source = cases.val, "held out of the training split (no validation labels)"
    chosen = sorted(select_cases(pool, eval_cases, seed=seed), key=lambda c: c.number)
    missing = [str(p) for c in chosen for p in (c.image, c.label) if not Path(p).is_file()]
    if missing:
        raise FileNotFoundError(f"{missing[0]}: evaluation file does not exist ({len(missing)} missing)")
    return {
        "data_root": str(Path(dataset.root).resolve()),
        "eval_source": source,
        "eval_cases": [c.case_id for c in chosen],
        "eval_modalities": {c.case_id: c.modality for c in chosen},
        "eval_files": {c.case_id: [str(Path(c.image).resolve()), str(Path(c.label).resolve())] for c in chosen},
        "train_cases": [c.case_id for c in train_cases],
        "images_dir": str(out_dir / "eval" / "images"),
        "labels_dir": str(out_dir / "eval" / "labels"),
    }


def link_eval_cases(split: dict[str, Any]) -> None:
    """Make ``eval/images`` and ``eval/labels`` hold exactly the evaluation cases (links, or copies)."""
    for index, key in enumerate(("images_dir", "labels_dir")):
        folder = Path(split[key])
        folder.mkdir(parents=True, exist_ok=True)
        wanted = {Path(files[index]).name: Path(files[index]) for files in split["eval_files"].values()}
        for stale in folder.iterdir():
            if stale.name not in wanted:
                stale.unlink()
        for name, source in wanted.items():
            _link_or_copy(source, folder / name)


def check_run_cases(run_dir: str | os.PathLike, split: dict[str, Any], log: Callable[[str], None] = print) -> None:
    """Compare a trained run's own record (``cases.json``) with the benchmark's split before scoring it.

    A run that trained on an evaluation case is refused; a run whose training cases differ from the split's
    (a case that failed to preprocess, a run trained elsewhere) is scored, and the difference is logged.

    Raises:
        ValueError: ``"PATH: trained on ..."`` when the run trained on an evaluation case.
        FileNotFoundError: If the run has no ``cases.json``.
    """
    run = RunDir(run_dir)
    run.check_unseen(split["eval_cases"])
    trained, planned = set(run.cases().get("training", {})), set(split["train_cases"])
    if trained != planned:
        missing, extra = sorted(planned - trained), sorted(trained - planned)
        log(
            f"{run.cases_path}: trained on {len(trained)} case(s), the benchmark's split lists {len(planned)}"
            + (f"; not trained on {', '.join(missing[:3])}" if missing else "")
            + (f"; also trained on {', '.join(extra[:3])}" if extra else "")
        )
