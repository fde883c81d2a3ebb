"""The published AMOS reference table: every number has a source, the values match the cited tables, own rows
are always labelled, and nothing from the AMOS paper's per-baseline tables sneaks in."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from conftest import REPO_ROOT

from amos_tutorial.evaluation import reference as R


def test_every_row_names_a_known_source_with_a_bib_entry():
    bib = (REPO_ROOT / "book" / "references.bib").read_text(encoding="utf-8")
    keys = set(re.findall(r"@\w+\{([^,]+),", bib))
    assert R.PUBLISHED_RESULTS
    for row in R.PUBLISHED_RESULTS:
        assert row.source in R.SOURCES, row
        assert 0 < row.dice <= 100
    for source in R.SOURCES.values():
        assert source.bibkey in keys, f"{source.bibkey} is not in book/references.bib"
        assert source.url.startswith("https://")
        assert source.short
        assert source.citation


def test_values_as_published():
    df = R.published_results()
    dice = dict(zip(zip(df.model, df.task), df.dice))
    # The winners' 5-fold CV Dice (arXiv 2208.10791).
    assert dice[("DKFZ winning entry (extended nnU-Net)", "Task 1 (CT)")] == 90.13
    assert dice[("DKFZ winning entry (extended nnU-Net)", "Task 2 (CT+MRI)")] == 89.06
    # nnU-Net Revisited, 5-fold CV on the 360 labelled cases (a few rows of the table, with VRAM and run time).
    revisited = df[df.source == R.SOURCES["nnunet_revisited"].short].set_index("model")
    assert len(revisited) == 16
    assert revisited.loc["nnU-Net (original)", ["dice", "vram_gb", "runtime_h"]].tolist() == [88.64, 7.7, 9]
    assert revisited.loc["nnFormer", "dice"] == 81.55
    assert revisited.loc["MedNeXt L k5", "runtime_h"] == 233
    assert revisited.loc["U-Mamba Enc", "vram_gb"] == 24.9
    assert (revisited.hardware == "1x A100 40 GB").all()
    assert revisited.protocol.str.contains("360 labelled").all()


def test_no_amos_paper_baseline_numbers_and_the_note_says_so():
    df = R.published_results()
    assert "ji2022amos" not in {s.bibkey for s in R.SOURCES.values()}
    assert "not reproduced" in R.NOT_REPRODUCED
    assert "NSD" in R.NOT_REPRODUCED
    assert df.attrs["note"] == R.NOT_REPRODUCED
    assert list(df.columns) == list(R.REFERENCE_COLUMNS)
    assert (df.kind == "published").all()
    assert df.citation.str.contains("https://arxiv.org/abs/").all()


def test_filters():
    assert len(R.published_results(source="amos_winner")) == 2
    assert R.published_results(task="task 1").model.tolist() == ["DKFZ winning entry (extended nnU-Net)"]
    with pytest.raises(ValueError, match="unknown source"):
        R.published_results(source="leaderboard")
    with pytest.raises(ValueError, match="no published result for task"):
        R.published_results(task="Task 3")


def test_own_rows_come_first_labelled_and_in_percent():
    label = "this book: SMOKE run on synthetic data, NOT AMOS"
    table = R.compare_with_published({"unet": 0.1234, "nnunet": 0.5}, label=label, protocol="4 cases")
    own = table[table.kind == label]
    assert own.index.tolist() == [0, 1]
    assert own.dice.tolist() == [12.34, 50.0]
    assert (own.source == "this book").all()
    assert (own.protocol == "4 cases").all()
    assert len(table) == 2 + len(R.PUBLISHED_RESULTS)
    assert table.attrs["note"] == R.NOT_REPRODUCED
    # Percent input is kept as is; NaN (a model that scored nothing) stays NaN.
    table = R.compare_with_published({"a": 88.0, "b": math.nan}, label="mine")
    assert table.dice.iloc[0] == 88.0
    assert math.isnan(table.dice.iloc[1])
    assert R.compare_with_published({"a": 0.9}, label="mine", percent=True).dice.iloc[0] == 0.9


@pytest.mark.parametrize(
    "own, label, percent, match",
    [
        ({"a": 0.5}, "  ", None, "label must say"),
        ({}, "mine", None, "own is empty"),
        ({"a": "high"}, "mine", None, "must be a number"),
        ({"a": -0.1}, "mine", None, "finite number >= 0"),
        ({"a": math.inf}, "mine", None, "finite number >= 0"),
        ({"a": 120.0}, "mine", None, "exceed 100"),
        ({"a": 1.5}, "mine", False, "exceed 1"),
    ],
)
def test_bad_own_values_are_refused(own, label, percent, match):
    with pytest.raises(ValueError, match=match):
        R.compare_with_published(own, label=label, percent=percent)


def test_module_is_standalone():
    # Users do not have the project's fact sheets: the module must not read any file.
    source = Path(R.__file__).read_text(encoding="utf-8")
    assert "open(" not in source
    assert "read_text" not in source
