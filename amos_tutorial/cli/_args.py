"""The options shared by several ``amos`` sub-commands, each spelled and defaulted one way, plus argument types.

A leading underscore: this module is not a sub-command. Every option that more than one sub-command takes is
added by one ``add_*_arg`` helper here, so ``--data``, ``--device``, ``--amp``, ``--no-progress``... read and
default the same in every command (``tests/test_cli.py`` checks every sub-command).
Sub-commands are created with :func:`add_command`, which gives them :class:`HelpFormatter`: a concrete default
is printed by the formatter, once, never in the hand-written help.
"""

from __future__ import annotations

import argparse
import errno
import os
from pathlib import Path
from typing import Any

__all__ = [
    "CHECKPOINTS",
    "DEFAULT_AMP",
    "DEFAULT_DATA",
    "DEFAULT_DEVICE",
    "DEFAULT_SEED",
    "DEFAULT_TASK",
    "DEVICE_HELP",
    "HelpFormatter",
    "RawHelpFormatter",
    "add_affine_atol_arg",
    "add_amp_arg",
    "add_blend_arg",
    "add_batch_size_arg",
    "add_cache_dir_arg",
    "add_memory_budget_arg",
    "add_checkpoint_arg",
    "add_command",
    "add_data_arg",
    "add_device_arg",
    "add_engine_arg",
    "add_loss_arg",
    "add_modality_rule_arg",
    "add_out_arg",
    "add_overwrite_arg",
    "add_patch_size_arg",
    "add_progress_arg",
    "add_seed_arg",
    "add_task_arg",
    "add_threads_arg",
    "add_tta_arg",
    "add_variant_arg",
    "add_workers_arg",
    "check_output_file",
    "blend_arg",
    "check_output_folder",
    "loss_arg",
    "patch_size_arg",
    "positive_int",
    "shape_arg",
    "shared_option",
    "spacing_arg",
    "TRIPLET_OPTIONS",
]

#: ``--data`` of every command that reads a dataset: the built-in synthetic mini-AMOS set.
DEFAULT_DATA = "synthetic"
#: ``--device`` everywhere: CUDA, then MPS, then the CPU (:func:`amos_tutorial.training.amp.resolve_device`).
DEFAULT_DEVICE = "auto"
DEVICE_HELP = "auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps"
#: ``--amp`` where no run or preset decides: the best mode the device supports.
DEFAULT_AMP = "auto"
#: ``--task`` where a task is needed: Task 2 (CT and MRI).
DEFAULT_TASK = 2
#: ``--seed`` everywhere a seed is given.
DEFAULT_SEED = 0
#: ``--checkpoint``: which checkpoint of a run folder is used.
CHECKPOINTS = ("best", "last")

