"""Kernels that the book's executions start talk to their client over an encrypted channel.

A Jupyter kernel started over TCP without CurveZMQ keys logs, on every start, "Kernel is running over
TCP without encryption ...". The book build (jupyter-book), ``amos bench chapters`` and the tests start
one kernel per chapter, so that warning would fill their logs and teach readers to ignore warnings.
jupyter_client (8.8 and later) provisions CurveZMQ keys itself when ``KernelManager.transport_encryption``
is ``"auto"`` and the kernel spec declares ``supported_encryption: ["curve"]`` (ipykernel 7 does); this
module turns that on where pyzmq supports Curve, and does nothing elsewhere.

It is also a Sphinx extension (``sphinx.extra_extensions`` in ``_config.yml``): myst-nb executes the
chapters inside the Sphinx process with a kernel manager it creates itself, so the policy is set as the
class default before any chapter runs.

Examples:
    >>> from amos_tutorial.utils.kernels import kernel_manager
    >>> kernel_manager("python3").kernel_name
    'python3'
"""

from __future__ import annotations

from typing import Any

__all__ = ["curve_available", "encrypt_kernels", "kernel_manager", "setup"]


def curve_available() -> bool:
    """Whether this jupyter_client can provision keys and pyzmq was built with CurveZMQ."""
    import zmq
    from jupyter_client.manager import KernelManager

    return "transport_encryption" in KernelManager.class_trait_names() and bool(zmq.has("curve"))


def encrypt_kernels() -> bool:
    """Make every kernel manager created afterwards in this process provision CurveZMQ keys.

    Returns:
        ``True`` if the policy was set, ``False`` where Curve is unavailable (then nothing changes).
    """
    if not curve_available():
        return False
    from jupyter_client.manager import KernelManager

    KernelManager.transport_encryption.default_value = "auto"
    return True


def kernel_manager(kernel_name: str, **kwargs: Any):
    """A ``KernelManager`` for ``kernel_name`` that encrypts its transport where it can.

    Args:
        kernel_name: Kernel spec name (e.g. ``"python3"``).
        **kwargs: Other ``KernelManager`` arguments (e.g. ``kernel_spec_manager``).

    Returns:
        A ``jupyter_client.manager.KernelManager`` (not started).
    """
    from jupyter_client.manager import KernelManager

    if curve_available():
        kwargs.setdefault("transport_encryption", "auto")
    return KernelManager(kernel_name=kernel_name, **kwargs)


def setup(app: Any) -> dict[str, Any]:
    """Sphinx entry point: encrypt the kernels myst-nb starts during the build."""
    encrypt_kernels()
    return {"parallel_read_safe": True, "parallel_write_safe": True}
