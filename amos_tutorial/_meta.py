"""Where the book and its package live, defined once: repository, branches, version, extras and install lines.

Introduced in chapter *Segmenting 15 abdominal organs: a hands-on AMOS 2022 book*. Every chapter's Colab badge
and setup cell, ``_config.yml`` (``repository.url``), ``pyproject.toml`` (``project.urls``) and the install and
clone lines in the chapters follow these constants; ``amos book sync`` rewrites all of them and
``amos book sync --check`` (run by the tests) fails when one drifts. To publish a fork, change
:data:`REPOSITORY` here and run ``amos book sync``; ``scripts/release.sh`` then makes the release (tag, wheel,
sdist and the Colab edition on :data:`COLAB_BRANCH`).

Examples:
    >>> REPOSITORY_URL
    'https://github.com/amos-tutorial/amos-tutorial'
    >>> install_spec("nnunet").startswith("amos_tutorial[nnunet] @ git+https://github.com/amos-tutorial/")
    True
    >>> chapter_requirements("nnunet")[-1] == install_spec()
    True
"""

from __future__ import annotations

from collections.abc import Iterable

from amos_tutorial import __version__

__all__ = [
    "BRANCH",
    "CHAPTER_EXTRAS",
    "COLAB_BRANCH",
    "DISTRIBUTION",
    "EXTRA_MODULES",
    "REPOSITORY",
    "REPOSITORY_URL",
    "SETUP_MARKER",
    "STUDENT_BRANCH",
    "VERSION",
    "chapter_modules",
    "chapter_requirements",
    "install_spec",
    "pip_install_line",
    "release_tag",
    "setup_cell_source",
]

#: ``owner/name`` of the repository on GitHub.
REPOSITORY = "amos-tutorial/amos-tutorial"
#: Branch of the sources (the book's repository button).
BRANCH = "main"
#: Branch holding the Colab edition (chapters in plain Markdown, see :mod:`amos_tutorial.colab`); the chapters'
#: Colab badges open it. ``scripts/release.sh`` writes it.
COLAB_BRANCH = "colab"
#: Name of the Python distribution (``pip install <DISTRIBUTION>``).
DISTRIBUTION = "amos_tutorial"
REPOSITORY_URL = f"https://github.com/{REPOSITORY}"

#: The package version, written once in ``pyproject.toml`` (read by :mod:`amos_tutorial`).
VERSION = __version__

#: Optional extras of ``pyproject.toml`` and the modules whose presence shows each one is installed.
EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "nnunet": ("nnunetv2", "dynamic_network_architectures"),
    "resenc": ("dynamic_network_architectures",),
    "viewer": ("itkwidgets",),
}
#: What a chapter needs beyond the package itself; a chapter not listed needs the package only. A chapter
#: runs without its extras too: the parts that need one show a note with the install line instead.
CHAPTER_EXTRAS: dict[str, tuple[str, ...]] = {
    "training": ("resenc",),
    "nnunet": ("nnunet",),
    "winners": ("resenc",),
}
#: First line of every chapter's setup cell (how ``amos book sync`` finds the cell to rewrite).
SETUP_MARKER = "# Setup, written by `amos book sync`:"


def release_tag(version: str = VERSION) -> str:
    """The git tag of a release: ``v`` + version (``v0.1.0``)."""
    return f"v{version}"


def _extras(extra: str | Iterable[str] | None) -> list[str]:
    if extra is None:
        return []
    names = [extra] if isinstance(extra, str) else list(extra)
    for name in names:
        if not str(name).replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"extra must be a plain name such as 'nnunet', got {name!r}")
    return sorted(dict.fromkeys(str(n) for n in names))


def install_spec(extra: str | Iterable[str] | None = None, version: str = VERSION) -> str:
    """The pip requirement that installs *this* package, pinned to the tag of ``version``.

    A direct URL reference (PEP 508), so that ``pip`` never picks a namesake from the package index, and the
    extras come from the same source.

    Args:
        extra: Optional extra (``"nnunet"``) or several.
        version: Package version whose tag is installed.

    Returns:
        ``"amos_tutorial[extra] @ git+https://github.com/OWNER/NAME@vVERSION"``.

    Raises:
        ValueError: If an extra is not a plain name.
    """
    extras = _extras(extra)
    name = DISTRIBUTION + (f"[{','.join(extras)}]" if extras else "")
    return f"{name} @ git+{REPOSITORY_URL}@{release_tag(version)}"