#: The name under which a helper marks the option it added (``action.<SHARED_ATTR> = "--data"``).
SHARED_ATTR = "amos_shared"


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Help that prints each concrete default once, as ``(default: X)``.

    A default of None or False (an optional value, a flag) is not printed; a help text that already says what
    the default is (``default: the run's``) is left as written. Hand-written help never repeats a concrete
    default (``tests/test_cli.py`` checks), so the two never disagree.
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text.lower() or action.default in (None, False, argparse.SUPPRESS):
            return text
        if not action.option_strings and action.nargs not in (argparse.OPTIONAL, argparse.ZERO_OR_MORE):
            return text
        return f"{text} (default: %(default)s)"


class RawHelpFormatter(argparse.RawDescriptionHelpFormatter, HelpFormatter):
    """:class:`HelpFormatter` that keeps the description's and epilog's line breaks (tables, examples)."""


def add_command(
    subparsers: argparse._SubParsersAction, name: str, *, raw: bool = False, **kwargs: Any
) -> argparse.ArgumentParser:
    """Add a sub-command with the CLI's :class:`HelpFormatter` (``raw=True``: :class:`RawHelpFormatter`).

    Examples:
        >>> sub = argparse.ArgumentParser(prog="amos").add_subparsers()
        >>> add_command(sub, "info", help="summarise").formatter_class.__name__
        'HelpFormatter'
    """
    kwargs.setdefault("formatter_class", RawHelpFormatter if raw else HelpFormatter)
    return subparsers.add_parser(name, **kwargs)


def shared_option(action: argparse.Action) -> str | None:
    """The shared option an argparse action was added as (``"--data"``...), or None for a command's own option."""
    return getattr(action, SHARED_ATTR, None)


def _add(parser: argparse.ArgumentParser, name: str, **kwargs: Any) -> argparse.Action:
    action = parser.add_argument(name, **kwargs)
    setattr(action, SHARED_ATTR, name)
    return action


def add_data_arg(
    parser: argparse.ArgumentParser, *, metadata_only: bool = False, help: str | None = None
) -> argparse.Action:
    """``--data ROOT``: the AMOS folder a command reads, or ``synthetic`` (the default).

    Args:
        parser: The sub-command's parser.
        metadata_only: The command reads only the folder's metadata (the modality of each case) and works
            without it: the default is then None (the id rule decides).
        help: Replaces the standard help text.
    """
    if metadata_only:
        text = "AMOS data folder or 'synthetic' whose metadata gives each case's modality (default: the id rule)"
        return _add(parser, "--data", default=None, metavar="ROOT", help=help or text)
    text = "AMOS folder (with dataset.json, or its parent; e.g. $AMOS_DATA_DIR) or 'synthetic' for mini-AMOS"
    return _add(parser, "--data", default=DEFAULT_DATA, metavar="ROOT", help=help or text)


def add_device_arg(parser: argparse.ArgumentParser, help: str | None = None) -> argparse.Action:
    """``--device``: where the command computes, ``auto`` by default in every command."""
    return _add(parser, "--device", default=DEFAULT_DEVICE, help=help or DEVICE_HELP)


def add_amp_arg(parser: argparse.ArgumentParser, inherit: str | None = None) -> argparse.Action:
    """``--amp`` from :data:`amos_tutorial.training.config.AMP_MODES`.

    Args:
        parser: The sub-command's parser.
        inherit: Where the mode comes from when the option is not given (``"the run's"``): the default is
            then None and the help says so; otherwise :data:`DEFAULT_AMP`.
    """
    from amos_tutorial.training.config import AMP_MODES

    if inherit:
        return _add(parser, "--amp", choices=AMP_MODES, default=None, help=f"mixed precision (default: {inherit})")
    return _add(parser, "--amp", choices=AMP_MODES, default=DEFAULT_AMP, help="mixed precision")


def add_modality_rule_arg(parser: argparse.ArgumentParser) -> argparse.Action:
    """``--modality-rule`` from :data:`amos_tutorial.data.layout.MODALITY_RULES` (the first one by default)."""
    from amos_tutorial.data.layout import MODALITY_RULES

    return _add(
        parser, "--modality-rule", choices=MODALITY_RULES, default=MODALITY_RULES[0],
        help="id rule where no metadata decides a case's modality: readme (id < 500 is CT) or organisers "
        "(id <= 500)",
    )  # fmt: skip


def add_progress_arg(parser: argparse.ArgumentParser) -> argparse.Action:
    """``--no-progress``: no progress bars (the one spelling; ``--quiet`` is retired)."""
    return _add(parser, "--no-progress", action="store_true", help="no progress bars")


def add_out_arg(parser: argparse.ArgumentParser, help: str, **kwargs: Any) -> argparse.Action:
    """``--out``: what the command writes (a file or a folder, said by ``help``); ``kwargs`` go to argparse."""
    return _add(parser, "--out", help=help, **kwargs)


def add_task_arg(parser: argparse.ArgumentParser, help: str | None = None, optional: bool = False) -> argparse.Action:
    """``--task`` 1 (CT only) or 2 (CT and MRI, :data:`DEFAULT_TASK`).

    Args:
        parser: The sub-command's parser.
        help: Replaces the standard help text.
        optional: None by default (the help says what happens without a task) instead of :data:`DEFAULT_TASK`.
    """
    from amos_tutorial.data.tasks import TASKS

    text = help or "AMOS task: " + ", ".join(f"{t.id} = {t.name}" for t in TASKS.values())
    return _add(parser, "--task", type=int, choices=tuple(TASKS), default=None if optional else DEFAULT_TASK, help=text)


def add_seed_arg(parser: argparse.ArgumentParser, help: str, optional: bool = False) -> argparse.Action:
    """``--seed`` (:data:`DEFAULT_SEED`; ``optional``: None, the help says where the seed comes from)."""
    return _add(parser, "--seed", type=int, default=None if optional else DEFAULT_SEED, help=help)


def add_affine_atol_arg(parser: argparse.ArgumentParser) -> argparse.Action:
    """``--affine-atol`` (:data:`amos_tutorial.utils.geometry.AFFINE_ATOL`)."""
    from amos_tutorial.utils.geometry import AFFINE_ATOL

    return _add(
        parser, "--affine-atol", type=float, default=AFFINE_ATOL, metavar="MM",
        help="allowed affine difference between files that must share a grid",
    )  # fmt: skip


def add_cache_dir_arg(parser: argparse.ArgumentParser) -> argparse.Action:
    """``--cache-dir``: the preprocessed cache folder (default: one in ``$AMOS_CACHE_DIR``)."""
    return _add(parser, "--cache-dir", metavar="DIR", help="preprocessed cache folder (default: in $AMOS_CACHE_DIR)")


def positive_gb(text: str) -> float:
    """An ``argparse`` type: a positive number of gigabytes."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--memory-budget must be a number of GB, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"--memory-budget must be > 0 GB, got {text!r}")
    return value


def add_memory_budget_arg(parser: argparse.ArgumentParser, help: str) -> argparse.Action:
    """``--memory-budget GB``: RAM for the cached training cases (the others are memory-mapped); default None."""
    return _add(parser, "--memory-budget", type=positive_gb, default=None, metavar="GB", help=help)


def add_patch_size_arg(parser: argparse.ArgumentParser, help: str) -> argparse.Action:
    """``--patch-size X,Y,Z`` (:func:`patch_size_arg`); None by default, the help says whose patch is used."""
    return _add(parser, "--patch-size", type=patch_size_arg, metavar="X,Y,Z", help=help)


def add_batch_size_arg(parser: argparse.ArgumentParser, help: str, default: int | None = None) -> argparse.Action:
    """``--batch-size N`` (patches per step); None by default: the recipe's."""
    return _add(parser, "--batch-size", type=positive_int, default=default, metavar="N", help=help)


def add_threads_arg(parser: argparse.ArgumentParser, default: int | None = None) -> argparse.Action:
    """``--threads N``: torch CPU threads (None by default: torch's own choice)."""
    text = "torch CPU threads" if default is not None else "torch CPU threads (default: torch's)"
    return _add(parser, "--threads", type=positive_int, default=default, metavar="N", help=text)


def add_variant_arg(
    parser: argparse.ArgumentParser, help: str, default: str | None = None, model_sizes: bool = False
) -> argparse.Action:
    """``--variant`` of a model: ``tiny`` or ``full`` (:data:`amos_tutorial.benchmark.speed.VARIANTS`).

    Args:
        parser: The sub-command's parser.
        help: What the variant selects in this command.
        default: The default variant (None: the help says where it comes from).
        model_sizes: Also accept the sizes some models define (``resenc``: ``M``, ``L``), i.e. every name of
            :func:`amos_tutorial.models.all_variants`; the command checks that its model defines the one given.
    """
    if model_sizes:
        from amos_tutorial.models import all_variants

        choices = all_variants()
    else:
        from amos_tutorial.benchmark.speed import VARIANTS

        choices = VARIANTS
    return _add(parser, "--variant", choices=choices, default=default, help=help)


def add_checkpoint_arg(parser: argparse.ArgumentParser, default: str, help: str) -> argparse.Action:
    """``--checkpoint best|last``: which checkpoint of a run folder is used (:data:`CHECKPOINTS`)."""
    if default not in CHECKPOINTS:
        raise ValueError(f"default checkpoint must be one of {CHECKPOINTS}, got {default!r}")
    return _add(parser, "--checkpoint", choices=CHECKPOINTS, default=default, help=help)


def add_workers_arg(parser: argparse.ArgumentParser, help: str, default: int = 0) -> argparse.Action:
    """``--workers N``: worker processes (0: this process, the default where the work runs in it by default)."""
    return _add(parser, "--workers", type=int, default=default, metavar="N", help=help)


def add_overwrite_arg(parser: argparse.ArgumentParser, help: str) -> argparse.Action:
    """``--overwrite``: replace what ``--out`` already holds (said by ``help``)."""
    return _add(parser, "--overwrite", action="store_true", help=help)


def add_executed_arg(parser: argparse.ArgumentParser, required: bool, help: str) -> argparse.Action:
    """``--executed DIR``: the book's executed chapters (``scripts/build_book.sh`` leaves them in ``_build/executed``)."""
    return _add(parser, "--executed", type=Path, required=required, default=None, metavar="DIR", help=help)


def add_engine_arg(parser: argparse.ArgumentParser) -> argparse.Action:
    """``--engine fast|plain``: the inference engine (:data:`amos_tutorial.inference.options.ENGINES`)."""
    return _add(
        parser, "--engine", choices=("fast", "plain"), default="fast",
        help="inference engine: fast (inversion on the device) or plain (MONAI Invertd on the CPU, as the tutorials)",
    )


def _named_or_function(text: str, names: tuple[str, ...], what: str) -> Any:
    from amos_tutorial.utils.plugins import is_function_spec, load_function

    if is_function_spec(text):
        try:
            return load_function(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    if text not in names:
        raise argparse.ArgumentTypeError(
            f"{text!r}: choose a {what} among {', '.join(names)}, or give your own as FILE.py:FUNCTION or MODULE:FUNCTION"
        )
    return text


def loss_arg(text: str) -> Any:
    """A loss of the package by name (``dice_ce``, ``dice``, ``ce``) or a function ``FILE.py:NAME``/``MODULE:NAME``."""
    from amos_tutorial.training.losses import LOSSES

    return _named_or_function(text, tuple(LOSSES), "loss")


def blend_arg(text: str) -> Any:
    """A blending mode (``gaussian``, ``constant``) or a sliding-window function ``FILE.py:NAME``/``MODULE:NAME``."""
    from amos_tutorial.inference.options import BLEND_MODES

    return _named_or_function(text, BLEND_MODES, "blending mode")


def add_loss_arg(parser: argparse.ArgumentParser) -> argparse.Action:
    """``--loss NAME|FILE.py:FUNCTION``: the training loss (default: Dice + cross-entropy)."""
    return _add(
        parser, "--loss", type=loss_arg, default="dice_ce", metavar="NAME|FILE.py:FUNCTION",
        help="training loss: dice_ce (Dice + cross-entropy), dice or ce, or your own function (logits, target) -> "
        "scalar given as FILE.py:FUNCTION or MODULE:FUNCTION (pass it again with --resume)",
    )


def add_blend_arg(parser: argparse.ArgumentParser) -> argparse.Action:
    """``--blend gaussian|constant|FILE.py:FUNCTION``: how overlapping windows are averaged."""
    return _add(
        parser, "--blend", type=blend_arg, default="gaussian", metavar="MODE|FILE.py:FUNCTION",
        help="how overlapping windows are averaged: gaussian or constant (MONAI's modes), or your own sliding "
        "window (image, predictor, roi_size, overlap) -> logits given as FILE.py:FUNCTION or MODULE:FUNCTION",
    )


def add_tta_arg(parser: argparse.ArgumentParser) -> argparse.Action:
    """``--tta``: flip test-time augmentation in prediction."""
    return _add(parser, "--tta", action="store_true", help="flip test-time augmentation (8 passes)")


def patch_size_arg(text: str) -> tuple[int, int, int]:
    """Parse a patch size given as ``96,96,96`` or ``160x160x64`` (x, y, z voxels).

    Examples:
        >>> patch_size_arg("160x160x64")
        (160, 160, 64)
    """
    parts = text.replace("x", ",").split(",")
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"patch size must look like 96,96,96 or 160x160x64, got {text!r}") from None
    if len(values) != 3 or min(values) < 1:
        raise argparse.ArgumentTypeError(f"patch size needs 3 positive sizes (x, y, z), got {text!r}")
    return values  # type: ignore[return-value]


#: Options that take three numbers (x, y, z): always one word, ``X,Y,Z`` (``0.7,0.7,5``, ``512,512,300``).
TRIPLET_OPTIONS = ("--patch-size", "--shape", "--max-shape", "--spacing")


def _triplet(text: str, kind: type, what: str) -> tuple:
    words = text.replace("x", ",").split(",") if kind is int else text.split(",")
    try:
        values = tuple(kind(w) for w in words)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what} must be X,Y,Z in one word (e.g. {'0.7,0.7,5' if kind is float else '96,96,96'}), got {text!r}") from None
    if len(values) == 1:
        values = values * 3
    if len(values) != 3 or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"{what} needs one or three positive numbers X,Y,Z, got {text!r}")
    return values


