"""The AMOS layout reader: listing from dataset.json or a folder scan, modality rules, metadata join, CLI.

Every test builds its own tiny release-shaped folder (8x8x4 volumes) with :func:`build_layout`, which
test_validate.py reuses.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from amos_tutorial import paths
from amos_tutorial.data import layout
from amos_tutorial.data.layout import AmosCase, case_number, load_amos, modality_from_id
from amos_tutorial.labels import NUM_CLASSES, dataset_json_labels
from amos_tutorial.utils.io import save_nifti

SHAPE = (8, 8, 4)
AFFINE = np.diag([0.7, 0.7, 5.0, 1.0])
# training / validation / test numbers, with the CT/MRI border (499, 500, 501) on both sides.
DEFAULT_SPLITS = {"training": [1, 2, 499, 501], "validation": [3, 500], "test": [4, 502]}


def write_case(root: Path, split: str, number: int, seed: int | None = None) -> tuple[Path, Path | None]:
    """Write one image (and a label unless test) with random content into the release folders."""
    image_dir, label_dir = layout.SPLIT_FOLDERS[split]
    rng = np.random.default_rng(number if seed is None else seed)
    name = f"amos_{number:04d}.nii.gz"
    image = save_nifti(rng.normal(0, 100, SHAPE).astype(np.float32), AFFINE, root / image_dir / name)
    if split == "test":
        return image, None
    label = save_nifti(rng.integers(0, NUM_CLASSES, SHAPE), AFFINE, root / label_dir / name, dtype=np.uint8)
    return image, label


def build_layout(root: Path, splits: dict[str, list[int]] | None = None, with_json: bool = True) -> Path:
    """A release-shaped folder: image/label folders, dataset.json (test entries as plain strings)."""
    splits = DEFAULT_SPLITS if splits is None else splits
    data: dict = {
        "description": "tiny test layout",
        "licence": "CC-BY-SA 4.0",
        "release": "test",
        "labels": dataset_json_labels(),
        "training": [],
        "validation": [],
        "test": [],
    }
    for split, numbers in splits.items():
        image_dir, label_dir = layout.SPLIT_FOLDERS[split]
        for n in numbers:
            write_case(root, split, n)
            name = f"amos_{n:04d}.nii.gz"
            if split == "test":
                data["test"].append(f"./{image_dir}/{name}")
            else:
                data[split].append({"image": f"./{image_dir}/{name}", "label": f"./{label_dir}/{name}"})
    data["numTraining"], data["numValidation"], data["numTest"] = (len(data[s]) for s in layout.SPLITS)
    if with_json:
        (root / "dataset.json").write_text(json.dumps(data, indent=2))
    return root


def write_metadata(path: Path, rows: list[tuple]) -> Path:
    """Metadata CSV with the release's exact columns; ``rows`` are (amos_id, sex, age, model)."""
    import pandas as pd

    records = [
        {
            "amos_id": amos_id,
            "Patient's Birth Date": "19600101",
            "Patient's Sex": sex,
            "Patient's Age": age,
            "Manufacturer's Model Name": model,
            "Manufacturer": "ACME",
            "Acquisition Date": "20200101",
            "Site": "Site A",
        }
        for amos_id, sex, age, model in rows
    ]
    pd.DataFrame(records, columns=list(layout.METADATA_COLUMNS)).to_csv(path, index=False)
    return path


def run_info(argv: list[str]) -> int:
    """Run ``amos data info`` with these arguments."""
    from amos_tutorial.cli import main

    return main(["data", "info", *argv])


