"""Post-processing rules chosen on CV predictions, plans, folders and the CLI (the rules themselves: test_rules.py)."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from test_rules import DUODENUM, L_KIDNEY, LIVER, R_KIDNEY, RAS, SPLEEN, body  # the hand-made volume

from amos_tutorial.cli import main
from amos_tutorial.evaluation.postprocess import (
    LEFT_RIGHT_PAIRS,
    PLAN_FILE,
    PostprocessPlan,
    Rule,
    choose_rules,
    postprocess_folder,
)
from amos_tutorial.utils.io import save_nifti

def write_cases(folder, maps):
    for i, m in enumerate(maps, start=1):
        save_nifti(m, RAS, folder / f"amos_{i:04d}.nii.gz", dtype=np.uint8)
    return folder


@pytest.fixture
def cv_folders(tmp_path):
    """Three CV cases: liver islands (largest helps), a swapped kidney, the two-piece duodenum (largest hurts)."""
    refs, preds = [], []
    for i in range(3):
        ref = body()
        pred = ref.copy()
        pred[0:2 + i, 0:2, 0:2] = LIVER  # a false-positive liver island
        if i == 0:
            pred[ref == R_KIDNEY] = L_KIDNEY
        refs.append(ref)
        preds.append(pred)
    return write_cases(tmp_path / "labels", refs), write_cases(tmp_path / "cv", preds)


def test_choose_rules_keeps_only_the_rules_that_help(cv_folders, tmp_path):
    labels, preds = cv_folders
    plan = choose_rules(preds, labels, min_ml=0.05)
    kept = {(r.rule, r.organs) for r in plan.rules}
    assert ("fix_left_right", (R_KIDNEY, L_KIDNEY)) in kept
    assert ("largest_component", (LIVER,)) in kept or ("remove_small", (LIVER,)) in kept
    assert ("largest_component", (DUODENUM,)) not in kept  # it would drop a true piece: it hurts
    assert not any(r.organs == (SPLEEN,) for r in plan.rules)  # changes nothing: not kept
    table = plan.table.set_index(["organ", "rule"])
    hurt = table.loc[("duodenum", "largest_component")]
    assert hurt["dice_after"] < hurt["dice_before"]
    assert not hurt["kept"]
    for row in plan.table.itertuples():
        assert row.kept == (row.dice_after > row.dice_before)
    # The plan reproduces itself through JSON and makes the CV predictions better.
    plan.save(tmp_path / "plan.json")
    again = PostprocessPlan.load(tmp_path / "plan.json")
    assert again.rules == plan.rules
    assert len(again.table) == len(plan.table)
    table = postprocess_folder(preds, tmp_path / "pp", again, progress=False)
    assert (table["status"] == "written").all()
    assert (tmp_path / "pp" / PLAN_FILE).is_file()
    for case in table["case"]:
        out = np.asarray(nib.load(str(tmp_path / "pp" / f"{case}.nii.gz")).dataobj)
        np.testing.assert_array_equal(out, body())
    assert (postprocess_folder(preds, tmp_path / "pp", again, progress=False)["status"] == "skipped").all()
    (tmp_path / "pp" / "amos_0002.nii.gz").write_bytes(b"")  # cut short: done again on resume
    resumed = postprocess_folder(preds, tmp_path / "pp", again, progress=False).set_index("case")["status"]
    assert resumed["amos_0002"] == "written"
    assert (resumed.drop("amos_0002") == "skipped").all()
    with pytest.raises(ValueError, match="another plan"):
        postprocess_folder(preds, tmp_path / "pp", PostprocessPlan(()), progress=False)


def test_unknown_rule_is_one_line_naming_the_plan(tmp_path, cv_folders, capsys):
    _, preds = cv_folders
    bad = tmp_path / "bad_plan.json"
    bad.write_text(json.dumps({"rules": [{"rule": "largest_componnent", "organs": [6]}]}))
    with pytest.raises(ValueError, match=f"^{bad}: rule 0: unknown rule 'largest_componnent'"):
        PostprocessPlan.load(bad)
    rc = main(["postprocess", "--pred", str(preds), "--plan", str(bad), "--out", str(tmp_path / "o"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("amos: error: ")
    assert str(bad) in err
    assert len(err.strip().splitlines()) == 1
    (tmp_path / "not_json.json").write_text("{")
    with pytest.raises(ValueError, match="not_json.json: not a JSON"):
        PostprocessPlan.load(tmp_path / "not_json.json")
    with pytest.raises(ValueError, match="needs one organ"):
        Rule("largest_component", (16,))


def test_cli_postprocess_choose_then_plan(cv_folders, tmp_path, capsys):
    labels, preds = cv_folders
    out = tmp_path / "chosen"
    args = ["postprocess", "--pred", str(preds), "--no-progress"]
    assert main([*args, "--choose", "--labels", str(labels), "--out", str(out), "--min-ml", "0.05"]) == 0
    printed = capsys.readouterr().out
    assert "fix_left_right" in printed
    assert "written" in printed
    plan = out / PLAN_FILE
    assert main([*args, "--plan", str(plan), "--out", str(tmp_path / "again")]) == 0
    for case in sorted(p.name for p in out.glob("amos_*.nii.gz")):
        a, b = nib.load(str(out / case)), nib.load(str(tmp_path / "again" / case))
        np.testing.assert_array_equal(a.dataobj, b.dataobj)
    assert main([*args, "--choose", "--out", str(tmp_path / "x")]) == 2
    assert "--labels" in capsys.readouterr().err
    from amos_tutorial.cli import build_parser
    from amos_tutorial.evaluation.postprocess import DEFAULT_MIN_ML

    sub = next(a for a in build_parser()._actions if a.dest == "command").choices["postprocess"]
    assert f"default {DEFAULT_MIN_ML} ml" in " ".join(sub.format_help().split())  # states the constant's value


def test_predict_with_a_plan_equals_predict_then_postprocess(synthetic_root, tmp_path, capsys):
    from conftest import write_untrained_run

    run = write_untrained_run(tmp_path / "run", (2.0, 2.0, 3.0))
    rules = [Rule("largest_component", (o,)) for o in range(1, 16)] + [Rule("fix_left_right", LEFT_RIGHT_PAIRS[0])]
    plan_path = PostprocessPlan(tuple(rules)).save(tmp_path / "plan.json")
    images = synthetic_root / "imagesTr"
    args = ["predict", "--run", str(run), "--images", str(images), "--device", "cpu", "--no-progress"]
    assert main([*args, "--out", str(tmp_path / "raw")]) == 0
    assert main([*args, "--out", str(tmp_path / "pp"), "--postprocess", str(plan_path)]) == 0
    capsys.readouterr()
    assert json.loads((tmp_path / "pp" / "predict.json").read_text())["postprocess"]["path"] == str(plan_path)
    postprocess_folder(tmp_path / "raw", tmp_path / "raw_pp", plan_path, images_dir=images, progress=False)
    changed = 0
    for path in sorted((tmp_path / "pp").glob("amos_*.nii.gz")):
        direct = np.asarray(nib.load(str(path)).dataobj)
        np.testing.assert_array_equal(direct, np.asarray(nib.load(str(tmp_path / "raw_pp" / path.name)).dataobj))
        changed += int((direct != np.asarray(nib.load(str(tmp_path / "raw" / path.name)).dataobj)).sum())
    assert changed > 0  # the plan did something to these (untrained, noisy) predictions


def test_postprocess_redoes_a_case_whose_prediction_changed(cv_folders, tmp_path):
    _, preds = cv_folders
    plan = PostprocessPlan((Rule("largest_component", (LIVER,)),))
    postprocess_folder(preds, tmp_path / "pp", plan, progress=False)
    fixed = body()
    fixed[0:3, 0:2, 0:2] = SPLEEN  # the prediction of case 1 was corrected since
    save_nifti(fixed, RAS, preds / "amos_0001.nii.gz", dtype=np.uint8)
    again = postprocess_folder(preds, tmp_path / "pp", plan, progress=False).set_index("case")["status"]
    assert again["amos_0001"] == "written"
    assert (again.drop("amos_0001") == "skipped").all()
    out = np.asarray(nib.load(str(tmp_path / "pp" / "amos_0001.nii.gz")).dataobj)
    assert int((out == SPLEEN).sum()) > int((body() == SPLEEN).sum())  # made from the corrected prediction


@pytest.mark.parametrize(
    "value, words",
    [(np.nan, "NaN"), (2.5, "not whole label ids (e.g. 2.5)"), (20, "label(s) 20, 200 outside"), (-1, "-1 outside")],
)
def test_postprocess_refuses_values_that_are_no_label_and_goes_on(cv_folders, tmp_path, capsys, value, words):
    _, preds = cv_folders
    bad = body().astype(np.float32)
    bad[0, 0, 0] = value
    if value == 20:
        bad[0, 0, 1] = 200
    save_nifti(bad, RAS, preds / "amos_0004.nii.gz", dtype=np.float32)
    (preds / "amos_0005.nii.gz").write_bytes(b"not a NIfTI file")
    out = tmp_path / "pp"
    plan = PostprocessPlan((Rule("largest_component", (LIVER,)),)).save(tmp_path / "plan.json")
    code = main(["postprocess", "--pred", str(preds), "--plan", str(plan), "--out", str(out), "--no-progress"])
    printed = capsys.readouterr().out
    assert code == 1
    assert f"failed: amos_0004: {preds / 'amos_0004.nii.gz'}: holds" in printed
    assert words in printed
    assert f"failed: amos_0005: {preds / 'amos_0005.nii.gz'}" in printed
    assert sorted(p.name for p in out.glob("amos_*.nii.gz")) == ["amos_0001.nii.gz", "amos_0002.nii.gz",
                                                                "amos_0003.nii.gz"]


def test_choose_names_the_cases_that_predictions_and_labels_do_not_share(cv_folders, tmp_path, capsys):
    labels, preds = cv_folders
    (labels / "amos_0002.nii.gz").unlink()
    save_nifti(body(), RAS, labels / "amos_0009.nii.gz", dtype=np.uint8)
    code = main(["postprocess", "--pred", str(preds), "--labels", str(labels), "--choose", "--out",
                 str(tmp_path / "pp"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert "do not cover the same cases" in err
    assert "1 without a label (amos_0002)" in err
    assert "1 without a prediction (amos_0009)" in err
    assert len(err.strip().splitlines()) == 1


def test_choose_overwrite_replaces_the_plan_atomically(cv_folders, tmp_path):
    labels, preds = cv_folders
    out = tmp_path / "pp"
    args = ["postprocess", "--pred", str(preds), "--labels", str(labels), "--choose", "--out", str(out),
            "--no-progress"]
    assert main(args) == 0
    before = (out / PLAN_FILE).stat().st_ino
    assert main([*args, "--min-ml", "0.05", "--overwrite"]) == 0
    assert (out / PLAN_FILE).stat().st_ino != before  # a new file renamed over the old one, never cut in place
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []


def test_a_second_postprocess_into_a_folder_in_use_is_refused(cv_folders, tmp_path):
    from amos_tutorial.utils.lock import FolderLock, LockedError

    _, preds = cv_folders
    with FolderLock(tmp_path / "pp", what="post-processing folder"):
        with pytest.raises(LockedError, match="post-processing folder is in use"):
            postprocess_folder(preds, tmp_path / "pp", PostprocessPlan(()), progress=False)
    assert list((tmp_path / "pp").glob("amos_*.nii.gz")) == []
