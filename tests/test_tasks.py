"""Task 1 (CT only) and Task 2 (CT and MRI): training data, warnings, per-task scores; the MRI foreground crop."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import ndimage

from amos_tutorial.cli import main
from amos_tutorial.data.layout import load_amos
from amos_tutorial.evaluation import evaluate_folder, format_report, modality_gap, task_summary
from amos_tutorial.inference import ModalityMismatchWarning, predict_case, predict_folder
from amos_tutorial.training import load_config, make_config, train
from amos_tutorial.training.config import MRI_PATCH_SIZE, TrainConfig
from amos_tutorial.transforms.preprocessing import PreprocessConfig, foreground_mask, preprocess_array
from amos_tutorial.transforms.chains import preprocessing_transforms
from amos_tutorial.utils.io import save_nifti

# The fast path and the MONAI chain threshold the same smoothed image, which they compute with ~1e-5
# differences (float32 grid_sample vs our 1-D passes): a voxel exactly at the threshold could move a crop
# border by one voxel. Stated tolerance for the crop boxes: at most one voxel per side.
CROP_BOX_TOL = 1


def _smoke_train(root: Path, out: Path, cache: Path, **kw):
    torch.set_num_threads(1)
    return train(
        "unet", data=str(root), out=out, preset="smoke", device="cpu", progress=False, cache_dir=str(cache),
        iterations=2, iterations_per_epoch=2, **kw,
    )  # fmt: skip


@pytest.fixture(scope="module")
def task1_run(synthetic_root, tmp_path_factory, monkeypatch_module):
    """A 2-step Task 1 run on a fresh cache, recording every case the preprocessing loaded."""
    from amos_tutorial.transforms import cache as cache_module

    loaded: list[str] = []
    original = cache_module.preprocess_case

    def spy(image, label, modality, *args, **kwargs):
        loaded.append(modality)
        return original(image, label, modality, *args, **kwargs)

    monkeypatch_module.setattr(cache_module, "preprocess_case", spy)
    out = tmp_path_factory.mktemp("runs") / "task1"
    result = _smoke_train(synthetic_root, out, tmp_path_factory.mktemp("cache1"), task=1)
    return result, loaded


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def test_task_is_a_checked_config_field_and_defaults_to_two():
    assert TrainConfig().task == 2
    assert TrainConfig().modalities == ("CT", "MRI")
    assert make_config("unet", preset="quick", task=1).modalities == ("CT",)
    for bad in (0, 3, "1", True):
        with pytest.raises(ValueError, match="task must be 1"):
            TrainConfig(task=bad)
    # Older config.json files have no task: they were Task 2 runs.
    old = make_config("unet").to_dict()
    del old["task"]
    assert TrainConfig.from_dict(old).task == 2
    # The default adds the key at the end and changes nothing else.
    assert list(make_config("unet").to_dict())[-1] == "task"
    assert MRI_PATCH_SIZE == (224, 160, 48)


def test_task1_never_loads_an_mri_case(task1_run, synthetic_root):
    result, loaded = task1_run
    dataset = load_amos(synthetic_root)
    labelled_mri = [c.case_id for c in dataset.cases if c.modality == "MRI" and c.has_label]
    assert labelled_mri, "the fixture needs a labelled MRI case for this test to mean anything"
    assert loaded, loaded
    assert set(loaded) == {"CT"}, loaded
    used = json.loads((result.run_dir / "cases.json").read_text())
    assert used["task"] == 1
    cases = {**used["training"], **used["validation"]}
    assert cases
    assert set(cases.values()) == {"CT"}
    assert not set(cases) & set(labelled_mri)
    assert load_config(result.run_dir).task == 1


def test_task2_run_uses_both_modalities(synthetic_root, tmp_path):
    result = _smoke_train(synthetic_root, tmp_path / "task2", tmp_path / "cache")
    used = json.loads((result.run_dir / "cases.json").read_text())
    assert used["task"] == 2
    assert "MRI" in used["training"].values()


def test_cli_task_option(synthetic_root, tmp_path, capsys):
    args = ["train", "--model", "unet", "--data", str(synthetic_root), "--out", str(tmp_path / "run"),
            "--iterations", "2", "--iterations-per-epoch", "2", "--device", "cpu", "--no-progress",
            "--cache-dir", str(tmp_path / "cache"), "--task", "1"]  # fmt: skip
    assert main(args) == 0
    assert load_config(tmp_path / "run").task == 1
    with pytest.raises(SystemExit):
        main([*args[:-1], "3"])
    assert "invalid choice" in capsys.readouterr().err


def test_task1_run_warns_on_an_mri_input(task1_run, synthetic_root, tmp_path):
    from amos_tutorial.training import load_run

    result, _ = task1_run
    model, config = load_run(result.run_dir, checkpoint="last")
    dataset = load_amos(synthetic_root)
    mri = next(c for c in dataset.cases if c.modality == "MRI")
    ct = next(c for c in dataset.cases if c.modality == "CT")
    with pytest.warns(ModalityMismatchWarning, match="Task 1 run"):
        predict_case(model, mri.image, config, "cpu", modality="MRI")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ModalityMismatchWarning)
        predict_case(model, ct.image, config, "cpu", modality="CT")
        predict_case(model, mri.image, config.replace(task=2), "cpu", modality="MRI")
    # The folder prediction warns too, and records the run's task for `amos evaluate`.
    with pytest.warns(ModalityMismatchWarning):
        predict_folder(result.run_dir, mri.image.parent, tmp_path / "pred", checkpoint="last",
                       device="cpu", data_root=synthetic_root, progress=False)  # fmt: skip
    assert json.loads((tmp_path / "pred" / "predict.json").read_text())["task"] == 1


def _fake_scores() -> pd.DataFrame:
    rows = []
    for case, modality, liver, spleen in [("a", "CT", 0.9, 0.8), ("b", "CT", 0.7, 0.6), ("c", "MRI", 0.3, np.nan)]:
        for organ_id, organ, value in ((1, "spleen", spleen), (6, "liver", liver)):
            rows.append({"case": case, "organ_id": organ_id, "organ": organ, "modality": modality,
                         "dsc": value, "nsd": value, "ref_ml": 1.0})  # fmt: skip
    return pd.DataFrame(rows)


def test_task_summary_scores_task1_on_ct_and_task2_on_all_cases():
    df = _fake_scores()
    summary = task_summary(df)
    assert summary.loc[1, "cases"] == 2
    assert summary.loc[2, "cases"] == 3
    assert summary.loc[1, "dsc"] == pytest.approx(np.mean([0.9, 0.8, 0.7, 0.6]))
    assert summary.loc[2, "dsc"] == pytest.approx(np.mean([0.9, 0.8, 0.7, 0.6, 0.3]))
    report = format_report(df)
    assert "Per modality" in report
    assert "Per task" in report


def test_evaluate_reports_per_modality_and_task(task1_run, synthetic_root, tmp_path, capsys):
    result, _ = task1_run
    labels = synthetic_root / "labelsTr"
    pred = tmp_path / "pred"
    with pytest.warns(ModalityMismatchWarning):
        predict_folder(result.run_dir, synthetic_root / "imagesTr", pred, checkpoint="last", device="cpu",
                       data_root=synthetic_root, progress=False)  # fmt: skip
    df = evaluate_folder(pred, labels, data_root=synthetic_root)
    assert set(df["modality"]) == {"CT", "MRI"}
    assert df.attrs["model_task"] == 1
    code = main(["evaluate", "--pred", str(pred), "--labels", str(labels), "--out", str(tmp_path / "m.csv"),
                 "--data", str(synthetic_root), "--no-progress"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "Predictions by a Task 1 run (trained on CT)" in out
    task_lines = out.split("Per task")[1]
    assert "CT+MRI" in task_lines
    assert "\n1 " in task_lines
    assert "\n2 " in task_lines


def test_modality_gap_intervals_cover_the_gap():
    df = _fake_scores()
    gap = modality_gap(df, n_boot=500, seed=1).set_index("organ")
    liver = gap.loc["liver"]
    assert liver["gap"] == pytest.approx(0.8 - 0.3)
    assert liver["low"] <= liver["gap"] <= liver["high"]
    assert liver["high"] - liver["low"] > 0
    assert liver["n_ct"] == 2
    assert liver["n_mri"] == 1
    assert np.isnan(gap.loc["spleen", "gap"])
    assert gap.loc["spleen", "n_mri"] == 0  # MRI spleen was NaN
    with pytest.raises(ValueError, match="lacks column"):
        modality_gap(df.drop(columns="modality"))


def _noisy_mri(seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[list[int]]]:
    """A bright 'body' box in Rician-like noisy air: image, label, and the body's box (x, y, z)."""
    rng = np.random.default_rng(seed)
    shape, body = (40, 36, 20), [[8, 32], [6, 28], [3, 17]]
    image = np.abs(rng.normal(0, 20, shape) + 1j * rng.normal(0, 20, shape)).astype(np.float32)
    sl = tuple(slice(a, b) for a, b in body)
    image[sl] += 400 + rng.normal(0, 20, image[sl].shape).astype(np.float32)
    label = np.zeros(shape, np.uint8)
    label[12:20, 10:18, 6:12] = 6
    return image, label, body


