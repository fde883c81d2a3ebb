"""``amos book``: the student edition, grading, slides, and the chapters' badges and install lines.

Introduced in chapter *Segmenting 15 abdominal organs: a hands-on AMOS 2022 book* (course kit). A thin wrapper around
:mod:`amos_tutorial.exercises.editions`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from amos_tutorial.cli._args import add_command, add_executed_arg, add_out_arg, add_overwrite_arg

ORDER = 90


def _student_command(args: argparse.Namespace) -> int:
    from amos_tutorial.exercises.editions import write_student_edition

    chapters = [c for c in args.chapters.split(",") if c] if args.chapters else None
    written = write_student_edition(args.out, book=args.book, chapters=chapters, overwrite=args.overwrite,
                                    executed=args.executed)
    print(f"amos book student: {len(written)} chapter(s) without solutions in {args.out}")
    if args.executed is None:
        print("  numbers glued from the chapters' outputs stay empty in its HTML: pass --executed _build/executed")
    return 0


def _slides_command(args: argparse.Namespace) -> int:
    from amos_tutorial.exercises.slides import write_slides

    chapters = [c for c in args.chapters.split(",") if c] if args.chapters else None
    written = write_slides(args.out, book=args.book, chapters=chapters)
    print(f"amos book slides: {len(written)} slide deck(s) in {args.out}")
    return 0


def _sync_command(args: argparse.Namespace) -> int:
    from amos_tutorial.publish.sync import sync_repository

    root = Path(args.book).parent if args.book and Path(args.book).name == "book" else args.book
    stale = sync_repository(root or _repository_root(), check=args.check)
    verb = "out of date" if args.check else "rewritten"
    print(f"amos book sync: {len(stale)} file(s) {verb}{': ' + ', '.join(stale) if stale else ''}")
    return 1 if args.check and stale else 0


def _colab_command(args: argparse.Namespace) -> int:
    from amos_tutorial.publish.colab import write_colab_edition

    written = write_colab_edition(args.out, executed=args.executed, book=args.book, branch=args.branch)
    print(f"amos book colab: {len(written)} chapter(s) in plain Markdown in {args.out}")
    return 0


def _repository_root() -> Path:
    from amos_tutorial.exercises.editions import default_book_dir

    return default_book_dir().parent


def _assign_command(args: argparse.Namespace) -> int:
    from amos_tutorial.exercises.autograder import write_assignment

    chapters = [c for c in args.chapters.split(",") if c] if args.chapters else None
    grader = write_assignment(args.out, book=args.book, chapters=chapters, overwrite=args.overwrite)
    print(f"amos book assign: student edition in {args.out / 'student'}, otter autograders in {grader}")
    print(f"  grade with: amos book grade SUBMISSIONS_FOLDER --autograder {grader} --out {args.out / 'scores.csv'}")
    return 0


def _grade_command(args: argparse.Namespace) -> int:
    from amos_tutorial.exercises.grading import grade_folder

    out = grade_folder(args.submissions, args.out, autograder=args.autograder)
    print(f"amos book grade: scores in {out}, one-line feedback in {out.with_name('feedback.csv')}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``amos book student``, ``assign``, ``grade``, ``slides`` and ``sync``."""
    parser = add_command(
        subparsers,
        "book",
        help="student edition of the book; badges and install lines",
        description="Work on the book's chapters: write the student edition, or re-sync badges and install lines.",
    )
    parser.set_defaults(_parser=parser)
    sub = parser.add_subparsers(dest="book_command", metavar="ACTION")
    student = add_command(
        sub,
        "student",
        help="write the chapters without their solution cells",
        description=(
            "Write the student edition, a book of its own (OUT/_config.yml, OUT/_toc.yml, OUT/book/): every chapter "
            "without the cells tagged 'solution' or 'instructor-only', its Colab badges on the student branch of "
            "amos_tutorial._meta. Skeletons stay; their checkers report 'not implemented yet' until the student "
            "fills them in. Chapters a student changed in OUT are kept unless --overwrite."
        ),
    )
    student.add_argument("out", type=Path, metavar="OUT", help="output folder")
    student.add_argument("--book", type=Path, default=None, help="the book/ folder (default: this checkout's)")
    student.add_argument("--chapters", default=None, help="comma-separated chapter names (default: all)")
    add_executed_arg(
        student, required=False,
        help="the book's executed chapters (scripts/build_book.sh: _build/executed): their glued numbers "
        "fill the prose, which the edition, not executed, would leave empty",
    )
    add_overwrite_arg(student, help="replace chapters already in OUT (a student's edits are lost)")
    student.set_defaults(func=_student_command)
    assign = add_command(
        sub,
        "assign",
        help="write the student edition and the otter-grader autograders of a course",
        description=(
            "Run otter assign on every chapter with build-it exercises (needs otter-grader: pip install "
            "'amos_tutorial[grading]'): write OUT/student (the student edition, a book of its own, whose "
            "exercise cells come from otter) and OUT/autograder (one otter autograder zip per chapter, with "
            "hidden tests that call the book's checkers, and the command that grades a folder of submissions)."
        ),
    )
    assign.add_argument("out", type=Path, metavar="OUT", help="output folder")
    assign.add_argument("--book", type=Path, default=None, help="the book/ folder (default: this checkout's)")
    assign.add_argument("--chapters", default=None, help="comma-separated chapter names (default: all)")
    add_overwrite_arg(assign, help="replace chapters already in OUT (a student's edits are lost)")
    assign.set_defaults(func=_assign_command)
    grade = add_command(
        sub,
        "grade",
        help="grade a folder of submitted notebooks: one CSV of scores per exercise",
        description=(
            "Grade every submitted notebook with otter-grader and its chapter's autograder, without Docker "
            "(otter run: each notebook in its own process and Jupyter kernel, its exercise cells only, then the "
            "hidden tests); write the scores (one row per submission, one column per exercise) and feedback.csv "
            "(the checkers' one-line verdicts) beside them."
        ),
    )
    grade.add_argument("submissions", type=Path, metavar="SUBMISSIONS", help="folder of submitted .ipynb files")
    grade.add_argument(
        "--autograder", type=Path, required=True,
        help="folder of the chapters' otter autograders (OUT/autograder of amos book assign)",
    )
    add_out_arg(grade, help="the scores CSV (feedback.csv is written beside it)", type=Path, default=Path("scores.csv"))
    grade.set_defaults(func=_grade_command)
    slides = add_command(
        sub,
        "slides",
        help="write reveal.js slides of every chapter (jupyter nbconvert --to slides)",
        description=(
            "Write OUT/<chapter>.slides.html for each chapter: the student edition without outputs, one slide "
            "per # or ## heading, one sub-slide per ### heading."
        ),
    )
    slides.add_argument("out", type=Path, metavar="OUT", help="output folder")
    slides.add_argument("--book", type=Path, default=None, help="the book/ folder (default: this checkout's)")
    slides.add_argument("--chapters", default=None, help="comma-separated chapter names (default: all)")
    slides.set_defaults(func=_slides_command)
    sync = add_command(
        sub,
        "sync",
        help="rewrite badges, setup cells, install lines and the repository URL from amos_tutorial._meta",
        description=(
            "Rewrite every chapter's Colab badge, setup cell, install and clone lines, and the repository URL in "
            "_config.yml and pyproject.toml, from amos_tutorial._meta (a fork changes REPOSITORY there, then runs this)."
        ),
    )
    sync.add_argument("--book", type=Path, default=None, help="the book/ folder (default: this checkout's)")
    sync.add_argument("--check", action="store_true", help="only report chapters that are out of date (exit 1)")
    sync.set_defaults(func=_sync_command)
    colab = add_command(
        sub,
        "colab",
        help="write the Colab edition: the chapters in plain Markdown, with the executed book's values",
        description=(
            "Write the Colab edition that the badges open: every chapter with its MyST (admonitions, exercises, "
            "citations, cross-references, glued values) turned into plain Markdown. Glued values come from the "
            "executed chapters in --executed (scripts/build_book.sh keeps them in _build/executed)."
        ),
    )
    colab.add_argument("out", type=Path, metavar="OUT", help="output folder (the chapters land in OUT/book)")
    add_executed_arg(colab, required=True, help="folder of the executed chapters (scripts/build_book.sh: _build/executed)")
    colab.add_argument("--book", type=Path, default=None, help="the book/ folder (default: this checkout's)")
    colab.add_argument(
        "--branch", default=None,
        help="branch the edition is published on, for links between chapters (default: _meta.COLAB_BRANCH; "
        "the student edition: _meta.STUDENT_BRANCH)",
    )
    colab.set_defaults(func=_colab_command)
