"""Gather some cases into a pair of folders, whatever parts of the release a copy holds.

Introduced in chapter *Evaluating segmentations*. The release has a labelled validation split
(``imagesVa``/``labelsVa``); a copy that keeps only the training split does not, and its runs hold out their
last labelled training cases instead (:func:`amos_tutorial.data.splits.run_cases`; each run records them in its
``cases.json``, read by :func:`amos_tutorial.training.rundir.scored_cases`). :func:`link_cases` gathers such
cases into an ``imagesVa``/``labelsVa`` pair of folders that every folder-based command (``amos predict``,
``amos evaluate``) reads.

Examples:
    >>> from amos_tutorial.data.layout import load_amos
    >>> images, labels = link_cases(load_amos("synthetic").labelled()[-1:], "held_out")  # doctest: +SKIP
    >>> images.name, labels.name  # doctest: +SKIP
    ('imagesVa', 'labelsVa')
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Sequence

from amos_tutorial.data.release import SPLIT_FOLDERS

__all__ = ["link_cases"]


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
