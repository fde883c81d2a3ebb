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

Examples:
    >>> from amos_tutorial.data.synthetic import synthesize_case
    >>> case = synthesize_case(7, "CT", seed=0, max_shape=(48, 48, 24))
    >>> case.image.dtype, case.label.dtype, case.affine.shape
    (dtype('int16'), dtype('uint8'), (4, 4))
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import numpy as np

from amos_tutorial.data.release import CT_SCANNERS, METADATA_COLUMNS, METADATA_CSV_NAME, MRI_SCANNERS, SPLIT_FOLDERS
from amos_tutorial.labels import NUM_CLASSES, dataset_json_labels

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
]

DEFAULT_MAX_SHAPE: tuple[int, int, int] = (160, 160, 64)
# Scanner model -> (manufacturer as DICOM writes it, synthetic site). Models are those of the release.
CT_SCANNER_MAKERS: dict[str, tuple[str, str]] = {
    "Optima CT660": ("GE MEDICAL SYSTEMS", "Site A"),
    "Optima CT540": ("GE MEDICAL SYSTEMS", "Site B"),
    "Brilliance16": ("Philips", "Site A"),
    "SOMATOM Force": ("SIEMENS", "Site B"),
    "Aquilion ONE": ("TOSHIBA", "Site A"),
}
MRI_SCANNER_MAKERS: dict[str, tuple[str, str]] = {
    "Ingenia": ("Philips Medical Systems", "Site A"),
    "SIGNA HDe": ("GE MEDICAL SYSTEMS", "Site B"),
    "Achieva": ("Philips Medical Systems", "Site B"),
    "Prisma": ("SIEMENS", "Site A"),
}

assert set(CT_SCANNER_MAKERS) == set(CT_SCANNERS) and set(MRI_SCANNER_MAKERS) == set(MRI_SCANNERS)
# Like the release: test images are written without labels.
_SPLIT_FOLDERS = {split: (images, None if split == "test" else labels) for split, (images, labels) in SPLIT_FOLDERS.items()}
_CT_IDS = range(1, 500)
# Labelled CT ids of the release stop at 410 (training) and 409 (validation); nnU-Net's Task 1 converter
# (Dataset218_Amos2022_task1) keeps CT by these bounds, so labelled synthetic CT cases stay at or below 409
# and test CT cases take the rest of 1-499 (the converter keeps test ids <= 500).
_CT_LABELLED_IDS = range(1, 410)
# Id 500 is ambiguous between the readme's rule and the organisers' tools: never generate it.
_MRI_IDS = range(501, 600)
_MAX_CASES = len(_CT_IDS) + len(_MRI_IDS)
MODALITIES: tuple[str, ...] = ("CT", "MRI")
SPLITS: tuple[str, ...] = tuple(SPLIT_FOLDERS)
# Share of the cases per split when only some splits are generated (the default set keeps its own rule).
_SPLIT_WEIGHTS = {"training": 2, "validation": 1, "test": 1}
_ORIENTATIONS = ("RAS", "LPS")
_MR_DTYPES = ("float32", "uint16")
_CT_SLICES = (1.25, 1.5, 2.0, 2.5, 3.0, 5.0)
_CT_SLICE_P = (0.1, 0.1, 0.15, 0.1, 0.15, 0.4)
_MR_SLICES = (2.0, 2.5, 3.0, 4.0, 5.0)
# Reference craniocaudal field of view (mm): from below the prostate to above the liver dome.
_Z_BOTTOM, _Z_TOP = -222.0, 183.0

# --------------------------------------------------------------------------------------------------
# Tissues: the image is drawn from a tissue map; organ tissues are 16 + label id.
# --------------------------------------------------------------------------------------------------
(T_AIR, T_LUNG, T_FAT, T_MUSCLE, T_CORTICAL, T_MARROW, T_DISC, T_CSF, T_BOWEL_WALL, T_BOWEL_AIR,
 T_BOWEL_FLUID, T_HEART, T_ARTERY, T_TABLE) = range(14)
T_ORGAN = 16
T_STOMACH_AIR, T_STOMACH_FLUID, T_DUO_AIR, T_DUO_FLUID, T_UTERUS = range(32, 37)
_N_TISSUES = 40

# Mean intensity per tissue: CT in HU (portal-venous phase), MRI on a 0-1 scale before the gain.
# Each entry: tissue -> (CT HU, T1-like, T2-like). MRI orders the organs differently from CT
# (liver brighter than spleen on T1, fluid bright on T2, flowing blood dark on T2).
_TISSUE_TABLE: dict[int, tuple[float, float, float]] = {
    T_AIR: (-1000, 0.0, 0.0),
    T_LUNG: (-850, 0.03, 0.03),
    T_FAT: (-100, 0.9, 0.7),
    T_MUSCLE: (50, 0.3, 0.15),
    T_CORTICAL: (850, 0.02, 0.02),
    T_MARROW: (420, 0.7, 0.5),
    T_DISC: (90, 0.3, 0.6),
    T_CSF: (10, 0.1, 0.95),
    T_BOWEL_WALL: (45, 0.35, 0.3),
    T_BOWEL_AIR: (-950, 0.0, 0.0),
    T_BOWEL_FLUID: (15, 0.15, 0.85),
    T_HEART: (110, 0.35, 0.25),
    T_ARTERY: (200, 0.8, 0.05),
    T_TABLE: (150, 0.0, 0.0),
    T_ORGAN + 1: (120, 0.4, 0.55),  # spleen
    T_ORGAN + 2: (170, 0.45, 0.6),  # right kidney
    T_ORGAN + 3: (170, 0.45, 0.6),  # left kidney
    T_ORGAN + 4: (12, 0.12, 0.95),  # gallbladder (bile)
    T_ORGAN + 5: (45, 0.35, 0.3),  # esophagus
    T_ORGAN + 6: (100, 0.55, 0.25),  # liver
    T_ORGAN + 7: (50, 0.35, 0.3),  # stomach wall
    T_ORGAN + 8: (200, 0.8, 0.05),  # aorta (contrast; flow void on T2)
    T_ORGAN + 9: (160, 0.7, 0.1),  # inferior vena cava
    T_ORGAN + 10: (95, 0.65, 0.35),  # pancreas
    T_ORGAN + 11: (55, 0.4, 0.3),  # right adrenal
    T_ORGAN + 12: (55, 0.4, 0.3),  # left adrenal
    T_ORGAN + 13: (50, 0.35, 0.3),  # duodenum wall
    T_ORGAN + 14: (10, 0.1, 0.95),  # bladder (urine)
    T_ORGAN + 15: (45, 0.35, 0.5),  # prostate
    T_STOMACH_AIR: (-950, 0.0, 0.0),
    T_STOMACH_FLUID: (20, 0.12, 0.85),
    T_DUO_AIR: (-900, 0.0, 0.0),
    T_DUO_FLUID: (20, 0.15, 0.85),
    T_UTERUS: (90, 0.45, 0.6),
}
_SOLID_TISSUES = (T_CORTICAL, T_MARROW, T_DISC, T_CSF)


class SyntheticCase(NamedTuple):
    """One synthetic volume, as returned by :func:`synthesize_case`.

    Introduced in chapter *Getting the data*. A named tuple, so ``image, label, affine, info = synthesize_case(...)`` works.

    Attributes:
        image: 3-D array (X, Y, Z), slices on the last axis: ``int16`` HU for CT, ``float32`` or
            ``uint16`` for MRI.
        label: ``uint8`` array of the same shape, values 0-15 (AMOS label ids).
        affine: 4x4 voxel-to-world matrix (NIfTI RAS+ world, mm), RAS- or LPS-oriented.
        info: What was drawn: ``number``, ``modality``, ``sex``, ``spacing``, ``shape``,
            ``orientation``, ``dtype``, ``mr_contrast``, ``has_gallbladder``,
            ``has_prostate_uterus``, ``scale_xy``, ``scale_z``, ``organs`` (label ids present) and
            ``fallback_organs`` (organs too small for the grid, kept as one voxel).
    """

    image: np.ndarray
    label: np.ndarray
    affine: np.ndarray
    info: dict[str, Any]


