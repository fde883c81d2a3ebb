"""``amos bench``: train, predict and evaluate several baselines under one budget, resumably.

Introduced in chapter *Benchmarking the baselines*. Builds on the trainer
(:func:`amos_tutorial.training.train`), the predictor (:func:`amos_tutorial.inference.predict_folder`),
the evaluator (:func:`amos_tutorial.evaluation.evaluate_folder` and its summaries), the model registry
and, for ``amos bench speed``, :func:`amos_tutorial.benchmark.speed.speed_benchmark`.

**A fair comparison.** Every model of one benchmark folder gets

* the same data split: the trainer's rule (the labelled training split for training; the AMOS
  validation split, or held-out training cases when it has no labels, for evaluation), written to
  ``split.json``, and each trained run's own record (``cases.json``) is checked against it before it is scored;
* the same preprocessing (the package's default :class:`~amos_tutorial.transforms.preprocessing.PreprocessConfig`,
  hence one shared preprocessed cache), the same seed and the same evaluation conventions;
* the same budget (:data:`BUDGETS`): ``smoke`` (tiny variants, a few iterations, CPU-friendly),
  ``short`` (the full networks and recipes for a fixed, small number of iterations, on a GPU) or
  ``full`` (the recipe: 1000 epochs x 250 iterations). ``minutes=`` turns the budget into equal
  wall-clock instead: each model gets the number of iterations that fits, measured on this machine.

Each model keeps the recipe of its registry entry (patch, batch, optimiser, schedule); ``patch_size=``
and ``batch_size=`` make them equal for all (the AMOS organisers trained every baseline with one
nnU-Net setup). Training time is the time in the training loop (steps and patch sampling), from the
trainer's ``metrics.csv``. The evaluation uses the *last* checkpoint by default: the trainer selects ``best.pt`` on
validation cases that the benchmark also scores, which would favour it.

**Resumable.** ``BENCH_DIR/runs/<model>/`` holds the model's training run, its predictions and its
``bench_state.json``. Run the same command again: finished models are skipped (not retrained), an
interrupted training resumes from its checkpoint (``train(resume=True)``), an interrupted prediction
resumes with the next case. A model that fails is recorded (``status="failed"`` and ``error``) and the
others still run; it is retried by the next run.

Folder::

    BENCH_DIR/bench.json           the settings (a second run with other settings is refused)
    BENCH_DIR/split.json           training and evaluation cases
    BENCH_DIR/eval/images|labels/  links to the evaluation cases
    BENCH_DIR/runs/<model>/        the training run (config.json, metrics.csv, checkpoints/), pred/ (predictions),
                                   inference_times.csv, evaluation.csv (per case and organ), bench_state.json
    BENCH_DIR/results.csv          one row per model (:func:`~amos_tutorial.benchmark.results.bench_columns`)
    BENCH_DIR/leaderboard.md       the ranking as a markdown table
    BENCH_DIR/accuracy_vs_time.png, BENCH_DIR/organ_heatmap.png

Every file is written atomically (:mod:`amos_tutorial.utils.io`).

Examples:
    >>> bench = run_benchmark(["unet", "segresnet"], data="synthetic", budget="smoke", out="bench/smoke")  # doctest: +SKIP
    >>> bench.results[["model", "status", "mean_dsc", "train_time_s"]]                                    # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import math
import os
import re
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from amos_tutorial.benchmark.budgets import BUDGETS, Budget
from amos_tutorial.benchmark.options import BenchOptions
from amos_tutorial.benchmark.report import write_report
from amos_tutorial.benchmark.split import check_run_cases, link_eval_cases, prepare_split
from amos_tutorial.benchmark.results import RESULTS_FILE, bench_columns, error_line, machine_info
from amos_tutorial.labels import ORGAN_IDS, label_by_id
from amos_tutorial.training.rundir import RunDir
from amos_tutorial.utils.io import atomic_path, atomic_write_text
from amos_tutorial.utils.timing import free_gpu_memory, peak_memory_gib, reset_peak_memory, thread_limit

__all__ = ["BenchOptions", "BenchResult", "run_benchmark"]

SETTINGS_FILE = "bench.json"
SPLIT_FILE = "split.json"
STATE_FILE = "bench_state.json"
@dataclass
class BenchResult:
    """What :func:`run_benchmark` returns.

    Introduced in chapter *Benchmarking the baselines*.

    Attributes:
        results: One row per model (:func:`~amos_tutorial.benchmark.results.bench_columns`), as in ``results.csv``.
        out_dir: The benchmark folder.
        files: Files written: ``results``, ``leaderboard`` and the figures that could be drawn.
        interrupted: Whether the run stopped early (``stop_after`` or Ctrl-C): run it again to resume.
        stop_reason: ``"stop_after"``, ``"SIGINT"``, ``"SIGTERM"`` or None.
    """

    results: pd.DataFrame
    out_dir: Path
    files: dict[str, Path] = field(default_factory=dict)
    interrupted: bool = False
    stop_reason: str | None = None

    @property
    def leaderboard(self) -> str:
        """The markdown leaderboard (``leaderboard.md``)."""
        path = self.files.get("leaderboard")
        return path.read_text(encoding="utf-8") if path is not None and path.is_file() else ""


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read it ({exc}); delete it to start this part again") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object; delete it to start this part again")  # noqa: TRY004
    return data


def _write_json(path: Path, data: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def _parse_models(models: Sequence[str] | str) -> list[str]:
    from amos_tutorial.models import list_models

    names = models.split(",") if isinstance(models, str) else list(models)
    names = [str(m).strip() for m in names if str(m).strip()]
    if not names:
        raise ValueError("no model given: pass registry names, e.g. models=['unet', 'segresnet']")
    duplicates = sorted({m for m in names if names.count(m) > 1})
    if duplicates:
        raise ValueError(f"model(s) listed twice: {', '.join(duplicates)}")
    known = list_models()
    unknown = [m for m in names if m not in known]
    if unknown:
        raise ValueError(f"unknown model(s) {', '.join(unknown)}; registered models: {', '.join(known)}")
    return names


# --------------------------------------------------------------------------------------------
# One model
# --------------------------------------------------------------------------------------------


def _empty_row(model: str, status: str, settings: dict[str, Any], machine: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {c: np.nan for c in bench_columns()}
    row.update(
        model=model,
        status=status,
        error="",
        budget=settings["budget"],
        data=settings["data"],
        seed=settings["seed"],
        eval_cases=len(settings["eval_cases"]),
        train_sessions=0,
        finished_at="",
    )
    row.update(machine)
    return row


def _training_time(run_dir: Path, session_starts: Sequence[int], iterations: int) -> float:
    """Seconds of training-loop time (steps and patch sampling) for ``iterations`` steps, from ``metrics.csv``.

    Each row of the trainer's ``metrics.csv`` holds the seconds of one epoch. When a session stopped in
    the middle of an epoch, the resumed row only timed the steps after ``start``: the seconds are
    divided by the steps they really cover, and the run's time is that rate times ``iterations``.
    """
    return RunDir(run_dir).seconds_per_step(session_starts, skip_first=False) * iterations


def _calibrate(name: str, settings: dict[str, Any], device: str, cache_dir: str | None, log: Callable) -> dict:
    """Iterations that fit in ``settings['minutes']`` at this machine's whole-loop speed."""
    from amos_tutorial.benchmark.speed import speed_benchmark

    budget = BUDGETS[settings["budget"]]
    frame = speed_benchmark(
        [name],
        iterations=settings["calibration_iterations"],
        warmup=2,
        variant=budget.variant,
        device=device,
        data=settings["data"],
        batch_size=settings["batch_size"],
        patch_size=settings["patch_size"],
        amp=settings["amp"] or "auto",
        seed=settings["seed"],
        cache_dir=cache_dir,
        progress=False,
    )
    row = frame.iloc[0]
    if row["error"]:
        raise RuntimeError(f"{name}: calibration of the wall-clock budget failed ({row['error']})")
    loop_s = float(row["loop_s_per_step"])
    iterations = max(1, int(settings["minutes"] * 60 / loop_s))
    log(f"{name}: {loop_s:.3f} s per iteration measured: {settings['minutes']:g} min = {iterations} iterations")
    return {"iterations": iterations, "loop_s_per_step": loop_s}


