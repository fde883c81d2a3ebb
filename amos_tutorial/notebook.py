"""Helpers for the book's chapters: the device report, the one configuration cell, ``amos`` commands.

Introduced in chapter *Segmenting 15 abdominal organs: a hands-on AMOS 2022 book* (the introduction).
Every chapter of the book (``book/<chapter>.ipynb``) has the same skeleton, so that a reader
always knows where to look and the test-suite can re-run all of them unattended
(``tests/test_notebooks.py`` checks the items marked *checked*):

1. **Title and Colab badge**, first markdown cell (*checked*): ``# Chapter title``, then
   ``[![Open In Colab](_static/colab-badge.svg)](COLAB_URL)`` with ``COLAB_URL`` =
   :func:`colab_url` of the chapter (the badge image is local, so the built book works offline),
   then a short lead paragraph.
2. **Learning goals** and **Runtime** admonitions (*checked*); the runtime table has two columns:
   CPU smoke run on synthetic data (measured) and GPU run on the real release (expected).
3. **Setup cell** (*checked*): written by ``amos book sync`` from
   :func:`amos_tutorial._meta.setup_cell_source`, never by hand. It installs what the chapter needs when it is
   missing (the package pinned to the release tag, with the chapter's extras from
   :data:`amos_tutorial._meta.CHAPTER_EXTRAS`), never replacing an installed torch, and stops with one line
   saying why when the package cannot be installed. The next cell imports::

       %matplotlib inline
       from amos_tutorial.notebook import chapter_config, device_report

   A part that needs an optional extra checks :func:`have_extra` first and shows a note with the install line
   when it is missing.
4. **Device report** (*checked*): ``print(device_report())``.
5. **The one configuration cell** (*checked*: exactly one cell calls ``chapter_config``)::

       DATA = "synthetic"  # or the folder of your AMOS copy, e.g. "/data/amos22"
       cfg = chapter_config(DATA)
       print(cfg)

   ``cfg.smoke`` decides how much work the chapter does (``$AMOS_SMOKE``; default: smoke on
   synthetic data); ``cfg.pick(smoke=..., full=...)`` chooses between the two sizes of any setting
   (epochs, cases, patch size); ``cfg.dataset()`` opens the data; ``cfg.device`` is the torch device.
   ``cfg.size`` adds a third size between the two, ``course``, picked when ``DATA`` is a course pack
   (``amos data pack``, for a free Colab T4): the chapter's small settings on the pack's real cases, all
   of them, ``cfg.pick(..., course=...)`` where a chapter wants its own course value, and the training
   preset :attr:`ChapterConfig.preset` (``course``).
   ``$AMOS_DATA`` overrides ``DATA`` (CI points every chapter at one cached set this way).
6. **Sections** (``##``): prose explains, short code cells (at most 15 lines, *checked*) call into
   :mod:`amos_tutorial`; figures come from :mod:`amos_tutorial.viz` and are the last expression of
   their cell, with a caption in the cell metadata (``{"mystnb": {"figure": {"caption": ...,
   "name": "fig-<chapter>-<what>"}}}``). Nothing may print to stderr (*checked*): it would show in
   the book. Shell steps use :func:`amos` (``amos("data validate --data synthetic --no-progress")``).
7. **Exercises** with hidden solutions (*checked*): ``{exercise}`` with a ``:label:``, then the
   solution in its own markdown cell tagged ``solution`` and wrapped in ``<details>`` (hidden in the
   HTML book, in Jupyter and in Colab alike; a MyST ``{solution}`` block would show as plain text
   right under its question in Jupyter and Colab). **Build-it-yourself** exercises
   (:mod:`amos_tutorial.exercises`): a skeleton code cell (tag ``exercise-skeleton``) whose function
   ``my_x`` raises ``NotImplementedError("Student exercise: ...")``, a cell that runs the checker on it
   (tag ``exercise-check``), and *after* it the solution in a code cell tagged ``solution`` (hidden:
   ``hide-input`` in the HTML book, ``source_hidden`` in Jupyter, a form cell in Colab) that defines
   ``solution_x`` and checks it, so "Run all" checks the student's code (*checked*). ``amos book
   student OUT`` writes the student edition without the solution cells.
8. **Summary**, and ``{cite}`key``` references into ``book/references.bib``. The bibliography is
   printed once, at the end of the introduction; chapters do not add another ``{bibliography}``.

Chapters are stored without outputs and listed in ``_toc.yml`` (*checked*); the book build
(``scripts/build_book.sh``) executes them all and fails on any error.

Examples:
    >>> from amos_tutorial.notebook import colab_url
    >>> colab_url("intro")
    'https://colab.research.google.com/github/amos-tutorial/amos-tutorial/blob/colab/book/intro.ipynb'
"""

