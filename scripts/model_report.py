#!/usr/bin/env python
"""Parameters, time per step and peak memory of the registered models at their recommended patch.

Introduced in chapter *Training the baselines*; builds on the model registry
(:mod:`amos_tutorial.models`), MONAI's ``DiceCELoss`` and :mod:`torch`. The figures feed the book's
model table and let a reader check, before a long run, whether a model fits their machine.

Modes:
    params   build each model and count its parameters (cheap; the default)
    forward  one inference forward pass (eval mode, no gradients)
    train    one training step: forward, Dice + cross-entropy, backward and the model's own
             optimiser step (from its registry recipe)

Memory: on a GPU, ``torch.cuda.max_memory_allocated`` (tensors only, not the CUDA context); on the
CPU, the peak resident set size of a child process that builds and runs only that model (so the
figure includes Python, torch and the model's parameters). Each model runs in its own child process
by default, which also keeps one failing model (out of memory, a bad patch) from stopping the rest:
its row reports the error.

Examples:
    python scripts/model_report.py                                   # parameter counts, full variants
    python scripts/model_report.py --variant tiny --mode train       # CPU smoke figures
    python scripts/model_report.py --models cotr nnformer --variant full --mode forward --patch 64 64 32
    python scripts/model_report.py --device cuda --mode train --bf16 --out report.csv
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence

__all__ = ["measure", "format_table", "published_figures", "main"]

MODES = ("params", "forward", "train")
COLUMNS = ("model", "variant", "patch", "batch", "params_M", "mode", "device", "s_per_step", "peak_gib", "rss_before_gib", "error")


def _rss_gib() -> float:
    # ru_maxrss is in KiB on Linux: the process's peak resident set size so far.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _first_output(out: Any) -> Any:
    # Deep-supervised models return a list (highest resolution first) or a stacked (B, n, C, ...) tensor.
    if isinstance(out, (list, tuple)):
        return out[0]
    return out[:, 0] if out.ndim == 6 else out


def _optimizer(spec: Any, params: Any) -> Any:
    import torch

    recipe = dict(spec.optimizer)
    name = str(recipe.pop("name", "sgd")).lower()
    allowed = {"sgd": ("lr", "momentum", "nesterov", "weight_decay"), "adam": ("lr", "weight_decay"), "adamw": ("lr", "weight_decay")}
    if name not in allowed:
        raise ValueError(f"{spec.name}: unknown optimiser {name!r} in the registry recipe")
    kwargs = {k: v for k, v in recipe.items() if k in allowed[name]}
    cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[name]
    return cls(params, **kwargs)


def measure(
    name: str,
    variant: str = "full",
    patch: Sequence[int] | None = None,
    batch: int | None = None,
    mode: str = "params",
    device: str = "cpu",
    repeats: int = 2,
    bf16: bool = False,
    threads: int | None = None,
) -> dict[str, Any]:
    """Measure one registered model in this process.

    Introduced in chapter *Training the baselines*; builds on :mod:`torch` and MONAI's ``DiceCELoss``.

    Args:
        name: Registry name.
        variant: ``"full"`` or ``"tiny"``.
        patch: Patch (x, y, z); None means the variant's recommended patch.
        batch: Batch size; None means the variant's recommended batch.
        mode: ``"params"``, ``"forward"`` or ``"train"``.
        device: ``"cpu"`` or ``"cuda"``.
        repeats: Timed steps after one warm-up step.
        bf16: Run under ``torch.autocast`` with bfloat16.
        threads: Torch CPU threads (None leaves torch's default).

    Returns:
        One row: the keys of :data:`COLUMNS`; ``error`` holds the one-line reason of a failure.
    """
    import torch

    from amos_tutorial.models import build_model_for_patch, count_parameters, get_model_spec

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    if threads:
        torch.set_num_threads(threads)
    spec = get_model_spec(name)
    patch = tuple(patch) if patch else (spec.patch_size if variant == "full" else spec.tiny_patch_size)
    batch = batch or (spec.batch_size if variant == "full" else spec.tiny_batch_size)
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(model=name, variant=variant, patch="x".join(map(str, patch)), batch=batch, mode=mode, device=device)
    try:
        net = build_model_for_patch(name, variant, patch_size=patch)
        row["params_M"] = round(count_parameters(net) / 1e6, 3)
        if mode == "params":
            return row
        dev = torch.device(device)
        net = net.to(dev)
        x = torch.randn(batch, 1, *patch, device=dev)
        cuda = dev.type == "cuda"
        if mode == "train":
            from monai.losses import DiceCELoss

            net.train()
            y = torch.randint(0, 16, (batch, 1, *patch), device=dev)
            loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
            opt = _optimizer(spec, net.parameters())
        else:
            net.eval()

        def step() -> None:
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
                if mode == "train":
                    opt.zero_grad(set_to_none=True)
                    loss = loss_fn(_first_output(net(x)).float(), y)
                else:
                    with torch.no_grad():
                        net(x)
            if mode == "train":
                loss.backward()
                opt.step()
            if cuda:
                torch.cuda.synchronize(dev)

        row["rss_before_gib"] = round(_rss_gib(), 3)
        step()  # warm-up: allocator, cudnn autotuning, lazy initialisation
        if cuda:
            torch.cuda.reset_peak_memory_stats(dev)
        start = time.perf_counter()
        for _ in range(repeats):
            step()
        row["s_per_step"] = round((time.perf_counter() - start) / repeats, 4)
        row["peak_gib"] = round(torch.cuda.max_memory_allocated(dev) / 2**30 if cuda else _rss_gib(), 3)
    except (RuntimeError, ValueError, KeyError, MemoryError) as exc:
        row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
    return row


def _measure_in_child(args: dict[str, Any], timeout: float) -> dict[str, Any]:
    # A fresh process per model: the CPU peak RSS is then that model's alone, and a crash or an
    # out-of-memory kill ends only that row.
    cmd = [sys.executable, str(Path(__file__).resolve()), "--_child", json.dumps(args)]
    row = dict.fromkeys(COLUMNS)
    row.update(model=args["name"], variant=args["variant"], mode=args["mode"], device=args["device"])
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        row["error"] = f"timeout after {timeout:.0f} s"
        return row
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        row["error"] = f"child failed (exit {proc.returncode}): {tail}"[:300]
        return row
    return json.loads(lines[-1])


def published_figures(names: Sequence[str]) -> list[str]:
    """Lines quoting the published figures that registry entries record in ``extra["published"]``."""
    from amos_tutorial.models import get_model_spec

    lines = []
    for name in names:
        pub = get_model_spec(name).extra.get("published")
        if pub:
            lines.append(f"- {name}: " + "; ".join(f"{k} = {v}" for k, v in pub.items()))
    return lines


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """Markdown table of measurement rows."""
    header = ("model", "variant", "patch", "batch", "params M", "mode", "device", "s/step", "peak GiB", "note")
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        cells = [r.get("model"), r.get("variant"), r.get("patch"), r.get("batch"), r.get("params_M"), r.get("mode"),
                 r.get("device"), r.get("s_per_step"), r.get("peak_gib"), r.get("error") or ""]  # fmt: skip
        out.append("| " + " | ".join("-" if c is None else str(c) for c in cells) + " |")
    return "\n".join(out)


def _write(rows: Sequence[dict[str, Any]], path: Path) -> None:
    from amos_tutorial.utils.io import atomic_write_text

    if path.suffix == ".json":
        atomic_write_text(path, json.dumps(list(rows), indent=2) + "\n")
    elif path.suffix == ".csv":
        import csv
        import io

        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(COLUMNS))
        writer.writeheader()
        writer.writerows({k: r.get(k) for k in COLUMNS} for r in rows)
        atomic_write_text(path, buf.getvalue())
    else:
        raise ValueError(f"{path}: output must end in .csv or .json")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", help="registry names (default: every registered model)")
    p.add_argument("--variant", choices=("full", "tiny"), default="full")
    p.add_argument("--mode", choices=MODES, default="params")
    p.add_argument("--patch", nargs=3, type=int, metavar=("X", "Y", "Z"), help="override the recommended patch")
    p.add_argument("--batch", type=int, help="override the recommended batch size")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (cuda when available)")
    p.add_argument("--repeats", type=int, default=2, help="timed steps after one warm-up step")
    p.add_argument("--bf16", action="store_true", help="autocast to bfloat16")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds per model (child process)")
    p.add_argument("--in-process", action="store_true", help="measure in this process (CPU peak memory then accumulates)")
    p.add_argument("--out", type=Path, help="also write the rows to a .csv or .json file (atomically)")
    p.add_argument("--_child", help=argparse.SUPPRESS)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit code (1 if any model failed)."""
    args = _parser().parse_args(argv)
    if args._child:
        print(json.dumps(measure(**json.loads(args._child))), flush=True)
        return 0
    import torch

    from amos_tutorial.models import list_models

    if args.out is not None and args.out.suffix not in (".csv", ".json"):
        raise SystemExit(f"model_report: error: {args.out}: output must end in .csv or .json")
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    names = args.models or list_models()
    unknown = sorted(set(names) - set(list_models()))
    if unknown:
        raise SystemExit(f"model_report: error: unknown model(s) {', '.join(unknown)}; registered: {', '.join(list_models())}")
    rows = []
    for name in names:
        job = dict(name=name, variant=args.variant, patch=args.patch, batch=args.batch, mode=args.mode, device=device,
                   repeats=args.repeats, bf16=args.bf16, threads=args.threads)  # fmt: skip
        row = measure(**job) if args.in_process or args.mode == "params" else _measure_in_child(job, args.timeout)
        rows.append(row)
        print(f"{name}: {'error: ' + row['error'] if row.get('error') else 'done'}", file=sys.stderr, flush=True)
    print(format_table(rows))
    extra = published_figures(names)
    if extra:
        print("\nPublished figures recorded in the registry:\n" + "\n".join(extra))
    if args.out is not None:
        _write(rows, args.out)
    return 1 if any(r.get("error") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
