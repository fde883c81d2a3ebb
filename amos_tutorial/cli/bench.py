"""``amos bench``: benchmark the AMOS baselines (the default run) and check their speed (``amos bench speed``).

Introduced in chapter *Benchmarking the baselines*. Two faces of :mod:`amos_tutorial.benchmark`:

* ``amos bench --models unet,vnet --data DIR|synthetic --budget smoke|short|full --out BENCH_DIR``
  trains, predicts and evaluates every model under one budget
  (:func:`amos_tutorial.benchmark.bench.run_benchmark`), resumably, and writes ``results.csv``,
  ``leaderboard.md`` and the figures;
* ``amos bench speed``: whole training loop vs raw step, their ratio, and inference seconds per case
  (:func:`amos_tutorial.benchmark.speed.speed_report`).

The options of the default run live on the ``bench`` parser itself (its handler runs when no
sub-command is given); a sub-command's own options and handler take precedence, because argparse
copies a sub-parser's values over its parent's. ``amos bench`` without any option prints the help.

Exit codes of the default run: 0 when every model finished (or the run stopped at ``--stop-after``),
1 when a model failed (the others still ran; see ``results.csv``), 130 after Ctrl-C/SIGTERM (run the
same command again to resume), 2 on bad input.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from amos_tutorial.cli._args import (
    add_memory_budget_arg,
    add_amp_arg,
    add_batch_size_arg,
    add_cache_dir_arg,
    add_checkpoint_arg,
    add_command,
    add_data_arg,
    add_device_arg,
    add_out_arg,
    add_patch_size_arg,
    add_progress_arg,
    add_seed_arg,
    add_threads_arg,
    add_tta_arg,
    add_variant_arg,
    add_workers_arg,
    shape_arg,
    spacing_arg,
    positive_int,
)

ORDER = 70

__all__ = ["add_bench_subcommands", "register"]

_EXAMPLES = """\
budgets (the same for every model; same split, preprocessing and seed):
{budgets}

examples:
  amos bench --models unet,segresnet --data synthetic --budget smoke --out bench/smoke --device cpu
  amos bench --models nnunet,unet,segresnet,vnet,unetr,swinunetr --data /data/amos22 --budget short --out bench/short
  amos bench --models nnunet,unet --data /data/amos22 --budget full --out bench/full   # again to resume
  amos bench --models nnunet,unet --data /data/amos22 --budget short --minutes 30 --out bench/30min
  amos bench speed --models unet,nnunet --variant full --device cuda   # is the GPU fed?
  amos bench pipeline --variant full --patch-size 96,96,96 --device cuda   # MONAI chains vs PatchSampler
  amos bench models --mode train --amp bf16 --device cuda --out models.csv   # params, s/step, peak memory
  amos bench metrics                    # DSC+NSD of one AMOS-sized case: ours vs MONAI vs DeepMind
  amos bench predict --device cuda      # one AMOS-sized CT: fast vs plain prediction path, per stage
  amos bench chapters                   # each chapter's execution time against the book's budget
  amos bench memory --cases 4           # peak RAM and time per step at real sizes, projected to 240/360 cases
  amos bench realsize --max-shape 512,512,300   # preprocessing, loading, prediction: book vs nnU-Net v2

the (model, fold) grid, one submitit job per cell (train, predict, score), merged into one results.csv:
  amos bench --models unet,segresnet --folds 0,1 --data synthetic --out bench/grid     # local jobs
  amos bench --models nnunet,unet --folds 0,1,2,3,4 --data /data/amos22 --budget full \
      --executor slurm --partition gpu --gpus-per-job 1 --time-limit 720 --out bench/full
  (SLURM: one job per cell on partition "gpu", one GPU and 12 h each; the same command again
  submits only the cells that are missing or failed, and an interrupted training resumes.)

