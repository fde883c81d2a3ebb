"""nnU-Net v2's three folders and its lazy import: the one place that knows how nnU-Net finds its data.

Introduced in chapter *nnU-Net v2: the framework that won*. nnU-Net reads ``nnUNet_raw``,
``nnUNet_preprocessed`` and ``nnUNet_results`` from the environment (releases before 2.8 copied them
into many modules when ``nnunetv2.paths`` was first imported). :func:`nnunet_folders` takes them from the
environment or sets all three from one folder, and also updates any nnU-Net module already imported, so
that a notebook can switch folders without restarting.

Examples:
    >>> folders = nnunet_folders("/tmp/nnunet_demo")  # doctest: +SKIP
    >>> folders["nnUNet_raw"].name  # doctest: +SKIP
    'nnUNet_raw'
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import ModuleType

__all__ = ["NNUNET_EXTRA", "NNUNET_VARIABLES", "nnunet_folders", "require_nnunet", "cpu_process_settings"]

#: The environment variables nnU-Net v2 reads, in pipeline order.
NNUNET_VARIABLES = ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results")
#: The optional dependency group that installs nnU-Net v2.
NNUNET_EXTRA = "amos_tutorial[nnunet]"
_INSTALL_HINT = (
    f"nnU-Net v2 is not installed: pip install '{NNUNET_EXTRA}' (on a CPU-only machine run "
    "scripts/setup_env.sh instead, which installs it without torchvision and keeps the CPU torch)"
)


def require_nnunet() -> ModuleType:
    """Import ``nnunetv2`` or raise an ImportError that names the extra to install.

    Raises:
        ImportError: One line naming ``amos_tutorial[nnunet]``.
    """
    try:
        import nnunetv2
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    return nnunetv2


def nnunet_folders(folder: str | os.PathLike | None = None) -> dict[str, Path]:
    """The three nnU-Net folders, set in ``os.environ`` and in nnU-Net modules already imported.

    Args:
        folder: One folder holding ``nnUNet_raw/``, ``nnUNet_preprocessed/`` and ``nnUNet_results/``
            (created when missing). None: read the three variables from the environment.

    Returns:
        ``{"nnUNet_raw": Path, "nnUNet_preprocessed": Path, "nnUNet_results": Path}``.

    Raises:
        ValueError: When ``folder`` is None and a variable is not set (the message names it and says
            what to set).
    """
    if folder is not None:
        root = Path(folder).expanduser().resolve()
        paths = {name: root / name for name in NNUNET_VARIABLES}
    else:
        missing = [name for name in NNUNET_VARIABLES if not os.environ.get(name)]
        if missing:
            raise ValueError(
                f"nnU-Net variable {missing[0]} is not set: export {' '.join(f'{m}=/path' for m in missing)} "
                "or pass one folder (--nnunet-dir) that will hold all three"
            )
        paths = {name: Path(os.environ[name]).expanduser().resolve() for name in NNUNET_VARIABLES}
    for name, path in paths.items():
        path.mkdir(parents=True, exist_ok=True)
        os.environ[name] = str(path)
        # nnU-Net >= 2.8 reads the environment on every use; older releases copied the strings at import
        # (`from nnunetv2.paths import nnUNet_raw`): update those copies.
        for mod_name, module in list(sys.modules.items()):
            if mod_name.startswith("nnunetv2") and isinstance(getattr(module, name, None), str):
                setattr(module, name, str(path))
    return paths


def cpu_process_settings(processes: int = 1) -> None:
    """Keep nnU-Net from starting 8 worker processes on a small CPU machine.

    Sets ``nnUNet_def_n_proc`` (fingerprint, preprocessing and export workers) to ``processes``, in the
    environment and in nnU-Net modules already imported; a value already in the environment is kept.
    (Training's augmentation workers, ``nnUNet_n_proc_DA``, are set by :mod:`amos_tutorial.nnunet.trainer`.)
    """
    os.environ.setdefault("nnUNet_def_n_proc", str(int(processes)))
    value = int(os.environ["nnUNet_def_n_proc"])
    for mod_name, module in list(sys.modules.items()):
        if mod_name.startswith("nnunetv2") and module is not None and hasattr(module, "default_num_processes"):
            module.default_num_processes = value
