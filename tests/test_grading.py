"""The student edition as a book of its own, its safety rules, and grading a folder of submissions with otter.

``amos book assign`` runs otter-grader's ``otter assign`` on the evaluation chapter's master notebook; three
submissions of its student notebook (right, delegating to the package, wrong) are graded by ``amos book
grade`` with otter's autograder: the scores CSV must give each exercise the score its checker's verdict
implies, and the feedback CSV the checkers' one-line messages.
"""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import nbformat
import pytest
import yaml
from conftest import CHAPTERS_GROUP, REPO_ROOT, executed_chapter, session_shared_dir, toc_notebooks

from amos_tutorial import _meta
from amos_tutorial.exercises.autograder import OTTER_IGNORE_TAG, graded_exercises, master_notebook
from amos_tutorial.exercises.editions import SKELETON_TAG, student_notebook, write_student_edition
from amos_tutorial.notebook import amos
from amos_tutorial.publish.glue import executed_glue, substitute_glue

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
@pytest.mark.notebook
@pytest.mark.xdist_group(CHAPTERS_GROUP)
def test_student_edition_builds_with_jupyter_book_and_its_prose_has_the_books_numbers(tmp_path, tmp_path_factory):
    # The whole edition, every chapter and course page, as the student branch publishes it: not executed, so
    # the numbers the prose glues come from the book's executed chapters.
    shared = session_shared_dir(tmp_path_factory)
    for page in toc_notebooks():
        executed_chapter(REPO_ROOT / f"{page}.ipynb", shared)
    out = tmp_path / "student"
    written = write_student_edition(out, executed=shared / "executed")
    jb = shutil.which("jupyter-book", path=str(Path(__import__("sys").executable).parent))
    done = subprocess.run([jb, "build", str(out), "--builder", "html"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    log = done.stdout + done.stderr
    assert "glue" not in log.lower(), [line for line in log.splitlines() if "glue" in line.lower()][:3]
    chapters = sorted(p.stem for p in written if p.suffix == ".ipynb")
    assert len(chapters) == len(list((REPO_ROOT / "book").glob("*.ipynb")))
    for chapter in chapters:
        assert (out / "_build" / "html" / "book" / f"{chapter}.html").is_file(), chapter
    html = (out / "_build" / "html" / "book" / "exploring_the_data.html").read_text()
    assert "my_window_level" in html
    assert "solution_window_level" not in html
    # A number the intro's prose glues is in its page, with the value of the executed book.
    glued = [c.source for c in nbformat.read(BOOK / "intro.ipynb", as_version=4).cells
             if c.cell_type == "markdown" and "{glue:text}`" in c.source]
    role = re.search(r"\{glue:text\}`[^`]+`", glued[0]).group(0)
    value = substitute_glue(role, executed_glue(shared / "executed", "intro.ipynb"))
    assert value
    assert value in (out / "_build" / "html" / "book" / "intro.html").read_text()
    student_intro = nbformat.read(out / "book" / "intro.ipynb", as_version=4)
    assert not [c for c in student_intro.cells if c.cell_type == "markdown" and "{glue" in c.source]


def test_student_edition_glue_needs_the_executed_chapter(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no executed copy of intro.ipynb \(build the book first"):
        write_student_edition(tmp_path / "student", chapters=["intro"], executed=tmp_path / "none")
    executed = tmp_path / "executed" / "book"
    executed.mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(), executed / "intro.ipynb")  # executed, but glued nothing
    with pytest.raises(ValueError, match=r"intro: no glued value '\w+' in the executed chapter"):
        write_student_edition(tmp_path / "student", chapters=["intro"], executed=tmp_path / "executed")


def _submission(student: Path, folder: Path, name: str, answers: dict[str, str]) -> None:
    """The student notebook ``student`` with the skeletons' bodies replaced by ``answers``."""
    nb = nbformat.read(student, as_version=4)
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


@pytest.mark.parametrize("chapter", sorted(p.stem for p in BOOK.glob("*.ipynb") if graded_exercises(nbformat.read(p, as_version=4))))
def test_the_master_notebook_gives_the_skeleton_to_the_student_and_the_solution_to_the_grader(chapter):
    from otter.assign.solutions import replace_solutions

    nb = nbformat.read(BOOK / f"{chapter}.ipynb", as_version=4)
    master = master_notebook(nb, chapter)
    raws = [c.source for c in master.cells if c.cell_type == "raw"]
    assert raws[0].startswith("# ASSIGNMENT CONFIG")
    assert f"name: {chapter}" in raws[0]
    questions = [r.split("name: ")[1].split()[0] for r in raws if r.startswith("# BEGIN QUESTION")]
    assert questions == [function.removeprefix("my_") for _, function in graded_exercises(nb)]
    skeletons = [c.source for c in nb.cells if SKELETON_TAG in c.metadata.get("tags", [])]
    responses = [c.source for c in master.cells if c.cell_type == "code" and "# BEGIN PROMPT" in c.source]
    assert len(responses) == len(skeletons)
    for skeleton, response in zip(skeletons, responses):
        student = "\n".join(replace_solutions(response.split("\n"), "python"))
        assert student.strip("\n") == skeleton.strip("\n")  # the student's cell is the book's skeleton
        solution = response.split("# BEGIN SOLUTION NO PROMPT\n")[1]
        assert "solution_" not in solution
        assert "print(check_" not in solution
        compile(solution.replace("# END SOLUTION", ""), chapter, "exec")
    for cell in master.cells:
        if cell.cell_type == "code" and "# BEGIN PROMPT" not in cell.source and "# BEGIN TEST CONFIG" not in cell.source:
            assert OTTER_IGNORE_TAG in cell.metadata.get("tags", []), cell.source[:60]
    hidden = [c.source for c in master.cells if "# BEGIN TEST CONFIG" in c.source]
    assert len(hidden) == len(questions)
    assert all("hidden: true" in h for h in hidden)
    assert not [c for c in master.cells if "@title Solution" in c.source]


def test_a_master_needs_a_solution_after_each_exercise():
    nb = nbformat.read(BOOK / "evaluation.ipynb", as_version=4)
    nb.cells = [c for c in nb.cells if "solution" not in c.metadata.get("tags", [])]
    with pytest.raises(ValueError, match="has no solution cell after its checks"):
        master_notebook(nb, "evaluation")


@pytest.mark.slow
def test_grading_a_folder_with_otter_gives_the_expected_scores(tmp_path, capsys):
    course = tmp_path / "course"
    assert amos(["book", "assign", course, "--chapters", "evaluation"]) == 0
    grader = course / "autograder"
    assert __import__("json").loads((grader / "exercises.json").read_text()) == {"evaluation": ["dice", "nsd", "sliding_window"]}
    assert "amos book grade" in (grader / "README.md").read_text()
    assert (course / "student" / "_toc.yml").is_file()
    student = course / "student" / "book" / "evaluation.ipynb"
    ours = student_notebook(nbformat.read(BOOK / "evaluation.ipynb", as_version=4))
    theirs = nbformat.read(student, as_version=4)
    assert [c.source for c in theirs.cells[1:]] == [c.source for c in ours.cells[1:]]  # cell 0: the badge
    assert theirs.metadata["otter"]["assignment_name"] == "evaluation"
    with zipfile.ZipFile(grader / "evaluation.zip") as packed:
        tests = {n: packed.read(n).decode() for n in packed.namelist() if n.startswith("tests/")}
    assert sorted(tests) == ["tests/dice.py", "tests/nsd.py", "tests/sliding_window.py"]
    assert all("hidden=True" in t and "count_nonzero" not in t for t in tests.values())  # hidden, no solution
    folder = tmp_path / "submitted"
    folder.mkdir()
    _submission(student, folder, "right", {"my_dice": RIGHT_DICE})
    _submission(student, folder, "delegating", {"my_dice": DELEGATING_DICE})
    _submission(student, folder, "wrong", {"my_dice": WRONG_DICE})
    capsys.readouterr()
    assert amos(["book", "grade", folder, "--autograder", grader, "--out", tmp_path / "scores.csv"]) == 0
    rows = {row["submission"]: row for row in csv.DictReader((tmp_path / "scores.csv").open())}
    assert sorted(rows) == ["delegating", "right", "wrong"]
    assert [rows[n]["dice"] for n in ("right", "delegating", "wrong")] == ["1.0", "0.0", "0.0"]
    assert {rows[n]["nsd"] for n in rows} == {"0.0"}
    assert {rows[n]["sliding_window"] for n in rows} == {"0.0"}
    assert [rows[n]["total"] for n in ("right", "delegating", "wrong")] == ["1.0", "0.0", "0.0"]
    feedback = {(r["submission"], r["exercise"]): r["feedback"] for r in csv.DictReader((tmp_path / "feedback.csv").open())}
    assert feedback[("right", "dice")].startswith("✓")
    assert feedback[("delegating", "dice")].startswith("✗ Dice (DSC): not your own code")
    assert "\n" not in feedback[("delegating", "dice")]
    assert feedback[("wrong", "dice")].startswith("✗ Dice (DSC): on input")
    assert "not implemented yet" in feedback[("right", "nsd")]


def test_grading_refuses_a_notebook_without_its_chapter(tmp_path):
    from amos_tutorial.exercises.grading import grade_notebook

    nbformat.write(nbformat.v4.new_notebook(), tmp_path / "alice.ipynb")
    (tmp_path / "grader").mkdir()
    result = grade_notebook(tmp_path / "alice.ipynb", tmp_path / "grader")
    assert list(result) == ["*"]
    assert result["*"]["score"] == 0.0
    assert "not a notebook of the student edition" in result["*"]["message"]
    nb = nbformat.v4.new_notebook(metadata={"otter": {"assignment_name": "winners"}})
    nbformat.write(nb, tmp_path / "bob.ipynb")
    assert "has no autograder in" in grade_notebook(tmp_path / "bob.ipynb", tmp_path / "grader")["*"]["message"]


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
