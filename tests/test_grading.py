"""The student edition as a book of its own, its safety rules, and grading a folder of submissions.

Three submissions of the evaluation chapter (right, delegating to the package, wrong) are graded by
``amos book grade``: the scores CSV must give each exercise the score its checker's verdict implies, and the
feedback CSV the checkers' one-line messages.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
import yaml
from conftest import REPO_ROOT

from amos_tutorial import _meta
from amos_tutorial.exercises.editions import SKELETON_TAG, write_assignment, write_student_edition
from amos_tutorial.notebook import amos

BOOK = REPO_ROOT / "book"


def _edition(tmp_path: Path, chapters=("evaluation", "winners")) -> Path:
    out = tmp_path / "student"
    write_student_edition(out, chapters=list(chapters))
    return out


def test_student_edition_is_a_book_with_its_own_home(tmp_path):
    out = _edition(tmp_path)
    config = yaml.safe_load((out / "_config.yml").read_text())
    toc = yaml.safe_load((out / "_toc.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "off"
    assert config["repository"]["branch"] == _meta.STUDENT_BRANCH
    assert (out / config["bibtex_bibfiles"][0]).is_file()
    files = [entry["file"] for part in toc["parts"] for entry in part["chapters"]]
    assert [toc["root"], *files] == ["book/winners", "book/evaluation", *[f for f in files if f.startswith("book/course/")]]
    assert "book/course/instructor_notes" not in files
    for file in files:
        assert (out / f"{file}.ipynb").is_file() or (out / f"{file}.md").is_file(), file
    first = nbformat.read(out / "book" / "evaluation.ipynb", as_version=4).cells[0].source
    assert f"/blob/{_meta.STUDENT_BRANCH}/book/evaluation.ipynb" in first


def test_student_edition_keeps_a_students_work_unless_told(tmp_path, capsys):
    out = _edition(tmp_path, chapters=("winners",))
    chapter = out / "book" / "winners.ipynb"
    chapter.write_text(chapter.read_text().replace("Student exercise", "my own work"))
    assert amos(["book", "student", out, "--chapters", "winners"]) == 1
    err = capsys.readouterr().err.strip()
    assert "--overwrite" in err
    assert "winners.ipynb" in err
    assert "\n" not in err
    assert "my own work" in chapter.read_text()
    assert amos(["book", "student", out, "--chapters", "winners", "--overwrite"]) == 0
    assert "my own work" not in chapter.read_text()


@pytest.mark.parametrize("where", ["book", "book/sub", "."])
def test_student_edition_refuses_to_write_into_the_book(where, capsys):
    assert amos(["book", "student", REPO_ROOT / where, "--chapters", "winners"]) == 2
    err = capsys.readouterr().err.strip()
    assert "must not be written into or over the book" in err
    assert "\n" not in err


@pytest.mark.slow
def test_student_edition_builds_with_jupyter_book(tmp_path):
    out = _edition(tmp_path, chapters=("exploring_the_data",))
    jb = shutil.which("jupyter-book", path=str(Path(__import__("sys").executable).parent))
    done = subprocess.run([jb, "build", str(out), "--builder", "html"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    html = (out / "_build" / "html" / "book" / "exploring_the_data.html").read_text()
    assert "my_window_level" in html
    assert "solution_window_level" not in html


def _submission(folder: Path, name: str, answers: dict[str, str]) -> None:
    """The student edition of the evaluation chapter with the skeletons' bodies replaced by ``answers``."""
    nb = nbformat.read(REPO_ROOT / "book" / "evaluation.ipynb", as_version=4)
    from amos_tutorial.exercises.editions import student_notebook

    nb = student_notebook(nb)
    for cell in nb.cells:
        if SKELETON_TAG in cell.metadata.get("tags", []):
            for function, body in answers.items():
                if f"def {function}(" in cell.source:
                    cell.source = cell.source.split(f"def {function}(")[0] + body
    nbformat.write(nb, folder / f"{name}.ipynb")


