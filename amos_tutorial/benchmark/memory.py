"""Memory on real sizes: peak RSS and time of each step on synthetic cases of real AMOS size, projected.

Introduced in chapter *Getting the data* (``amos bench memory``). Builds on the steps themselves
(:func:`~amos_tutorial.transforms.cache.preprocess_dataset`, :func:`~amos_tutorial.transforms.pack.make_pack`,
:func:`~amos_tutorial.training.train` with the trainer's memory budget, :func:`~amos_tutorial.inference.folder.predict_folder`), each run in a
fresh child process (the job passed as one JSON argument, never through a shell), so that the peak
resident set size (``resource.getrusage``) of each row is that step's alone.

The cases are synthetic (``amos data synth``) at real sizes: ``max_shape`` 512 x 512 x 300 draws shapes
up to that with the synthetic set's real spacings (0.6-0.9 mm in-plane, 1.25-5 mm slices). Synthetic
anatomy, real array sizes: the memory and time of the pipeline depend on the sizes, not on the anatomy.

The projection to 240 and 360 cases (the labelled CT+MRI cases of the release, and all of its
training and validation cases) uses what each step holds: ``preprocess``, ``pack`` and ``predict``
hold one case at a time, so their peak does not grow with the number of cases (their time does, per
case); ``train`` holds the cached cases in RAM up to its memory budget and memory-maps the rest, so its
peak grows with the cases until the budget, then stops. A projection, not a measurement: the table
says which column is which.

Examples:
    >>> table = memory_table(n_cases=2, max_shape=(48, 48, 24), train_iterations=1)  # doctest: +SKIP
    >>> print(format_memory_table(table))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import pandas as pd

from amos_tutorial.utils.options import with_settings

__all__ = [
    "COLAB_RAM_GB",
    "PROJECTED_CASES",
    "MEMORY_STEPS",
    "MEMORY_COLUMNS",
    "MemoryOptions",
    "memory_table",
    "project_memory",
    "format_memory_table",
]

#: RAM of a free Colab machine (GB), the machine the projection is made for.
COLAB_RAM_GB = 12.7
#: Numbers of cases projected: the 240 labelled CT+MRI cases of Task 2's training split, 360 with validation.
PROJECTED_CASES: tuple[int, ...] = (240, 360)
#: The steps measured, in order.
MEMORY_STEPS: tuple[str, ...] = ("preprocess", "pack", "train", "predict")
#: How each step's peak memory scales with the number of cases.
_SCALING = {
    "preprocess": "one case at a time",
    "pack": "one case at a time",
    "train": "cached cases up to the memory budget",
    "predict": "one case at a time",
}
#: Columns of :func:`memory_table` (the projections come from :func:`project_memory`).
MEMORY_COLUMNS: tuple[str, ...] = ("step", "cases", "seconds", "s_per_case", "peak_rss_gb", "memory", "error")


def _rss_gb() -> float:
    """This process's peak resident set size in GB.

    Linux: ``VmHWM`` of ``/proc/self/status``, the high-water mark of this program's own memory. Not
    ``ru_maxrss``: Linux carries the parent's resident size at ``fork`` over ``exec`` into it, so a child of
    a large parent would report the parent's peak. Elsewhere ``ru_maxrss`` (bytes on macOS).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024 / 1e9
    except OSError:
        pass
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return usage / 1e9 if sys.platform == "darwin" else usage * 1024 / 1e9


def _run_step(job: dict[str, Any]) -> dict[str, Any]:
    """Run one step in this process; ``seconds`` (imports excluded) and ``peak_rss_gb`` are this process's."""
    import torch

    from amos_tutorial.inference.folder import predict_folder
    from amos_tutorial.training import train
    from amos_tutorial.transforms.cache import preprocess_dataset
    from amos_tutorial.transforms.pack import make_pack

    torch.set_num_threads(int(job.get("threads") or 1))
    step = job["step"]
    if step not in (*MEMORY_STEPS, "synth"):
        raise ValueError(f"unknown step {step!r}; choose one of {MEMORY_STEPS}")
    start = time.perf_counter()
    extra: dict[str, Any] = {}
    if step == "synth":
        from amos_tutorial.data.synthetic import generate_synthetic_dataset

        generate_synthetic_dataset(
            job["data"], n_cases=job["cases"], seed=job["seed"], max_shape=tuple(job["max_shape"]),
            splits=("training", "validation"), progress=False, overwrite=True,
        )  # fmt: skip
        extra["cases"] = job["cases"]
    elif step == "preprocess":
        paths = preprocess_dataset(job["data"], job["cache"], splits=("training", "validation"), progress=False)
        extra["cases"] = len(paths)
        extra["case_bytes"] = sum(Path(p).stat().st_size for p in paths)
    elif step == "pack":
        result = make_pack(job["pack"], job["data"], n_cases=job["cases"], progress=False, overwrite=True)
        extra["cases"] = len(result.cases)
    elif step == "train":
        train(
            "unet", data=job["data"], out=job["run"], preset="smoke", iterations=job["iterations"],
            iterations_per_epoch=job["iterations"], val_cases=1, device=job["device"], progress=False,
            cache_dir=job["cache"], memory_budget_gb=job["budget_gb"],
        )  # fmt: skip
        extra["cases"] = job["cases"]
    else:
        table = predict_folder(job["run"], job["images"], job["pred"], device=job["device"], progress=False)
        failed = table[table["status"] == "failed"]
        if len(failed):
            raise RuntimeError(f"prediction failed: {failed.iloc[0]['case']}: {failed.iloc[0]['error']}")
        extra["cases"] = len(table)
    return {"step": step, "seconds": time.perf_counter() - start, "peak_rss_gb": _rss_gb(), **extra}


