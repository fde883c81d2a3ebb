"""Device choice and mixed precision by capability.

Introduced in chapter *Training the baselines*. Builds on ``torch.autocast`` and
``torch.amp.GradScaler``. The rule:

* CUDA GPU with bfloat16 support (compute capability >= 8: A100, H100, RTX 30xx/40xx, L4): bf16
  autocast, no loss scaling (bf16 has fp32's exponent range);
* older CUDA GPU (capability < 8, e.g. Colab's T4 or a V100): fp16 autocast with a ``GradScaler``,
  which scales the loss so that small fp16 gradients do not underflow to zero;
* CPU and Apple MPS: fp32. CPU autocast gains little for 3-D convolutions, and fp16 on MPS without
  a scaler risks underflow; ask for ``amp="fp16"`` explicitly to try it.

Examples:
    >>> policy = amp_policy(torch.device("cpu"))
    >>> policy.name, policy.use_scaler
    ('fp32', False)
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

__all__ = ["AmpPolicy", "amp_policy", "resolve_device"]


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Turn ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"`` into an available ``torch.device``.

    Introduced in chapter *Training the baselines*; plain PyTorch.

    Args:
        device: ``"auto"`` (or None) picks CUDA, then MPS, then CPU.

    Returns:
        The device.

    Raises:
        ValueError: If the requested device is not available on this machine.

    Examples:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    if device is None or str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"unknown device {device!r} (use auto, cpu, cuda, cuda:N or mps)") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} requested but CUDA is not available on this machine")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} requested but only {torch.cuda.device_count()} CUDA device(s) exist")
    elif dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(f"device {device!r} requested but MPS is not available on this machine")
    elif dev.type != "cpu":
        raise ValueError(f"unsupported device {device!r} (use auto, cpu, cuda, cuda:N or mps)")
    return dev


@dataclass(frozen=True)
class AmpPolicy:
    """How one device trains: autocast dtype and whether the loss is scaled.

    Introduced in chapter *Training the baselines*; builds on ``torch.autocast`` and ``torch.amp.GradScaler``.

    Attributes:
        name: ``"bf16"``, ``"fp16"`` or ``"fp32"``.
        device_type: ``"cuda"``, ``"cpu"`` or ``"mps"``.
        dtype: Autocast dtype, or None for fp32.
        use_scaler: Whether a ``GradScaler`` is needed (fp16 only).
    """

    name: str
    device_type: str
    dtype: torch.dtype | None
    use_scaler: bool

    def autocast(self) -> contextlib.AbstractContextManager:
        """The autocast context of this policy (a no-op for fp32)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.dtype)

    def make_scaler(self) -> torch.amp.GradScaler:
        """A ``GradScaler`` (disabled unless the policy needs one, so the training loop stays the same)."""
        # GradScaler only knows cuda (and a few others); a disabled scaler is device-agnostic.
        return torch.amp.GradScaler("cuda" if self.device_type == "cuda" else "cpu", enabled=self.use_scaler)


def amp_policy(device: torch.device, mode: str = "auto") -> AmpPolicy:
    """Choose the mixed-precision policy for a device.

    Introduced in chapter *Training the baselines*. Builds on ``torch.cuda.get_device_capability``.

    Args:
        device: The training device.
        mode: ``"auto"`` (see the module docstring), ``"bf16"``, ``"fp16"`` or ``"off"``.

    Returns:
        The :class:`AmpPolicy`.

    Raises:
        ValueError: For an unknown mode, or bf16 on a GPU that does not support it.

    Examples:
        >>> amp_policy(torch.device("cpu"), "off").dtype is None
        True
    """
    if mode not in ("auto", "bf16", "fp16", "off"):
        raise ValueError(f"amp mode must be auto, bf16, fp16 or off, got {mode!r}")
    dtype = device.type
    if mode == "off":
        return AmpPolicy("fp32", dtype, None, False)
    if dtype == "cuda":
        major, _ = torch.cuda.get_device_capability(device)
        bf16_ok = major >= 8 and torch.cuda.is_bf16_supported()
        if mode == "bf16" and not bf16_ok:
            raise ValueError(f"bf16 requested but {torch.cuda.get_device_name(device)} does not support it; use fp16")
        if mode == "bf16" or (mode == "auto" and bf16_ok):
            return AmpPolicy("bf16", dtype, torch.bfloat16, False)
        return AmpPolicy("fp16", dtype, torch.float16, True)
    if mode == "auto":
        return AmpPolicy("fp32", dtype, None, False)
    if mode == "bf16":
        return AmpPolicy("bf16", dtype, torch.bfloat16, False)
    # fp16 off CUDA: no GradScaler support, so no loss scaling.
    return AmpPolicy("fp16", dtype, torch.float16, False)