from __future__ import annotations

import os
import shlex
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

# The repository and branch are defined once, in amos_tutorial._meta (tests/test_course.py checks
# _config.yml and every chapter's badge and setup cell against them).
from amos_tutorial._meta import BRANCH, REPOSITORY
from amos_tutorial.utils.device import DeviceReport, best_device, device_report
from amos_tutorial.utils.timing import format_duration

__all__ = [
    "BRANCH",
    "DEFAULT_SMOKE_CASES",
    "SIZES",
    "ENV_DATA",
    "ENV_SIZE",
    "ENV_SMOKE",
    "GLUE_MACHINE",
    "GLUE_PREFIX",
    "GLUE_RUNTIME",
    "REPOSITORY",
    "ChapterConfig",
    "DeviceReport",
    "PageNote",
    "amos",
    "best_device",
    "chapter_config",
    "colab_url",
    "device_report",
    "glue",
    "have_extra",
    "missing_extra_note",
    "page_note",
    "parse_bool",
    "skip_note",
    "smoke_from_env",
]

ENV_SMOKE = "AMOS_SMOKE"
#: ``smoke``, ``course`` or ``full``: the size of every chapter, beating ``$AMOS_SMOKE`` and the data's default.
ENV_SIZE = "AMOS_SIZE"
ENV_DATA = "AMOS_DATA"
#: Glue keys of :meth:`ChapterConfig.glue_runtime`, used by every chapter's runtime box.
GLUE_RUNTIME = "chapter_runtime"
GLUE_MACHINE = "chapter_machine"
# Enough cases for every figure to have both modalities, few enough for a 2-core CI runner.
DEFAULT_SMOKE_CASES = 8
#: How much work a chapter does: ``smoke`` (synthetic data, a CPU), ``course`` (a course pack of real cases,
#: a free Colab T4), ``full`` (the release, a GPU). Each is also the name of the training preset it uses.
SIZES = ("smoke", "course", "full")
_UNSET: Any = object()

# tqdm.auto warns on import in a kernel without ipywidgets and then falls back to text progress
# bars, which is all the book needs: the warning would only be noise in every chapter's output.
warnings.filterwarnings("ignore", message="IProgress not found")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

T = TypeVar("T")


def colab_url(notebook: str, repository: str | None = None, branch: str | None = None) -> str:
    """The Google Colab URL that opens a chapter straight from the GitHub repository.

    Introduced in chapter *Segmenting 15 abdominal organs: a hands-on AMOS 2022 book*;
    builds on Colab's ``/github/ORG/REPO/blob/BRANCH/PATH`` scheme.

    Args:
        notebook: Chapter name (``"intro"``), file name (``"intro.ipynb"``) or repository path
            (``"book/intro.ipynb"``).
        repository: ``"owner/name"`` on GitHub (default: :data:`amos_tutorial._meta.REPOSITORY`).
        branch: Git branch (default: the Colab edition's, :data:`amos_tutorial._meta.COLAB_BRANCH`).

    Returns:
        The URL.

    Raises:
        ValueError: If ``notebook`` is empty or ``repository`` is not ``owner/name``.

    Examples:
        >>> colab_url("book/exploring_the_data.ipynb").endswith("/blob/colab/book/exploring_the_data.ipynb")
        True
    """
    from amos_tutorial import _meta

    repository = _meta.REPOSITORY if repository is None else repository
    branch = _meta.COLAB_BRANCH if branch is None else branch
    name = str(notebook).strip().strip("/")
    if not name:
        raise ValueError("notebook must name a chapter, e.g. 'intro'")
    if repository.count("/") != 1:
        raise ValueError(f"repository must be 'owner/name', got {repository!r}")
    if not name.endswith(".ipynb"):
        name += ".ipynb"
    if not name.startswith("book/"):
        name = f"book/{name}"
    return f"https://colab.research.google.com/github/{repository}/blob/{branch}/{name}"


