"""The AMOS metadata CSV (``labeled_data_meta_0000_0599.csv``): where it is, how it is read, what its cells mean.

Introduced in chapter *Getting the data*. The scanner model decides a case's modality first
(:data:`~amos_tutorial.data.release.CT_SCANNERS`, :data:`~amos_tutorial.data.release.MRI_SCANNERS`);
:func:`amos_tutorial.data.layout.load_amos` joins the rows to the cases.
"""

from __future__ import annotations

import math
import numbers
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd

from amos_tutorial.data.case_ids import case_id, case_number
from amos_tutorial.data.release import CT_SCANNERS, METADATA_CSV_NAME, MRI_SCANNERS

__all__ = [
    "AGE_COLUMN",
    "MODEL_COLUMN",
    "find_metadata_csv",
    "modality_from_scanner",
    "parse_age",
    "read_metadata",
]

#: The CSV column naming the scanner model.
MODEL_COLUMN = "Manufacturer's Model Name"
#: The CSV column holding the DICOM age string.
AGE_COLUMN = "Patient's Age"


def _scanner_key(name: str) -> str:
    # Spreadsheets round-trip scanner names with changed case or doubled spaces; compare loosely.
    return " ".join(str(name).split()).casefold()


_SCANNER_MODALITY: dict[str, str] = {
    **{_scanner_key(s): "CT" for s in CT_SCANNERS},
    **{_scanner_key(s): "MRI" for s in MRI_SCANNERS},
}


def modality_from_scanner(model_name: Any) -> str | None:
    """The modality of a scanner model named in the metadata CSV, or None if the model is not known.

    Introduced in chapter *Getting the data*. Plain Python.

    Args:
        model_name: The ``Manufacturer's Model Name`` cell (case and spacing are ignored).

    Returns:
        ``"CT"`` for a model in :data:`CT_SCANNERS`, ``"MRI"`` for one in :data:`MRI_SCANNERS`, else None.

    Examples:
        >>> modality_from_scanner("Aquilion ONE"), modality_from_scanner("signa  hde"), modality_from_scanner(None)
        ('CT', 'MRI', None)
    """
    if model_name is None or (isinstance(model_name, float) and math.isnan(model_name)):
        return None
    return _SCANNER_MODALITY.get(_scanner_key(model_name))


def parse_age(age: Any) -> int | None:
    """Age in whole years from a DICOM age string (``"061Y"``), or None when missing or unreadable.

    Introduced in chapter *Exploring the data*. Plain Python (``re``); DICOM ages are ``nnnD``, ``nnnW``,
    ``nnnM`` or ``nnnY``; days, weeks and months are floored to whole years.

    Args:
        age: The ``Patient's Age`` cell: a string like ``"061Y"``, a number, or empty.

    Returns:
        The age in years, or None.

    Examples:
        >>> parse_age("061Y"), parse_age("018M"), parse_age(45), parse_age(""), parse_age(None)
        (61, 1, 45, None, None)
    """
    if age is None or isinstance(age, bool):
        return None
    if isinstance(age, numbers.Number):
        return None if isinstance(age, float) and math.isnan(age) else int(age)
    match = re.fullmatch(r"\s*(\d+)\s*([DWMY]?)\s*", str(age), flags=re.IGNORECASE)
    if not match:
        return None
    value, unit = int(match.group(1)), match.group(2).upper() or "Y"
    return {"Y": value, "M": value // 12, "W": value // 52, "D": value // 365}[unit]


def find_metadata_csv(root: str | os.PathLike) -> Path | None:
    """Find the AMOS metadata CSV for a dataset root.

    Introduced in chapter *Getting the data*. Looks for ``labeled_data_meta_0000_0599.csv`` in ``root``
    and in ``root``'s parent (where the downloader puts it, beside ``amos22/``), then for any
    ``labeled_data_meta*.csv`` in the same two folders.

    Args:
        root: The dataset folder (the one holding ``dataset.json``).

    Returns:
        The CSV path, or None when there is none.

    Examples:
        >>> find_metadata_csv("/nonexistent") is None
        True
    """
    root = Path(root)
    folders = [root, root.parent] if root.parent != root else [root]
    for folder in folders:
        candidate = folder / METADATA_CSV_NAME
        if candidate.is_file():
            return candidate
    for folder in folders:
        if folder.is_dir():
            matches = sorted(p for p in folder.glob("labeled_data_meta*.csv") if p.is_file())
            if matches:
                return matches[0]
    return None


def read_metadata(path: Path) -> pd.DataFrame:
    """Read the metadata CSV, indexed by case number; every error names the file.

    Introduced in chapter *Getting the data*.

    Args:
        path: The CSV (see :func:`find_metadata_csv`).

    Returns:
        One row per case, every cell a string as written, indexed by case number (``number``).

    Raises:
        ValueError: ``"PATH: ..."`` for an unreadable file, no ``amos_id`` column, a bad or repeated id.
    """
    try:
        # dtype=str keeps ids, dates and ages exactly as written; utf-8-sig drops a spreadsheet's BOM.
        frame = pd.read_csv(path, dtype=str, encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ValueError(f"{path}: cannot read metadata CSV ({type(exc).__name__}: {exc})") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    if "amos_id" not in frame.columns:
        raise ValueError(f"{path}: metadata CSV has no 'amos_id' column (columns: {list(frame.columns)})")
    numbers_: list[int] = []
    for row, value in enumerate(frame["amos_id"], start=2):  # row 1 is the header
        try:
            numbers_.append(case_number(str(value).strip()))
        except ValueError:
            raise ValueError(f"{path}: row {row}: amos_id {value!r} is not a case id like 1 or 'amos_0001'") from None
    index = pd.Index(numbers_, name="number")
    if index.has_duplicates:
        dup = sorted(set(index[index.duplicated()]))
        raise ValueError(f"{path}: amos_id listed more than once: {[case_id(n) for n in dup][:10]}")
    frame.index = index
    return frame
