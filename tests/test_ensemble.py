"""Ensembles of runs (mean of softmax probabilities) and cross-validation predictions of fold runs."""

from __future__ import annotations

import json
import shutil

import nibabel as nib
import numpy as np
import pytest
from conftest import write_untrained_run

from amos_tutorial.cli import main
from amos_tutorial.inference import (
    check_ensemble,
    crossval_predictions,
    load_ensemble,
    predict_case,
    predict_folder,
)
from amos_tutorial.training import load_config, save_config

SPACING = (2.0, 2.0, 3.0)


@pytest.fixture
def two_runs(tmp_path):
    """Two untrained runs with different weights and the same preprocessing."""
    return tuple(write_untrained_run(tmp_path / f"run_{k}", SPACING, seed=k) for k in (0, 1))


def test_ensemble_of_two_runs_is_the_mean_of_their_probabilities(two_runs, synthetic_root):
    (model_a, model_b), (cfg_a, cfg_b) = load_ensemble(two_runs, device="cpu")
    image = sorted((synthetic_root / "imagesTr").glob("amos_*.nii.gz"))[0]
    for tta, engine in ((False, "fast"), (True, "fast"), (False, "plain")):
        kw = {"tta": tta, "engine": engine, "keep_probabilities": True}
        p_a = predict_case(model_a, image, cfg_a, "cpu", **kw).probabilities
        p_b = predict_case(model_b, image, cfg_b, "cpu", **kw).probabilities
        both = predict_case([model_a, model_b], image, [cfg_a, cfg_b], "cpu", **kw)
        assert not np.allclose(p_a, p_b, atol=1e-3)  # two different runs: the mean is not either one
        np.testing.assert_allclose(both.probabilities, (p_a + p_b) / 2, atol=1e-5)
        mean = (p_a + p_b) / 2
        inside = mean.sum(axis=0) > 1e-3
        np.testing.assert_array_equal(both.labels[inside], mean.argmax(axis=0)[inside])
        assert both.labels.shape == nib.load(str(image)).shape


def test_predict_folder_and_cli_with_several_runs(two_runs, synthetic_root, tmp_path, capsys):
    images = synthetic_root / "imagesTr"
    out = tmp_path / "ens"
    table = predict_folder(list(two_runs), images, out, device="cpu", progress=False)
    assert (table["status"] == "written").all()
    settings = json.loads((out / "predict.json").read_text())
    assert settings["run_dir"] == [str(r) for r in two_runs]
    assert settings["model"] == ["unet", "unet"]
    models, configs = load_ensemble(two_runs, device="cpu")
    for case in table["case"]:
        expected = predict_case(models, images / f"{case}.nii.gz", configs, "cpu").labels
        np.testing.assert_array_equal(np.asarray(nib.load(str(out / f"{case}.nii.gz")).dataobj), expected)
    again = predict_folder(list(two_runs), images, out, device="cpu", progress=False)
    assert (again["status"] == "skipped").all()  # resumable
    # The CLI: --run repeated gives the same files; one --run alone is not the ensemble.
    cli_out = tmp_path / "cli"
    args = ["predict", "--images", str(images), "--device", "cpu", "--no-progress"]
    assert main([*args, "--run", str(two_runs[0]), "--run", str(two_runs[1]), "--out", str(cli_out)]) == 0
    assert "ensemble of 2 run(s)" in capsys.readouterr().out
    for case in table["case"]:
        name = f"{case}.nii.gz"
        np.testing.assert_array_equal(nib.load(str(cli_out / name)).dataobj, nib.load(str(out / name)).dataobj)
    assert main([*args, "--run", str(two_runs[0]), "--out", str(tmp_path / "single")]) == 0
    assert json.loads((tmp_path / "single" / "predict.json").read_text())["run_dir"] == str(two_runs[0])


def test_ensemble_refuses_runs_that_do_not_fit(two_runs, tmp_path, synthetic_root, capsys):
    run_a, run_b = two_runs
    other_spacing = write_untrained_run(tmp_path / "coarse", (3.0, 3.0, 4.0), seed=2)
    with pytest.raises(ValueError, match=f"^{other_spacing}: other preprocessing .*spacing"):
        load_ensemble([run_a, other_spacing])
    task1 = shutil.copytree(run_b, tmp_path / "task1")
    save_config(load_config(task1 / "config.json").replace(task=1), task1 / "config.json")
    with pytest.raises(ValueError, match=f"^{task1}: trained for task 1"):
        load_ensemble([run_a, task1])
    with pytest.raises(ValueError, match=f"^{run_b}: predicts 4 classes"):
        check_ensemble([run_a, run_b], [load_config(run_a), load_config(run_b)], [16, 4])
    with pytest.raises(ValueError, match="given twice"):
        load_ensemble([run_a, run_a])
    rc = main(["predict", "--run", str(run_a), "--run", str(other_spacing), "--images",
               str(synthetic_root / "imagesTr"), "--out", str(tmp_path / "x"), "--device", "cpu", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2
    assert len(err.strip().splitlines()) == 1
    assert str(other_spacing) in err


@pytest.fixture(scope="module")
def six_case_root(tmp_path_factory):
    """Six labelled cases (training split only): enough for nnU-Net's 5 folds."""
    from amos_tutorial.data.synthetic import generate_synthetic_dataset

    root = tmp_path_factory.mktemp("six") / "amos22"
    return generate_synthetic_dataset(root, n_cases=6, seed=3, max_shape=(32, 32, 16), splits=("training",))


def test_crossval_predictions_cover_every_labelled_case_once(six_case_root, tmp_path):
    from amos_tutorial.data.layout import load_amos
    from amos_tutorial.data.splits import fold_cases

    labelled = sorted(c.case_id for c in load_amos(six_case_root).cases if c.has_label)
    runs = [write_untrained_run(tmp_path / f"fold{k}", SPACING, seed=k, fold=k, data=six_case_root) for k in range(5)]
    out = tmp_path / "cv"
    with pytest.warns(UserWarning, match=r"fold\(s\) \[4\]"):
        partial = crossval_predictions(runs[:4], out, device="cpu", progress=False)
    assert set(partial["fold"]) == {0, 1, 2, 3}
    table = crossval_predictions(runs[::-1], out, device="cpu", progress=False)
    assert sorted(table["case"]) == labelled  # every labelled case once
    for row in table.itertuples():
        assert row.case in fold_cases(labelled, row.fold)[1]  # predicted by the run that did not train on it
    assert set(table.loc[table["fold"] < 4, "status"]) == {"skipped"}  # resumed
    assert set(table.loc[table["fold"] == 4, "status"]) == {"written"}
    assert sorted(p.name[:-7] for p in out.glob("amos_*.nii.gz")) == labelled
    # Bad input: a run without fold, a fold given twice: one line naming the run.
    plain = write_untrained_run(tmp_path / "plain", SPACING, data=six_case_root)
    with pytest.raises(ValueError, match=f"^{plain}: not a fold run"):
        crossval_predictions([runs[0], plain], tmp_path / "cv2", device="cpu", progress=False)
    twice = shutil.copytree(runs[1], tmp_path / "fold1_again")
    with pytest.raises(ValueError, match=f"^{twice}: fold 1 again"):
        crossval_predictions([runs[1], twice], tmp_path / "cv3", device="cpu", progress=False)
    # Resuming the folder with another run for a fold already predicted would mix two models' folds.
    with pytest.raises(ValueError, match=r"crossval.json: fold\(s\) 1 of this folder were predicted by other runs"):
        crossval_predictions([twice], out, device="cpu", progress=False)
