"""Copies of AMOS that are not the full release: the synthetic variants and the package functions chapters call.

Real copies often lack the metadata CSV (a separate download), keep one modality (Task 1 is CT only),
keep only the training split, or hold a handful of cases. ``amos data synth`` writes such variants;
these tests check the variants and that the functions the chapters call answer them without a
KeyError or a StopIteration. The chapters themselves run on a variant in ``test_chapter_variants.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from amos_tutorial.cli import main
from amos_tutorial.data import synthetic
from amos_tutorial.data.layout import METADATA_COLUMNS, METADATA_CSV_NAME, load_amos
from amos_tutorial.data.stats import tidy_metadata
from amos_tutorial.data.splits import HELD_OUT, VALIDATION_SPLIT, run_cases
from amos_tutorial.data.subsets import link_cases
from amos_tutorial.notebook import PageNote, page_note, skip_note

SHAPE = (32, 32, 16)


def _synth(parent: Path, name: str, n: int, **kwargs) -> Path:
    # A fresh parent folder: load_amos also looks for the metadata CSV beside the data.
    return synthetic.generate_synthetic_dataset(parent / name / "amos22", n_cases=n, max_shape=SHAPE, **kwargs)


@pytest.fixture(scope="module")
def ct_no_meta(tmp_path_factory) -> Path:
    return _synth(tmp_path_factory.mktemp("variants"), "ct", 6, modalities=("CT",), metadata=False)


@pytest.fixture(scope="module")
def mri_two(tmp_path_factory) -> Path:
    return _synth(tmp_path_factory.mktemp("variants"), "mri", 2, modalities="MRI", splits="training")


# --- amos data synth variants ---------------------------------------------------------------------------


def test_ct_only_without_metadata(ct_no_meta):
    ds = json.loads((ct_no_meta / "dataset.json").read_text())
    assert not (ct_no_meta / METADATA_CSV_NAME).exists()
    numbers = [int(e["image"][-11:-7]) for s in ("training", "validation", "test") for e in ds[s]]
    assert len(numbers) == 6
    assert all(n < 500 for n in numbers)
    assert (ds["numTraining"], ds["numValidation"], ds["numTest"]) == (3, 2, 1)
    readme = (ct_no_meta / "readme.md").read_text()
    assert "variant" in readme
    assert METADATA_CSV_NAME in readme
    assert "6 CT-like, 0 MRI-like" in readme


def test_mri_only_training_split(mri_two):
    ds = json.loads((mri_two / "dataset.json").read_text())
    assert (ds["numTraining"], ds["numValidation"], ds["numTest"]) == (2, 0, 0)
    assert all(501 <= int(e["image"][-11:-7]) <= 599 for e in ds["training"])
    assert sorted(p.name for p in mri_two.iterdir()) == sorted(
        ["dataset.json", "imagesTr", "labelsTr", "readme.md", METADATA_CSV_NAME]
    )
    assert len(list((mri_two / "labelsTr").glob("*.nii.gz"))) == 2


@pytest.mark.parametrize(
    "n, splits, expected",
    [(6, ("training",), (6, 0, 0)), (7, ("training", "validation"), (5, 2, 0)), (5, ("validation", "test"), (0, 3, 2)),
     (16, synthetic.SPLITS, (8, 4, 4)), (2, ("training", "test"), (1, 0, 1))],
)
def test_split_sizes_of_some_splits(n, splits, expected):
    assert synthetic.plan.split_sizes(n, splits) == expected


def test_default_options_plan_the_same_set():
    # The default set must not change: other chapters and tests depend on its seed-determined content.
    default = synthetic.plan.plan_cases(16, 0)
    explicit = synthetic.plan.plan_cases(16, 0, synthetic.MODALITIES, synthetic.SPLITS)
    assert default == explicit
    assert sum(p.modality == "MRI" for p in default) == 3


def test_variant_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match="modalities.*'PET'"):
        synthetic.generate_synthetic_dataset(tmp_path / "a", n_cases=2, modalities=("PET",))
    with pytest.raises(ValueError, match="splits"):
        synthetic.generate_synthetic_dataset(tmp_path / "b", n_cases=2, splits=())
    with pytest.raises(ValueError, match="1-99 for modalities MRI"):
        synthetic.generate_synthetic_dataset(tmp_path / "c", n_cases=100, modalities=("MRI",))
    assert not any(tmp_path.iterdir())


def test_cli_variant_options(tmp_path, capsys):
    out = tmp_path / "v" / "amos22"
    argv = ["data", "synth", str(out), "--cases", "3", "--modalities", "CT", "--splits", "training,validation",
            "--no-metadata", "--max-shape", ",".join(map(str, SHAPE)), "--no-progress"]
    assert main(argv) == 0
    assert "3 synthetic cases (2 training, 1 validation, 0 test)" in capsys.readouterr().out
    assert not (out / METADATA_CSV_NAME).exists()
    assert not (out / "imagesTs").exists()
    with pytest.raises(SystemExit) as exc:
        main(["data", "synth", str(tmp_path / "w"), "--modalities", "PET"])
    assert exc.value.code == 2
    assert "'PET': choose from CT, MRI" in capsys.readouterr().err


# --- the package functions the chapters call -----------------------------------------------------------


def test_labelled_by_modality_and_modalities(ct_no_meta, mri_two):
    ct, mri = load_amos(ct_no_meta), load_amos(mri_two)
    assert ct.labelled(modality="MRI") == []
    assert len(ct.labelled(modality="CT")) == 5
    assert ct.modalities() == ("CT",)
    assert mri.modalities() == ("MRI",)
    assert [c.modality for c in mri.labelled("MRI")] == ["MRI", "MRI"]
    with pytest.raises(ValueError, match="'PET'"):
        ct.labelled(modality="PET")


def test_metadata_columns_exist_without_a_csv(ct_no_meta, mri_two):
    ds = load_amos(ct_no_meta)
    frame = ds.to_frame()
    for column in METADATA_COLUMNS[1:]:
        assert column in frame.columns
        assert frame[column].isna().all()
    assert frame["age_years"].isna().all()
    note = ds.metadata_note()
    assert METADATA_CSV_NAME in note
    assert "unknown" in note
    assert str(ct_no_meta) in note
    meta = tidy_metadata(frame)
    assert meta.scanner.isna().all()
    assert len(meta) == 6
    assert load_amos(mri_two).metadata_note() is None


def test_held_out_cases_are_linked_as_a_validation_split(ct_no_meta, mri_two, tmp_path):
    held = run_cases(load_amos(ct_no_meta), val_cases=1)
    assert held.from_split
    assert held.source == VALIDATION_SPLIT
    assert [c.split for c in held.val] == ["validation"]
    ds = load_amos(mri_two)
    held = run_cases(ds, val_cases=2)  # 2 training cases: one is kept to train on
    assert not held.from_split
    assert held.source == HELD_OUT
    assert held.val == sorted(ds.labelled(), key=lambda c: c.number)[-1:]
    images, labels = link_cases(held.val, tmp_path / "eval")
    (images / "amos_9999.nii.gz").write_bytes(b"stale")
    images, labels = link_cases(held.val, tmp_path / "eval")
    assert [p.name for p in images.iterdir()] == [held.val[0].image.name]
    assert [p.name for p in labels.iterdir()] == [held.val[0].label.name]
    assert (labels / held.val[0].label.name).read_bytes() == held.val[0].label.read_bytes()


def test_page_notes():
    note = skip_note("the MRI case", "This copy has no labelled MRI case.")
    assert isinstance(note, PageNote)
    assert note._repr_markdown_() == "> **Skipped: the MRI case.** This copy has no labelled MRI case."
    assert str(page_note("Unknown.", title="Metadata")) == "Metadata. Unknown."
    with pytest.raises(ValueError, match="why"):
        skip_note("x", " ")


def test_modality_figure_with_one_modality():
    from matplotlib.figure import Figure

    from amos_tutorial.evaluation.compare import stack_results
    from amos_tutorial.viz import evaluation as ve

    rows = [
        {"case": case, "organ_id": organ, "organ": name, "modality": "CT", "dsc": dsc, "nsd": dsc / 2}
        for case, dsc in (("amos_0001", 0.9), ("amos_0002", 0.4)) for organ, name in ((1, "spleen"), (6, "liver"))
    ]
    stacked = stack_results({"unet": pd.DataFrame(rows), "nnunet": pd.DataFrame(rows)})
    fig = ve.plot_modality_scores(stacked)  # seaborn divides by zero when asked to dodge one modality
    assert isinstance(fig, Figure)
    assert [ax.get_title() for ax in fig.axes] == ["DSC", "NSD"]


@pytest.mark.slow
def test_a_run_records_its_held_out_cases_and_the_evaluation_reads_them(mri_two, tmp_path, capsys):
    # Later steps read the run's own record (cases.json) instead of choosing the cases again.
    from amos_tutorial.training import train
    from amos_tutorial.training.rundir import RunDir, scored_cases

    ds = load_amos(mri_two)
    train("unet", data=str(mri_two), out=tmp_path / "run", preset="smoke", iterations=1, iterations_per_epoch=1,
          val_cases=2, progress=False)
    assert f"1 training cases, 1 validation cases ({HELD_OUT})" in capsys.readouterr().out
    record = RunDir(tmp_path / "run").cases()
    assert record["source"] == HELD_OUT
    held = scored_cases([tmp_path / "run"], ds)
    assert [c.case_id for c in held.val] == list(record["validation"]) == [c.case_id for c in run_cases(ds, 2, 2).val]
    assert [c.case_id for c in held.train] == list(record["training"])
    assert (held.source, held.from_split) == (HELD_OUT, False)
