"""Retired spellings of ``amos`` options and arguments, each answered by one line naming the new one.

A leading underscore: this module is not a sub-command. Old documentation and scripts still type
``--quiet``, ``--which``, a positional data folder or a triplet in three words (``--spacing 0.7 0.7 5``, now
``--spacing 0.7,0.7,5``); argparse alone would print the top-level usage and
"unrecognized arguments". :func:`check_retired` runs before parsing and stops with the sub-command's own usage
and, e.g., ``--quiet was renamed --no-progress`` (exit code 2). ``tests/test_cli.py`` checks that no
sub-command spells a retired option again.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from amos_tutorial.cli._args import TRIPLET_OPTIONS

__all__ = ["RETIRED_ARGUMENTS", "RETIRED_COMMAND_OPTIONS", "RETIRED_OPTIONS", "check_retired", "retired_message"]

#: Options retired in every sub-command: old spelling -> what to type instead.
RETIRED_OPTIONS: dict[str, str] = {
    "--quiet": "--no-progress",
    "-q": "--no-progress",
    "--root": "--data",
    "--data-dir": "--data",
    "--dataset": "--data",
    "--cpu": "--device cpu",
    "--gpu": "--device cuda",
    "--cuda": "--device cuda",
    "--output": "--out",
    "--output-dir": "--out",
    "--out-dir": "--out",
    "--which": "--checkpoint",
    "--num-workers": "--workers",
    "--processes": "--workers",
    "--fp16": "--amp fp16",
    "--bf16": "--amp bf16",
}

#: Options retired in one sub-command only (the spelling means something else elsewhere).
RETIRED_COMMAND_OPTIONS: dict[tuple[str, ...], dict[str, str]] = {
    ("nnunet", "commands"): {"--preset": "--planner"},
    ("bench", "chapters"): {"--budget": "--seconds"},
    ("predict",): {"--path": "--engine"},
}

#: Sub-commands that once took positional arguments and now take none: what the positionals became.
RETIRED_ARGUMENTS: dict[tuple[str, ...], str] = {
    ("data", "validate"): "--data ROOT",
    ("data", "info"): "--data ROOT",
    ("train",): "--model NAME and --data ROOT",
}


def _command_path(
    parser: argparse.ArgumentParser, argv: Sequence[str]
) -> tuple[tuple[str, ...], argparse.ArgumentParser, list[str]]:
    """The sub-command named by ``argv`` (``("data", "validate")``), its parser and the arguments after it."""
    path: list[str] = []
    rest = list(argv)
    while True:
        action = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        if action is None:
            break
        index = next((i for i, tok in enumerate(rest) if tok in action.choices), None)
        if index is None or any(not tok.startswith("-") for tok in rest[:index]):
            break
        path.append(rest[index])
        parser = action.choices[rest[index]]
        rest = rest[index + 1 :]
    return tuple(path), parser, rest


def _known(parser: argparse.ArgumentParser, option: str) -> bool:
    """Whether argparse takes ``option`` in this parser (the exact spelling or an unambiguous abbreviation)."""
    names = parser._option_string_actions
    return option in names or (parser.allow_abbrev and any(n.startswith(option) for n in names if n.startswith("--")))


def _stray_positionals(parser: argparse.ArgumentParser, rest: Sequence[str]) -> list[str]:
    """Tokens of ``rest`` that are no option and no option's value (for a parser without positionals)."""
    stray, i = [], 0
    while i < len(rest):
        token = rest[i]
        i += 1
        if token == "--":
            stray.extend(rest[i:])
            break
        if not token.startswith("-") or token == "-":
            stray.append(token)
            continue
        action = parser._option_string_actions.get(token.split("=", 1)[0])
        if action is None or "=" in token or action.nargs == 0:
            continue
        if isinstance(action.nargs, int):
            i += action.nargs
        elif action.nargs in (argparse.ZERO_OR_MORE, argparse.ONE_OR_MORE):
            while i < len(rest) and not rest[i].startswith("-"):
                i += 1
        elif action.nargs == argparse.OPTIONAL:
            i += 1 if i < len(rest) and not rest[i].startswith("-") else 0
        else:
            i += 1
    return stray


def _numbers(tokens: Sequence[str]) -> int:
    """How many of ``tokens``, from the first, read as numbers (the old three-word spelling of a triplet)."""
    count = 0
    for token in tokens:
        try:
            float(token)
        except ValueError:
            break
        count += 1
    return count


def retired_message(parser: argparse.ArgumentParser, argv: Sequence[str]) -> tuple[argparse.ArgumentParser, str] | None:
    """``(sub-command parser, one line)`` for the first retired spelling in ``argv``, or None.

    Args:
        parser: The ``amos`` parser (:func:`amos_tutorial.cli.build_parser`).
        argv: The command line without the program name.

    Returns:
        The parser of the sub-command ``argv`` names and the message, e.g. ``"--quiet was renamed
        --no-progress"``; None when ``argv`` uses no retired spelling.

    Examples:
        >>> from amos_tutorial.cli import build_parser
        >>> retired_message(build_parser(), ["data", "validate", "--quiet"])[1]
        '--quiet was renamed --no-progress'
    """
    path, sub, rest = _command_path(parser, argv)
    retired = {**RETIRED_OPTIONS, **RETIRED_COMMAND_OPTIONS.get(path, {})}
    for i, token in enumerate(rest):
        if token == "--":
            break
        option = token.split("=", 1)[0]
        if option in retired and not _known(sub, option):
            return sub, f"{option} was renamed {retired[option]}"
        if option in TRIPLET_OPTIONS and "=" not in token and _numbers(rest[i + 1 : i + 4]) == 3:
            return sub, f"{option} takes X,Y,Z in one word: {option} {','.join(rest[i + 1 : i + 4])}"
    if path in RETIRED_ARGUMENTS and not any(not a.option_strings for a in sub._actions):
        stray = _stray_positionals(sub, rest)
        if stray:
            return sub, (
                f"{' '.join(stray)}: amos {' '.join(path)} takes no positional argument any more; "
                f"give {RETIRED_ARGUMENTS[path]}"
            )
    return None


def check_retired(parser: argparse.ArgumentParser, argv: Sequence[str]) -> None:
    """Stop with the sub-command's usage and one line (exit code 2) if ``argv`` uses a retired spelling.

    Raises:
        SystemExit: With code 2, as argparse does for a usage error.
    """
    found = retired_message(parser, argv)
    if found is not None:
        sub, message = found
        sub.error(message)
