"""A chapter as an otter-grader assignment: the master notebook, the student notebook and the hidden tests.

Introduced in chapter *Segmenting 15 abdominal organs: a hands-on AMOS 2022 book* (course kit, instructor
notes). otter-grader (https://otter-grader.readthedocs.io) makes a student notebook and an autograder
(hidden tests) from one *master notebook*. :func:`master_notebook` writes that master from a chapter of the
book, whose build-it exercises are cells tagged ``exercise-skeleton`` (the student writes here),
``exercise-check`` (the one-line check) and ``solution`` (hidden, after the check):

* each skeleton and its solutions become one otter response cell: the skeleton is the ``BEGIN PROMPT``
  block (what the student gets, unchanged), the solution (``solution_dice`` renamed ``my_dice``) the
  ``BEGIN SOLUTION NO PROMPT`` block (what the autograder notebook runs);
* each check call ``check_dice(my_dice)`` becomes a question ``dice`` (1 point) with one hidden test that
  calls the same checker and fails with its one-line verdict, so the grader's feedback is the line the
  student sees in the notebook;
* markdown solutions and instructor-only cells are ``# IGNORE`` d (in neither output); every other code
  cell is tagged ``otter_ignore``: grading runs only the exercise cells, not the chapter's training.

:func:`assign_chapter` runs ``otter assign`` on it (which also runs the hidden tests against the solutions),
:func:`grade_submission` grades one submitted notebook with ``otter run``'s Python API
(``otter.api.grade_submission``: no Docker, the submission runs in its own Jupyter kernel).
Needs the optional dependency ``otter-grader`` (``pip install "amos_tutorial[grading]"``).
"""

from __future__ import annotations

import ast
import copy
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from amos_tutorial.exercises.editions import CHECK_TAG as _CHECK
from amos_tutorial.exercises.editions import INSTRUCTOR_TAG as _INSTRUCTOR
from amos_tutorial.exercises.editions import SKELETON_TAG as _SKELETON
from amos_tutorial.exercises.editions import SOLUTION_TAG as _SOLUTION
from amos_tutorial.exercises.editions import SOLUTION_TITLE

__all__ = [
    "CHECK_CALL",
    "OTTER_REQUIREMENT",
    "assign_chapter",
    "autograder_zip",
    "graded_exercises",
    "grade_submission",
    "master_notebook",
    "require_otter",
    "solved_cell_source",
    "solved_notebook",
    "write_assignment",
]

#: The optional dependency (the ``grading`` extra).
OTTER_REQUIREMENT = "otter-grader>=7,<8"
#: A check cell: ``check_dice(my_dice)``.
CHECK_CALL = re.compile(r"^(check_\w+)\((my_\w+)\)\s*$")
#: otter's grading skips code cells with this tag.
OTTER_IGNORE_TAG = "otter_ignore"



def require_otter() -> Any:
    """Import otter-grader, or fail in one line that says how to install it.

    Raises:
        ImportError: If otter-grader is not installed.
    """
    try:
        import otter  # noqa: F401
        import otter.api
        import otter.assign
    except ImportError:
        raise ImportError(
            f"grading needs otter-grader, which is not installed: pip install '{OTTER_REQUIREMENT}' "
            "(or pip install 'amos_tutorial[grading]')"
        ) from None
    return otter


def _source(cell: Any) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _tags(cell: Any) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def graded_exercises(nb: Any) -> list[tuple[str, str]]:
    """The ``(checker, function)`` pairs of a chapter's check cells, in chapter order."""
    found = []
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and _CHECK in _tags(cell):
            match = CHECK_CALL.match(_source(cell).strip())
            if match:
                found.append(match.groups())
    return found


def _raw(text: str) -> dict:
    import nbformat

    return nbformat.v4.new_raw_cell(text)


def _imports(source: str) -> str:
    """The top-level import statements of a skeleton (the solution block needs them too)."""
    tree = ast.parse(source)
    return "\n".join(ast.get_source_segment(source, node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom)))