def spacing_arg(text: str) -> tuple[float, float, float]:
    """Parse a voxel size in mm given as ``0.7,0.7,5`` (x, y, z) or one number for all axes (argparse type).

    Examples:
        >>> spacing_arg("0.7,0.7,5")
        (0.7, 0.7, 5.0)
        >>> spacing_arg("2")
        (2.0, 2.0, 2.0)
    """
    return _triplet(text, float, "spacing")  # type: ignore[return-value]


def shape_arg(text: str) -> tuple[int, int, int]:
    """Parse an image shape in voxels given as ``512,512,300`` or ``512x512x300`` (argparse type).

    Examples:
        >>> shape_arg("64,64,16")
        (64, 64, 16)
    """
    return _triplet(text, int, "shape")  # type: ignore[return-value]


def positive_int(text: str) -> int:
    """Parse an integer >= 1 (argparse type).

    Examples:
        >>> positive_int("4")
        4
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _first_existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists (``.`` for a relative path with none)."""
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return candidate
    return Path(".")


def _check_parent_writable(path: Path, option: str) -> None:
    anchor = _first_existing(path.parent if path != path.parent else path)
    if not anchor.is_dir():
        raise NotADirectoryError(
            errno.ENOTDIR, f"{anchor} is a file, not a folder; choose another {option}", str(path)
        )
    if not os.access(anchor, os.W_OK | os.X_OK):
        raise PermissionError(
            errno.EACCES, f"no permission to write in {anchor}; choose another {option} (or fix its permissions)",
            str(path),
        )


