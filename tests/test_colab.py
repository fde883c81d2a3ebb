"""amos_tutorial.publish.colab: the Colab edition, plain Markdown that Colab's CommonMark renders as meant."""

from __future__ import annotations

import nbformat
import pytest
from conftest import CHAPTERS_GROUP, REPO_ROOT, executed_chapter, session_shared_dir, toc_notebooks

from amos_tutorial.publish.colab import COLAB_NOTE, leftover_myst, to_commonmark, write_colab_edition
from amos_tutorial.publish.glue import glue_values

GLUE = {"steps": {"text/plain": "400"}, "ratio": {"text/plain": "0.123456"}, "runtime": {"text/markdown": "8 s"}}


def test_admonition_becomes_a_quote_with_its_title():
    text = ":::{admonition} Learning goals\n:class: tip\n- one\n- two\n:::\nafter"
    assert to_commonmark(text) == "> **Learning goals**\n>\n> - one\n> - two\n\nafter"


def test_exercise_keeps_its_title_and_its_nested_code():
    text = "````{exercise} Build it\n:label: ex-x\nWrite `f`:\n```python\nx = {1: 2}\n```\n````"
    out = to_commonmark(text)
    assert out.startswith("**Exercise: Build it**\n\nWrite `f`:\n```python\nx = {1: 2}\n```")
    assert ":label:" not in out


def test_glued_values_and_format_specs():
    text = "Each model trains {glue:text}`steps` steps ({glue:text}`ratio:.2f`), {glue:md}`runtime` in all."
    assert to_commonmark(text, glue=GLUE) == "Each model trains 400 steps (0.12), 8 s in all."


def test_code_spans_and_code_blocks_are_left_alone():
    text = "Write ``{glue:text}`name` `` in MyST.\n\n```markdown\n:::{note}\n:::\n```"
    assert to_commonmark(text) == text
    assert leftover_myst(text) == []


def test_targets_dropped_and_unknown_constructs_named():
    assert to_commonmark("(sec-x)=\n## X") == "## X"
    with pytest.raises(ValueError, match="intro.*{footcite}"):
        to_commonmark("see {footcite}`x`", chapter="intro")
    with pytest.raises(ValueError, match="intro.*{mermaid}"):
        to_commonmark(":::{mermaid}\na\n:::", chapter="intro")
    with pytest.raises(ValueError, match="no glued value 'gone'"):
        to_commonmark("{glue:text}`gone`")


def test_leftovers_are_found():
    assert leftover_myst("a {cite}`x` b") == ["{cite}`"]
    assert leftover_myst(":::{note}\nx\n:::") == [":::{"]


def _render(markdown: str) -> str:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable("table").render(markdown)


@pytest.mark.slow
@pytest.mark.notebook
@pytest.mark.xdist_group(CHAPTERS_GROUP)
def test_the_colab_edition_is_plain_markdown(tmp_path, tmp_path_factory):
    shared = session_shared_dir(tmp_path_factory)
    chapters = [REPO_ROOT / f"{page}.ipynb" for page in toc_notebooks()]
    for path in chapters:
        executed_chapter(path, shared)
    written = write_colab_edition(tmp_path, executed=shared / "executed" / "book")
    assert sorted(p.name for p in written) == sorted(p.name for p in chapters)
    for path in written:
        nb = nbformat.read(path, as_version=4)
        assert nb.cells[1].source == COLAB_NOTE
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "markdown":
                continue
            where = f"{path.name} cell {index}"
            assert leftover_myst(cell.source) == [], where
            html = _render(cell.source)
            for raw in ("{glue", "{cite", "{doc", ":::", "{exercise}", "{admonition}"):
                assert raw not in _outside_code(html), where
    # Every value the prose glues exists in the executed chapter (a missing one would have raised above).
    intro = nbformat.read(shared / "executed" / "book" / "intro.ipynb", as_version=4)
    assert "chapter_runtime" in glue_values(intro)


def _outside_code(html: str) -> str:
    import re

    return re.sub(r"<code>.*?</code>|<pre>.*?</pre>", "", html, flags=re.S)

