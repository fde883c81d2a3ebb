"""``amos bench``: benchmarks of the AMOS baselines.

Introduced in chapter *Training the baselines*. Sub-commands live next to the code they drive
(each benchmark module has an ``add_cli(subparsers)``), as in ``amos data``:

* ``amos bench speed``: whole training loop vs raw step (:mod:`amos_tutorial.benchmark.speed`).

The ``bench`` parser itself is kept free for the full benchmark: options added to it with a
``set_defaults(func=...)`` run when no sub-command is given (``amos bench --models unet,nnunet
--budget 2h``). A sub-command's own options and handler take precedence over the group's, because
argparse copies a sub-parser's values over its parent's.
"""

from __future__ import annotations

import argparse

ORDER = 60

__all__ = ["add_bench_subcommands", "register"]


def add_bench_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Add every ``amos bench`` sub-command (one ``add_cli`` per benchmark module)."""
    from amos_tutorial.benchmark import speed

    speed.add_cli(subparsers)


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``bench`` command group to the ``amos`` parser."""
    parser = subparsers.add_parser(
        "bench",
        help="benchmark the baselines (speed check: `amos bench speed`)",
        description="Benchmarks of the AMOS baselines.",
    )
    # Without a sub-command (and until the full benchmark sets a func here) `amos bench` prints its help.
    parser.set_defaults(_parser=parser)
    sub = parser.add_subparsers(dest="bench_command", metavar="SUBCOMMAND")
    add_bench_subcommands(sub)
    return parser