def _train_model(
    name: str,
    model_dir: Path,
    state: dict[str, Any],
    settings: dict[str, Any],
    device: str,
    cache_dir: str | None,
    stop_after: int | None,
    progress: bool,
    log: Callable,
) -> Any:
    """Train (or resume) one model; returns the trainer's RunResult."""
    from amos_tutorial.training import train
    from amos_tutorial.training.amp import resolve_device

    budget = BUDGETS[settings["budget"]]
    run_exists = RunDir(model_dir).config_path.is_file()
    dev = resolve_device(device)
    reset_peak_memory(dev)
    start = time.perf_counter()
    common = {"device": device, "progress": progress, "stop_after": stop_after, "cache_dir": cache_dir}
    if settings["amp"]:
        common["amp"] = settings["amp"]
    if run_exists:
        log(f"{name}: resuming its training in {model_dir}")
        result = train(model=name, out=model_dir, resume=True, **common)
    else:
        overrides = {
            "seed": settings["seed"],
            "val_cases": budget.val_cases,
            "patch_size": tuple(settings["patch_size"]) if settings["patch_size"] else None,
            "batch_size": settings["batch_size"],
            "fold": settings.get("fold"),
        }
        result = train(
            model=name,
            data=settings["data"],
            out=model_dir,
            preset=budget.preset,
            iterations=state.get("iterations"),
            **common,
            **{k: v for k, v in overrides.items() if v is not None},
        )
    peak = peak_memory_gib(dev)
    previous_peak = state.get("peak_gib", state.get("peak_gpu_mem_GiB"))
    if previous_peak is not None and not math.isnan(previous_peak):
        peak = max(peak, previous_peak) if not math.isnan(peak) else previous_peak
    sessions = list(state.get("sessions", []))
    first = min(result.losses) if result.losses else result.iteration
    sessions.append({"start": int(first), "end": int(result.iteration), "wall_s": time.perf_counter() - start})
    state.update(peak_gib=peak, sessions=sessions, trained=bool(result.completed))
    return result


