"""Case numbers and ids in every form the release and the metadata use, and the id rule of the modality."""

from __future__ import annotations

import pytest

from amos_tutorial.data.case_ids import case_id, case_number, modality_from_id


@pytest.mark.parametrize(
    "number, rule, expected",
    [(0, "readme", "CT"), (499, "readme", "CT"), (500, "readme", "MRI"), (500, "organisers", "CT"),
     (501, "organisers", "MRI"), ("amos_0599", "readme", "MRI")],
)
def test_modality_from_id(number, rule, expected):
    assert modality_from_id(number, rule) == expected


def test_modality_from_id_rejects_bad_input():
    with pytest.raises(ValueError, match="modality rule"):
        modality_from_id(1, "nnunet")
    with pytest.raises(ValueError, match="not an AMOS case id"):
        modality_from_id("liver")


@pytest.mark.parametrize("value", ["amos_0042", "amos_0042.nii.gz", "./imagesVa/amos_0042.nii.gz", "0042", 42])
def test_case_number_forms(value):
    assert case_number(value) == 42
    assert case_id(value) == "amos_0042"
