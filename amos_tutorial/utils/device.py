"""The device report: which software versions and which hardware code runs on, and the best torch device.

Introduced in chapter *Segmenting 15 abdominal organs: a hands-on AMOS 2022 book*. Every chapter prints
:func:`device_report` in its device cell (:mod:`amos_tutorial.notebook` re-exports it); code in this package
takes the device as an argument and never hard-codes ``.cuda()``.
"""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DeviceReport", "best_device", "device_report"]


def best_device() -> str:
    """The best available torch device as a string: ``"cuda"``, ``"mps"`` or ``"cpu"``.

    Introduced in chapter *Segmenting 15 abdominal organs: a hands-on AMOS 2022 book*;
    builds on :mod:`torch`. Code in this package takes the device as an argument and never
    hard-codes ``.cuda()``, so the same notebook runs everywhere.

    Returns:
        The device name.
    """
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def _memory_gib() -> float | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (AttributeError, ValueError, OSError):  # not available on Windows
        return None


@dataclass(frozen=True)
class DeviceReport:
    """What the chapter runs on; ``str()`` gives an aligned, human-readable table.

    Attributes:
        python: Python version.
        platform: Operating system string.
        amos_tutorial: Package version.
        torch: torch version.
        monai: MONAI version (``"not installed"`` if missing).
        device: Chosen torch device (see :func:`best_device`).
        accelerator: GPU name and memory, or ``"none"``.
        cpu_count: Logical CPU cores.
        memory_gib: Host memory in GiB (None where unknown).
        colab: Whether the notebook runs on Google Colab.
        extra: Other facts worth printing.
    """

    python: str
    platform: str
    amos_tutorial: str
    torch: str
    monai: str
    device: str
    accelerator: str
    cpu_count: int
    memory_gib: float | None
    colab: bool
    extra: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The report as a flat dictionary (for logging next to benchmark results)."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "extra"}
        out.update(self.extra)
        return out

    def __str__(self) -> str:
        rows = self.as_dict()
        if rows["memory_gib"] is not None:
            rows["memory_gib"] = f"{rows['memory_gib']:.1f}"
        width = max(len(k) for k in rows)
        return "\n".join(f"{k:<{width}} : {v}" for k, v in rows.items())


def device_report() -> DeviceReport:
    """Collect the software versions and the hardware a chapter runs on.

    Introduced in chapter *Segmenting 15 abdominal organs: a hands-on AMOS 2022 book*;
    builds on :mod:`torch` (``torch.cuda``) and :mod:`platform`.

    Returns:
        A :class:`DeviceReport`; ``print()`` it in the chapter's device cell.

    Examples:
        >>> report = device_report()
        >>> report.device in ("cuda", "mps", "cpu")
        True
    """
    import torch

    from amos_tutorial import __version__

    try:
        import monai

        monai_version = monai.__version__
    except ImportError:
        monai_version = "not installed"
    device = best_device()
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        accelerator = f"{props.name}, {props.total_memory / 2**30:.1f} GiB (x{torch.cuda.device_count()})"
    elif device == "mps":
        accelerator = "Apple GPU (MPS)"
    else:
        accelerator = "none: CPU only (fine for the smoke runs on synthetic data)"
    return DeviceReport(
        python=platform.python_version(),
        platform=platform.platform(terse=True),
        amos_tutorial=__version__,
        torch=torch.__version__,
        monai=monai_version,
        device=device,
        accelerator=accelerator,
        cpu_count=os.cpu_count() or 1,
        memory_gib=_memory_gib(),
        colab="google.colab" in sys.modules,
        extra={"torch threads": str(torch.get_num_threads())},
    )