def test_listing_matches_dataset_json(tmp_path):
    root = build_layout(tmp_path / "amos22")
    listed = json.loads((root / "dataset.json").read_text())
    ds = load_amos(root)
    assert ds.case_source == "dataset.json"
    assert ds.root == root
    for split in layout.SPLITS:
        cases = ds.split(split)
        images = [e if isinstance(e, str) else e["image"] for e in listed[split]]
        assert [c.image for c in cases] == [root / Path(i) for i in images]
        assert [c.case_id for c in cases] == [Path(i).name.replace(".nii.gz", "") for i in images]
        assert all(c.split == split and c.image.is_file() for c in cases)
    assert all(c.label is None for c in ds.split("test"))
    labels = [root / Path(e["label"]) for s in ("training", "validation") for e in listed[s]]
    assert [c.label for c in ds.labelled()] == labels
    assert ds.case("amos_0501") is ds.case(501) is ds.case("amos_0501.nii.gz")
    with pytest.raises(KeyError, match="amos_0777"):
        ds.case(777)
    with pytest.raises(ValueError, match="split must be one of"):
        ds.split("train")
    assert ds.missing_files() == []
    assert ds.orphan_labels() == []
    assert ds.unlisted_images() == {}


def test_test_split_accepts_dicts_and_reports_unlisted_images(tmp_path):
    root = build_layout(tmp_path)
    data = json.loads((root / "dataset.json").read_text())
    data["test"] = [{"image": data["test"][0]}]  # dict form, and one test image left unlisted
    (root / "dataset.json").write_text(json.dumps(data))
    ds = load_amos(root)
    assert [c.case_id for c in ds.split("test")] == ["amos_0004"]
    assert ds.unlisted_images() == {"imagesTs": [root / "imagesTs" / "amos_0502.nii.gz"]}
    summary = ds.summary()
    assert "imagesTs: 1 image file(s) on disk not listed" in summary
    assert "numTest says 2 but 1 test entries are listed" in summary


def test_folder_scan_without_dataset_json(tmp_path):
    root = build_layout(tmp_path, with_json=False)
    orphan = save_nifti(np.zeros(SHAPE), AFFINE, root / "labelsTr" / "amos_0009.nii.gz", dtype=np.uint8)
    odd = save_nifti(np.zeros(SHAPE), AFFINE, root / "imagesTr" / "notes.nii.gz")
    (root / "imagesTr" / ".amos_0001.nii.gz.tmp").write_bytes(b"")  # an interrupted atomic write
    ds = load_amos(root)
    assert ds.case_source == "folder scan"
    assert ds.dataset_json is None
    for split, numbers in DEFAULT_SPLITS.items():
        assert [c.number for c in ds.split(split)] == sorted(numbers)
        for c in ds.split(split):
            expected_label = root / layout.SPLIT_FOLDERS[split][1] / c.image.name
            assert c.label == (expected_label if expected_label.is_file() else None)
    assert ds.orphan_labels() == [orphan]
    assert ds.ignored_files == [odd]
    summary = ds.summary()
    assert "no dataset.json found" in summary
    assert "label file(s) without an image" in summary
    assert str(orphan) in summary
    assert "AMOS table of amos_tutorial.labels" in summary


def test_listing_same_with_and_without_dataset_json(tmp_path):
    root = build_layout(tmp_path)
    from_json = {(c.split, c.case_id, c.image, c.label) for c in load_amos(root)}
    (root / "dataset.json").unlink()
    from_scan = {(c.split, c.case_id, c.image, c.label) for c in load_amos(root)}
    assert from_json == from_scan
    assert len(from_json) == sum(map(len, DEFAULT_SPLITS.values()))


