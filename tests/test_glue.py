"""Glued numbers: read from an executed chapter, put into the prose of the editions that are not executed."""

from __future__ import annotations

import nbformat
import pytest

from amos_tutorial.publish.glue import executed_glue, glue_values, substitute_glue


def test_substitute_glue_replaces_only_glue_roles_outside_code():
    glue = {"dice": {"text/plain": "0.91345"}, "box": {"text/plain": "'x'", "text/markdown": "**5 s**"}}
    text = "Dice {glue:text}`dice:.3f` ({glue}`dice`), box {glue:md}`box`; {cite}`ref` and `{glue}`dice`` stay"
    assert substitute_glue(text, glue) == "Dice 0.913 (0.91345), box **5 s**; {cite}`ref` and `{glue}`dice`` stay"
    with pytest.raises(ValueError, match="intro: no glued value 'nope' in the executed chapter"):
        substitute_glue("{glue:text}`nope`", glue, "intro")


def test_executed_glue_reads_the_scrapbook_outputs_of_the_executed_chapter(tmp_path):
    nb = nbformat.v4.new_notebook()
    output = nbformat.v4.new_output(
        "display_data", data={"application/papermill.record/text/plain": "0.5"},
        metadata={"scrapbook": {"name": "dice", "mime_prefix": "application/papermill.record/"}},
    )
    nb.cells = [nbformat.v4.new_code_cell("glue('dice', 0.5)", outputs=[output])]
    (tmp_path / "book").mkdir()
    nbformat.write(nb, tmp_path / "book" / "intro.ipynb")
    assert executed_glue(tmp_path, "intro.ipynb") == glue_values(nb) == {"dice": {"text/plain": "0.5"}}
    assert substitute_glue("{glue:text}`dice:.2f`", executed_glue(tmp_path / "book", "intro.ipynb")) == "0.50"
    with pytest.raises(FileNotFoundError, match="no executed copy of winners.ipynb"):
        executed_glue(tmp_path, "winners.ipynb")


def test_executed_glue_reads_myst_nbs_record_beside_the_executed_chapter(tmp_path):
    # What scripts/build_book.sh leaves: myst-nb moves the glued outputs into <chapter>.glue.json.
    import json

    nbformat.write(nbformat.v4.new_notebook(), tmp_path / "intro.ipynb")
    output = {"output_type": "display_data", "data": {"text/plain": "'90.13'"},
              "metadata": {"scrapbook": {"name": "dice", "mime_prefix": "application/papermill.record/"}}}
    (tmp_path / "intro.glue.json").write_text(json.dumps({"dice": output}))
    assert executed_glue(tmp_path, "intro.ipynb") == {"dice": {"text/plain": "'90.13'"}}
    assert substitute_glue("Dice {glue:text}`dice`", executed_glue(tmp_path, "intro.ipynb")) == "Dice 90.13"
    (tmp_path / "intro.glue.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"intro.glue.json: not a record of glued values"):
        executed_glue(tmp_path, "intro.ipynb")


def test_glue_roles_inside_directives_are_replaced_and_code_blocks_are_left():
    glue = {"dice": {"text/plain": "0.91"}}
    text = "\n".join([
        "```{exercise}", "Dice {glue:text}`dice`", "````python", "x = '{glue:text}`dice`'", "````", "```",
        ":::{note}", "{glue}`dice`", ":::", "```", "{glue}`dice`", "```", "after {glue}`dice`",
    ])
    assert substitute_glue(text, glue).split("\n") == [
        "```{exercise}", "Dice 0.91", "````python", "x = '{glue:text}`dice`'", "````", "```",
        ":::{note}", "0.91", ":::", "```", "{glue}`dice`", "```", "after 0.91",
    ]
