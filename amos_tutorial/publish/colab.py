"""The Colab edition: every chapter with its MyST turned into plain Markdown (``amos book colab``).

Introduced in chapter *Segmenting 15 abdominal organs: a hands-on AMOS 2022 book* (course kit: the Colab page).
Colab renders a notebook's Markdown as CommonMark: MyST roles and directives would show as raw text
(``{glue:text}`steps```, ``:::{admonition}``). The book's chapters stay in MyST (the rendered book needs it);
the edition that the Colab badges open is written from them by :func:`write_colab_edition`:

* admonitions and other notes become block quotes with a bold title; ``{exercise}`` blocks a bold
  *Exercise* heading; a ``{solution}`` block a ``<details>`` element; ``{bibliography}`` the list of references;
* ``{cite}`` becomes *(Author et al., year)* from ``book/references.bib``; ``{doc}`` a link that opens the other
  chapter in Colab (or a course page on GitHub); ``(label)=`` targets are dropped;
* ``{glue:text}``/``{glue:md}`` roles become the values of the executed book (the published build, on synthetic
  data); a note at the top of each chapter says so, since the reader's own run prints its own values;
* a figure's caption (cell metadata) follows its cell as an italic line.

A role or directive this module does not know is an error naming the chapter, so that a new MyST construct
cannot slip into the Colab edition unconverted.
"""

from __future__ import annotations

import copy
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from amos_tutorial.publish.glue import GLUE_ROLES, executed_glue, glued_text, map_roles

__all__ = [
    "COLAB_NOTE",
    "Converter",
    "leftover_myst",
    "to_commonmark",
    "write_colab_edition",
]