def parse_bool(value: str | bool | int, name: str = "value") -> bool:
    """Parse a yes/no switch as written in an environment variable.

    Introduced in chapter *Segmenting 15 abdominal organs: a hands-on AMOS 2022 book* (how ``AMOS_SMOKE`` is read).

    Args:
        value: ``1/0``, ``true/false``, ``yes/no``, ``on/off`` (any case) or a bool.
        name: Name used in the error message.

    Returns:
        The boolean.

    Raises:
        ValueError: If the text is not one of the accepted spellings.

    Examples:
        >>> parse_bool("Yes"), parse_bool("0")
        (True, False)
    """
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{name} must be one of 1/0, true/false, yes/no, on/off, got {value!r}")


def smoke_from_env(default: bool) -> bool:
    """Read ``$AMOS_SMOKE``; return ``default`` when it is unset.

    Introduced in chapter *Segmenting 15 abdominal organs: a hands-on AMOS 2022 book*.

    Args:
        default: Value used when the variable is not set.

    Returns:
        Whether the chapter runs in smoke mode.
    """
    value = os.environ.get(ENV_SMOKE)
    if value is None:
        return bool(default)
    return parse_bool(value, name=ENV_SMOKE)


@dataclass(frozen=True)
class ChapterConfig:
    """The settings of one chapter run, made by :func:`chapter_config`.

    Attributes:
        data: What the reader asked for (``"synthetic"`` or a path), after the ``AMOS_DATA`` override.
        root: The resolved dataset folder.
        smoke: Whether the chapter does the small CPU version of its work.
        synthetic: Whether ``data`` is the synthetic mini-AMOS set.
        max_cases: Cases to use for statistics and figures (None = all), from ``smoke_cases``.
        seed: Seed for everything random in the chapter.
        device: torch device name.
        data_source: Where ``data`` came from: ``"argument"`` or ``"$AMOS_DATA"``.
        started: ``time.perf_counter()`` when the configuration was made (the chapter's clock).
        size: ``"smoke"``, ``"course"`` (a course pack: the smoke settings on its real cases) or ``"full"``.
    """

    data: str
    root: Path
    smoke: bool
    synthetic: bool
    max_cases: int | None
    seed: int
    device: str
    data_source: str
    started: float = field(default_factory=time.perf_counter, compare=False, repr=False)
    size: str = ""

    def __post_init__(self) -> None:
        if not self.size:
            object.__setattr__(self, "size", "smoke" if self.smoke else "full")
        if self.size not in SIZES:
            raise ValueError(f"size must be one of {SIZES}, got {self.size!r}")

    def pick(self, smoke: T, full: T, course: T = _UNSET) -> T:
        """Return ``smoke`` in smoke mode, else ``full`` (e.g. ``cfg.pick(smoke=2, full=1000)`` epochs).

        In ``course`` size (a course pack): ``course`` when given, else ``smoke``.
        """
        if self.size == "course" and course is not _UNSET:
            return course
        return smoke if self.smoke else full

    @property
    def preset(self) -> str:
        """The training preset of this size (:data:`amos_tutorial.training.config.PRESETS`): the size's name."""
        return self.size

    @property
    def data_label(self) -> str:
        """What the chapter's numbers describe, printed above statistics so that synthetic ones say so."""
        if self.synthetic:
            return "synthetic mini-AMOS (generated volumes, not patient data)"
        return f"AMOS data in {self.root}"

    def dataset(self, **kwargs: Any):
        """Open the dataset with :func:`amos_tutorial.data.layout.load_amos` (kwargs are passed on)."""
        from amos_tutorial.data.layout import load_amos

        return load_amos(self.root, **kwargs)

    def glue_runtime(self) -> None:
        """Report the chapter's execution time so far and glue it for the runtime box at its top.

        The last cell of every chapter calls it. In the built book, ``{glue:md}`chapter_runtime```
        and ``{glue:md}`chapter_machine``` in the runtime box show this page's own time and machine, so the
        box can never disagree with what the build measured. Outside a book build (no ``myst_nb``) it only
        prints the line. Returns nothing, so that the last cell of a page shows only that line.
        """
        seconds = time.perf_counter() - self.started
        report = device_report()
        gpu = report.accelerator if report.device != "cpu" else "no GPU"
        machine = f"{report.cpu_count} CPU cores, {gpu}; {self.size} mode"
        from IPython.display import Markdown

        from amos_tutorial.benchmark.chapters import cold_time

        chapter = os.environ.get("AMOS_CHAPTER", "")  # set by the chapter's setup cell
        cold = cold_time(chapter) if chapter else None
        runtime = f"{format_duration(seconds)} in this build"
        if cold is not None:
            runtime += (f"; {format_duration(cold['seconds'])} from an empty cache, as on a fresh Colab machine "
                        f"(measured {cold['date']}, {cold['machine']})")
        print(f"this chapter ran in {format_duration(seconds)} ({machine})"
              + (f"; from an empty cache: {format_duration(cold['seconds'])} (measured {cold['date']})" if cold else ""))
        glue(GLUE_RUNTIME, Markdown(runtime))
        glue(GLUE_MACHINE, Markdown(machine))

    def __str__(self) -> str:
        mode = {
            "smoke": "smoke (small, CPU-friendly)",
            "course": "course (a course pack of real cases: the small settings, for a free Colab T4)",
            "full": "full",
        }[self.size]
        cases = "all" if self.max_cases is None else f"at most {self.max_cases}"
        return (
            f"data   : {self.data} (from {self.data_source})\n"
            f"root   : {self.root}\n"
            f"mode   : {mode}; cases used for statistics: {cases}\n"
            f"device : {self.device}; seed: {self.seed}"
        )


