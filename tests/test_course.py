"""The book as a course: URL and version defined once, solutions hidden in every rendering, the student
edition, and the course kit pages.

Fast except the one test that executes a chapter's student edition (``slow``).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import nbformat
import pytest
import yaml
from conftest import REPO_ROOT, toc_files

from amos_tutorial import __version__, _meta
from amos_tutorial import notebook as nbh
from amos_tutorial.exercises import NOT_IMPLEMENTED
from amos_tutorial.exercises.editions import (
    DETAILS_CLOSE,
    DETAILS_OPEN,
    SOLUTION_TAG,
    solution_problems,
    student_notebook,
    write_student_edition,
)
from amos_tutorial.notebook import amos, colab_url
from amos_tutorial.publish.sync import setup_cell_index, sync_chapter

BOOK = REPO_ROOT / "book"
CHAPTERS = sorted(BOOK.glob("*.ipynb"))
IDS = [p.stem for p in CHAPTERS]
COURSE_PAGES = ["syllabus", "colab", "instructor_notes", "mini_project", "glossary", "licence"]


def _read(path: Path):
    return nbformat.read(path, as_version=4)


# --- URL and version, defined once ----------------------------------------------------------------------


def test_repository_and_version_are_defined_once():
    config = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())
    assert config["repository"]["url"] == _meta.REPOSITORY_URL
    assert config["repository"]["branch"] == _meta.BRANCH
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert project["version"] == __version__ == _meta.VERSION
    assert project["urls"]["Homepage"] == _meta.REPOSITORY_URL
    assert _meta.install_spec() == f"amos_tutorial @ git+{_meta.REPOSITORY_URL}@v{__version__}"
    assert _meta.install_spec("viewer").startswith("amos_tutorial[viewer] @ git+")
    with pytest.raises(ValueError, match="extra"):
        _meta.install_spec("viewer; rm -rf /")


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_badge_and_install_lines_follow_meta(path):
    nb = _read(path)
    assert f"]({colab_url(path.stem)})" in nb.cells[0].source
    setup = nb.cells[setup_cell_index(nb)].source
    for requirement in _meta.chapter_requirements(path.stem):
        assert f'"{requirement}"' in setup, "setup cell must install this package pinned to its version"
    text = "\n".join(c.source for c in nb.cells)
    # Every install of the package (the [viewer] extra too) comes from the repository at the release tag:
    # a bare "amos_tutorial[viewer]" would fetch whatever the package index has under that name.
    for match in re.finditer(r'pip install[^"\n]*"(amos_tutorial[^"]*)"', text):
        extra = re.match(r"amos_tutorial\[([\w-]+)\]", match.group(1))
        assert match.group(1) == _meta.install_spec(extra.group(1) if extra else None), match.group(0)
    assert not sync_chapter(nb, path.stem), "run `amos book sync`"


def test_book_sync_check_reports_stale_chapters(tmp_path, capsys):
    nb = _read(BOOK / "intro.ipynb")
    nb.cells[0].source = nb.cells[0].source.replace(_meta.REPOSITORY, "someone/old-name")
    setup = nb.cells[setup_cell_index(nb)]
    setup.source = setup.source.replace(_meta.install_spec(), "amos_tutorial")
    nbformat.write(nb, tmp_path / "intro.ipynb")
    assert amos(["book", "sync", "--check", "--book", tmp_path]) == 1
    assert "intro.ipynb" in capsys.readouterr().out
    assert amos(["book", "sync", "--book", tmp_path]) == 0
    fixed = _read(tmp_path / "intro.ipynb")
    assert colab_url("intro") in fixed.cells[0].source
    assert amos(["book", "sync", "--check", "--book", tmp_path]) == 0


# --- solutions hidden in the HTML book, in Jupyter and in Colab -----------------------------------------


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_solutions_are_hidden_everywhere(path):
    nb = _read(path)
    assert solution_problems(nb) == []
    solutions = [c for c in nb.cells if SOLUTION_TAG in c.metadata.get("tags", [])]
    assert solutions, "every chapter has exercises with solutions"
    for cell in nb.cells:
        if cell.cell_type == "markdown" and SOLUTION_TAG not in cell.metadata.get("tags", []):
            assert "<details>" not in cell.source, "a <details> block outside a solution cell"


def test_solution_problems_finds_visible_solutions():
    visible = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell(":::{solution} ex-x\n:class: dropdown\nanswer\n:::"),
            nbformat.v4.new_markdown_cell("answer without details"),
            nbformat.v4.new_code_cell("def f(): ..."),
        ]
    )
    visible.cells[1].metadata["tags"] = [SOLUTION_TAG]
    visible.cells[2].metadata["tags"] = [SOLUTION_TAG]
    problems = solution_problems(visible)
    assert len(problems) == 5
    assert problems[0].startswith("cell 0")
    assert "Colab" in problems[-1]


def _first_solution_cell():
    for path in CHAPTERS:
        for cell in _read(path).cells:
            if cell.cell_type == "markdown" and SOLUTION_TAG in cell.metadata.get("tags", []) and "```" in cell.source:
                return cell.source
    raise AssertionError("no solution with a code block")


def _inside_details(html: str, marker: str) -> bool:
    start, end = html.find("<details>"), html.find("</details>")
    return 0 <= start < html.find(marker) < end


def test_a_solution_renders_collapsed_in_the_book_and_in_jupyter():
    from docutils.core import publish_string
    from markdown_it import MarkdownIt
    from myst_parser.parsers.docutils_ import Parser

    source = _first_solution_cell()
    assert source.startswith(DETAILS_OPEN)
    assert source.rstrip().endswith(DETAILS_CLOSE)
    # The HTML book (MyST, as Jupyter Book parses it): the answer's paragraphs and code sit inside <details>.
    html = publish_string(
        source,
        parser=Parser(),
        writer_name="html5",
        settings_overrides={"output_encoding": "unicode", "report_level": 4, "myst_enable_extensions": ["colon_fence"]},
    )
    assert _inside_details(html, "<pre")
    assert "<summary>Solution</summary>" in html
    # Jupyter and Colab render markdown cells as CommonMark with raw HTML: the same nesting.
    jupyter = MarkdownIt("commonmark").render(source)
    assert _inside_details(jupyter, "<pre")
    assert "<summary>Solution</summary>" in jupyter


# --- one source, two editions ---------------------------------------------------------------------------


def test_student_edition_drops_solutions_and_keeps_skeletons(tmp_path, capsys):
    assert amos(["book", "student", tmp_path / "student", "--chapters", "evaluation,intro"]) == 0
    assert "2 chapter(s)" in capsys.readouterr().out
    written = sorted(p.name for p in (tmp_path / "student" / "book").glob("*.ipynb"))
    assert written == ["evaluation.ipynb", "intro.ipynb"]
    assert (tmp_path / "student" / "book" / "_static" / "colab-badge.svg").is_file()
    source, student = _read(BOOK / "evaluation.ipynb"), _read(tmp_path / "student" / "book" / "evaluation.ipynb")
    tagged = [c for c in source.cells if {SOLUTION_TAG, "instructor-only"} & set(c.metadata.get("tags", []))]
    assert len(student.cells) == len(source.cells) - len(tagged)
    assert tagged
    assert not [c for c in student.cells if "hidden: click" in c.source or "solution_" in c.source]
    assert not any(SOLUTION_TAG in c.metadata.get("tags", []) for c in student.cells)
    skeletons = [c for c in student.cells if "exercise-skeleton" in c.metadata.get("tags", [])]
    assert skeletons
    assert all("NotImplementedError" in c.source for c in skeletons)
    badge = colab_url("evaluation", branch=_meta.STUDENT_BRANCH)
    assert badge in student.cells[0].source
    student.cells[0].source = student.cells[0].source.replace(badge, colab_url("evaluation"))
    assert student_notebook(source).cells == student.cells
    assert amos(["book", "student", tmp_path / "x", "--chapters", "no_such_chapter"]) == 2
    assert "no_such_chapter" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.notebook
def test_student_edition_runs_and_says_not_implemented_yet(tmp_path, monkeypatch):
    # The shortest chapter with a build-it-yourself exercise, executed as a student gets it.
    from nbclient import NotebookClient

    (path,) = write_student_edition(tmp_path, chapters=["exploring_the_data"])
    nb = _read(path)
    monkeypatch.setenv("AMOS_SMOKE", "1")
    monkeypatch.setenv("AMOS_VIEWER", "static")
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    checks = [c for c in nb.cells if "exercise-check" in c.metadata.get("tags", [])]
    assert checks
    for cell in checks:
        text = "".join(o.get("data", {}).get("text/plain", "") + o.get("text", "") for o in cell.outputs)
        assert NOT_IMPLEMENTED in text, text
    assert not [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]


def test_every_part_has_a_build_it_yourself_exercise():
    toc = yaml.safe_load((REPO_ROOT / "_toc.yml").read_text())
    for part in toc["parts"]:
        if part["caption"] == "Course kit":
            continue
        found = False
        for entry in part["chapters"]:
            path = REPO_ROOT / f"{entry['file']}.ipynb"
            tags = [t for c in _read(path).cells for t in c.metadata.get("tags", [])] if path.is_file() else []
            found |= {"exercise-skeleton", "exercise-check", SOLUTION_TAG} <= set(tags)
        assert found, f"part {part['caption']!r} has no build-it-yourself exercise"


# --- the course kit -------------------------------------------------------------------------------------


def test_course_kit_pages_are_in_the_toc():
    toc = yaml.safe_load((REPO_ROOT / "_toc.yml").read_text())
    kit = next(p for p in toc["parts"] if p["caption"] == "Course kit")
    assert [e["file"] for e in kit["chapters"]] == [f"book/course/{p}" for p in COURSE_PAGES]
    for page in COURSE_PAGES:
        assert (BOOK / "course" / f"{page}.md").is_file()
    assert all(f"book/course/{p}" in toc_files() for p in COURSE_PAGES)


def test_course_kit_covers_what_a_teacher_needs():
    text = {p: (BOOK / "course" / f"{p}.md").read_text(encoding="utf-8") for p in COURSE_PAGES}
    syllabus = text["syllabus"]
    for needed in ("Week 7", "Day 2", "90 min", "Study time", "Prerequisites", "Self-check"):
        assert needed in syllabus, needed
    for chapter in IDS:
        assert f"{{doc}}`../{chapter}`" in syllabus, f"syllabus misses {chapter}"
    glossary = text["glossary"].lower()
    for term in (
        "hounsfield", "window/level", "nifti", "affine", "ras", "lps", "spacing", "anisotropy", "patch",
        "sliding window", "deep supervision", "dsc", "nsd", "hd95", "tta", "fold", "ensemble",
    ):
        assert term in glossary, term
    assert "Rubric" in text["mini_project"]
    assert "not implemented yet" in text["instructor_notes"]
    for needed in ("/content", "--remove-zip", "Drive", "--stop-after", "suggest_memory_budget_gb", "--preset colab"):
        assert needed in text["colab"], needed
    assert "CC BY 4.0" in text["licence"]
    assert "Apache-2.0" in text["licence"]
    config = (REPO_ROOT / "_config.yml").read_text()
    assert "CC BY 4.0" in config
    assert "Apache-2.0" in config


def test_memory_budget_follows_the_available_ram(monkeypatch):
    from amos_tutorial.transforms import cache

    assert cache.suggest_memory_budget_gb(available_gb=11.5) == pytest.approx(4.8)  # free Colab after start-up
    assert cache.suggest_memory_budget_gb(available_gb=60.0, fraction=1.0) == pytest.approx(58.0)
    assert cache.suggest_memory_budget_gb(available_gb=1.0) == 0.5  # never zero: the rest is memory-mapped
    monkeypatch.setattr(cache, "available_memory_gb", lambda: 6.0)
    assert cache.suggest_memory_budget_gb() == pytest.approx(2.0)
    measured = cache.available_memory_gb()
    assert measured is None or measured > 0
    with pytest.raises(ValueError, match="fraction"):
        cache.suggest_memory_budget_gb(fraction=0)


def test_printed_statistics_say_when_they_are_synthetic(tmp_path):
    from amos_tutorial.notebook import ChapterConfig

    common = dict(root=tmp_path, smoke=True, max_cases=8, seed=0, device="cpu", data_source="argument")
    assert "synthetic" in ChapterConfig(data="synthetic", synthetic=True, **common).data_label
    real = ChapterConfig(data=str(tmp_path), synthetic=False, **common).data_label
    assert "synthetic" not in real
    assert str(tmp_path) in real
    nb = _read(BOOK / "exploring_the_data.ipynb")
    assert sum("cfg.data_label" in c.source for c in nb.cells if c.cell_type == "code") >= 4


def test_intro_chapter_map_types_no_measured_times():
    # Each chapter's runtime box has its measured time; the introduction's chapter map repeated them by hand
    # and went stale ("~50 s" for a chapter of about 4 min). It now gives orders of magnitude only.
    intro = "\n".join(c.source for c in _read(BOOK / "intro.ipynb").cells if c.cell_type == "markdown")
    rows = re.findall(r"^\| \d+ \| \{doc\}`(\w+)` \|.*$", intro, re.M)
    assert rows, "the introduction has a chapter map"
    for row in re.findall(r"^\| \d+ \| \{doc\}`\w+` \|.*$", intro, re.M):
        cpu_column = row.split("|")[4]  # | n | chapter | topics | CPU, synthetic | GPU, real |
        assert not re.search(r"\d+(?:\.\d+)? ?(?:s|min)\b", cpu_column), f"hand-typed time in the chapter map: {row}"


def test_prose_quotes_the_quick_preset_as_it_is():
    # The evaluation and training chapters describe the quick preset in words; a changed preset must fail here
    # instead of leaving stale prose (a caption once said "10 steps" for runs of 600).
    from amos_tutorial.training.config import PRESETS, make_config

    quick, full = PRESETS["quick"], make_config("nnunet", preset="full")
    grid = " x ".join(f"{s:g}" for s in quick["preprocess"]["spacing"]) + " mm"
    share = f"{quick['iterations'] / full.iterations:.2%}".replace("%", " %")
    for chapter, needed in (
        ("evaluation", [f"{quick['iterations']} Adam steps", grid, f"{share} of the recipe's steps"]),
        ("training", [f"{quick['optimizer']['lr']:.0e}".replace("e-0", "e-") + f" for {quick['iterations']} steps", grid,
                      f"every {quick['iterations_per_epoch']} steps"]),
    ):
        prose = " ".join(c.source for c in _read(BOOK / f"{chapter}.ipynb").cells if c.cell_type == "markdown")
        prose = re.sub(r"\s+", " ", prose)
        for text in needed:
            assert text in prose, f"{chapter}: the prose no longer says {text!r}"


def test_colab_preset_sits_between_quick_and_full(capsys):
    from amos_tutorial.models import get_model_spec
    from amos_tutorial.training.config import make_config

    quick, colab, full = (make_config("nnunet", preset=p) for p in ("quick", "colab", "full"))
    assert quick.iterations < colab.iterations < full.iterations
    assert colab.variant == full.variant == "full"
    assert colab.patch_size == full.patch_size
    assert colab.optimizer == full.optimizer == get_model_spec("nnunet").optimizer
    assert colab.preprocess == full.preprocess  # the real grid, not quick's coarse one
    assert amos("train --help") == 0
    assert "colab" in capsys.readouterr().out


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_every_glued_number_in_the_prose_is_computed(path):
    # A {glue:text}`key` role without a glue("key", ...) call in the same chapter fails the book build late;
    # catch it here. (The value itself is whatever the chapter computed in that run.)
    nb = _read(path)
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    # The runtime box's keys are glued by cfg.glue_runtime() (the template test checks that call).
    runtime_keys = {nbh.GLUE_RUNTIME, nbh.GLUE_MACHINE}
    # Published numbers are glued in one loop over published_glue() (the sourced table of the package).
    if "published_glue()" in code:
        from amos_tutorial.evaluation.reference import published_glue

        runtime_keys |= set(published_glue())
    for key in set(re.findall(r"\{glue(?::\w+)?\}`([^`:]+)(?::[^`]*)?`", prose)) - runtime_keys:
        assert re.search(rf"glue\(\s*[\"']{re.escape(key)}[\"']", code), f"{path.stem}: nothing glues {key!r}"


def test_glue_checks_its_name_and_runs_without_myst_nb(monkeypatch):
    import sys

    from amos_tutorial.notebook import glue

    with pytest.raises(ValueError, match="glue name"):
        glue("two words", 1)
    monkeypatch.setitem(sys.modules, "myst_nb", None)  # as on Colab: import fails, glue does nothing
    assert glue("quick_steps", 600) is None


def test_version_is_read_from_pyproject_when_not_installed(monkeypatch):
    import importlib.metadata

    import amos_tutorial

    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert amos_tutorial._version() == project["version"]