Run the same command again after an interruption: finished models are skipped, an interrupted
training resumes from its checkpoint. The folder receives results.csv, leaderboard.md,
accuracy_vs_time.png and organ_heatmap.png.
"""


def add_bench_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Add every ``amos bench`` sub-command: ``speed`` (with inference seconds per case), ``models``, ``pipeline``,
    ``metrics`` and ``predict``."""
    _add_speed(subparsers)
    _add_models(subparsers)
    _add_pipeline(subparsers)
    _add_metrics(subparsers)
    _add_predict(subparsers)
    _add_memory(subparsers)
    _add_realsize(subparsers)


def _add_models(subparsers: argparse._SubParsersAction) -> None:
    """``amos bench models``: parameters, seconds per step and peak memory per model."""
    from amos_tutorial.benchmark.models import MODES

    parser = add_command(
        subparsers,
        "models",
        help="parameters, s/step and peak memory of every model at its recommended patch",
        description=(
            "Build every registered model (or --models) at its recommended patch and report parameters; "
            "with --mode forward or train also seconds per step and peak memory (GPU: allocated tensors; "
            "CPU: peak resident memory of a child process per model)."
        ),
    )
    parser.add_argument("--models", help="comma-separated registry names (default: every registered model)")
    add_variant_arg(parser, "model variant (a size some models define, e.g. resenc's M or L, lists only those models)",
                    default="full", model_sizes=True)
    parser.add_argument("--mode", choices=MODES, default="params", help="what to measure")
    add_patch_size_arg(parser, "override the recommended patch, e.g. 64,64,32")
    add_batch_size_arg(parser, "override the recommended batch size")
    add_device_arg(parser)
    parser.add_argument("--repeats", type=int, default=2, help="timed steps after one warm-up step")
    add_amp_arg(parser)
    add_threads_arg(parser)
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per model (child process)")
    parser.add_argument("--in-process", action="store_true", help="measure in this process (no child processes)")
    add_out_arg(parser, "also write the rows to a .csv or .json file")
    parser.set_defaults(func=_run_models)


def _run_models(args: argparse.Namespace) -> int:
    import sys

    from amos_tutorial.benchmark.models import format_model_table, model_table, published_figures, write_rows
    from amos_tutorial.models import get_model_spec, list_models
    from amos_tutorial.training.amp import resolve_device

    if args.out is not None and not str(args.out).endswith((".csv", ".json")):
        raise ValueError(f"{args.out}: output must end in .csv or .json")
    names = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else list_models()
    unknown = sorted(set(names) - set(list_models()))
    if unknown:
        raise ValueError(f"unknown model(s) {', '.join(unknown)}; registered: {', '.join(list_models())}")
    if not args.models:
        # A size only some models define (resenc's M, L): list those models, not an error row for every other.
        names = [n for n in names if args.variant in get_model_spec(n).variants]
    rows = model_table(
        names, in_process=args.in_process, timeout=args.timeout, log=lambda line: print(line, file=sys.stderr),
        variant=args.variant, patch=args.patch_size, batch=args.batch_size, mode=args.mode,
        device=str(resolve_device(args.device)), repeats=args.repeats, amp=args.amp, threads=args.threads,
    )  # fmt: skip
    print(format_model_table(rows))
    extra = published_figures(names)
    if extra:
        print("\nPublished figures recorded in the registry:\n" + "\n".join(extra))
    if args.out is not None:
        print(f"written {write_rows(rows, args.out)}")
    return 1 if any(r.get("error") for r in rows) else 0


