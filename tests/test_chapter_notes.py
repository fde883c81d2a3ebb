"""Docstrings name the chapter that introduces a function ("Introduced in chapter *Title*"): the title must exist.

The titles are the first headings of the notebooks that ``_toc.yml`` lists; a section named in a note
(``(section *Name*)``) must start a heading of that chapter.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import toc_notebooks

REPO = Path(__file__).resolve().parents[1]
NOTE = re.compile(r"Introduced in chapters?\s+(.{0,400}?)(?:[.;]\s|\Z)", re.S)
TITLE = re.compile(r"(?<!section )(?<!sections )\*([^*\s][^*]*)\*")
SECTION = re.compile(r"\*([^*]+)\*\s*\(sections?\s+\*([^*]+)\*")


def _toc_files() -> list[Path]:
    return [REPO / f"{page}.ipynb" for page in toc_notebooks()]


def _headings(path: Path) -> list[str]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    lines = [ln for c in cells if c["cell_type"] == "markdown" for ln in "".join(c["source"]).splitlines()]
    return [ln.lstrip("#").strip() for ln in lines if re.match(r"#{1,4} ", ln)]


CHAPTERS = {_headings(p)[0]: _headings(p) for p in _toc_files()}


def _notes() -> list[tuple[str, str]]:
    found = []
    for path in sorted((REPO / "amos_tutorial").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for match in NOTE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append((f"{path.relative_to(REPO)}:{line}", " ".join(match.group(1).split())))
    return found


NOTES = _notes()


def test_the_book_and_the_notes_are_found():
    assert "Training the baselines" in CHAPTERS
    assert len(CHAPTERS) == len(_toc_files())
    assert len(NOTES) > 100


@pytest.mark.parametrize("where,note", NOTES, ids=[w for w, _ in NOTES])
def test_introduced_in_names_a_chapter_of_the_book(where, note):
    titles = [t for t in TITLE.findall(note)]
    assert titles, f"{where}: no *chapter title* after 'Introduced in chapter': {note!r}"
    sections = {s for _, s in SECTION.findall(note)}
    unknown = [t for t in titles if t not in CHAPTERS and t not in sections]
    assert unknown == [], f"{where}: no chapter titled {unknown} (chapters: {sorted(CHAPTERS)})"
    for chapter, section in SECTION.findall(note):
        assert any(h.startswith(section) for h in CHAPTERS[chapter]), f"{where}: {chapter!r} has no section {section!r}"


def test_the_note_parser_sees_wrong_titles():
    note = NOTE.search("Introduced in chapter *Preprocessing* (section *Foo*); builds on x.").group(1)
    assert TITLE.findall(note) == ["Preprocessing"]
    assert SECTION.findall(note) == [("Preprocessing", "Foo")]
