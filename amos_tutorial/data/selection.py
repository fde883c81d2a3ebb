"""Choose a few cases of a release, spread across split, modality and scanner.

Introduced in chapter *Getting the data*. Plain Python over the cases of
:func:`~amos_tutorial.data.layout.load_amos`. Both ways of working with a part of the release use it:
``amos data download DEST --cases N`` (fetch only those cases) and ``amos data pack`` (a course pack).

The rule is greedy and deterministic: each next case is the first one (by split, then case number, or
in a seeded shuffle) among those whose (split, modality) pair, then scanner, has been chosen least often
so far. Three cases of a release with both modalities are therefore one training CT, one training MRI and
one validation CT, and a larger pick visits every scanner before repeating one.

Examples:
    >>> from amos_tutorial.data.layout import load_amos
    >>> picked = choose_cases(load_amos("synthetic").cases, n=3)  # doctest: +SKIP
    >>> [(c.split, c.modality) for c in picked]  # doctest: +SKIP
    [('training', 'CT'), ('training', 'MRI'), ('validation', 'CT')]
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any, Sequence

from amos_tutorial.data.release import SPLIT_FOLDERS

__all__ = ["LABELLED_SPLITS", "MODALITY_NAMES", "choose_cases", "parse_case_ids"]

#: Splits with labels: the default of a partial download and of a pack (the test split has none).
LABELLED_SPLITS: tuple[str, ...] = ("training", "validation")
#: Modalities a selection may ask for.
MODALITY_NAMES: tuple[str, ...] = ("CT", "MRI")
_SCANNER_COLUMN = "Manufacturer's Model Name"


def parse_case_ids(text: str) -> list[int]:
    """Case numbers of ``"amos_0001,amos_0507"`` or ``"1,507"``.

    Args:
        text: Comma-separated case ids.

    Returns:
        The case numbers, in the given order, without repeats.

    Raises:
        ValueError: If an item is not an AMOS case id.

    Examples:
        >>> parse_case_ids("amos_0001, 507,1")
        [1, 507]
    """
    from amos_tutorial.data.layout import case_number

    numbers: list[int] = []
    for item in (t.strip() for t in str(text).split(",")):
        if item:
            number = case_number(item)
            if number not in numbers:
                numbers.append(number)
    if not numbers:
        raise ValueError(f"no case id in {text!r} (expected e.g. 'amos_0001,amos_0507' or a number of cases)")
    return numbers


def _scanner(case: Any) -> str:
    value = (getattr(case, "metadata", None) or {}).get(_SCANNER_COLUMN)
    return str(value) if value else ""


def choose_cases(
    cases: Sequence[Any],
    n: int | None = None,
    ids: Sequence[int] | None = None,
    modalities: Sequence[str] | None = None,
    splits: Sequence[str] | None = LABELLED_SPLITS,
    seed: int | None = None,
) -> list[Any]:
    """Pick ``n`` cases spread across split, modality and scanner, or the cases named by ``ids``.

    Introduced in chapter *Getting the data*.

    Args:
        cases: :class:`~amos_tutorial.data.layout.AmosCase` objects (anything with ``number``, ``split``,
            ``modality`` and ``metadata``).
        n: How many cases to pick (exactly one of ``n`` and ``ids``).
        ids: Case numbers to pick, after the filters below.
        modalities: Keep only these modalities (``"CT"``, ``"MRI"``); None keeps both.
        splits: Keep only these splits; None keeps all three. The default keeps the labelled ones.
        seed: None: the lowest case numbers first; an integer: a seeded shuffle decides the order.

    Returns:
        The chosen cases, sorted by case number.

    Raises:
        ValueError: On a bad argument, when an id is not among the kept cases (the message names it), or
            when fewer than ``n`` cases are left after the filters.
    """
    if (n is None) == (ids is None):
        raise ValueError("give either a number of cases or a list of case ids, not both and not neither")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"number of cases must be a positive integer, got {n!r}")
    bad = [m for m in modalities or () if m not in MODALITY_NAMES]
    if bad:
        raise ValueError(f"modality must be one of {MODALITY_NAMES}, got {bad[0]!r}")
    bad = [s for s in splits or () if s not in SPLIT_FOLDERS]
    if bad:
        raise ValueError(f"split must be one of {tuple(SPLIT_FOLDERS)}, got {bad[0]!r}")
    kept = [
        c for c in cases
        if (not modalities or c.modality in modalities) and (not splits or c.split in splits)
    ]  # fmt: skip
    what = f"{', '.join(splits or SPLIT_FOLDERS)} cases" + (f" of {'/'.join(modalities)}" if modalities else "")
    if ids is not None:
        by_number = {c.number: c for c in kept}
        missing = [i for i in ids if i not in by_number]
        if missing:
            raise ValueError(f"amos_{missing[0]:04d}: not among the {len(kept)} {what} of the release's dataset.json")
        return sorted((by_number[i] for i in ids), key=lambda c: c.number)
    if n > len(kept):
        raise ValueError(f"{n} cases asked, but the release lists only {len(kept)} {what}")
    order = sorted(kept, key=lambda c: (list(SPLIT_FOLDERS).index(c.split), c.number))
    if seed is not None:
        random.Random(seed).shuffle(order)
    position = {id(c): i for i, c in enumerate(order)}
    pairs: Counter = Counter()
    scanners: Counter = Counter()
    chosen: list[Any] = []
    left = list(order)
    for _ in range(n):
        best = min(left, key=lambda c: (pairs[(c.split, c.modality)], scanners[_scanner(c)], position[id(c)]))
        left.remove(best)
        chosen.append(best)
        pairs[(best.split, best.modality)] += 1
        scanners[_scanner(best)] += 1
    return sorted(chosen, key=lambda c: c.number)
