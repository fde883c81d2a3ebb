"""The cases of a run (run_cases) and the task table: one rule, used by every caller; the retired copies are gone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from amos_tutorial.data.splits import HELD_OUT, VALIDATION_SPLIT, labelled_cases, run_cases
from amos_tutorial.data.tasks import TASKS, get_task

PACKAGE = Path(__file__).resolve().parents[1] / "amos_tutorial"


@dataclass(frozen=True)
class Case:
    case_id: str
    number: int
    modality: str
    has_label: bool = True


@dataclass
class Dataset:
    root: str
    splits: dict

    def split(self, name: str) -> list:
        return list(self.splits.get(name, []))


def _cases(numbers, modality="CT", has_label=True):
    return [Case(f"amos_{n:04d}", n, modality, has_label) for n in numbers]


def dataset(train, val=(), root="/data/amos22") -> Dataset:
    return Dataset(root, {"training": list(reversed(train)), "validation": list(val)})


CT_MRI = dataset([*_cases([1, 2, 3, 4]), *_cases([501, 502], "MRI"), *_cases([5], has_label=False)],
                 [*_cases([8, 9]), *_cases([510], "MRI")])  # fmt: skip
NO_VAL = dataset([*_cases([1, 2, 3]), *_cases([501], "MRI")])
ONE = dataset(_cases([7]))


def ids(cases) -> list[str]:
    return [c.case_id for c in cases]


@pytest.mark.parametrize(
    ("data", "task", "n", "train", "val", "source"),
    [
        (CT_MRI, 2, 2, [1, 2, 3, 4, 501, 502], [8, 9], VALIDATION_SPLIT),
        (CT_MRI, 1, 5, [1, 2, 3, 4], [8, 9], VALIDATION_SPLIT),
        (NO_VAL, 2, 1, [1, 2, 3], [501], HELD_OUT),
        (NO_VAL, 1, 1, [1, 2], [3], HELD_OUT),
        (NO_VAL, 2, 9, [1], [2, 3, 501], HELD_OUT),
        (ONE, 2, 3, [7], [7], "the only training case (no validation labels)"),
    ],
)
def test_run_cases_rule(data, task, n, train, val, source):
    cases = run_cases(data, task, n)
    assert ids(cases.train) == [f"amos_{i:04d}" for i in train]
    assert ids(cases.val) == [f"amos_{i:04d}" for i in val]
    assert cases.source == source
    assert cases.from_split == (source == VALIDATION_SPLIT)


def test_folds_draw_from_both_splits_of_the_task():
    folds = [run_cases(CT_MRI, 2, 1, fold) for fold in range(5)]
    assert sorted(i for f in folds for i in ids(f.val)) == sorted(ids(labelled_cases(CT_MRI, "training"))
                                                                  + ids(labelled_cases(CT_MRI, "validation")))  # fmt: skip
    assert all(not set(ids(f.train)) & set(ids(f.val)) for f in folds)
    assert folds[0].source == "nnU-Net's fold 0 of 5"
    with pytest.raises(ValueError, match="/data/amos22: 4 labelled case.s., fewer than 5 folds"):
        run_cases(NO_VAL, 2, 1, fold=0)


def test_bad_requests_fail_with_one_clear_line():
    with pytest.raises(ValueError, match=r"task must be 1 \(CT only\) or 2 \(CT and MRI\), got 3"):
        run_cases(CT_MRI, 3)
    with pytest.raises(ValueError, match="val_cases must be a positive number"):
        run_cases(CT_MRI, 2, 0)
    with pytest.raises(ValueError, match=r"/data/mri: no labelled CT \(task 1\) training case"):
        run_cases(dataset(_cases([501], "MRI"), root="/data/mri"), 1)
    with pytest.raises(ValueError, match="got True"):
        get_task(True)


def test_task_table():
    assert [t.modalities for t in TASKS.values()] == [("CT",), ("CT", "MRI")]
    assert [t.nnunet_dataset_id for t in TASKS.values()] == [218, 219]


def test_the_bench_scores_the_whole_validation_split_and_trains_on_run_cases(synthetic_root, tmp_path):
    from amos_tutorial.benchmark.split import prepare_split
    from amos_tutorial.data.layout import load_amos

    split = prepare_split(str(synthetic_root), 1, None, 0, "readme", tmp_path)
    data = load_amos(synthetic_root)
    assert split["train_cases"] == ids(run_cases(data, 2, 1).train)
    assert split["eval_cases"] == ids(labelled_cases(data, "validation"))  # the synthetic set has labelsVa
    assert split["eval_source"] == "AMOS validation split (labelsVa)"


def test_the_bench_reads_each_runs_record_before_scoring_it(tmp_path):
    import json

    from amos_tutorial.benchmark.split import check_run_cases
    from amos_tutorial.training.rundir import RunDir

    run = RunDir(tmp_path / "unet")
    run.path.mkdir()
    split = {"train_cases": ["amos_0001", "amos_0002"], "eval_cases": ["amos_0008"]}
    record = {"task": 2, "training": {"amos_0001": "CT", "amos_0002": "CT"}, "validation": {"amos_0008": "CT"}}
    run.cases_path.write_text(json.dumps(record))
    said = []
    check_run_cases(run.path, split, said.append)
    assert said == []
    record["training"] = {"amos_0001": "CT", "amos_0003": "CT"}  # one case failed to preprocess, another came in
    run.cases_path.write_text(json.dumps(record))
    check_run_cases(run.path, split, said.append)
    assert said == [f"{run.cases_path}: trained on 2 case(s), the benchmark's split lists 2; not trained on "
                    "amos_0002; also trained on amos_0003"]
    record["training"]["amos_0008"] = "CT"  # a run trained elsewhere, on an evaluation case
    run.cases_path.write_text(json.dumps(record))
    with pytest.raises(ValueError, match=r"unet/cases.json: trained on amos_0008, which would be scored"):
        check_run_cases(run.path, split, said.append)


# Homes retired by run_cases and the task table: none of them may come back.
RETIRED = {
    "a task's modalities typed out": r"""\{\s*1:\s*\("CT",?\)""",
    "task ids as a tuple": r"TASKS\s*(:\s*tuple\[int, \.\.\.\])?\s*=\s*\(1, 2\)|_TASKS\s*=",
    "nnU-Net dataset ids typed out": r"\{\s*1:\s*218",
    "task names typed out": r"""\{\s*1:\s*"CT only\"""",
    "a filter of labelled cases by split": r"dataset\.split\([^)]*\)\s*if c\.has_label",
    "a pool of fold cases": r"_labelled_pool|fold_cases\(\[c\.case_id",
    "a task check of its own": r"task must be 1",
    "validation cases chosen again instead of read from cases.json": r"\bvalidation_cases\(|ValidationCases",
}


@pytest.mark.parametrize("what", sorted(RETIRED))
def test_retired_copies_are_gone(what):
    homes = {PACKAGE / "data" / "splits.py", PACKAGE / "data" / "tasks.py"}
    found = [
        f"{path.relative_to(PACKAGE)}:{n}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path not in homes
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(RETIRED[what], line)
    ]
    assert found == [], f"{what}: use amos_tutorial.data.splits.run_cases / data.tasks.TASKS instead"


def test_chapters_read_the_scored_cases_from_the_runs():
    book = PACKAGE.parent / "book"
    found = [path.name for path in sorted(book.rglob("*.ipynb")) if re.search(RETIRED[
        "validation cases chosen again instead of read from cases.json"], path.read_text(encoding="utf-8"))]
    assert found == []
    assert "scored_cases(RUN_DIRS.values()" in (book / "evaluation.ipynb").read_text(encoding="utf-8")