def _adopt_run(
    source: Path, model_dir: Path, name: str, spec: Budget, settings: dict[str, Any], log: Callable
) -> None:
    """Copy an already trained run into the benchmark folder after checking it matches the budget."""
    from amos_tutorial.training.config import load_config

    config_path = RunDir(source).config_path
    if not config_path.is_file():
        raise FileNotFoundError(f"{config_path}: not a run folder (no config.json) given for {name}")
    config = load_config(config_path)
    expected = {"model": name, "preset": spec.preset, "seed": settings["seed"]}
    if settings["iterations"] is not None:
        expected["iterations"] = settings["iterations"]
    found = {key: getattr(config, key) for key in expected}
    if found != expected:
        raise ValueError(f"{config_path}: run made with {found}, but this benchmark needs {expected}")
    shutil.copytree(source, model_dir, dirs_exist_ok=True, ignore=shutil.ignore_patterns("pred*", "*.lock"))
    log(f"{name}: using the run trained in {source}")


def _predict_model(
    model_dir: Path, split: dict[str, Any], settings: dict[str, Any], device: str, progress: bool
) -> dict[str, Any]:
    """Predict the evaluation cases (resumable) and return inference timings."""
    from amos_tutorial.inference import STAGES, predict_folder

    table = predict_folder(
        model_dir,
        split["images_dir"],
        model_dir / "pred",
        checkpoint=settings["checkpoint"],
        device=device,
        tta=settings["tta"],
        data_root=split["data_root"],
        progress=progress,
    )
    failed = table[table["status"] == "failed"]
    if len(failed):
        raise RuntimeError(f"prediction failed for {len(failed)} case(s), first {failed['case'].iloc[0]}: {failed['error'].iloc[0]}")
    written = table[table["status"] == "written"]
    times_path = model_dir / "inference_times.csv"
    columns = ["case", *STAGES, "save"]
    if times_path.is_file():
        # Cases predicted by an earlier, interrupted session keep their timings.
        before = pd.read_csv(times_path)
        written = pd.concat([before[~before["case"].isin(written["case"])], written[columns]], ignore_index=True)
    written = written[columns]
    with atomic_path(times_path) as tmp:
        written.to_csv(tmp, index=False)
    per_case = written[[*STAGES, "save"]].sum(axis=1)
    return {"inference_s_per_case": float(per_case.mean()) if len(per_case) else float("nan")}


