"""The two AMOS 2022 tasks in one table: ids, modalities, nnU-Net dataset ids and the rules for Task 1's cases.

Introduced in chapter *CT and MRI: the two tasks*. Plain Python. Task 1 segments the 15 organs in CT, Task 2
in CT and MRI. Every part of the package that needs a task (training, evaluation, submission, the nnU-Net
export, the CLI's ``--task``) reads it from :data:`TASKS` and checks it with :func:`get_task`.

**Which cases belong to Task 1.** Three rules exist, each where it must:

* **A run's cases** (``amos train --task 1``, :func:`amos_tutorial.data.splits.run_cases`): the modality of
  each case as :func:`amos_tutorial.data.layout.load_amos` decides it, from the scanner metadata when the
  copy has it, else by the id rule. This is the only rule that is right on any copy of the data.
* **A submission** (``amos submit --task 1``, :mod:`amos_tutorial.evaluation.submit`): the id rule alone
  (:func:`amos_tutorial.data.layout.modality_from_id`), because test images come without metadata.
* **nnU-Net's converter** (``Dataset218_Amos2022_task1``, :mod:`amos_tutorial.nnunet.export`): ids up to
  :data:`TASK1_CT_MAX_ID` per split (410 in training, 409 in validation), copied from nnU-Net so that an
  exported dataset holds exactly the cases nnU-Net's own would.

On the official release the three agree on every labelled case; on a copy with renumbered or synthetic cases
only the first follows the images.

Examples:
    >>> get_task(1).modalities
    ('CT',)
    >>> TASKS[2].nnunet_dataset_id
    219
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TASK1_CT_MAX_ID", "TASKS", "Task", "get_task"]

#: Largest id that nnU-Net's Task 1 converter (Dataset218_Amos2022_task1) takes as CT, per split.
TASK1_CT_MAX_ID: dict[str, int] = {"training": 410, "validation": 409, "test": 500}


@dataclass(frozen=True)
class Task:
    """One AMOS task.

    Attributes:
        id: 1 or 2.
        name: ``"CT only"`` or ``"CT and MRI"``.
        modalities: The modalities its cases have, e.g. ``("CT",)``.
        nnunet_dataset_id: The nnU-Net v2 dataset id of its converter (218, 219).
        nnunet_name: The dataset name after ``DatasetNNN_`` (``"AMOS2022_postChallenge_task1"``).
    """

    id: int
    name: str
    modalities: tuple[str, ...]
    nnunet_dataset_id: int
    nnunet_name: str


#: The AMOS tasks by id.
TASKS: dict[int, Task] = {
    1: Task(1, "CT only", ("CT",), 218, "AMOS2022_postChallenge_task1"),
    2: Task(2, "CT and MRI", ("CT", "MRI"), 219, "AMOS2022_postChallenge_task2"),
}


def get_task(task: int) -> Task:
    """The entry of task ``task``, or one clear error.

    Args:
        task: 1 or 2 (an int; ``True`` is not a task).

    Raises:
        ValueError: ``"task must be 1 (CT only) or 2 (CT and MRI), got 3"``.

    Examples:
        >>> get_task(2).name
        'CT and MRI'
    """
    if isinstance(task, bool) or task not in TASKS:
        choices = " or ".join(f"{t.id} ({t.name})" for t in TASKS.values())
        raise ValueError(f"task must be {choices}, got {task!r}")
    return TASKS[task]