RIGHT_DICE = '''def my_dice(reference, prediction):
    import numpy as np
    total = np.count_nonzero(reference) + np.count_nonzero(prediction)
    return 2 * np.count_nonzero(reference & prediction) / total if total else float("nan")


def my_nsd(reference, prediction, spacing, tolerance_mm):
    raise NotImplementedError("Student exercise: not done")
'''
DELEGATING_DICE = '''from amos_tutorial.evaluation.metrics import dice


def my_dice(reference, prediction):
    return dice(reference, prediction)


def my_nsd(reference, prediction, spacing, tolerance_mm):
    raise NotImplementedError("Student exercise: not done")
'''
WRONG_DICE = '''def my_dice(reference, prediction):
    union = (reference | prediction).sum()
    return (reference & prediction).sum() / union if union else float("nan")


def my_nsd(reference, prediction, spacing, tolerance_mm):
    raise NotImplementedError("Student exercise: not done")
'''


@pytest.mark.slow
def test_grading_a_folder_gives_the_expected_scores(tmp_path, capsys):
    folder = tmp_path / "submitted"
    folder.mkdir()
    _submission(folder, "right", {"my_dice": RIGHT_DICE})
    _submission(folder, "delegating", {"my_dice": DELEGATING_DICE})
    _submission(folder, "wrong", {"my_dice": WRONG_DICE})
    assert amos(["book", "grade", folder, "--out", tmp_path / "scores.csv"]) == 0
    rows = {row["submission"]: row for row in csv.DictReader((tmp_path / "scores.csv").open())}
    assert sorted(rows) == ["delegating", "right", "wrong"]
    assert [rows[n]["dice"] for n in ("right", "delegating", "wrong")] == ["1.0", "0.0", "0.0"]
    assert {rows[n]["nsd"] for n in rows} == {"0.0"}
    assert {rows[n]["sliding_window"] for n in rows} == {"0.0"}
    assert [rows[n]["total"] for n in ("right", "delegating", "wrong")] == ["1.0", "0.0", "0.0"]
    feedback = {(r["submission"], r["exercise"]): r["feedback"] for r in csv.DictReader((tmp_path / "feedback.csv").open())}
    assert feedback[("right", "dice")].startswith("✓")
    assert "not your own code" in feedback[("delegating", "dice")]
    assert "expected" in feedback[("wrong", "dice")]
    assert "not implemented yet" in feedback[("right", "nsd")]


def test_assign_writes_the_student_edition_and_the_grading_notes(tmp_path):
    grader = write_assignment(tmp_path / "course", book=BOOK)
    graded = __import__("json").loads((grader / "exercises.json").read_text())
    assert graded["evaluation"] == ["dice", "nsd", "sliding_window"]
    assert "amos book grade" in (grader / "README.md").read_text()
    assert (tmp_path / "course" / "student" / "_toc.yml").is_file()


def test_slides_open_a_slide_per_heading_and_leave_out_solutions(tmp_path, capsys):
    assert amos(["book", "slides", tmp_path, "--chapters", "winners"]) == 0
    assert "1 slide deck(s)" in capsys.readouterr().out
    html = (tmp_path / "winners.slides.html").read_text()
    nb = nbformat.read(BOOK / "winners.ipynb", as_version=4)
    headings = [c for c in nb.cells if c.cell_type == "markdown" and c.source.lstrip().startswith(("# ", "## "))]
    assert headings
    assert html.count('<section>') >= len(headings)
    assert "reveal" in html.lower()
    assert "solution_largest_component" not in html
    assert "my_largest_component" in html
    assert amos(["book", "slides", tmp_path, "--chapters", "no_such"]) == 2


def test_course_kit_has_a_ten_week_plan_and_the_new_terms():
    syllabus = (BOOK / "course" / "syllabus.md").read_text()
    ten = syllabus.split("## A 10-week course")[1].split("\n## ")[0]
    weeks = {f"Week {n}" for n in range(1, 11)}
    assert all(f"| {w} |" in ten for w in weeks)
    for chapter in ("nnunet", "winners", "ct_and_mri"):  # one week each
        rows = [line for line in ten.splitlines() if f"{{doc}}`../{chapter}`" in line]
        assert len(rows) == 1, chapter
    assert "mini-project clinic | mini-project clinic" in ten
    glossary = (BOOK / "course" / "glossary.md").read_text().lower()
    for term in ("residual encoder", "da5", "fingerprint", "plans", "target spacing", "connected component",
                 "bootstrap interval", "task 1 / task 2", "z-score", "radiological convention"):
        assert term in glossary, term
