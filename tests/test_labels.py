"""The label table must match the release's dataset.json exactly (typos included) and map by id."""

import re

import pytest

from amos_tutorial import labels


def test_sixteen_labels_in_id_order():
    assert labels.NUM_CLASSES == 16
    assert [lab.id for lab in labels.LABELS] == list(range(16))
    assert labels.ORGAN_IDS == tuple(range(1, 16))


def test_json_names_are_the_release_names_with_typos():
    expected = {
        "0": "background", "1": "spleen", "2": "right kidney", "3": "left kidney", "4": "gall bladder",
        "5": "esophagus", "6": "liver", "7": "stomach", "8": "arota", "9": "postcava", "10": "pancreas",
        "11": "right adrenal gland", "12": "left adrenal gland", "13": "duodenum", "14": "bladder",
        "15": "prostate/uterus",
    }
    assert labels.dataset_json_labels() == expected


def test_canonical_names_abbrevs_and_colours_are_unique_and_well_formed():
    for field in ("name", "abbrev", "color"):
        values = [getattr(lab, field) for lab in labels.LABELS]
        assert len(set(values)) == 16, field
    assert all(re.fullmatch(r"#[0-9a-f]{6}", lab.color) for lab in labels.LABELS)
    assert labels.label_by_id(9).name == "inferior_vena_cava"


@pytest.mark.parametrize("bad", [-1, 16, 99, "liver", None])
def test_unknown_ids_raise(bad):
    with pytest.raises(KeyError, match="0-15"):
        labels.label_by_id(bad)


def test_organ_names_and_colormap():
    assert labels.organ_names()[0] == "spleen"
    assert len(labels.organ_names()) == 15
    assert labels.organ_names("json_name", include_background=True)[8] == "arota"
    with pytest.raises(ValueError, match="style"):
        labels.organ_names("latin")
    cmap = labels.label_colormap()
    assert cmap.N == 16
    assert cmap(0)[3] == 0.0  # background transparent in overlays
    assert cmap(6)[3] == 1.0