# --------------------------------------------------------------------------------------------------
# Geometry: voxel coordinates in the reference frame and two shape primitives.
# --------------------------------------------------------------------------------------------------
class _Grid:
    """Reference-frame coordinates (mm) of every voxel, bent by a smooth displacement field."""

    def __init__(self, axes: Sequence[np.ndarray], rng: np.random.Generator, max_disp: float) -> None:
        self.axes = [np.asarray(a, dtype=np.float32) for a in axes]
        self.shape = tuple(len(a) for a in self.axes)
        self.origin = [float(a[0]) for a in self.axes]
        self.step = [float(a[1] - a[0]) if len(a) > 1 else 1.0 for a in self.axes]
        ax, ay, az = (a.reshape(s) for a, s in zip(self.axes, ((-1, 1, 1), (1, -1, 1), (1, 1, -1))))
        coords = [ax, ay, az]
        # A sum of separable low-frequency sine products per component: smooth, cheap (outer
        # products of 1-D arrays) and bounded by the sum of amplitudes, which bounds the boxes below.
        self.max_disp = 0.0
        fields = []
        for c in range(3):
            disp = np.zeros(self.shape, dtype=np.float32)
            amps = rng.uniform(0.3, 1.0, size=2) * max_disp / 2
            for amp in amps:
                wave = rng.uniform(120.0, 400.0, size=3)
                phase = rng.uniform(0, 2 * np.pi, size=3)
                f = [np.sin(2 * np.pi * a / w + p).astype(np.float32) for a, w, p in zip(coords, wave, phase)]
                disp += np.float32(amp) * f[0] * f[1] * f[2]
            self.max_disp = max(self.max_disp, float(amps.sum()))
            fields.append(disp + coords[c])
        self.X, self.Y, self.Z = fields

    def box(self, lo: Sequence[float], hi: Sequence[float]) -> tuple[slice, slice, slice] | None:
        """Index slices of the voxels whose coordinates may fall in ``[lo, hi]`` (None if empty)."""
        out = []
        for a in range(3):
            i0 = int(np.floor((lo[a] - self.max_disp - self.origin[a]) / self.step[a]))
            i1 = int(np.ceil((hi[a] + self.max_disp - self.origin[a]) / self.step[a])) + 1
            i0, i1 = max(i0, 0), min(i1, self.shape[a])
            if i1 <= i0:
                return None
            out.append(slice(i0, i1))
        return tuple(out)

    def voxel_of(self, point: Sequence[float]) -> tuple[int, int, int]:
        """Nearest voxel index of a reference-frame point (ignoring the displacement)."""
        return tuple(
            int(np.clip(round((p - o) / s), 0, n - 1)) for p, o, s, n in zip(point, self.origin, self.step, self.shape)
        )


def _sub(outer: tuple[slice, ...], inner: tuple[slice, ...]) -> tuple[slice, ...]:
    """``inner`` (absolute slices) expressed relative to ``outer``."""
    return tuple(slice(i.start - o.start, i.stop - o.start) for o, i in zip(outer, inner))


class _Ellipsoid:
    """A rotated ellipsoid with smooth low-order surface bumps; ``level < 1`` inside."""

    def __init__(self, center, semi, rot=None, bumps=None, floor=None, k=(1.0, 1.0, 1.0)) -> None:
        semi = np.asarray(semi, dtype=float)
        if floor is not None:
            # Keep organs at least a voxel across on coarse grids (floor is in reference mm).
            semi = np.maximum(semi, floor)
        rot = np.eye(3) if rot is None else np.asarray(rot, dtype=float)
        k = np.asarray(k, dtype=float)
        # Local coords u = diag(1/semi) R^T K^-1 (q - K c): the case's habitus scaling K is exact.
        self.center = np.asarray(center, dtype=float) * k
        self.M = (np.diag(1.0 / semi) @ rot.T) @ np.diag(1.0 / k)
        inv = np.linalg.inv(self.M)
        self.bumps = None if bumps is None else np.asarray(bumps, dtype=np.float32)
        # Bumps change the radius by at most 25% (their sum is capped at 0.15 in _jitter_bumps).
        grow = 1.0 if self.bumps is None else 1.25
        self.extent = np.sqrt((inv**2).sum(axis=1)) * grow

    def bbox(self) -> tuple[np.ndarray, np.ndarray]:
        return self.center - self.extent, self.center + self.extent

    def level(self, grid: _Grid, box: tuple[slice, ...]) -> np.ndarray:
        d = [getattr(grid, a)[box] - np.float32(c) for a, c in zip("XYZ", self.center)]
        m = self.M.astype(np.float32)
        u = [m[j, 0] * d[0] + m[j, 1] * d[1] + m[j, 2] * d[2] for j in range(3)]
        r2 = u[0] * u[0] + u[1] * u[1] + u[2] * u[2]
        if self.bumps is None:
            return r2
        b = self.bumps
        eps = b[0] * u[0] + b[1] * u[1] + b[2] * u[2] + b[3] * u[0] * u[1] + b[4] * u[1] * u[2]
        eps += b[5] * u[0] * u[2] + b[6] * (u[0] * u[0] - u[1] * u[1])
        return r2 / np.maximum(1.0 + eps, 0.5) ** 2


class _Tube:
    """A chain of capsules through control points with linearly varying radius; ``level < 1`` inside."""

    def __init__(self, points, radii, floor: float = 0.0, k=(1.0, 1.0, 1.0)) -> None:
        k = np.asarray(k, dtype=float)
        self.points = np.asarray(points, dtype=float) * k
        # Isotropic radius under anisotropic habitus scaling: use the in-plane geometric mean.
        self.radii = np.maximum(np.asarray(radii, dtype=float) * np.sqrt(k[0] * k[1]), floor)

    def bbox(self) -> tuple[np.ndarray, np.ndarray]:
        r = self.radii[:, None]
        return (self.points - r).min(axis=0), (self.points + r).max(axis=0)

    def level(self, grid: _Grid, box: tuple[slice, ...]) -> np.ndarray:
        q = [getattr(grid, a)[box] for a in "XYZ"]
        out = np.full(q[0].shape, np.inf, dtype=np.float32)
        for s in range(len(self.points) - 1):
            a, b = self.points[s], self.points[s + 1]
            ra, rb = self.radii[s], self.radii[s + 1]
            ab = b - a
            L2 = float(ab @ ab) or 1e-9
            d = [q[i] - np.float32(a[i]) for i in range(3)]
            t = (d[0] * np.float32(ab[0]) + d[1] * np.float32(ab[1]) + d[2] * np.float32(ab[2])) / np.float32(L2)
            np.clip(t, 0.0, 1.0, out=t)
            dist2 = sum((d[i] - t * np.float32(ab[i])) ** 2 for i in range(3))
            r = np.float32(ra) + t * np.float32(rb - ra)
            np.minimum(out, dist2 / (r * r), out=out)
        return out


class _Union:
    """Union of shapes: the minimum of their levels."""

    def __init__(self, parts: Sequence[Any]) -> None:
        self.parts = list(parts)

    def bbox(self) -> tuple[np.ndarray, np.ndarray]:
        boxes = [p.bbox() for p in self.parts]
        return np.min([b[0] for b in boxes], axis=0), np.max([b[1] for b in boxes], axis=0)

    def level(self, grid: _Grid, box: tuple[slice, ...]) -> np.ndarray:
        shape = tuple(s.stop - s.start for s in box)
        out = np.full(shape, np.inf, dtype=np.float32)
        for part in self.parts:
            pbox = grid.box(*part.bbox())
            if pbox is None:
                continue
            pbox = tuple(slice(max(p.start, b.start), min(p.stop, b.stop)) for p, b in zip(pbox, box))
            if any(p.stop <= p.start for p in pbox):
                continue
            rel = _sub(box, pbox)
            np.minimum(out[rel], part.level(grid, pbox), out=out[rel])
        return out


