"""amos_tutorial: the helper library of the AMOS 2022 tutorial book and benchmark suite.

Organised like the pipeline it teaches (nnU-Net style): ``data`` (layout, synthetic mini-AMOS,
download, validation), ``transforms`` (preprocessing presets), ``models`` (registry of baselines),
``training``, ``inference``, ``evaluation``, ``benchmark``, ``viz`` and the ``amos`` ``cli``.
Sub-packages are imported on demand so that ``import amos_tutorial`` stays light.

Layers, lowest first (a module imports its own layer and those below; ``tests/test_imports.py`` checks it):
``utils``/``labels`` < ``paths``/``data`` < ``transforms`` < ``models`` (and ``evaluation.metrics``) <
``training`` < ``inference`` < ``evaluation`` < ``benchmark`` (every measurement) < ``viz`` (draws only) <
``cli``/``notebook``.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