def test_mri_crop_removes_a_noisy_air_border():
    image, label, body = _noisy_mri()
    case = preprocess_array(image, np.eye(4), "MRI", PreprocessConfig(spacing=(1.0, 1.0, 1.0)), label=label)
    box = case.meta["crop_box"]
    for (lo, hi), (blo, bhi) in zip(box, body):  # the body, give or take the smoothing's one voxel
        assert blo - 1 <= lo <= blo, (box, body)
        assert bhi <= hi <= bhi + 1, (box, body)
    assert int((case.label == 6).sum()) == int((label == 6).sum())  # no organ voxel was cropped
    # The old rule ("above the volume's minimum") keeps the air: the noise is above the minimum.
    whole = preprocess_array(image, np.eye(4), "MRI", PreprocessConfig(spacing=(1.0, 1.0, 1.0), crop_foreground=False))
    assert bool((whole.image > whole.image.min()).float().mean() > 0.99)
    assert foreground_mask(whole.image[0], "MRI").float().mean() < 0.6


def test_mri_crop_is_the_same_in_the_monai_chain(tmp_path):
    image, label, _ = _noisy_mri(seed=3)
    affine = np.diag([1.2, 0.9, 2.5, 1.0])
    path = save_nifti(image, affine, tmp_path / "amos_0540.nii.gz", dtype=np.float32)
    config = PreprocessConfig(spacing=(1.5, 1.5, 3.0))
    fast = preprocess_array(image, affine, "MRI", config)
    ref = preprocessing_transforms("MRI", config, label_key=None)({"image": str(path)})["image"]
    assert all(a < b for a, b in zip(fast.shape, fast.meta["resampled_shape"]))  # air cropped on every axis
    assert abs(np.array(fast.shape) - np.array(ref.shape[1:])).max() <= 2 * CROP_BOX_TOL
    if fast.shape == tuple(ref.shape[1:]):
        np.testing.assert_allclose(fast.meta["affine"], ref.affine.numpy(), atol=1e-4)
        assert float((fast.image - ref.as_tensor()).abs().max()) < 1e-4


