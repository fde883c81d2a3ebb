"""Checkpoints that resume exactly and load safely.

Introduced in chapter *Training the baselines*. Builds on ``torch.save`` / ``torch.load``.

A checkpoint holds the model, optimiser, gradient scaler and scheduler states, the position in the
run (epoch, iteration) and the state of every random number generator (Python, NumPy, torch CPU,
torch CUDA). Everything is stored as tensors, lists, numbers and strings, so that
``torch.load(..., weights_only=True)`` reads it: loading a checkpoint never runs pickled code, and a
checkpoint downloaded from someone else cannot execute anything on your machine.

Writes are atomic (:func:`amos_tutorial.utils.io.atomic_path`): an interrupted save leaves the previous
checkpoint intact. A truncated or corrupted file gives a one-line error that names it.

Examples:
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "last.pt"
    >>> _ = save_checkpoint(p, {"model": {}, "iteration": 3, "rng": rng_state()})
    >>> load_checkpoint(p)["iteration"]
    3
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from amos_tutorial.utils.errors import refused_object
from amos_tutorial.utils.io import atomic_path

__all__ = [
    "CHECKPOINT_VERSION",
    "load_checkpoint",
    "load_weights_file",
    "refused_object",
    "rng_state",
    "save_checkpoint",
    "set_rng_state",
]

#: Format version written into every checkpoint; bumped when the layout changes.
CHECKPOINT_VERSION = 1


def rng_state() -> dict[str, Any]:
    """The state of the Python, NumPy, torch and CUDA generators, as tensors and plain types.

    Introduced in chapter *Training the baselines*. Python's and NumPy's own state objects are
    converted to tensors because ``torch.load(weights_only=True)`` refuses arbitrary objects.

    Returns:
        A dict accepted by :func:`set_rng_state`.
    """
    py_version, py_state, py_gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": {"version": int(py_version), "state": torch.tensor(py_state, dtype=torch.int64), "gauss": py_gauss},
        "numpy": {
            "name": str(np_name),
            "keys": torch.from_numpy(np.asarray(np_keys, dtype=np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "gauss": float(np_gauss),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the generators saved by :func:`rng_state`.

    Introduced in chapter *Training the baselines*. CUDA states are restored only when the number of
    visible GPUs matches (resuming on another machine keeps that machine's CUDA generators).

    Args:
        state: The dict from :func:`rng_state`.
    """
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss"]))
    npst = state["numpy"]
    np.random.set_state(
        (npst["name"], npst["keys"].cpu().numpy().astype(np.uint32), npst["pos"], npst["has_gauss"], npst["gauss"])
    )
    torch.set_rng_state(state["torch"].cpu())
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda])


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Save a checkpoint dict atomically.

    Introduced in chapter *Training the baselines*. Builds on ``torch.save`` and
    :func:`amos_tutorial.utils.io.atomic_path`.

    Args:
        path: Destination (``RUN_DIR/checkpoints/last.pt``).
        state: Tensors, state dicts and plain Python values only (so it loads with ``weights_only=True``).

    Returns:
        The path written.
    """
    state = {"format_version": CHECKPOINT_VERSION, **state}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return Path(path)


def load_weights_file(
    path: str | os.PathLike,
    map_location: str | torch.device = "cpu",
    allowed_globals: tuple = (),
    source: str = "a checkpoint written by `amos train` from a source you trust",
) -> Any:
    """Read a torch file with ``weights_only=True``: tensors and plain values only, never pickled code.

    Introduced in chapter *Training the baselines*. Builds on ``torch.load`` and
    ``torch.serialization.safe_globals``. Every checkpoint the package reads (its own, nnU-Net's) comes
    through here, so a file from elsewhere is refused instead of run.

    Args:
        path: The file.
        map_location: Device the tensors are loaded onto.
        allowed_globals: Extra classes or functions the file may name besides torch's own safe ones
            (nnU-Net's logs hold NumPy scalars); only data types, never a callable that runs code.
        source: Where a trustworthy file comes from, for the refusal's message.

    Returns:
        What the file holds.

    Raises:
        FileNotFoundError: ``"PATH: checkpoint not found"``.
        ValueError: ``"PATH: ..."`` when the file is truncated or corrupted, or holds objects that
            ``weights_only`` refuses (``"PATH: refused for safety: ..."``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    try:
        with torch.serialization.safe_globals(list(allowed_globals)):
            return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises RuntimeError, UnpicklingError, EOFError, zipfile errors...
        refused = refused_object(exc)
        if refused is not None:
            raise ValueError(
                f"{path}: refused for safety: the file holds objects that are not plain weights ({refused}), "
                f"which could run code when loaded; use {source}"
            ) from exc
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(
            f"{path}: cannot load checkpoint, the file is corrupted or truncated ({type(exc).__name__}: {reason[:200]})"
        ) from exc


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True`` (:func:`load_weights_file`).

    Introduced in chapter *Training the baselines*. Builds on ``torch.load``.

    Args:
        path: Checkpoint file.
        map_location: Device the tensors are loaded onto.

    Returns:
        The checkpoint dict.

    Raises:
        FileNotFoundError: ``"PATH: checkpoint not found"``.
        ValueError: ``"PATH: ..."`` when the file is truncated, corrupted, not a checkpoint of this
            package, or holds objects that ``weights_only`` refuses (``"PATH: refused for safety: ..."``).
    """
    state = load_weights_file(path, map_location)
    if not isinstance(state, dict) or "model" not in state:
        raise ValueError(f"{path}: not an amos_tutorial training checkpoint (no 'model' entry)")
    return state
