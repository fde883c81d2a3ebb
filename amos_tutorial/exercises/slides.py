"""Per-chapter slides for the lecture part of a session: reveal.js, made from each chapter by nbconvert.

Introduced in the course kit (*Instructor notes*). ``amos book slides OUT`` writes ``OUT/<chapter>.slides.html``
for every chapter: the student edition of the chapter (no solutions), without outputs, where every ``#`` or
``##`` heading opens a slide, every ``###`` heading a sub-slide, and the cells in between follow on the same
slide (scroll or press space). Built on ``nbconvert``'s ``SlidesExporter`` (what ``jupyter nbconvert --to
slides`` runs); reveal.js is loaded from its CDN when the file is opened.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["slide_notebook", "write_slides"]


def slide_notebook(nb: Any) -> Any:
    """A copy of a chapter marked up for slides: headings open slides, solutions and outputs removed."""
    from amos_tutorial.exercises.editions import student_notebook

    out = student_notebook(copy.deepcopy(nb))
    for cell in out["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        first = source.lstrip().split("\n", 1)[0]
        kind = "-"
        if cell["cell_type"] == "markdown" and (first.startswith("# ") or first.startswith("## ")):
            kind = "slide"
        elif cell["cell_type"] == "markdown" and first.startswith("### "):
            kind = "subslide"
        cell.setdefault("metadata", {})["slideshow"] = {"slide_type": kind}
    return out


def write_slides(out: str | Path, book: str | Path | None = None, chapters: Iterable[str] | None = None) -> list[Path]:
    """Write ``OUT/<chapter>.slides.html`` for the book's chapters (all of them by default).

    Raises:
        FileNotFoundError: If the book folder or a named chapter does not exist.
    """
    import nbformat
    from nbconvert import SlidesExporter

    from amos_tutorial.exercises.editions import chapter_paths
    from amos_tutorial.utils.io import atomic_write_text

    book, paths = chapter_paths(book, chapters)
    exporter = SlidesExporter()
    written = []
    for path in paths:
        body, _ = exporter.from_notebook_node(slide_notebook(nbformat.read(path, as_version=4)))
        written.append(atomic_write_text(Path(out) / f"{path.stem}.slides.html", body))
    return written
