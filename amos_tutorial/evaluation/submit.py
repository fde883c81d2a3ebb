"""Check and package predictions in the form the AMOS challenge expects: ``results/amos_XXXX.nii.gz`` in a zip.

Introduced in chapter *Evaluating segmentations*. Builds on nibabel (checks) and :mod:`zipfile`.

The challenge takes one label map per case of the evaluated set, named like the image, on the image's
grid (Task 1: the CT cases only; Task 2: CT and MRI; 100 and 120 cases for the validation set). A
submission that is incomplete or malformed wastes one of a limited number of tries, so
:func:`check_submission` looks at every file first and :func:`package_submission` refuses to write the zip
while any problem is left, listing one line per problem:

* a file name that is not ``amos_XXXX.nii.gz``;
* an unreadable or truncated file, a non-3-D array, a non-integer data type, values outside 0-15;
* with ``images_dir``: a missing prediction for an expected case, a prediction for a case that has no
  image, a shape or affine different from the image's.

With ``task=1`` the predictions of MRI cases (modality by the id rule) are left out of the zip, with a note.

Examples:
    >>> package_submission("preds/", "results.zip", images_dir="amos22/imagesVa", task=2)  # doctest: +SKIP
"""

from __future__ import annotations

import os
import zipfile
from typing import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from amos_tutorial.data.tasks import get_task
from amos_tutorial.data.validate import Problem
from amos_tutorial.evaluation.evaluate import _grid_problem, list_cases, read_header
from amos_tutorial.labels import NUM_CLASSES
from amos_tutorial.utils.geometry import AFFINE_ATOL
from amos_tutorial.utils.io import atomic_path

__all__ = ["SubmissionCheck", "SubmissionError", "expected_cases", "check_submission", "package_submission"]



