"""The AMOS cases of a folder of NIfTI files, by case id: one listing for evaluation, submission and prediction.

Introduced in chapter *Evaluating segmentations*; builds on :func:`amos_tutorial.data.layout.case_id` and
:func:`amos_tutorial.utils.geometry.nifti_stem`.

Examples:
    >>> cases, problems = list_cases("amos22/labelsVa")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path

from amos_tutorial.data.validate import Problem
from amos_tutorial.utils.geometry import nifti_stem

__all__ = ["list_cases"]


def list_cases(folder: str | os.PathLike) -> tuple[dict[str, Path], list[Problem]]:
    """The AMOS label maps of a folder, by case id (builds on :func:`amos_tutorial.data.layout.case_id`).

    Introduced in chapter *Evaluating segmentations*. Files named ``amos_XXXX.nii.gz`` (or ``.nii``) are
    cases; hidden files (atomic-write temporaries) and non-NIfTI files are ignored.

    Args:
        folder: A folder of NIfTI label maps.

    Returns:
        ``(cases, problems)``: case id -> path, sorted by id; and a problem for every NIfTI file whose name
        is not an AMOS case and every case present twice (``.nii`` and ``.nii.gz``).

    Raises:
        FileNotFoundError: If the folder does not exist.

    Examples:
        >>> cases, problems = list_cases("amos22/labelsVa")  # doctest: +SKIP
    """
    from amos_tutorial.data.layout import case_id

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: folder does not exist")
    cases: dict[str, Path] = {}
    problems: list[Problem] = []
    for path in sorted(folder.iterdir()):
        stem = nifti_stem(path.name)
        if stem is None or path.name.startswith(".") or not path.is_file():
            continue
        try:
            cid = case_id(stem)
        except ValueError:
            problems.append(Problem(path, "NIfTI file name is not an AMOS case (expected amos_XXXX.nii.gz)"))
            continue
        if cid in cases:
            problems.append(Problem(path, f"{cid} is also in {cases[cid].name}: keep one file per case"))
            continue
        cases[cid] = path
    return dict(sorted(cases.items())), problems