def _solution_code(source: str, names: list[str]) -> str:
    """A solution cell as the autograder runs it: no Colab title, no printed check, ``solution_x`` named ``my_x``."""
    lines = [line for line in source.splitlines() if not line.startswith(SOLUTION_TITLE)]
    lines = [line for line in lines if not re.match(r"^print\(check_\w+\(solution_\w+\)\)\s*$", line)]
    code = "\n".join(lines).strip("\n")
    for name in names:
        code = re.sub(rf"\bsolution_{name}\b", f"my_{name}", code)
    return code


def solved_cell_source(skeleton: str, solutions: list[str], functions: list[str]) -> str:
    """An exercise cell as a student who solved it would write it: what the autograder notebook runs.

    Args:
        skeleton: The source of the cell tagged ``exercise-skeleton``.
        solutions: The sources of its solution cells.
        functions: The student's functions (``my_dice``), each defined by a solution as ``solution_dice``.

    Returns:
        The skeleton's imports, then the solutions without their Colab title and printed check, with
        ``solution_dice`` renamed ``my_dice``.
    """
    names = [function.removeprefix("my_") for function in functions]
    return "\n\n".join([_imports(skeleton), *(_solution_code(s, names) for s in solutions)]).strip("\n")


def _exercises(cells: list) -> list[tuple[int, list[int], list[int]]]:
    """``(skeleton, checks, solutions)`` cell indices of each exercise, in the book's order."""
    found, index = [], 0
    while index < len(cells):
        if cells[index]["cell_type"] != "code" or _SKELETON not in _tags(cells[index]):
            index += 1
            continue
        skeleton, checks, solutions, index = index, [], [], index + 1
        while index < len(cells) and cells[index]["cell_type"] == "code" and _CHECK in _tags(cells[index]):
            checks.append(index)
            index += 1
        while index < len(cells) and cells[index]["cell_type"] == "code" and _SOLUTION in _tags(cells[index]):
            solutions.append(index)
            index += 1
        found.append((skeleton, checks, solutions))
    return found


def solved_notebook(nb: Any) -> Any:
    """A copy of a chapter whose exercise cells are solved (:func:`solved_cell_source`), the rest unchanged.

    Runs the chapter as a student who finished every exercise would: the checks pass, and the cells that
    reuse the student's functions (``train(..., loss=my_dice_ce)``) run them.
    """
    out = copy.deepcopy(nb)
    cells = out["cells"]
    for skeleton, checks, solutions in _exercises(cells):
        functions = [m.group(2) for m in (CHECK_CALL.match(_source(cells[i]).strip()) for i in checks) if m]
        cells[skeleton]["source"] = solved_cell_source(
            _source(cells[skeleton]), [_source(cells[i]) for i in solutions], functions
        )
    return out


def _test_cell(checker: str, function: str) -> dict:
    import nbformat

    name = function.removeprefix("my_")
    source = (
        '""" # BEGIN TEST CONFIG\nhidden: true\npoints: 1\n""" # END TEST CONFIG\n'
        f"def test_{name}({function}):\n"
        f"    from amos_tutorial.exercises import {checker}\n"
        f"    result = {checker}({function})\n"
        "    assert result.passed, str(result)\n"
    )
    return nbformat.v4.new_code_cell(source)


def _question(checker: str, function: str, response: list | None) -> list:
    name = function.removeprefix("my_")
    cells = [_raw(f"# BEGIN QUESTION\nname: {name}\npoints: 1\ncheck_cell: false")]
    if response:
        cells += [_raw("# BEGIN SOLUTION"), *response, _raw("# END SOLUTION")]
    return [*cells, _raw("# BEGIN TESTS"), _test_cell(checker, function), _raw("# END TESTS"), _raw("# END QUESTION")]


