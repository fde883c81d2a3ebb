"""``amos data synth|download|validate|info``: get and check the AMOS data.

Each data module owns its sub-command through an ``add_cli(subparsers)`` function, so the options
live next to the code they drive.
"""

from __future__ import annotations

import argparse

ORDER = 10


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``data`` command group to the ``amos`` parser."""
    from amos_tutorial.data import download, layout, synthetic, validate

    parser = subparsers.add_parser(
        "data",
        help="get, generate and check AMOS data",
        description="Get, generate and check AMOS data (real release or synthetic mini-AMOS).",
    )
    parser.set_defaults(_parser=parser)
    sub = parser.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    for module in (synthetic, download, validate, layout):
        module.add_cli(sub)
