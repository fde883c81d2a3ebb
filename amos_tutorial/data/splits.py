"""Cross-validation folds equal to nnU-Net v2's, so that the book's runs and nnU-Net's share their cases.

Introduced in chapter *nnU-Net v2: the framework that won*. nnU-Net splits its training cases with
``nnunetv2.utilities.crossval_split.generate_crossval_split``: scikit-learn's ``KFold`` with
``shuffle=True`` and ``random_state=12345`` on the **sorted** case ids. :func:`crossval_folds` does the
same with scikit-learn alone (nnU-Net need not be installed), and :func:`nnunet_case_ids` lists the cases
that nnU-Net's AMOS converters put into training (Task 1: CT only, by id; Task 2: every labelled case;
both add the validation split to training). ``amos splits`` prints them; ``amos train --fold K`` trains on them.

:func:`run_cases` is the one rule for the cases a training run trains and validates on (a fold, the
release's validation split, or cases held out of the training split); the trainer, the benchmark, the
chapters' validation cases and the cross-validation predictions all call it.

Examples:
    >>> folds = crossval_folds([f"amos_{i:04d}" for i in range(1, 11)], n_folds=5)
    >>> len(folds), len(folds[0]["train"]), len(folds[0]["val"])
    (5, 8, 2)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, NamedTuple

from amos_tutorial.data.tasks import TASK1_CT_MAX_ID, get_task

__all__ = [
    "DEFAULT_FOLDS",
    "HELD_OUT",
    "NNUNET_SPLIT_SEED",
    "VALIDATION_SPLIT",
    "RunCases",
    "crossval_folds",
    "fold_cases",
    "labelled_cases",
    "nnunet_case_ids",
    "run_cases",
]

#: nnU-Net's default number of folds and the seed of its KFold.
DEFAULT_FOLDS = 5
NNUNET_SPLIT_SEED = 12345
#: Where a run's validation cases come from (:attr:`RunCases.source`).
VALIDATION_SPLIT = "AMOS validation split"
HELD_OUT = "held out of the training split"


def crossval_folds(
    case_ids: Sequence[str], n_folds: int = DEFAULT_FOLDS, seed: int = NNUNET_SPLIT_SEED
) -> list[dict[str, list[str]]]:
    """nnU-Net's folds of ``case_ids``: ``[{"train": [...], "val": [...]}, ...]`` (``splits_final.json``).

    Introduced in chapter *nnU-Net v2: the framework that won*; built on ``sklearn.model_selection.KFold``.
    The ids are sorted first, as nnU-Net sorts its dataset's identifiers before splitting.

    Args:
        case_ids: Case ids (``amos_0001``...), in any order, without duplicates.
        n_folds: Number of folds, 2 to ``len(case_ids)``.
        seed: KFold's ``random_state`` (nnU-Net: 12345).

    Returns:
        One dict per fold with the sorted-order ``train`` and ``val`` ids.

    Raises:
        ValueError: On duplicate ids or a fold count out of range.
    """
    from sklearn.model_selection import KFold

    ids = sorted(str(c) for c in case_ids)
    if len(set(ids)) != len(ids):
        raise ValueError(f"case_ids has duplicates: {sorted({c for c in ids if ids.count(c) > 1})}")
    if not isinstance(n_folds, int) or not 2 <= n_folds <= len(ids):
        raise ValueError(f"n_folds must be an integer from 2 to the number of cases ({len(ids)}), got {n_folds!r}")
    kfold = KFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return [
        {"train": [ids[i] for i in train], "val": [ids[i] for i in val]} for train, val in kfold.split(ids)
    ]


def fold_cases(
    case_ids: Sequence[str], fold: int, n_folds: int = DEFAULT_FOLDS, seed: int = NNUNET_SPLIT_SEED
) -> tuple[list[str], list[str]]:
    """``(train ids, validation ids)`` of fold ``fold`` (0-based, as nnU-Net counts).

    Raises:
        ValueError: If ``fold`` is not in ``0..n_folds-1``.

    Examples:
        >>> fold_cases(["amos_0003", "amos_0001", "amos_0002"], 0, n_folds=3)[1]
        ['amos_0002']
    """
    if not isinstance(fold, int) or isinstance(fold, bool) or not 0 <= fold < n_folds:
        raise ValueError(f"fold must be an integer from 0 to {n_folds - 1}, got {fold!r}")
    split = crossval_folds(case_ids, n_folds, seed)[fold]
    return split["train"], split["val"]


def nnunet_case_ids(root: str | os.PathLike, task: int = 2) -> list[str]:
    """The labelled cases that nnU-Net's AMOS converter puts into ``imagesTr`` (sorted ids).

    Introduced in chapter *nnU-Net v2: the framework that won*. Follows the lists in ``dataset.json`` as the
    converters do: Task 2 (``Dataset219_Amos2022_task2``) takes every training and validation case; Task 1
    (``Dataset218_Amos2022_task1``) only CT ids, training <= 410 and validation <= 409
    (:data:`TASK1_CT_MAX_ID`).

    Args:
        root: AMOS data folder or ``"synthetic"``.
        task: 1 (CT) or 2 (CT and MRI).

    Returns:
        Sorted case ids.

    Raises:
        ValueError: For an unknown task.
        FileNotFoundError: If ``root`` is not an AMOS data folder.
    """
    from amos_tutorial.data.layout import load_amos

    get_task(task)
    dataset = load_amos(root)
    ids = []
    for split in ("training", "validation"):
        for case in dataset.split(split):
            if task == 1 and case.number > TASK1_CT_MAX_ID[split]:
                continue
            ids.append(case.case_id)
    return sorted(ids)


class RunCases(NamedTuple):
    """The cases of one training run, as :func:`run_cases` chose them.

    Attributes:
        train: The training cases, by case number.
        val: The validation cases, by case number (the only training case itself when nothing else exists).
        source: Where ``val`` comes from: nnU-Net's fold, :data:`VALIDATION_SPLIT`, :data:`HELD_OUT`, or a
            sentence for the one-case fallback.
        from_split: Whether ``val`` comes from the release's validation split (``imagesVa`` holds it).
    """

    train: list
    val: list
    source: str
    from_split: bool


def labelled_cases(dataset: Any, split: str, task: int = 2) -> list:
    """The labelled cases of ``split`` that belong to ``task``, by case number.

    Introduced in chapter *Training the baselines*. A case belongs to Task 1 when its modality (scanner
    metadata, else the id rule; :func:`amos_tutorial.data.layout.load_amos` decides) is CT.

    Args:
        dataset: An :class:`~amos_tutorial.data.layout.AmosDataset`.
        split: ``"training"`` or ``"validation"``.
        task: 1 or 2.
    """
    modalities = set(get_task(task).modalities)
    return sorted(
        (c for c in dataset.split(split) if c.has_label and c.modality in modalities), key=lambda c: c.number
    )


def run_cases(dataset: Any, task: int = 2, val_cases: int = 1, fold: int | None = None) -> RunCases:
    """The cases a training run trains and validates on: the one rule of the package.

    Introduced in chapter *Training the baselines*. Only labelled cases of the task count. Then, in order:

    * ``fold`` set: nnU-Net's fold ``fold`` of :data:`DEFAULT_FOLDS` (:func:`fold_cases`) over the labelled
      training and validation cases together;
    * the copy has validation labels: every training case, and the first ``val_cases`` validation cases;
    * otherwise the last ``val_cases`` training cases are held out, keeping at least one to train on; with a
      single training case, that case is both (the run can still be checked, not measured).

    Args:
        dataset: An :class:`~amos_tutorial.data.layout.AmosDataset`.
        task: 1 (CT cases only) or 2 (CT and MRI).
        val_cases: How many validation cases (the run's ``val_cases``), at least 1.
        fold: A fold 0-4, or None.

    Returns:
        A :class:`RunCases`.

    Raises:
        ValueError: For a bad task, count or fold; when the task has no labelled training case, or fewer
            labelled cases than folds (the message starts with the data folder).

    Examples:
        >>> from amos_tutorial.data.layout import load_amos
        >>> cases = run_cases(load_amos("synthetic"), task=1, val_cases=2)  # doctest: +SKIP
        >>> cases.source  # doctest: +SKIP
        'AMOS validation split'
    """
    modalities = get_task(task).modalities
    if isinstance(val_cases, bool) or not isinstance(val_cases, int) or val_cases < 1:
        raise ValueError(f"val_cases must be a positive number of cases, got {val_cases!r}")
    train = labelled_cases(dataset, "training", task)
    val = labelled_cases(dataset, "validation", task)
    if not train:
        kind = "" if task == 2 else f" {'/'.join(modalities)} (task {task})"
        raise ValueError(f"{dataset.root}: no labelled{kind} training case (labelsTr) to train on")
    if fold is not None:
        pool = sorted((*train, *val), key=lambda c: c.number)
        if len(pool) < DEFAULT_FOLDS:
            raise ValueError(f"{dataset.root}: {len(pool)} labelled case(s), fewer than {DEFAULT_FOLDS} folds")
        fold_train, fold_val = (set(ids) for ids in fold_cases([c.case_id for c in pool], fold))
        chosen_train = [c for c in pool if c.case_id in fold_train]
        chosen_val = [c for c in pool if c.case_id in fold_val]
        return RunCases(chosen_train, chosen_val, f"nnU-Net's fold {fold} of {DEFAULT_FOLDS}", False)
    if val:
        return RunCases(train, val[:val_cases], VALIDATION_SPLIT, True)
    n_hold = min(val_cases, len(train) - 1)
    if n_hold == 0:
        return RunCases(train, train[:1], "the only training case (no validation labels)", False)
    return RunCases(train[:-n_hold], train[-n_hold:], HELD_OUT, False)