def chapter_config(
    data: str | os.PathLike = "synthetic",
    smoke: bool | None = None,
    seed: int = 0,
    smoke_cases: int | None = DEFAULT_SMOKE_CASES,
) -> ChapterConfig:
    """Build a chapter's configuration from its one ``DATA`` value and the environment.

    Introduced in chapter *Segmenting 15 abdominal organs: a hands-on AMOS 2022 book*;
    builds on :func:`amos_tutorial.paths.resolve_data_root` (which generates the cached synthetic
    mini-AMOS set on first use).

    Precedence: ``$AMOS_DATA`` (if set) replaces ``data``, so that CI can point every chapter at a
    cached dataset without editing notebooks. ``smoke`` (if not None) beats ``$AMOS_SMOKE``, which
    beats the default: smoke exactly when the data are synthetic. A course pack (a folder with the
    manifest of ``amos data pack``) gets the ``course`` size unless smoke is forced on or off: the small
    settings, on all of the pack's cases. ``$AMOS_SIZE`` (``smoke``, ``course``, ``full``) beats both
    environment rules.

    Args:
        data: ``"synthetic"`` or the folder of the real AMOS release (``amos22/`` or its parent).
        smoke: Force smoke mode on or off; None reads ``$AMOS_SMOKE``.
        seed: Seed used by the chapter.
        smoke_cases: Number of cases used in smoke mode (None: all of them).

    Returns:
        A :class:`ChapterConfig`; ``print(cfg)`` shows what will run.

    Raises:
        FileNotFoundError: If the data folder does not exist.
        ValueError: If ``$AMOS_SMOKE`` is not a yes/no value or ``smoke_cases`` is not positive.

    Examples:
        >>> cfg = chapter_config("synthetic")  # doctest: +SKIP
        >>> cfg.pick(smoke=2, full=1000)       # doctest: +SKIP
        2
    """
    from amos_tutorial.paths import SYNTHETIC, resolve_data_root

    if smoke_cases is not None and int(smoke_cases) < 1:
        raise ValueError(f"smoke_cases must be a positive number of cases or None, got {smoke_cases!r}")
    env_data = os.environ.get(ENV_DATA)
    if env_data:
        data, source = env_data, f"${ENV_DATA}"
    else:
        source = "argument"
    data = str(data)
    synthetic = data == SYNTHETIC
    root = resolve_data_root(data)
    env_size = os.environ.get(ENV_SIZE, "").strip().lower()
    if env_size and env_size not in SIZES:
        raise ValueError(f"${ENV_SIZE} must be one of {', '.join(SIZES)}, got {env_size!r}")
    forced = smoke if smoke is not None else (None if os.environ.get(ENV_SMOKE) is None else smoke_from_env(False))
    if smoke is None and env_size:
        size = env_size
    elif forced is None and not synthetic and _is_course_pack(root):
        size = "course"
    else:
        size = "smoke" if (bool(forced) if forced is not None else synthetic) else "full"
    is_smoke = size != "full"
    return ChapterConfig(
        data=data,
        root=root,
        smoke=is_smoke,
        synthetic=synthetic,
        max_cases=(int(smoke_cases) if smoke_cases is not None else None) if size == "smoke" else None,
        seed=int(seed),
        device=best_device(),
        data_source=source,
        size=size,
    )