def _evaluate_model(
    model_dir: Path, split: dict[str, Any], settings: dict[str, Any], workers: int, pred_dir: Path | None = None
) -> dict[str, Any]:
    """Score the predictions (``model_dir/pred`` or ``pred_dir``): the mean and one column per organ of every metric."""
    from amos_tutorial.evaluation import (
        evaluate_folder,
        organ_summary,
        overall_scores,
        save_metrics,
    )

    df = evaluate_folder(
        pred_dir if pred_dir is not None else model_dir / "pred",
        split["labels_dir"],
        data_root=split["data_root"],
        tolerance_mm=settings["tolerance_mm"],
        absent="nan",
        num_workers=workers,
    )
    model_dir.mkdir(parents=True, exist_ok=True)
    save_metrics(df, model_dir / "evaluation.csv")
    overall = overall_scores(df)
    out: dict[str, Any] = {f"mean_{metric}": value for metric, value in overall.items()}
    for modality in ("CT", "MRI"):  # NaN when the evaluated cases hold none of that modality
        out[f"mean_dsc_{modality.lower()}"] = float(df.loc[df["modality"] == modality, "dsc"].mean())
    organs = organ_summary(df).set_index("organ_id")
    for organ in ORGAN_IDS:
        name = label_by_id(organ).name
        for metric in overall:
            value = organs.loc[organ, metric] if organ in organs.index else np.nan
            out[f"{metric}_{name}"] = float(value)
    return out


def _model_facts(model_dir: Path) -> dict[str, Any]:
    from amos_tutorial.models import build_model_for_patch, count_parameters
    from amos_tutorial.training import load_config

    config = load_config(RunDir(model_dir).config_path)
    net = build_model_for_patch(config.model, config.variant, config.patch_size, config.preprocess.get("spacing"))
    return {
        "parameters": int(count_parameters(net)),
        "task": int(config.task),
        "variant": config.variant,
        "patch": "x".join(str(p) for p in config.patch_size),
        "batch_size": int(config.batch_size),
        "iterations_planned": int(config.iterations),
    }


# --------------------------------------------------------------------------------------------
# The benchmark
# --------------------------------------------------------------------------------------------


def _settings(data: str, budget: Budget, options: BenchOptions, split: dict[str, Any]) -> dict[str, Any]:
    o = options
    return {
        "format": 1,
        "data": data,
        "budget": budget.name,
        "seed": int(o.seed),
        "iterations": None if o.minutes is not None else (o.iterations if o.iterations is not None else budget.iterations),
        "minutes": o.minutes,
        "calibration_iterations": 10 if budget.variant == "full" else 3,
        "patch_size": list(o.patch_size) if o.patch_size else None,
        "batch_size": o.batch_size,
        "amp": o.amp,
        "tta": bool(o.tta),
        "checkpoint": o.checkpoint,
        "tolerance_mm": o.tolerance_mm,
        "absent": "nan",
        "val_cases": budget.val_cases,
        "eval_cases": split["eval_cases"],
        "eval_source": split["eval_source"],
        "fold": o.fold,
    }


def _check_settings(path: Path, settings: dict[str, Any]) -> None:
    if not path.is_file():
        return
    before = _read_json(path)
    changed = sorted(k for k in settings if before.get(k) != json.loads(json.dumps(settings[k])))
    if changed:
        raise ValueError(
            f"{path}: this benchmark folder was made with other settings ({', '.join(changed)}); "
            "use another output folder to compare under new settings"
        )