def master_notebook(nb: Any, name: str) -> Any:
    """otter's master notebook of one chapter (see the module docstring).

    Args:
        nb: The chapter (``nbformat`` node), in the book's order skeleton -> check -> solution.
        name: The assignment name (the chapter's file name without ``.ipynb``); otter writes it into the
            student notebook, and grading uses it to find the chapter's autograder.

    Returns:
        A new notebook; ``nb`` is not changed.

    Raises:
        ValueError: If a skeleton has no solution after its checks, or a skeleton holds ``'''``.
    """
    import json

    import nbformat

    from amos_tutorial._meta import install_spec

    cells = list(copy.deepcopy(nb)["cells"])
    config = (
        f"# ASSIGNMENT CONFIG\nname: {name}\ninit_cell: false\ncheck_all_cell: false\nexport_cell: false\n"
        f"requirements:\n  - {json.dumps(install_spec())}\n"
        "run_tests: true\nsolutions_pdf: false\ntemplate_pdf: false\ntests:\n  ok_format: false\n"
        "generate:\n  pdf: false\n  show_stdout: false\n"
    )
    out = [_raw(config)]
    exercises = {skeleton: (checks, solutions) for skeleton, checks, solutions in _exercises(cells)}
    taken = {i for checks, solutions in exercises.values() for i in (*checks, *solutions)}
    for index, cell in enumerate(cells):
        tags = _tags(cell)
        if index in taken:
            continue
        if cell["cell_type"] == "markdown" and (_SOLUTION in tags or _INSTRUCTOR in tags):
            cell["source"] = "# IGNORE\n" + _source(cell)
        elif cell["cell_type"] == "code" and index not in exercises:
            cell.setdefault("metadata", {})["tags"] = [*tags, OTTER_IGNORE_TAG]
        if index not in exercises:
            out.append(cell)
            continue
        checks, solutions = exercises[index]
        skeleton = _source(cell)
        pairs = [m.groups() for m in (CHECK_CALL.match(_source(cells[i]).strip()) for i in checks) if m]
        if not solutions:
            raise ValueError(
                f"{name}: the exercise cell defining {', '.join(f for _, f in pairs) or '?'} has no solution cell after its checks"
            )
        if "'''" in skeleton:
            raise ValueError(f"{name}: an exercise cell holds ''' (otter's prompt block is a '''-string)")
        solution = solved_cell_source(skeleton, [_source(cells[i]) for i in solutions], [f for _, f in pairs])
        response = nbformat.v4.new_code_cell(
            f"''' # BEGIN PROMPT\n{skeleton}\n'''; # END PROMPT\n# BEGIN SOLUTION NO PROMPT\n{solution}\n# END SOLUTION"
        )
        response["metadata"] = copy.deepcopy(cell.get("metadata", {}))
        for number, ((checker, function), check) in enumerate(zip(pairs, checks)):
            out += _question(checker, function, [response] if number == 0 else None)
            cells[check].setdefault("metadata", {})["tags"] = [*_tags(cells[check]), OTTER_IGNORE_TAG]
            out.append(cells[check])
    master = copy.deepcopy(nb)
    master["cells"] = out
    return master


def autograder_zip(folder: str | Path) -> Path:
    """The autograder zip file that ``otter assign`` wrote into ``folder`` (its ``autograder`` folder).

    Raises:
        FileNotFoundError: If there is none, or more than one.
    """
    found = sorted(Path(folder).glob("*autograder*.zip"))
    if len(found) != 1:
        raise FileNotFoundError(f"{folder}: expected one otter autograder zip here, found {len(found)}")
    return found[0]


def assign_chapter(chapter: str | Path, out: str | Path, run_tests: bool = True) -> tuple[Path, Path]:
    """Run ``otter assign`` on a chapter's master notebook.

    Writes ``out/master/<chapter>.ipynb`` and otter's ``out/autograder`` (the solutions notebook, the hidden
    tests and the autograder zip) and ``out/student`` (the student notebook).

    Args:
        chapter: A chapter notebook of the book.
        out: Output folder for this chapter.
        run_tests: Let otter run the hidden tests against the solutions (a failing solution stops it).

    Returns:
        The student notebook and the autograder zip.
    """
    import nbformat

    otter = require_otter()
    chapter, out = Path(chapter), Path(out)
    master = master_notebook(nbformat.read(chapter, as_version=4), chapter.stem)
    (out / "master").mkdir(parents=True, exist_ok=True)
    master_path = out / "master" / chapter.name
    nbformat.write(master, master_path)
    otter.assign.main(str(master_path), str(out), no_pdfs=True, no_run_tests=not run_tests)
    return out / "student" / chapter.name, autograder_zip(out / "autograder")