def _add_pipeline(subparsers: argparse._SubParsersAction) -> None:
    """``amos bench pipeline``: the MONAI per-sample chains against the PatchSampler."""
    parser = add_command(
        subparsers,
        "pipeline",
        help="patches per second: MONAI per-sample chains vs the PatchSampler",
        description=(
            "Patches per second of the MONAI tutorial chain, the MONAI organ-weighted chain (per sample, "
            "on the CPU) and the PatchSampler (whole batches on --device), on the same cached training "
            "volumes of --data, in this one process."
        ),
    )
    add_data_arg(parser)
    add_variant_arg(parser, "grid and patch of the UNet recipe", default="tiny")
    add_patch_size_arg(parser, "override the patch, e.g. 96,96,96")
    add_batch_size_arg(parser, "patches per batch", default=2)
    parser.add_argument("--iterations", type=int, default=10, help="timed batches per pipeline")
    parser.add_argument("--warmup", type=int, default=2, help="untimed batches first")
    add_device_arg(parser, help="where batches end up: auto, cpu, cuda, cuda:N or mps")
    add_threads_arg(parser, default=1)
    add_seed_arg(parser, "seed of every pipeline")
    add_cache_dir_arg(parser)
    add_out_arg(parser, "also write the table to this CSV file")
    parser.set_defaults(func=_run_pipeline)


def _run_pipeline(args: argparse.Namespace) -> int:
    from amos_tutorial.benchmark.throughput import pipeline_report
    from amos_tutorial.training.amp import resolve_device
    from amos_tutorial.utils.io import atomic_path

    frame = pipeline_report(
        data=args.data, variant=args.variant, patch_size=args.patch_size, batch_size=args.batch_size,
        n_batches=args.iterations, device=str(resolve_device(args.device)), warmup=args.warmup,
        threads=args.threads, seed=args.seed, cache_dir=args.cache_dir,
    )  # fmt: skip
    print(f"patch {frame.attrs['patch_size']}, batch {frame.attrs['batch_size']}, {frame.attrs['threads']} thread(s)")
    print(frame.to_string(index=False))
    if args.out is not None:
        with atomic_path(args.out) as tmp:
            frame.to_csv(tmp, index=False)
        print(f"written {args.out}")
    return 0


def _add_speed(subparsers: argparse._SubParsersAction) -> None:
    """``amos bench speed``: whole training loop vs raw step, their ratio, inference seconds per case."""
    parser = add_command(
        subparsers,
        "speed",
        help="whole training loop vs raw step: is the GPU fed?",
        description=(
            "Train each model for a fixed number of steps on synthetic data and report, side by side, "
            "seconds per step of the whole loop (PatchSampler + step) and of the raw step (random "
            "tensors on the device), their ratio, patches/s and peak GPU memory. Then each model predicts "
            "--inference-cases images (load, preprocessing, sliding window, inversion to the original grid, "
            "argmax) to report inference seconds per case."
        ),
    )
    parser.add_argument("--models", default="unet,nnunet", help="comma-separated registry names")
    parser.add_argument("--iterations", type=int, default=20, help="timed steps per phase")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    add_variant_arg(parser, "tiny variants (CPU) or full recipes (GPU)", default="tiny")
    add_device_arg(parser)
    add_amp_arg(parser)
    add_batch_size_arg(parser, "override the recipe's batch size")
    add_data_arg(parser, help="data for the whole loop: AMOS folder or 'synthetic'")
    add_cache_dir_arg(parser)
    add_seed_arg(parser, "seed of weights, random tensors and patches")
    add_out_arg(parser, "CSV written with the table", default="bench/speed.csv")
    parser.add_argument(
        "--inference-cases", type=int, default=1, help="images predicted to time the inference (0: skip)"
    )
    parser.set_defaults(func=_run_speed)
    _add_chapters_parser(subparsers)


def _add_chapters_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from amos_tutorial.benchmark.chapters import BOOK_BUDGET_S, CHAPTER_BUDGET_S

    parser = add_command(
        subparsers,
        "chapters",
        help="execute every chapter of the book once (smoke mode) and print its time against the budget",
        description=(
            "Execute each chapter of the book once in a fresh kernel, in smoke mode on the synthetic data "
            "(as the book build does), and print its wall time against the budget: "
            f"{CHAPTER_BUDGET_S:.0f} s per chapter, {BOOK_BUDGET_S:.0f} s for the whole book on 2 CPU cores. "
            "A measurement, not a test: exit 1 only when a chapter fails."
        ),
    )
    parser.add_argument("chapters", nargs="*", help="notebooks to time (default: every page of _toc.yml)")
    parser.add_argument("--book", default=".", help="folder holding _toc.yml")
    parser.add_argument("--seconds", type=float, default=CHAPTER_BUDGET_S, help="budget in seconds per chapter")
    parser.add_argument(
        "--cold", action="store_true",
        help="give each chapter an empty cache of its own, as on a fresh Colab machine (nothing shared)",
    )
    add_out_arg(parser, "also write the table to this CSV")
    parser.set_defaults(func=_run_chapters)
    return parser


