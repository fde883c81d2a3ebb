"""Synthetic mini-AMOS: small CT- and MRI-like abdomens in the exact layout of the AMOS 2022 release.

Introduced in chapter *Getting the data*. The real release is 24 GB behind a manual download; every
chapter, test and smoke run of this project can instead use a synthetic set written in the **same
layout** (``imagesTr``, ``labelsTr``, ``imagesVa``, ``labelsVa``, ``imagesTs``, ``dataset.json`` with
the release's keys and label names, the metadata CSV ``labeled_data_meta_0000_0599.csv`` with the
real column names, and a ``readme.md``), so that the code written against it runs unchanged on the
real data.

How a case is built (numpy for the geometry, scipy.ndimage for the blur, nibabel for orientation
and files):

1. The anatomy is described once, in millimetres, in a *reference patient frame* with RAS axes
   (``+x`` = patient's right, ``+y`` = anterior, ``+z`` = superior; origin in front of the first
   lumbar vertebra): body outline, subcutaneous fat, muscle wall, spine, ribs, pelvis, lung bases,
   heart, colon and small bowel (label 0), and the 15 AMOS organs as ellipsoids and tubes.
2. Each case draws its spacing (in-plane 0.6-0.9 mm, slices 1.25-5 mm) and its shape (at most
   ``max_shape``). A real abdomen does not fit in 160 x 160 voxels of 0.75 mm, so the reference
   patient is scaled down to fill the field of view: by ``scale_xy`` in-plane and ``scale_z``
   along the body axis (the two may differ by up to about 2x when thin slices cap the slice count;
   the relative layout of the organs is kept). Organ sizes are therefore consistent physical
   fractions of the body, whatever the voxel spacing. Semi-axes are floored at one voxel so that
   small organs (adrenals) stay a few voxels thick instead of vanishing.
3. Per case: body habitus, fat thickness, organ positions, sizes, rotations and smooth surface
   bumps vary, and a smooth random displacement field bends the whole body.
4. A tissue map is turned into intensities: Hounsfield units for CT (stored ``int16``), a T1- or
   T2-like contrast with an arbitrary scale for MRI (stored ``float32`` or ``uint16``), then a
   partial-volume blur, a smooth multiplicative bias field (strong for MRI) and noise (Gaussian for
   CT, Rician for MRI).
5. The volume is written in an RAS or an LPS orientation (``aff2axcodes`` gives ``('R','A','S')`` or
   ``('L','P','S')``), labels ``uint8`` on the same grid.

The package, one concern per module: :mod:`~amos_tutorial.data.synthetic.shapes` (grid and shape
primitives), :mod:`~amos_tutorial.data.synthetic.tissues` (tissue ids and mean intensities),
:mod:`~amos_tutorial.data.synthetic.anatomy` (body, bones, bowel and the table of the 15 organs),
:mod:`~amos_tutorial.data.synthetic.scanner` (scanner models, acquisition draws, intensities),
:mod:`~amos_tutorial.data.synthetic.case` (one case), :mod:`~amos_tutorial.data.synthetic.plan` (ids,
splits and metadata of a set), :mod:`~amos_tutorial.data.synthetic.writer` (dataset.json, CSV, readme,
atomic move) and :mod:`~amos_tutorial.data.synthetic.dataset` (the builder).

Examples:
    >>> from amos_tutorial.data.synthetic import synthesize_case
    >>> case = synthesize_case(7, "CT", seed=0, max_shape=(48, 48, 24))
    >>> case.image.dtype, case.label.dtype, case.affine.shape
    (dtype('int16'), dtype('uint8'), (4, 4))
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from amos_tutorial.data.release import METADATA_COLUMNS, METADATA_CSV_NAME
from amos_tutorial.data.synthetic.case import DEFAULT_MAX_SHAPE, SyntheticCase, synthesize_case
from amos_tutorial.data.synthetic.dataset import generate_synthetic_dataset
from amos_tutorial.data.synthetic.plan import MODALITIES, SPLITS
from amos_tutorial.data.synthetic.scanner import CT_SCANNER_MAKERS, MRI_SCANNER_MAKERS

__all__ = [
    "DEFAULT_MAX_SHAPE",
    "MODALITIES",
    "SPLITS",
    "METADATA_CSV_NAME",
    "METADATA_COLUMNS",
    "CT_SCANNER_MAKERS",
    "MRI_SCANNER_MAKERS",
    "SyntheticCase",
    "synthesize_case",
    "generate_synthetic_dataset",
    "add_cli",
]


# --------------------------------------------------------------------------------------------------
# CLI: amos data synth OUT --cases N --seed S [--overwrite]
# --------------------------------------------------------------------------------------------------
def _flat(groups: list[list[str]] | None) -> list[str]:
    """``--splits training,validation --splits test`` arrives as lists of lists: flatten them."""
    return [name for group in groups or [] for name in group]


def _cli_synth(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    root = generate_synthetic_dataset(
        args.out, n_cases=args.cases, seed=args.seed, max_shape=args.max_shape, overwrite=args.overwrite,
        progress=not args.quiet, modalities=_flat(args.modalities) or MODALITIES, splits=_flat(args.splits) or SPLITS,
        metadata=not args.no_metadata,
    )
    ds = json.loads((root / "dataset.json").read_text())
    print(
        f"{root}: {args.cases} synthetic cases ({ds['numTraining']} training, {ds['numValidation']} validation, "
        f"{ds['numTest']} test) in {time.perf_counter() - start:.1f} s"
    )
    return 0


def _names_arg(allowed: tuple[str, ...]):
    """An argparse type for ``--splits training validation`` or ``--splits training,validation``."""

    def parse(text: str) -> list[str]:
        items = [t.strip() for t in text.split(",") if t.strip()]
        bad = [t for t in items if t not in allowed]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"{text!r}: choose from {', '.join(allowed)}")
        return items

    return parse


def add_cli(subparsers: argparse._SubParsersAction) -> None:
    """Add ``amos data synth OUT --cases N --seed S [--max-shape X Y Z] [--overwrite]`` and the variant options.

    The variant options write copies like many real ones: ``--no-metadata`` (no metadata CSV),
    ``--modalities CT`` (or ``MRI``), ``--splits training`` (or any subset of the three splits).

    Introduced in chapter *Getting the data*; built on argparse.

    Args:
        subparsers: The ``amos data`` sub-command group.

    Examples:
        >>> from amos_tutorial.cli import main
        >>> main(["data", "synth", "/tmp/mini_amos", "--cases", "8", "--seed", "1"])  # doctest: +SKIP
        0
    """
    parser = subparsers.add_parser(
        "synth",
        help="write a synthetic mini-AMOS set in the release layout",
        description=(
            "Write a synthetic mini-AMOS set (CT- and MRI-like abdomens, 15 organs) in the exact layout "
            "of the AMOS 2022 release: imagesTr/labelsTr/imagesVa/labelsVa/imagesTs, dataset.json, "
            f"{METADATA_CSV_NAME} and readme.md."
        ),
    )
    parser.add_argument("out", type=Path, metavar="OUT", help="destination folder (must be empty or absent)")
    parser.add_argument("--cases", type=int, default=16, metavar="N", help="number of cases (default 16)")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    parser.add_argument(
        "--max-shape", type=int, nargs=3, default=list(DEFAULT_MAX_SHAPE), metavar=("X", "Y", "Z"),
        help="largest image shape (default 160 160 64)",
    )
    parser.add_argument(
        "--modalities", type=_names_arg(MODALITIES), nargs="+", action="extend", default=None, metavar="MOD",
        help="modalities to generate: CT, MRI or both, as 'CT MRI' or 'CT,MRI' (default both)",
    )
    parser.add_argument(
        "--splits", type=_names_arg(SPLITS), nargs="+", action="extend", default=None, metavar="SPLIT",
        help="splits to generate: training, validation, test, as 'training validation' or "
        "'training,validation' (default all three)",
    )
    parser.add_argument(
        "--no-metadata", action="store_true",
        help=f"leave out {METADATA_CSV_NAME}, like a copy without the separate metadata download",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists and is not empty")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=_cli_synth)
