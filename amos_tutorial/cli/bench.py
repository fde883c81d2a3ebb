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

from amos_tutorial.cli._args import patch_size_arg

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

Run the same command again after an interruption: finished models are skipped, an interrupted
training resumes from its checkpoint. The folder receives results.csv, leaderboard.md,
accuracy_vs_time.png and organ_heatmap.png.
"""


def add_bench_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Add every ``amos bench`` sub-command (``speed``, with inference seconds per case)."""
    from amos_tutorial.benchmark import speed

    parser = speed.add_cli(subparsers)
    parser.description = (parser.description or "") + (
        " Then each model predicts --inference-cases images (load, preprocessing, sliding window, "
        "inversion to the original grid, argmax) to report inference seconds per case."
    )
    parser.add_argument(
        "--inference-cases", type=int, default=1, help="images predicted to time the inference (0: skip)"
    )
    parser.set_defaults(func=_run_speed)


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


def _run_bench(args: argparse.Namespace) -> int:
    from amos_tutorial.benchmark.bench import run_benchmark
    from amos_tutorial.benchmark.report import leaderboard_frame

    if args.models is None:
        # `amos bench` alone: show what it can do.
        args._parser.print_help()
        return 2
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


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``bench`` command group to the ``amos`` parser."""
    from amos_tutorial.benchmark.budgets import BUDGETS

    budgets = "\n".join(f"  {b.name:<6} {b.description}" for b in BUDGETS.values())
    parser = subparsers.add_parser(
        "bench",
        help="benchmark the baselines: train, predict, evaluate (`amos bench speed`: is the GPU fed?)",
        description=(
            "Benchmark the AMOS baselines.\n\n"
            "  amos bench --models ... [options]   train, predict and evaluate every model under the same\n"
            "                                      split, preprocessing, seed and --budget, resumably; write\n"
            "                                      results.csv, leaderboard.md and figures into --out\n"
            "  amos bench speed [options]          the whole training loop against the raw step, their\n"
            "                                      ratio, and inference seconds per case (see its --help)"
        ),
        epilog=_EXAMPLES.format(budgets=budgets),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--models", help="comma-separated registry names, e.g. unet,segresnet,nnunet")
    parser.add_argument("--data", default="synthetic", help="AMOS folder or 'synthetic' (default: synthetic)")
    parser.add_argument("--budget", choices=tuple(BUDGETS), default="smoke", help="see below (default: smoke)")
    parser.add_argument("--out", help="benchmark folder (default: bench/BUDGET)")
    parser.add_argument("--iterations", type=int, help="override the budget's iterations per model")
    parser.add_argument("--minutes", type=float, help="equal wall-clock: training minutes per model, measured")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    parser.add_argument("--amp", choices=("auto", "bf16", "fp16", "off"), help="mixed precision (default: auto)")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights, patches, evaluation cases (default 0)")
    parser.add_argument(
        "--eval-cases", type=int, default=-1, help="evaluation cases (0: all labelled; default: the budget's)"
    )
    parser.add_argument("--patch-size", type=patch_size_arg, help="override every recipe's patch, e.g. 96,96,96")
    parser.add_argument("--batch-size", type=int, help="override every recipe's batch size")
    parser.add_argument("--tta", action="store_true", help="flip test-time augmentation in prediction")
    parser.add_argument(
        "--checkpoint", choices=("last", "best"), default="last", help="checkpoint evaluated (default: last)"
    )
    parser.add_argument("--tolerance", type=float, help="NSD tolerance in mm (default: the evaluator's)")
    parser.add_argument("--cache-dir", help="preprocessed cache folder (default in $AMOS_CACHE_DIR)")
    parser.add_argument("--workers", type=int, default=0, help="processes for the evaluation (default 0)")
    parser.add_argument("--stop-after", type=int, help="stop after N training steps of this session (resume later)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(func=_run_bench, _parser=parser)
    sub = parser.add_subparsers(dest="bench_command", metavar="SUBCOMMAND", title="sub-commands")
    add_bench_subcommands(sub)
    return parser
