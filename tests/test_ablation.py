"""The winners' recipe as an ablation: published data with sources, the paired bootstrap, and the whole ladder
(DynUNet -> ResEnc -> + DA5 -> ensemble of folds -> + post-processing) on a tiny synthetic set."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from conftest import REPO_ROOT

from amos_tutorial.benchmark.ablation import (
    STEPS,
    SUMMARY_COLUMNS,
    AblationSetup,
    holdout_cases,
    ladder_setup,
    paired_deltas,
    score_ladder,
    train_ladder,
)
from amos_tutorial.evaluation import winners as W


# --- published data -----------------------------------------------------------------------------------


def test_recipe_rows_name_sources_with_bib_entries():
    bib = (REPO_ROOT / "book" / "references.bib").read_text(encoding="utf-8")
    keys = set(re.findall(r"@\w+\{([^,]+),", bib))
    for item in W.RECIPE:
        assert item.source in W.WINNERS_SOURCES, item
    for source in W.WINNERS_SOURCES.values():
        assert source.bibkey in keys
        assert source.url.startswith("https://")
    table = W.recipe_table()
    assert list(table.columns) == list(W.RECIPE_COLUMNS)
    assert set(table["source"]) <= set(table.attrs["citations"])
    text = " ".join(table["what the winners did"])
    for fact in ("320", "1.5 x 1 x 1", "1000 epochs x 250", "+-30", "0.7-1.43", "15 models", "26-connectivity",
                 "90.13", "89.06", "60 h", "RTX 3090"):
        assert fact in text, fact


def test_gpu_plan_is_published_hours_times_folds():
    plan = W.gpu_plan(folds=5).set_index("configuration")
    assert plan.loc["nnU-Net ResEnc L", ["dice", "vram_gb", "hours_per_fold"]].tolist() == [89.41, 22.7, 35]
    assert plan.loc["nnU-Net ResEnc M", "gpu_hours"] == 60
    assert plan.loc["nnU-Net (original)", "gpu_hours"] == 45
    assert (W.gpu_plan(folds=2)["gpu_hours"] == 2 * plan["hours_per_fold"].to_numpy()).all()
    with pytest.raises(ValueError, match="folds"):
        W.gpu_plan(folds=6)
    with pytest.raises(ValueError, match="no published cost"):
        W.gpu_plan(configurations=("nnU-Net ResEnc XXL",))


def test_full_plan_commands_parse_with_the_cli():
    from amos_tutorial.cli import build_parser

    import shlex

    parser = build_parser()
    for task in (1, 2):
        commands = W.full_plan_commands("/data/amos 22", variant="L", task=task, folds=5)
        assert "'/data/amos 22'" in commands[0]  # quoted for the shell
        trains = [c for c in commands if c.startswith("amos train")]
        for line in trains:
            args = parser.parse_args(shlex.split(line)[1:])
            assert args.fold in range(5)
            assert args.preset == "full"
            assert args.task == task
            assert args.variant == "L"
        # every winners' configuration of the task is named, and DA5 is trained exactly for the DA5 trainer
        configurations = W.WINNERS_CONFIGURATIONS["Task 1 (CT)" if task == 1 else "Task 2 (CT+MRI)"]
        comments = " ".join(c for c in commands if c.startswith("#"))
        for trainer, plans in configurations:
            assert f"{trainer} / {plans}" in comments
        n_da5 = sum(trainer.endswith("_DA5") for trainer, _ in configurations)
        assert sum("--augment da5" in c for c in trains) == 5 * n_da5
        assert sum("--augment default" in c for c in trains) == 5 * (n_da5 < len(configurations))
    assert sum(t.endswith("_DA5") for t, _ in W.WINNERS_CONFIGURATIONS["Task 1 (CT)"]) == 1
    assert not any(t.endswith("_DA5") for t, _ in W.WINNERS_CONFIGURATIONS["Task 2 (CT+MRI)"])
    with pytest.raises(ValueError, match="task must be 1 \\(CT only\\) or 2"):
        W.full_plan_commands(task=3)


def test_recipe_says_da5_is_one_configuration_and_a_subset_here():
    from amos_tutorial.transforms.augment import DA5_OMITTED

    row = W.recipe_table().set_index("ingredient").loc["augmentation"]
    assert "1 of the 3 Task 1" in row["what the winners did"]
    assert "none of the 2 Task 2" in row["what the winners did"]
    assert "subset" in row["in this book"]
    for missing in ("median filter", "sharpening", "blank rectangles", "brightness gradients", "local gamma"):
        assert missing in DA5_OMITTED[1:]
        assert missing in row["in this book"]


# --- the paired bootstrap ------------------------------------------------------------------------------


def _scores(values: dict[str, list[float]]) -> pd.DataFrame:
    rows = [{"case": f"amos_{c:04d}", "organ_id": oid, "organ": name, "dsc": v}
            for (oid, name), vals in zip([(1, "spleen"), (6, "liver")], values.values())
            for c, v in enumerate(vals, start=1)]  # fmt: skip
    return pd.DataFrame(rows)


def test_paired_deltas_of_a_constant_shift_and_of_noise():
    before = _scores({"spleen": [0.2, 0.5, 0.8, 0.4], "liver": [0.9, 0.7, 0.6, 0.8]})
    shifted = before.assign(dsc=before["dsc"] + 0.1)
    d = paired_deltas(before, shifted, n_boot=200).set_index("organ")
    assert d.loc["spleen", "delta"] == pytest.approx(0.1)
    assert d.loc["spleen", ["low", "high"]].tolist() == pytest.approx([0.1, 0.1])
    assert d.loc["all organs", "organ_id"] == 0
    assert d.loc["all organs", "n_cases"] == 4
    noisy = before.assign(dsc=before["dsc"] + np.array([0.2, -0.2, 0.1, -0.1, 0.0, 0.0, 0.0, 0.0]))
    d = paired_deltas(before, noisy, n_boot=500).set_index("organ")
    assert d.loc["spleen", "low"] < 0 < d.loc["spleen", "high"]  # differences of both signs: 0 is inside
    assert d.loc["liver", "delta"] == 0


def test_paired_deltas_skip_absent_organs_and_refuse_other_cases():
    before = _scores({"spleen": [0.2, np.nan, 0.8], "liver": [0.9, 0.7, 0.6]})
    after = before.assign(dsc=before["dsc"] + 0.05)
    assert paired_deltas(before, after, n_boot=200).set_index("organ").loc["spleen", "n_cases"] == 2
    with pytest.raises(ValueError, match="share no case"):
        paired_deltas(before, after.assign(case="amos_0099"), n_boot=200)
    with pytest.raises(ValueError, match="n_boot"):
        paired_deltas(before, after, n_boot=10)


def test_setup_checks_its_values():
    with pytest.raises(ValueError, match="folds"):
        AblationSetup(folds=6)
    with pytest.raises(ValueError, match="fold_iterations"):
        AblationSetup(fold_iterations=0)


def test_the_smoke_ladder_trains_every_run_with_the_same_settings():
    from amos_tutorial.training.config import make_config

    smoke = ladder_setup(smoke=True)
    assert smoke.overrides() == smoke.overrides(fold=True)  # the fold runs get the single runs' settings
    configs = [make_config(m, preset=smoke.preset, **extra, **smoke.overrides())
               for m, extra in (("nnunet", {}), ("resenc", {"variant": smoke.resenc_variant}))]  # fmt: skip
    quick = make_config("nnunet", preset="quick")
    for config in configs:
        assert config.patch_size == smoke.patch_size
        assert config.optimizer["lr"] == smoke.lr
        assert config.schedule == smoke.schedule != quick.schedule
        assert config.val_every == 0
        assert config.iterations == smoke.iterations
    # Full mode is the quick preset untouched, with five folds and test-time augmentation.
    full = ladder_setup(smoke=False)
    assert full.overrides() == {}
    assert full.folds == 5
    assert full.tta
    assert ladder_setup(smoke=True, folds=3).folds == 3
    for bad in ({"patch_size": (24, 24)}, {"lr": 0}, {"val_every": -1}, {"schedule": "constant"}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            AblationSetup(**bad)


# --- the whole ladder on a tiny set --------------------------------------------------------------------


@pytest.fixture(scope="module")
def ablation_root(tmp_path_factory):
    from amos_tutorial.data.synthetic import generate_synthetic_dataset

    root = tmp_path_factory.mktemp("ablation") / "amos22"
    return generate_synthetic_dataset(root, n_cases=12, seed=5, max_shape=(40, 40, 16))


def test_holdout_keeps_the_validation_split_out_of_the_pool(ablation_root, tmp_path):
    from amos_tutorial.data.layout import load_amos

    test, pool, source = holdout_cases(ablation_root)
    dataset = load_amos(ablation_root)
    assert {c.case_id for c in test} == {c.case_id for c in dataset.split("validation") if c.has_label}
    assert source == "AMOS validation split"
    assert not {c.case_id for c in test} & {c.case_id for c in pool}


@pytest.mark.slow
def test_the_ladder_trains_predicts_and_measures_every_step(ablation_root, tmp_path, monkeypatch):
    from amos_tutorial.data.layout import load_amos
    from amos_tutorial.paths import synthetic_heldout_root

    monkeypatch.setenv("AMOS_CACHE_DIR", str(tmp_path / "cache"))
    extra = load_amos(synthetic_heldout_root(2, beside=ablation_root)).cases  # held-out cases scored beside them
    setup = AblationSetup(preset="smoke", iterations=3, fold_iterations=2, folds=2, n_boot=200)
    ladder = train_ladder(ablation_root, setup, tmp_path / "work", device="cpu", cache_dir=tmp_path / "cache")
    assert list(ladder.runs) == list(STEPS)
    # The fold runs train on the pool only: no test case in any of their training or validation cases.
    for run in ladder.runs[STEPS[3]]:
        config = json.loads((run / "config.json").read_text())
        assert config["augment"] == "da5"
        assert config["fold"] in (0, 1)
        assert config["model"] == "resenc"
        assert str(ladder.pool_root) in config["data"]
        cases = json.loads((run / "cases.json").read_text())
        seen = {c for split in ("training", "validation") for c in cases[split]}
        assert seen
        assert not seen & set(ladder.test_cases)
    result = score_ladder(ladder, setup, tmp_path / "work", device="cpu", extra_test=extra)
    n_test = len(ladder.test_cases) + len(extra)
    summary = result.summary
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    assert list(summary["step"]) == list(STEPS)
    assert summary["models"].tolist() == [1, 1, 1, 2, 2]
    assert summary["train_steps"].tolist() == [3, 3, 3, 4, 4]
    assert (summary["n_cases"] == n_test).all()
    # Each delta is the change of the mean Dice from the step before, inside its own interval.
    steps = summary.set_index("step")
    for before, after in zip(STEPS, STEPS[1:]):
        assert steps.loc[after, "delta"] == pytest.approx(steps.loc[after, "dice"] - steps.loc[before, "dice"])
        assert steps.loc[after, "low"] <= steps.loc[after, "delta"] <= steps.loc[after, "high"]
    assert set(result.deltas["step"]) == set(STEPS[1:])
    assert (result.folder / "postprocess_plan.json").is_file()
    assert result.plan.table is not None
    # The ensemble against its own members, on the same test cases: this isolates the ensembling from step 4's
    # other change (each member trains on the pool minus its validation fold).
    members = result.members
    assert members["member"].tolist() == [run.name for run in ladder.runs[STEPS[3]]]
    assert members["ensemble_dice"].to_numpy() == pytest.approx(steps.loc[STEPS[3], "dice"])
    assert members["delta"].to_numpy() == pytest.approx((members["ensemble_dice"] - members["dice"]).to_numpy())
    assert (members["n_cases"] == n_test).all()
    again = train_ladder(ablation_root, setup, tmp_path / "work", device="cpu", cache_dir=tmp_path / "cache")
    assert again.runs == ladder.runs  # shared runs: nothing is trained twice


def test_the_figure_draws_both_panels_and_checks_its_tables():
    from amos_tutorial.viz.ablation import plot_ablation

    before = _scores({"spleen": [0.2, 0.5, 0.8], "liver": [0.9, 0.7, 0.6]})
    deltas = paired_deltas(before, before.assign(dsc=before["dsc"] + 0.1), n_boot=200).assign(step="ResEnc")
    summary = pd.DataFrame({"step": ["DynUNet", "ResEnc"], "dice": [0.6, 0.7]})
    fig = plot_ablation(summary, deltas)
    left, right = fig.axes[:2]
    assert [t.get_text() for t in left.get_yticklabels()] == ["DynUNet", "ResEnc"]
    assert "all organs" in [t.get_text() for t in right.get_yticklabels()]
    with pytest.raises(ValueError, match="lacks column"):
        plot_ablation(summary.drop(columns="dice"), deltas)


def test_the_winners_per_organ_figure_marks_the_organs_left_raw():
    from amos_tutorial.evaluation.reference import winners_per_organ
    from amos_tutorial.viz.ablation import plot_winners_per_organ

    organs = winners_per_organ()
    fig = plot_winners_per_organ(organs)
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_yticklabels()] == list(organs["organ"].iloc[:15])
    hollow = [c for c in ax.collections if "no post-processing" in c.get_label()]
    assert [len(c.get_offsets()) for c in hollow] == [4, 5]  # Task 1 left 4 organs raw, Task 2 five
    filled = [c for c in ax.collections if c.get_label().endswith(": post-processed")]
    assert [len(c.get_offsets()) for c in filled] == [11, 10]
    with pytest.raises(ValueError, match="lacks column"):
        plot_winners_per_organ(organs.drop(columns="postprocessing"))
    with pytest.raises(ValueError, match="empty"):
        plot_winners_per_organ(organs.iloc[:0])


def test_held_out_synthetic_cases_are_labelled_and_new(synthetic_root, tmp_path, monkeypatch):
    from amos_tutorial.data.layout import load_amos
    from amos_tutorial.paths import synthetic_heldout_root

    monkeypatch.setenv("AMOS_CACHE_DIR", str(tmp_path))
    root = synthetic_heldout_root(4, beside=synthetic_root)
    cases = load_amos(root).cases
    assert len(cases) == 4
    assert {c.split for c in cases} == {"validation"}
    assert all(c.label is not None for c in cases)
    assert not {c.case_id for c in cases} & {c.case_id for c in load_amos(synthetic_root).cases}
    assert synthetic_heldout_root(4, beside=synthetic_root) == root  # cached, not regenerated
    mri = load_amos(synthetic_heldout_root(2, ("MRI",), beside=synthetic_root)).cases
    assert [c.modality for c in mri] == ["MRI", "MRI"]
    with pytest.raises(ValueError, match="modalities must be"):
        synthetic_heldout_root(2, ("PET",), beside=synthetic_root)
    with pytest.raises(ValueError, match="n_cases must be"):
        synthetic_heldout_root(0, beside=synthetic_root)


def test_score_ladder_refuses_extra_cases_that_are_test_cases(synthetic_root, tmp_path):
    from amos_tutorial.benchmark.ablation import LadderRuns
    from amos_tutorial.data.layout import load_amos

    case = load_amos(synthetic_root).cases[0]
    ladder = LadderRuns(root=synthetic_root, pool_root=None, test_cases=[case.case_id], test_source="validation split")
    with pytest.raises(ValueError, match="share ids"):
        score_ladder(ladder, ladder_setup(smoke=True), tmp_path, device="cpu", extra_test=[case])