class _ZCut:
    """A shape cut to ``zmin <= Z <= zmax`` (elliptic cylinders of the spine end at the sacrum)."""

    def __init__(self, shape: Any, zmin: float = -np.inf, zmax: float = np.inf) -> None:
        self.shape, self.zmin, self.zmax = shape, zmin, zmax
        self.center = getattr(shape, "center", None)

    def bbox(self) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = (np.array(b, dtype=float) for b in self.shape.bbox())
        lo[2], hi[2] = max(lo[2], self.zmin), min(hi[2], self.zmax)
        return lo, hi

    def level(self, grid: _Grid, box: tuple[slice, ...]) -> np.ndarray:
        lev = self.shape.level(grid, box)
        z = grid.Z[box]
        lev[(z < self.zmin) | (z > self.zmax)] = np.inf
        return lev


def _rot(z_deg: float = 0.0, x_deg: float = 0.0, y_deg: float = 0.0) -> np.ndarray:
    """Rotation matrix: about x, then y, then z (degrees)."""
    a, b, c = np.deg2rad([x_deg, y_deg, z_deg])
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return rz @ ry @ rx


# --------------------------------------------------------------------------------------------------
# The anatomy of one case.
# --------------------------------------------------------------------------------------------------
class _Painter:
    """Paints the reference anatomy into a label map and a tissue map on one grid."""

    def __init__(self, grid: _Grid, rng: np.random.Generator, voxel_ref: np.ndarray, k: np.ndarray) -> None:
        self.grid = grid
        self.rng = rng
        self.voxel_ref = voxel_ref  # voxel size in reference mm (x, y, z)
        self.k = k  # habitus scaling of the organ layout
        self.label = np.zeros(grid.shape, dtype=np.uint8)
        self.tissue = np.full(grid.shape, T_AIR, dtype=np.uint8)
        self.centers: dict[int, np.ndarray] = {}

    # ---- random variation -----------------------------------------------------------------------
    def _jitter_bumps(self, sd: float = 0.05) -> np.ndarray:
        b = self.rng.normal(0.0, sd, size=7)
        total = np.abs(b).sum()
        return b * (0.15 / total) if total > 0.15 else b

    def ellipsoid(self, center, semi, rot_deg=(0.0, 0.0, 0.0), pos_sd=4.0, size_sd=0.08, rot_sd=6.0,
                  bumps=True, scale=1.0) -> _Ellipsoid:
        """An ellipsoid of the reference anatomy with this case's random position/size/shape."""
        rng = self.rng
        c = np.asarray(center, dtype=float) + rng.normal(0.0, pos_sd, size=3)
        s = np.asarray(semi, dtype=float) * scale * np.exp(rng.normal(0.0, size_sd, size=3))
        zr, xr, yr = np.asarray(rot_deg, dtype=float) + rng.normal(0.0, rot_sd, size=3) * (1.0, 0.4, 0.4)
        rot = _rot(z_deg=zr, x_deg=xr, y_deg=yr)
        # Floor each local axis at one voxel along the world axis it mostly follows.
        dominant = np.abs(rot).argmax(axis=0)
        floor = self.voxel_ref[dominant] / self.k[dominant]
        return _Ellipsoid(c, s, rot, self._jitter_bumps() if bumps else None, floor=floor, k=self.k)

    def tube(self, points, radii, pos_sd=3.0, size_sd=0.08) -> _Tube:
        """A tube of the reference anatomy with jittered control points and radii."""
        rng = self.rng
        p = np.asarray(points, dtype=float)
        p = p + rng.normal(0.0, pos_sd, size=p.shape)
        r = np.asarray(radii, dtype=float) * np.exp(rng.normal(0.0, size_sd))
        return _Tube(p, r, floor=float(self.voxel_ref[0]) * 0.9, k=self.k)

    # ---- painting ----------------------------------------------------------------------------------
    def paint(self, shape, tissue: int, label: int | None = None, allowed: np.ndarray | None = None):
        """Paint the inside (``level < 1``) of ``shape``; return ``(box, level, inside)`` or None."""
        box = self.grid.box(*shape.bbox())
        if box is None:
            return None
        lev = shape.level(self.grid, box)
        inside = lev < 1.0
        if allowed is not None:
            inside &= allowed[box]
        self.tissue[box][inside] = tissue
        if label is not None:
            self.label[box][inside] = label
            self.centers[label] = shape.center if hasattr(shape, "center") else np.mean(shape.bbox(), axis=0)
        return box, lev, inside