def _is_course_pack(root: Path) -> bool:
    """Whether ``root`` (or its ``amos22/``) holds the manifest of ``amos data pack``."""
    from amos_tutorial.data.manifest import MANIFEST_NAME

    return any((folder / MANIFEST_NAME).is_file() for folder in (Path(root), Path(root) / "amos22"))


def amos(command: str | list[str]) -> int:
    """Run an ``amos`` command line inside the notebook, exactly as in a terminal.

    Introduced in chapter *Getting the data*; builds on :func:`amos_tutorial.cli.main` and
    :func:`shlex.split`. The command is split into arguments and handed to the CLI in this process:
    no shell is involved, so nothing in the string is ever interpreted by one.

    Args:
        command: The arguments after ``amos``, e.g. ``"data validate --data synthetic --no-progress"``,
            or an already split list.

    Returns:
        The exit code (0 for success; ``--help`` also returns 0).

    Raises:
        ValueError: If the command is empty.

    Examples:
        >>> amos("--version")  # doctest: +SKIP
        amos_tutorial 0.1.0
        0
    """
    from amos_tutorial.cli import main

    argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
    if not argv:
        raise ValueError("command is empty: pass the arguments after 'amos', e.g. 'data info --data synthetic'")
    try:
        return main(argv)
    except SystemExit as exc:  # argparse exits after --help/--version and on usage errors
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)


#: Mime-type prefix of a value glued without being shown (the format myst-nb reads, see :func:`glue`).
GLUE_PREFIX = "application/papermill.record/"


def glue(name: str, value: Any, display: bool = False) -> None:
    """Bind a computed value to ``{glue:text}`name``` in the chapter's prose, so that the text follows the result.

    Introduced in chapter *Training the baselines*. Writes the output that ``myst_nb.glue`` writes (the value's
    display formats under ``application/papermill.record/``, with ``scrapbook`` metadata naming it), without
    needing myst-nb: the book build replaces each ``{glue:text}`` role with the value computed in this run (a
    role without its value fails the build), and ``amos book colab`` reads the same outputs from the executed
    chapters. Jupyter and Colab show nothing for it. Outside a kernel it does nothing.

    Args:
        name: Key used in the prose; letters, digits and underscores.
        value: The value (its display formats are stored: ``str()``-like text, Markdown, HTML...).
        display: Also show the value in the cell's output.

    Raises:
        ValueError: If ``name`` is not a plain identifier.
    """
    if not str(name).isidentifier():
        raise ValueError(f"glue name must be letters, digits and underscores, got {name!r}")
    from IPython import get_ipython

    if get_ipython() is None:
        return
    from IPython.core.formatters import format_display_data
    from IPython.display import display as show

    bundle, metadata = format_display_data(value)
    prefix = "" if display else GLUE_PREFIX
    metadata["scrapbook"] = {"name": name, "mime_prefix": prefix}
    show({prefix + key: data for key, data in bundle.items()}, raw=True, metadata=metadata)


