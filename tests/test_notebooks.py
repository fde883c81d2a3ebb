"""The book's chapters: template checks (fast), chapter helpers, and re-running every chapter.

Every ``book/*.ipynb`` is picked up by the glob, so a new chapter is tested as soon as it exists:
the fast tests check that it follows the chapter template (see ``amos_tutorial/notebook.py``), the
slow ones re-execute it with pytest-notebook in smoke mode on the synthetic data.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest
from conftest import (
    CHAPTERS_GROUP,
    REPO_ROOT,
    chapter_executor,
    execute_chapter_as_reader,
    executed_chapter,
    session_shared_dir,
    toc_files,
    toc_notebooks,
)

from amos_tutorial import _meta
from amos_tutorial import notebook as nbh

BOOK = REPO_ROOT / "book"
CHAPTERS = sorted(BOOK.glob("*.ipynb"))
CHAPTER_IDS = [p.stem for p in CHAPTERS]
#: The chapters in the order of _toc.yml: the order in which they are executed (see CHAPTERS_GROUP).
BOOK_ORDER = [REPO_ROOT / f"{page}.ipynb" for page in toc_notebooks()]


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)




# --- the chapter template (fast) ------------------------------------------------------------------


def test_there_are_chapters_and_the_toc_lists_them():
    assert {"intro", "getting_the_data", "exploring_the_data"} <= set(CHAPTER_IDS)
    toc = toc_files()
    assert toc[0] == "book/intro"
    notebooks = [t for t in toc if not t.startswith("book/course/")]  # course kit pages are markdown
    assert sorted(notebooks) == sorted(f"book/{p.stem}" for p in CHAPTERS)


@pytest.mark.parametrize("path", CHAPTERS, ids=CHAPTER_IDS)
def test_chapter_follows_the_template(path):
    nb = _read(path)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code_cells), "store chapters without outputs"
    first = nb.cells[0]
    assert first.cell_type == "markdown"
    assert first.source.startswith("# ")
    assert f"]({nbh.colab_url(path.stem)})" in first.source, "first cell needs the Colab badge of this chapter"
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for needed in ("Learning goals", "Runtime", "{exercise}", "<details>"):  # solutions: see test_course.py
        assert needed in markdown, f"missing {needed!r}"
    sources = [c.source for c in code_cells]
    setup = sources[0]
    assert setup == _meta.setup_cell_source(path.stem), "the first code cell is the setup cell: run `amos book sync`"
    assert "myst_nb" not in "\n".join(sources), "import glue from amos_tutorial.notebook (myst-nb is not on Colab)"
    assert any("device_report()" in s for s in sources)
    config = [s for s in sources if "chapter_config(" in s and not s.lstrip().startswith(("#", "from"))]
    assert len(config) == 1, "exactly one configuration cell"
    assert 'DATA = "synthetic"' in config[0], "exactly one configuration cell"
    assert sources.index(setup) < sources.index(config[0])
    # The runtime box shows this page's own measured time: glued by the last cell, never typed by hand.
    runtime = next(c.source for c in nb.cells if c.cell_type == "markdown" and "admonition} Runtime" in c.source)
    assert f"{{glue:md}}`{nbh.GLUE_RUNTIME}`" in runtime
    assert f"{{glue:md}}`{nbh.GLUE_MACHINE}`" in runtime
    assert sources[-1].startswith("cfg.glue_runtime()"), "the last code cell must glue the chapter's runtime"


@pytest.mark.parametrize("path", CHAPTERS, ids=CHAPTER_IDS)
def test_chapter_code_stays_short(path):
    # Code lives in amos_tutorial; a notebook cell explains, calls and shows (the generated setup cell aside).
    for cell in _read(path).cells:
        if cell.cell_type == "code" and not cell.source.startswith(_meta.SETUP_MARKER):
            assert len(cell.source.splitlines()) <= 15, f"cell too long:\n{cell.source}"


# --- notebook helpers -----------------------------------------------------------------------------


def test_colab_url():
    url = "https://colab.research.google.com/github/amos-tutorial/amos-tutorial/blob/colab/book/intro.ipynb"
    assert nbh.colab_url("intro") == url
    assert nbh.colab_url("intro.ipynb") == url
    assert nbh.colab_url("book/intro.ipynb") == url
    assert nbh.colab_url("x", repository="me/fork", branch="dev").endswith("me/fork/blob/dev/book/x.ipynb")
    with pytest.raises(ValueError, match="owner/name"):
        nbh.colab_url("intro", repository="fork")
    with pytest.raises(ValueError, match="chapter"):
        nbh.colab_url(" ")


def test_smoke_switch_from_environment(monkeypatch):
    monkeypatch.delenv(nbh.ENV_SMOKE, raising=False)
    assert nbh.smoke_from_env(True) is True
    assert nbh.smoke_from_env(False) is False
    for text, value in (("1", True), ("Yes", True), ("off", False), ("0", False)):
        monkeypatch.setenv(nbh.ENV_SMOKE, text)
        assert nbh.smoke_from_env(not value) is value
    monkeypatch.setenv(nbh.ENV_SMOKE, "maybe")
    with pytest.raises(ValueError, match="AMOS_SMOKE"):
        nbh.smoke_from_env(True)


def test_chapter_config_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv(nbh.ENV_DATA, raising=False)
    monkeypatch.delenv(nbh.ENV_SMOKE, raising=False)
    real = tmp_path / "amos22"
    real.mkdir()
    cfg = nbh.chapter_config(str(real))
    assert cfg.root == real
    assert not cfg.synthetic
    assert not cfg.smoke
    assert cfg.max_cases is None
    assert cfg.data_source == "argument"
    assert cfg.pick(smoke=2, full=1000) == 1000
    monkeypatch.setenv(nbh.ENV_SMOKE, "1")
    cfg = nbh.chapter_config(str(real), smoke_cases=3)
    assert cfg.smoke
    assert cfg.max_cases == 3
    assert cfg.pick(smoke=2, full=1000) == 2
    assert not nbh.chapter_config(str(real), smoke=False).smoke  # the argument beats the environment
    # $AMOS_DATA replaces the chapter's DATA value (CI points every chapter at one folder).
    other = tmp_path / "cached"
    other.mkdir()
    monkeypatch.setenv(nbh.ENV_DATA, str(other))
    cfg = nbh.chapter_config("synthetic")
    assert cfg.root == other
    assert cfg.data_source == "$AMOS_DATA"
    assert not cfg.synthetic
    assert str(other) in str(cfg)
    assert "$AMOS_DATA" in str(cfg)
    monkeypatch.setenv(nbh.ENV_DATA, str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="missing"):
        nbh.chapter_config("synthetic")
    with pytest.raises(ValueError, match="smoke_cases"):
        nbh.chapter_config(str(real), smoke_cases=0)


def test_chapter_config_synthetic_defaults_to_smoke(monkeypatch, synthetic_root):
    monkeypatch.delenv(nbh.ENV_SMOKE, raising=False)
    monkeypatch.delenv(nbh.ENV_DATA, raising=False)
    monkeypatch.setattr("amos_tutorial.paths.synthetic_root", lambda: synthetic_root)
    cfg = nbh.chapter_config("synthetic")
    assert cfg.synthetic
    assert cfg.smoke
    assert cfg.max_cases == nbh.DEFAULT_SMOKE_CASES
    assert cfg.root == synthetic_root
    assert len(cfg.dataset().cases) == 4


def test_amos_runs_the_cli_without_a_shell(capsys, tmp_path):
    assert nbh.amos("--version") == 0
    assert "amos_tutorial" in capsys.readouterr().out
    assert nbh.amos("data download --help") == 0
    assert "Zenodo" in capsys.readouterr().out
    # A path with a space and a shell metacharacter arrives as one argument, uninterpreted.
    odd = tmp_path / "a b;echo hacked"
    assert nbh.amos(["data", "info", odd]) == 2
    err = capsys.readouterr().err
    assert str(odd) in err
    assert "hacked" not in err.replace(str(odd), "")
    assert nbh.amos("data no-such-command") == 2
    with pytest.raises(ValueError, match="empty"):
        nbh.amos("  ")


# --- re-running the chapters (slow) ---------------------------------------------------------------
#
# Each chapter is executed once per test session (see `executed_chapter` in conftest.py): these tests and
# the book test share the executed copies. The chapters are spread over the pytest-xdist workers.


@pytest.fixture(scope="module")
def synthetic_cache():
    # Generate the cached synthetic set once, before any kernel asks for it.
    from amos_tutorial.paths import synthetic_root

    if not os.environ.get(nbh.ENV_DATA):
        synthetic_root()


@pytest.mark.slow
@pytest.mark.notebook
@pytest.mark.xdist_group(CHAPTERS_GROUP)
@pytest.mark.parametrize("path", BOOK_ORDER, ids=[p.stem for p in BOOK_ORDER])
def test_chapter_runs_in_smoke_mode(path, synthetic_cache, tmp_path_factory):
    nb_final, _ = executed_chapter(path, session_shared_dir(tmp_path_factory))
    errors = [o for c in nb_final.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    stderr = [
        o.text
        for c in nb_final.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type == "stream" and o.name == "stderr"
    ]
    assert not stderr, f"a chapter must not print to stderr (it shows up in the book): {stderr}"
    images = [o for c in nb_final.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    figure_cells = [c for c in nb_final.cells if c.get("metadata", {}).get("mystnb", {}).get("figure")]
    assert len(images) >= len(figure_cells), "every captioned cell must show a figure"


#: Distributions the "blocked" reader environment cannot install: every optional extra of the chapters.
BLOCKED = ("nnunetv2", "dynamic-network-architectures")


@pytest.mark.slow
@pytest.mark.notebook
@pytest.mark.parametrize("chapter", sorted(_meta.CHAPTER_EXTRAS))
def test_chapter_without_its_extras_finishes_with_a_note(chapter, tmp_path_factory):
    shared = session_shared_dir(tmp_path_factory)
    nb, _, error = execute_chapter_as_reader(BOOK / f"{chapter}.ipynb", shared, "reader-blocked", BLOCKED)
    assert error is None, error
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    notes = [o["data"]["text/markdown"] for o in outputs if "text/markdown" in o.get("data", {})]
    install = [n for n in notes if "is not installed; install it with `%pip install -q \"amos_tutorial[" in n]
    assert install, f"no note with the install line; notes: {notes}"
    streams = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "could not be installed" in streams


@pytest.mark.slow
@pytest.mark.notebook
def test_a_broken_chapter_fails(tmp_path):
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("# Broken"),
            nbformat.v4.new_code_cell("x = 1"),
            nbformat.v4.new_code_cell("raise RuntimeError('deliberately broken cell')"),
        ]
    )
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "broken.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(Exception, match="deliberately broken cell"):
        chapter_executor().check(str(path))
    # The chapter files themselves are left untouched by a run.
    assert json.loads(path.read_text())["cells"][1]["outputs"] == []


@pytest.mark.slow
def test_chapter_timing_benchmark_measures_and_reports(tmp_path):
    from amos_tutorial.benchmark.chapters import format_chapter_times, time_chapters, toc_chapters

    ok = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import time; time.sleep(0.3)")])
    bad = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("raise KeyError('no such column')")])
    for name, nb in (("ok", ok), ("bad", bad)):
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, tmp_path / f"{name}.ipynb")
    lines = []
    frame = time_chapters([tmp_path / "ok.ipynb", tmp_path / "bad.ipynb"], budget_s=0.1, log=lines.append,
                          out_csv=tmp_path / "times.csv")
    assert list(frame["status"]) == ["ok", "failed"]
    assert frame.loc[0, "seconds"] >= 0.3
    assert bool(frame.loc[0, "over_budget"])
    assert "no such column" in frame.loc[1, "error"]
    assert len(lines) == 2
    assert "OVER BUDGET" in lines[0]
    text = format_chapter_times(frame, chapter_budget_s=100, book_budget_s=0.2)
    assert text.splitlines()[-1].startswith("whole book")
    assert text.endswith("OVER BUDGET")
    assert "OVER BUDGET" not in text.splitlines()[1]
    assert (tmp_path / "times.csv").is_file()
    assert [p.stem for p in toc_chapters(REPO_ROOT)][0] == "intro"
    with pytest.raises(FileNotFoundError, match="_toc.yml"):
        toc_chapters(tmp_path)
    with pytest.raises(ValueError, match="budget_s"):
        time_chapters([], budget_s=0)


@pytest.mark.slow
def test_cold_chapters_each_get_an_empty_cache_of_their_own(tmp_path):
    from amos_tutorial.benchmark.chapters import time_chapters

    paths = []
    for name in ("a", "b"):
        record = tmp_path / f"{name}.txt"
        cell = f"import os, pathlib; d = os.environ['AMOS_CACHE_DIR']; pathlib.Path({str(record)!r}).write_text(d)"
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell)])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, tmp_path / f"{name}.ipynb")
        paths.append(tmp_path / f"{name}.ipynb")
    frame = time_chapters(paths, log=None, cold=True)
    assert list(frame["status"]) == ["ok", "ok"]
    used = [(tmp_path / f"{n}.txt").read_text() for n in ("a", "b")]
    assert used[0] != used[1]
    assert os.environ.get("AMOS_CACHE_DIR") not in used
    assert not any(Path(d).exists() for d in used)


def test_runtime_line_shows_the_measured_cold_time(tmp_path, monkeypatch, capsys):
    import pandas as pd

    from amos_tutorial.benchmark import chapters

    table = tmp_path / "cold.csv"
    pd.DataFrame([{"chapter": "intro", "seconds": 42.0, "budget_s": 180, "over_budget": False, "status": "ok",
                   "error": "", "cache": "cold", "date": "2026-12-06", "machine": "2 CPU cores"}]).to_csv(table)
    monkeypatch.setattr(chapters, "COLD_TIMES_CSV", table)
    assert chapters.cold_time("intro") == {"seconds": 42.0, "date": "2026-12-06", "machine": "2 CPU cores"}
    assert chapters.cold_time("winners") is None
    monkeypatch.setenv("AMOS_CHAPTER", "intro")
    monkeypatch.delenv(nbh.ENV_DATA, raising=False)
    cfg = nbh.chapter_config(str(tmp_path))
    cfg.glue_runtime()
    assert "from an empty cache: 42 s (measured 2026-12-06)" in capsys.readouterr().out


@pytest.mark.slow
def test_glue_writes_what_myst_nb_reads(tmp_path):
    # The reader's kernel has no myst-nb: the book's glue must write the same output as myst_nb.glue.
    from nbclient import NotebookClient

    from amos_tutorial.publish.glue import glue_values

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("from amos_tutorial.notebook import glue\nglue('ours', 3.25)"),
        nbformat.v4.new_code_cell("from myst_nb import glue\nglue('theirs', 3.25, display=False)"),
    ])
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    ours, theirs = (nb.cells[i].outputs[0] for i in (0, 1))
    assert ours["data"] == theirs["data"]
    assert ours["metadata"]["scrapbook"]["mime_prefix"] == theirs["metadata"]["scrapbook"]["mime_prefix"]
    assert glue_values(nb)["ours"] == {"text/plain": "3.25"}
