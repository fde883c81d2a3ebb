"""amos_tutorial: the helper library of the AMOS 2022 tutorial book and benchmark suite.

Organised like the pipeline it teaches (nnU-Net style): ``data`` (layout, synthetic mini-AMOS,
download, validation), ``transforms`` (preprocessing presets), ``models`` (registry of baselines),
``training``, ``inference``, ``evaluation``, ``benchmark``, ``viz`` and the ``amos`` ``cli``.
Sub-packages are imported on demand so that ``import amos_tutorial`` stays light.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