def test_modality_metadata_first_then_id_rule(tmp_path):
    root = build_layout(tmp_path)
    # Case 1 is said to be MRI by its scanner despite id < 500; 501 CT despite id >= 500; case 2's scanner
    # is unknown and 500 has no row: those two fall back to the id rule.
    write_metadata(root / layout.METADATA_CSV_NAME, [
        (1, "F", "061Y", "Ingenia"), ("amos_0501", "M", "045Y", "aquilion  one"), (2, "M", "070Y", "Mystery 3000"),
    ])
    for rule in layout.MODALITY_RULES:
        ds = load_amos(root, modality_rule=rule)
        assert (ds.case(1).modality, ds.case(1).modality_source) == ("MRI", "metadata")
        assert (ds.case(501).modality, ds.case(501).modality_source) == ("CT", "metadata")
        assert (ds.case(2).modality, ds.case(2).modality_source) == ("CT", "id-rule")
        assert ds.case(500).modality_source == "id-rule"
        assert ds.case(500).modality == modality_from_id(500, rule)
    assert load_amos(root, modality_rule="readme").case(500).modality == "MRI"
    assert load_amos(root, modality_rule="organisers").case(500).modality == "CT"
    with pytest.raises(ValueError, match="modality_rule"):
        load_amos(root, modality_rule="dicom")


def test_metadata_join_tolerates_id_forms_and_parses_age(tmp_path):
    root = build_layout(tmp_path / "amos22")
    rows = [(1, "F", "061Y", "Ingenia"), ("amos_0002", "M", "045Y", "Optima CT660"), (501, "M", "", "Prisma")]
    csv = write_metadata(tmp_path / layout.METADATA_CSV_NAME, rows)  # beside amos22/, as the downloader puts it
    ds = load_amos(tmp_path)  # the parent: amos22/ is entered
    assert ds.root == root
    assert ds.metadata_csv == csv
    assert ds.case(2).metadata["Patient's Sex"] == "M"
    assert ds.case(501).metadata["Patient's Age"] is None
    assert ds.case(3).metadata == {}
    frame = ds.to_frame()
    expected_columns = ["case_id", "number", "split", "modality", "modality_source", "image", "label"]
    meta_columns = [c for c in layout.METADATA_COLUMNS if c != "amos_id"]
    age_at = meta_columns.index("Patient's Age") + 1
    expected_columns += meta_columns[:age_at] + ["age_years"] + meta_columns[age_at:]
    assert list(frame.columns) == expected_columns
    assert len(frame) == len(ds.cases)
    by_id = frame.set_index("number")
    for amos_id, sex, age, _ in rows:
        n = case_number(amos_id)
        assert by_id.loc[n, "Patient's Sex"] == sex
        if age:
            assert by_id.loc[n, "age_years"] == int(age.rstrip("Y"))
        else:
            assert by_id["age_years"].isna()[n]
    assert str(frame["age_years"].dtype) == "Int64"
    assert by_id.loc[[3, 4, 500], "Site"].isna().all()
    assert f"3 of {len(ds.cases)} cases matched" in ds.summary()


def test_metadata_csv_errors_name_the_file(tmp_path):
    root = build_layout(tmp_path)
    bad = write_metadata(tmp_path / "meta.csv", [("amos_0001", "F", "061Y", "Ingenia"), ("liver", "F", "1Y", "x")])
    with pytest.raises(ValueError, match=r"meta\.csv: row 3: amos_id 'liver'"):
        load_amos(root, metadata_csv=bad)
    with pytest.raises(FileNotFoundError, match="nope.csv: metadata CSV does not exist"):
        load_amos(root, metadata_csv=tmp_path / "nope.csv")


def test_no_root_and_env_unset_says_what_to_set(monkeypatch):
    monkeypatch.delenv(paths.ENV_DATA_DIR, raising=False)
    with pytest.raises(FileNotFoundError, match=paths.ENV_DATA_DIR):
        load_amos()


def test_env_root_and_not_an_amos_folder(monkeypatch, tmp_path):
    root = build_layout(tmp_path / "data")
    monkeypatch.setenv(paths.ENV_DATA_DIR, str(root))
    assert load_amos().root == root
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"^.*empty: not an AMOS data folder"):
        load_amos(tmp_path / "empty")


def test_synthetic_word_goes_through_resolve_data_root(monkeypatch, tmp_path):
    root = build_layout(tmp_path / "cached")
    monkeypatch.setattr(paths, "synthetic_root", lambda *a, **k: root)
    assert load_amos("synthetic").root == root