def run_benchmark(
    models: Sequence[str] | str,
    data: str | os.PathLike = "synthetic",
    budget: str = "smoke",
    out: str | os.PathLike | None = None,
    *,
    device: str = "auto",
    runs: dict[str, str | os.PathLike] | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    options: BenchOptions | None = None,
    **settings: Any,
) -> BenchResult:
    """Train, predict and evaluate every model under the same split, preprocessing, seed and budget.

    Introduced in chapter *Benchmarking the baselines*. Builds on :func:`amos_tutorial.training.train`,
    :func:`amos_tutorial.inference.predict_folder`, :func:`amos_tutorial.evaluation.evaluate_folder`
    and :mod:`amos_tutorial.benchmark.report` (leaderboard and figures). See the module docstring
    for the folder layout, fairness rules and resuming.

    Args:
        models: Registry names, as a list or a comma-separated string (``"unet,segresnet"``).
        data: ``"synthetic"`` or an AMOS folder.
        budget: ``"smoke"``, ``"quick"``, ``"short"`` or ``"full"`` (:data:`BUDGETS`).
        out: Benchmark folder (default ``bench/<budget>``).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``.
        runs: Runs already trained under this budget's settings, by model (for example the shared runs of
            :func:`amos_tutorial.training.shared.shared_run`): copied into the benchmark folder when the model
            has no run there yet, then finished (resumed) if needed, predicted and evaluated as usual. Their
            training time is read from their ``metrics.csv``. A run made with another preset, seed or length
            is refused.
        progress: Show the trainer's and predictor's progress bars.
        log: Where progress messages go.
        options: The settings every model shares (:class:`~amos_tutorial.benchmark.options.BenchOptions`:
            iterations or minutes, amp, seed, eval_cases, patch and batch size, tta, checkpoint, NSD
            tolerance, cache folder, evaluation workers, stop_after, threads, modality rule, fold, external
            prediction folders). :func:`amos_tutorial.benchmark.grid.run_grid` runs one job per (model, fold).
        **settings: Fields of :class:`~amos_tutorial.benchmark.options.BenchOptions` given as keywords
            (``iterations=20``, ``seed=1``...); they override ``options``.

    Returns:
        A :class:`BenchResult`; ``results.csv``, ``leaderboard.md`` and the figures are in ``out``.

    Raises:
        ValueError: For an unknown model or budget, bad options, or a folder made with other settings
            (one line naming the file).
        FileNotFoundError: If the data folder is missing.

    Examples:
        >>> bench = run_benchmark("unet,segresnet", data="synthetic", budget="smoke", device="cpu")  # doctest: +SKIP
        >>> print(bench.leaderboard)                                                                 # doctest: +SKIP
    """
    from amos_tutorial.paths import SYNTHETIC, resolve_data_root

    o = BenchOptions.build(options, settings)
    spec, names, n_eval = _check_arguments(
        models, budget, o.iterations, o.minutes, o.checkpoint, o.stop_after, o.threads, o.eval_workers, o.eval_cases
    )
    external = _check_external(o.external, names)
    fold = o.fold
    if fold is not None:
        from amos_tutorial.data.splits import DEFAULT_FOLDS

        if isinstance(fold, bool) or not isinstance(fold, int) or not 0 <= fold < DEFAULT_FOLDS:
            raise ValueError(f"fold must be an integer from 0 to {DEFAULT_FOLDS - 1}, got {fold!r}")
    data = str(data)
    data = SYNTHETIC if data == SYNTHETIC else str(resolve_data_root(data).resolve())
    resolve_data_root(data)  # generates the synthetic set once, or fails on a missing folder
    out_dir = Path(out) if out is not None else Path("bench") / budget
    out_dir.mkdir(parents=True, exist_ok=True)
    with thread_limit(o.threads):
        split = prepare_split(data, spec.val_cases, n_eval, o.seed, o.modality_rule, out_dir, fold)
        recorded = _settings(data, spec, o, split)
        _check_settings(out_dir / SETTINGS_FILE, recorded)
        _write_json(out_dir / SETTINGS_FILE, recorded)
        _write_json(out_dir / SPLIT_FILE, split)
        link_eval_cases(split)
        run = _Run(
            names, out_dir, split, recorded, machine_info(device, o.amp or "auto"), device,
            str(o.cache_dir) if o.cache_dir is not None else None, o.stop_after, o.eval_workers, progress, log,
            spec=spec, runs=dict(runs or {}), external=external,
        )  # fmt: skip
        run.announce(budget, spec)
        for k, name in enumerate(names, 1):
            run.bench_model(k, name)
            if run.stop_reason is not None:
                break
        for ext_name, ext_dir in external.items():
            if run.stop_reason is not None:
                break
            run.bench_external(ext_name, ext_dir)
        files = {"results": run.save_results()}
        files.update(write_report(run.table(), out_dir, log=log))
    return BenchResult(
        results=run.table(), out_dir=out_dir, files=files,
        interrupted=run.stop_reason is not None, stop_reason=run.stop_reason,
    )  # fmt: skip


