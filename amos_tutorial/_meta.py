"""Where the book and its package live, defined once: repository, branch, version and install lines.

Introduced in chapter *Segmenting 15 abdominal organs: a hands-on AMOS 2022 book*. Every chapter's Colab badge and setup cell, ``_config.yml``
(``repository.url``) and ``pyproject.toml`` (``project.urls``) must agree with these constants;
``tests/test_course.py`` fails when one of them drifts. To publish a fork, change :data:`REPOSITORY`
here and ``repository.url`` in ``_config.yml``, then run ``amos book sync`` to rewrite the badges and
setup cells.

Examples:
    >>> REPOSITORY_URL
    'https://github.com/amos-tutorial/amos-tutorial'
    >>> install_spec("viewer").startswith("amos_tutorial[viewer] @ git+https://github.com/amos-tutorial/")
    True
"""

from __future__ import annotations

from amos_tutorial import __version__

__all__ = [
    "BRANCH",
    "DISTRIBUTION",
    "REPOSITORY",
    "REPOSITORY_URL",
    "STUDENT_BRANCH",
    "VERSION",
    "install_spec",
    "pip_install_line",
    "release_tag",
]

#: ``owner/name`` of the repository on GitHub.
REPOSITORY = "amos-tutorial/amos-tutorial"
#: Branch the Colab badges open.
BRANCH = "main"
#: Name of the Python distribution (``pip install <DISTRIBUTION>``).
DISTRIBUTION = "amos_tutorial"
REPOSITORY_URL = f"https://github.com/{REPOSITORY}"


#: The package version, written once in ``pyproject.toml`` (read by :mod:`amos_tutorial`).
VERSION = __version__


def release_tag(version: str = VERSION) -> str:
    """The git tag of a release: ``v`` + version (``v0.1.0``)."""
    return f"v{version}"


def install_spec(extra: str | None = None, version: str = VERSION) -> str:
    """The pip requirement that installs *this* package, pinned to the tag of ``version``.

    A direct URL reference (PEP 508), so that ``pip`` never picks a namesake from the package index,
    and the extra (``viewer``) comes from the same source.

    Args:
        extra: Optional extra, e.g. ``"viewer"``.
        version: Package version whose tag is installed.

    Returns:
        ``"amos_tutorial[extra] @ git+https://github.com/OWNER/NAME@vVERSION"``.

    Raises:
        ValueError: If ``extra`` is not a plain name.
    """
    name = DISTRIBUTION
    if extra:
        if not str(extra).replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"extra must be a plain name such as 'viewer', got {extra!r}")
        name += f"[{extra}]"
    return f"{name} @ git+{REPOSITORY_URL}@{release_tag(version)}"


def pip_install_line(extra: str | None = None) -> str:
    """The notebook line that installs :func:`install_spec` (``%pip install -q "..."``)."""
    return f'%pip install -q "{install_spec(extra)}"'


#: Branch that holds the student edition (``amos book student OUT`` writes it, laid out like this repository:
#: ``OUT/_config.yml``, ``OUT/book/<chapter>.ipynb``); its Colab badges open the chapters on this branch.
STUDENT_BRANCH = "student"
