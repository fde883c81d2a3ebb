"""``amos nnunet export``: an AMOS release (real or synthetic) to nnU-Net's raw format, by nnU-Net's own code.

Introduced in chapter *nnU-Net v2: the framework that won*. Calls the converters that ship with nnU-Net v2,
unchanged: ``nnunetv2.dataset_conversion.Dataset218_Amos2022_task1.convert_amos_task1`` (Task 1: CT only,
chosen by id: training <= 410, validation <= 409, test <= 500) and ``Dataset219_Amos2022_task2.convert_amos_task2``
(Task 2: every case). Both add the validation split to training (nnU-Net cross-validates) and write
``imagesTr/amos_XXXX_0000.nii.gz``, ``labelsTr/amos_XXXX.nii.gz``, ``imagesTs/`` and a ``dataset.json``
whose reader is ``NibabelIOWithReorient``. This module only checks the input first and sets the folders.

Examples:
    >>> export_release("synthetic", task=2, nnunet_dir="/tmp/nnunet_demo")  # doctest: +SKIP
    PosixPath('/tmp/nnunet_demo/nnUNet_raw/Dataset219_AMOS2022_postChallenge_task2')
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from amos_tutorial.data.splits import nnunet_case_ids
from amos_tutorial.data.tasks import TASK1_CT_MAX_ID, TASKS, get_task
from amos_tutorial.nnunet.env import nnunet_folders, require_nnunet

__all__ = ["TASK_DATASET_IDS", "TASK_NAMES", "dataset_folder_name", "export_release"]

#: nnU-Net's dataset ids and names for the two AMOS tasks (those of its converters), from the task table.
TASK_DATASET_IDS = {t.id: t.nnunet_dataset_id for t in TASKS.values()}
TASK_NAMES = {t.id: t.nnunet_name for t in TASKS.values()}


def dataset_folder_name(task: int, dataset_id: int | None = None) -> str:
    """``Dataset218_AMOS2022_postChallenge_task1``-style folder name, as the converters write it.

    Examples:
        >>> dataset_folder_name(2)
        'Dataset219_AMOS2022_postChallenge_task2'
    """
    get_task(task)
    number = TASK_DATASET_IDS[task] if dataset_id is None else int(dataset_id)
    if not 1 <= number <= 999:
        raise ValueError(f"nnU-Net dataset ids are 1-999, got {dataset_id!r}")
    return f"Dataset{number:03d}_{TASK_NAMES[task]}"


def _check_release(root: Path) -> dict:
    path = root / "dataset.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{root}: not an AMOS release (no dataset.json)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("training"), list) or "labels" not in data:
        raise ValueError(f"{path}: not an AMOS release dataset.json (needs 'training' and 'labels')")
    for folder in ("imagesTr", "labelsTr"):
        if not (root / folder).is_dir():
            raise ValueError(f"{root}: not an AMOS release (no {folder}/ folder)")
    return data


def _check_id_free(folders: dict[str, Path], folder_name: str) -> None:
    """Refuse an id that another data set uses in one of nnU-Net's folders (``plan`` would fail on it)."""
    prefix = folder_name[: len("Dataset000_")]
    for kind in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        base = folders.get(kind)
        others = sorted(p for p in base.glob(f"{prefix}*") if p.name != folder_name) if base and base.is_dir() else []
        if others:
            raise ValueError(
                f"{others[0]}: the dataset id {folder_name[7:10]} is taken by this other data set; choose another "
                f"--dataset-id, or remove that folder"
            )


def export_release(
    data: str | os.PathLike,
    task: int = 2,
    nnunet_dir: str | os.PathLike | None = None,
    dataset_id: int | None = None,
) -> Path:
    """Convert an AMOS release to nnU-Net's raw format with nnU-Net's own AMOS converter.

    Introduced in chapter *nnU-Net v2: the framework that won*. Builds on
    :func:`amos_tutorial.nnunet.env.nnunet_folders` and nnU-Net's converters (see the module docstring).
    An earlier export of the same dataset is removed first, so the folder holds exactly this release.

    Args:
        data: AMOS release folder (the one holding ``dataset.json``) or ``"synthetic"``.
        task: 1 (CT only, Dataset218) or 2 (CT and MRI, Dataset219).
        nnunet_dir: One folder for the three nnU-Net folders; None reads ``nnUNet_raw``... from the environment.
        dataset_id: nnU-Net dataset id (default 218 for Task 1, 219 for Task 2).

    Returns:
        The dataset folder in ``nnUNet_raw``.

    Raises:
        ValueError: If ``data`` is not an AMOS release, Task 1 finds no CT case, a variable is missing, or
            another data set has the id already.
        ImportError: If nnU-Net v2 is not installed (names the ``amos_tutorial[nnunet]`` extra).
    """
    from amos_tutorial.paths import resolve_data_root

    folder_name = dataset_folder_name(task, dataset_id)
    root = resolve_data_root(data)
    _check_release(root)
    cases = nnunet_case_ids(root, task=task)
    if not cases:
        rule = ", ".join(f"{split} ids <= {n}" for split, n in TASK1_CT_MAX_ID.items() if split != "test")
        kind = "CT case (nnU-Net's Task 1 keeps " + rule + ")" if task == 1 else "labelled case"
        raise ValueError(f"{root}: no {kind} to export for Task {task}")
    require_nnunet()
    folders = nnunet_folders(nnunet_dir)
    out = folders["nnUNet_raw"] / folder_name
    _check_id_free(folders, folder_name)
    if out.exists():
        shutil.rmtree(out)
    number = int(folder_name[7:10])
    if task == 1:
        from nnunetv2.dataset_conversion import Dataset218_Amos2022_task1 as converter

        convert = converter.convert_amos_task1
    else:
        from nnunetv2.dataset_conversion import Dataset219_Amos2022_task2 as converter

        convert = converter.convert_amos_task2
    nnunet_folders(nnunet_dir)  # the converter module copied nnUNet_raw when first imported
    convert(str(root), number)
    return out