def _draw_anatomy(p: _Painter, habitus: dict[str, float], sex: str, has_gallbladder: bool,
                  has_pu: bool, modality: str) -> None:
    """Paint body, bones, bowel and the 15 organs (reference frame, mm; +x right, +y anterior)."""
    rng, g = p.rng, p.grid
    Ac, Bca, Bcp, dm, df, dfa = (habitus[k] for k in ("Ac", "Bca", "Bcp", "dm", "df", "dfa"))
    X, Y, Z = g.X, g.Y, g.Z

    # Body outline: two half-ellipses (the back is flatter), muscle wall and subcutaneous fat.
    X2, Y2 = X * X, Y * Y
    post = Y < 0

    def contour(a: float, b_ant: float, b_post: float) -> np.ndarray:
        return X2 * np.float32(1 / a**2) + Y2 * np.where(post, np.float32(1 / b_post**2), np.float32(1 / b_ant**2))

    lev_cavity = contour(Ac, Bca, Bcp)
    lev_muscle = contour(Ac + dm, Bca + dm, Bcp + dm)
    lev_body = contour(Ac + dm + df, Bca + dm + dfa, Bcp + dm + df)
    del X2, Y2, post
    body = lev_body < 1
    cavity = lev_cavity < 1
    t = p.tissue
    t[body] = T_FAT
    t[(lev_muscle < 1) & ~cavity] = T_MUSCLE
    if modality == "CT":
        # The CT couch: a curved band under the patient's back.
        yb = -(Bcp + dm + df) - 14.0
        table = (Y < yb) & (Y > yb - 8) & (np.abs(X) < Ac * 1.2)
        t[table & ~body] = T_TABLE

    # Lung bases around the liver dome (right dome higher than left), heart on top.
    dome = 145.0 + 8.0 * np.tanh(X / 30.0) - 40.0 * lev_cavity * lev_cavity
    t[cavity & (Z > dome)] = T_LUNG
    del dome
    p.paint(p.ellipsoid((-15, 45, 205), (60, 50, 45), pos_sd=5, bumps=False), T_HEART, allowed=cavity)

    # Muscles: paraspinal (behind the spine) and psoas (beside the lumbar spine).
    yv = -50.0 + rng.normal(0, 3)
    for side in (1, -1):
        p.paint(_Ellipsoid((34 * side, yv - 40, 0), (20, 18, 1e4), k=p.k), T_MUSCLE, allowed=cavity)
        p.paint(p.tube([(25 * side, -45, 40), (45 * side, -35, -90), (60 * side, -10, -200)], [6, 22, 18]),
                T_MUSCLE, allowed=cavity)

    # Spine: vertebral bodies with cortex and discs, posterior arch with the canal, sacrum, pelvis.
    disc_phase = rng.uniform(0, 34)

    def column(x: float, y: float, a: float, b: float) -> _ZCut:
        return _ZCut(_Ellipsoid((x, y, 0.0), (a, b, 1e5), k=p.k), zmin=-95.0)

    res = p.paint(column(0, yv, 22, 18), T_MARROW)
    if res:
        box, lev, inside = res
        t_b = t[box]
        t_b[inside & (lev > 0.72)] = T_CORTICAL
        t_b[inside & (np.mod(Z[box] - disc_phase, 34.0) < 7.0)] = T_DISC
    p.paint(column(0, yv - 30, 20, 14), T_CORTICAL)
    p.paint(column(0, yv - 50, 5, 13), T_CORTICAL)
    p.paint(column(0, yv - 28, 9, 8), T_CSF)
    for side in (1, -1):
        res = p.paint(column(32 * side, yv - 20, 14, 4), T_CORTICAL)
        if res:  # transverse processes exist only at the level of each vertebra
            box, lev, inside = res
            t[box][inside & (np.mod(Z[box] - disc_phase, 34.0) < 17.0)] = T_MUSCLE
    bones = [p.ellipsoid((0, yv - 22, -150), (45, 18, 65), rot_deg=(0, -30, 0), bumps=False)]
    for side in (1, -1):
        bones.append(p.ellipsoid((95 * side, -40, -150), (12, 55, 70), rot_deg=(-35 * side, 0, 0), bumps=False))
        bones.append(p.ellipsoid((85 * side, -10, -218), (22, 22, 22), bumps=False))
    for bone in bones:
        res = p.paint(bone, T_MARROW)
        if res:
            box, lev, inside = res
            t[box][inside & (lev > 0.55)] = T_CORTICAL

    # Ribs: oblique stripes in the muscle wall of the upper abdomen (no ribs at the anterior midline).
    zr = g.box((-1e4, -1e4, 20.0), (1e4, 1e4, 1e4))
    if zr is not None:
        Xr, Yr, Zr = X[zr], Y[zr], Z[zr]
        ring = (lev_muscle[zr] < 1.0) & (lev_cavity[zr] >= 0.85)
        stripes = np.mod(Zr - 0.45 * Yr + rng.uniform(0, 28), 28.0) < 8.0
        where = (Zr > 55.0 + 0.35 * Yr) & ~((np.abs(Xr) < 0.35 * Ac) & (Yr > 0))
        t[zr][ring & stripes & where] = T_CORTICAL

    solid = np.isin(t, _SOLID_TISSUES)
    free = cavity & ~solid  # where soft tissue may go
    soft = free & (t != T_LUNG) & (t != T_HEART)  # where abdominal organs may go

    # Colon (label 0): ascending, transverse, descending, sigmoid; air rises anteriorly (supine).
    air_level = rng.uniform(5, 45)
    colon = [
        p.tube([(105, 5, -100), (110, 10, 40)], [22, 22]),
        p.tube([(105, 25, 45), (0, 62, 30), (-100, 30, 60)], [20, 20, 20]),
        p.tube([(-110, 0, 60), (-108, -5, -90)], [18, 18]),
        p.tube([(-108, -5, -90), (-70, 20, -120), (-15, 25, -140)], [15, 15, 15]),
    ]
    loops = [
        p.ellipsoid((rng.uniform(-70, 70), rng.uniform(0, 60), rng.uniform(-120, 0)),
                    rng.uniform(12, 20, size=3), rot_deg=(rng.uniform(0, 180), 0, 0))
        for _ in range(int(rng.integers(6, 12)))
    ]
    for piece in colon + loops:
        res = p.paint(piece, T_BOWEL_WALL, allowed=soft)
        if res:
            box, lev, inside = res
            lumen = inside & (lev < 0.4)
            t_b = t[box]
            t_b[lumen] = T_BOWEL_FLUID
            t_b[lumen & (Y[box] > air_level)] = T_BOWEL_AIR
    # The iliac arteries continue the aorta below its bifurcation (label 0).
    for side in (1, -1):
        p.paint(p.tube([(-8, -16, -75), (40 * side - 5, -15, -130)], [7, 6]), T_ARTERY, allowed=free)

    # ---- the 15 organs, large ones first so that small ones keep their voxels -------------------
    liver = _Union([
        p.ellipsoid((68, -5, 95), (62, 72, 60), scale=rng.uniform(0.9, 1.1)),
        p.ellipsoid((-20, 35, 115), (55, 32, 32), rot_deg=(10, 0, 0)),
        p.ellipsoid((85, -15, 35), (40, 45, 35)),
    ])
    liver.center = np.array([68.0, -5.0, 95.0]) * p.k
    p.paint(liver, T_ORGAN + 6, 6, allowed=soft)

    stomach = _Union([
        p.ellipsoid((-62, -10, 125), (35, 38, 32)),
        p.ellipsoid((-55, 30, 85), (32, 30, 45), rot_deg=(0, -20, 15)),
        p.ellipsoid((-5, 50, 55), (38, 18, 18), rot_deg=(20, 0, 0)),
    ])
    stomach.center = np.array([-55.0, 25.0, 90.0]) * p.k
    res = p.paint(stomach, T_ORGAN + 7, 7, allowed=soft)
    if res:
        box, lev, inside = res
        lumen = inside & (lev < 0.55)
        t_b = t[box]
        t_b[lumen] = T_STOMACH_FLUID
        t_b[lumen & (Y[box] > rng.uniform(15, 45))] = T_STOMACH_AIR

    spleen_scale = rng.choice([1.0, 1.0, 1.0, 1.3])  # occasional splenomegaly
    p.paint(p.ellipsoid((-100, -40, 95), (25, 50, 45), rot_deg=(35, 0, 0), scale=spleen_scale),
            T_ORGAN + 1, 1, allowed=soft)
    # Right kidney lower than the left; hila turned anteromedially.
    p.paint(p.ellipsoid((65, -48, 0), (26, 22, 52), rot_deg=(20, 0, -10)), T_ORGAN + 2, 2, allowed=soft)
    p.paint(p.ellipsoid((-65, -48, 22), (26, 22, 52), rot_deg=(-20, 0, 10)), T_ORGAN + 3, 3, allowed=soft)

    duo = p.tube([(25, 45, 50), (45, 25, 42), (55, 5, 25), (55, 0, -10), (35, -5, -28), (0, -5, -32),
                  (-25, 5, -22), (-30, 10, -5)], [11, 12, 12, 12, 11, 11, 10, 10])
    res = p.paint(duo, T_ORGAN + 13, 13, allowed=soft)
    if res:
        box, lev, inside = res
        lumen = inside & (lev < 0.35)
        t_b = t[box]
        t_b[lumen] = T_DUO_FLUID
        t_b[lumen & (Y[box] > rng.uniform(10, 60))] = T_DUO_AIR

    # Pancreas: head in the duodenal C-loop, body across the aorta, tail towards the splenic hilum.
    pancreas = p.tube([(30, 12, 10), (10, 22, 18), (-30, 18, 26), (-65, 0, 35), (-85, -20, 42)],
                      [16, 12, 11, 10, 9])
    p.paint(pancreas, T_ORGAN + 10, 10, allowed=soft)

    if has_gallbladder:
        p.paint(p.ellipsoid((55, 50, 38), (14, 16, 32), rot_deg=(0, -30, 0)), T_ORGAN + 4, 4, allowed=soft)
    p.paint(p.ellipsoid((0, 45, -158), (42, 32, 32), scale=rng.uniform(0.7, 1.15)), T_ORGAN + 14, 14,
            allowed=soft)
    if has_pu:
        if sex == "M":
            p.paint(p.ellipsoid((0, 25, -200), (16, 13, 14)), T_ORGAN + 15, 15, allowed=soft)
        else:
            p.paint(p.ellipsoid((0, -5, -118), (25, 20, 38), rot_deg=(0, -30, 0)), T_UTERUS, 15, allowed=soft)

    # Vessels and the esophagus run through the mediastinum too (allowed=free, not soft).
    p.paint(p.tube([(22, -10, 195), (20, -12, 100), (20, -13, 0), (15, -15, -75)], [12, 12, 11, 10]),
            T_ORGAN + 9, 9, allowed=free)
    p.paint(p.tube([(-10, -22, 195), (-14, -19, 100), (-12, -17, 0), (-8, -16, -75)], [12, 11, 10, 9]),
            T_ORGAN + 8, 8, allowed=free)
    p.paint(p.tube([(-2, -2, 195), (-10, 3, 150), (-30, 8, 122), (-45, 10, 112)], [8, 8, 8, 8]),
            T_ORGAN + 5, 5, allowed=free)
    # Adrenals: thin plates above and medial to the kidneys' upper poles.
    p.paint(p.ellipsoid((33, -35, 70), (3, 14, 17), rot_deg=(40, 0, 0), pos_sd=2, size_sd=0.05),
            T_ORGAN + 11, 11, allowed=soft)
    p.paint(p.ellipsoid((-36, -33, 62), (3, 14, 17), rot_deg=(-40, 0, 0), pos_sd=2, size_sd=0.05),
            T_ORGAN + 12, 12, allowed=soft)


