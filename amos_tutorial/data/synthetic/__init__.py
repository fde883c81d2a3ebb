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


from amos_tutorial.data.release import METADATA_COLUMNS, METADATA_CSV_NAME
from amos_tutorial.data.synthetic.case import DEFAULT_MAX_SHAPE, CaseOptions, SyntheticCase, synthesize_case
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
    "CaseOptions",
    "SyntheticCase",
    "synthesize_case",
    "generate_synthetic_dataset",
]