def test_invalid_json_is_one_line_naming_the_file(tmp_path):
    root = build_layout(tmp_path)
    (root / "dataset.json").write_text('{"training": [,]}')
    with pytest.raises(ValueError) as err:
        load_amos(root)
    message = str(err.value)
    assert message.startswith(str(root / "dataset.json"))
    assert "not valid JSON" in message
    assert "\n" not in message


def test_bad_entry_and_duplicate_case_name_dataset_json(tmp_path):
    root = build_layout(tmp_path)
    data = json.loads((root / "dataset.json").read_text())
    data["validation"].append(data["training"][0])
    (root / "dataset.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"dataset\.json: case amos_0001 is listed twice \(training and validation\)"):
        load_amos(root)
    data["validation"] = [{"label": "./labelsVa/amos_0003.nii.gz"}]
    (root / "dataset.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"dataset\.json: validation\[0\]: expected a path string"):
        load_amos(root)


def test_missing_listed_files_are_reported_not_raised(tmp_path):
    root = build_layout(tmp_path)
    gone_image = root / "imagesTr" / "amos_0002.nii.gz"
    gone_label = root / "labelsVa" / "amos_0003.nii.gz"
    gone_image.unlink()
    gone_label.unlink()
    ds = load_amos(root)
    assert ds.case(2).image == gone_image  # still listed
    assert [p for _, p in ds.missing_files()] == [gone_image, gone_label]
    assert ds.orphan_labels() == []  # labelsTr/amos_0002 belongs to a listed case: reported once, as missing image
    summary = ds.summary()
    assert "2 listed file(s) missing" in summary
    assert str(gone_image) in summary
    assert str(gone_label) in summary


def test_label_table_source(tmp_path):
    root = build_layout(tmp_path)
    assert "identical to the AMOS table" in load_amos(root).summary()
    data = json.loads((root / "dataset.json").read_text())
    data["labels"]["8"] = "aorta"
    (root / "dataset.json").write_text(json.dumps(data))
    ds = load_amos(root)
    assert ds.label_names[8] == "aorta"
    assert "differs from the AMOS table at ids [8]" in ds.summary()


def test_amos_case_is_hashable_and_frozen(tmp_path):
    ds = load_amos(build_layout(tmp_path))
    assert len(set(ds.cases)) == len(ds.cases)
    with pytest.raises(AttributeError):
        ds.cases[0].split = "test"  # type: ignore[misc]
    assert isinstance(ds.cases[0], AmosCase)


def test_cli_info_prints_counts(tmp_path, capsys):
    root = build_layout(tmp_path)
    write_metadata(root / layout.METADATA_CSV_NAME, [(1, "F", "061Y", "Ingenia")])
    assert run_info(["--data", str(root), "--modality-rule", "organisers"]) == 0
    out = capsys.readouterr().out
    ds = load_amos(root, modality_rule="organisers")
    for split in layout.SPLITS:
        cs = ds.split(split)
        n_ct = sum(c.modality == "CT" for c in cs)
        n_labelled = sum(c.label is not None for c in cs)
        row = [split, str(n_ct), str(len(cs) - n_ct), str(len(cs)), str(n_labelled)]
        assert row in [line.split() for line in out.splitlines()]
    assert "id <= 500 is CT" in out
    assert layout.METADATA_CSV_NAME in out
    assert "modality decided by: metadata 1, id rule" in out


def test_cli_info_through_amos_entry_point(tmp_path, capsys):
    from amos_tutorial.cli import main

    root = build_layout(tmp_path / "ok")
    assert main(["data", "info", "--data", str(root)]) == 0
    assert "AMOS data at" in capsys.readouterr().out
    shutil.copytree(root, tmp_path / "bad")
    (tmp_path / "bad" / "dataset.json").write_text("{oops")
    assert main(["data", "info", "--data", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"amos: error: {tmp_path / 'bad' / 'dataset.json'}: not valid JSON")
    assert "\n" not in err