def _check_arguments(
    models, budget, iterations, minutes, checkpoint, stop_after, threads, eval_workers, eval_cases
) -> tuple[Budget, list[str], int | None]:
    """The budget, the model names and the number of evaluation cases; one-line errors for bad values."""
    if budget not in BUDGETS:
        raise ValueError(f"unknown budget {budget!r}; choose one of {', '.join(BUDGETS)}")
    spec = BUDGETS[budget]
    names = _parse_models(models)
    if iterations is not None and minutes is not None:
        raise ValueError("give either iterations or minutes, not both")
    if iterations is not None and (not isinstance(iterations, int) or iterations < 1):
        raise ValueError(f"iterations must be a positive integer, got {iterations!r}")
    if minutes is not None and not (isinstance(minutes, (int, float)) and math.isfinite(minutes) and minutes > 0):
        raise ValueError(f"minutes must be a positive number, got {minutes!r}")
    if checkpoint not in ("last", "best"):
        raise ValueError(f"checkpoint must be 'last' or 'best', got {checkpoint!r}")
    if stop_after is not None and stop_after < 1:
        raise ValueError(f"stop_after must be >= 1, got {stop_after}")
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    if eval_workers < 0:
        raise ValueError(f"eval_workers must be >= 0, got {eval_workers}")
    n_eval = spec.eval_cases if eval_cases == -1 else eval_cases
    if n_eval is not None and n_eval < 1:
        raise ValueError(f"eval_cases must be >= 1, None (all) or -1 (the budget's), got {eval_cases!r}")
    return spec, names, n_eval


#: An external row's name: it becomes a folder name inside the benchmark folder.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _check_external(external: dict[str, str | os.PathLike] | None, names: list[str]) -> dict[str, Path]:
    """External prediction folders by row name; one-line errors for a clash or a missing folder."""
    checked = {str(k): Path(v) for k, v in (external or {}).items()}
    for ext_name, ext_dir in checked.items():
        if not ext_name or ext_name in names:
            raise ValueError(f"external row name {ext_name!r} is empty or clashes with a model name")
        if not _PLAIN_NAME.fullmatch(ext_name) or ".." in ext_name:
            raise ValueError(
                f"external row name {ext_name!r} must be a plain name (letters, digits, '.', '_', '-'; no path "
                "separator, no '..'): it names a folder inside the benchmark folder"
            )
        if not ext_dir.is_dir():
            raise FileNotFoundError(f"{ext_dir}: external prediction folder ({ext_name}) does not exist")
    return checked


