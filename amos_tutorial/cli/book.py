"""``amos book``: the student edition of the book, and the chapters' badges and install lines.

Introduced in chapter *Segmenting 15 abdominal organs: a hands-on AMOS 2022 book* (course kit). A thin wrapper around
:mod:`amos_tutorial.exercises.editions`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from amos_tutorial.cli._args import add_command

ORDER = 90


def _student_command(args: argparse.Namespace) -> int:
    from amos_tutorial.exercises.editions import write_student_edition

    chapters = [c for c in args.chapters.split(",") if c] if args.chapters else None
    written = write_student_edition(args.out, book=args.book, chapters=chapters)
    print(f"amos book student: {len(written)} chapter(s) without solutions in {args.out}")
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

    written = write_colab_edition(args.out, executed=args.executed, book=args.book)
    print(f"amos book colab: {len(written)} chapter(s) in plain Markdown in {args.out}")
    return 0


def _repository_root() -> Path:
    from amos_tutorial.exercises.editions import default_book_dir

    return default_book_dir().parent


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``amos book student`` and ``amos book sync``."""
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
            "Write the student edition: every chapter without the cells tagged 'solution'. Skeletons stay; "
            "their checkers report 'not implemented yet' until the student fills them in."
        ),
    )
    student.add_argument("out", type=Path, metavar="OUT", help="output folder")
    student.add_argument("--book", type=Path, default=None, help="the book/ folder (default: this checkout's)")
    student.add_argument("--chapters", default=None, help="comma-separated chapter names (default: all)")
    student.set_defaults(func=_student_command)
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
    colab.add_argument("--executed", type=Path, required=True, help="folder of the executed chapters")
    colab.add_argument("--book", type=Path, default=None, help="the book/ folder (default: this checkout's)")
    colab.set_defaults(func=_colab_command)
