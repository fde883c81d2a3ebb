"""One CLI convention: every sub-command of ``amos`` (nested ones included) spells and defaults its options one way.

The walk covers whatever :func:`amos_tutorial.cli.build_parser` registers, so a sub-command added later is
checked without touching this file: its shared options must come from the ``add_*_arg`` helpers of
:mod:`amos_tutorial.cli._args`, with the defaults and choices below (taken from the package's constants),
``--help`` must work, no retired spelling may come back, and a default is printed once.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import pytest

from amos_tutorial.benchmark.speed import VARIANTS
from amos_tutorial.cli import _args, build_parser, main
from amos_tutorial.cli._retired import RETIRED_ARGUMENTS, RETIRED_COMMAND_OPTIONS, RETIRED_OPTIONS
from amos_tutorial.data.layout import MODALITY_RULES
from amos_tutorial.models import all_variants
from amos_tutorial.data.tasks import TASKS
from amos_tutorial.inference.options import BLEND_MODES, ENGINES
from amos_tutorial.training.config import AMP_MODES
from amos_tutorial.utils.geometry import AFFINE_ATOL

#: Shared option -> allowed defaults (None in the set: "the help says where the value comes from") and choices.
#: A missing key means "any": the option's meaning fixes the type, the command fixes the value.
SHARED = {
    "--data": {"defaults": {_args.DEFAULT_DATA, None}},
    "--device": {"defaults": {_args.DEFAULT_DEVICE}},
    "--amp": {"defaults": {_args.DEFAULT_AMP, None}, "choices": AMP_MODES},
    "--modality-rule": {"defaults": {MODALITY_RULES[0]}, "choices": MODALITY_RULES},
    "--no-progress": {"defaults": {False}},
    "--out": {},
    "--task": {"defaults": {_args.DEFAULT_TASK, None}, "choices": tuple(TASKS)},
    "--seed": {"defaults": {_args.DEFAULT_SEED, None}},
    "--affine-atol": {"defaults": {AFFINE_ATOL}},
    "--cache-dir": {"defaults": {None}},
    "--patch-size": {"defaults": {None}},
    "--batch-size": {},
    "--threads": {},
    "--variant": {"choices_one_of": (VARIANTS, all_variants())},  # all_variants: commands that take resenc's M, L
    "--checkpoint": {"defaults": set(_args.CHECKPOINTS), "choices": _args.CHECKPOINTS},
    "--workers": {},
    "--overwrite": {"defaults": {False}},
    "--executed": {"defaults": {None}},
    "--tta": {"defaults": {False}},
    "--engine": {"defaults": {ENGINES[0]}, "choices": ENGINES},
    "--loss": {"defaults": {"dice_ce"}},
    "--blend": {"defaults": {BLEND_MODES[0]}},
    "--memory-budget": {"defaults": {None}},
}

#: Spellings that were retired for the shared ones (old -> what to use): the CLI's own table.
RETIRED = RETIRED_OPTIONS

#: Options several sub-commands spell alike but with the command's own meaning or values (not shared helpers).
#: A new spelling that two commands use belongs either here (with its reason) or in ``_args`` as a helper.
OWN_MEANING = {
    "--book": "bench chapters: the folder of _toc.yml; book: the book/ folder",
    "--chapters": "book student/slides/assign: comma-separated chapter names of the book/ folder",
    "--configuration": "nnU-Net plans configuration (nnunet train/predict)",
    "--dataset-id": "nnU-Net dataset id (nnunet sub-commands)",
    "--nnunet-dir": "nnU-Net's three folders (nnunet sub-commands)",
    "--fold": "train: our fold K; nnunet: nnU-Net's fold; nnunet commands: 0-4 or all",
    "--folds": "splits: how many folds; bench: the folds of the (model, fold) grid",
    "--images": "predict: images to segment; submit: images that fix the expected cases",
    "--pred": "evaluate/submit: the prediction folder",
    "--labels": "the folder of reference label maps (evaluate; postprocess --choose)",
    "--iterations": "training steps of the command's own schedule or timed batches",
    "--iterations-per-epoch": "steps per epoch (train, nnunet train)",
    "--model": "train: registry name; nnunet predict: nnU-Net model folder",
    "--models": "registry names of the bench sub-commands",
    "--no-metadata": "synth: write no metadata CSV; download: download none",
    "--overlap": "sliding-window overlap (the run's by default in predict)",
    "--sw-batch-size": "windows per forward pass (the run's by default in predict)",
    "--repeats": "timed runs of the measurement",
    "--warmup": "untimed steps of the measurement",
    "--resume": "continue from the latest checkpoint (train, nnunet train)",
    "--trainer": "the book's nnU-Net trainer class (nnunet train/predict)",
    "--run": "a run folder written by amos train",
    "--shape": "voxels of the synthetic case a bench sub-command measures",
    "--spacing": "preprocess: target spacing; bench: spacing of the synthetic case",
    "--splits": "synth: splits written; preprocess: splits preprocessed; download, pack: splits chosen from",
    "--cases": "synth: cases written; download: number or ids of the cases fetched; pack: cases packed; "
    "bench memory, bench realsize: synthetic cases measured",
    "--max-shape": "largest synthetic image shape (synth, bench memory, bench realsize)",
    "--in-process": "bench models, bench memory: measure in this process instead of child processes",
    "--modalities": "synth: modalities written; download, pack: modalities chosen from",
    "--stop-after": "stop after N training steps of this session",
    "--timeout": "download: seconds without data; bench models: seconds per model; bench memory: per step; "
    "bench realsize: per process",
    "--tolerance": "NSD tolerance in mm",
}

_HELP_ONLY = {"-h", "--help", "--version"}


def _walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, (*path, name))


COMMANDS = {path: parser for path, parser in _walk(build_parser()) if path}
IDS = [" ".join(path) for path in COMMANDS]


def _options(parser: argparse.ArgumentParser):
    return [a for a in parser._actions if a.option_strings and not set(a.option_strings) & _HELP_ONLY]


def test_the_walk_reaches_nested_sub_commands():
    names = set(IDS)
    for expected in ("data synth", "data validate", "train", "predict", "bench", "bench speed", "nnunet train"):
        assert expected in names


def test_the_table_agrees_with_the_constants():
    assert _args.DEFAULT_AMP in AMP_MODES
    assert _args.DEFAULT_TASK in TASKS
    assert set(VARIANTS) == {"tiny", "full"}


@pytest.mark.parametrize("path", list(COMMANDS), ids=IDS)
def test_help_works(path, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*path, "--help"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: amos {' '.join(path)}")


@pytest.mark.parametrize("path", list(COMMANDS), ids=IDS)
def test_shared_options_come_from_the_helpers(path):
    for action in _options(COMMANDS[path]):
        shared = [o for o in action.option_strings if o in SHARED]
        if not shared:
            continue
        name = shared[0]
        assert action.option_strings == [name], f"{' '.join(path)}: {name} has other spellings {action.option_strings}"
        assert _args.shared_option(action) == name, f"{' '.join(path)}: {name} not added by its _args helper"
        rule = SHARED[name]
        if "defaults" in rule:
            assert action.default in rule["defaults"], f"{' '.join(path)} {name}: default {action.default!r}"
        if "choices" in rule:
            assert tuple(action.choices) == tuple(rule["choices"]), f"{' '.join(path)} {name}: {action.choices}"
        if "choices_one_of" in rule:
            allowed = [tuple(c) for c in rule["choices_one_of"]]
            assert tuple(action.choices) in allowed, f"{' '.join(path)} {name}: {action.choices}"


@pytest.mark.parametrize("path", list(COMMANDS), ids=IDS)
def test_no_retired_spelling(path):
    spelled = {o for a in _options(COMMANDS[path]) for o in a.option_strings}
    for old, new in {**RETIRED, **RETIRED_COMMAND_OPTIONS.get(path, {})}.items():
        assert old not in spelled, f"amos {' '.join(path)}: {old} is retired, use {new}"
    positional = {a.dest for a in COMMANDS[path]._actions if not a.option_strings}
    assert "root" not in positional, f"amos {' '.join(path)}: a data folder is read with --data, not a positional ROOT"
    if path != ("train",):  # "preset" is the training preset, and only that
        assert "--preset" not in spelled, f"amos {' '.join(path)}: --preset means the training preset only"


@pytest.mark.parametrize("path", list(COMMANDS), ids=IDS)
def test_a_default_is_printed_once(path):
    parser = COMMANDS[path]
    assert issubclass(parser.formatter_class, _args.HelpFormatter), f"{' '.join(path)}: use _args.add_command"
    formatter = parser._get_formatter()
    for action in parser._actions:
        if not action.help or action.help == argparse.SUPPRESS:
            continue
        text = formatter._expand_help(action).lower()
        assert text.count("(default") <= 1, f"{' '.join(path)} {action.dest}: {text!r}"
        concrete = action.default not in (None, False, argparse.SUPPRESS) and action.option_strings
        if concrete and action.dest != "help":
            # A concrete default is printed by the formatter, never typed in the help (it would go stale).
            assert "default" not in action.help.lower(), f"{' '.join(path)} {action.dest}: {action.help!r}"


def test_a_spelling_shared_by_commands_is_a_helper_or_has_its_own_meaning():
    users = defaultdict(set)
    for path, parser in COMMANDS.items():
        for action in _options(parser):
            for option in action.option_strings:
                users[option].add(" ".join(path))
    for option, commands in sorted(users.items()):
        if len(commands) > 1:
            assert option in SHARED or option in OWN_MEANING, (
                f"{option} is used by {sorted(commands)}: add it to amos_tutorial.cli._args as a helper, "
                "or to OWN_MEANING here with the reason"
            )


def test_help_formatter_prints_a_concrete_default_once():
    parser = argparse.ArgumentParser(formatter_class=_args.HelpFormatter)
    parser.add_argument("--n", type=int, default=3, help="count")
    parser.add_argument("--m", default=None, help="thing (default: the run's)")
    parser.add_argument("--flag", action="store_true", help="a flag")
    text = parser.format_help()
    assert "count (default: 3)" in text
    assert "(default: the run's)" in text
    assert "(default: None)" not in text
    assert "(default: False)" not in text


#: A command line of each retired spelling, as old documentation types it.
_RETIRED_LINES = [
    *((["data", "validate", old, "x"], old) for old in RETIRED_OPTIONS),
    *(([*path, old, "x"], old) for path, table in RETIRED_COMMAND_OPTIONS.items() for old in table),
]


@pytest.mark.parametrize("argv, old", _RETIRED_LINES, ids=[" ".join(a) for a, _ in _RETIRED_LINES])
def test_a_retired_option_names_its_new_spelling(argv, old, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    path = [a for a in argv if not a.startswith("-") and a != "x"]
    new = {**RETIRED_OPTIONS, **RETIRED_COMMAND_OPTIONS.get(tuple(path), {})}[old]
    assert exc.value.code == 2
    assert err.startswith(f"usage: amos {' '.join(path)}")
    assert err.strip().splitlines()[-1] == f"amos {' '.join(path)}: error: {old} was renamed {new}"


@pytest.mark.parametrize("path", list(RETIRED_ARGUMENTS), ids=[" ".join(p) for p in RETIRED_ARGUMENTS])
def test_a_retired_positional_argument_names_the_options(path, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*path, "--no-progress", "unet", "DIR"] if path == ("train",) else [*path, "DIR"])
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert err.startswith(f"usage: amos {' '.join(path)}")
    assert RETIRED_ARGUMENTS[path] in err.strip().splitlines()[-1]
    assert "unrecognized arguments" not in err


def test_a_current_spelling_is_not_taken_for_a_retired_one():
    from amos_tutorial.cli._retired import retired_message

    parser = build_parser()
    assert retired_message(parser, ["bench", "--budget", "smoke"]) is None  # --budget is retired in chapters only
    assert retired_message(parser, ["train", "--model", "unet", "--out", "DIR"]) is None
    assert retired_message(parser, ["data", "synth", "OUT", "--no-progress"]) is None


def test_every_triplet_is_one_word_x_y_z():
    """Patch sizes, shapes and spacings are typed X,Y,Z in one word in every sub-command (no nargs=3)."""
    for path, parser in COMMANDS.items():
        for action in parser._actions:
            assert action.nargs != 3, f"amos {' '.join(path)} {action.option_strings}: use a X,Y,Z helper of cli._args"
            names = set(action.option_strings) & set(_args.TRIPLET_OPTIONS)
            if names:
                assert action.type in (_args.patch_size_arg, _args.shape_arg, _args.spacing_arg), f"amos {' '.join(path)} {names}"


def test_a_triplet_in_three_words_names_the_one_word_spelling(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["preprocess", "--spacing", "2", "2", "4"])
    assert exc.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "amos preprocess: error: --spacing takes X,Y,Z in one word: --spacing 2,2,4"
    )
    assert _args.spacing_arg("0.7,0.7,5") == (0.7, 0.7, 5.0)
    assert _args.shape_arg("512x512x300") == (512, 512, 300)
