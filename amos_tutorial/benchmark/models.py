"""Parameters, seconds per step and peak memory of the registered models at their recommended patch.

Introduced in chapter *Training the baselines*; builds on the model registry (:mod:`amos_tutorial.models`),
the trainer's optimiser builder (:func:`~amos_tutorial.training.optim.build_optimizer`), MONAI's
``DiceCELoss`` and :mod:`amos_tutorial.utils.timing`. ``amos bench models`` prints the table; it lets a
reader check, before a long run, whether a model fits their machine.

Modes:
    params   build each model and count its parameters (cheap; the default)
    forward  one inference forward pass (eval mode, no gradients)
    train    one training step: forward, Dice + cross-entropy, backward and the model's own
             optimiser step (from its registry recipe): the trainer's step, through
             :func:`~amos_tutorial.benchmark.probe.training_step` as in ``amos bench speed``

Memory: on a GPU, ``torch.cuda.max_memory_allocated`` (tensors only, not the CUDA context); on the
CPU, the peak resident set size of a child process that builds and runs only that model (so the
figure includes Python, torch and the model's parameters). Each model runs in its own child process
by default (``python -m amos_tutorial.benchmark.models JOB``), which also keeps one failing model (out
of memory, a bad patch) from stopping the rest: its row reports the error.

Examples:
    >>> row = measure_model("unet", "tiny", mode="params")
    >>> row["params_M"] > 0
    True
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "MODEL_COLUMNS",
    "MODES",
    "format_model_table",
    "measure_model",
    "model_table",
    "published_figures",
    "write_rows",
]

MODES = ("params", "forward", "train")
"""What ``amos bench models`` measures: parameter counts, a forward pass or a training step."""

MODEL_COLUMNS = (
    "model", "variant", "patch", "batch", "params_M", "mode", "device", "s_per_step", "peak_gib", "rss_before_gib", "error",
)  # fmt: skip
"""Columns of one row of :func:`measure_model`."""


def _rss_gib() -> float:
    # ru_maxrss is in KiB on Linux: the process's peak resident set size so far.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _make_step(net: Any, spec: Any, mode: str, batch: int, patch: tuple[int, ...], dev: Any, amp: str):
    """A callable running one forward pass or one training step (the benchmarks' one probe) on random tensors."""
    import torch

    from amos_tutorial.benchmark.probe import random_batch, training_step
    from amos_tutorial.training.amp import amp_policy

    policy = amp_policy(dev, amp)
    data = random_batch(batch, patch, dev)
    if mode == "train":
        step = training_step(net, spec.optimizer, policy, deep_supervision=bool(spec.deep_supervision))
        return lambda _k: step(data)
    net.eval()

    def forward(_k: int) -> None:
        with policy.autocast(), torch.no_grad():
            net(data["image"])

    return forward


def measure_model(
    name: str,
    variant: str = "full",
    patch: Sequence[int] | None = None,
    batch: int | None = None,
    mode: str = "params",
    device: str = "cpu",
    repeats: int = 2,
    amp: str = "off",
    threads: int | None = None,
) -> dict[str, Any]:
    """Measure one registered model in this process.

    Introduced in chapter *Training the baselines*; builds on :mod:`torch` and MONAI's ``DiceCELoss``.

    Args:
        name: Registry name.
        variant: ``"full"``, ``"tiny"`` or another of the model's variants (``resenc``: ``"M"``, ``"L"``).
        patch: Patch (x, y, z); None means the variant's recommended patch.
        batch: Batch size; None means the variant's recommended batch.
        mode: ``"params"``, ``"forward"`` or ``"train"``.
        device: ``"cpu"`` or ``"cuda"``.
        repeats: Timed steps after one warm-up step.
        amp: Mixed precision as in training (:func:`amos_tutorial.training.amp.amp_policy`): ``"off"``,
            ``"auto"``, ``"bf16"`` or ``"fp16"`` (with the trainer's gradient scaler).
        threads: Torch CPU threads (None leaves torch's default).

    Returns:
        One row: the keys of :data:`MODEL_COLUMNS`; ``error`` holds the one-line reason of a failure.

    Raises:
        ValueError: For an unknown mode or ``repeats`` < 1.
    """
    import torch

    from amos_tutorial.models import build_model_for_patch, count_parameters, get_model_spec
    from amos_tutorial.utils.timing import peak_memory_gib, reset_peak_memory, thread_limit, timed_calls

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    spec = get_model_spec(name)
    row: dict[str, Any] = dict.fromkeys(MODEL_COLUMNS)
    row.update(model=name, variant=variant, mode=mode, device=device)
    try:
        recipe_patch, recipe_batch = spec.recipe_for(variant)
    except ValueError as exc:
        row["error"] = f"ValueError: {exc}"
        return row
    patch = tuple(patch) if patch else recipe_patch
    batch = batch or recipe_batch
    row.update(patch="x".join(map(str, patch)), batch=batch)
    try:
        with thread_limit(threads):
            net = build_model_for_patch(name, variant, patch_size=patch)
            row["params_M"] = round(count_parameters(net) / 1e6, 3)
            if mode == "params":
                return row
            dev = torch.device(device)
            step = _make_step(net.to(dev), spec, mode, batch, patch, dev, amp)
            row["rss_before_gib"] = round(_rss_gib(), 3)
            step(0)  # untimed: allocator, cuDNN autotuning, lazy initialisation
            reset_peak_memory(dev)
            row["s_per_step"] = round(timed_calls(step, repeats, first=1, device=dev), 4)
            row["peak_gib"] = round(peak_memory_gib(dev) if dev.type == "cuda" else _rss_gib(), 3)
    except (RuntimeError, ValueError, KeyError, MemoryError, ImportError) as exc:
        row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
    return row


def _measure_in_child(job: dict[str, Any], timeout: float) -> dict[str, Any]:
    # A fresh process per model: the CPU peak RSS is then that model's alone, and a crash or an
    # out-of-memory kill ends only that row. The job is passed as one JSON argument, never through a shell.
    cmd = [sys.executable, "-m", "amos_tutorial.benchmark.models", json.dumps(job)]
    row = dict.fromkeys(MODEL_COLUMNS)
    row.update(model=job["name"], variant=job["variant"], mode=job["mode"], device=job["device"])
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


def model_table(
    names: Sequence[str],
    in_process: bool = False,
    timeout: float = 1800.0,
    log: Any = None,
    **job: Any,
) -> list[dict[str, Any]]:
    """:func:`measure_model` for several models, each in a child process unless ``in_process`` (or mode params).

    Args:
        names: Registry names.
        in_process: Measure in this process (the CPU peak memory then accumulates).
        timeout: Seconds per model in a child process.
        log: Called with one line per model (None: silent).
        **job: The other arguments of :func:`measure_model`.
    """
    rows = []
    for name in names:
        args = {"name": name, **job}
        child = not in_process and job.get("mode", "params") != "params"
        row = _measure_in_child(args, timeout) if child else measure_model(**args)
        rows.append(row)
        if log is not None:
            log(f"{name}: {'error: ' + row['error'] if row.get('error') else 'done'}")
    return rows


def published_figures(names: Sequence[str]) -> list[str]:
    """Lines quoting the published figures that registry entries record in ``extra["published"]``."""
    from amos_tutorial.models import get_model_spec

    lines = []
    for name in names:
        pub = get_model_spec(name).extra.get("published")
        if pub:
            lines.append(f"- {name}: " + "; ".join(f"{k} = {v}" for k, v in pub.items()))
    return lines


def format_model_table(rows: Sequence[dict[str, Any]]) -> str:
    """Markdown table of measurement rows."""
    header = ("model", "variant", "patch", "batch", "params M", "mode", "device", "s/step", "peak GiB", "note")
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        cells = [r.get("model"), r.get("variant"), r.get("patch"), r.get("batch"), r.get("params_M"), r.get("mode"),
                 r.get("device"), r.get("s_per_step"), r.get("peak_gib"), r.get("error") or ""]  # fmt: skip
        out.append("| " + " | ".join("-" if c is None else str(c) for c in cells) + " |")
    return "\n".join(out)


def write_rows(rows: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Write measurement rows to a ``.csv`` or ``.json`` file, atomically.

    Raises:
        ValueError: If the file name ends otherwise.
    """
    import pandas as pd

    from amos_tutorial.utils.io import atomic_path, atomic_write_text

    path = Path(path)
    if path.suffix == ".json":
        atomic_write_text(path, json.dumps(list(rows), indent=2) + "\n")
    elif path.suffix == ".csv":
        with atomic_path(path) as tmp:
            pd.DataFrame(list(rows)).reindex(columns=list(MODEL_COLUMNS)).to_csv(tmp, index=False)
    else:
        raise ValueError(f"{path}: output must end in .csv or .json")
    return path


if __name__ == "__main__":  # the child process of _measure_in_child
    print(json.dumps(measure_model(**json.loads(sys.argv[1]))), flush=True)