def _intensities(tissue: np.ndarray, modality: str, contrast: str, rng: np.random.Generator) -> np.ndarray:
    """Tissue map -> float32 image: per-case jittered tissue means, blur, bias field, noise."""
    from scipy import ndimage

    col = {"CT": 0, "T1": 1, "T2": 2}[contrast if modality == "MRI" else "CT"]
    lut = np.zeros(_N_TISSUES, dtype=np.float32)
    for tid, values in _TISSUE_TABLE.items():
        v = values[col]
        if modality == "CT":
            # Soft tissues vary a little between patients; contrast phase varies the vessels more.
            v += rng.normal(0, 25 if tid in (T_ORGAN + 8, T_ORGAN + 9, T_ARTERY) else 6) if -200 < v < 400 else 0
        else:
            v *= rng.uniform(0.9, 1.1)
        lut[tid] = v
    if modality == "CT":
        lut[T_ARTERY] = lut[T_ORGAN + 8] = np.clip(lut[T_ORGAN + 8], 150, 250)
    img = lut[tissue]
    # Partial-volume blur in-plane only: slices are already thick.
    img = ndimage.gaussian_filter(img, sigma=(0.6, 0.6, 0.0), mode="nearest", truncate=3.0)
    shape = img.shape
    u, v, w = (np.linspace(-1, 1, n, dtype=np.float32).reshape(s) for n, s in
               zip(shape, ((-1, 1, 1), (1, -1, 1), (1, 1, -1))))
    c = rng.normal(0, 0.15 if modality == "MRI" else 0.01, size=7).astype(np.float32)
    log_bias = (c[0] * u + c[3] * u * u) + (c[1] * v + c[4] * v * v) + (c[2] * w + c[5] * w * w) + c[6] * u * v
    bias = np.exp(log_bias)
    if modality == "CT":
        # Multiplicative on attenuation (HU + 1000) so that air stays near -1000.
        img += np.float32(1000.0)
        img *= bias
        img -= np.float32(1000.0)
        img += rng.standard_normal(shape, dtype=np.float32) * np.float32(rng.uniform(8, 20))
        return img
    gain = np.float32(rng.uniform(300, 3000))
    img *= bias * gain
    sigma = np.float32(rng.uniform(0.01, 0.03) * gain)
    # Rician noise: magnitude of a complex signal with Gaussian noise in both channels.
    re = img + rng.standard_normal(shape, dtype=np.float32) * sigma
    im = rng.standard_normal(shape, dtype=np.float32) * sigma
    return np.sqrt(re * re + im * im)