def grade_submission(submission: str | Path, autograder: str | Path) -> dict[str, dict[str, Any]]:
    """Grade one notebook with otter (``otter.api.grade_submission``): ``{exercise: {"score", "message"}}``.

    The message is the checker's one-line verdict (``✓ ...`` or ``✗ ...``).
    """
    otter = require_otter()
    results = otter.api.grade_submission(str(submission), str(autograder), quiet=True)
    graded = {}
    for name in results.test_files:
        test = results.get_result(name)
        lines = []
        for case in test.test_case_results:
            if case.passed:
                lines.append("✓ passed the hidden test (the same check as in the notebook)")
            else:
                last = case.message.strip().splitlines()[-1]
                lines.append(last.split(": ", 1)[1] if last.startswith("AssertionError: ") else last)
        graded[name] = {"score": float(results.get_score(name)), "message": "; ".join(lines)}
    return graded


def write_assignment(
    out: str | Path,
    book: str | Path | None = None,
    chapters: Iterable[str] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a course's hand-out with otter-grader: ``out/student`` and ``out/autograder``.

    Every chapter with build-it exercises goes through ``otter assign``
    (:func:`assign_chapter`, which also runs the hidden tests against
    the solutions): its student notebook becomes the chapter of ``out/student`` (the student edition, a book,
    :func:`amos_tutorial.exercises.editions.write_student_edition`), its autograder ``out/autograder/<chapter>.zip`` (hidden tests that call
    the package's checkers) and its master notebook ``out/autograder/master/<chapter>.ipynb``.
    ``out/autograder/exercises.json`` lists the graded exercises of each chapter, ``out/autograder/README.md``
    the grading command (:func:`amos_tutorial.exercises.grading.grade_folder`). Students never see
    ``out/autograder``.

    Args:
        out: Output folder (created).
        book: The book folder (default: the checkout's ``book/``).
        chapters: Chapter names to hand out; None hands out all.
        overwrite: Replace chapters already in ``out/student`` (a student's edits there are lost).

    Returns:
        The autograder folder.

    Raises:
        ImportError: If otter-grader is not installed (one line naming the install command).
    """
    import json
    import shutil
    import tempfile

    import nbformat

    from amos_tutorial.exercises.editions import chapter_paths, refuse_overlap, write_student_edition
    from amos_tutorial.utils.io import atomic_write_text

    require_otter()
    book, paths = chapter_paths(book, chapters)
    names = [p.stem for p in paths]
    refuse_overlap(Path(out) / "student", book)
    grader = Path(out) / "autograder"
    (grader / "master").mkdir(parents=True, exist_ok=True)
    graded, prepared = {}, {}
    for name in names:
        exercises = graded_exercises(nbformat.read(book / f"{name}.ipynb", as_version=4))
        if not exercises:
            continue
        with tempfile.TemporaryDirectory(prefix=f"otter-{name}-") as work:
            student, zip_path = assign_chapter(book / f"{name}.ipynb", work)
            prepared[name] = nbformat.read(student, as_version=4)
            shutil.copyfile(zip_path, grader / f"{name}.zip")
            shutil.copyfile(Path(work) / "master" / f"{name}.ipynb", grader / "master" / f"{name}.ipynb")
        graded[name] = [function.removeprefix("my_") for _, function in exercises]
    write_student_edition(Path(out) / "student", book=book, chapters=names, overwrite=overwrite, prepared=prepared)
    atomic_write_text(grader / "exercises.json", json.dumps(graded, indent=1) + "\n")
    atomic_write_text(
        grader / "README.md",
        "# Grading (otter-grader)\n\n"
        "Each `<chapter>.zip` is the otter autograder of a chapter (hidden tests that call the book's checkers);\n"
        "`master/` holds the master notebooks `otter assign` made them from. Collect the students' notebooks\n"
        "(one file each, e.g. `alice-evaluation.ipynb`) in a folder, then run\n\n"
        f"    amos book grade SUBMISSIONS --autograder {grader} --out scores.csv\n\n"
        "`scores.csv` has one row per submission and one column per exercise (1 = the checker passed);\n"
        "`feedback.csv` has each checker's one-line verdict. Each submission runs in its own Jupyter kernel,\n"
        "its exercise cells only, without Docker (otter's `otter run`). The same zip grades on Gradescope\n"
        "(`otter grade` with Docker works too, once the zip's requirements name this package).\n",
    )
    return grader
