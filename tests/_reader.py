"""The reader's path, as the tests take it: a fresh environment that holds only torch, as Colab has.

A reader opens a chapter on Colab (or in a fresh virtual environment) and runs it top to bottom: the chapter's
own setup cell installs the package and its extras from the repository at the release tag, then every cell
runs. The tests do exactly that, except that the repository URL points at a snapshot of this checkout (a git
repository made from its files, with the release tag), and the environment is a new venv with torch and
ipykernel only. Nothing of the maintainers' environment (`scripts/setup_env.sh`, the editable install, myst-nb)
is visible to the chapter.

`blocked` makes pip refuse some distributions (a constraints file that no version satisfies), as when an
optional package cannot be installed: the chapter must then finish with notes instead of tracebacks.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from amos_tutorial import _meta

KERNEL_NAME = "amos-reader"


@dataclass(frozen=True)
class Reader:
    """A reader's environment: its interpreter, its kernel spec folder and the repository URL it installs from."""

    root: Path
    python: Path
    kernels: Path
    url: str
    constraints: Path | None = None


def _run(cmd: list[str], cwd: Path | None = None, env: dict | None = None) -> None:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-4000:]}")


def snapshot_repository(source: Path, dest: Path) -> str:
    """A git repository at ``dest`` holding this checkout's files (tracked and new), tagged with the release tag.

    Returns:
        The ``git+file://`` URL that replaces the public repository's in the setup cells.
    """
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=source, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        if (source / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / rel, dest / rel)
    git = ["git", "-c", "user.name=amos-tests", "-c", "user.email=tests@localhost", "-c", "init.defaultBranch=main"]
    _run([*git, "init", "-q"], cwd=dest)
    _run([*git, "add", "-A"], cwd=dest)
    _run([*git, "commit", "-qm", "snapshot of the checkout under test"], cwd=dest)
    _run([*git, "tag", _meta.release_tag()], cwd=dest)
    return f"git+{dest.resolve().as_uri()}"


def make_reader(root: Path, source: Path, blocked: tuple[str, ...] = ()) -> Reader:
    """A fresh venv with only torch (the version of the running tests') and ipykernel, and its kernel spec."""
    import torch

    root.mkdir(parents=True, exist_ok=True)
    url = snapshot_repository(source, root / "repository")
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    python = venv / "bin" / "python"
    # A venv's bundled pip (23.x) rejects `name @ git+file:///path@tag`; Colab's pip is recent.
    _run([str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"])
    torch_spec = os.environ.get("AMOS_READER_TORCH", f"torch=={torch.__version__}")
    _run([str(python), "-m", "pip", "install", "-q", torch_spec, "ipykernel"])
    kernels = root / "kernels"
    spec = kernels / KERNEL_NAME
    spec.mkdir(parents=True, exist_ok=True)
    # The metadata of the spec that the installed ipykernel ships (it says whether the kernel accepts
    # CurveZMQ keys, so that the client encrypts the channel only when the kernel can).
    shipped = venv / "share" / "jupyter" / "kernels" / "python3" / "kernel.json"
    metadata = json.loads(shipped.read_text(encoding="utf-8")).get("metadata", {}) if shipped.is_file() else {}
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "reader (fresh venv, torch only)",
        "language": "python",
        "metadata": metadata,
    }), encoding="utf-8")
    constraints = None
    if blocked:
        constraints = root / "blocked.txt"
        constraints.write_text("".join(f"{name}<0\n" for name in blocked), encoding="utf-8")
    return Reader(root, python, kernels, url, constraints)


def reader_env(reader: Reader, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The kernel's environment: the test's, without the maintainers' venv and path, plus the smoke settings."""
    from amos_tutorial.benchmark.chapters import SMOKE_ENV

    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV", "MPLBACKEND", "PYTHONHOME"}}
    path = [p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(sys.prefix)]
    env["PATH"] = os.pathsep.join([str(reader.python.parent), *path])
    if reader.constraints is not None:
        env["PIP_CONSTRAINT"] = str(reader.constraints)
    return {**env, **SMOKE_ENV, **(extra or {})}


def reader_notebook(path: Path, reader: Reader):
    """The chapter as a reader opens it, with the repository URL pointed at the snapshot."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    public = f"git+{_meta.REPOSITORY_URL}"
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.startswith(_meta.SETUP_MARKER):
            cell.source = cell.source.replace(public, reader.url)
    return nb


def execute_as_reader(path: Path, reader: Reader, workdir: Path, install_lock: str, timeout_s: int,
                      env: dict[str, str] | None = None):
    """Execute a chapter in the reader's kernel, in an empty folder (as on Colab), cell by cell.

    The setup cell runs under ``install_lock``: chapters executed at the same time by other test workers share
    the environment, and two pip runs into one environment would corrupt it.

    Returns:
        ``(notebook, seconds of the setup cell, error or None)``.
    """
    from filelock import FileLock
    from jupyter_client.kernelspec import KernelSpecManager
    from nbclient import NotebookClient

    from amos_tutorial.utils.kernels import kernel_manager

    nb = reader_notebook(path, reader)
    workdir.mkdir(parents=True, exist_ok=True)
    km = kernel_manager(KERNEL_NAME, kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(reader.kernels)]))
    client = NotebookClient(nb, km=km, timeout=timeout_s, resources={"metadata": {"path": str(workdir)}})
    setup_s, error = 0.0, None
    with client.setup_kernel(env=reader_env(reader, env), cleanup_kc=True):  # our km: shut its kernel down too
        for index, cell in enumerate(nb.cells):
            try:
                if cell.cell_type == "code" and cell.source.startswith(_meta.SETUP_MARKER):
                    with FileLock(install_lock):
                        start = time.perf_counter()
                        client.execute_cell(cell, index)
                        setup_s = time.perf_counter() - start
                else:
                    client.execute_cell(cell, index)
            except Exception as exc:  # CellExecutionError and kernel deaths alike: record, stop the chapter
                error = f"cell {index}: {type(exc).__name__}: {exc}"
                break
    for cell in nb.cells:  # the executed copy feeds the book build: it shows the public install line
        if cell.cell_type == "code" and cell.source.startswith(_meta.SETUP_MARKER):
            cell.source = cell.source.replace(reader.url, f"git+{_meta.REPOSITORY_URL}")
    return nb, setup_s, error
