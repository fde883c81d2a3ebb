"""scripts/release.sh in a clone of this repository: the tag, the wheel and sdist, and the Colab edition branch."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from conftest import CHAPTERS_GROUP, REPO_ROOT, executed_chapter, session_shared_dir, toc_notebooks

from amos_tutorial import _meta
from amos_tutorial.publish.colab import leftover_myst


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


@pytest.mark.slow
@pytest.mark.notebook
@pytest.mark.xdist_group(CHAPTERS_GROUP)
def test_release_script_makes_tag_wheel_and_colab_branch(tmp_path, tmp_path_factory):
    shared = session_shared_dir(tmp_path_factory)
    for page in toc_notebooks():
        executed_chapter(REPO_ROOT / f"{page}.ipynb", shared)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO_ROOT), str(clone)], check=True)
    identity = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@localhost", "GIT_COMMITTER_NAME": "t",
                "GIT_COMMITTER_EMAIL": "t@localhost"}
    env = {**os.environ, **identity, "VIRTUAL_ENV": sys.prefix, "AMOS_RELEASE_EXECUTED": str(shared / "executed" / "book"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    run = subprocess.run(["bash", "scripts/release.sh"], cwd=clone, env=env, capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    tag = _meta.release_tag()
    assert tag in _git("tag", cwd=clone).split()
    wheel = next((clone / "dist").glob("amos_tutorial-*.whl"))
    assert any((clone / "dist").glob("amos_tutorial-*.tar.gz"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "amos_tutorial/publish/colab.py" in names
    files = _git("ls-tree", "-r", "--name-only", _meta.COLAB_BRANCH, cwd=clone).split()
    assert sorted(f for f in files if f.endswith(".ipynb")) == sorted(f"{p}.ipynb" for p in toc_notebooks())
    intro = nbformat.reads(_git("show", f"{_meta.COLAB_BRANCH}:book/intro.ipynb", cwd=clone), as_version=4)
    assert not [c for c in intro.cells if c.cell_type == "markdown" and leftover_myst(c.source)]
    student = _git("ls-tree", "-r", "--name-only", _meta.STUDENT_BRANCH, cwd=clone).split()
    assert "book/intro.ipynb" in student
    # A second release of the same version is refused in one line.
    again = subprocess.run(["bash", "scripts/release.sh"], cwd=clone, env=env, capture_output=True, text=True)
    assert again.returncode == 1
    assert f"tag {tag} exists" in again.stderr