def check_output_folder(path: str | os.PathLike | None, option: str = "--out") -> None:
    """Check, before any long work, that ``path`` can be a folder this process writes into.

    Args:
        path: The output folder (existing or not); None: nothing to check.
        option: The option's name, for the message.

    Raises:
        NotADirectoryError: If ``path`` or one of its parents is a file.
        PermissionError: If the folder (or the nearest existing parent) is not writable.
    """
    if path is None:
        return
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(
            errno.ENOTDIR, f"exists and is a file, not a folder; choose another {option}", str(path)
        )
    if path.is_dir():
        if not os.access(path, os.W_OK | os.X_OK):
            raise PermissionError(
                errno.EACCES, f"no permission to write in this folder; choose another {option}", str(path)
            )
        return
    _check_parent_writable(path, option)


def check_output_file(path: str | os.PathLike | None, option: str = "--out") -> None:
    """Check, before any long work, that ``path`` can be written as a file.

    Args:
        path: The output file (existing or not); None: nothing to check.
        option: The option's name, for the message.

    Raises:
        IsADirectoryError: If ``path`` is an existing folder.
        NotADirectoryError: If one of its parents is a file.
        PermissionError: If its folder is not writable.
    """
    if path is None:
        return
    path = Path(path).expanduser()
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, f"is an existing folder; give {option} a file name", str(path))
    _check_parent_writable(path, option)
