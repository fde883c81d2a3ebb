"""The numbers a chapter's prose glues from its outputs, read from the executed chapter and put into the prose.

Introduced in chapter *Segmenting 15 abdominal organs: a hands-on AMOS 2022 book* (course kit). The book's
prose quotes computed numbers with myst-nb's glue roles (``{glue:text}`name```), which only a rendered,
executed book fills in. The editions that are not executed, the Colab edition (:mod:`.colab`) and the student
edition (:func:`amos_tutorial.exercises.editions.write_student_edition`), take the values from the book's
executed chapters (``scripts/build_book.sh`` leaves them in ``_build/executed``) with these functions.

Examples:
    >>> substitute_glue("Dice {glue:text}`dice:.2f`", {"dice": {"text/plain": "0.9134"}})
    'Dice 0.91'
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["GLUE_ROLES", "ROLE", "executed_glue", "glue_values", "glued_text", "map_roles", "substitute_glue"]

#: A MyST role in Markdown: ``{name}`content```.
ROLE = re.compile(r"\{(?P<name>[\w:-]+)\}`(?P<content>[^`]*)`")
#: The roles that show a glued value.
GLUE_ROLES = frozenset({"glue", "glue:text", "glue:md"})
_FENCE = re.compile(r"^\s*(?P<marker>`{3,}|~{3,}|:{3,})(?P<info>.*)$")
_CODE_DIRECTIVES = {"code", "code-block", "code-cell", "sourcecode"}


def glue_values(executed: Any) -> dict[str, dict[str, str]]:
    """The glued values of an executed chapter: ``{name: {mime type: text}}`` (myst-nb's ``scrapbook`` outputs)."""
    values: dict[str, dict[str, str]] = {}
    for cell in executed["cells"]:
        for output in cell.get("outputs", []) if cell["cell_type"] == "code" else []:
            record = output.get("metadata", {}).get("scrapbook", {})
            if record.get("name"):
                prefix = record.get("mime_prefix", "")
                values[record["name"]] = {k.removeprefix(prefix): "".join(v) if isinstance(v, list) else str(v)
                                          for k, v in output["data"].items()}
    return values


def _glue_record(path: Path) -> dict[str, dict[str, str]]:
    """myst-nb's record of a chapter's glued values (``<chapter>.glue.json`` beside its executed copy)."""
    import json

    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        values = {}
        for name, output in record.items():
            prefix = output.get("metadata", {}).get("scrapbook", {}).get("mime_prefix", "")
            values[name] = {k.removeprefix(prefix): "".join(v) if isinstance(v, list) else str(v)
                            for k, v in output["data"].items()}
    except (ValueError, UnicodeDecodeError, AttributeError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not a record of glued values ({exc})") from None
    return values


def executed_glue(executed: str | Path, name: str) -> dict[str, dict[str, str]]:
    """The glued values of chapter ``name`` (``"intro.ipynb"``) in the folder of executed chapters ``executed``.

    ``executed`` is what ``scripts/build_book.sh`` leaves in ``_build/executed`` (the chapters under ``book/``),
    or that ``book/`` folder itself, or any folder of chapters executed with their outputs. myst-nb moves the
    glued outputs of the chapters it executes into ``<chapter>.glue.json`` beside them; both are read.

    Raises:
        FileNotFoundError: ``"DIR: no executed copy of NAME"``.
        ValueError: ``"PATH: not a record of glued values"``.
    """
    import nbformat

    executed = Path(executed)
    done = next((p for p in (executed / name, executed / "book" / name) if p.is_file()), None)
    if done is None:
        raise FileNotFoundError(f"{executed}: no executed copy of {name} (build the book first: scripts/build_book.sh)")
    values = glue_values(nbformat.read(done, as_version=4))
    record = done.with_suffix(".glue.json")
    if record.is_file():
        values.update(_glue_record(record))
    return values


def glued_text(role: str, content: str, glue: dict[str, dict[str, str]], chapter: str = "chapter") -> str:
    """The text a ``{glue}``/``{glue:text}``/``{glue:md}`` role shows, from an executed chapter's :func:`glue_values`.

    ``{glue:text}`name:.3f``` formats the number with the spec after the colon, as myst-nb does.

    Raises:
        ValueError: ``"CHAPTER: no glued value ..."`` if the executed chapter did not glue ``name``.
    """
    key, _, spec = content.partition(":")
    if key not in glue:
        raise ValueError(f"{chapter}: no glued value {key!r} in the executed chapter (is it executed?)")
    data = glue[key]
    if role == "glue:md" and "text/markdown" in data:
        return data["text/markdown"].strip()
    text = data.get("text/plain", "").strip().strip("'\"")
    return format(float(text), spec) if spec else text


def map_roles(text: str, replace: Callable[[str, str], str | None], spans: bool = True) -> str:
    """``text`` with each MyST role outside code spans replaced by ``replace(name, content)`` (None: kept).

    Code spans are kept as they are (``spans=False`` drops them); a role inside one is literal text.

    Examples:
        >>> map_roles("{cite}`a` and `{cite}`b``", lambda name, content: content.upper())
        'A and `{cite}`b``'
    """
    result, i = [], 0
    while i < len(text):
        role = ROLE.match(text, i) if text[i] == "{" else None
        if role:
            new = replace(role.group("name"), role.group("content"))
            result.append(role.group(0) if new is None else new)
            i = role.end()
        elif text[i] == "`":
            ticks = len(text[i:]) - len(text[i:].lstrip("`"))
            end = text.find("`" * ticks, i + ticks)
            stop = len(text) if end < 0 else end + ticks
            if spans:
                result.append(text[i:stop])
            i = stop
        else:
            result.append(text[i])
            i += 1
    return "".join(result)


def substitute_glue(markdown: str, glue: dict[str, dict[str, str]], chapter: str = "chapter") -> str:
    """``markdown`` with every glue role replaced by its value (other MyST, and code, left as they are).

    Roles inside directives (```` ```{exercise} ````, ``:::{note}``) are replaced too; code blocks and code
    spans are literal text.

    Examples:
        >>> substitute_glue("Dice {glue:text}`dice:.2f`, `{glue}` stays", {"dice": {"text/plain": "0.9134"}})
        'Dice 0.91, `{glue}` stays'
    """

    def glued(name: str, content: str) -> str | None:
        return glued_text(name, content, glue, chapter) if name in GLUE_ROLES else None

    out, fences = [], []  # the open fences: (marker, whether its body is code)
    for line in markdown.split("\n"):
        fence = _FENCE.match(line)
        if fence and fences and _closes(fence, fences[-1][0]):
            fences.pop()
        elif fence and not (fences and fences[-1][1]):
            info = fence.group("info").strip()
            name = info[1 : info.find("}")] if info.startswith("{") and "}" in info else None
            code = fence.group("marker")[0] != ":" and (name is None or name in _CODE_DIRECTIVES)
            fences.append((fence.group("marker"), code))
        elif not (fences and fences[-1][1]):
            line = map_roles(line, glued)
        out.append(line)
    return "\n".join(out)


def _closes(fence: re.Match, marker: str) -> bool:
    """Whether the fence line ``fence`` closes a block opened with ``marker``."""
    found = fence.group("marker")
    return found[0] == marker[0] and len(found) >= len(marker) and not fence.group("info").strip()