@dataclass
class _Run:
    """One benchmark run: its settings, the rows so far, and the per-model steps (train, predict, evaluate)."""

    names: list[str]
    out_dir: Path
    split: dict[str, Any]
    settings: dict[str, Any]
    machine: dict[str, Any]
    device: str
    cache: str | None
    stop_after: int | None
    eval_workers: int
    progress: bool
    log: Callable[[str], None]
    spec: Budget | None = None
    runs: dict[str, str | os.PathLike] = field(default_factory=dict)
    external: dict[str, Path] = field(default_factory=dict)
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    stop_reason: str | None = None

    def announce(self, budget: str, spec: Budget) -> None:
        settings, split, machine = self.settings, self.split, self.machine
        if settings["minutes"] is not None:
            length = f"{settings['minutes']:g} min of training per model"
        elif settings["iterations"] is not None:
            length = f"{settings['iterations']:,} iterations per model"
        else:
            length = "the recipe's iterations"
        self.log(
            f"benchmark {self.out_dir}: {len(self.names)} model(s), budget {budget} ({spec.variant} variants, "
            f"{length}); {len(split['train_cases'])} training cases, {len(split['eval_cases'])} evaluation cases "
            f"({split['eval_source']}); {machine['device']} [{machine['amp']}]"
        )

    def empty_row(self, name: str, status: str) -> dict[str, Any]:
        return _empty_row(name, status, self.settings, self.machine)

    def table(self) -> pd.DataFrame:
        ordered = [self.rows.get(n) or self.empty_row(n, "pending") for n in (*self.names, *self.external)]
        return pd.DataFrame(ordered).reindex(columns=list(bench_columns()))

    def save_results(self) -> Path:
        path = self.out_dir / RESULTS_FILE
        with atomic_path(path) as tmp:
            self.table().to_csv(tmp, index=False)
        return path

    def bench_model(self, k: int, name: str) -> None:
        """Train, predict and evaluate one model (or skip it when finished earlier); record its row."""
        model_dir = self.out_dir / "runs" / name
        state_path = model_dir / STATE_FILE
        state = _read_json(state_path) if state_path.is_file() else {}
        if state.get("status") == "ok" and isinstance(state.get("row"), dict):
            self.log(f"[{k}/{len(self.names)}] {name}: finished earlier, skipped")
            self.rows[name] = {**self.empty_row(name, "ok"), **state["row"]}
            return
        self.log(f"[{k}/{len(self.names)}] {name}")
        row = self.empty_row(name, "failed")
        try:
            model_dir.mkdir(parents=True, exist_ok=True)
            if self.train(name, model_dir, state, row):
                self.finish(name, model_dir, state, row)
        except KeyboardInterrupt:
            row.update(status="interrupted", error="KeyboardInterrupt")
            self.rows[name] = row
            self.save_results()
            raise
        except Exception as exc:  # noqa: BLE001 - one failing model must not stop the others
            row.update(status="failed", error=error_line(exc))
            with contextlib.suppress(OSError, ValueError):
                _write_json(state_path, {**state, "status": "failed", "error": row["error"]})
            self.log(f"{name}: failed ({row['error']}); going on with the next model")
            free_gpu_memory()
        self.rows[name] = row
        self.save_results()

    def bench_external(self, name: str, pred_dir: Path) -> None:
        """Score an external prediction folder (nothing trained) as one more row."""
        row = self.empty_row(name, "failed")
        try:
            row.update(_evaluate_model(self.out_dir / "runs" / name, self.split, self.settings, self.eval_workers,
                                       pred_dir=pred_dir))
            row.update(status="ok", variant="external", finished_at=_dt.datetime.now().isoformat(timespec="seconds"))
            self.log(f"{name} (external, {pred_dir}): DSC {row['mean_dsc']:.4f}, NSD {row['mean_nsd']:.4f}")
        except Exception as exc:  # noqa: BLE001 - a bad folder must not lose the other rows
            row.update(status="failed", error=error_line(exc))
            self.log(f"{name}: failed ({row['error']})")
        self.rows[name] = row
        self.save_results()

    def train(self, name: str, model_dir: Path, state: dict[str, Any], row: dict[str, Any]) -> bool:
        """Train (or resume) until done; False (and an ``interrupted`` row) when the session stopped early."""
        settings = self.settings
        if settings["minutes"] is not None and "iterations" not in state:
            state.update(_calibrate(name, settings, self.device, self.cache, self.log))
        elif settings["iterations"] is not None:
            state.setdefault("iterations", settings["iterations"])
        if state.get("trained"):
            return True
        if name in self.runs and self.spec is not None and not RunDir(model_dir).config_path.is_file():
            _adopt_run(Path(self.runs[name]), model_dir, name, self.spec, settings, self.log)
        result = _train_model(
            name, model_dir, state, settings, self.device, self.cache, self.stop_after, self.progress, self.log
        )
        _write_json(model_dir / STATE_FILE, {**state, "status": "interrupted" if not result.completed else "trained"})
        if result.completed:
            return True
        self.stop_reason = result.stop_reason or "stop_after"
        row.update(status="interrupted", error=f"stopped at iteration {result.iteration} ({self.stop_reason})")
        row.update({c: v for c, v in _model_facts(model_dir).items() if c in bench_columns()})
        row.update(iterations=result.iteration, train_sessions=len(state["sessions"]))
        self.log(f"{name}: stopped at iteration {result.iteration}; run the same command again to resume")
        return False

    def finish(self, name: str, model_dir: Path, state: dict[str, Any], row: dict[str, Any]) -> None:
        """Training time, prediction and evaluation of a trained model; the row is then ``ok``."""
        check_run_cases(model_dir, self.split, self.log)
        facts = _model_facts(model_dir)
        row.update({c: v for c, v in facts.items() if c in bench_columns()})
        row["iterations"] = facts["iterations_planned"]
        starts = [int(x["start"]) for x in state.get("sessions", [])]
        train_s = _training_time(model_dir, starts, row["iterations"])
        row.update(
            train_time_s=train_s,
            s_per_step=train_s / row["iterations"],
            patches_per_s=row["iterations"] * row["batch_size"] / train_s if train_s > 0 else np.nan,
            peak_gib=state.get("peak_gib", state.get("peak_gpu_mem_GiB", np.nan)),
            train_sessions=len(state.get("sessions", [])),
        )
        row.update(_predict_model(model_dir, self.split, self.settings, self.device, self.progress))
        row.update(_evaluate_model(model_dir, self.split, self.settings, self.eval_workers))
        row.update(status="ok", error="", finished_at=_dt.datetime.now().isoformat(timespec="seconds"))
        state.update(status="ok", row={c: row[c] for c in bench_columns()})
        _write_json(model_dir / STATE_FILE, state)
        self.log(
            f"{name}: DSC {row['mean_dsc']:.4f}, NSD {row['mean_nsd']:.4f}, "
            f"{row['train_time_s']:.1f} s training, {row['inference_s_per_case']:.2f} s per case"
        )
