"""One source, two editions: the instructor edition (the book as it is) and the student edition.

Introduced in chapter *Segmenting 15 abdominal organs: a hands-on AMOS 2022 book* (course kit). Solutions live in cells tagged :data:`SOLUTION_TAG`:

* a worked answer to a question is a markdown cell wrapped in ``<details>``, which the HTML book, Jupyter
  and Colab all render collapsed;
* the solution of a build-it-yourself exercise is a code cell that also carries ``hide-input`` (collapsed
  in the HTML book), ``jupyter.source_hidden`` (collapsed in JupyterLab and Notebook 7) and Colab's
  ``cellView: form`` with a ``# @title`` line (collapsed in Colab). It comes *after* the check of the
  student's function (cell tagged :data:`CHECK_TAG`) and defines its function under another name
  (``solution_dice``, not the skeleton's ``my_dice``), so running a notebook top to bottom checks the
  student's code, never the solution, and later cells that reuse ``my_dice`` get the student's.

Text meant for the instructor edition only (it mentions the solutions) is a markdown cell tagged
:data:`INSTRUCTOR_TAG`.

:func:`write_student_edition` (``amos book student OUT``) copies the chapters without those cells, so a
student's notebook keeps the skeletons, whose checkers then report "not implemented yet".
"""

from __future__ import annotations

import ast
import copy
import re
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "CHECK_TAG",
    "INSTRUCTOR_TAG",
    "SKELETON_TAG",
    "SOLUTION_TAG",
    "chapter_paths",
    "default_book_dir",
    "hidden_solution_metadata",
    "refuse_overlap",
    "solution_problems",
    "student_notebook",
    "write_student_edition",
]

SOLUTION_TAG = "solution"
SKELETON_TAG = "exercise-skeleton"
CHECK_TAG = "exercise-check"
INSTRUCTOR_TAG = "instructor-only"
#: First line of a solution code cell: Colab shows this title instead of the hidden code.
SOLUTION_TITLE = "# @title Solution (hidden: click to show the code)"
DETAILS_OPEN = "<details>\n<summary>Solution</summary>"
DETAILS_CLOSE = "</details>"

_BADGE = re.compile(r"\]\((https://colab\.research\.google\.com/github/[^)\s]+)\)")

def default_book_dir() -> Path:
    """The ``book/`` folder of a source checkout (next to the package folder)."""
    return Path(__file__).resolve().parents[2] / "book"


def chapter_paths(book: str | Path | None = None, chapters: Iterable[str] | None = None) -> tuple[Path, list[Path]]:
    """The book folder and the chapters of it to use: all of them (by name) or ``chapters``, in that order.

    Args:
        book: The book folder (default: :func:`default_book_dir`).
        chapters: Chapter names (``"training"`` or ``"training.ipynb"``), or None for every chapter.

    Returns:
        ``(book folder, chapter notebooks)``.

    Raises:
        FileNotFoundError: If the book folder or a named chapter does not exist (one line naming them).
    """
    book = Path(book) if book is not None else default_book_dir()
    if not book.is_dir():
        raise FileNotFoundError(f"{book}: no book folder here (pass the book/ folder of a source checkout)")
    paths = sorted(book.glob("*.ipynb"))
    if chapters is None:
        return book, paths
    wanted = [str(c).removesuffix(".ipynb") for c in chapters]
    missing = [c for c in wanted if not (book / f"{c}.ipynb").is_file()]
    if missing:
        raise FileNotFoundError(f"{book}: no chapter {', '.join(missing)} (have {', '.join(p.stem for p in paths)})")
    return book, [book / f"{c}.ipynb" for c in wanted]


def hidden_solution_metadata() -> dict[str, Any]:
    """Metadata that hides a solution code cell in the HTML book, in Jupyter and in Colab."""
    return {"tags": [SOLUTION_TAG, "hide-input"], "jupyter": {"source_hidden": True}, "cellView": "form"}


def _tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def _is_solution(cell: dict) -> bool:
    return SOLUTION_TAG in _tags(cell)


