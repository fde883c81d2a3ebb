"""``amos data synth|download|pack|validate|info``: get, pack and check the AMOS data.

Introduced in chapter *Getting the data*. Thin handlers over :mod:`amos_tutorial.data`: the synthetic
generator, the Zenodo download, the file checks and the folder summary. The data modules hold only
library code; their options live here, with the options every command shares from :mod:`._args`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from amos_tutorial.cli._args import (
    add_affine_atol_arg,
    add_command,
    add_data_arg,
    add_modality_rule_arg,
    add_overwrite_arg,
    add_progress_arg,
    add_seed_arg,
    positive_int,
    shape_arg,
    spacing_arg,
)

ORDER = 10

__all__ = ["register"]


# --------------------------------------------------------------------------------------------------
# amos data synth OUT
# --------------------------------------------------------------------------------------------------
def _flat(groups: list[list[str]] | None) -> list[str]:
    """``--splits training,validation --splits test`` arrives as lists of lists: flatten them."""
    return [name for group in groups or [] for name in group]


def _names_arg(allowed: tuple[str, ...]):
    """An argparse type for ``--splits training validation`` or ``--splits training,validation``."""

    def parse(text: str) -> list[str]:
        items = [t.strip() for t in text.split(",") if t.strip()]
        bad = [t for t in items if t not in allowed]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"{text!r}: choose from {', '.join(allowed)}")
        return items

    return parse


def _synth_command(args: argparse.Namespace) -> int:
    from amos_tutorial.data.synthetic import MODALITIES, SPLITS, generate_synthetic_dataset

    start = time.perf_counter()
    root = generate_synthetic_dataset(
        args.out, n_cases=args.cases, seed=args.seed, max_shape=args.max_shape, overwrite=args.overwrite,
        progress=not args.no_progress, modalities=_flat(args.modalities) or MODALITIES,
        splits=_flat(args.splits) or SPLITS, metadata=not args.no_metadata,
    )  # fmt: skip
    ds = json.loads((root / "dataset.json").read_text())
    print(
        f"{root}: {args.cases} synthetic cases ({ds['numTraining']} training, {ds['numValidation']} validation, "
        f"{ds['numTest']} test) in {time.perf_counter() - start:.1f} s"
    )
    return 0


def _add_synth(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """``amos data synth OUT --cases N --seed S`` and the variant options (``--no-metadata``, ``--modalities CT``,
    ``--splits training``) that write copies like many real ones."""
    from amos_tutorial.data.release import METADATA_CSV_NAME
    from amos_tutorial.data.synthetic import DEFAULT_MAX_SHAPE, MODALITIES, SPLITS

    parser = add_command(
        subparsers,
        "synth",
        help="write a synthetic mini-AMOS set in the release layout",
        description=(
            "Write a synthetic mini-AMOS set (CT- and MRI-like abdomens, 15 organs) in the exact layout "
            "of the AMOS 2022 release: imagesTr/labelsTr/imagesVa/labelsVa/imagesTs, dataset.json, "
            f"{METADATA_CSV_NAME} and readme.md."
        ),
    )
    parser.add_argument("out", type=Path, metavar="OUT", help="destination folder (must be empty or absent)")
    parser.add_argument("--cases", type=int, default=16, metavar="N", help="number of cases")
    add_seed_arg(parser, "random seed of the whole set")
    parser.add_argument(
        "--max-shape", type=shape_arg, default=tuple(DEFAULT_MAX_SHAPE), metavar="X,Y,Z",
        help="largest image shape",
    )  # fmt: skip
    parser.add_argument(
        "--modalities", type=_names_arg(MODALITIES), nargs="+", action="extend", default=None, metavar="MOD",
        help="modalities to generate: CT, MRI or both, as 'CT MRI' or 'CT,MRI' (default: both)",
    )  # fmt: skip
    parser.add_argument(
        "--splits", type=_names_arg(SPLITS), nargs="+", action="extend", default=None, metavar="SPLIT",
        help="splits to generate: training, validation, test, as 'training validation' or "
        "'training,validation' (default: all three)",
    )  # fmt: skip
    parser.add_argument(
        "--no-metadata", action="store_true",
        help=f"leave out {METADATA_CSV_NAME}, like a copy without the separate metadata download",
    )  # fmt: skip
    add_overwrite_arg(parser, "replace OUT if it exists and is not empty")
    add_progress_arg(parser)
    parser.set_defaults(func=_synth_command)
    return parser


# --------------------------------------------------------------------------------------------------
# amos data download DEST
# --------------------------------------------------------------------------------------------------
def _download_epilog() -> str:
    from amos_tutorial.data.download import AMOS_ZIP_MD5, AMOS_ZIP_SIZE_GB, ZENODO_OLD_RECORD, ZENODO_RECORD

    return f"""\
