"""Folder evaluation and ``amos evaluate``: tidy table, modality, summaries, and one line per bad file."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from amos_tutorial.cli import main
from amos_tutorial.evaluation import (
    EvaluationError,
    evaluate_folder,
    format_report,
    modality_summary,
    organ_summary,
    overall_scores,
    result_columns,
    score_case,
)
from amos_tutorial.utils.io import save_nifti

SPACING = (1.2, 0.9, 3.0)
AFFINE = np.diag([*SPACING, 1.0])
SHAPE = (16, 14, 8)


def label_pair(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ref = np.zeros(SHAPE, np.uint8)
    ref[2:9, 2:10, 1:6] = 6
    ref[10:14, 3:8, 2:5] = 1
    ref[3:6, 11:13, 1:4] = 2
    pred = np.roll(ref, int(rng.integers(0, 2)), axis=0)
    pred[rng.random(SHAPE) < 0.05] = 0
    return ref, pred


@pytest.fixture
def folders(tmp_path):
    """Two CT cases (ids < 500) and one MRI case (id 540) with predictions."""
    labels, preds = tmp_path / "labels", tmp_path / "pred"
    arrays = {}
    for seed, cid in enumerate(("amos_0003", "amos_0011", "amos_0540")):
        ref, pred = label_pair(seed)
        save_nifti(ref, AFFINE, labels / f"{cid}.nii.gz", dtype=np.uint8)
        save_nifti(pred, AFFINE, preds / f"{cid}.nii.gz", dtype=np.uint8)
        arrays[cid] = (ref, pred)
    return labels, preds, arrays


def test_evaluate_folder_tidy_table_matches_array_scores(folders):
    labels, preds, arrays = folders
    df = evaluate_folder(preds, labels, tolerance_mm="1,liver=2")
    assert list(df.columns) == list(result_columns())
    assert len(df) == 3 * 15
    assert df.groupby("case")["modality"].first().to_dict() == {
        "amos_0003": "CT",
        "amos_0011": "CT",
        "amos_0540": "MRI",
    }
    for cid, (ref, pred) in arrays.items():
        expected = score_case(ref, pred, SPACING, tolerance_mm={"default": 1, "liver": 2})
        got = df[df["case"] == cid].reset_index(drop=True)
        pd.testing.assert_frame_equal(got[list(expected.columns)], expected, check_dtype=False)
    assert df.loc[df["organ"] == "liver", "tolerance_mm"].eq(2.0).all()
    # Volumes use the header's spacing.
    liver = df[(df["case"] == "amos_0003") & (df["organ_id"] == 6)].iloc[0]
    assert liver.ref_ml == pytest.approx((arrays["amos_0003"][0] == 6).sum() * np.prod(SPACING) / 1000)


def test_summaries_and_report(folders):
    labels, preds, _ = folders
    df = evaluate_folder(preds, labels)
    organs = organ_summary(df)
    # Organs absent from every case have no score under the NaN convention.
    assert organs.loc["liver", "n_scored"] == 3
    assert organs.loc["pancreas", "n_scored"] == 0
    assert organs.loc["liver", "dsc"] == pytest.approx(df[df.organ == "liver"].dsc.mean())
    mods = modality_summary(df)
    assert mods.loc["CT", "cases"] == 2
    assert mods.loc["MRI", "cases"] == 1
    assert mods.loc["MRI", "dsc"] == pytest.approx(df[df.modality == "MRI"].dsc.mean())
    overall = overall_scores(df)
    assert overall["dsc"] == pytest.approx(np.nanmean(df.dsc.to_numpy()))
    report = format_report(df)
    assert "NSD tolerance 1 mm for every organ" in report
    assert "NaN" in report
    assert "MRI" in report
    assert f"{overall['nsd']:.4f}" in report

    scored = evaluate_folder(preds, labels, absent="score")
    assert scored.loc[scored.organ == "pancreas", ["dsc", "nsd"]].eq(1.0).all().all()
    assert overall_scores(scored)["dsc"] > overall["dsc"]  # absent organs now count as perfect
    from amos_tutorial.evaluation import ScoreOptions

    as_object = evaluate_folder(preds, labels, options=ScoreOptions(absent="score"))
    pd.testing.assert_frame_equal(as_object, scored)
    with pytest.raises(TypeError, match="absnt"):
        evaluate_folder(preds, labels, absnt="score")


def test_modality_from_dataset_metadata(folders, tmp_path):
    labels, preds, _ = folders
    root = tmp_path / "amos22"
    (root / "labelsVa").mkdir(parents=True)
    entries = [
        {"image": f"./imagesVa/{c}.nii.gz", "label": f"./labelsVa/{c}.nii.gz"} for c in ("amos_0003", "amos_0011")
    ]
    (root / "dataset.json").write_text(json.dumps({"training": [], "validation": entries, "test": []}))
    # The scanner says MRI for case 3: the metadata wins over the id rule.
    pd.DataFrame({"amos_id": [3, "amos_0011"], "Manufacturer's Model Name": ["Ingenia", "Aquilion ONE"]}).to_csv(
        root / "labeled_data_meta_0000_0599.csv", index=False
    )
    df = evaluate_folder(preds, labels, data_root=root)
    modality = df.groupby("case")["modality"].first()
    assert modality["amos_0003"] == "MRI"
    assert modality["amos_0011"] == "CT"
    assert modality["amos_0540"] == "MRI"
    assert "metadata" in df.attrs["modality_source"]


def test_problems_are_listed_one_line_per_file(folders):
    labels, preds, arrays = folders
    (preds / "amos_0011.nii.gz").unlink()  # missing prediction
    ref, pred = arrays["amos_0003"]
    save_nifti(pred[:, :, :-1], AFFINE, preds / "amos_0003.nii.gz", dtype=np.uint8)  # wrong shape
    shifted = AFFINE.copy()
    shifted[0, 3] = 5.0
    save_nifti(arrays["amos_0540"][1], shifted, preds / "amos_0540.nii.gz", dtype=np.uint8)  # wrong affine
    with pytest.raises(EvaluationError) as info:
        evaluate_folder(preds, labels)
    lines = str(info.value).splitlines()
    assert len(lines) == 3
    assert len(info.value.problems) == 3
    assert lines[0].startswith(str(preds / "amos_0003.nii.gz"))
    assert "shape" in lines[0]
    assert lines[1].startswith(str(preds / "amos_0011.nii.gz"))
    assert "missing prediction" in lines[1]
    assert lines[2].startswith(str(preds / "amos_0540.nii.gz"))
    assert "affine" in lines[2]


def test_out_of_range_labels_name_the_file(folders):
    labels, preds, arrays = folders
    bad = arrays["amos_0011"][1].copy()
    bad[0, 0, 0] = 23
    save_nifti(bad, AFFINE, preds / "amos_0011.nii.gz", dtype=np.uint8)
    save_nifti(arrays["amos_0003"][1].astype(np.float32) + 0.5, AFFINE, preds / "amos_0003.nii.gz", dtype=np.float32)
    with pytest.raises(EvaluationError) as info:
        evaluate_folder(preds, labels)
    messages = {p.path.name: p.message for p in info.value.problems}
    assert set(messages) == {"amos_0003.nii.gz", "amos_0011.nii.gz"}
    assert "23" in messages["amos_0011.nii.gz"]
    assert "non-integer" in messages["amos_0003.nii.gz"]


def test_cli_writes_csv_and_summary(folders, tmp_path, capsys):
    labels, preds, _ = folders
    out = tmp_path / "out" / "metrics.csv"
    code = main(
        [
            "evaluate",
            "--pred",
            str(preds),
            "--labels",
            str(labels),
            "--out",
            str(out),
            "--tolerance",
            "2,pancreas=3",
            "--absent",
            "score",
            "--no-progress",
        ]
    )
    assert code == 0
    table = pd.read_csv(out)
    assert list(table.columns) == list(result_columns())
    assert len(table) == 45
    assert table.loc[table.organ == "pancreas", "tolerance_mm"].eq(3.0).all()
    assert not table[["dsc", "nsd"]].isna().any().any()  # "score": no NaN
    stdout = capsys.readouterr().out
    summary = (out.parent / "metrics_summary.txt").read_text()
    for text in (stdout, summary):
        assert "Absent organs ('score')" in text
        assert "NSD tolerance 2 mm, except pancreas 3 mm" in text
        assert "HD95 " in text.split("Overall:")[1]
        assert "HD95 of an organ absent from one of them is NaN" in text
    overall_hd95 = float(stdout.split("HD95 ")[-1].split(" mm")[0])
    assert overall_hd95 == pytest.approx(table["hd95"].mean(), abs=1e-4)


def test_cli_reports_problems_and_writes_nothing(folders, tmp_path, capsys):
    labels, preds, _ = folders
    (preds / "amos_0540.nii.gz").unlink()
    out = tmp_path / "metrics.csv"
    code = main(["evaluate", "--pred", str(preds), "--labels", str(labels), "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err.splitlines()
    assert code == 1
    assert not out.exists()
    assert err[0].startswith(str(preds / "amos_0540.nii.gz"))
    assert "missing prediction" in err[0]
    code = main(["evaluate", "--pred", str(preds), "--labels", str(labels), "--out", str(out), "--tolerance", "x=1"])
    assert code == 2
    assert "unknown organ" in capsys.readouterr().err


def test_process_pool_gives_the_same_table(folders):
    labels, preds, _ = folders
    serial = evaluate_folder(preds, labels)
    parallel = evaluate_folder(preds, labels, num_workers=2)
    pd.testing.assert_frame_equal(serial, parallel)
    assert math.isnan(serial.loc[serial.organ == "duodenum", "dsc"].iloc[0])