@dataclass(frozen=True)
class PageNote:
    """A short note shown in the page: markdown in the book and Jupyter, plain text in a terminal.

    Made by :func:`skip_note` and :func:`page_note`. Being an object with a ``_repr_markdown_``, it can be
    the last expression of a cell, for example the other branch of a figure:
    ``viz.show_case(mri[0]) if mri else skip_note("the MRI view", "This copy has no labelled MRI case.")``.

    Attributes:
        title: The bold lead (``"Skipped: the MRI view"``).
        text: One or two sentences.
    """

    title: str
    text: str

    def __str__(self) -> str:
        return f"{self.title}. {self.text}"

    def __repr__(self) -> str:
        return str(self)

    def _repr_markdown_(self) -> str:
        return f"> **{self.title}.** {self.text}"


def skip_note(what: str, reason: str) -> PageNote:
    """Say in the page that a section did not run on this data, and why.

    Introduced in chapter *Getting the data*. A chapter that meets a copy of AMOS without some part
    (no MRI case, no validation split, no metadata CSV) skips the sections that need it and shows
    this note instead of stopping with an error.

    Args:
        what: What was skipped (``"the MRI example"``).
        reason: Why, in terms of the data, as a sentence (``"This copy has no labelled MRI case."``).

    Returns:
        A :class:`PageNote`; make it the last expression of the cell, or ``display()`` it.

    Raises:
        ValueError: If ``what`` or ``reason`` is empty.

    Examples:
        >>> print(skip_note("the MRI example", "This copy has no labelled MRI case."))
        Skipped: the MRI example. This copy has no labelled MRI case.
    """
    if not str(what).strip() or not str(reason).strip():
        raise ValueError(f"skip_note needs what was skipped and why, got {what!r} and {reason!r}")
    return PageNote(f"Skipped: {what}", str(reason))


def page_note(text: str, title: str = "Note") -> PageNote:
    """A note about this data shown in the page (for example :meth:`AmosDataset.metadata_note`).

    Introduced in chapter *Getting the data*.

    Args:
        text: One or two sentences.
        title: The bold lead.

    Returns:
        A :class:`PageNote`.

    Examples:
        >>> page_note("The scanner columns are unknown.")
        Note. The scanner columns are unknown.
    """
    if not str(text).strip():
        raise ValueError("page_note needs a text")
    return PageNote(str(title), str(text))


def missing_extra_note(extra: str, what: str) -> PageNote | None:
    """A page note with the install line when optional ``extra`` is missing, else None.

    Introduced in chapter *Training the baselines*. A chapter runs without its optional extras (a plain
    install, a blocked package): the part that needs one shows this note instead of a traceback.

    Args:
        extra: Name of the extra in :data:`amos_tutorial._meta.EXTRA_MODULES` (``"nnunet"``, ``"resenc"``).
        what: What is skipped (``"nnU-Net's part of this chapter"``).

    Returns:
        A :class:`PageNote` naming the missing module and the exact install line, or None when installed.

    Raises:
        ValueError: If ``extra`` is not a known extra.
    """
    import importlib.metadata
    import importlib.util

    from amos_tutorial._meta import EXTRA_MODULES, install_spec

    if extra not in EXTRA_MODULES:
        raise ValueError(f"extra must be one of {sorted(EXTRA_MODULES)}, got {extra!r}")
    missing = [m for m in EXTRA_MODULES[extra] if importlib.util.find_spec(m) is None]
    if not missing:
        return None
    keep = f' "torch=={importlib.metadata.version("torch")}"' if importlib.util.find_spec("torch") else ""
    line = f'%pip install -q "{install_spec(extra)}"{keep}'
    return skip_note(what, f"`{missing[0]}` is not installed; install it with `{line}` and run the page again.")


def have_extra(extra: str, what: str) -> bool:
    """Whether optional ``extra`` is installed; if not, show :func:`missing_extra_note` in the page.

    Examples:
        >>> have_extra("nnunet", "nnU-Net's part of this chapter")  # doctest: +SKIP
        True
    """
    note = missing_extra_note(extra, what)
    if note is not None:
        from IPython.display import display

        display(note)
    return note is None

