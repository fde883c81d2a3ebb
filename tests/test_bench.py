"""``amos bench``: the smoke benchmark end to end, resuming, failures, the report and the CLI.

The slow tests share one benchmark folder on the tiny synthetic set of ``conftest.py`` (2 training + 1
validation case of at most 48x48x16 voxels), two tiny models (UNet, SegResNet) and 4 iterations:
a first session stops the first model after 2 steps, a second one resumes it and trains the other.
Later tests work on copies of that folder.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from amos_tutorial.benchmark import report
from amos_tutorial.benchmark.bench import run_benchmark
from amos_tutorial.benchmark.budgets import BUDGETS, budget_table
from amos_tutorial.benchmark.results import MACHINE_COLUMNS, bench_columns, machine_info, organ_columns
from amos_tutorial.evaluation.metric_table import list_metrics, metric_names
from amos_tutorial.benchmark.speed import SPEED_REPORT_COLUMNS, format_speed_report
from amos_tutorial.cli import main as amos_main
from amos_tutorial.labels import ORGAN_IDS, label_by_id
from amos_tutorial.models import ModelSpec
from amos_tutorial.models import registry as model_registry

MODELS = ["unet", "segresnet"]
ITERATIONS = 4


def _bench(root: Path, out: Path, cache: Path, models=MODELS, **kw):
    kw.setdefault("iterations", ITERATIONS)
    return run_benchmark(
        models, data=str(root), budget="smoke", out=out, device="cpu", cache_dir=cache, threads=1,
        progress=False, log=lambda msg: None, **kw,
    )  # fmt: skip


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("preprocessed")


@pytest.fixture(scope="module")
def sessions(synthetic_root: Path, cache: Path, tmp_path_factory: pytest.TempPathFactory):
    """Session 1 stops after 2 steps of the first model; session 2 (same command) finishes everything."""
    out = tmp_path_factory.mktemp("bench") / "smoke"
    first = _bench(synthetic_root, out, cache, stop_after=2)
    first_results = pd.read_csv(out / "results.csv", keep_default_na=False, na_values=[""])
    second = _bench(synthetic_root, out, cache)
    return first, first_results, second, out


# --- fast: budgets, schema, machine, arguments -----------------------------------------------------


def test_the_budgets_are_defined():
    assert list(BUDGETS) == ["smoke", "quick", "short", "full"]
    smoke, quick, short, full = (BUDGETS[b] for b in ("smoke", "quick", "short", "full"))
    assert smoke.variant == "tiny"
    assert smoke.iterations
    assert smoke.iterations <= 50
    assert smoke.eval_cases
    assert quick.variant == "tiny"
    assert quick.preset == "quick"
    assert quick.iterations == 600
    assert short.variant == "full"
    assert short.iterations
    assert short.iterations < 250_000
    assert full.variant == "full"
    assert full.iterations is None  # the recipe's 1000 x 250
    table = budget_table()
    assert list(table.index) == ["smoke", "quick", "short", "full"]
    assert table.loc["full", "iterations"].startswith("recipe")


def test_results_schema_has_every_column():
    assert len(set(bench_columns())) == len(bench_columns())
    for needed in (
        "model", "status", "error", "parameters", "iterations", "train_time_s", "s_per_step", "patches_per_s",
        "peak_gib", "inference_s_per_case", "mean_dsc", "mean_nsd", "budget", "data", "seed",
        "device", "cpu", "gpu", "torch", "monai", "amos_tutorial", "python",
    ):  # fmt: skip
        assert needed in bench_columns(), needed
    assert len(organ_columns()) == 15 * len(metric_names())
    assert set(organ_columns()) <= set(bench_columns())
    assert f"dsc_{label_by_id(8).name}" == "dsc_aorta"
    assert "nsd_prostate_uterus" in organ_columns()
    assert "hd95_prostate_uterus" in organ_columns()
    assert {f"mean_{m}" for m in metric_names()} <= set(bench_columns())
    assert set(MACHINE_COLUMNS) <= set(bench_columns())


def test_machine_info_on_the_cpu():
    info = machine_info("cpu")
    assert sorted(info) == sorted(MACHINE_COLUMNS)
    assert info["device"] == "cpu"
    assert info["gpu"] == "none"
    assert info["amp"] == "fp32"
    assert info["torch"] == torch.__version__
    assert info["cpu_count"] >= 1
    assert info["cpu"]


def test_bad_arguments_fail_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="no_such_net"):
        run_benchmark(["unet", "no_such_net"], out=tmp_path)
    with pytest.raises(ValueError, match="budget"):
        run_benchmark(["unet"], budget="medium", out=tmp_path)
    with pytest.raises(ValueError, match="either iterations or minutes"):
        run_benchmark(["unet"], iterations=5, minutes=1.0, out=tmp_path)
    with pytest.raises(ValueError, match="twice"):
        run_benchmark("unet,unet", out=tmp_path)
    with pytest.raises(ValueError, match="no model"):
        run_benchmark(" , ", out=tmp_path)
    with pytest.raises(ValueError, match="eval_cases"):
        run_benchmark(["unet"], eval_cases=0, out=tmp_path)
    with pytest.raises(FileNotFoundError, match="missing"):
        run_benchmark(["unet"], data=tmp_path / "missing", out=tmp_path / "out")
    assert not (tmp_path / "results.csv").exists()


# --- fast: the report from a hand-made table -------------------------------------------------------


def _fake_results(budget: str = "short", data: str = "/data/amos22") -> pd.DataFrame:
    rows = []
    for model, dsc, hours, status in (("unet", 0.80, 2.0, "ok"), ("nnunet", 0.88, 9.0, "ok"), ("vnet", None, None, "failed")):
        row = {c: np.nan for c in bench_columns()}
        row.update(model=model, status=status, error="" if status == "ok" else "OutOfMemoryError: CUDA out of memory",
                   budget=budget, data=data, device="cuda", amp="bf16", gpu="NVIDIA H100 80GB HBM3", cpu="x",
                   torch="2.11.0", monai="1.6.1", eval_cases=120)  # fmt: skip
        if status == "ok":
            row.update(mean_dsc=dsc, mean_nsd=dsc - 0.1, train_time_s=hours * 3600, parameters=5e6, iterations=2500,
                       s_per_step=hours * 3600 / 2500, inference_s_per_case=4.0)  # fmt: skip
            for i, organ in enumerate(ORGAN_IDS):
                row[f"dsc_{label_by_id(organ).name}"] = dsc - 0.01 * i
                row[f"nsd_{label_by_id(organ).name}"] = np.nan if organ == 15 else dsc - 0.1
        rows.append(row)
    return pd.DataFrame(rows)[list(bench_columns())]


def test_leaderboard_ranks_by_dsc_and_names_the_machine():
    frame = _fake_results()
    board = report.leaderboard_frame(frame)
    assert list(board["model"]) == ["nnunet", "unet", "vnet"]
    assert list(board["rank"]) == ["1", "2", "-"]
    assert board.loc[2, "status"].startswith("failed: OutOfMemoryError")
    text = report.leaderboard_markdown(frame)
    assert "NVIDIA H100 80GB HBM3" in text
    assert "budget short on amos22" in text
    assert "120 evaluation" in text
    assert "not AMOS results" not in text  # real data, GPU budget: no caveat
    table_lines = [line for line in text.splitlines() if line.startswith("|")]
    assert len(table_lines) == 2 + 3
    assert "0.8800" in table_lines[2]


def test_smoke_and_synthetic_results_carry_the_caveat():
    frame = _fake_results(budget="smoke", data="synthetic")
    caveat = report.results_caveat(frame)
    assert caveat
    assert "not AMOS results" in caveat
    assert "synthetic" in caveat
    assert caveat in report.leaderboard_markdown(frame)
    assert report.results_caveat(_fake_results()) is None


def test_figures_and_atomic_report(tmp_path):
    frame = _fake_results(budget="smoke")
    fig = report.plot_accuracy_vs_time(frame)
    assert len(fig.axes) == 2
    assert fig.axes[0].get_xlabel() == "training time (hours)"
    assert "not AMOS results" in fig._suptitle.get_text()
    heat = report.plot_organ_heatmap(frame)
    labels = [t.get_text() for t in heat.axes[0].get_yticklabels()]
    assert labels == ["nnunet", "unet"]  # finished models only, best first
    assert [t.get_text() for t in heat.axes[1].get_xticklabels()][:2] == ["spleen", "kidney_right"]  # DSC, NSD, colour bars
    with pytest.raises(ValueError, match="metrics"):
        report.plot_organ_heatmap(frame, metrics=("hd99",))
    files = report.write_report(frame, tmp_path)
    assert sorted(files) == ["accuracy_vs_time", "leaderboard", "organ_heatmap"]
    assert all(p.is_file() and p.stat().st_size > 0 for p in files.values())
    assert files["organ_heatmap"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left
    nothing = frame.assign(status="failed")
    with pytest.raises(ValueError, match="no finished model"):
        report.plot_accuracy_vs_time(nothing)
    assert sorted(report.write_report(nothing, tmp_path / "none")) == ["leaderboard"]


def test_load_results_checks_the_file(tmp_path):
    good = tmp_path / "gpu_results.csv"
    _fake_results().to_csv(good, index=False)
    back = report.load_results(good)
    assert list(back.columns) == list(bench_columns())
    assert back.loc[0, "error"] == ""
    bad = tmp_path / "bad.csv"
    _fake_results().drop(columns=["mean_nsd", "gpu"]).to_csv(bad, index=False)
    with pytest.raises(ValueError, match=r"bad\.csv: not a results table .*mean_nsd"):
        report.load_results(bad)
    with pytest.raises(FileNotFoundError, match="nothing.csv"):
        report.load_results(tmp_path / "nothing.csv")


def test_choose_results_prefers_committed_gpu_results(tmp_path):
    smoke = _fake_results(budget="smoke", data="synthetic")
    committed = tmp_path / "results" / "gpu_results.csv"
    table, sentence = report.choose_results(committed, smoke)
    assert table is smoke
    assert "not committed yet" in sentence
    assert "not AMOS results" in sentence
    committed.parent.mkdir()
    _fake_results().to_csv(committed, index=False)
    table, sentence = report.choose_results(committed, smoke)
    assert (table["budget"] == "short").all()
    assert "gpu_results.csv" in sentence
    assert "H100" in sentence
    assert "not AMOS results" not in sentence
    with pytest.raises(ValueError, match="no results"):
        report.choose_results(tmp_path / "none.csv", None)


def test_format_speed_report():
    row = {
        "model": "unet", "variant": "full", "device": "cuda", "amp": "bf16", "patch": "96x96x96", "batch": 2,
        "params_M": 4.8, "s_per_step": 0.017, "loop_s_per_step": 0.104, "data_s_per_step": 0.1, "ratio": 0.16, "patches_per_s": 117.0,
        "loop_patches_per_s": 19.2, "peak_gib": 0.9, "loop_peak_gib": 1.2, "iterations": 20,
        "inference_s_per_case": 4.0, "inference_cases": 1, "error": "",
    }  # fmt: skip
    frame = pd.DataFrame([row])
    assert list(frame.columns) == list(SPEED_REPORT_COLUMNS)
    text = format_speed_report(frame)
    assert "raw step ms" in text
    assert "whole loop ms" in text
    assert "0.16" in text
    assert "4.00" in text
    with pytest.raises(ValueError, match="speed_report"):
        format_speed_report(frame.drop(columns="ratio"))


# --- slow: the smoke benchmark end to end ---------------------------------------------------------


@pytest.mark.slow
def test_interrupted_session_records_and_stops(sessions):
    first, first_results, _, out = sessions
    assert first.interrupted
    assert first.stop_reason == "stop_after"
    assert list(first_results["model"]) == MODELS
    assert list(first_results["status"]) == ["interrupted", "pending"]
    assert first_results.loc[0, "iterations"] == 2
    assert (out / "leaderboard.md").is_file()
    assert "accuracy_vs_time" not in first.files


@pytest.mark.slow
def test_smoke_bench_results_are_complete_and_sane(sessions, synthetic_root):
    _, _, second, out = sessions
    assert not second.interrupted
    frame = report.load_results(out / "results.csv")  # every column present
    assert list(frame["model"]) == MODELS
    assert (frame["status"] == "ok").all()
    assert (frame["error"] == "").all()
    assert (frame["iterations"] == ITERATIONS).all()
    assert (frame["budget"] == "smoke").all()
    assert (frame["variant"] == "tiny").all()
    assert (frame["patch"] == "32x32x32").all()
    assert (frame["parameters"] > 1000).all()
    assert frame["parameters"].nunique() == 2
    assert (frame["train_time_s"] > 0).all()
    assert (frame["inference_s_per_case"] > 0).all()
    assert np.allclose(frame["s_per_step"], frame["train_time_s"] / frame["iterations"])
    assert np.allclose(frame["patches_per_s"], frame["iterations"] * frame["batch_size"] / frame["train_time_s"])
    assert frame["peak_gib"].isna().all()  # CPU: no GPU memory
    for metric in list_metrics():
        low, high = metric.value_range or (0.0, np.inf)
        for column in (f"mean_{metric.name}", *(c for c in organ_columns() if c.startswith(f"{metric.name}_"))):
            values = frame[column].dropna()
            assert ((values >= low) & (values <= high)).all(), column
    assert frame["mean_dsc"].notna().all()
    assert frame["mean_nsd"].notna().all()
    assert (frame["device"] == "cpu").all()
    assert (frame["torch"] == torch.__version__).all()
    assert (frame["python"].str.count(r"\.") == 2).all()
    assert (frame["eval_cases"] == 1).all()
    # The mean DSC is the mean of the per-case, per-organ scores that the model's evaluation.csv holds
    # (written with 6 decimals: a tiny smoke Dice needs an absolute tolerance too).
    tidy = pd.read_csv(out / "runs" / "unet" / "evaluation.csv")
    assert math.isclose(frame.loc[0, "mean_dsc"], tidy["dsc"].mean(), rel_tol=1e-5, abs_tol=1e-6)
    # Same split for every model: the validation case, linked once.
    split = json.loads((out / "split.json").read_text())
    assert len(split["eval_cases"]) == 1
    assert len(split["train_cases"]) == 2
    assert split["eval_source"].startswith("AMOS validation split")
    assert sorted(p.name for p in (out / "eval" / "labels").iterdir()) == [f"{c}.nii.gz" for c in split["eval_cases"]]
    for name in ("leaderboard.md", "accuracy_vs_time.png", "organ_heatmap.png"):
        assert (out / name).is_file()
    assert not list(out.rglob(".*.tmp"))
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


@pytest.mark.slow
def test_interrupted_model_resumed_from_its_checkpoint(sessions):
    _, _, second, out = sessions
    state = json.loads((out / "runs" / "unet" / "bench_state.json").read_text())
    assert [(s["start"], s["end"]) for s in state["sessions"]] == [(0, 2), (2, ITERATIONS)]
    assert second.results.set_index("model").loc["unet", "train_sessions"] == 2
    other = json.loads((out / "runs" / "segresnet" / "bench_state.json").read_text())
    assert [(s["start"], s["end"]) for s in other["sessions"]] == [(0, ITERATIONS)]
    metrics = pd.read_csv(out / "runs" / "unet" / "metrics.csv")
    assert metrics["iteration"].max() == ITERATIONS


@pytest.mark.slow
def test_finished_models_are_skipped_not_retrained(sessions, synthetic_root, cache, tmp_path, monkeypatch):
    _, _, second, out = sessions
    copy = tmp_path / "copy"
    shutil.copytree(out, copy, symlinks=True)

    def no_training(*args, **kwargs):
        raise AssertionError("a finished model was trained again")

    monkeypatch.setattr("amos_tutorial.training.train", no_training)
    monkeypatch.setattr("amos_tutorial.inference.predict_folder", no_training)
    again = _bench(synthetic_root, copy, cache)
    assert list(again.results["status"]) == ["ok", "ok"]
    pd.testing.assert_series_equal(again.results["mean_dsc"], second.results["mean_dsc"])
    # Other settings in the same folder are refused, naming the settings file.
    with pytest.raises(ValueError, match=r"bench\.json: .*other settings \(iterations\)"):
        _bench(synthetic_root, copy, cache, iterations=ITERATIONS + 1)


def test_external_prediction_folders_are_scored_as_rows(sessions, synthetic_root, cache, tmp_path, monkeypatch):
    _, _, second, out = sessions
    copy = tmp_path / "copy"
    shutil.copytree(out, copy, symlinks=True)
    monkeypatch.setattr("amos_tutorial.training.train", lambda *a, **k: pytest.fail("nothing must be trained"))
    # UNet's own predictions as an "external" folder (nnU-Net's output in the book): same files, same scores.
    external = {"nnunetv2": copy / "runs" / "unet" / "pred", "empty": tmp_path}
    bench = _bench(synthetic_root, copy, cache, external=external)
    rows = bench.results.set_index("model")
    assert list(rows.index) == [*MODELS, "nnunetv2", "empty"]
    assert rows.loc["nnunetv2", "status"] == "ok"
    assert rows.loc["nnunetv2", "variant"] == "external"
    assert rows.loc["nnunetv2", "mean_dsc"] == pytest.approx(rows.loc["unet", "mean_dsc"])
    assert rows.loc["empty", "status"] == "failed"
    assert "missing prediction" in rows.loc["empty", "error"]
    with pytest.raises(FileNotFoundError, match="external prediction folder"):
        _bench(synthetic_root, copy, cache, external={"x": tmp_path / "absent"})
    with pytest.raises(ValueError, match="clashes"):
        _bench(synthetic_root, copy, cache, external={"unet": tmp_path})


@pytest.mark.slow
def test_a_failing_model_is_recorded_and_the_rest_continue(sessions, synthetic_root, cache, tmp_path, monkeypatch):
    _, _, _, out = sessions
    copy = tmp_path / "copy"
    shutil.copytree(out, copy, symlinks=True)

    def broken(*args, **kwargs):
        raise RuntimeError("deliberately broken network")

    spec = ModelSpec("broken", broken, (32, 32, 32), 2, {"name": "sgd", "lr": 0.01}, {"name": "poly"})
    monkeypatch.setitem(model_registry._REGISTRY, "broken", spec)
    bench = _bench(synthetic_root, copy, cache, models=["broken", "unet"])
    rows = bench.results.set_index("model")
    assert rows.loc["broken", "status"] == "failed"
    assert "RuntimeError: deliberately broken network" in rows.loc["broken", "error"]
    assert rows.loc["unet", "status"] == "ok"
    assert not bench.interrupted
    saved = report.load_results(copy / "results.csv")
    assert list(saved["status"]) == ["failed", "ok"]
    assert "failed: RuntimeError" in (copy / "leaderboard.md").read_text()
    assert json.loads((copy / "runs" / "broken" / "bench_state.json").read_text())["status"] == "failed"


# --- the CLI ---------------------------------------------------------------------------------------


def test_cli_help_explains_the_run_and_speed(capsys):
    with pytest.raises(SystemExit) as exit_info:
        amos_main(["bench", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for needed in ("--models", "--budget", "--out", "speed", "smoke", "short", "full", "resume"):
        assert needed in out, needed
    assert amos_main(["bench"]) == 2  # no options: the help
    assert "--models" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        amos_main(["bench", "speed", "--help"])
    assert "--inference-cases" in capsys.readouterr().out
    assert amos_main(["bench", "--models", "no_such_net", "--device", "cpu"]) == 2
    assert "no_such_net" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_runs_the_benchmark(sessions, synthetic_root, cache, tmp_path, capsys):
    _, _, _, out = sessions
    copy = tmp_path / "copy"
    shutil.copytree(out, copy, symlinks=True)
    argv = [
        "bench", "--models", ",".join(MODELS), "--data", str(synthetic_root), "--budget", "smoke", "--out", str(copy),
        "--device", "cpu", "--iterations", str(ITERATIONS), "--cache-dir", str(cache), "--no-progress", "--threads", "1",
    ]  # fmt: skip
    assert amos_main(argv) == 0
    printed = capsys.readouterr().out
    assert "finished earlier, skipped" in printed
    assert "mean DSC" in printed
    assert "leaderboard.md" in printed
    argv_other = [a if a != str(ITERATIONS) else "7" for a in argv]
    assert amos_main(argv_other) == 2
    assert "bench.json" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_speed_adds_inference_seconds(synthetic_root, cache, tmp_path, capsys):
    csv = tmp_path / "speed.csv"
    code = amos_main([
        "bench", "speed", "--models", "unet", "--iterations", "1", "--warmup", "0", "--device", "cpu",
        "--data", str(synthetic_root), "--cache-dir", str(cache), "--out", str(csv), "--inference-cases", "1",
    ])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "raw step ms" in out
    assert "whole loop ms" in out
    assert "inference s/case" in out
    frame = pd.read_csv(csv, keep_default_na=False, na_values=[""])
    assert list(frame.columns) == list(SPEED_REPORT_COLUMNS)
    row = frame.iloc[0]
    assert row["inference_cases"] == 1
    assert row["inference_s_per_case"] > 0
    assert row["s_per_step"] > 0
    assert row["ratio"] == pytest.approx(row["s_per_step"] / row["loop_s_per_step"])


@pytest.mark.slow
def test_a_wall_clock_budget_becomes_measured_iterations(synthetic_root, cache, tmp_path):
    minutes = 0.02  # 1.2 s of training
    bench = _bench(synthetic_root, tmp_path / "clock", cache, models=["unet"], iterations=None, minutes=minutes)
    state = json.loads((tmp_path / "clock" / "runs" / "unet" / "bench_state.json").read_text())
    assert state["loop_s_per_step"] > 0
    assert state["iterations"] == max(1, int(minutes * 60 / state["loop_s_per_step"]))
    row = bench.results.iloc[0]
    assert row["status"] == "ok"
    assert row["iterations"] == state["iterations"]
    assert json.loads((tmp_path / "clock" / "bench.json").read_text())["minutes"] == minutes


@pytest.mark.parametrize("name", ["../evil", "a/b", "..", ".hidden", "x..y"])
def test_external_row_names_are_plain_names(tmp_path, name):
    from amos_tutorial.benchmark.bench import _check_external

    with pytest.raises(ValueError, match="must be a plain name"):
        _check_external({name: tmp_path}, ["unet"])
    assert _check_external({"nnunetv2": tmp_path}, ["unet"]) == {"nnunetv2": tmp_path}


def test_a_repeated_external_name_is_refused(tmp_path, capsys):
    code = amos_main(["bench", "--models", "unet", "--out", str(tmp_path / "b"), "--external", f"nn={tmp_path}",
                      "--external", f"nn={tmp_path / 'other'}"])
    err = capsys.readouterr().err
    assert code == 2
    assert "--external nn: given twice" in err
    assert not (tmp_path / "b").exists()
