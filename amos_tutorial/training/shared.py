"""Train once, reuse everywhere: runs shared between chapters through the cache.

Introduced in chapter *Training the baselines*. Several chapters need the same short run (the
``quick`` UNet is shown learning in *Training the baselines*, scored in *Evaluating segmentations* and
ranked in *Benchmarking the baselines*). Training it in each chapter would triple the book's time, so
:func:`shared_run` keeps one run folder per distinct training: its name is derived from the full
training configuration, the data folder and the package's own source code, so any change to one of
them trains a new run, and a stale result is never shown. A lock makes a second process (another
chapter executed at the same time) wait for the first instead of training the same run twice;
a run that was interrupted is resumed from its checkpoint.

Examples:
    >>> result = shared_run("unet", data="synthetic", preset="quick")  # doctest: +SKIP
    >>> result.run_dir.parent.name                                     # doctest: +SKIP
    'shared'
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from amos_tutorial.training.rundir import RunDir

__all__ = ["SHARED_RUNS_DIR", "code_fingerprint", "shared_run", "shared_run_dir"]

#: Sub-folder of the cache folder (``$AMOS_CACHE_DIR``) that holds the shared runs.
SHARED_RUNS_DIR = Path("runs") / "shared"


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """A hash of every ``.py`` file of the installed ``amos_tutorial`` package (its code, not its data)."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def shared_run_dir(
    model: str,
    data: str | os.PathLike = "synthetic",
    preset: str = "quick",
    device: str = "auto",
    cache_dir: str | os.PathLike | None = None,
    **overrides: Any,
) -> Path:
    """The folder :func:`shared_run` uses for this training (nothing is trained or created).

    Args:
        model: Registry name.
        data: AMOS folder or ``"synthetic"``.
        preset: Trainer preset (``"smoke"``, ``"quick"``, ``"full"``).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...; part of the key (results differ between devices).
        cache_dir: Cache folder (default: ``$AMOS_CACHE_DIR``).
        **overrides: Any other :class:`~amos_tutorial.training.TrainConfig` field.

    Returns:
        ``CACHE/runs/shared/<model>_<preset>_<key>``.
    """
    from amos_tutorial.paths import cache_dir as default_cache_dir
    from amos_tutorial.paths import resolve_data_root
    from amos_tutorial.training.amp import resolve_device
    from amos_tutorial.training.config import make_config

    root = resolve_data_root(data).resolve()
    config = make_config(model, preset=preset, data=str(root), device=str(resolve_device(device)), **overrides)
    record = {"config": config.to_dict(), "code": code_fingerprint()}
    key = hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()[:12]
    base = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return base / SHARED_RUNS_DIR / f"{model}_{preset}_{key}"


def shared_run(
    model: str,
    data: str | os.PathLike = "synthetic",
    preset: str = "quick",
    device: str = "auto",
    progress: bool = False,
    cache_dir: str | os.PathLike | None = None,
    **overrides: Any,
):
    """Train a run once per configuration and return it; later calls (any process) reuse it.

    Args:
        model: Registry name.
        data: AMOS folder or ``"synthetic"``.
        preset: Trainer preset (default ``"quick"``).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
        progress: Show progress bars while training.
        cache_dir: Cache folder (default: ``$AMOS_CACHE_DIR``).
        **overrides: Any other :class:`~amos_tutorial.training.TrainConfig` field (``seed``, ``iterations``...).

    Returns:
        The :class:`~amos_tutorial.training.RunResult` of the finished run (``run_dir`` is the shared folder).

    Raises:
        RuntimeError: If the run stopped before its last step (Ctrl-C): call again to resume it.
    """
    from filelock import FileLock

    from amos_tutorial.training.trainer import train

    run_dir = shared_run_dir(model, data=data, preset=preset, device=device, cache_dir=cache_dir, **overrides)
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{run_dir}.lock"):  # no timeout: the holder is training this very run
        resume = RunDir(run_dir).config_path.is_file()
        if resume:
            result = train(out=run_dir, resume=True, progress=progress)
        else:
            result = train(model, data=data, out=run_dir, preset=preset, device=device, progress=progress, **overrides)
    if not result.completed:
        raise RuntimeError(f"{run_dir}: the shared run stopped at step {result.iteration}; call again to resume it")
    return result
