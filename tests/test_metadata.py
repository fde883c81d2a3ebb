"""Cells of the AMOS metadata CSV read as the release writes them (the CSV joined to cases: test_layout.py)."""

from __future__ import annotations

import pytest

from amos_tutorial.data.metadata import modality_from_scanner, parse_age


@pytest.mark.parametrize(
    "age, years",
    [("061Y", 61), ("018M", 1), ("010W", 0), ("400D", 1), (45, 45), ("", None), ("n/a", None), (None, None)],
)
def test_parse_age(age, years):
    assert parse_age(age) == years


def test_modality_from_scanner_ignores_case_and_spacing():
    assert modality_from_scanner("Aquilion ONE") == "CT"
    assert modality_from_scanner("signa  hde") == "MRI"
    assert modality_from_scanner("no such scanner") is None
    assert modality_from_scanner(float("nan")) is None
