"""amos_tutorial._meta: install lines and the chapters' setup cell, run as a reader would meet it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT

from amos_tutorial import _meta

CHAPTERS = sorted((REPO_ROOT / "book").glob("*.ipynb"))


def test_install_spec_with_several_extras_is_sorted_and_checked():
    assert _meta.install_spec(["resenc", "nnunet"]).startswith("amos_tutorial[nnunet,resenc] @ git+")
    with pytest.raises(ValueError, match="extra"):
        _meta.install_spec(["nnunet", "x y"])


def test_every_chapter_extra_is_an_extra_of_the_package():
    import tomllib

    extras = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    used = {e for chapter in _meta.CHAPTER_EXTRAS.values() for e in chapter}
    assert used <= set(_meta.EXTRA_MODULES)
    assert set(_meta.EXTRA_MODULES) <= set(extras)


def test_a_chapter_with_extras_tries_them_first_then_the_package_alone():
    assert _meta.chapter_requirements("nnunet") == [_meta.install_spec(("nnunet",)), _meta.install_spec()]
    assert _meta.chapter_requirements("intro") == [_meta.install_spec()]
    assert _meta.chapter_modules("nnunet")[:2] == ["amos_tutorial", "nnunetv2"]


@pytest.mark.parametrize("chapter", [p.stem for p in CHAPTERS])
def test_setup_cell_is_plain_python(chapter):
    # No IPython magic: it runs in any kernel, and in a subprocess for the tests below.
    compile(_meta.setup_cell_source(chapter), f"{chapter}-setup", "exec")


def _base_python() -> str:
    """An interpreter without this package: the one the project's venv was made from."""
    python = Path(sys.base_prefix) / "bin" / "python3"
    if not python.is_file():
        pytest.skip(f"no base interpreter at {python}")
    return str(python)


def _run_setup(tmp_path: Path, url: str) -> subprocess.CompletedProcess:
    source = _meta.setup_cell_source("intro").replace(f"git+{_meta.REPOSITORY_URL}", f"git+{url}")
    script = tmp_path / "setup_cell.py"
    script.write_text(source, encoding="utf-8")
    # -I: no user site and no PYTHONPATH, so the project's own checkout is not importable.
    return subprocess.run([_base_python(), "-I", str(script)], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://nonexistent.invalid/amos-tutorial/amos-tutorial", "offline: no network"),
        ("https://127.0.0.1:9/amos-tutorial/amos-tutorial", f"the repository or its tag {_meta.release_tag()} is not reachable"),
    ],
)
def test_setup_cell_whose_install_fails_says_why_in_one_line(tmp_path, url, why):
    run = _run_setup(tmp_path, url)
    assert run.returncode != 0
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("Setup failed: amos_tutorial could not be installed")
    assert why in lines[0]
    assert "pip install amos_tutorial-" in lines[0]
