"""The ``amos`` command line: one entry point, one sub-command per pipeline step.

Each module in this package that defines ``register(subparsers)`` adds its own sub-command
(``data``, ``train``, ``predict``, ``evaluate``, ``submit``, ``bench``), so a new step is a new file.
Every parser lives in this package; options that several sub-commands take come from the ``add_*_arg``
helpers of :mod:`._args`, spelled and defaulted one way (``tests/test_cli.py`` checks every sub-command).
A sub-command's handler returns the process exit code.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from pathlib import Path

from amos_tutorial.utils.errors import error_line

__all__ = ["TRACEBACK_ENV", "build_parser", "error_line", "main"]


def build_parser() -> argparse.ArgumentParser:
    """Build the ``amos`` parser with every registered sub-command."""
    from amos_tutorial import __version__
    from amos_tutorial.cli._args import HelpFormatter

    parser = argparse.ArgumentParser(
        prog="amos",
        formatter_class=HelpFormatter,
        description=(
            "AMOS 2022 tutorial and benchmark suite: get and check the data, train, predict, "
            "evaluate and benchmark the AMOS baselines. Wherever a data folder is expected, "
            "'synthetic' means the built-in synthetic mini-AMOS set."
        ),
    )
    parser.add_argument("--version", action="version", version=f"amos_tutorial {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "register"):
            modules.append(module)
    for module in sorted(modules, key=lambda m: (getattr(m, "ORDER", 100), m.__name__)):
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return the exit code (used by the ``amos`` entry point).

    A retired spelling (``--quiet``, a positional data folder...) stops with the sub-command's usage and one
    line naming the new spelling (:mod:`._retired`), exit code 2.
    """
    from amos_tutorial.cli._retired import check_retired

    parser = build_parser()
    check_retired(parser, sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        # `amos` or `amos data` alone: print the relevant help.
        (getattr(args, "_parser", None) or parser).print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("amos: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        line = error_line(exc)
        if line is None or os.environ.get(TRACEBACK_ENV):
            raise  # a bug, not a user error: the traceback is what helps
        # Expected errors: one clear line naming the file and the fix, no traceback.
        print(f"amos: error: {line}", file=sys.stderr)
        return 2 if isinstance(exc, (FileNotFoundError, ValueError)) else 1


#: Set this environment variable to 1 to get Python's traceback instead of the one-line error.
TRACEBACK_ENV = "AMOS_TRACEBACK"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
