"""nnU-Net's ``checkpoint_*.pth`` read safely: ``torch.load(weights_only=True)``, never pickled code.

Introduced in chapter *nnU-Net v2: the framework that won*. nnU-Net itself loads its checkpoints with
``weights_only=False``, which runs whatever a file from elsewhere pickled into it. Its checkpoints hold only
tensors, dicts, lists, strings, numbers, a ``torch.device`` and NumPy scalars (the training log), so they load
with ``weights_only=True`` once NumPy's scalar type and numeric dtypes are allowed
(:data:`NNUNET_SAFE_GLOBALS`). A file that needs anything else is refused with one line naming it.

Examples:
    >>> state = load_nnunet_checkpoint("results/Dataset219_x/T__P__3d/fold_0/checkpoint_final.pth")  # doctest: +SKIP
    >>> sorted(state)[:3]  # doctest: +SKIP
    ['_best_ema', 'current_epoch', 'grad_scaler_state']
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["NNUNET_CHECKPOINT_KEYS", "NNUNET_SAFE_GLOBALS", "load_nnunet_checkpoint"]

#: Entries every nnU-Net v2 checkpoint has and that prediction and resuming read.
NNUNET_CHECKPOINT_KEYS = ("network_weights", "init_args", "trainer_name")


def _numpy_scalar_globals() -> tuple:
    """NumPy's scalar constructor and its numeric dtypes: how ``np.float64(0.5)`` is pickled (data, no code)."""
    core = getattr(np, "_core", None) or np.core
    kinds = ("Bool", "Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64",
             "Float16", "Float32", "Float64", "LongDouble")  # fmt: skip
    dtypes = tuple(getattr(np.dtypes, f"{k}DType") for k in kinds if hasattr(np.dtypes, f"{k}DType"))
    return (core.multiarray.scalar, np.dtype, *dtypes)


#: What nnU-Net checkpoints name besides torch's own safe types (NumPy scalars of the training log).
NNUNET_SAFE_GLOBALS: tuple = _numpy_scalar_globals()


def load_nnunet_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read an nnU-Net ``checkpoint_*.pth`` with ``weights_only=True`` onto the CPU.

    Introduced in chapter *nnU-Net v2: the framework that won*. Builds on
    :func:`amos_tutorial.training.checkpoint.load_weights_file`.

    Args:
        path: ``fold_K/checkpoint_final.pth`` (or ``_latest``, ``_best``).

    Returns:
        The checkpoint dict (``network_weights``, ``init_args``, ``trainer_name``, ...).

    Raises:
        FileNotFoundError: ``"PATH: checkpoint not found"``.
        ValueError: ``"PATH: ..."`` for a truncated or corrupted file, a file holding objects other than
            weights and plain values (refused for safety), or one without nnU-Net's entries.
    """
    from amos_tutorial.training.checkpoint import load_weights_file

    path = Path(path)
    state = load_weights_file(
        path, "cpu", NNUNET_SAFE_GLOBALS, source="a checkpoint written by nnU-Net's trainer from a source you trust"
    )
    missing = [k for k in NNUNET_CHECKPOINT_KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise ValueError(f"{path}: not an nnU-Net checkpoint (no {', '.join(repr(k) for k in missing)} entry)")
    if not isinstance(state["init_args"], dict) or not isinstance(state["init_args"].get("configuration"), str):
        raise ValueError(f"{path}: not an nnU-Net checkpoint (its 'init_args' name no configuration)")
    return state