def pip_install_line(extra: str | Iterable[str] | None = None) -> str:
    """The notebook line that installs :func:`install_spec` (``%pip install -q "..."``)."""
    return f'%pip install -q "{install_spec(extra)}"'


def chapter_requirements(chapter: str) -> list[str]:
    """What a chapter's setup cell tries to install, in order: with the chapter's extras, then the package alone.

    Args:
        chapter: Chapter name (``"nnunet"``).

    Returns:
        One or two pip requirements (:func:`install_spec`).
    """
    extras = CHAPTER_EXTRAS.get(str(chapter), ())
    return [install_spec(extras), install_spec()] if extras else [install_spec()]


def chapter_modules(chapter: str) -> list[str]:
    """The modules a chapter's setup cell checks: the package, then those of the chapter's extras."""
    modules = ["amos_tutorial"]
    for extra in CHAPTER_EXTRAS.get(str(chapter), ()):
        modules += [m for m in EXTRA_MODULES[extra] if m not in modules]
    return modules


def setup_cell_source(chapter: str) -> str:
    """The first code cell of a chapter: install what the chapter needs when it is missing, then check.

    The cell runs before the package exists (Colab, a fresh environment), so it holds everything it needs. It
    installs :func:`chapter_requirements` with pip, pinning an installed torch to its own version (Colab's CUDA
    build is never replaced), stops after the first requirement that installs, and checks the imports. When
    the package is still missing it stops the notebook with one line saying why (offline, or the repository or
    tag unreachable) and what to do; when only an extra is missing the chapter goes on and the parts that need
    it say so in the page.

    Args:
        chapter: Chapter name (``"nnunet"``).

    Returns:
        The cell's source.
    """
    requirements = ",\n    ".join(f'"{r}"' for r in chapter_requirements(chapter))
    tag = release_tag()
    return "\n".join([
        f"{SETUP_MARKER} install what this chapter needs when it is missing",
        "# (on Colab, in a fresh environment), never replacing an installed torch, then check the imports.",
        "import importlib, importlib.metadata, importlib.util, os, subprocess, sys",
        f"os.environ[\"AMOS_CHAPTER\"] = \"{chapter}\"  # which page this is (its runtime box reads it)",
        f"REQUIREMENTS = [\n    {requirements},\n]",
        f"MODULES = {chapter_modules(chapter)!r}",
        "def _missing():",
        "    importlib.invalidate_caches()",
        "    return [m for m in MODULES if importlib.util.find_spec(m) is None]",
        "_keep = [f\"torch=={importlib.metadata.version('torch')}\"] if importlib.util.find_spec(\"torch\") else []",
        "_log = \"\"",
        "for _requirement in REQUIREMENTS if _missing() else []:",
        "    _pip = subprocess.run([sys.executable, \"-m\", \"pip\", \"install\", \"-q\", _requirement, *_keep],",
        "                          capture_output=True, text=True)",
        "    _log += _pip.stderr",
        "    if _pip.returncode == 0:",
        "        break",
        "_low = _log.lower()",
        "if \"amos_tutorial\" in _missing():",
        "    _why = (\"offline: no network\" if \"resolve host\" in _low or \"name resolution\" in _low or \"unreachable\" in _low",
        f"            else \"the repository or its tag {tag} is not reachable\" if \"fatal:\" in _low or \"did not match\" in _low",
        "            else \"pip could not install it\")",
        "    _last = ([line.strip() for line in _log.splitlines() if line.strip()] or [\"pip printed nothing\"])[-1]",
        f"    raise SystemExit(f\"Setup failed: amos_tutorial could not be installed ({{_why}}; pip: {{_last}}). \"",
        f"                     \"Install a wheel or source zip of the book instead (pip install {DISTRIBUTION}-{VERSION}-py3-none-any.whl), \"",
        "                     \"or see the course kit's page 'Running the book on Colab' for a fork.\")",
        "if _missing():",
        "    print(f\"Note: {', '.join(_missing())} could not be installed; the parts of this chapter that need it say how.\")",
    ])


#: Branch that holds the student edition (``amos book student OUT`` writes it, laid out like this repository:
#: ``OUT/_config.yml``, ``OUT/book/<chapter>.ipynb``); its Colab badges open the chapters on this branch.
STUDENT_BRANCH = "student"
