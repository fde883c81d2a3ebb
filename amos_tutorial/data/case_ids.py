"""AMOS case identity: case numbers and ``amos_XXXX`` identifiers, and the modality a case number implies.

Introduced in chapter *Getting the data*. Plain Python (``re``). The release's readme says that id < 500 is CT,
otherwise MRI (``modality_rule="readme"``); id 500 is the one disputed case: the organisers' own tools call it CT
(``modality_rule="organisers"``: id <= 500 is CT).
"""

from __future__ import annotations

import numbers
import os
import re
from pathlib import Path

__all__ = ["MODALITY_RULES", "case_id", "case_number", "modality_from_id"]

#: The id rules of :func:`modality_from_id`.
MODALITY_RULES: tuple[str, ...] = ("readme", "organisers")


def case_number(case_id_or_path: str | os.PathLike | int) -> int:
    """The case number of an AMOS identifier, file name or path.

    Introduced in chapter *Getting the data*. Plain Python (``re``).

    Args:
        case_id_or_path: ``1``, ``"1"``, ``"0001"``, ``"amos_0001"``, ``"amos_0001.nii.gz"`` or a path
            such as ``"./imagesTr/amos_0001.nii.gz"``.

    Returns:
        The non-negative integer case number.

    Raises:
        ValueError: If the value does not name an AMOS case.

    Examples:
        >>> case_number("./imagesTr/amos_0507.nii.gz")
        507
        >>> case_number(12)
        12
    """
    if isinstance(case_id_or_path, bool):
        raise ValueError(f"not an AMOS case id: {case_id_or_path!r}")
    if isinstance(case_id_or_path, numbers.Integral):
        number = int(case_id_or_path)
        if number < 0:
            raise ValueError(f"AMOS case numbers are >= 0, got {number}")
        return number
    if isinstance(case_id_or_path, float) and case_id_or_path.is_integer() and case_id_or_path >= 0:
        # pandas reads an integer column with empty cells as float (1.0).
        return int(case_id_or_path)
    if not isinstance(case_id_or_path, (str, os.PathLike)):
        raise ValueError(f"not an AMOS case id: {case_id_or_path!r} (expected e.g. 'amos_0001' or 1)")
    name = Path(case_id_or_path).name.strip()
    for suffix in (".nii.gz", ".nii"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    match = re.fullmatch(r"(?:amos_?)?(\d+)", name, flags=re.IGNORECASE)
    if not match:
        raise ValueError(f"not an AMOS case id: {str(case_id_or_path)!r} (expected e.g. 'amos_0001' or 1)")
    return int(match.group(1))


def case_id(number: int | str | os.PathLike) -> str:
    """The ``amos_XXXX`` identifier of a case number (or of anything :func:`case_number` accepts).

    Introduced in chapter *Getting the data*.

    Args:
        number: A case number, identifier or path.

    Returns:
        The identifier, zero-padded to four digits.

    Examples:
        >>> case_id(7)
        'amos_0007'
    """
    return f"amos_{case_number(number):04d}"


def modality_from_id(number: int, rule: str = "readme") -> str:
    """The modality implied by a case number.

    Introduced in chapter *Getting the data*. Plain Python; the rule comes from the release's readme.

    Args:
        number: Case number (or anything :func:`case_number` accepts).
        rule: ``"readme"``: id < 500 is CT, otherwise MRI (the readme's wording; id 500 is MRI).
            ``"organisers"``: id <= 500 is CT (the organisers' conversion tools treat id 500 as CT).

    Returns:
        ``"CT"`` or ``"MRI"``.

    Raises:
        ValueError: For an unknown rule or a value that is not a case number.

    Examples:
        >>> modality_from_id(499), modality_from_id(500), modality_from_id(500, rule="organisers")
        ('CT', 'MRI', 'CT')
    """
    if rule not in MODALITY_RULES:
        raise ValueError(f"modality rule must be one of {MODALITY_RULES}, got {rule!r}")
    n = case_number(number)
    limit = 500 if rule == "readme" else 501
    return "CT" if n < limit else "MRI"
