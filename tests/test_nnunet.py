"""nnU-Net v2 driven from the book: one shared smoke run of export -> plan/preprocess -> short training ->
prediction -> ``amos evaluate``, plus the folds (``amos splits``) and the one-line errors.

The pipeline needs nnU-Net v2 (installed by scripts/setup_env.sh); it is one module-scoped run on a
12-case synthetic set (about 2-3 minutes on 2 CPU cores).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from conftest import CHAPTERS_GROUP

from amos_tutorial.cli import main
from amos_tutorial.data.splits import crossval_folds, fold_cases, nnunet_case_ids
from amos_tutorial.data.tasks import TASK1_CT_MAX_ID

N_CASES = 12
MAX_SHAPE = (96, 96, 32)
FOLD = 0


def _reference_folds(ids, n_splits=5, seed=12345):
    """nnU-Net's generate_crossval_split when installed, else the same recipe written out with scikit-learn."""
    try:
        from nnunetv2.utilities.crossval_split import generate_crossval_split
    except ImportError:
        from sklearn.model_selection import KFold

        arr = np.array(ids)
        return [
            {"train": list(arr[tr]), "val": list(arr[va])}
            for tr, va in KFold(n_splits=n_splits, shuffle=True, random_state=seed).split(ids)
        ]
    return generate_crossval_split(ids, seed=seed, n_splits=n_splits)


@pytest.mark.parametrize("n", [5, 9, 23, 240])
def test_folds_equal_nnunet(n):
    rng = np.random.default_rng(n)
    ids = [f"amos_{i:04d}" for i in sorted(rng.choice(np.arange(1, 600), size=n, replace=False))]
    shuffled = list(rng.permutation(ids))
    ours = crossval_folds(shuffled)  # sorted inside, as nnU-Net sorts its identifiers
    ref = _reference_folds(sorted(ids))
    assert [{k: [str(c) for c in f[k]] for k in ("train", "val")} for f in ref] == ours
    assert sorted(c for f in ours for c in f["val"]) == sorted(ids)  # each case validated exactly once
    train, val = fold_cases(ids, 2)
    assert set(train).isdisjoint(val)
    assert len(train) + len(val) == n


def test_fold_arguments_are_checked():
    from amos_tutorial.training.config import TrainConfig

    with pytest.raises(ValueError, match="fold must be"):
        fold_cases(["amos_0001", "amos_0002"] * 1 + ["amos_0003"], 3, n_folds=3)
    with pytest.raises(ValueError, match="duplicates"):
        crossval_folds(["amos_0001", "amos_0001", "amos_0002"], n_folds=2)
    assert TrainConfig(fold=4).fold == 4
    with pytest.raises(ValueError, match="fold must be"):
        TrainConfig(fold=5)


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    from amos_tutorial.data.synthetic import generate_synthetic_dataset

    return generate_synthetic_dataset(tmp_path_factory.mktemp("nnunet") / "amos", N_CASES, seed=3, max_shape=MAX_SHAPE)


def test_synthetic_ids_follow_the_release_ranges(release):
    ds = json.loads((release / "dataset.json").read_text())
    for split, limit in TASK1_CT_MAX_ID.items():
        for entry in ds[split]:
            number = int(Path(entry["image"]).name[5:9])
            assert number <= limit or number > 500, (split, number)


def test_splits_cli(release, tmp_path, capsys):
    out = tmp_path / "splits.json"
    assert main(["splits", "--data", str(release), "--folds", "5", "--out", str(out)]) == 0
    assert json.loads(out.read_text()) == crossval_folds(nnunet_case_ids(release, task=2))
    assert "fold 4:" in capsys.readouterr().out