#: The note under each chapter's title in the Colab edition.
COLAB_NOTE = (
    "> **Colab edition.** Numbers in the text are those of the published book, built on the synthetic "
    "mini-AMOS set; the cells print the values of your own run."
)
_OPEN = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|:{3,})\{(?P<name>[\w:-]+)\}\s*(?P<arg>.*)$")
_CODE_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})(?P<info>[^`{]*)$")
_OPTION = re.compile(r"^\s*:[\w-]+:.*$")
_LABEL = re.compile(r"^\([\w:.-]+\)=\s*$")
_ADMONITIONS = {"note", "tip", "warning", "important", "caution", "attention", "danger", "error", "hint", "seealso"}
#: Leftovers that plain Markdown would show raw (used by the tests and by :func:`leftover_myst`).
_LEFTOVER = (
    re.compile(r"\{[\w:-]+\}`"),
    re.compile(r"^\s*(?::{3,}|`{3,})\{", re.M),
    re.compile(r"^\([\w:.-]+\)=\s*$", re.M),
)


def leftover_myst(markdown: str) -> list[str]:
    """MyST roles, directives and targets left in ``markdown`` outside code (empty: plain Markdown)."""
    text = _strip_code(markdown)
    return [m.group(0) for pattern in _LEFTOVER for m in pattern.finditer(text)]


def _strip_code(markdown: str) -> str:
    """``markdown`` without fenced code blocks and code spans (where MyST-looking text is literal)."""
    out, fence = [], None
    for line in markdown.splitlines():
        m = _CODE_FENCE.match(line)
        if fence is None and m and not _OPEN.match(line):
            fence = m.group("fence")
            continue
        if fence is not None:
            if line.strip().startswith(fence[0] * len(fence)) and not line.strip().strip(fence[0]):
                fence = None
            continue
        out.append(_drop_spans(line))
    return "\n".join(out)


def _drop_spans(line: str) -> str:
    return map_roles(line, lambda name, content: None, spans=False)


class Converter:
    """Turns one chapter's MyST Markdown into plain Markdown.

    Args:
        chapter: The chapter's name (for error messages and relative links).
        glue: Its glued values (:func:`~amos_tutorial.publish.glue.glue_values`).
        cite: ``(keys, textual) -> str`` for ``{cite}`` roles.
        link: ``target -> (url, title)`` for ``{doc}`` roles.
        references: The Markdown list that replaces ``{bibliography}``.
    """

    def __init__(
        self,
        chapter: str,
        glue: dict[str, dict[str, str]],
        cite: Callable[[list[str], bool], str],
        link: Callable[[str], tuple[str, str]],
        references: str = "",
    ):
        self.chapter, self.glue, self.cite, self.link, self.references = chapter, glue, cite, link, references

    def convert(self, markdown: str) -> str:
        """The plain-Markdown version of one Markdown cell."""
        return "\n".join(self._block(markdown.splitlines())).strip("\n")

    def _block(self, lines: list[str]) -> list[str]:
        out: list[str] = []
        i = 0
        while i < len(lines):
            line = lines[i]
            opening, code = _OPEN.match(line), _CODE_FENCE.match(line)
            if opening:
                end = self._closing(lines, i + 1, opening.group("fence"))
                body = lines[i + 1:end]
                while body and _OPTION.match(body[0]):
                    body = body[1:]
                out += self._directive(opening.group("name"), self._roles(opening.group("arg").strip()), body)
                i = end + 1
            elif code:
                end = self._closing(lines, i + 1, code.group("fence"))
                out += lines[i:end + 1]
                i = end + 1
            elif _LABEL.match(line) or line.startswith("% ") or line.strip() == "+++":
                i += 1
            else:
                out.append(self._roles(line))
                i += 1
        return out

    def _closing(self, lines: list[str], start: int, fence: str) -> int:
        for j in range(start, len(lines)):
            stripped = lines[j].strip()
            if stripped and set(stripped) == {fence[0]} and len(stripped) >= len(fence):
                return j
        raise ValueError(f"{self.chapter}: a {fence} block is never closed")

    def _directive(self, name: str, arg: str, body: list[str]) -> list[str]:
        inner = self._block(body)
        if name == "admonition" or name in _ADMONITIONS:
            title = arg if name == "admonition" else name.capitalize() + (f": {arg}" if arg else "")
            quoted = [f"> {line}" if line.strip() else ">" for line in inner]
            return [f"> **{title}**", ">", *quoted, ""]
        if name == "exercise":
            return [f"**Exercise{': ' + arg if arg else ''}**", "", *inner, ""]
        if name == "solution":
            return ["<details>", "<summary>Solution</summary>", "", *inner, "", "</details>", ""]
        if name == "bibliography":
            return [self.references, ""]
        if name in {"code-block", "code", "code-cell"}:
            return [f"```{arg}", *body, "```", ""]
        if name == "math":
            return ["$$", *body, "$$", ""]
        raise ValueError(f"{self.chapter}: the MyST directive {{{name}}} has no plain-Markdown form yet "
                         "(add it to amos_tutorial.publish.colab)")

    def _roles(self, text: str) -> str:
        return map_roles(text, self._role)

    def _role(self, name: str, content: str) -> str:
        if name in GLUE_ROLES:
            return glued_text(name, content, self.glue, self.chapter)
        if name in {"cite", "cite:p", "cite:t"}:
            return self.cite([k.strip() for k in content.split(",") if k.strip()], name == "cite:t")
        if name == "doc":
            explicit = re.fullmatch(r"(?P<text>.*?)\s*<(?P<target>[^>]+)>", content)
            url, title = self.link(explicit.group("target") if explicit else content)
            return f"[{explicit.group('text') if explicit else title}]({url})"
        if name in {"ref", "numref", "term", "abbr"}:
            explicit = re.fullmatch(r"(?P<text>.*?)\s*<(?P<target>[^>]+)>", content)
            return explicit.group("text") if explicit else content
        if name == "math":
            return f"${content}$"
        raise ValueError(f"{self.chapter}: the MyST role {{{name}}} has no plain-Markdown form yet "
                         "(add it to amos_tutorial.publish.colab)")


def _bibliography(path: Path) -> dict[str, dict[str, str]]:
    try:
        from pybtex.database import parse_file
    except ImportError:  # pragma: no cover - the book extra installs it
        raise ImportError("amos book colab needs pybtex (installed with the book: pip install 'amos_tutorial[book]')")
    entries = {}
    for key, entry in parse_file(str(path)).entries.items():
        people = entry.persons.get("author", [])
        last = [" ".join(p.last_names).replace("{", "").replace("}", "") for p in people]
        others = any(p.last_names == ["others"] for p in people)
        names = [n for n in last if n != "others"]
        short = names[0] + (" et al." if len(names) > 2 or others else f" and {names[1]}" if len(names) == 2 else "")
        fields = {k: v.replace("{", "").replace("}", "") for k, v in entry.fields.items()}
        where = fields.get("journal") or fields.get("booktitle") or (f"arXiv:{fields['eprint']}" if "eprint" in fields else "")
        url = fields.get("url") or (f"https://doi.org/{fields['doi']}" if "doi" in fields else "")
        full = ", ".join(names) + (" et al." if others else "")
        entries[key] = {
            "short": short,
            "year": fields.get("year", "n.d."),
            "line": f"{full} ({fields.get('year', 'n.d.')}). {fields.get('title', key)}. {where}".rstrip(". ") + "."
            + (f" <{url}>" if url else ""),
        }
    return entries


def _title(path: Path) -> str:
    import nbformat

    if path.suffix == ".ipynb":
        first = nbformat.read(path, as_version=4).cells[0].source
    else:
        first = path.read_text(encoding="utf-8")
    found = re.search(r"^#\s+(.+)$", first, re.M)
    return found.group(1).strip() if found else path.stem


def to_commonmark(markdown: str, chapter: str = "chapter", glue: dict | None = None) -> str:
    """Convert one Markdown string with the book's defaults (no bibliography, links by name only).

    A convenience for tests and quick looks; :func:`write_colab_edition` converts whole chapters.
    """
    converter = Converter(chapter, glue or {}, lambda keys, textual: ", ".join(keys), lambda target: (target, target))
    return converter.convert(markdown)


def write_colab_edition(
    out: str | Path, executed: str | Path, book: str | Path | None = None, branch: str | None = None
) -> list[Path]:
    """Write the Colab edition of every chapter into ``out/book`` (and ``out/book/_static`` for the badges).

    Args:
        out: Output folder; the chapters land in ``out/book/<chapter>.ipynb``, where the badges expect them.
        executed: Folder of the executed chapters (``<chapter>.ipynb``, directly or under ``book/``), whose glued
            values replace the ``{glue}`` roles.
        book: The book folder (default: this checkout's ``book/``), or a student edition's.
        branch: The branch this edition is published on, which links between chapters open (default: the
            Colab edition's, :data:`amos_tutorial._meta.COLAB_BRANCH`; the student edition's is
            :data:`amos_tutorial._meta.STUDENT_BRANCH`).

    Returns:
        The written notebooks.

    Raises:
        FileNotFoundError: If the book, an executed chapter or the bibliography is missing (naming it).
        ValueError: If a chapter holds MyST this module cannot convert, or a glued value is missing.
    """
    import nbformat

    from amos_tutorial._meta import BRANCH, REPOSITORY_URL
    from amos_tutorial.exercises.editions import default_book_dir
    from amos_tutorial.notebook import colab_url
    from amos_tutorial.utils.io import atomic_write_text

    book = Path(book) if book is not None else default_book_dir()
    executed = Path(executed)
    chapters = sorted(book.glob("*.ipynb"))
    if not chapters:
        raise FileNotFoundError(f"{book}: no chapter (*.ipynb) here")
    bib_path = book / "references.bib"
    if not bib_path.is_file():
        raise FileNotFoundError(f"{bib_path}: the bibliography is missing")
    bib = _bibliography(bib_path)

    def cite(keys: list[str], textual: bool) -> str:
        missing = [k for k in keys if k not in bib]
        if missing:
            raise ValueError(f"{bib_path}: no entry {', '.join(missing)}")
        if textual:
            return "; ".join(f"{bib[k]['short']} ({bib[k]['year']})" for k in keys)
        return "(" + "; ".join(f"{bib[k]['short']}, {bib[k]['year']}" for k in keys) + ")"

    def link(target: str) -> tuple[str, str]:
        page = (book / target.removeprefix("/").removeprefix("book/")).resolve()
        for suffix in (".ipynb", ".md"):
            path = page.with_suffix(suffix)
            if path.is_file():
                if suffix == ".ipynb":
                    return colab_url(path.stem, branch=branch), _title(path)
                rel = path.relative_to(book.resolve().parent)
                return f"{REPOSITORY_URL}/blob/{BRANCH}/{rel.as_posix()}", _title(path)
        raise FileNotFoundError(f"{book}: no page {target!r} (from a {{doc}} role)")

    references = "\n".join(f"- {bib[k]['line']}" for k in sorted(bib, key=lambda k: (bib[k]["short"], bib[k]["year"])))
    out_book = Path(out) / "book"
    out_book.mkdir(parents=True, exist_ok=True)
    if (book / "_static").is_dir():
        shutil.copytree(book / "_static", out_book / "_static", dirs_exist_ok=True)
    written = []
    for path in chapters:
        converter = Converter(path.stem, executed_glue(executed, path.name), cite, link, references)
        nb = nbformat.read(path, as_version=4)
        cells = []
        for index, cell in enumerate(nb.cells):
            cell = copy.deepcopy(cell)
            if cell.cell_type == "markdown":
                cell.source = converter.convert(cell.source)
            cells.append(cell)
            if index == 0:
                cells.append(nbformat.v4.new_markdown_cell(COLAB_NOTE))
            caption = cell.get("metadata", {}).get("mystnb", {}).get("figure", {}).get("caption")
            if caption:
                cells.append(nbformat.v4.new_markdown_cell(f"*Figure: {converter.convert(str(caption)).strip()}*"))
        nb.cells = cells
        written.append(atomic_write_text(out_book / path.name, nbformat.writes(nb) + "\n"))
    return written