def _in_child(job: dict[str, Any], timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "amos_tutorial.benchmark.memory", json.dumps(job)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"step": job["step"], "error": f"timeout after {timeout:.0f} s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        return {"step": job["step"], "error": f"child failed (exit {proc.returncode}): {tail}"[:300]}
    return json.loads(lines[-1])


def _largest_case_mvoxels(root: Path) -> float:
    """Voxels (millions) of the largest image of a release folder, read from the NIfTI headers only."""
    import nibabel as nib
    import numpy as np

    sizes = [float(np.prod(nib.load(p).shape[:3])) for p in root.glob("images*/*.nii.gz")]
    return max(sizes, default=0.0) / 1e6


@dataclass(frozen=True)
class MemoryOptions:
    """How :func:`memory_table` runs its steps: threads, work folder, seed, time limit, child processes or not.

    Introduced in chapter *Getting the data*.

    Attributes:
        threads: torch threads of each step.
        work_dir: Folder for the data, cache, pack and run (None: a temporary one, deleted at the end). Cases
            generated there by an earlier call are reused; the cache, pack, run and predictions are made again.
        seed: Seed of the synthetic cases.
        timeout: Seconds allowed per step.
        in_process: Run the steps in this process (fast, for tests; the peak RSS then accumulates).
    """

    threads: int = 1
    work_dir: str | None = None
    seed: int = 0
    timeout: float = 3600.0
    in_process: bool = False


def memory_table(
    n_cases: int = 4,
    max_shape: Sequence[int] = (512, 512, 300),
    train_iterations: int = 2,
    budget_gb: float | None = None,
    device: str = "cpu",
    log: Callable[[str], None] | None = None,
    *,
    options: MemoryOptions | None = None,
    **settings: Any,
) -> pd.DataFrame:
    """Measure every step of :data:`MEMORY_STEPS` on ``n_cases`` synthetic cases of real size.

    Introduced in chapter *Getting the data*.

    Args:
        n_cases: Synthetic cases (training and validation only, so every step sees them all), at least 2.
        max_shape: Largest (X, Y, Z) shape drawn (real AMOS scans: up to 512 x 512 x 300).
        train_iterations: Training steps (the time per step is not the point here; the memory is).
        budget_gb: The trainer's memory budget (None: the one
            :func:`~amos_tutorial.transforms.cache.suggest_memory_budget_gb` gives a :data:`COLAB_RAM_GB` machine).
        device: Where training and prediction run.
        log: Called with one line per step (None: silent).
        options: The settings of :class:`MemoryOptions` (``threads``, ``work_dir``, ``seed``, ``timeout``,
            ``in_process``).
        **settings: Fields of :class:`MemoryOptions` given as keywords; they override ``options``.

    Returns:
        One row per step with :data:`MEMORY_COLUMNS`, plus ``case_bytes`` (the preprocessed cache's bytes);
        ``attrs`` hold the settings and ``largest_case_mvoxels``: a step's peak follows the largest case.
    """
    o = with_settings(MemoryOptions, options, settings)
    threads, work_dir, seed, timeout, in_process = o.threads, o.work_dir, o.seed, o.timeout, o.in_process
    from amos_tutorial.transforms.cache import suggest_memory_budget_gb

    if isinstance(n_cases, bool) or not isinstance(n_cases, int) or n_cases < 2:
        raise ValueError(f"n_cases must be an integer >= 2 (one to train on, one to validate), got {n_cases!r}")
    budget = suggest_memory_budget_gb(available_gb=COLAB_RAM_GB) if budget_gb is None else float(budget_gb)
    holder = tempfile.TemporaryDirectory(prefix="amos_bench_memory_") if work_dir is None else None
    base = Path(work_dir or holder.name)
    try:
        data = base / "amos22"
        if not (data / "dataset.json").is_file():  # made in a child too: this process stays small
            job = {"step": "synth", "data": str(data), "cases": n_cases, "seed": seed, "max_shape": list(max_shape)}
            made = _run_step(job) if in_process else _in_child(job, timeout)
            if made.get("error"):
                raise RuntimeError(f"{data}: could not generate the synthetic cases: {made['error']}")
            if log is not None:
                log(f"synth: {n_cases} cases up to {tuple(max_shape)} in {made['seconds']:.0f} s")
        largest = _largest_case_mvoxels(data)
        if log is not None:
            log(f"largest case: {largest:.1f} M voxels (a step's peak follows the largest case, not the count)")
        for stale in ("cache", "pack", "pack.zip", "run", "pred"):  # measured again, never reused
            path = base / stale
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
        common = {"data": str(data), "cache": str(base / "cache"), "device": device, "threads": threads}
        jobs = {
            "preprocess": {},
            "pack": {"pack": str(base / "pack"), "cases": n_cases},
            "train": {"run": str(base / "run"), "iterations": train_iterations, "budget_gb": budget, "cases": n_cases},
            "predict": {"run": str(base / "run"), "images": str(data / "imagesTr"), "pred": str(base / "pred")},
        }
        rows = []
        for step in MEMORY_STEPS:
            job = {"step": step, **common, **jobs[step]}
            row = _run_step(job) if in_process else _in_child(job, timeout)
            cases = row.get("cases") or n_cases
            seconds = row.get("seconds")
            rows.append({
                "step": step,
                "cases": cases,
                "seconds": None if seconds is None else round(seconds, 1),
                # Training's time is a number of steps, not of cases: no time per case.
                "s_per_case": None if seconds is None or step == "train" else round(seconds / cases, 1),
                "peak_rss_gb": None if row.get("peak_rss_gb") is None else round(row["peak_rss_gb"], 2),
                "memory": _SCALING[step],
                "error": row.get("error"),
                "case_bytes": row.get("case_bytes"),
            })  # fmt: skip
            if log is not None:
                log(f"{step}: " + (row.get("error") or f"{seconds:.0f} s, peak RSS {row['peak_rss_gb']:.2f} GB"))
    finally:
        if holder is not None:
            holder.cleanup()
    table = pd.DataFrame(rows)
    table.attrs.update(
        budget_gb=budget, max_shape=list(max_shape), n_cases=n_cases, device=device, in_process=in_process,
        largest_case_mvoxels=round(largest, 1),
    )
    return table


def project_memory(
    table: pd.DataFrame, cases: Sequence[int] = PROJECTED_CASES, ram_gb: float = COLAB_RAM_GB
) -> pd.DataFrame:
    """Project each step's peak RSS and time to ``cases`` cases, and say whether it fits ``ram_gb``.

    Steps that hold one case at a time keep their measured peak; ``train`` adds the cached cases that
    stay in RAM (at most the budget) beyond those it held when measured. Times scale with the cases,
    except training's, which is a number of steps.

    Args:
        table: The output of :func:`memory_table`.
        cases: Numbers of cases to project to.
        ram_gb: RAM of the target machine.

    Returns:
        ``table`` with ``peak_rss_gb_<N>``, ``hours_<N>`` and ``fits_<N>`` columns per projected ``N``.
    """
    out = table.copy()
    budget = float(table.attrs.get("budget_gb") or 0.0)
    measured_cases = int(table.attrs.get("n_cases") or table["cases"].max())
    pre = table.loc[table.step == "preprocess", "case_bytes"]
    per_case_gb = float(pre.iloc[0]) / 1e9 / measured_cases if len(pre) and pd.notna(pre.iloc[0]) else 0.0
    for n in cases:
        peaks, hours = [], []
        for _, row in table.iterrows():
            peak = row["peak_rss_gb"]
            if pd.notna(peak) and row["step"] == "train":
                held_then = min(measured_cases * per_case_gb, budget)
                peak = peak - held_then + min(n * per_case_gb, budget)
            peaks.append(None if pd.isna(peak) else round(float(peak), 2))
            seconds = row["seconds"] if row["step"] == "train" else row["s_per_case"] * n
            hours.append(None if pd.isna(seconds) else round(seconds / 3600, 2))
        out[f"peak_rss_gb_{n}"] = peaks
        out[f"hours_{n}"] = hours
        out[f"fits_{n}"] = [None if p is None else p <= ram_gb for p in peaks]
    out.attrs.update(table.attrs, ram_gb=ram_gb, per_case_cache_gb=per_case_gb)
    return out


def format_memory_table(table: pd.DataFrame) -> str:
    """The projected table as Markdown, with a line on what was measured and what is projected."""
    shown = table.drop(columns=[c for c in ("case_bytes",) if c in table.columns])
    shown = shown.astype(object).where(shown.notna(), "")  # a blank cell, not "nan"
    attrs = table.attrs
    head = (
        f"Measured on {attrs.get('n_cases')} synthetic cases up to {attrs.get('max_shape')} voxels (real AMOS sizes, "
        f"synthetic anatomy; the largest {attrs.get('largest_case_mvoxels')} M voxels), device {attrs.get('device')}; train with a {attrs.get('budget_gb')} GB memory budget. "
        f"Columns *_<N> are PROJECTIONS to N cases for a {attrs.get('ram_gb', COLAB_RAM_GB)} GB machine; "
        f"preprocessed cache: {attrs.get('per_case_cache_gb', 0.0):.3f} GB per case."
    )
    return head + "\n\n" + shown.to_markdown(index=False)


if __name__ == "__main__":  # a child process of _in_child: one step, one JSON line
    print(json.dumps(_run_step(json.loads(sys.argv[1]))), flush=True)