def test_errors_are_one_line(tmp_path, monkeypatch, capsys):
    from amos_tutorial.nnunet.env import nnunet_folders, require_nnunet

    assert main(["nnunet", "export", "--data", str(tmp_path)]) == 2
    assert "not an AMOS release" in capsys.readouterr().err
    mri_only = tmp_path / "mri"
    for sub in ("imagesTr", "labelsTr"):
        (mri_only / sub).mkdir(parents=True)
    entry = {"image": "./imagesTr/amos_0540.nii.gz", "label": "./labelsTr/amos_0540.nii.gz"}
    (mri_only / "dataset.json").write_text(json.dumps({"labels": {"0": "background"}, "training": [entry]}))
    assert main(["nnunet", "export", "--task", "1", "--data", str(mri_only), "--nnunet-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no CT case" in err
    assert len(err.strip().splitlines()) == 1
    for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match="nnUNet_raw is not set"):
        nnunet_folders()
    monkeypatch.setitem(sys.modules, "nnunetv2", None)
    with pytest.raises(ImportError, match=r"amos_tutorial\[nnunet\]"):
        require_nnunet()
    assert main(["nnunet", "export", "--data", str(mri_only), "--nnunet-dir", str(tmp_path)]) == 2
    assert "amos_tutorial[nnunet]" in capsys.readouterr().err


@pytest.mark.slow
def test_book_training_takes_nnunet_folds(release, tmp_path, synthetic_root):
    from amos_tutorial.training.config import make_config
    from amos_tutorial.training.volumes import prepare_volumes

    config = make_config("unet", preset="quick", data=release, fold=1, cache_dir=str(tmp_path))
    train_vols, val_vols, _, _ = prepare_volumes(config, progress=False, log=lambda msg: None)
    expected = crossval_folds(nnunet_case_ids(release, 2))[1]
    assert sorted(v.case_id for v in train_vols) == expected["train"]
    assert sorted(v.case_id for v in val_vols) == expected["val"]
    with pytest.raises(ValueError, match="fewer than 5 folds"):  # the 4-case fixture set
        prepare_volumes(make_config("unet", data=synthetic_root, fold=0), progress=False, log=lambda msg: None)


@pytest.fixture(scope="module")
def nnunet_run(release, tmp_path_factory):
    """One smoke run shared by the pipeline tests: the CLI, as a reader would type it."""
    pytest.importorskip("nnunetv2", reason="nnU-Net v2 is installed by scripts/setup_env.sh")
    work = tmp_path_factory.mktemp("nnunet_run")
    d = ["--nnunet-dir", str(work)]
    with pytest.MonkeyPatch.context() as mp:
        for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results", "nnUNet_def_n_proc", "nnUNet_n_proc_DA"):
            mp.setenv(name, "")  # recorded, so that the steps' settings are undone after the module
            mp.delenv(name)
        assert main(["nnunet", "export", "--task", "1", "--data", str(release), *d]) == 0
        assert main(["nnunet", "export", "--task", "2", "--data", str(release), *d]) == 0
        assert main(["nnunet", "plan", "--task", "2", *d]) == 0
        assert main(["nnunet", "train", "--task", "2", "--fold", str(FOLD), "--epochs", "2", *d]) == 0
        assert main(["nnunet", "predict", "--task", "2", "--fold", str(FOLD), "--out", str(work / "fold"), *d]) == 0
        metrics = work / "metrics.csv"
        code = main(["evaluate", "--pred", str(work / "fold" / "pred"), "--labels", str(work / "fold" / "labels"),
                     "--data", str(release), "--out", str(metrics), "--no-progress"])
        assert code == 0
        yield work


def _ids(folder: Path, suffix: str) -> list[str]:
    return sorted(p.name[: -len(suffix)] for p in folder.glob(f"*{suffix}"))


@pytest.mark.slow
@pytest.mark.xdist_group("nnunet")
def test_export_uses_nnunet_converters(release, nnunet_run):
    raw = nnunet_run / "nnUNet_raw"
    t1 = raw / "Dataset218_AMOS2022_postChallenge_task1"
    t2 = raw / "Dataset219_AMOS2022_postChallenge_task2"
    assert _ids(t2 / "imagesTr", "_0000.nii.gz") == nnunet_case_ids(release, 2) == _ids(t2 / "labelsTr", ".nii.gz")
    # Task 1 keeps every labelled CT case of the synthetic set (ids drawn from the release's ranges).
    labelled_ct = sorted(c for c in nnunet_case_ids(release, 2) if int(c[5:]) < 500)
    assert _ids(t1 / "imagesTr", "_0000.nii.gz") == nnunet_case_ids(release, 1) == labelled_ct
    assert json.loads((t1 / "dataset.json").read_text())["channel_names"] == {"0": "CT"}
    ds2 = json.loads((t2 / "dataset.json").read_text())
    assert ds2["numTraining"] == len(labelled_ct) + sum(int(c[5:]) > 500 for c in nnunet_case_ids(release, 2))
    assert ds2["labels"]["liver"] == 6
    assert ds2["overwrite_image_reader_writer"] == "NibabelIOWithReorient"


@pytest.mark.slow
@pytest.mark.xdist_group("nnunet")
def test_plans_hold_the_cpu_configuration(release, nnunet_run):
    from amos_tutorial.nnunet.plans import SMOKE_CONFIGURATION, SMOKE_PATCH, plans_vs_book

    pre = nnunet_run / "nnUNet_preprocessed" / "Dataset219_AMOS2022_postChallenge_task2"
    plans = json.loads((pre / "nnUNetPlans.json").read_text())
    smoke = plans["configurations"][SMOKE_CONFIGURATION]
    assert smoke["inherits_from"] == "3d_fullres"
    assert smoke["patch_size"] == list(SMOKE_PATCH)
    assert len(list((pre / f"nnUNetPlans_{SMOKE_CONFIGURATION}").glob("*.pkl"))) == len(nnunet_case_ids(release, 2))
    table = plans_vs_book(pre / "nnUNetPlans.json", SMOKE_CONFIGURATION)
    assert table.loc["patch (voxels, x y z)", "nnU-Net"] == " x ".join(str(p) for p in SMOKE_PATCH[::-1])
    assert table.loc["stages / features", "nnU-Net"] == "4 / 8-64"
    # nnU-Net's own split file is the one `amos splits` computes.
    assert json.loads((pre / "splits_final.json").read_text()) == crossval_folds(nnunet_case_ids(release, 2))
    # the chapter's account of 3d_fullres's spacing is the spacing nnU-Net planned
    from amos_tutorial.nnunet.plans import fullres_target_spacing

    fingerprint = json.loads((pre / "dataset_fingerprint.json").read_text())
    planned = plans["configurations"]["3d_fullres"]["spacing"]
    ours = fullres_target_spacing(fingerprint)["spacing"]
    assert [ours[i] for i in plans["transpose_forward"]] == pytest.approx(planned)


@pytest.mark.slow
@pytest.mark.xdist_group("nnunet")
def test_training_wrote_nnunet_outputs(nnunet_run):
    fold = next((nnunet_run / "nnUNet_results").glob("Dataset219_*/nnUNetTrainerAmosShort__*")) / f"fold_{FOLD}"
    assert (fold / "checkpoint_final.pth").is_file()
    summary = json.loads((fold / "validation" / "summary.json").read_text())
    assert "foreground_mean" in summary


@pytest.mark.slow
@pytest.mark.xdist_group("nnunet")
def test_predictions_are_scored_by_amos_evaluate(release, nnunet_run):
    pred, labels = nnunet_run / "fold" / "pred", nnunet_run / "fold" / "labels"
    cases = crossval_folds(nnunet_case_ids(release, 2))[FOLD]["val"]
    assert _ids(pred, ".nii.gz") == cases == _ids(labels, ".nii.gz")
    for case in cases:
        p, ref = nib.load(pred / f"{case}.nii.gz"), nib.load(labels / f"{case}.nii.gz")
        assert p.shape == ref.shape
        assert np.allclose(p.affine, ref.affine, atol=1e-3)  # the original grid
        assert set(np.unique(np.asarray(p.dataobj))) <= set(range(16))
    df = pd.read_csv(nnunet_run / "metrics.csv")
    assert sorted(df["case"].unique()) == cases
    assert len(df) == 15 * len(cases)
    dsc = df["dsc"].dropna()
    assert len(dsc) > 0
    assert dsc.between(0, 1).all()


class _MakesAFile:
    """A pickled object that would create a file when unpickled (what a hostile checkpoint does)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


def _model_folder(root: Path, dataset: str = "Dataset219_AMOS2022_postChallenge_task2") -> Path:
    model = root / "nnUNet_results" / dataset / "nnUNetTrainerAmosShort__nnUNetPlans__3d_smoke"
    (model / "fold_0").mkdir(parents=True)
    (model / "plans.json").write_text("{}")
    (model / "dataset.json").write_text("{}")
    return model


def _images(root: Path) -> Path:
    from amos_tutorial.utils.io import save_nifti

    images = root / "images"
    save_nifti(np.zeros((8, 8, 4), np.float32), np.eye(4), images / "amos_0001_0000.nii.gz")
    return images


def test_nnunet_predict_refuses_a_checkpoint_that_runs_code(tmp_path, capsys):
    pytest.importorskip("nnunetv2")
    import torch

    model = _model_folder(tmp_path)
    marker = tmp_path / "code_was_run"
    checkpoint = model / "fold_0" / "checkpoint_final.pth"
    torch.save({"network_weights": {}, "payload": _MakesAFile(marker)}, checkpoint)
    code = main(["nnunet", "predict", "--model", str(model), "--input", str(_images(tmp_path)),
                 "--out", str(tmp_path / "out"), "--nnunet-dir", str(tmp_path), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2
    assert not marker.exists()
    assert str(checkpoint) in err
    assert "refused for safety" in err
    assert len(err.strip().splitlines()) == 1


def test_nnunet_checkpoint_with_numpy_log_values_loads_safely(tmp_path):
    import torch

    from amos_tutorial.nnunet.checkpoint import load_nnunet_checkpoint

    path = tmp_path / "checkpoint_final.pth"
    state = {"network_weights": {"w": torch.ones(2)}, "init_args": {"configuration": "3d_smoke",
             "device": torch.device("cpu")}, "trainer_name": "nnUNetTrainer", "_best_ema": np.float64(0.25),
             "logging": {"train_losses": [np.float32(1.5)], "dice_per_class_or_region": [[np.float64(0.5)]]}}
    torch.save(state, path)
    loaded = load_nnunet_checkpoint(path)
    assert loaded["_best_ema"] == 0.25
    assert loaded["logging"]["train_losses"] == [1.5]
    with pytest.raises(ValueError, match="not an nnU-Net checkpoint"):
        torch.save({"model": {}}, tmp_path / "other.pth")
        load_nnunet_checkpoint(tmp_path / "other.pth")


def test_nnunet_predict_names_a_truncated_checkpoint(tmp_path, capsys):
    pytest.importorskip("nnunetv2")
    import torch

    model = _model_folder(tmp_path)
    checkpoint = model / "fold_0" / "checkpoint_final.pth"
    torch.save({"network_weights": {"w": torch.zeros(1000)}, "init_args": {}, "trainer_name": "x"}, checkpoint)
    checkpoint.write_bytes(checkpoint.read_bytes()[:1500])
    code = main(["nnunet", "predict", "--model", str(model), "--input", str(_images(tmp_path)),
                 "--out", str(tmp_path / "out"), "--nnunet-dir", str(tmp_path), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{checkpoint}: cannot load checkpoint" in err
    assert len(err.strip().splitlines()) == 1


def test_nnunet_predict_outside_a_dataset_folder_says_so(tmp_path, capsys):
    model = tmp_path / "some_model"
    model.mkdir()
    code = main(["nnunet", "predict", "--model", str(model), "--out", str(tmp_path / "out"),
                 "--nnunet-dir", str(tmp_path), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2
    assert "DatasetXXX_NAME" in err
    assert "invalid literal" not in err
    assert len(err.strip().splitlines()) == 1


def test_export_refuses_an_id_taken_by_another_data_set(tmp_path, capsys):
    pytest.importorskip("nnunetv2")
    from test_layout import build_layout

    release = build_layout(tmp_path / "amos")
    other = tmp_path / "nnu" / "nnUNet_raw" / "Dataset219_AMOS2022_postChallenge_task2"
    other.mkdir(parents=True)
    code = main(["nnunet", "export", "--task", "1", "--dataset-id", "219", "--data", str(release),
                 "--nnunet-dir", str(tmp_path / "nnu")])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{other}: the dataset id 219 is taken" in err
    assert not (other.parent / "Dataset219_AMOS2022_postChallenge_task1").exists()


def test_plan_on_an_interrupted_export_names_the_missing_file(tmp_path, capsys):
    pytest.importorskip("nnunetv2")
    raw = tmp_path / "nnUNet_raw" / "Dataset219_AMOS2022_postChallenge_task2"
    (raw / "imagesTr").mkdir(parents=True)
    code = main(["nnunet", "plan", "--task", "2", "--nnunet-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{raw / 'dataset.json'}: missing" in err
    assert len(err.strip().splitlines()) == 1


def test_plan_refuses_two_data_sets_of_one_id(tmp_path, capsys):
    pytest.importorskip("nnunetv2")
    for name in ("Dataset219_a", "Dataset219_b"):
        (tmp_path / "nnUNet_raw" / name).mkdir(parents=True)
    code = main(["nnunet", "plan", "--task", "2", "--nnunet-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert "Dataset219_a, Dataset219_b" in err


def test_train_refuses_fewer_cases_than_folds(tmp_path, capsys):
    pytest.importorskip("nnunetv2")
    pre = tmp_path / "nnUNet_preprocessed" / "Dataset219_AMOS2022_postChallenge_task2"
    pre.mkdir(parents=True)
    (pre / "nnUNetPlans.json").write_text(json.dumps({"configurations": {"3d_smoke": {}}}))
    (pre / "dataset.json").write_text(json.dumps({"numTraining": 1}))
    code = main(["nnunet", "train", "--task", "2", "--nnunet-dir", str(tmp_path), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{pre / 'dataset.json'}: 1 training case(s)" in err
    assert "needs at least 5" in err


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fullres_target_spacing_is_nnunets_rule(seed):
    """The 10th-percentile rule on an anisotropic axis, against nnU-Net's own planner method where installed."""
    from amos_tutorial.nnunet.plans import fullres_target_spacing

    rng = np.random.default_rng(seed)
    n = 40
    # AMOS-like: thick slices (1.25-5 mm) over 0.6-0.9 mm pixels, about 100 slices of 512 x 512
    z = rng.choice([1.25, 2.0, 2.5, 5.0, 5.0, 5.0], size=n)
    xy = rng.uniform(0.6, 0.9, size=n)
    fingerprint = {"spacings": np.stack([z, xy, xy], 1).tolist(),
                   "shapes_after_crop": np.stack([rng.integers(60, 160, n), np.full(n, 512), np.full(n, 512)], 1).tolist()}
    ours = fullres_target_spacing(fingerprint)
    assert ours["anisotropic_axis"] == 0
    assert ours["spacing"][0] == pytest.approx(max(np.percentile(z, 10), max(ours["median"][1:]) + 1e-5))
    assert ours["spacing"][0] < ours["median"][0]  # not the median on the anisotropic axis
    isotropic = {"spacings": [[1.0, 1.0, 1.0]] * 3, "shapes_after_crop": [[100, 100, 100]] * 3}
    assert fullres_target_spacing(isotropic)["anisotropic_axis"] is None
    with pytest.raises(ValueError, match="lacks"):
        fullres_target_spacing({"spacings": []})
    planner = pytest.importorskip("nnunetv2.experiment_planning.experiment_planners.default_experiment_planner")
    from types import SimpleNamespace

    for fp in (fingerprint, isotropic):
        self = SimpleNamespace(overwrite_target_spacing=None, dataset_fingerprint=fp, anisotropy_threshold=3)
        theirs = planner.ExperimentPlanner.determine_fullres_target_spacing(self)
        assert fullres_target_spacing(fp)["spacing"] == pytest.approx(tuple(theirs))


def test_resume_reads_nnunet_checkpoints_safely(tmp_path):
    import torch

    from amos_tutorial.nnunet.trainer import _resume_safely

    class _Trainer:
        output_folder = str(tmp_path)
        loaded = None

        def load_checkpoint(self, checkpoint):
            self.loaded = checkpoint

    marker = tmp_path / "code_was_run"
    torch.save({"network_weights": {}, "payload": _MakesAFile(marker)}, tmp_path / "checkpoint_latest.pth")
    with pytest.raises(ValueError, match="checkpoint_latest.pth: refused for safety"):
        _resume_safely(_Trainer())
    assert not marker.exists()
    state = {"network_weights": {"w": torch.ones(1)}, "init_args": {"configuration": "3d_smoke"}, "trainer_name": "T"}
    torch.save(state, tmp_path / "checkpoint_final.pth")  # nnU-Net's order: final, then latest, then best
    trainer = _Trainer()
    _resume_safely(trainer)
    assert isinstance(trainer.loaded, dict)
    assert trainer.loaded["trainer_name"] == "T"


def test_the_book_trainers_are_checked_by_name():
    from amos_tutorial.nnunet.trainer import TRAINERS, train_fold, trainer_class

    assert set(TRAINERS) == {"nnUNetTrainerAmosShort", "nnUNetTrainerAmosCPUSmoke"}
    with pytest.raises(ValueError, match="trainer must be one of"):
        trainer_class("nnUNetTrainerAmosLong")
    with pytest.raises(ValueError, match="trainer must be one of"):
        train_fold(219, trainer="nnUNetTrainer")


def test_the_cpu_smoke_trainer_changes_only_the_optimiser_and_the_augmentation():
    pytest.importorskip("nnunetv2", reason="nnU-Net v2 is installed by scripts/setup_env.sh")
    import torch
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

    from amos_tutorial.nnunet.trainer import CPU_SMOKE_LR, trainer_class

    short, smoke = trainer_class("nnUNetTrainerAmosShort"), trainer_class("nnUNetTrainerAmosCPUSmoke")
    assert issubclass(smoke, short)
    assert issubclass(short, nnUNetTrainer)
    assert smoke.__name__ == "nnUNetTrainerAmosCPUSmoke"  # nnU-Net names the model folder after the class
    trainer = smoke.__new__(smoke)  # the optimiser alone, without nnU-Net's plans
    trainer.network, trainer.initial_lr = torch.nn.Linear(2, 2), CPU_SMOKE_LR
    optimizer, schedule = trainer.configure_optimizers()
    assert isinstance(optimizer, torch.optim.Adam)
    for epoch in range(3):
        schedule.step(epoch)
    assert optimizer.param_groups[0]["lr"] == CPU_SMOKE_LR  # constant
    # no augmentation: the training transforms are nnU-Net's validation transforms
    training = smoke.get_training_transforms((16, 16, 16), None, None, (0, 1, 2), False)
    validation = nnUNetTrainer.get_validation_transforms(None)
    assert [type(t) for t in training.transforms] == [type(t) for t in validation.transforms]
    augmented = short.get_training_transforms((16, 16, 16), 0.5, None, (0, 1, 2), False)
    assert len(augmented.transforms) > len(training.transforms)


@pytest.mark.slow
@pytest.mark.notebook
@pytest.mark.xdist_group(CHAPTERS_GROUP)
def test_the_chapter_scores_both_pipelines_above_zero(tmp_path_factory):
    """The nnU-Net page's comparison: the book's DynUNet and nnU-Net (CPU smoke trainer) both leave background."""
    pytest.importorskip("nnunetv2", reason="nnU-Net v2 is installed by scripts/setup_env.sh")
    from conftest import REPO_ROOT, executed_chapter, session_shared_dir

    from amos_tutorial.paths import synthetic_root
    from amos_tutorial.publish.glue import glue_values

    synthetic_root()
    nb, _ = executed_chapter(REPO_ROOT / "book" / "nnunet.ipynb", session_shared_dir(tmp_path_factory))
    values = glue_values(nb)
    dice = {name: float(values[name]["text/plain"].strip("'\"")) for name in ("dynunet_dice", "nnunet_dice")}
    assert dice["dynunet_dice"] > 0, dice
    assert dice["nnunet_dice"] > 0, dice
