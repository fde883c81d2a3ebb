"""The published rows as data: every row and source is complete and cited in the book's bibliography."""

from __future__ import annotations

import re

from conftest import REPO_ROOT

from amos_tutorial.evaluation import published as P


def test_every_row_names_a_known_source_with_a_bib_entry():
    bib = (REPO_ROOT / "book" / "references.bib").read_text(encoding="utf-8")
    keys = set(re.findall(r"@\w+\{([^,]+),", bib))
    assert P.PUBLISHED_RESULTS
    for row in P.PUBLISHED_RESULTS:
        assert row.source in P.SOURCES, row
        assert 0 < row.dice <= 100
    for source in P.SOURCES.values():
        assert source.bibkey in keys, f"{source.bibkey} is not in book/references.bib"
        assert source.url.startswith("https://")
        assert source.short
        assert source.citation
    for row in P.MODALITY_RESULTS:
        assert row.source in P.SOURCES, row
    assert {row.task for row in P.WINNERS_PER_ORGAN} == {"Task 1 (CT)", "Task 2 (CT+MRI)"}
