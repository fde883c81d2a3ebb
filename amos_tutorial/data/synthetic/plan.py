"""The plan of a synthetic set: case ids, splits, modalities, the variety of the cases and their metadata.

Introduced in chapter *Getting the data*. Ids follow the release: CT below 500 (labelled CT at or below
409), MRI 501-599. One generator seeded by the set's seed draws the whole plan, so a seed gives the same set.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Sequence

import numpy as np

from amos_tutorial.data.release import SPLIT_FOLDERS
from amos_tutorial.data.synthetic.scanner import CT_SCANNER_MAKERS, MR_DTYPES, MRI_SCANNER_MAKERS

__all__ = [
    "CASE_FOLDERS",
    "CT_IDS",
    "CT_LABELLED_IDS",
    "MAX_CASES",
    "MODALITIES",
    "MRI_IDS",
    "SPLITS",
    "SPLIT_WEIGHTS",
    "CasePlan",
    "mri_count",
    "plan_cases",
    "split_sizes",
]

# Like the release: test images are written without labels.
CASE_FOLDERS = {split: (images, None if split == "test" else labels) for split, (images, labels) in SPLIT_FOLDERS.items()}
CT_IDS = range(1, 500)
# Labelled CT ids of the release stop at 410 (training) and 409 (validation); nnU-Net's Task 1 converter
# (Dataset218_Amos2022_task1) keeps CT by these bounds, so labelled synthetic CT cases stay at or below 409
# and test CT cases take the rest of 1-499 (the converter keeps test ids <= 500).
CT_LABELLED_IDS = range(1, 410)
# Id 500 is ambiguous between the readme's rule and the organisers' tools: never generate it.
MRI_IDS = range(501, 600)
MAX_CASES = len(CT_IDS) + len(MRI_IDS)
MODALITIES: tuple[str, ...] = ("CT", "MRI")
SPLITS: tuple[str, ...] = tuple(SPLIT_FOLDERS)
# Share of the cases per split when only some splits are generated (the default set keeps its own rule).
SPLIT_WEIGHTS = {"training": 2, "validation": 1, "test": 1}


@dataclass(frozen=True)
class CasePlan:
    """What one case of a set will be: its id, split, modality, the drawn variety and its metadata row."""

    number: int
    split: str
    modality: str
    sex: str
    orientation: str
    image_dtype: str | None
    has_gallbladder: bool
    has_prostate_uterus: bool
    metadata: dict[str, Any]

    @property
    def case_id(self) -> str:
        return f"amos_{self.number:04d}"


def split_sizes(n: int, splits: Sequence[str] = SPLITS) -> tuple[int, int, int]:
    """Cases per split (training, validation, test) for ``n`` cases in the generated ``splits``."""
    if tuple(splits) == SPLITS:
        n_train = (n + 1) // 2
        n_val = (n - n_train + 1) // 2
        return n_train, n_val, n - n_train - n_val
    # Some splits only: the same 2:1:1 shares among them, remainders to the earlier splits.
    weights = [SPLIT_WEIGHTS[s] if s in splits else 0 for s in SPLITS]
    total = sum(weights)
    sizes = [n * w // total for w in weights]
    chosen = [i for i, w in enumerate(weights) if w]
    for i in sorted(chosen, key=lambda i: (-(n * weights[i] % total), i))[: n - sum(sizes)]:
        sizes[i] += 1
    return sizes[0], sizes[1], sizes[2]


def mri_count(n_cases: int, modalities: Sequence[str]) -> int:
    """MRI cases among ``n_cases``: about 20 % when both modalities are generated (none below 4 cases)."""
    if tuple(modalities) == ("CT",):
        return 0
    if tuple(modalities) == ("MRI",):
        return n_cases
    n_mri = 0 if n_cases < 4 else min(len(MRI_IDS), max(1, int(0.2 * n_cases + 0.5)))
    return max(n_mri, n_cases - len(CT_IDS))


def plan_cases(
    n_cases: int, seed: int, modalities: Sequence[str] = MODALITIES, splits: Sequence[str] = SPLITS
) -> list[CasePlan]:
    """Ids, splits, modalities, sexes, missing organs and metadata of every case."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x414D4F53]))
    sizes = split_sizes(n_cases, splits)
    n_mri = mri_count(n_cases, modalities)
    # MRI per split in proportion, at least one in training.
    m_train = min(sizes[0], max(1 if n_mri else 0, int(n_mri * sizes[0] / n_cases + 0.5)))
    rest = n_mri - m_train
    m_val = min(sizes[1], int(rest * sizes[1] / max(sizes[1] + sizes[2], 1) + 0.5))
    m_test = rest - m_val
    if m_test > sizes[2]:  # only when MRI outnumber the test slots: push the excess back
        extra = m_test - sizes[2]
        m_test = sizes[2]
        move = min(extra, sizes[1] - m_val)
        m_val += move
        m_train += extra - move
    # CT ids per split from the release's ranges: labelled (training, validation) <= 409, test from the rest.
    n_ct_labelled = sizes[0] - m_train + sizes[1] - m_val
    assert n_ct_labelled <= len(CT_LABELLED_IDS), n_ct_labelled  # at most ~75% of 499 CT cases
    labelled_ct = rng.choice(np.array(CT_LABELLED_IDS), size=n_ct_labelled, replace=False)
    free_ct = np.setdiff1d(np.array(CT_IDS), labelled_ct)
    test_ct = rng.choice(free_ct, size=sizes[2] - m_test, replace=False)
    n_ct_train = sizes[0] - m_train
    ct_by_split = {
        "training": list(labelled_ct[:n_ct_train]), "validation": list(labelled_ct[n_ct_train:]), "test": list(test_ct),
    }
    mri_ids = list(rng.choice(np.array(MRI_IDS), size=n_mri, replace=False))
    rows = []
    for split, size, m in zip(("training", "validation", "test"), sizes, (m_train, m_val, m_test)):
        ct_ids = ct_by_split[split]
        numbers = [(int(mri_ids.pop()), "MRI") for _ in range(m)] + [(int(ct_ids.pop()), "CT") for _ in range(size - m)]
        rows += [(num, split, mod) for num, mod in sorted(numbers)]

    n = len(rows)
    sex = ["M" if s else "F" for s in rng.random(n) < 0.5]
    orient = ["LPS" if r < (0.7 if mod == "CT" else 0.5) else "RAS" for r, (_, _, mod) in zip(rng.random(n), rows)]
    dtypes = [MR_DTYPES[int(i)] if mod == "MRI" else None for i, (_, _, mod) in zip(rng.integers(0, 2, n), rows)]
    gall = list(rng.random(n) >= 0.15)
    pu = list(rng.random(n) >= 0.15)
    labelled = [i for i, (_, split, _) in enumerate(rows) if split != "test"]
    # Guarantee the variety that chapters and tests rely on, among cases that have labels.
    if len(labelled) >= 3:
        order = [labelled[i] for i in rng.permutation(len(labelled))]
        if all(gall[i] for i in labelled):
            gall[order[0]] = False
        if not any(gall[i] for i in labelled):
            gall[order[0]] = True
        # A different case (one with a gallbladder) loses label 15, so both absences are seen apart.
        if all(pu[i] for i in labelled):
            pu[next(i for i in order if gall[i])] = False
        if not any(pu[i] for i in labelled):
            pu[order[-1]] = True
        if len({sex[i] for i in labelled if pu[i]}) == 1 and sum(pu[i] for i in labelled) >= 2:
            j = next(i for i in order if pu[i])
            sex[j] = "F" if sex[j] == "M" else "M"
    if n >= 2 and len(set(orient)) == 1:
        j = int(rng.integers(n))
        orient[j] = "RAS" if orient[j] == "LPS" else "LPS"
    mri_rows = [i for i, (_, _, mod) in enumerate(rows) if mod == "MRI"]
    if len(mri_rows) >= 2 and len({dtypes[i] for i in mri_rows}) == 1:
        dtypes[mri_rows[0]] = "uint16" if dtypes[mri_rows[0]] == "float32" else "float32"

    plans = []
    for i, (num, split, mod) in enumerate(rows):
        meta = _draw_metadata(rng, num, mod, sex[i])
        plans.append(CasePlan(num, split, mod, sex[i], orient[i], dtypes[i], bool(gall[i]), bool(pu[i]), meta))
    return plans


def _draw_metadata(rng: np.random.Generator, number: int, modality: str, sex: str) -> dict[str, Any]:
    """One row of the metadata CSV: scanner, acquisition date, birth date and age (real column names)."""
    scanners = CT_SCANNER_MAKERS if modality == "CT" else MRI_SCANNER_MAKERS
    model = list(scanners)[int(rng.integers(len(scanners)))]
    manufacturer, site = scanners[model]
    acquired = date(2016, 1, 1) + timedelta(days=int(rng.integers(0, 6 * 365)))
    age = int(rng.integers(22, 86))
    born = acquired - timedelta(days=int(age * 365.25 + rng.integers(1, 360)))
    age = acquired.year - born.year - ((acquired.month, acquired.day) < (born.month, born.day))
    return {
        "amos_id": number,
        "Patient's Birth Date": born.strftime("%Y%m%d"),
        "Patient's Sex": sex,
        "Patient's Age": f"{age:03d}Y",
        "Manufacturer's Model Name": model,
        "Manufacturer": manufacturer,
        "Acquisition Date": acquired.strftime("%Y%m%d"),
        "Site": site,
    }