def test_fast_and_plain_prediction_paths_agree_on_mri(synthetic_root):
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv3d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv3d(4, 16, 3, padding=1)
    ).eval()
    dataset = load_amos(synthetic_root)
    mri = [c for c in dataset.cases if c.modality == "MRI"]
    assert mri
    config = PreprocessConfig(spacing=(2.0, 2.0, 3.0))
    for case in mri:
        fast = predict_case(net, case.image, config, "cpu", roi_size=(16, 16, 8), modality="MRI")
        plain = predict_case(net, case.image, config, "cpu", roi_size=(16, 16, 8), modality="MRI", engine="plain")
        differ = fast.labels != plain.labels
        # Same tolerance as tests/test_predict.py: at most 0.1% of voxels, only at label borders.
        assert differ.mean() <= 1e-3
        border = ndimage.morphological_gradient(plain.labels, size=3) > 0
        assert not (differ & ~border).any()


def test_modality_figures_draw_what_they_are_given():
    from amos_tutorial.viz.modality import plot_crop_boxes, plot_modality_gap

    df = pd.concat([_fake_scores().assign(model=m) for m in ("task 1", "task 2")], ignore_index=True)
    gap = modality_gap(df, n_boot=200)
    fig = plot_modality_gap(gap)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["liver"]  # spleen has no MRI score: not drawn
    assert sorted(t.get_text() for t in ax.get_legend().get_texts()) == ["task 1", "task 2"]
    with pytest.raises(ValueError, match="nothing to draw"):
        plot_modality_gap(gap.assign(gap=np.nan))
    image = np.zeros((10, 8, 6))
    fig = plot_crop_boxes({"MRI": image}, {"rule": [[1, 9], [2, 6], [0, 6]]})
    assert len(fig.axes[0].patches) == 1
    assert len(fig.legends) == 1
    with pytest.raises(ValueError, match="box 'bad'"):
        plot_crop_boxes({"MRI": image}, {"bad": [[1, 9], [2, 6]]})


def test_bench_rows_carry_the_task_and_per_modality_dsc(task1_run, synthetic_root, tmp_path):
    from amos_tutorial.benchmark.bench import _evaluate_model, _model_facts
    from amos_tutorial.benchmark.results import bench_columns
    from amos_tutorial.benchmark.report import load_results

    result, _ = task1_run
    assert _model_facts(result.run_dir)["task"] == 1
    with pytest.warns(ModalityMismatchWarning):
        predict_folder(result.run_dir, synthetic_root / "imagesTr", tmp_path / "pred", checkpoint="last",
                       device="cpu", data_root=synthetic_root, progress=False)  # fmt: skip
    split = {"labels_dir": str(synthetic_root / "labelsTr"), "data_root": str(synthetic_root)}
    row = _evaluate_model(tmp_path, split, {"tolerance_mm": None}, 0)
    df = evaluate_folder(tmp_path / "pred", synthetic_root / "labelsTr", data_root=synthetic_root)
    for modality in ("CT", "MRI"):
        expected = df.loc[df["modality"] == modality, "dsc"].mean()
        assert row[f"mean_dsc_{modality.lower()}"] == pytest.approx(expected, nan_ok=True)
    # A results table written before the task column existed still loads: its runs were Task 2 runs.
    old = pd.DataFrame([{c: np.nan for c in bench_columns() if c not in ("task", "mean_dsc_ct", "mean_dsc_mri")}])
    old.assign(model="unet", status="ok", error="").to_csv(tmp_path / "old.csv", index=False)
    loaded = load_results(tmp_path / "old.csv")
    assert list(loaded.columns) == list(bench_columns())
    assert loaded.loc[0, "task"] == 2
