"""amos_tutorial.publish.sync: badges, setup cells, install and clone lines, and the repository URL, from _meta."""

from __future__ import annotations

import shutil

import nbformat
import pytest
from conftest import REPO_ROOT

from amos_tutorial import _meta
from amos_tutorial.notebook import amos
from amos_tutorial.publish import sync


def test_the_repository_is_in_step_with_meta():
    assert sync.sync_repository(REPO_ROOT, check=True) == []


def _legacy_chapter() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# T\n\n[![Open In Colab](x.svg)](https://colab.research.google.com/github/a/b/blob/main/book/t.ipynb)"),
        nbformat.v4.new_code_cell(
            "# Install the book's package when it is missing\ntry:\n    import amos_tutorial\nexcept ImportError:\n"
            '    %pip install -q "amos_tutorial @ git+https://github.com/a/b@v0.0.1"\n%matplotlib inline\nimport json'
        ),
        nbformat.v4.new_markdown_cell('Run `pip install "amos_tutorial[nnunet] @ git+https://github.com/a/b@v0.0.1"`.'),
        nbformat.v4.new_markdown_cell("```bash\ngit clone https://github.com/a/b && cd b\n```"),
    ]
    return nb


def test_an_old_setup_cell_is_replaced_and_its_imports_kept():
    nb = _legacy_chapter()
    assert sync.sync_chapter(nb, "nnunet")
    assert nb.cells[1].source == _meta.setup_cell_source("nnunet")
    assert nb.cells[2].source == "%matplotlib inline\nimport json"
    assert f"]({_meta.REPOSITORY_URL.replace('https://github.com/', 'https://colab.research.google.com/github/')}" \
        f"/blob/{_meta.COLAB_BRANCH}/book/nnunet.ipynb)" in nb.cells[0].source
    assert f'"{_meta.install_spec("nnunet")}"' in nb.cells[3].source
    assert f"git clone {_meta.REPOSITORY_URL} &&" in nb.cells[4].source
    assert not sync.sync_chapter(nb, "nnunet")


def test_a_fork_changes_one_constant_and_runs_one_command(tmp_path, monkeypatch, capsys):
    fork = tmp_path / "fork"
    (fork / "book").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "book" / "intro.ipynb", fork / "book")
    for name in ("_config.yml", "pyproject.toml"):
        shutil.copy(REPO_ROOT / name, fork)
    monkeypatch.setattr(_meta, "REPOSITORY", "someone/amos-fork")
    monkeypatch.setattr(_meta, "REPOSITORY_URL", "https://github.com/someone/amos-fork")
    assert amos(["book", "sync", "--book", fork / "book"]) == 0
    assert "_config.yml" in capsys.readouterr().out
    assert "url: https://github.com/someone/amos-fork\n" in (fork / "_config.yml").read_text()
    assert 'Homepage = "https://github.com/someone/amos-fork"' in (fork / "pyproject.toml").read_text()
    text = (fork / "book" / "intro.ipynb").read_text()
    assert "amos-tutorial/amos-tutorial" not in text
    assert "git+https://github.com/someone/amos-fork@v" in text
    assert amos(["book", "sync", "--check", "--book", fork / "book"]) == 0


def test_a_broken_chapter_is_named(tmp_path):
    (tmp_path / "bad.ipynb").write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="bad.ipynb"):
        sync.sync_repository(tmp_path)