def _defined_functions(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


def _order_problems(cells: list) -> list[str]:
    """Solution code that would run before its check, or replace the student's function."""
    problems, skeleton_names, solution_since_skeleton = [], set(), None
    for index, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if SKELETON_TAG in _tags(cell):
            skeleton_names |= _defined_functions(source)
            solution_since_skeleton = None
        elif _is_solution(cell):
            solution_since_skeleton = index if solution_since_skeleton is None else solution_since_skeleton
            clash = sorted(_defined_functions(source) & skeleton_names)
            if clash:
                problems.append(
                    f"cell {index}: the solution redefines {', '.join(clash)}, the student's function "
                    "(name it solution_...; run-all would check and reuse the solution)"
                )
        elif CHECK_TAG in _tags(cell) and solution_since_skeleton is not None:
            problems.append(
                f"cell {index}: the solution (cell {solution_since_skeleton}) runs before this check; "
                "put the solution after the check"
            )
    return problems


def solution_problems(nb: Any) -> list[str]:
    """Why a notebook's solutions would show in one of the three renderings, or run before their checks (empty: none).

    Args:
        nb: A notebook (``nbformat`` node or the equivalent dict).

    Returns:
        One line per problem, naming the cell.
    """
    problems = []
    for index, cell in enumerate(nb["cells"]):
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        where = f"cell {index}"
        if cell["cell_type"] == "markdown":
            if "{solution}" in source:
                problems.append(f"{where}: a MyST {{solution}} block shows as plain text in Jupyter and Colab")
            if _is_solution(cell) and not (source.startswith(DETAILS_OPEN) and source.rstrip().endswith(DETAILS_CLOSE)):
                problems.append(f"{where}: a solution markdown cell must be wrapped in {DETAILS_OPEN!r} ... </details>")
        elif _is_solution(cell):
            meta = cell.get("metadata", {})
            if "hide-input" not in meta.get("tags", []):
                problems.append(f"{where}: solution code cell without the 'hide-input' tag (shows in the HTML book)")
            if not meta.get("jupyter", {}).get("source_hidden"):
                problems.append(f"{where}: solution code cell without jupyter.source_hidden (shows in Jupyter)")
            if meta.get("cellView") != "form" or not source.startswith(SOLUTION_TITLE):
                problems.append(f"{where}: solution code cell must be a Colab form cell starting {SOLUTION_TITLE!r}")
    return problems + _order_problems(nb["cells"])


def student_notebook(nb: Any) -> Any:
    """A copy of ``nb`` without its solution and instructor-only cells and without outputs (the student edition)."""
    out = copy.deepcopy(nb)
    out["cells"] = [c for c in out["cells"] if not (_is_solution(c) or INSTRUCTOR_TAG in _tags(c))]
    for cell in out["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    return out


def _student_config(source: dict) -> dict:
    """The student edition's ``_config.yml``: the book's, not executed, with its own title and branch."""
    from amos_tutorial._meta import STUDENT_BRANCH

    config = copy.deepcopy(source)
    config["title"] = f"{source.get('title', 'The book')} (student edition)"
    config["execute"] = {**source.get("execute", {}), "execute_notebooks": "off"}
    config["repository"] = {**source.get("repository", {}), "branch": STUDENT_BRANCH}
    config["bibtex_bibfiles"] = ["book/references.bib"]
    return config


def _student_toc(source: dict, pages: set[str]) -> dict:
    """The student edition's ``_toc.yml``: the book's, without the pages it does not have."""
    toc = copy.deepcopy(source)
    for part in toc.get("parts", []):
        part["chapters"] = [entry for entry in part.get("chapters", []) if entry.get("file") in pages]
    toc["parts"] = [part for part in toc.get("parts", []) if part["chapters"]]
    if toc.get("root") not in pages and toc["parts"]:  # the introduction was left out: the first chapter opens the book
        toc["root"] = toc["parts"][0]["chapters"].pop(0)["file"]
        toc["parts"] = [part for part in toc["parts"] if part["chapters"]]
    return toc


#: Course pages left out of the student edition (they are for the instructor).
INSTRUCTOR_PAGES = ("instructor_notes",)


def refuse_overlap(out: Path, book: Path) -> None:
    """Raise a one-line ValueError if an edition in ``out`` would be written into or over ``book``."""
    out, book = out.resolve(), book.resolve()
    if out == book or book in out.parents or (out / "book") == book:
        raise ValueError(f"{out}: the student edition must not be written into or over the book it comes from ({book})")


def write_student_edition(
    out: str | Path,
    book: str | Path | None = None,
    chapters: Iterable[str] | None = None,
    overwrite: bool = False,
    prepared: Mapping[str, Any] | None = None,
    executed: str | Path | None = None,
) -> list[Path]:
    """Write the student edition into ``out``: a book of its own, laid out like this repository.

    ``out/book/`` holds the chapters without their solution and instructor-only cells, with Colab badges that
    open :data:`amos_tutorial._meta.STUDENT_BRANCH`, plus ``_static``, the bibliography and the course pages
    a student needs; ``out/_config.yml`` (not executed) and ``out/_toc.yml`` make it buildable with
    ``jupyter-book build out``. Publish ``out`` as that branch.

    The edition is not executed (a student's skeletons would stop it), so the numbers that the prose glues
    from a chapter's outputs have no value there. With ``executed`` (the book's executed chapters, as
    ``scripts/build_book.sh`` leaves them in ``_build/executed``), every glue role in the prose is
    replaced by its value from the executed chapter, as in the Colab edition.

    Args:
        out: Output folder (created).
        book: The book folder (default: :func:`default_book_dir`).
        chapters: Chapter names (``"exploring_the_data"``) to write; None writes all.
        overwrite: Replace chapters that already exist in ``out`` (a student's edits there are lost).
        prepared: Student notebooks made elsewhere, by chapter name (``amos book assign`` passes otter's);
            the other chapters are :func:`student_notebook` of the book's.
        executed: Folder of the executed chapters (``<chapter>.ipynb``, or under ``book/``) whose glued values
            fill the prose.

    Returns:
        The written notebook paths.

    Raises:
        FileNotFoundError: If the book folder, a named chapter or an executed chapter does not exist.
        FileExistsError: If a chapter already exists in ``out`` with other content and ``overwrite`` is False.
        ValueError: If ``out`` is the book folder, lies inside it, or would write over it; if an executed
            chapter lacks a value its prose glues.
    """
    import nbformat
    import yaml

    from amos_tutorial.publish.glue import executed_glue, substitute_glue

    from amos_tutorial._meta import STUDENT_BRANCH
    from amos_tutorial.notebook import colab_url
    from amos_tutorial.utils.io import atomic_write_text

    book, paths = chapter_paths(book, chapters)
    out = Path(out)
    refuse_overlap(out, book)
    target = out / "book"
    texts = {}
    for path in paths:
        if prepared is not None and path.stem in prepared:
            nb = copy.deepcopy(prepared[path.stem])
        else:
            nb = student_notebook(nbformat.read(path, as_version=4))
        glue = executed_glue(executed, path.name) if executed is not None else None
        for cell in nb["cells"]:
            if cell["cell_type"] == "markdown":
                cell["source"] = _BADGE.sub(f"]({colab_url(path.stem, branch=STUDENT_BRANCH)})", cell["source"])
                if glue is not None:
                    cell["source"] = substitute_glue(cell["source"], glue, path.stem)
        texts[path.name] = nbformat.writes(nb) + "\n"
    clash = [n for n, text in texts.items() if (target / n).is_file() and (target / n).read_text(encoding="utf-8") != text]
    if clash and not overwrite:
        raise FileExistsError(
            f"{target}: {', '.join(clash)} already there and different (a student's work?); pass --overwrite to replace"
        )
    try:
        target.mkdir(parents=True, exist_ok=True)
        if (book / "_static").is_dir():
            shutil.copytree(book / "_static", target / "_static", dirs_exist_ok=True)
        if (book / "references.bib").is_file():
            shutil.copyfile(book / "references.bib", target / "references.bib")
        course = [p for p in sorted((book / "course").glob("*.md")) if p.stem not in INSTRUCTOR_PAGES]
        if course:
            (target / "course").mkdir(exist_ok=True)
        for page in course:
            shutil.copyfile(page, target / "course" / page.name)
    except (OSError, shutil.Error) as exc:
        first = exc.args[0][0] if isinstance(exc, shutil.Error) and exc.args and isinstance(exc.args[0], list) else exc
        raise OSError(f"{target}: cannot copy the book's files: {str(first).splitlines()[0]}") from None
    written = [atomic_write_text(target / name, text) for name, text in texts.items()]
    pages = {f"book/{p.stem}" for p in target.glob("*.ipynb")} | {f"book/course/{p.stem}" for p in course}
    root = book.parent
    if (root / "_config.yml").is_file() and (root / "_toc.yml").is_file():
        config = _student_config(yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8")))
        toc = _student_toc(yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8")), pages)
        atomic_write_text(out / "_config.yml", "# The student edition of the book, written by `amos book student`.\n" + yaml.safe_dump(config, sort_keys=False))
        atomic_write_text(out / "_toc.yml", yaml.safe_dump(toc, sort_keys=False))
    return written
