"""amos_tutorial: the helper library of the AMOS 2022 tutorial book and benchmark suite.

Organised like the pipeline it teaches (nnU-Net style): ``data`` (layout, synthetic mini-AMOS,
download, validation), ``transforms`` (preprocessing presets), ``models`` (registry of baselines),
``training``, ``inference``, ``evaluation``, ``benchmark``, ``exercises`` (checkers of the
build-it-yourself exercises), ``viz`` and the ``amos`` ``cli``.
Sub-packages are imported on demand so that ``import amos_tutorial`` stays light.

Layers, lowest first (a module imports its own layer and those below; ``tests/test_imports.py`` checks it):
``utils``/``labels`` < ``paths``/``data`` < ``transforms`` < ``models`` (and ``evaluation.metrics``) <
``training`` < ``inference`` < ``evaluation`` < ``benchmark`` (every measurement) < ``viz`` (draws only) <
``cli``/``notebook``.
"""


def _version() -> str:
    # The version is written once, in pyproject.toml: read it from the installed metadata, or from
    # pyproject.toml itself when a source checkout is used without installing it.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("amos_tutorial")
    except PackageNotFoundError:
        import re
        from pathlib import Path

        pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
        text = pyproject.read_text(encoding="utf-8") if pyproject.is_file() else ""
        found = re.search(r'^version\s*=\s*"([^"]+)"', text, re.M)  # tomllib needs Python 3.11
        return found.group(1) if found else "0+unknown"


__version__ = _version()

__all__ = ["__version__"]
