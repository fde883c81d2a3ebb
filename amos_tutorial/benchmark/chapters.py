"""How long each chapter of the book takes to execute in smoke mode: the book's time budget.

Introduced in chapter *Segmenting 15 abdominal organs: a hands-on AMOS 2022 book* (the chapter map and its runtimes). The book is executed on every
build and in CI on a 2-core machine, so every chapter has a budget (:data:`CHAPTER_BUDGET_S`) and so has
the whole book (:data:`BOOK_BUDGET_S`). ``amos bench chapters`` executes each chapter once in a fresh
kernel, exactly as the book build does (smoke mode, static viewer, the chapter's folder as working
directory), and prints its wall time against the budget, so a chapter that grows past its budget is
seen before CI slows down. It is a measurement, not a test: nothing fails on time.

Examples:
    >>> frame = time_chapters(["book/intro.ipynb"])          # doctest: +SKIP
    >>> print(format_chapter_times(frame))                    # doctest: +SKIP
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import pandas as pd

__all__ = [
    "BOOK_BUDGET_S",
    "CHAPTER_BUDGET_S",
    "CHAPTER_TIME_COLUMNS",
    "COLD_TIMES_CSV",
    "cold_time",
    "SMOKE_ENV",
    "execute_chapter",
    "format_chapter_times",
    "time_chapters",
    "toc_chapters",
]

#: Seconds one chapter may take in smoke mode on 2 CPU cores.
CHAPTER_BUDGET_S = 180.0
#: Seconds the whole book may take in smoke mode on 2 CPU cores: the 10 minutes the introduction promises. It was
#: 480 s for nine chapters (436 s measured); *How AMOS 2022 was won* trains five short runs of its own (about 2 min).
BOOK_BUDGET_S = 600.0
#: The environment every chapter is executed with, in the book build, the tests and this benchmark.
SMOKE_ENV: dict[str, str] = {"AMOS_SMOKE": "1", "AMOS_VIEWER": "static", "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
CHAPTER_TIME_COLUMNS = ("chapter", "seconds", "budget_s", "over_budget", "status", "error", "cache", "date", "machine")
#: Each chapter's time from an empty cache (``amos bench chapters --cold --out``), shown in its runtime box.
COLD_TIMES_CSV = Path(__file__).with_name("chapter_times_cold.csv")


def toc_chapters(root: str | os.PathLike = ".") -> list[Path]:
    """Every page of the book's ``_toc.yml`` (root first) as a file path (``.ipynb``, or ``.md`` for text pages).

    Args:
        root: The folder holding ``_toc.yml``.

    Returns:
        Paths ``root/<file>.ipynb`` (or ``.md`` where only that exists) in table-of-contents order.

    Raises:
        FileNotFoundError: If ``root/_toc.yml`` does not exist.
    """
    import yaml

    toc_path = Path(root) / "_toc.yml"
    if not toc_path.is_file():
        raise FileNotFoundError(f"{toc_path}: no table of contents (is {root} the book's root folder?)")
    toc = yaml.safe_load(toc_path.read_text(encoding="utf-8")) or {}
    files: list[str] = [toc["root"]] if toc.get("root") else []

    def walk(entries: Iterable[Mapping] | None) -> None:
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    for part in toc.get("parts", []) or []:
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    paths = []
    for name in files:
        base = Path(root) / name
        found = [base.with_name(base.name + s) for s in (".ipynb", ".md") if base.with_name(base.name + s).is_file()]
        paths.append(found[0] if found else base.with_name(base.name + ".ipynb"))
    return paths


def execute_chapter(
    path: str | os.PathLike,
    env: Mapping[str, str] | None = None,
    cell_timeout: float | None = None,
):
    """Execute one chapter in a fresh kernel, in its own folder, and return the executed notebook.

    Args:
        path: The chapter's ``.ipynb``.
        env: Extra environment variables for the kernel (default :data:`SMOKE_ENV`).
        cell_timeout: Seconds one cell may run (default: no limit).

    Returns:
        ``(notebook, seconds)``: the executed ``nbformat`` notebook and the wall time.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        nbclient.exceptions.CellExecutionError: If a cell fails.
    """
    import nbformat
    from nbclient import NotebookClient

    from amos_tutorial.utils.kernels import kernel_manager

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: chapter notebook not found")
    notebook = nbformat.read(path, as_version=4)
    kernel_env = {**os.environ, **(SMOKE_ENV if env is None else env)}
    kernel_env.pop("MPLBACKEND", None)  # chapters draw inline, as in the book
    client = NotebookClient(
        notebook,
        km=kernel_manager(notebook.metadata.get("kernelspec", {}).get("name", "python3")),
        timeout=cell_timeout,
        resources={"metadata": {"path": str(path.parent.resolve())}},
    )
    start = time.perf_counter()
    client.execute(env=kernel_env, cleanup_kc=True)  # the client did not create the kernel manager: shut down here
    return notebook, time.perf_counter() - start


def time_chapters(
    chapters: Iterable[str | os.PathLike],
    budget_s: float = CHAPTER_BUDGET_S,
    cell_timeout: float | None = None,
    out_csv: str | os.PathLike | None = None,
    log: Callable[[str], None] | None = print,
    cold: bool = False,
) -> pd.DataFrame:
    """Execute every chapter once (smoke mode) and measure its wall time; a failing chapter is recorded.

    Args:
        chapters: Notebook paths (for example :func:`toc_chapters`).
        budget_s: Seconds each chapter may take (default :data:`CHAPTER_BUDGET_S`).
        cell_timeout: Seconds one cell may run (default: no limit).
        out_csv: Optional CSV to write (atomically) with the table.
        log: Called with one line per chapter as it finishes (None: quiet).
        cold: Give each chapter an empty cache of its own (``AMOS_CACHE_DIR``), as a reader who opens that
            chapter alone on a fresh machine (Colab) has: nothing generated, preprocessed or trained is shared.

    Returns:
        A DataFrame with :data:`CHAPTER_TIME_COLUMNS`.

    Raises:
        ValueError: If ``budget_s`` is not positive.
    """
    if budget_s <= 0:
        raise ValueError(f"budget_s must be positive, got {budget_s}")
    import platform

    rows = []
    machine = f"{os.cpu_count()} CPU cores ({platform.machine()}), no GPU used"
    for chapter in chapters:
        name = Path(chapter).stem
        start = time.perf_counter()
        fresh = tempfile.TemporaryDirectory(prefix=f"amos_cold_{name}_") if cold else None
        env = {**SMOKE_ENV, "AMOS_CACHE_DIR": fresh.name} if fresh is not None else None
        try:
            _, seconds = execute_chapter(chapter, env=env, cell_timeout=cell_timeout)
            status, error = "ok", ""
        except Exception as exc:  # one failing chapter must not hide the others' times
            seconds = time.perf_counter() - start
            lines = str(exc).strip().splitlines()
            status, error = "failed", f"{type(exc).__name__}: {lines[-1][:200] if lines else ''}"
        finally:
            if fresh is not None:
                fresh.cleanup()
        rows.append(
            {
                "chapter": name,
                "seconds": round(seconds, 1),
                "budget_s": budget_s,
                "over_budget": seconds > budget_s,
                "status": status,
                "error": error,
                "cache": "cold" if cold else "shared",
                "date": time.strftime("%Y-%m-%d"),
                "machine": machine,
            }
        )
        if log:
            flag = "  OVER BUDGET" if seconds > budget_s else ""
            log(f"{name:<24} {seconds:7.1f} s  {status}{flag}{'  ' + error if error else ''}")
    frame = pd.DataFrame(rows, columns=list(CHAPTER_TIME_COLUMNS))
    if out_csv is not None:
        from amos_tutorial.utils.io import atomic_path

        with atomic_path(out_csv) as tmp:
            frame.to_csv(tmp, index=False)
    return frame


def format_chapter_times(
    frame: pd.DataFrame, chapter_budget_s: float = CHAPTER_BUDGET_S, book_budget_s: float = BOOK_BUDGET_S
) -> str:
    """The chapter times as a text table with the book total, each measured against its budget.

    Args:
        frame: ``chapter`` and ``seconds`` columns (as :func:`time_chapters` returns).
        chapter_budget_s: Seconds one chapter may take.
        book_budget_s: Seconds the whole book may take.

    Returns:
        Lines ``chapter  seconds  [OVER BUDGET]`` and a total line.
    """
    lines = [f"{'chapter':<24} {'seconds':>8}   (budget {chapter_budget_s:.0f} s per chapter)"]
    for row in frame.itertuples():
        flag = "  OVER BUDGET" if row.seconds > chapter_budget_s else ""
        lines.append(f"{row.chapter:<24} {row.seconds:8.1f}{flag}")
    total = float(frame["seconds"].sum()) if len(frame) else 0.0
    flag = "  OVER BUDGET" if total > book_budget_s else ""
    lines.append(f"{'whole book':<24} {total:8.1f}   (budget {book_budget_s:.0f} s){flag}")
    return "\n".join(lines)


def cold_time(chapter: str, table: str | os.PathLike | None = None) -> dict[str, str] | None:
    """A chapter's measured time from an empty cache (:data:`COLD_TIMES_CSV`), or None if not measured.

    Returns:
        ``{"seconds": ..., "date": ..., "machine": ...}`` as written by ``amos bench chapters --cold --out``.
    """
    path = Path(table) if table is not None else COLD_TIMES_CSV
    if not path.is_file():
        return None
    frame = pd.read_csv(path)
    rows = frame[(frame["chapter"] == chapter) & (frame["status"] == "ok") & (frame["cache"] == "cold")]
    if not len(rows):
        return None
    row = rows.iloc[-1]
    return {"seconds": float(row["seconds"]), "date": str(row["date"]), "machine": str(row["machine"])}

