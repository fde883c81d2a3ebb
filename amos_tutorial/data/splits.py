"""Cross-validation folds equal to nnU-Net v2's, so that the book's runs and nnU-Net's share their cases.

Introduced in chapter *nnU-Net v2: the framework that won*. nnU-Net splits its training cases with
``nnunetv2.utilities.crossval_split.generate_crossval_split``: scikit-learn's ``KFold`` with
``shuffle=True`` and ``random_state=12345`` on the **sorted** case ids. :func:`crossval_folds` does the
same with scikit-learn alone (nnU-Net need not be installed), and :func:`nnunet_case_ids` lists the cases
that nnU-Net's AMOS converters put into training (Task 1: CT only, by id; Task 2: every labelled case;
both add the validation split to training). ``amos splits`` prints them; ``amos train --fold K`` trains on them.

Examples:
    >>> folds = crossval_folds([f"amos_{i:04d}" for i in range(1, 11)], n_folds=5)
    >>> len(folds), len(folds[0]["train"]), len(folds[0]["val"])
    (5, 8, 2)
"""

from __future__ import annotations

import os
from collections.abc import Sequence

__all__ = [
    "DEFAULT_FOLDS",
    "NNUNET_SPLIT_SEED",
    "TASK1_CT_MAX_ID",
    "crossval_folds",
    "fold_cases",
    "nnunet_case_ids",
]

#: nnU-Net's default number of folds and the seed of its KFold.
DEFAULT_FOLDS = 5
NNUNET_SPLIT_SEED = 12345
#: Largest id that nnU-Net's Task 1 converter (Dataset218_Amos2022_task1) takes as CT, per split.
TASK1_CT_MAX_ID = {"training": 410, "validation": 409, "test": 500}
_TASKS = (1, 2)


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

    if task not in _TASKS:
        raise ValueError(f"task must be 1 (CT) or 2 (CT and MRI), got {task!r}")
    dataset = load_amos(root)
    ids = []
    for split in ("training", "validation"):
        for case in dataset.split(split):
            if task == 1 and case.number > TASK1_CT_MAX_ID[split]:
                continue
            ids.append(case.case_id)
    return sorted(ids)