disk space:
  amos22.zip is about {AMOS_ZIP_SIZE_GB} GB and the extracted release takes about as much again:
  plan for ~25 GB download + ~25 GB extracted. The command checks first that DEST has about
  2.2x the zip size free (the zip alone with --no-extract). --remove-zip frees the zip's 25 GB
  after a successful extraction.

checksum:
  the default MD5 {AMOS_ZIP_MD5} comes from a third-party download script and is
  UNVERIFIED. A file that fails the check is kept as amos22.zip.corrupt and not used; if you
  trust your copy, pass --md5 HASH with a checksum you trust, or --no-verify.

resuming:
  an interrupted run keeps DEST/amos22.zip.part; running the same command again resumes it.
  Finished steps are skipped, so re-running after success makes no request.

source:
  Zenodo record {ZENODO_RECORD} (https://zenodo.org/records/{ZENODO_RECORD}). The older record
  {ZENODO_OLD_RECORD} holds data that users report to differ from the challenge's: do not use it.
"""


def _download_command(args: argparse.Namespace) -> int:
    from amos_tutorial.data.download import download_amos
    from amos_tutorial.data.partial import download_cases
    from amos_tutorial.data.selection import LABELLED_SPLITS
    from amos_tutorial.utils.errors import error_line

    if args.cases is None and (args.modalities or args.splits):
        args._parser.error("--modalities and --splits choose among the cases of --cases: give --cases too")
    if args.cases is not None and (args.no_extract or args.remove_zip):
        args._parser.error("--cases fetches single files, there is no zip to keep or extract")
    try:
        if args.cases is not None:
            download_cases(
                args.dest, args.cases, modalities=_flat(args.modalities) or None,
                splits=_flat(args.splits) or LABELLED_SPLITS, seed=args.seed, base_url=args.base_url,
                metadata=not args.no_metadata, timeout=args.timeout, retries=args.retries,
                progress=not args.no_progress,
            )  # fmt: skip
            return 0
        download_amos(
            args.dest,
            md5=None if args.no_verify else args.md5,
            base_url=args.base_url,
            extract=not args.no_extract,
            keep_zip=not args.remove_zip,
            metadata=not args.no_metadata,
            check_space=not args.skip_space_check,
            timeout=args.timeout,
            retries=args.retries,
            progress=not args.no_progress,
        )
    except OSError as exc:
        # Network, checksum, disk and file-system failures (DownloadError is an OSError): one line,
        # exit status 1 (2 is for usage errors). FileNotFoundError is left to the amos entry point.
        if isinstance(exc, FileNotFoundError):
            raise
        print(f"amos: error: {error_line(exc)}", file=sys.stderr)
        return 1
    return 0


def _cases_arg(text: str) -> str:
    """``--cases 3`` or ``--cases amos_0001,amos_0507``: checked here, chosen by the library."""
    from amos_tutorial.data.selection import parse_case_ids

    if text.strip().isdigit():
        if int(text) < 1:
            raise argparse.ArgumentTypeError(f"{text!r}: give a positive number of cases or case ids")
        return text.strip()
    try:
        parse_case_ids(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _add_download(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """``amos data download DEST``: the real release from Zenodo, verified and safely extracted."""
    from amos_tutorial.data.download import AMOS_ZIP_MD5, ZENODO_BASE_URL, ZENODO_RECORD
    from amos_tutorial.data.release import METADATA_CSV_NAME

    parser = add_command(
        subparsers,
        "download",
        raw=True,
        help=f"download and extract the real AMOS 2022 release (Zenodo {ZENODO_RECORD}, ~25 GB)",
        description=(
            f"Download amos22.zip and {METADATA_CSV_NAME} from Zenodo record {ZENODO_RECORD} into DEST, "
            "verify the zip's MD5 and extract it safely to DEST/amos22 (the dataset root)."
        ),
        epilog=_download_epilog(),
    )
    parser.add_argument("dest", metavar="DEST", type=Path, help="download folder; the release goes to DEST/amos22")
    parser.add_argument(
        "--base-url", default=ZENODO_BASE_URL, metavar="URL",
        help="folder URL of the files; a mirror or local server also works",
    )  # fmt: skip
    check = parser.add_mutually_exclusive_group()
    check.add_argument("--md5", default=AMOS_ZIP_MD5, metavar="HASH", help="expected MD5 of amos22.zip (unverified)")
    check.add_argument("--no-verify", action="store_true", help="do not check the zip's MD5")
    parser.add_argument("--no-extract", action="store_true", help="only download (and verify) the zip")
    parser.add_argument("--remove-zip", action="store_true", help="delete amos22.zip after a successful extraction")
    parser.add_argument("--no-metadata", action="store_true", help=f"do not download {METADATA_CSV_NAME}")
    parser.add_argument("--skip-space-check", action="store_true", help="do not check free disk space first")
    partial = parser.add_argument_group(
        "single cases (HTTP Range requests; the server is probed first and nothing is fetched if it ignores Range)"
    )
    partial.add_argument(
        "--cases", type=_cases_arg, default=None, metavar="N|IDS",
        help="fetch only N cases (spread across split, modality and scanner) or the cases amos_0001,amos_0507,... "
        "from the remote zip into DEST/amos22, with a dataset.json listing them",
    )  # fmt: skip
    partial.add_argument(
        "--modalities", type=_names_arg(("CT", "MRI")), nargs="+", action="extend", default=None, metavar="MOD",
        help="with --cases: choose among these modalities, as 'CT MRI' or 'CT,MRI' (default: both)",
    )  # fmt: skip
    partial.add_argument(
        "--splits", type=_names_arg(("training", "validation", "test")), nargs="+", action="extend", default=None,
        metavar="SPLIT", help="with --cases: choose among these splits (default: training and validation, the labelled ones)",
    )  # fmt: skip
    add_seed_arg(partial, "with --cases N: shuffle the choice with this seed (default: lowest case numbers first)", optional=True)
    parser.add_argument("--timeout", type=float, default=60.0, metavar="S", help="seconds without data before a retry")
    parser.add_argument("--retries", type=int, default=10, metavar="N", help="retries of a cut connection, per file")
    add_progress_arg(parser)
    parser.set_defaults(func=_download_command, _parser=parser)
    return parser


# --------------------------------------------------------------------------------------------------
# amos data pack OUT
# --------------------------------------------------------------------------------------------------
def _pack_command(args: argparse.Namespace) -> int:
    from amos_tutorial.data.manifest import MANIFEST_NAME
    from amos_tutorial.data.selection import LABELLED_SPLITS
    from amos_tutorial.transforms.pack import make_pack

    start = time.perf_counter()
    result = make_pack(
        args.out, args.data, args.cases, spacing=args.spacing, modalities=_flat(args.modalities) or None,
        splits=_flat(args.splits) or LABELLED_SPLITS, seed=args.seed, overwrite=args.overwrite,
        progress=not args.no_progress,
    )  # fmt: skip
    print(
        f"{result.root}: course pack of {len(result.cases)} cases at {' x '.join(f'{s:g}' for s in args.spacing)} mm "
        f"({result.pack_bytes / 1e6:.1f} MB of case files from {result.source_bytes / 1e6:.1f} MB) with "
        f"{MANIFEST_NAME}, in {time.perf_counter() - start:.1f} s\n"
        f"zip for a shared drive: {result.zip_path} ({result.zip_bytes / 1e6:.1f} MB)\n"
        f"Check it with:  amos data validate --data {result.root}"
    )
    return 0


def _add_pack(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """``amos data pack OUT --data DIR --cases N``: a course pack for a class."""
    from amos_tutorial.transforms.pack import PACK_SPACING

    parser = add_command(
        subparsers,
        "pack",
        help="write a course pack: a few cases, coarser and cropped, with a manifest and one zip",
        description=(
            "Write a course pack for a class: N cases of --data chosen across split, modality and scanner, "
            "resampled to a coarser spacing and cropped to the body (the training preprocessing without its "
            "intensity step), in the release layout, with pack_manifest.json (source, cases, spacing, licence, "
            "attribution, SHA-256 per file) and OUT.zip for a shared drive. 'amos data validate' checks the "
            "manifest."
        ),
    )
    parser.add_argument("out", type=Path, metavar="OUT", help="pack folder to create (OUT.zip is written beside it)")
    add_data_arg(parser)
    parser.add_argument("--cases", type=positive_int, default=24, metavar="N", help="number of cases")
    parser.add_argument(
        "--spacing", type=spacing_arg, default=PACK_SPACING, metavar="X,Y,Z",
        help="voxel size of the pack in mm: one number or x,y,z",
    )  # fmt: skip
    parser.add_argument(
        "--modalities", type=_names_arg(("CT", "MRI")), nargs="+", action="extend", default=None, metavar="MOD",
        help="choose among these modalities, as 'CT MRI' or 'CT,MRI' (default: both)",
    )  # fmt: skip
    parser.add_argument(
        "--splits", type=_names_arg(("training", "validation", "test")), nargs="+", action="extend", default=None,
        metavar="SPLIT", help="choose among these splits (default: training and validation, the labelled ones)",
    )  # fmt: skip
    add_seed_arg(parser, "seed of the choice of cases")
    add_overwrite_arg(parser, "replace OUT and OUT.zip if they exist")
    add_progress_arg(parser)
    parser.set_defaults(func=_pack_command)
    return parser


# --------------------------------------------------------------------------------------------------
# amos data validate / amos data info
# --------------------------------------------------------------------------------------------------
def _validate_command(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from amos_tutorial.data.layout import load_amos
    from amos_tutorial.data.manifest import MANIFEST_NAME, read_manifest
    from amos_tutorial.data.validate import validate_dataset

    ds = load_amos(args.data)
    problems = validate_dataset(
        ds,
        affine_atol=args.affine_atol,
        progress=not args.no_progress,
        on_problem=lambda p: tqdm.write(str(p), file=sys.stdout),
    )
    n_files = sum(1 + (c.label is not None) for c in ds.cases)
    if problems:
        n_bad = len({p.path for p in problems})
        print(
            f"{len(problems)} problem(s) in {n_bad} file(s); "
            f"{len(ds.cases)} cases ({n_files} files) checked in {ds.root}"
        )
        return 1
    print(f"OK: {len(ds.cases)} cases ({n_files} files) checked in {ds.root}, no problems")
    manifest = read_manifest(ds.root)
    if manifest is not None:
        print(f"course pack: {len(manifest['files'])} files match the SHA-256 of {MANIFEST_NAME}")
    return 0


def _add_validate(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """``amos data validate --data ROOT``: one line per problem and a summary; exit 1 when any was found."""
    parser = add_command(
        subparsers,
        "validate",
        help="check every image and label file of an AMOS folder",
        description=(
            "Read every listed image and label file once and report, one line each: missing or unreadable "
            "(truncated) files, non-3-D volumes, zero-length axes, singular affines, headers claiming more "
            "data than the file holds, image/label shape or affine mismatches, non-finite image values, label "
            "values outside 0-15, label files without an image, and misnamed files in the image and label "
            "folders (which every command ignores). Exit code 1 when any problem was found."
        ),
    )
    add_data_arg(parser)
    add_affine_atol_arg(parser)
    add_progress_arg(parser)
    parser.set_defaults(func=_validate_command)
    return parser


def _info_command(args: argparse.Namespace) -> int:
    from amos_tutorial.data.layout import load_amos

    ds = load_amos(args.data, metadata_csv=args.metadata, modality_rule=args.modality_rule)
    print(ds.summary())
    return 0


def _add_info(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """``amos data info --data ROOT``: cases per split and modality, metadata, label table."""
    parser = add_command(
        subparsers,
        "info",
        help="summarise an AMOS folder: cases per split and modality, metadata, label table",
        description=(
            "Summarise an AMOS folder (real amos22 release or synthetic mini-AMOS): where the case list and "
            "label table come from, cases per split and modality, metadata found or not, missing files. "
            "Modality: scanner model from the metadata CSV when known, else the id rule."
        ),
    )
    add_data_arg(parser)
    parser.add_argument("--metadata", default=None, metavar="CSV", help="metadata CSV (default: found beside the data)")
    add_modality_rule_arg(parser)
    parser.set_defaults(func=_info_command)
    return parser


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``data`` command group to the ``amos`` parser.

    Examples:
        >>> sub = argparse.ArgumentParser(prog="amos").add_subparsers()
        >>> register(sub).prog
        'amos data'
    """
    parser = add_command(
        subparsers,
        "data",
        help="get, generate and check AMOS data",
        description="Get, generate and check AMOS data (real release or synthetic mini-AMOS).",
    )
    parser.set_defaults(_parser=parser)
    sub = parser.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    for add in (_add_synth, _add_download, _add_pack, _add_validate, _add_info):
        add(sub)
    return parser