def _run_chapters(args: argparse.Namespace) -> int:
    from amos_tutorial.benchmark.chapters import format_chapter_times, time_chapters, toc_chapters

    chapters = args.chapters or [p for p in toc_chapters(args.book) if p.suffix == ".ipynb"]
    frame = time_chapters(chapters, budget_s=args.seconds, out_csv=args.out, cold=args.cold)
    print()
    print(format_chapter_times(frame, chapter_budget_s=args.seconds))
    if args.out:
        print(f"written {args.out}")
    return 1 if (frame["status"] != "ok").any() else 0


def _run_speed(args: argparse.Namespace) -> int:
    from pathlib import Path

    from amos_tutorial.benchmark.speed import format_speed_report, speed_report

    frame = speed_report(
        models=[m for m in args.models.split(",") if m.strip()],
        iterations=args.iterations,
        variant=args.variant,
        device=args.device,
        warmup=args.warmup,
        data=args.data,
        batch_size=args.batch_size,
        amp=args.amp,
        seed=args.seed,
        cache_dir=args.cache_dir,
        inference_cases=args.inference_cases,
        out_csv=args.out,
        progress=True,
    )
    print(format_speed_report(frame))
    print("ratio = raw step time / whole loop time: 1.0 means the GPU never waits for data")
    print(f"written {Path(args.out)}")
    return 1 if frame["error"].fillna("").astype(bool).all() else 0


def _external(items: list[str] | None) -> dict[str, str]:
    """``["nnunetv2=PATH", ...]`` -> ``{"nnunetv2": "PATH"}``."""
    out: dict[str, str] = {}
    for item in items or []:
        name, sep, path = item.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise ValueError(f"--external expects NAME=PATH, got {item!r}")
        if name.strip() in out:
            raise ValueError(f"--external {name.strip()}: given twice ({out[name.strip()]} and {path.strip()}); "
                             "give each row its own NAME")
        out[name.strip()] = path.strip()
    return out


def _run_bench(args: argparse.Namespace) -> int:
    from amos_tutorial.benchmark.bench import run_benchmark
    from amos_tutorial.benchmark.report import leaderboard_frame

    if args.models is None:
        # `amos bench` alone: show what it can do.
        args._parser.print_help()
        return 2
    if args.folds is not None or args.executor is not None:
        return _run_grid(args)
    bench = run_benchmark(
        args.models,
        data=args.data,
        budget=args.budget,
        out=args.out,
        iterations=args.iterations,
        minutes=args.minutes,
        device=args.device,
        amp=args.amp,
        seed=args.seed,
        eval_cases=args.eval_cases if args.eval_cases != 0 else None,
        patch_size=args.patch_size,
        batch_size=args.batch_size,
        tta=args.tta,
        checkpoint=args.checkpoint,
        tolerance_mm=args.tolerance,
        cache_dir=args.cache_dir,
        eval_workers=args.workers,
        stop_after=args.stop_after,
        threads=args.threads,
        external=_external(args.external),
        progress=not args.no_progress,
    )
    print()
    print(leaderboard_frame(bench.results).to_string(index=False))
    for name, path in bench.files.items():
        print(f"written {name}: {path}")
    if bench.stop_reason in ("SIGINT", "SIGTERM"):
        return 130
    if bench.interrupted:
        print(f"stopped early ({bench.stop_reason}): run the same command again to resume")
        return 0
    return 1 if (bench.results["status"] == "failed").any() else 0


