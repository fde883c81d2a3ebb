"""Which cases to validate and score on, whatever parts of the release a copy holds.

Introduced in chapter *Training the baselines*. The release has a labelled validation split
(``imagesVa``/``labelsVa``); a copy that keeps only the training split does not. The trainer then
holds out its last labelled training cases for validation (:func:`amos_tutorial.data.splits.run_cases`);
:func:`validation_cases` names the same cases, so that a chapter can show and score them, and
:func:`link_cases` gathers them into an ``imagesVa``/``labelsVa`` pair of folders that every
folder-based command (``amos predict``, ``amos evaluate``) reads.

Examples:
    >>> from amos_tutorial.data.layout import load_amos
    >>> held = validation_cases(load_amos("synthetic"), n=1)  # doctest: +SKIP
    >>> held.source  # doctest: +SKIP
    'AMOS validation split'
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, NamedTuple, Sequence

from amos_tutorial.data.release import SPLIT_FOLDERS
from amos_tutorial.data.splits import HELD_OUT, VALIDATION_SPLIT, run_cases

__all__ = ["VALIDATION_SPLIT", "HELD_OUT", "ValidationCases", "validation_cases", "link_cases"]


class ValidationCases(NamedTuple):
    """The cases a run validates on, as chosen by :func:`validation_cases`.

    Attributes:
        cases: The validation cases, sorted by case number.
        source: :data:`VALIDATION_SPLIT`, :data:`HELD_OUT`, or a sentence for the one-case fallback.
        from_split: Whether they come from the release's validation split (then ``imagesVa`` holds them).
    """

    cases: list
    source: str
    from_split: bool


def validation_cases(dataset: Any, n: int = 1, task: int = 2) -> ValidationCases:
    """The labelled cases a training run validates on: :func:`~amos_tutorial.data.splits.run_cases`' choice.

    Introduced in chapter *Training the baselines*. The first ``n`` labelled cases (by number) of the
    validation split; without validation labels, the last ``n`` labelled training cases, keeping at
    least one to train on; with a single labelled training case, that case.

    Args:
        dataset: An :class:`~amos_tutorial.data.layout.AmosDataset`.
        n: How many cases (the run's ``val_cases``), at least 1.
        task: The run's task: 1 keeps the CT cases, 2 every case.

    Returns:
        A :class:`ValidationCases`.

    Raises:
        ValueError: If ``n`` is not a positive integer, or the dataset has no labelled training case
            (the message starts with the data folder).
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive number of cases, got {n!r}")
    cases = run_cases(dataset, task, n)
    return ValidationCases(cases.val, cases.source, cases.from_split)


def link_cases(cases: Sequence[Any], out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Gather the images and labels of some cases into ``OUT/imagesVa`` and ``OUT/labelsVa``.

    Introduced in chapter *Evaluating segmentations*. Files are symbolic links (copies where links are
    not allowed); files of other cases left by an earlier call are removed, so the folders hold exactly
    ``cases``.

    Args:
        cases: Labelled cases (with ``image`` and ``label`` paths).
        out_dir: Folder to create the two sub-folders in.

    Returns:
        ``(images folder, labels folder)``.

    Raises:
        ValueError: If a case has no label.
        FileNotFoundError: If an image or label file does not exist (the message names it).
    """
    image_dir, label_dir = (Path(out_dir) / name for name in SPLIT_FOLDERS["validation"])
    for case in cases:
        if case.label is None:
            raise ValueError(f"{case.image}: case {case.case_id} has no label to score against")
        for path in (case.image, case.label):
            if not Path(path).is_file():
                raise FileNotFoundError(f"{path}: file does not exist")
    for index, folder in enumerate((image_dir, label_dir)):
        folder.mkdir(parents=True, exist_ok=True)
        wanted = {Path(c.image if index == 0 else c.label).name: Path(c.image if index == 0 else c.label) for c in cases}
        for stale in folder.iterdir():
            if stale.name not in wanted:
                stale.unlink()
        for name, source in wanted.items():
            target = folder / name
            if target.is_symlink() or target.exists():
                target.unlink()
            try:
                target.symlink_to(source.resolve())
            except OSError:  # no symbolic links (some Windows setups): copy instead, atomically
                from amos_tutorial.utils.io import atomic_path

                with atomic_path(target) as tmp:
                    shutil.copyfile(source, tmp)
    return image_dir, label_dir
