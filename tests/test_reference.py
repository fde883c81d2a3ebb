"""The published AMOS reference table: every number has a source, the values match the cited tables, own rows
are always labelled, and nothing from the AMOS paper's per-baseline tables sneaks in."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from conftest import REPO_ROOT

from amos_tutorial.evaluation import reference as R


def test_values_as_published():
    df = R.published_results()
    dice = dict(zip(zip(df.model, df.task), df.dice))
    # The winners' 5-fold CV Dice (arXiv 2208.10791).
    assert dice[("DKFZ winning entry (extended nnU-Net)", "Task 1 (CT)")] == 90.13
    assert dice[("DKFZ winning entry (extended nnU-Net)", "Task 2 (CT+MRI)")] == 89.06
    # nnU-Net Revisited, 5-fold CV on the 360 labelled cases (a few rows of the table, with VRAM and run time).
    revisited = df[df.source == R.SOURCES["nnunet_revisited"].short].set_index("model")
    assert len(revisited) == 19
    assert revisited.loc["MONAI Auto3DSeg DiNTS", ["dice", "vram_gb", "runtime_h"]].tolist() == [82.35, 29.2, 16]
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
    assert df.citation.str.contains("https://").all()


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


# --- the winners per organ, Primus, STU-Net, VISTA3D, and the protocol rule -------------------------------


def test_winners_per_organ_average_to_the_published_means():
    organs = R.winners_per_organ()
    published = R.published_results(source="amos_winner").set_index("task")["dice"]
    assert organs.groupby("task").size().tolist() == [15, 15]
    means = organs.groupby("task")["dice"].mean().round(2)
    assert means["Task 1 (CT)"] == published["Task 1 (CT)"] == 90.13
    assert means["Task 2 (CT+MRI)"] == published["Task 2 (CT+MRI)"] == 89.06
    assert set(organs["protocol"]) == {published_protocol for published_protocol in
                                       R.published_results(source="amos_winner")["protocol"]}


def test_winners_per_organ_rules_and_volumes_as_in_the_scripts():
    organs = R.winners_per_organ().set_index(["task", "organ"])
    t1, t2 = "Task 1 (CT)", "Task 2 (CT+MRI)"
    assert round(organs.loc[(t1, "adrenal_gland_right"), "dice"], 2) == 79.69
    assert round(organs.loc[(t2, "adrenal_gland_right"), "dice"], 2) == 77.0
    raw = organs[organs["postprocessing"] == "none (raw)"].reset_index()
    assert raw.groupby("task").size().tolist() == [4, 5]
    assert set(raw[raw.task == t1].organ) == {"pancreas", "adrenal_gland_right", "duodenum", "prostate_uterus"}
    assert organs.loc[(t1, "spleen"), "rate"] == 0.75
    assert organs.loc[(t1, "liver"), "postprocessing"] == "largest component"
    # the left/right fix runs for groups holding a kidney or an adrenal: the 0.10 group and the largest-region group
    fixed = organs[organs["lr_fix"]].reset_index()
    assert set(fixed.task) == {t1}
    assert set(fixed.organ) == {"kidney_right", "inferior_vena_cava", "urinary_bladder", "kidney_left", "liver",
                                "adrenal_gland_left"}
    assert "keeps the largest" in organs.loc[(t2, "aorta"), "postprocessing"]
    assert organs.loc[(t1, "stomach"), "min_volume_mm3"] == pytest.approx(30.576, abs=1e-3)
    assert organs.loc[(t1, "liver"), "min_volume_mm3"] == pytest.approx(653406.18, abs=1e-2)
    assert len(R.winners_per_organ(task="task 2")) == 15
    with pytest.raises(ValueError, match="no per-organ result"):
        R.winners_per_organ(task="Task 3")


def test_primus_stunet_and_vista_rows_as_their_tables_print_them():
    primus = R.published_results(source="primus").set_index("model")["dice"]
    assert primus.to_dict() == {"nnU-Net": 88.61, "ResEnc-L": 89.39, "MedNeXt-L": 89.58, "CoTr": 87.93,
                                "Primus-M": 88.18, "PrimusV2-M": 89.35, "PrimusV3-S": 89.29}
    stunet = R.published_by_modality(source="stunet").pivot(index="model", columns="modality", values="dice")
    assert stunet.loc["nnU-Net", ["AMOS-CT", "AMOS-MR", "AMOS (CT+MR)"]].tolist() == [89.98, 87.39, 89.48]
    assert stunet.loc["STU-Net-H (pre-trained, fine-tuned)", ["AMOS-CT", "AMOS-MR"]].tolist() == [91.16, 87.98]
    vista = R.published_by_modality(source="vista3d")
    split60 = vista[vista.protocol.str.contains("60 CT cases")].set_index("model")["dice"]
    assert split60.to_dict() == {"VISTA3D (automatic)": 84.1, "VISTA3D (automatic + point prompts)": 85.6,
                                 "nnU-Net": 85.4, "MONAI Auto3DSeg": 85.4, "TotalSegmentator": 82.4}
    mr = vista[vista.modality == "AMOS-MR"].set_index("model")["dice"]
    assert mr.to_dict() == {"VISTA3D-CTMR": 83.27, "TotalSegmentator MRI": 76.47}
    with pytest.raises(ValueError, match="no per-modality rows"):
        R.published_by_modality(source="primus")


def test_only_rows_of_one_protocol_are_compared():
    revisited = R.published_results(source="nnunet_revisited")
    assert R.require_same_protocol(revisited) == R.PROTOCOLS["revisited"]
    assert R.dice_difference(revisited, "nnU-Net ResEnc L", "nnU-Net (original)") == 0.77
    assert R.dice_difference(revisited, "nnU-Net ResEnc M", "nnU-Net (original)") == 0.13
    mixed = R.published_results()
    with pytest.raises(ValueError, match="different protocols are not comparable"):
        R.require_same_protocol(mixed)
    both = mixed[mixed.model.isin(["nnU-Net", "nnU-Net (original)"])]
    with pytest.raises(ValueError, match="different protocols are not comparable"):
        R.dice_difference(both, "nnU-Net", "nnU-Net (original)")
    by_modality = R.published_by_modality()
    with pytest.raises(ValueError, match="different protocols"):
        R.require_same_protocol(by_modality[by_modality.model == "nnU-Net"])
    with pytest.raises(ValueError, match="exactly once"):
        R.dice_difference(revisited, "nnU-Net ResEnc XXL", "nnU-Net (original)")
    with pytest.raises(ValueError, match="no 'protocol' column"):
        R.require_same_protocol(revisited.drop(columns="protocol"))
    with pytest.raises(ValueError, match="empty"):
        R.require_same_protocol(revisited.iloc[:0])
    # every protocol of a row is one of the named protocols
    protocols = set(R.PROTOCOLS.values())
    assert {r.protocol for r in R.PUBLISHED_RESULTS + R.MODALITY_RESULTS} <= protocols


def test_published_number_texts_hold_every_dice_as_prose_would_type_it():
    figures = R.published_number_texts()
    for typed in ("90.13", "89.06", "88.64", "89.41", "88.6", "0.797", "22.7", "85.6", "83.27"):
        assert typed in figures, typed


# --- prose numbers: a published number on a page comes from the table, never typed ----------------------

_DECIMAL = re.compile(r"(?<![\d.])\d+\.\d+(?![\d.]*\d)")


def _typed_published_numbers(cells) -> list[str]:
    """``(cell index, number)`` of every decimal in Markdown cells (exercises and solutions included) that equals a
    published figure."""
    figures = R.published_number_texts()
    found = []
    for index, cell in enumerate(cells):
        text = "".join(cell["source"])
        if cell["cell_type"] != "markdown":
            continue
        text = re.sub(r"\{glue:(?:text|md)\}`[^`]*`", "", text)
        found += [f"cell {index}: {n}" for n in _DECIMAL.findall(text) if n in figures]
    return found


def test_no_published_number_is_typed_in_a_chapter():
    import json

    typed = {}
    for chapter in sorted((REPO_ROOT / "book").glob("*.ipynb")):
        found = _typed_published_numbers(json.loads(chapter.read_text(encoding="utf-8"))["cells"])
        if found:
            typed[chapter.name] = found
    assert not typed, f"glue these from amos_tutorial.evaluation.reference instead of typing them: {typed}"


def test_the_prose_number_check_sees_a_typed_number():
    cells = [{"cell_type": "markdown", "source": ["ResEnc L reaches 89.41, the winners 90.13"], "metadata": {}},
             {"cell_type": "markdown", "source": ["glued: {glue:text}`x` and 12.5 s"], "metadata": {}},
             {"cell_type": "code", "source": ["print(90.13)"], "metadata": {}},
             {"cell_type": "markdown", "source": ["```{exercise} Compare\nIs 88.64 below 90.13?\n```"], "metadata": {}},
             {"cell_type": "markdown", "source": ["<details>Solution: 89.06</details>"],
              "metadata": {"tags": ["solution"]}}]
    assert _typed_published_numbers(cells) == ["cell 0: 89.41", "cell 0: 90.13", "cell 3: 88.64", "cell 3: 90.13",
                                               "cell 4: 89.06"]


def test_the_model_registry_quotes_the_same_published_numbers():
    pytest.importorskip("dynamic_network_architectures")
    from amos_tutorial.models import get_model_spec

    revisited = R.published_results(source="nnunet_revisited").set_index("model")
    for name, model in (("cotr", "CoTr"), ("nnformer", "nnFormer")):
        pub = get_model_spec(name).extra["published"]
        assert pub["amos_dice_nnunet_revisited"] == revisited.loc[model, "dice"]
        assert pub["amos_train_vram_gb_nnunet_revisited"] == revisited.loc[model, "vram_gb"]
    pub = get_model_spec("resenc").extra["published"]
    rows = revisited.loc[["nnU-Net ResEnc M", "nnU-Net ResEnc L"]]
    assert pub["amos_dice_nnunet_revisited_M_L"] == " / ".join(f"{v:.2f}" for v in rows["dice"])
    assert pub["amos_train_vram_gb_nnunet_revisited_M_L"] == " / ".join(f"{v:.1f}" for v in rows["vram_gb"])
    assert pub["amos_train_hours_a100_nnunet_revisited_M_L"] == " / ".join(f"{v:.0f}" for v in rows["runtime_h"])
