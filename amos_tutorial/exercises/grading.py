"""Grade submitted notebooks with the exercise checkers: one CSV of scores per exercise, one line of feedback each.

Introduced in chapter *Segmenting 15 abdominal organs: a hands-on AMOS 2022 book* (course kit, instructor
notes). ``amos book grade SUBMISSIONS --out scores.csv`` runs every submitted notebook in its own Python
process (with a time limit): only the cells tagged ``exercise-skeleton`` (where the student writes) are
executed, then every check call of a cell tagged ``exercise-check``. An exercise scores 1 when its checker
passes, else 0; the checker's one-line verdict is the feedback (``feedback.csv`` beside the scores).
Solution cells, if a submission still has them, are never run.
"""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["grade_folder", "grade_notebook", "run_submission"]

CHECK_CALL = re.compile(r"^(check_\w+)\((my_\w+)\)\s*$")
#: Seconds one submission may run before it scores 0 everywhere.
TIME_LIMIT_S = 300


def _source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def run_submission(path: str | Path) -> dict[str, dict[str, Any]]:
    """Run one notebook's exercise cells in this process and return ``{exercise: {"score", "message"}}``.

    The exercise is the student's function without ``my_`` (``dice`` for ``check_dice(my_dice)``). A skeleton
    cell that raises gives every check of the notebook its one-line error.
    """
    import amos_tutorial.exercises as exercises

    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    namespace: dict[str, Any] = {"__name__": "__main__"}
    results: dict[str, dict[str, Any]] = {}
    broken = None
    for cell in nb.get("cells", []):
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.get("cell_type") != "code":
            continue
        if "exercise-skeleton" in tags and broken is None:
            try:
                exec(compile(_source(cell), f"{Path(path).name}:skeleton", "exec"), namespace)  # noqa: S102 - the submission
            except Exception as exc:  # noqa: BLE001 - a student's bug, reported as one line
                broken = f"✗ the exercise cell raised {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        elif "exercise-check" in tags:
            match = CHECK_CALL.match(_source(cell).strip())
            if not match:
                continue
            checker, function = match.groups()
            name = function.removeprefix("my_")
            if broken is not None or function not in namespace:
                message = broken or f"✗ {name}: {function} is not defined (write it in the exercise cell)"
                results[name] = {"score": 0.0, "message": message}
                continue
            result = getattr(exercises, checker)(namespace[function])
            results[name] = {"score": 1.0 if result.passed else 0.0, "message": str(result)}
    return results


def grade_notebook(path: str | Path, time_limit_s: float = TIME_LIMIT_S) -> dict[str, dict[str, Any]]:
    """:func:`run_submission` in a separate Python process, so a submission cannot touch the grader's state.

    Raises:
        FileNotFoundError: If ``path`` is not a file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no submitted notebook here")
    command = [sys.executable, "-m", "amos_tutorial.exercises.grading", str(path)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=time_limit_s, check=False)  # noqa: S603
    except subprocess.TimeoutExpired:
        return {"*": {"score": 0.0, "message": f"✗ the submission ran longer than {time_limit_s:.0f} s"}}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"*": {"score": 0.0, "message": f"✗ the submission could not be graded: {last}"}}
    return json.loads(lines[-1])


def grade_folder(submissions: str | Path, out: str | Path, time_limit_s: float = TIME_LIMIT_S) -> Path:
    """Grade every ``*.ipynb`` of a folder; write ``out`` (scores) and ``feedback.csv`` beside it.

    The scores CSV has one row per submission (the file name without ``.ipynb``), one column per exercise
    and a ``total``; the feedback CSV has one row per submission and exercise, with the checker's line.

    Returns:
        The path of the scores CSV.

    Raises:
        FileNotFoundError: If the folder holds no notebook.
    """
    from amos_tutorial.utils.io import atomic_write_text

    folder, out = Path(submissions), Path(out)
    paths = sorted(folder.glob("*.ipynb")) if folder.is_dir() else []
    if not paths:
        raise FileNotFoundError(f"{folder}: no submitted notebooks (*.ipynb) here")
    graded = {p.stem: grade_notebook(p, time_limit_s) for p in paths}
    exercises = sorted({name for result in graded.values() for name in result if name != "*"})
    scores, feedback = io.StringIO(), io.StringIO()
    score_rows, feedback_rows = csv.writer(scores, lineterminator="\n"), csv.writer(feedback, lineterminator="\n")
    score_rows.writerow(["submission", *exercises, "total"])
    feedback_rows.writerow(["submission", "exercise", "score", "feedback"])
    for name, result in graded.items():
        row = [result.get(ex, {"score": 0.0})["score"] for ex in exercises]
        score_rows.writerow([name, *row, sum(row)])
        for exercise, entry in result.items():
            feedback_rows.writerow([name, exercise, entry["score"], entry["message"]])
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, scores.getvalue())
    atomic_write_text(out.with_name("feedback.csv"), feedback.getvalue())
    return out


if __name__ == "__main__":
    print(json.dumps(run_submission(sys.argv[1]), ensure_ascii=False))
