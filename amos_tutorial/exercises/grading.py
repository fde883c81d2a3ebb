"""Grade a folder of submitted notebooks with otter-grader: one CSV of scores per exercise, one line of feedback each.

Introduced in chapter *Segmenting 15 abdominal organs: a hands-on AMOS 2022 book* (course kit, instructor
notes). ``amos book assign OUT`` writes one otter autograder per chapter (``OUT/autograder/<chapter>.zip``,
:mod:`amos_tutorial.exercises.autograder`); ``amos book grade SUBMISSIONS --autograder OUT/autograder``
grades every submitted notebook with the autograder of its chapter (the assignment name otter wrote into
the notebook), each in its own Python process with a time limit. Grading is otter's, without Docker
(``otter.api.grade_submission``, what ``otter run`` does): the notebook runs in a fresh Jupyter kernel,
with its exercise cells only (every other code cell is tagged ``otter_ignore``), then the hidden tests. An
exercise scores 1 when its checker passes, else 0; the checker's one-line verdict is the feedback
(``feedback.csv`` beside the scores).
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["assignment_name", "default_jobs", "grade_folder", "grade_notebook"]

#: Seconds one submission may run before it scores 0 everywhere.
TIME_LIMIT_S = 300


def assignment_name(path: str | Path) -> str | None:
    """The chapter a submitted notebook belongs to (otter's ``metadata.otter.assignment_name``), or None."""
    try:
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    name = nb.get("metadata", {}).get("otter", {}).get("assignment_name") if isinstance(nb, dict) else None
    return name if isinstance(name, str) else None


def _failed(message: str) -> dict[str, dict[str, Any]]:
    return {"*": {"score": 0.0, "message": f"✗ {message}"}}


def grade_notebook(path: str | Path, autograder: str | Path, time_limit_s: float = TIME_LIMIT_S) -> dict[str, dict[str, Any]]:
    """Grade one notebook with its chapter's otter autograder, in a separate Python process.

    Args:
        path: The submitted notebook.
        autograder: The folder of the autograders (``OUT/autograder`` of ``amos book assign``).
        time_limit_s: Seconds before the submission (and its kernel) is stopped and scores 0.

    Returns:
        ``{exercise: {"score", "message"}}``; a submission that cannot be graded gives ``{"*": ...}`` with
        the reason in one line.

    Raises:
        FileNotFoundError: If ``path`` is not a file.
    """
    path, autograder = Path(path), Path(autograder)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no submitted notebook here")
    name = assignment_name(path)
    if name is None:
        return _failed(f"{path.name} is not a notebook of the student edition (no otter assignment name in its metadata)")
    zip_path = autograder / f"{name}.zip"
    if not zip_path.is_file():
        return _failed(f"{path.name} belongs to chapter {name!r}, which has no autograder in {autograder}")
    command = [sys.executable, "-m", "amos_tutorial.exercises.grading", str(path), str(zip_path)]
    process = subprocess.Popen(  # noqa: S603 - fixed interpreter and module, paths as arguments
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, stderr = process.communicate(timeout=time_limit_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the grader and the submission's kernel
        process.communicate()
        return _failed(f"the submission ran longer than {time_limit_s:.0f} s")
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if process.returncode != 0 or not lines:
        last = (stderr.strip().splitlines() or ["no output"])[-1]
        return _failed(f"the submission could not be graded: {last}")
    return json.loads(lines[-1])


def default_jobs() -> int:
    """Submissions graded at once: half the CPU cores (each runs a Jupyter kernel), 1 to 4."""
    return max(1, min(4, (os.cpu_count() or 2) // 2))


def grade_folder(
    submissions: str | Path,
    out: str | Path,
    autograder: str | Path,
    time_limit_s: float = TIME_LIMIT_S,
    jobs: int | None = None,
) -> Path:
    """Grade every ``*.ipynb`` of a folder; write ``out`` (scores) and ``feedback.csv`` beside it.

    The scores CSV has one row per submission (the file name without ``.ipynb``), one column per exercise
    and a ``total``; the feedback CSV has one row per submission and exercise, with the checker's line.

    Args:
        submissions: Folder of submitted notebooks (one chapter each).
        out: The scores CSV.
        autograder: The folder of the chapters' otter autograders (``OUT/autograder`` of ``amos book assign``).
        time_limit_s: Seconds one submission may run.
        jobs: Submissions graded at once (default :func:`default_jobs`).

    Returns:
        The path of the scores CSV.

    Raises:
        FileNotFoundError: If the folder holds no notebook, or the autograder folder does not exist.
        ValueError: If ``jobs`` is below 1.
    """
    from concurrent.futures import ThreadPoolExecutor

    from amos_tutorial.exercises.autograder import require_otter
    from amos_tutorial.utils.io import atomic_write_text

    require_otter()
    jobs = default_jobs() if jobs is None else jobs
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    folder, out, autograder = Path(submissions), Path(out), Path(autograder)
    paths = sorted(folder.glob("*.ipynb")) if folder.is_dir() else []
    if not paths:
        raise FileNotFoundError(f"{folder}: no submitted notebooks (*.ipynb) here")
    if not autograder.is_dir() or not any(autograder.glob("*.zip")):
        raise FileNotFoundError(f"{autograder}: no autograders (*.zip) here; write them with amos book assign OUT")
    with ThreadPoolExecutor(max_workers=jobs) as pool:  # each submission is a process of its own
        results = list(pool.map(lambda p: grade_notebook(p, autograder, time_limit_s), paths))
    graded = {p.stem: result for p, result in zip(paths, results)}
    exercises = sorted({name for result in graded.values() for name in result if name != "*"})
    scores, feedback = io.StringIO(), io.StringIO()
    score_rows, feedback_rows = csv.writer(scores, lineterminator="\n"), csv.writer(feedback, lineterminator="\n")
    score_rows.writerow(["submission", *exercises, "total"])
    feedback_rows.writerow(["submission", "exercise", "score", "feedback"])
    for name, result in graded.items():
        row = [result.get(ex, {"score": ""})["score"] for ex in exercises]
        score_rows.writerow([name, *row, sum(s for s in row if s != "")])
        for exercise, entry in result.items():
            feedback_rows.writerow([name, exercise, entry["score"], entry["message"]])
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, scores.getvalue())
    atomic_write_text(out.with_name("feedback.csv"), feedback.getvalue())
    return out


if __name__ == "__main__":
    from amos_tutorial.exercises.autograder import grade_submission

    print(json.dumps(grade_submission(sys.argv[1], sys.argv[2]), ensure_ascii=False))