def _check_shape3(value: Any, name: str, minimum: int) -> tuple[int, int, int]:
    try:
        out = tuple(int(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be three integers (X, Y, Z), got {value!r}") from None
    if len(out) != 3 or min(out) < minimum:
        raise ValueError(f"{name} must be three integers >= {minimum} (X, Y, Z), got {value!r}")
    return out


def synthesize_case(
    number: int = 1,
    modality: str = "CT",
    sex: str = "M",
    *,
    seed: int = 0,
    max_shape: Sequence[int] = DEFAULT_MAX_SHAPE,
    spacing: Sequence[float] | None = None,
    shape: Sequence[int] | None = None,
    orientation: str | None = None,
    image_dtype: str | None = None,
    mr_contrast: str | None = None,
    has_gallbladder: bool = True,
    has_prostate_uterus: bool = True,
) -> SyntheticCase:
    """Synthesize one CT- or MRI-like abdomen with its 15-organ label map.

    Introduced in chapter *Getting the data*; built on numpy (geometry), scipy.ndimage (blur) and
    nibabel.orientations (RAS/LPS reorientation). Everything not given is drawn from a generator
    seeded by ``(seed, number)``, so a case is reproducible on its own, bit for bit.

    Args:
        number: AMOS case number (1-599); also seeds the case.
        modality: ``"CT"`` or ``"MRI"``.
        sex: ``"M"`` (label 15 is a prostate) or ``"F"`` (label 15 is a uterus).
        seed: Non-negative dataset seed.
        max_shape: Largest (X, Y, Z) shape drawn, each at least 16.
        spacing: (in-plane, in-plane, slice) in mm; drawn (0.6-0.9, 1.25-5) when None.
        shape: Exact (X, Y, Z) shape, each at least 16; drawn up to ``max_shape`` when None.
        orientation: ``"RAS"`` or ``"LPS"`` axis codes of the array; drawn when None.
        image_dtype: For MRI, ``"float32"`` or ``"uint16"`` (drawn when None); CT is always ``int16``.
        mr_contrast: For MRI, ``"T1"`` or ``"T2"`` (drawn when None).
        has_gallbladder: False mimics a cholecystectomy (no label 4).
        has_prostate_uterus: False leaves out label 15.

    Returns:
        A :class:`SyntheticCase` ``(image, label, affine, info)``.

    Raises:
        ValueError: If an argument is out of range.

    Examples:
        >>> import nibabel as nib
        >>> img, lab, aff, info = synthesize_case(501, "MRI", "F", max_shape=(48, 48, 24), orientation="RAS")
        >>> nib.aff2axcodes(aff), img.shape == lab.shape, int(lab.max()) <= 15
        (('R', 'A', 'S'), True, True)
    """
    number = int(number)
    if not 1 <= number <= 599:
        raise ValueError(f"number must be an AMOS case number 1-599, got {number}")
    if modality not in ("CT", "MRI"):
        raise ValueError(f"modality must be 'CT' or 'MRI', got {modality!r}")
    if sex not in ("M", "F"):
        raise ValueError(f"sex must be 'M' or 'F', got {sex!r}")
    if int(seed) < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    max_shape = _check_shape3(max_shape, "max_shape", 16)
    if shape is not None:
        shape = _check_shape3(shape, "shape", 16)
    if orientation is not None and orientation not in _ORIENTATIONS:
        raise ValueError(f"orientation must be one of {_ORIENTATIONS}, got {orientation!r}")
    if image_dtype is not None and image_dtype not in _MR_DTYPES:
        raise ValueError(f"image_dtype must be one of {_MR_DTYPES} (MRI only), got {image_dtype!r}")
    if mr_contrast is not None and mr_contrast not in ("T1", "T2"):
        raise ValueError(f"mr_contrast must be 'T1' or 'T2', got {mr_contrast!r}")
    if spacing is not None:
        try:
            spacing = tuple(float(s) for s in spacing)
        except (TypeError, ValueError):
            raise ValueError(f"spacing must be three positive numbers in mm, got {spacing!r}") from None
        if len(spacing) != 3 or min(spacing) <= 0:
            raise ValueError(f"spacing must be three positive numbers in mm, got {spacing!r}")

    rng = np.random.default_rng(np.random.SeedSequence([int(seed), number]))
    # Draw everything in a fixed order, even what the caller overrides, so overriding one
    # parameter does not reshuffle the others.
    sxy = round(float(rng.uniform(0.6, 0.9)), 4)
    if modality == "CT":
        sz = float(rng.choice(_CT_SLICES, p=_CT_SLICE_P))
    else:
        sz = float(rng.choice(_MR_SLICES))
    drawn_orientation = _ORIENTATIONS[int(rng.random() < (0.7 if modality == "CT" else 0.5))]
    drawn_dtype = _MR_DTYPES[int(rng.integers(2))]
    drawn_contrast = ("T1", "T2")[int(rng.integers(2))]
    spacing = (sxy, sxy, sz) if spacing is None else spacing
    orientation = orientation or drawn_orientation
    contrast = (mr_contrast or drawn_contrast) if modality == "MRI" else None
    out_dtype = "int16" if modality == "CT" else (image_dtype or drawn_dtype)

    habitus = {
        "Ac": 135.0 * rng.uniform(0.92, 1.08),
        "Bca": 95.0 * rng.uniform(0.9, 1.1),
        "Bcp": 110.0 * rng.uniform(0.95, 1.05),
        "dm": rng.uniform(8, 14),
        "df": rng.uniform(8, 35),
    }
    habitus["dfa"] = habitus["df"] * rng.uniform(1.0, 1.5)
    half_w = habitus["Ac"] + habitus["dm"] + habitus["df"]
    depth_ant = habitus["Bca"] + habitus["dm"] + habitus["dfa"]
    depth_post = habitus["Bcp"] + habitus["dm"] + habitus["df"]

    # Shape and the scale of the mini patient (see the module docstring).
    mx, my, mz = max_shape
    nx = int(round(mx * rng.uniform(0.8, 1.0)))
    ny = min(my, nx) if modality == "CT" and mx == my else int(round(my * rng.uniform(0.75, 1.0)))
    fill = rng.uniform(0.8, 0.92)
    z_lo = _Z_BOTTOM - rng.uniform(0, 10)
    z_hi = _Z_TOP + rng.uniform(0, 10)
    height = z_hi - z_lo
    s_ratio = rng.uniform(0.85, 1.15)
    if shape is not None:
        nx, ny, nz = shape
    s_xy = fill * min(nx * spacing[0] / (2 * half_w), ny * spacing[1] / (depth_ant + depth_post))
    if shape is None:
        nz = int(np.clip(round(s_xy * s_ratio * height / spacing[2]), min(16, mz), mz))
    s_z = nz * spacing[2] / height

    # Reference-frame coordinates of the voxel centres (internal grid is RAS: i -> right).
    off = rng.uniform(-0.03, 0.03, size=2)
    y_mid = (depth_ant - depth_post) / 2
    ax = (np.arange(nx) - (nx - 1) / 2) * spacing[0] / s_xy + off[0] * 2 * half_w
    ay = (np.arange(ny) - (ny - 1) / 2) * spacing[1] / s_xy + y_mid + off[1] * (depth_ant + depth_post)
    az = z_lo + (np.arange(nz) + 0.5) * spacing[2] / s_z
    grid = _Grid((ax, ay, az), rng, max_disp=rng.uniform(6.0, 12.0))
    voxel_ref = np.array([spacing[0] / s_xy, spacing[1] / s_xy, spacing[2] / s_z])
    k = np.array([habitus["Ac"] / 135.0, (habitus["Bca"] + habitus["Bcp"]) / 205.0, 1.0])

    painter = _Painter(grid, rng, voxel_ref, k)
    _draw_anatomy(painter, habitus, sex, has_gallbladder, has_prostate_uterus, modality)
    expected = [i for i in range(1, NUM_CLASSES) if (i != 4 or has_gallbladder) and (i != 15 or has_prostate_uterus)]
    counts = np.bincount(painter.label.ravel(), minlength=NUM_CLASSES)
    fallback = []
    for organ in expected:
        if counts[organ] == 0:
            # Grid too coarse for this organ: keep it as one voxel so that the label set is complete.
            idx = grid.voxel_of(painter.centers.get(organ, np.zeros(3)))
            painter.label[idx] = organ
            fallback.append(organ)
    tissue, label = painter.tissue, painter.label
    del painter, grid  # free the coordinate arrays before the intensity stage
    image = _intensities(tissue, modality, contrast or "CT", rng)

    if out_dtype == "int16":
        image = np.clip(np.rint(image), -1024, 3071).astype(np.int16)
    elif out_dtype == "uint16":
        image = np.clip(np.rint(image), 0, 65535).astype(np.uint16)
    else:
        image = image.astype(np.float32, copy=False)

    # World placement: scanner-like table position; then reorient the arrays with nibabel.
    import nibabel as nib
    from nibabel import orientations as nio

    center = np.array([rng.uniform(-10, 10), rng.uniform(-40, 40), rng.uniform(-600, -100)])
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = center - affine[:3, :3] @ ((np.array([nx, ny, nz]) - 1) / 2)
    if orientation != "RAS":
        xform = nio.ornt_transform(nio.axcodes2ornt("RAS"), nio.axcodes2ornt(tuple(orientation)))
        affine = affine @ nio.inv_ornt_aff(xform, (nx, ny, nz))
        image = np.ascontiguousarray(nio.apply_orientation(image, xform))
        label = np.ascontiguousarray(nio.apply_orientation(label, xform))
    present = [int(i) for i in np.flatnonzero(np.bincount(label.ravel(), minlength=NUM_CLASSES)) if i > 0]
    info = {
        "number": number,
        "modality": modality,
        "sex": sex,
        "spacing": tuple(float(s) for s in spacing),
        "shape": (nx, ny, nz),
        "orientation": orientation,
        "dtype": out_dtype,
        "mr_contrast": contrast,
        "has_gallbladder": bool(has_gallbladder),
        "has_prostate_uterus": bool(has_prostate_uterus),
        "scale_xy": float(s_xy),
        "scale_z": float(s_z),
        "organs": present,
        "fallback_organs": fallback,
    }
    return SyntheticCase(image, label, affine, info)


# --------------------------------------------------------------------------------------------------
# The dataset: case plan, files, metadata.
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _CasePlan:
    number: int
    split: str
    modality: str
    sex: str
    orientation: str
    image_dtype: str | None
    has_gallbladder: bool
    has_prostate_uterus: bool
    metadata: dict[str, Any]

    @property
    def case_id(self) -> str:
        return f"amos_{self.number:04d}"


def _split_sizes(n: int, splits: Sequence[str] = SPLITS) -> tuple[int, int, int]:
    if tuple(splits) == SPLITS:
        n_train = (n + 1) // 2
        n_val = (n - n_train + 1) // 2
        return n_train, n_val, n - n_train - n_val
    # Some splits only: the same 2:1:1 shares among them, remainders to the earlier splits.
    weights = [_SPLIT_WEIGHTS[s] if s in splits else 0 for s in SPLITS]
    total = sum(weights)
    sizes = [n * w // total for w in weights]
    chosen = [i for i, w in enumerate(weights) if w]
    for i in sorted(chosen, key=lambda i: (-(n * weights[i] % total), i))[: n - sum(sizes)]:
        sizes[i] += 1
    return sizes[0], sizes[1], sizes[2]


def _mri_count(n_cases: int, modalities: Sequence[str]) -> int:
    if tuple(modalities) == ("CT",):
        return 0
    if tuple(modalities) == ("MRI",):
        return n_cases
    n_mri = 0 if n_cases < 4 else min(len(_MRI_IDS), max(1, int(0.2 * n_cases + 0.5)))
    return max(n_mri, n_cases - len(_CT_IDS))


def _plan_cases(
    n_cases: int, seed: int, modalities: Sequence[str] = MODALITIES, splits: Sequence[str] = SPLITS
) -> list[_CasePlan]:
    """Ids, splits, modalities, sexes, missing organs and metadata of every case."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x414D4F53]))
    sizes = _split_sizes(n_cases, splits)
    n_mri = _mri_count(n_cases, modalities)
    # MRI per split in proportion, at least one in training.
    m_train = min(sizes[0], max(1 if n_mri else 0, int(n_mri * sizes[0] / n_cases + 0.5)))
    rest = n_mri - m_train
    m_val = min(sizes[1], int(rest * sizes[1] / max(sizes[1] + sizes[2], 1) + 0.5))
    m_test = rest - m_val
    if m_test > sizes[2]:  # only when MRI outnumber the test slots: push the excess back
        extra = m_test - sizes[2]
        m_test = sizes[2]
        move = min(extra, sizes[1] - m_val)
        m_val += move
        m_train += extra - move
    # CT ids per split from the release's ranges: labelled (training, validation) <= 409, test from the rest.
    n_ct_labelled = sizes[0] - m_train + sizes[1] - m_val
    assert n_ct_labelled <= len(_CT_LABELLED_IDS), n_ct_labelled  # at most ~75% of 499 CT cases
    labelled_ct = rng.choice(np.array(_CT_LABELLED_IDS), size=n_ct_labelled, replace=False)
    free_ct = np.setdiff1d(np.array(_CT_IDS), labelled_ct)
    test_ct = rng.choice(free_ct, size=sizes[2] - m_test, replace=False)
    n_ct_train = sizes[0] - m_train
    ct_by_split = {
        "training": list(labelled_ct[:n_ct_train]), "validation": list(labelled_ct[n_ct_train:]), "test": list(test_ct),
    }
    mri_ids = list(rng.choice(np.array(_MRI_IDS), size=n_mri, replace=False))
    rows = []
    for split, size, m in zip(("training", "validation", "test"), sizes, (m_train, m_val, m_test)):
        ct_ids = ct_by_split[split]
        numbers = [(int(mri_ids.pop()), "MRI") for _ in range(m)] + [(int(ct_ids.pop()), "CT") for _ in range(size - m)]
        rows += [(num, split, mod) for num, mod in sorted(numbers)]

    n = len(rows)
    sex = ["M" if s else "F" for s in rng.random(n) < 0.5]
    orient = ["LPS" if r < (0.7 if mod == "CT" else 0.5) else "RAS" for r, (_, _, mod) in zip(rng.random(n), rows)]
    dtypes = [_MR_DTYPES[int(i)] if mod == "MRI" else None for i, (_, _, mod) in zip(rng.integers(0, 2, n), rows)]
    gall = list(rng.random(n) >= 0.15)
    pu = list(rng.random(n) >= 0.15)
    labelled = [i for i, (_, split, _) in enumerate(rows) if split != "test"]
    # Guarantee the variety that chapters and tests rely on, among cases that have labels.
    if len(labelled) >= 3:
        order = [labelled[i] for i in rng.permutation(len(labelled))]
        if all(gall[i] for i in labelled):
            gall[order[0]] = False
        if not any(gall[i] for i in labelled):
            gall[order[0]] = True
        # A different case (one with a gallbladder) loses label 15, so both absences are seen apart.
        if all(pu[i] for i in labelled):
            pu[next(i for i in order if gall[i])] = False
        if not any(pu[i] for i in labelled):
            pu[order[-1]] = True
        if len({sex[i] for i in labelled if pu[i]}) == 1 and sum(pu[i] for i in labelled) >= 2:
            j = next(i for i in order if pu[i])
            sex[j] = "F" if sex[j] == "M" else "M"
    if n >= 2 and len(set(orient)) == 1:
        j = int(rng.integers(n))
        orient[j] = "RAS" if orient[j] == "LPS" else "LPS"
    mri_rows = [i for i, (_, _, mod) in enumerate(rows) if mod == "MRI"]
    if len(mri_rows) >= 2 and len({dtypes[i] for i in mri_rows}) == 1:
        dtypes[mri_rows[0]] = "uint16" if dtypes[mri_rows[0]] == "float32" else "float32"

    plans = []
    for i, (num, split, mod) in enumerate(rows):
        scanners = CT_SCANNER_MAKERS if mod == "CT" else MRI_SCANNER_MAKERS
        model = list(scanners)[int(rng.integers(len(scanners)))]
        manufacturer, site = scanners[model]
        acquired = date(2016, 1, 1) + timedelta(days=int(rng.integers(0, 6 * 365)))
        age = int(rng.integers(22, 86))
        born = acquired - timedelta(days=int(age * 365.25 + rng.integers(1, 360)))
        age = acquired.year - born.year - ((acquired.month, acquired.day) < (born.month, born.day))
        meta = {
            "amos_id": num,
            "Patient's Birth Date": born.strftime("%Y%m%d"),
            "Patient's Sex": sex[i],
            "Patient's Age": f"{age:03d}Y",
            "Manufacturer's Model Name": model,
            "Manufacturer": manufacturer,
            "Acquisition Date": acquired.strftime("%Y%m%d"),
            "Site": site,
        }
        plans.append(_CasePlan(num, split, mod, sex[i], orient[i], dtypes[i], bool(gall[i]), bool(pu[i]), meta))
    return plans


def _dataset_json(plans: list[_CasePlan], seed: int) -> dict[str, Any]:
    from amos_tutorial import __version__

    entries: dict[str, list] = {s: [] for s in _SPLIT_FOLDERS}
    for plan in plans:
        img_dir, lab_dir = _SPLIT_FOLDERS[plan.split]
        entry = {"image": f"./{img_dir}/{plan.case_id}.nii.gz"}
        if lab_dir:
            entry["label"] = f"./{lab_dir}/{plan.case_id}.nii.gz"
        entries[plan.split].append(entry)
    return {
        "description": (
            f"Synthetic mini-AMOS generated by amos_tutorial {__version__} (seed {seed}): "
            "NOT patient data; same layout as the AMOS 2022 release"
        ),
        "labels": dataset_json_labels(),
        "licence": "CC-BY-SA 4.0",
        "release": f"synthetic-{__version__}",
        "numTraining": len(entries["training"]),
        "numValidation": len(entries["validation"]),
        "numTest": len(entries["test"]),
        "training": entries["training"],
        "validation": entries["validation"],
        "test": entries["test"],
    }


def _metadata_csv(plans: list[_CasePlan]) -> str:
    import pandas as pd

    rows = sorted((p.metadata for p in plans), key=lambda m: m["amos_id"])
    return pd.DataFrame(rows, columns=list(METADATA_COLUMNS)).to_csv(index=False)


def _readme(
    plans: list[_CasePlan], seed: int, max_shape: tuple[int, int, int], splits: Sequence[str] = SPLITS,
    metadata: bool = True, modalities: Sequence[str] = MODALITIES,
) -> str:
    counts = {s: sum(p.split == s for p in plans) for s in _SPLIT_FOLDERS}
    n_mri = sum(p.modality == "MRI" for p in plans)
    folders = {
        "training": "- `imagesTr/`, `labelsTr/`: training images and labels (`amos_XXXX.nii.gz`)\n",
        "validation": "- `imagesVa/`, `labelsVa/`: validation images and labels\n",
        "test": "- `imagesTs/`: test images (no labels)\n",
    }
    listing = "".join(folders[s] for s in SPLITS if s in splits)
    listing += '- `dataset.json`: the release\'s keys and label names (typos included: "arota", "postcava")\n'
    if metadata:
        listing += f"- `{METADATA_CSV_NAME}`: per-case metadata with the real column names (all splits)\n"
    variant = ""
    if tuple(splits) != SPLITS or not metadata or tuple(modalities) != MODALITIES:
        missing = [f"the {m} cases" for m in MODALITIES if m not in modalities]
        missing += [f"the {s} split" for s in SPLITS if s not in splits]
        if not metadata:
            missing.append(f"the metadata CSV `{METADATA_CSV_NAME}`")
        variant = (
            f"\nThis is a *variant* with parts of the release left out ({', '.join(missing)}), as in a copy "
            "without the separate metadata download, or one that keeps a subset.\n"
        )
    return f"""# Synthetic mini-AMOS (NOT real patient data)

Generated by `amos_tutorial.data.synthetic` (`amos data synth`) with seed {seed}: {len(plans)} cases
({len(plans) - n_mri} CT-like, {n_mri} MRI-like), {counts['training']} training, {counts['validation']}
validation, {counts['test']} test, shapes up to {max_shape[0]}x{max_shape[1]}x{max_shape[2]}.

The layout copies the AMOS 2022 release so that code written against this folder runs on the real data:

{listing}{variant}
Ids below 500 are CT, ids 501-599 MRI, as in the release (id 500 is never used); labelled CT ids stay
at or below 409 and test CT ids take the rest, as in the release (nnU-Net's Task 1 converter relies on it). CT intensities are
Hounsfield units (int16); MRI intensities have an arbitrary scale (float32 or uint16).

The anatomy is a simplified, scaled-down abdomen: organs are smooth ellipsoids and tubes placed at
plausible relative positions, scaled to fit a small field of view (in-plane and craniocaudal scales
may differ). Use it to learn and test the pipeline, never to judge a model's accuracy.
"""


def _check_subset(values: Any, allowed: tuple[str, ...], name: str) -> tuple[str, ...]:
    """A non-empty subset of ``allowed`` (a sequence or a comma-separated string), in ``allowed`` order."""
    items = values.split(",") if isinstance(values, str) else list(values)
    items = [str(v).strip() for v in items if str(v).strip()]
    bad = [v for v in items if v not in allowed]
    if bad or not items:
        raise ValueError(f"{name} must be a non-empty subset of {', '.join(allowed)}, got {values!r}")
    return tuple(a for a in allowed if a in items)


def _check_target(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ValueError(f"{out}: folder exists and is not empty; use overwrite=True (--overwrite) to replace it")


def _move_into_place(tmp: Path, out: Path, overwrite: bool) -> None:
    """Rename the finished folder onto ``out``; an old ``out`` is removed only after the swap."""
    _check_target(out, overwrite)
    old = None
    if out.is_dir():
        if any(out.iterdir()):
            old = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
            os.rename(out, old)
        else:
            out.rmdir()
    try:
        os.rename(tmp, out)
    except OSError as exc:
        if old is not None:
            with contextlib.suppress(OSError):
                os.rename(old, out)
        raise ValueError(
            f"{out}: cannot move the generated set into place ({exc}); another process may be writing it"
        ) from exc
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def generate_synthetic_dataset(
    out_dir: str | os.PathLike,
    n_cases: int = 16,
    seed: int = 0,
    max_shape: Sequence[int] = DEFAULT_MAX_SHAPE,
    overwrite: bool = False,
    *,
    progress: bool = False,
    modalities: Sequence[str] = MODALITIES,
    splits: Sequence[str] = SPLITS,
    metadata: bool = True,
) -> Path:
    """Write a synthetic mini-AMOS set in the release layout.

    Introduced in chapter *Getting the data*; built on :func:`synthesize_case` (numpy, scipy),
    nibabel (NIfTI files, through :func:`amos_tutorial.utils.io.save_nifti`) and pandas (metadata
    CSV). About 50% of the cases go to training, 25% to validation and 25% to test; about 20% are
    MRI-like (at least one in training when ``n_cases >= 4``). The set is generated into a temporary
    folder beside ``out_dir`` and renamed into place when complete, so a cache is never half-written.

    ``modalities``, ``splits`` and ``metadata`` write the *variants* that real copies often are: CT only
    (Task 1), only the training split, no metadata CSV (a separate download that a manual download
    misses). With their defaults the set is the full synthetic release, the same for the same seed.
    With some splits only, the cases are shared among them 2:1:1 (training:validation:test) and the
    folders of the other splits are not written.

    Args:
        out_dir: Destination folder; it will hold ``dataset.json`` directly.
        n_cases: Number of cases, 1-598.
        seed: Non-negative seed; the same seed gives the same arrays, bit for bit.
        max_shape: Largest (X, Y, Z) image shape, each at least 16.
        overwrite: Replace ``out_dir`` if it exists and is not empty.
        progress: Show a progress bar (tqdm) on stderr.
        modalities: ``("CT",)``, ``("MRI",)`` or both (default): the modalities generated.
        splits: A non-empty subset of :data:`SPLITS` (default all three).
        metadata: Write the metadata CSV (default True).

    Returns:
        ``out_dir`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: If an argument is out of range, or ``out_dir`` exists, is not empty and
            ``overwrite`` is False (the message starts with the path).
        RuntimeError: If a case cannot be generated (the message names the case).

    Examples:
        >>> import tempfile, pathlib, json
        >>> root = generate_synthetic_dataset(pathlib.Path(tempfile.mkdtemp()) / "mini", n_cases=4,
        ...                                   max_shape=(32, 32, 16))
        >>> json.loads((root / "dataset.json").read_text())["numTraining"]
        2
    """
    from amos_tutorial.utils.io import atomic_write_text, save_nifti

    try:
        n_cases = int(n_cases)
        seed = int(seed)
    except (TypeError, ValueError):
        raise ValueError(f"n_cases and seed must be integers, got {n_cases!r} and {seed!r}") from None
    modalities, splits = _check_subset(modalities, MODALITIES, "modalities"), _check_subset(splits, SPLITS, "splits")
    limit = {("CT",): len(_CT_IDS), ("MRI",): len(_MRI_IDS)}.get(modalities, _MAX_CASES)
    if not 1 <= n_cases <= limit:
        raise ValueError(
            f"n_cases must be 1-{limit} for modalities {'+'.join(modalities)} "
            f"(CT ids 1-499, MRI ids 501-599), got {n_cases}"
        )
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    max_shape = _check_shape3(max_shape, "max_shape", 16)
    out = Path(out_dir).expanduser()
    _check_target(out, overwrite)
    plans = _plan_cases(n_cases, seed, modalities, splits)

    out.parent.mkdir(parents=True, exist_ok=True)
    # mkdir (not mkdtemp) so that the folder gets the user's umask permissions, not 0700.
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:12]}"
    tmp.mkdir()
    try:
        for img_dir, lab_dir in (_SPLIT_FOLDERS[s] for s in splits):
            (tmp / img_dir).mkdir()
            if lab_dir:
                (tmp / lab_dir).mkdir()
        iterator = plans
        if progress:
            from tqdm.auto import tqdm

            iterator = tqdm(plans, desc="synthetic mini-AMOS", unit="case", file=sys.stderr)
        for plan in iterator:
            img_dir, lab_dir = _SPLIT_FOLDERS[plan.split]
            try:
                case = synthesize_case(
                    plan.number, plan.modality, plan.sex, seed=seed, max_shape=max_shape,
                    orientation=plan.orientation, image_dtype=plan.image_dtype,
                    has_gallbladder=plan.has_gallbladder, has_prostate_uterus=plan.has_prostate_uterus,
                )
                save_nifti(case.image, case.affine, tmp / img_dir / f"{plan.case_id}.nii.gz")
                if lab_dir:
                    save_nifti(case.label, case.affine, tmp / lab_dir / f"{plan.case_id}.nii.gz", dtype=np.uint8)
            except Exception as exc:
                raise RuntimeError(
                    f"{out / img_dir / plan.case_id}.nii.gz: generation failed ({type(exc).__name__}: {exc})"
                ) from exc
        atomic_write_text(tmp / "dataset.json", json.dumps(_dataset_json(plans, seed), indent=4) + "\n")
        if metadata:
            atomic_write_text(tmp / METADATA_CSV_NAME, _metadata_csv(plans))
        atomic_write_text(tmp / "readme.md", _readme(plans, seed, max_shape, splits, metadata, modalities))
        _move_into_place(tmp, out, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
