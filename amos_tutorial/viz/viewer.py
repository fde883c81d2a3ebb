"""Optional interactive 3-D view with itkwidgets, with a static fallback.

Introduced in chapter *Exploring the data*; builds on itkwidgets (optional) and falls back to
:func:`amos_tutorial.viz.slices.show_slices` (matplotlib).

Why itkwidgets is an *optional* extra and is not installed in the project environment or in CI:

* itkwidgets 0.32 (the last classic-widget release) pins ``ipywidgets<8`` and ``notebook<6.5`` and
  pulls in about 1.2 GB of ITK wheels: it would downgrade the Jupyter stack that Jupyter Book and
  pytest-notebook need, and multiply the CI install time.
* the 1.0 alphas need ``urllib3`` and pin ``ngff-zarr==0.30.0``, and produce no static output at
  all, so a built book page would show nothing.
* an interactive widget needs a live front end (Jupyter, Colab); the book build and the
  notebook tests execute headless, where a widget can only be an empty placeholder.

So the book's build never needs it: :func:`view_3d` draws static slices unless itkwidgets is
importable *and* a live kernel front end is present. Readers who want the 3-D view install it
themselves (``pip install "amos_tutorial[viewer] @ git+<repository>@v<version>"``, see
:func:`amos_tutorial._meta.install_spec`) in a separate environment or on Colab.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import numpy as np

__all__ = ["BACKENDS", "ENV_VIEWER", "view_3d", "viewer_backend"]

ENV_VIEWER = "AMOS_VIEWER"
BACKENDS = ("auto", "itkwidgets", "static")


def _live_frontend() -> bool:
    # A widget only renders when an IPython *kernel* talks to a front end; plain python, pytest
    # and the IPython terminal have no widget front end.
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def viewer_backend(backend: str = "auto") -> str:
    """Decide which viewer :func:`view_3d` uses: ``"itkwidgets"`` or ``"static"``.

    Introduced in chapter *Exploring the data*.

    ``"auto"`` honours ``$AMOS_VIEWER`` (``static``/``itkwidgets``) first; otherwise it picks
    itkwidgets when it can be imported and a live kernel front end exists, else static slices.
    The book build sets ``AMOS_VIEWER=static`` so that pages never depend on a widget.

    Args:
        backend: ``"auto"``, ``"itkwidgets"`` or ``"static"``.

    Returns:
        ``"itkwidgets"`` or ``"static"``.

    Raises:
        ValueError: For an unknown backend (argument or environment).
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        env = os.environ.get(ENV_VIEWER, "").strip().lower()
        if env and env not in BACKENDS:
            raise ValueError(f"${ENV_VIEWER} must be one of {BACKENDS}, got {env!r}")
        backend = env or "auto"
    if backend != "auto":
        return backend
    try:
        importlib.import_module("itkwidgets")
    except ImportError:
        return "static"
    return "itkwidgets" if _live_frontend() else "static"


def _to_itk(array: np.ndarray, spacing: tuple[float, float, float]) -> Any:
    # ITK images index arrays as [z, y, x] and carry the spacing, so anisotropic CT keeps its shape.
    zyx = np.ascontiguousarray(np.transpose(array, (2, 1, 0)))
    try:
        itk = importlib.import_module("itk")
    except ImportError:
        return zyx  # itkwidgets 1.x also accepts numpy (then without spacing)
    image = itk.image_from_array(zyx)
    image.SetSpacing([float(s) for s in spacing])
    return image


def view_3d(
    image: np.ndarray,
    label: np.ndarray | None = None,
    affine: np.ndarray | None = None,
    *,
    backend: str = "auto",
    modality: str | None = None,
    **kwargs: Any,
):
    """Interactive 3-D view of a volume and its labels, or static slices where that is impossible.

    Introduced in chapter *Exploring the data*; builds on ``itkwidgets.view`` (optional, imported
    lazily) and :func:`amos_tutorial.viz.slices.show_slices`. See the module docstring for why
    itkwidgets is not installed by default.

    Args:
        image: 3-D image array in the axis order of ``affine``.
        label: Optional label map on the same grid.
        affine: Voxel-to-world matrix (None: identity).
        backend: ``"auto"`` (see :func:`viewer_backend`), ``"itkwidgets"`` or ``"static"``.
        modality: ``"CT"`` or ``"MRI"`` (window of the static fallback).
        **kwargs: Passed to ``itkwidgets.view`` (interactive) or ``show_slices`` (static).

    Returns:
        The itkwidgets viewer, or a matplotlib Figure for the static fallback.

    Raises:
        ImportError: If ``backend="itkwidgets"`` but itkwidgets is not installed.
        ValueError: For a bad backend or bad arrays.

    Examples:
        >>> fig = view_3d(img, lab, aff, backend="static")   # doctest: +SKIP
    """
    from amos_tutorial.viz.slices import show_slices, to_canonical

    choice = viewer_backend(backend)
    if choice == "static":
        return show_slices(image, label, affine, modality=modality, **kwargs)
    try:
        itkwidgets = importlib.import_module("itkwidgets")
    except ImportError as exc:
        from amos_tutorial._meta import install_spec

        raise ImportError(
            f"itkwidgets is not installed: `pip install '{install_spec('viewer')}'` (needs a live Jupyter or "
            "Colab front end), or use backend='static'"
        ) from exc
    vol = to_canonical(image, affine, label)
    args: dict[str, Any] = {"image": _to_itk(np.asarray(vol.image, dtype=np.float32), vol.spacing)}
    if vol.label is not None:
        args["label_image"] = _to_itk(np.asarray(vol.label, dtype=np.uint8), vol.spacing)
    args.update(kwargs)
    return itkwidgets.view(**args)