def _folds(text: str | None) -> list[int | None]:
    """``"0,1"`` -> ``[0, 1]``; None -> ``[None]`` (the benchmark's own split)."""
    if text is None:
        return [None]
    try:
        return [int(f) for f in text.split(",") if f.strip()]
    except ValueError:
        raise ValueError(f"--folds expects comma-separated integers such as 0,1,2, got {text!r}") from None


def _run_grid(args: argparse.Namespace) -> int:
    from amos_tutorial.benchmark.grid import model_means as grid_means
    from amos_tutorial.benchmark.grid import run_grid
    from amos_tutorial.benchmark.report import leaderboard_frame

    if args.external or args.stop_after is not None:
        raise ValueError("--external and --stop-after work without --folds/--executor only")
    grid = run_grid(
        args.models, folds=_folds(args.folds), data=args.data, budget=args.budget, out=args.out,
        executor=args.executor or "local", parallel=args.parallel, timeout_min=args.time_limit,
        partition=args.partition, gpus_per_job=args.gpus_per_job,
        iterations=args.iterations, minutes=args.minutes, device=args.device, amp=args.amp, seed=args.seed,
        eval_cases=args.eval_cases if args.eval_cases != 0 else None, patch_size=args.patch_size,
        batch_size=args.batch_size, tta=args.tta, checkpoint=args.checkpoint, tolerance_mm=args.tolerance,
        cache_dir=args.cache_dir, eval_workers=args.workers, threads=args.threads,
    )  # fmt: skip
    print()
    print(grid.results[["model", "fold", "status", "mean_dsc", "mean_nsd", "train_time_s", "job_id"]].to_string(index=False))
    print()
    print(leaderboard_frame(grid_means(grid.results)).to_string(index=False))
    for name, path in grid.files.items():
        print(f"written {name}: {path}")
    return 1 if (grid.results["status"] != "ok").any() else 0


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``bench`` command group to the ``amos`` parser."""
    from amos_tutorial.benchmark.budgets import BUDGETS

    budgets = "\n".join(f"  {b.name:<6} {b.description}" for b in BUDGETS.values())
    parser = add_command(
        subparsers,
        "bench",
        raw=True,
        help="benchmark the baselines: train, predict, evaluate (`amos bench speed`: is the GPU fed?)",
        description=(
            "Benchmark the AMOS baselines.\n\n"
            "  amos bench --models ... [options]   train, predict and evaluate every model under the same\n"
            "                                      split, preprocessing, seed and --budget, resumably; write\n"
            "                                      results.csv, leaderboard.md and figures into --out\n"
            "  amos bench speed [options]          the whole training loop against the raw step, their\n"
            "                                      ratio, and inference seconds per case (see its --help)\n"
            "  amos bench chapters                 each chapter's execution time against the book's budget"
        ),
        epilog=_EXAMPLES.format(budgets=budgets),
    )
    parser.add_argument("--models", help="comma-separated registry names, e.g. unet,segresnet,nnunet")
    add_data_arg(parser)
    parser.add_argument("--budget", choices=tuple(BUDGETS), default="smoke", help="see below")
    add_out_arg(parser, "benchmark folder (default: bench/BUDGET)")
    parser.add_argument("--iterations", type=int, help="override the budget's iterations per model")
    parser.add_argument("--minutes", type=float, help="equal wall-clock: training minutes per model, measured")
    add_device_arg(parser)
    add_amp_arg(parser, inherit="auto")
    add_seed_arg(parser, "seed of weights, patches, evaluation cases")
    parser.add_argument(
        "--eval-cases", type=int, default=-1, help="evaluation cases (0: all labelled; -1: the budget's)"
    )
    add_patch_size_arg(parser, "override every recipe's patch, e.g. 96,96,96")
    add_batch_size_arg(parser, "override every recipe's batch size")
    add_tta_arg(parser)
    add_checkpoint_arg(parser, "last", "checkpoint evaluated")
    parser.add_argument("--tolerance", type=float, help="NSD tolerance in mm (default: the evaluator's)")
    add_cache_dir_arg(parser)
    add_workers_arg(parser, "processes for the evaluation")
    parser.add_argument("--stop-after", type=int, help="stop after N training steps of this session (resume later)")
    add_threads_arg(parser)
    add_progress_arg(parser)
    parser.add_argument(
        "--external", action="append", metavar="NAME=PATH",
        help="add a row scored from an existing prediction folder (e.g. nnunetv2=PATH, nnU-Net v2's output "
        "for the evaluation cases); repeatable",
    )
    parser.add_argument("--folds", help="comma-separated cross-validation folds, e.g. 0,1,2,3,4: one job per "
                        "(model, fold) through --executor")
    parser.add_argument("--executor", choices=("local", "slurm"),
                        help="run each (model, fold) as a submitit job: local child processes or SLURM jobs "
                        "(default: local with --folds, otherwise everything in this process)")
    parser.add_argument("--parallel", type=int, help="jobs at once (default: 1 locally, all on SLURM)")
    parser.add_argument("--partition", help="SLURM partition of the jobs")
    parser.add_argument("--gpus-per-job", type=int, default=0, help="GPUs per job")
    parser.add_argument("--time-limit", type=float, default=24 * 60, help="minutes per job")
    parser.set_defaults(func=_run_bench, _parser=parser)
    sub = parser.add_subparsers(dest="bench_command", metavar="SUBCOMMAND", title="sub-commands")
    add_bench_subcommands(sub)
    return parser


def _add_metrics(subparsers: argparse._SubParsersAction) -> None:
    """``amos bench metrics``: DSC and NSD of one AMOS-sized case, ours vs MONAI vs DeepMind."""
    parser = add_command(
        subparsers,
        "metrics",
        help="seconds to score 15 organs of one AMOS-sized case: ours vs MONAI vs DeepMind",
        description=(
            "Score all 15 organs of one synthetic AMOS-sized case with one torch thread: our score_case "
            "(three NSD methods), MONAI compute_surface_dice(use_subvoxels=True) and DeepMind surface-distance "
            "(when installed), side by side, with the largest NSD difference to ours."
        ),
    )
    parser.add_argument("--shape", type=shape_arg, default=(512, 512, 100), metavar="X,Y,Z", help="voxels of the case")
    parser.add_argument("--spacing", type=spacing_arg, default=(0.7, 0.7, 5.0), metavar="X,Y,Z", help="voxel size in mm")
    parser.add_argument("--tolerance", type=float, default=1.0, help="NSD tolerance in mm")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of score_case")
    parser.add_argument("--shift", type=int, default=0, help="also shift the prediction by N voxels (a bad one)")
    parser.add_argument("--skip-monai", action="store_true", help="skip MONAI (about 20 s at full size)")
    parser.add_argument("--skip-deepmind", action="store_true", help="skip DeepMind surface-distance")
    parser.set_defaults(func=_run_metrics)


def _run_metrics(args: argparse.Namespace) -> int:
    from amos_tutorial.benchmark.metric_speed import format_metric_timings, metric_timings

    frame = metric_timings(
        args.shape, args.spacing, args.tolerance, args.repeats, args.shift,
        monai=not args.skip_monai, deepmind=not args.skip_deepmind,
    )  # fmt: skip
    print(format_metric_timings(frame))
    return 0


def _add_predict(subparsers: argparse._SubParsersAction) -> None:
    """``amos bench predict``: one AMOS-like CT, fast vs plain prediction path, stage by stage."""
    parser = add_command(
        subparsers,
        "predict",
        help="one AMOS-sized CT: fast vs plain MONAI prediction path, stage times and label agreement",
        description=(
            "Predict one synthetic CT (LPS) by the fast path (torch preprocessing and inversion on the device) "
            "and the plain MONAI path, and report the seconds of every stage and how far the label maps agree."
        ),
    )
    add_device_arg(parser)
    parser.add_argument("--shape", type=shape_arg, metavar="X,Y,Z", help="image shape (default: GPU 512,512,100; CPU 192,192,40)")
    parser.add_argument("--spacing", type=spacing_arg, default=(0.7, 0.7, 5.0), metavar="X,Y,Z", help="image spacing in mm")
    parser.add_argument("--model", default="nnunet", help="registry name (random weights)")
    add_variant_arg(parser, "model variant (default: full on a GPU, tiny on the CPU)")
    parser.add_argument("--run", help="a trained run folder instead of random weights")
    add_patch_size_arg(parser, "sliding window (default: the model's patch)")
    parser.add_argument("--overlap", type=float, default=0.5, help="window overlap")
    parser.add_argument("--sw-batch-size", type=int, default=4, help="windows per forward pass")
    add_amp_arg(parser)
    add_tta_arg(parser)
    parser.add_argument("--repeats", type=int, help="timed runs per path (default: GPU 3, CPU 1)")
    add_threads_arg(parser)
    parser.set_defaults(func=_run_predict)


def _run_predict(args: argparse.Namespace) -> int:
    import sys

    from amos_tutorial.benchmark.predict_speed import format_predict_timings, predict_timings

    table, agreement = predict_timings(
        device=args.device, shape=args.shape, spacing=args.spacing, model=args.model, variant=args.variant,
        run=args.run, roi=args.patch_size, overlap=args.overlap, sw_batch_size=args.sw_batch_size, amp=args.amp,
        tta=args.tta, repeats=args.repeats, threads=args.threads, log=lambda line: print(line, file=sys.stderr),
    )  # fmt: skip
    print(format_predict_timings(table, agreement))
    return 0 if agreement["same_grid"] else 1


def _add_memory(subparsers: argparse._SubParsersAction) -> None:
    """``amos bench memory``: peak RSS and time of preprocess, pack, train and predict at real sizes, projected."""
    from amos_tutorial.benchmark.memory import COLAB_RAM_GB, PROJECTED_CASES

    parser = add_command(
        subparsers,
        "memory",
        help="peak RAM and time of preprocess, pack, train and predict on real-sized cases, projected to a class",
        description=(
            "Generate N synthetic cases of real AMOS size (up to --max-shape voxels, 0.6-0.9 mm in-plane) and run "
            "preprocess, pack, train (with the trainer's memory budget) and predict on them, each in a child "
            "process, reporting its peak resident memory and time; then project both to "
            f"{' and '.join(map(str, PROJECTED_CASES))} cases on a {COLAB_RAM_GB} GB machine (free Colab)."
        ),
    )
    parser.add_argument("--cases", type=positive_int, default=4, metavar="N", help="synthetic cases (at least 2)")
    parser.add_argument(
        "--max-shape", type=shape_arg, default=(512, 512, 300), metavar="X,Y,Z",
        help="largest image shape drawn",
    )  # fmt: skip
    parser.add_argument("--iterations", type=positive_int, default=2, help="training steps")
    add_memory_budget_arg(
        parser, f"the trainer's RAM for cached cases (default: what suggest_memory_budget_gb gives {COLAB_RAM_GB} GB)"
    )
    add_device_arg(parser)
    add_threads_arg(parser, default=1)
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per step (child process)")
    parser.add_argument(
        "--in-process", action="store_true", help="run the steps in this process (quick check; the peaks accumulate)"
    )
    parser.add_argument(
        "--work-dir", type=Path, default=None, metavar="DIR",
        help="keep the synthetic cases here and reuse them in the next run (default: a temporary folder)",
    )  # fmt: skip
    add_out_arg(parser, "also write the table to a .csv file")
    parser.set_defaults(func=_run_memory)


def _run_memory(args: argparse.Namespace) -> int:
    import sys

    from amos_tutorial.benchmark.memory import format_memory_table, memory_table, project_memory
    from amos_tutorial.training.amp import resolve_device
    from amos_tutorial.utils.io import atomic_path

    if args.out is not None and not str(args.out).endswith(".csv"):
        raise ValueError(f"{args.out}: output must end in .csv")
    if args.cases < 2:
        raise ValueError(f"--cases must be at least 2 (one to train on, one to validate), got {args.cases}")
    table = project_memory(memory_table(
        n_cases=args.cases, max_shape=args.max_shape, train_iterations=args.iterations, budget_gb=args.memory_budget,
        device=str(resolve_device(args.device)), threads=args.threads, timeout=args.timeout, in_process=args.in_process,
        work_dir=None if args.work_dir is None else str(args.work_dir), log=lambda line: print(line, file=sys.stderr),
    ))  # fmt: skip
    print(format_memory_table(table))
    if args.out is not None:
        with atomic_path(args.out) as tmp:
            table.to_csv(tmp, index=False)
        print(f"written {args.out}")
    return 1 if table["error"].notna().any() else 0
def _add_realsize(subparsers: argparse._SubParsersAction) -> None:
    """``amos bench realsize``: preprocessing, data loading and prediction at AMOS size, book vs nnU-Net v2."""
    parser = add_command(
        subparsers,
        "realsize",
        help="preprocessing, data loading and prediction at real AMOS size: the book beside nnU-Net v2",
        description=(
            "On synthetic CTs at real AMOS sizes and spacings (0.6-0.9 mm in-plane, 1.25-5 mm slices), measure "
            "side by side, each step in its own process (time and peak RSS): preprocessing (the book's vs "
            "nnU-Net's DefaultPreprocessor, each at its own spacing and both at the book's), training data "
            "loading (the book's PatchSampler vs nnU-Net's data loader with its default transforms) and the "
            "prediction of the largest CT (amos predict's path vs nnUNetPredictor, same network). Prints the "
            "ratios and the prediction memory extrapolated to a 512x512x500 CT. Needs nnU-Net v2."
        ),
    )
    parser.add_argument("--max-shape", type=shape_arg, default=(512, 512, 300), metavar="X,Y,Z",
                        help="largest synthetic CT in voxels")  # fmt: skip
    parser.add_argument("--cases", type=int, default=3, metavar="N", help="synthetic CTs (at least 2)")
    add_patch_size_arg(parser, "patch of data loading and prediction (default: 64,64,64)")
    add_batch_size_arg(parser, "patches per batch", default=2)
    parser.add_argument("--iterations", type=int, default=10, help="timed batches per data loader")
    parser.add_argument("--warmup", type=int, default=2, help="untimed batches first")
    add_workers_arg(parser, "nnU-Net's augmentation processes (the book's sampler runs in its process)")
    parser.add_argument("--overlap", type=float, default=0.5, help="sliding-window overlap of both predictors")
    add_threads_arg(parser, default=1)
    add_seed_arg(parser, "seed of the synthetic CTs")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per measuring process")
    add_out_arg(parser, "folder of realsize.csv, realsize.json and the work files", default="bench/realsize")
    parser.set_defaults(func=_run_realsize)


def _run_realsize(args: argparse.Namespace) -> int:
    import sys

    from amos_tutorial.benchmark.realsize import format_realsize, realsize_report

    table = realsize_report(
        max_shape=args.max_shape, cases=args.cases, out=args.out, patch_size=args.patch_size or (64, 64, 64),
        batch_size=args.batch_size, batches=args.iterations, warmup=args.warmup, workers=args.workers,
        overlap=args.overlap, threads=args.threads, seed=args.seed, timeout=args.timeout,
        log=lambda line: print(line, file=sys.stderr),
    )  # fmt: skip
    print(format_realsize(table))
    print(f"written {args.out}/realsize.csv")
    return 0
