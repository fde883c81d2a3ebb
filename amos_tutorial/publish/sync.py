"""Keep the chapters and the configuration in step with :mod:`amos_tutorial._meta` (``amos book sync``).

Introduced in chapter *Segmenting 15 abdominal organs: a hands-on AMOS 2022 book* (course kit). What it rewrites:

* each chapter's Colab badge (:func:`amos_tutorial.notebook.colab_url`, the Colab edition's branch);
* each chapter's setup cell (:func:`amos_tutorial._meta.setup_cell_source`); an old-style setup cell
  (``try: import amos_tutorial`` / ``%pip install``) is replaced, the imports that followed it kept in a new
  cell of their own;
* every ``pip install "amos_tutorial..."`` line and every ``git clone`` of the repository in the chapters;
* ``repository.url`` and ``repository.branch`` in ``_config.yml`` and ``Homepage`` in ``pyproject.toml``.

Files are written atomically. A fork changes :data:`amos_tutorial._meta.REPOSITORY` and runs ``amos book sync``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

__all__ = ["setup_cell_index", "sync_chapter", "sync_repository"]

_BADGE = re.compile(r"\]\((https://colab\.research\.google\.com/github/[^)\s]+)\)")
_INSTALL = re.compile(r'(?P<cmd>%?pip install (?:-q )?)"amos_tutorial(?:\[(?P<extra>[\w,-]+)\])?[^"]*"')
_CLONE = re.compile(r"git clone https://github\.com/[\w.-]+/[\w.-]+?(?:\.git)?(?=[\s&;]|$)", re.M)
_LEGACY_SETUP = re.compile(r"\A(?:#[^\n]*\n)?try:\n\s+import amos_tutorial\nexcept ImportError:\n\s+%pip install[^\n]*\n?")


def _text(source: Any) -> str:
    return "".join(source) if isinstance(source, list) else str(source)


def setup_cell_index(nb: Any) -> int | None:
    """Index of the chapter's setup cell (current or old style), or None."""
    from amos_tutorial._meta import SETUP_MARKER

    for index, cell in enumerate(nb["cells"]):
        source = _text(cell["source"])
        if cell["cell_type"] == "code" and (source.startswith(SETUP_MARKER) or _LEGACY_SETUP.match(source)):
            return index
    return None


def _sync_setup(nb: Any, chapter: str) -> bool:
    import nbformat

    from amos_tutorial._meta import setup_cell_source

    index = setup_cell_index(nb)
    if index is None:
        return False
    cell = nb["cells"][index]
    source, wanted = _text(cell["source"]), setup_cell_source(chapter)
    legacy = _LEGACY_SETUP.match(source)
    if legacy:
        rest = source[legacy.end():].strip("\n")
        if rest:
            nb["cells"].insert(index + 1, nbformat.v4.new_code_cell(rest))
    if source == wanted:
        return False
    cell["source"] = wanted
    return True


def sync_chapter(nb: Any, chapter: str) -> bool:
    """Rewrite a chapter's badge, setup cell, install lines and clone lines from :mod:`amos_tutorial._meta`.

    Args:
        nb: The notebook (changed in place).
        chapter: Its name (``"nnunet"``).

    Returns:
        True if the notebook changed.
    """
    from amos_tutorial._meta import REPOSITORY_URL, install_spec
    from amos_tutorial.notebook import colab_url

    changed = _sync_setup(nb, chapter)
    for cell in nb["cells"]:
        source = _text(cell["source"])
        new = _BADGE.sub(f"]({colab_url(chapter)})", source) if cell["cell_type"] == "markdown" else source
        new = _INSTALL.sub(lambda m: f'{m.group("cmd")}"{install_spec((m.group("extra") or "").split(",") if m.group("extra") else None)}"', new)
        new = _CLONE.sub(f"git clone {REPOSITORY_URL}", new)
        if new != source:
            cell["source"], changed = new, True
    return changed


def _sync_text(path: Path, rules: list[tuple[re.Pattern, str]]) -> str | None:
    text = path.read_text(encoding="utf-8")
    new = text
    for pattern, replacement in rules:
        new = pattern.sub(replacement, new)
    return None if new == text else new


def sync_repository(root: str | Path, check: bool = False) -> list[str]:
    """Bring every chapter of ``root/book``, ``_config.yml`` and ``pyproject.toml`` in step with ``_meta``.

    Args:
        root: The repository (or a copy of its book: a folder with ``book/`` or the ``book/`` folder itself).
        check: Only report what is out of date; write nothing.

    Returns:
        The files that were (or, with ``check``, would be) rewritten, relative to ``root``.

    Raises:
        FileNotFoundError: If ``root`` holds no chapter.
        ValueError: If a chapter is not a readable notebook (naming the file).
    """
    import nbformat

    from amos_tutorial._meta import BRANCH, REPOSITORY_URL
    from amos_tutorial.utils.io import atomic_write_text

    root = Path(root)
    book = root / "book" if (root / "book").is_dir() else root
    chapters = sorted(book.glob("*.ipynb"))
    if not chapters:
        raise FileNotFoundError(f"{book}: no chapter (*.ipynb) here")
    stale: list[str] = []
    for path in chapters:
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception as exc:  # nbformat raises several types for a broken file
            raise ValueError(f"{path}: not a readable notebook ({type(exc).__name__}: {exc})") from None
        if sync_chapter(nb, path.stem):
            stale.append(str(path.relative_to(root)) if path.is_relative_to(root) else path.name)
            if not check:
                atomic_write_text(path, nbformat.writes(nb) + "\n")
    config_rules = {
        "_config.yml": [(re.compile(r"(?m)^(\s+url:\s*)https://github\.com/\S+$"), rf"\g<1>{REPOSITORY_URL}"),
                        (re.compile(r"(?m)^(repository:\n(?:.*\n)*?\s+branch:\s*)\S+$"), rf"\g<1>{BRANCH}")],
        "pyproject.toml": [(re.compile(r'(?m)^(Homepage\s*=\s*)"[^"]*"'), rf'\g<1>"{REPOSITORY_URL}"')],
    }
    for name, rules in config_rules.items():
        path = root / name
        if path.is_file():
            new = _sync_text(path, rules)
            if new is not None:
                stale.append(name)
                if not check:
                    atomic_write_text(path, new)
    return stale