@dataclass
class SubmissionCheck:
    """What :func:`check_submission` found.

    Introduced in chapter *Evaluating segmentations*.

    Attributes:
        files: Case id -> prediction file that goes into the zip (sorted by id).
        problems: One :class:`~amos_tutorial.data.validate.Problem` per problem; the zip is refused if any.
        notes: Remarks that do not block (cases left out for Task 1, completeness not checked...).
    """

    files: dict[str, Path] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when there is at least one file and no problem."""
        return bool(self.files) and not self.problems


class SubmissionError(ValueError):
    """A submission that cannot be packaged; ``problems`` holds one Problem per line of the message.

    Introduced in chapter *Evaluating segmentations*.
    """

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def _check_task(task: int | None) -> None:
    if task is not None:
        get_task(task)


def expected_cases(
    images_dir: str | os.PathLike, task: int | None = None, modality_rule: str = "readme"
) -> dict[str, Path]:
    """The cases a submission must contain: every image of ``images_dir`` (Task 1: CT cases only).

    Introduced in chapter *Evaluating segmentations*. Modality by
    :func:`amos_tutorial.data.layout.modality_from_id` (the images' folder has no metadata).

    Args:
        images_dir: Folder of the evaluated set's images (``imagesVa`` or ``imagesTs``).
        task: 1 (CT only), 2 (CT and MRI) or None (every image).
        modality_rule: ``"readme"`` (id < 500 is CT) or ``"organisers"`` (id <= 500).

    Returns:
        Case id -> image path.

    Raises:
        FileNotFoundError: If the folder does not exist.
        ValueError: On an unknown task.

    Examples:
        >>> len(expected_cases("amos22/imagesVa", task=1))  # doctest: +SKIP
        100
    """
    from amos_tutorial.data.layout import modality_from_id

    _check_task(task)
    images, _ = list_cases(images_dir)
    if task == 1:
        images = {cid: p for cid, p in images.items() if modality_from_id(cid, modality_rule) == "CT"}
    return images


def _check_file(path: Path, problems: list[Problem]) -> tuple[tuple[int, ...], np.ndarray] | None:
    """Read one prediction fully; append its problems; return its grid when readable."""
    import nibabel as nib

    if not path.name.endswith(".nii.gz"):
        problems.append(Problem(path, "the challenge expects gzip-compressed NIfTI named amos_XXXX.nii.gz"))
    try:
        img = nib.load(str(path))
        dtype = img.get_data_dtype()
        data = np.asanyarray(img.dataobj)
    except Exception as exc:  # nibabel raises many types for broken or truncated files
        problems.append(Problem(path, f"cannot read NIfTI ({type(exc).__name__}: {exc})"))
        return None
    grid = tuple(int(s) for s in data.shape), np.asarray(img.affine, dtype=np.float64)
    if data.ndim != 3:
        problems.append(Problem(path, f"prediction must be 3-D, got shape {data.shape}"))
    if dtype.kind not in "iu" or data.dtype.kind not in "iu":
        # A scaled header (scl_slope) turns integers into floats on reading: also refused.
        problems.append(Problem(path, f"data type {data.dtype} is not an integer type: save labels as uint8"))
    elif data.size and (data.min() < 0 or data.max() >= NUM_CLASSES):
        bad = np.unique(data[(data < 0) | (data >= NUM_CLASSES)])[:10]
        problems.append(Problem(path, f"label values outside 0-{NUM_CLASSES - 1}: {[int(v) for v in bad]}"))
    return grid


def check_submission(
    pred_dir: str | os.PathLike,
    images_dir: str | os.PathLike | None = None,
    task: int | None = None,
    modality_rule: str = "readme",
    affine_atol: float = AFFINE_ATOL,
    progress: bool = False,
) -> SubmissionCheck:
    """Check a folder of predictions against the challenge's form (builds on nibabel).

    Introduced in chapter *Evaluating segmentations*. Every file is read in full (a truncated gzip stream
    is found here, not by the organisers).

    Args:
        pred_dir: Folder of predictions ``amos_XXXX.nii.gz``.
        images_dir: Folder of the evaluated set's images: enables the completeness and grid checks.
        task: 1 (CT only: MRI predictions are left out), 2 (CT and MRI) or None (every prediction).
        modality_rule: Id rule for Task 1 (``"readme"`` or ``"organisers"``).
        affine_atol: Largest allowed absolute difference between a prediction's and its image's affine (mm).
        progress: Show a tqdm progress bar.

    Returns:
        A :class:`SubmissionCheck` (files to package, problems, notes).

    Raises:
        FileNotFoundError: If a folder does not exist.
        ValueError: On an unknown task or a negative ``affine_atol``.

    Examples:
        >>> check = check_submission("preds/", "amos22/imagesVa", task=1)  # doctest: +SKIP
        >>> print("\\n".join(map(str, check.problems)) or "ready")  # doctest: +SKIP
    """
    from tqdm.auto import tqdm

    from amos_tutorial.data.layout import modality_from_id

    _check_task(task)
    if not affine_atol >= 0:
        raise ValueError(f"affine_atol must be >= 0, got {affine_atol!r}")
    pred_dir = Path(pred_dir)
    predictions, problems = list_cases(pred_dir)
    check = SubmissionCheck(problems=problems)
    images = expected_cases(images_dir, task, modality_rule) if images_dir is not None else None
    if images is None:
        check.notes.append("no image folder given: completeness and grids were not checked (pass --images)")
    all_images = list_cases(images_dir)[0] if images_dir is not None else {}

    selected: dict[str, Path] = {}
    left_out: list[str] = []
    for cid, path in predictions.items():
        if task == 1 and modality_from_id(cid, modality_rule) != "CT":
            left_out.append(cid)
        elif images is not None and cid not in all_images:
            check.problems.append(Problem(path, f"no image {cid} in {images_dir}: not part of the evaluated set"))
        else:
            selected[cid] = path
    if left_out:
        check.notes.append(
            f"Task 1 is CT only: left out {len(left_out)} MRI prediction(s) ({', '.join(left_out[:5])}"
            f"{' ...' if len(left_out) > 5 else ''})"
        )
    if images is not None:
        for cid, image in images.items():
            if cid not in predictions:
                check.problems.append(Problem(pred_dir / f"{cid}.nii.gz", f"missing prediction for image {image}"))
    for cid, path in tqdm(selected.items(), desc="check", unit="file", disable=not progress):
        before = len(check.problems)
        grid = _check_file(path, check.problems)
        if grid is not None and cid in all_images:
            try:
                problem = _grid_problem(all_images[cid], path, read_header(all_images[cid]), grid, affine_atol)
            except ValueError as exc:
                problem = Problem(all_images[cid], str(exc).removeprefix(f"{all_images[cid]}: "))
            if problem is not None:
                check.problems.append(problem)
        if len(check.problems) == before:
            check.files[cid] = path
    if not predictions:
        check.problems.append(Problem(pred_dir, "no predictions amos_XXXX.nii.gz in this folder"))
    return check


def package_submission(
    pred_dir: str | os.PathLike,
    out_zip: str | os.PathLike,
    images_dir: str | os.PathLike | None = None,
    task: int | None = None,
    modality_rule: str = "readme",
    affine_atol: float = AFFINE_ATOL,
    overwrite: bool = False,
    progress: bool = False,
    on_note: Callable[[str], None] | None = None,
) -> Path:
    """Check the predictions and write ``results/amos_XXXX.nii.gz`` into a zip, atomically.

    Introduced in chapter *Evaluating segmentations*. Builds on :func:`check_submission` and
    :mod:`zipfile`; files are stored uncompressed in the zip (they are gzip-compressed already) and copied
    byte for byte.

    Args:
        pred_dir: Folder of predictions.
        out_zip: The zip to write (e.g. ``results.zip``).
        images_dir: Folder of the evaluated set's images (strongly recommended: completeness and grids).
        task: 1 (CT only), 2 (CT and MRI) or None.
        modality_rule: Id rule for Task 1.
        affine_atol: Allowed affine difference (mm).
        overwrite: Replace an existing zip.
        progress: Show a progress bar while checking.
        on_note: Called with each note of the check that is not a problem (for example the MRI
            predictions left out for Task 1); the CLI prints them.

    Returns:
        The zip's path.

    Raises:
        SubmissionError: Listing every problem, one line each (no zip is written).
        FileExistsError: If ``out_zip`` exists and ``overwrite`` is False.

    Examples:
        >>> package_submission("pred/", "results.zip", images_dir="amos22/imagesVa", task=2)  # doctest: +SKIP
        PosixPath('results.zip')
    """
    out_zip = Path(out_zip)
    if out_zip.exists() and not overwrite:
        raise FileExistsError(f"{out_zip}: already exists (pass overwrite=True / --overwrite to replace it)")
    check = check_submission(pred_dir, images_dir, task, modality_rule, affine_atol, progress)
    if check.problems:
        raise SubmissionError(check.problems)
    if on_note is not None:
        for note in check.notes:
            on_note(note)
    with atomic_path(out_zip, suffix=".zip") as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
            for cid, path in check.files.items():
                archive.write(path, arcname=f"results/{cid}.nii.gz")
    return out_zip
