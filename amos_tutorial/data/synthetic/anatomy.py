"""The anatomy of one synthetic case: body, bones and bowel, then the 15 AMOS organs from a table.

Introduced in chapter *Getting the data*. Everything is drawn in millimetres in the reference patient
frame (RAS axes: ``+x`` the patient's right, ``+y`` anterior, ``+z`` superior; origin in front of the
first lumbar vertebra) onto one :class:`~amos_tutorial.data.synthetic.shapes.Grid`. A :class:`Painter` writes
two maps: AMOS labels and tissues (:mod:`~amos_tutorial.data.synthetic.tissues`). The organs are the table
:data:`ORGANS`, painted in its order (large organs first, so that small ones keep their voxels).

Every random draw happens in a fixed order, so that a seed gives the same case bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from amos_tutorial.data.synthetic.shapes import Ellipsoid, Grid, ShapeUnion, Tube, ZCut, rotation
from amos_tutorial.data.synthetic.tissues import (
    SOLID_TISSUES,
    T_AIR,
    T_ARTERY,
    T_BOWEL_AIR,
    T_BOWEL_FLUID,
    T_BOWEL_WALL,
    T_CORTICAL,
    T_CSF,
    T_DISC,
    T_DUO_AIR,
    T_DUO_FLUID,
    T_FAT,
    T_HEART,
    T_LUNG,
    T_MARROW,
    T_MUSCLE,
    T_ORGAN,
    T_STOMACH_AIR,
    T_STOMACH_FLUID,
    T_TABLE,
    T_UTERUS,
)

__all__ = ["ORGANS", "Blob", "Lumen", "OrganSpec", "Painter", "Pipe", "draw_anatomy"]


class Painter:
    """Paints the reference anatomy into a label map and a tissue map on one grid."""

    def __init__(self, grid: Grid, rng: np.random.Generator, voxel_ref: np.ndarray, k: np.ndarray) -> None:
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
                  bumps=True, scale=1.0) -> Ellipsoid:
        """An ellipsoid of the reference anatomy with this case's random position/size/shape."""
        rng = self.rng
        c = np.asarray(center, dtype=float) + rng.normal(0.0, pos_sd, size=3)
        s = np.asarray(semi, dtype=float) * scale * np.exp(rng.normal(0.0, size_sd, size=3))
        zr, xr, yr = np.asarray(rot_deg, dtype=float) + rng.normal(0.0, rot_sd, size=3) * (1.0, 0.4, 0.4)
        rot = rotation(z_deg=zr, x_deg=xr, y_deg=yr)
        # Floor each local axis at one voxel along the world axis it mostly follows.
        dominant = np.abs(rot).argmax(axis=0)
        floor = self.voxel_ref[dominant] / self.k[dominant]
        return Ellipsoid(c, s, rot, self._jitter_bumps() if bumps else None, floor=floor, k=self.k)

    def tube(self, points, radii, pos_sd=3.0, size_sd=0.08) -> Tube:
        """A tube of the reference anatomy with jittered control points and radii."""
        rng = self.rng
        p = np.asarray(points, dtype=float)
        p = p + rng.normal(0.0, pos_sd, size=p.shape)
        r = np.asarray(radii, dtype=float) * np.exp(rng.normal(0.0, size_sd))
        return Tube(p, r, floor=float(self.voxel_ref[0]) * 0.9, k=self.k)

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


# --------------------------------------------------------------------------------------------------
# The organs as a table: where each one sits in the reference patient and how it varies.
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Blob:
    """An ellipsoid of the reference anatomy, jittered per case by :meth:`Painter.ellipsoid`.

    ``scale`` draws one more size factor before the ellipsoid: ``("uniform", low, high)`` or
    ``("choice", value, ...)``.
    """

    center: tuple[float, float, float]
    semi: tuple[float, float, float]
    rot_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)
    pos_sd: float = 4.0
    size_sd: float = 0.08
    scale: tuple[Any, ...] | None = None


@dataclass(frozen=True)
class Pipe:
    """A tube through control points (mm) with radii, jittered per case by :meth:`Painter.tube`."""

    points: tuple[tuple[float, float, float], ...]
    radii: tuple[float, ...]


@dataclass(frozen=True)
class Lumen:
    """The inside of a hollow organ: fluid where ``level < below``, air above a drawn height (supine)."""

    below: float
    fluid: int
    air: int
    air_above_mm: tuple[float, float]


@dataclass(frozen=True)
class OrganSpec:
    """One AMOS organ of the table :data:`ORGANS`.

    Attributes:
        label: AMOS label id.
        parts: One shape, or several joined into one organ (liver, stomach).
        center: Reference centre of a multi-part organ (where a missing organ's fallback voxel goes).
        tissue: Tissue id (default ``T_ORGAN + label``).
        region: ``"soft"`` (the abdominal cavity) or ``"free"`` (also the mediastinum: vessels, esophagus).
        lumen: The inside of a hollow organ, or None.
        only: ``"gallbladder"``, ``"male"`` or ``"female"``: drawn only for such cases.
    """

    label: int
    parts: tuple[Blob | Pipe, ...]
    center: tuple[float, float, float] | None = None
    tissue: int | None = None
    region: str = "soft"
    lumen: Lumen | None = None
    only: str | None = None

    def drawn_for(self, sex: str, has_gallbladder: bool, has_prostate_uterus: bool) -> bool:
        """Whether this case has the organ."""
        if self.only == "gallbladder":
            return has_gallbladder
        if self.only in ("male", "female"):
            return has_prostate_uterus and sex == ("M" if self.only == "male" else "F")
        return True


ORGANS: tuple[OrganSpec, ...] = (
    OrganSpec(6, (Blob((68, -5, 95), (62, 72, 60), scale=("uniform", 0.9, 1.1)),
                  Blob((-20, 35, 115), (55, 32, 32), rot_deg=(10, 0, 0)),
                  Blob((85, -15, 35), (40, 45, 35))), center=(68.0, -5.0, 95.0)),  # liver
    OrganSpec(7, (Blob((-62, -10, 125), (35, 38, 32)),
                  Blob((-55, 30, 85), (32, 30, 45), rot_deg=(0, -20, 15)),
                  Blob((-5, 50, 55), (38, 18, 18), rot_deg=(20, 0, 0))), center=(-55.0, 25.0, 90.0),
              lumen=Lumen(0.55, T_STOMACH_FLUID, T_STOMACH_AIR, (15, 45))),  # stomach
    # Spleen, with an occasional splenomegaly.
    OrganSpec(1, (Blob((-100, -40, 95), (25, 50, 45), rot_deg=(35, 0, 0), scale=("choice", 1.0, 1.0, 1.0, 1.3)),)),
    # Right kidney lower than the left; hila turned anteromedially.
    OrganSpec(2, (Blob((65, -48, 0), (26, 22, 52), rot_deg=(20, 0, -10)),)),
    OrganSpec(3, (Blob((-65, -48, 22), (26, 22, 52), rot_deg=(-20, 0, 10)),)),
    OrganSpec(13, (Pipe(((25, 45, 50), (45, 25, 42), (55, 5, 25), (55, 0, -10), (35, -5, -28), (0, -5, -32),
                         (-25, 5, -22), (-30, 10, -5)), (11, 12, 12, 12, 11, 11, 10, 10)),),
              lumen=Lumen(0.35, T_DUO_FLUID, T_DUO_AIR, (10, 60))),  # duodenum
    # Pancreas: head in the duodenal C-loop, body across the aorta, tail towards the splenic hilum.
    OrganSpec(10, (Pipe(((30, 12, 10), (10, 22, 18), (-30, 18, 26), (-65, 0, 35), (-85, -20, 42)),
                        (16, 12, 11, 10, 9)),)),
    OrganSpec(4, (Blob((55, 50, 38), (14, 16, 32), rot_deg=(0, -30, 0)),), only="gallbladder"),
    OrganSpec(14, (Blob((0, 45, -158), (42, 32, 32), scale=("uniform", 0.7, 1.15)),)),  # bladder
    OrganSpec(15, (Blob((0, 25, -200), (16, 13, 14)),), only="male"),  # prostate
    OrganSpec(15, (Blob((0, -5, -118), (25, 20, 38), rot_deg=(0, -30, 0)),), tissue=T_UTERUS, only="female"),
    # Vessels and the esophagus run through the mediastinum too.
    OrganSpec(9, (Pipe(((22, -10, 195), (20, -12, 100), (20, -13, 0), (15, -15, -75)), (12, 12, 11, 10)),),
              region="free"),  # inferior vena cava
    OrganSpec(8, (Pipe(((-10, -22, 195), (-14, -19, 100), (-12, -17, 0), (-8, -16, -75)), (12, 11, 10, 9)),),
              region="free"),  # aorta
    OrganSpec(5, (Pipe(((-2, -2, 195), (-10, 3, 150), (-30, 8, 122), (-45, 10, 112)), (8, 8, 8, 8)),),
              region="free"),  # esophagus
    # Adrenals: thin plates above and medial to the kidneys' upper poles.
    OrganSpec(11, (Blob((33, -35, 70), (3, 14, 17), rot_deg=(40, 0, 0), pos_sd=2, size_sd=0.05),)),
    OrganSpec(12, (Blob((-36, -33, 62), (3, 14, 17), rot_deg=(-40, 0, 0), pos_sd=2, size_sd=0.05),)),
)  # fmt: skip


def _shape(p: Painter, part: Blob | Pipe) -> Ellipsoid | Tube:
    """This case's version of one part of the table (its random draws, in order)."""
    if isinstance(part, Pipe):
        return p.tube(part.points, part.radii)
    scale = 1.0
    if part.scale is not None:
        kind, *values = part.scale
        scale = p.rng.uniform(*values) if kind == "uniform" else p.rng.choice(values)
    return p.ellipsoid(part.center, part.semi, rot_deg=part.rot_deg, pos_sd=part.pos_sd, size_sd=part.size_sd,
                       scale=scale)  # fmt: skip


def _paint_organ(p: Painter, organ: OrganSpec, allowed: np.ndarray) -> None:
    shapes = [_shape(p, part) for part in organ.parts]
    shape: Any = shapes[0]
    if len(shapes) > 1:
        shape = ShapeUnion(shapes)
        shape.center = np.array(organ.center) * p.k
    tissue = T_ORGAN + organ.label if organ.tissue is None else organ.tissue
    res = p.paint(shape, tissue, organ.label, allowed=allowed)
    if res and organ.lumen is not None:
        _fill_lumen(p, res, organ.lumen.below, organ.lumen.fluid, organ.lumen.air, organ.lumen.air_above_mm)


def _fill_lumen(p: Painter, res: tuple, below: float, fluid: int, air: int, air_above: float | tuple) -> None:
    """Fluid inside a hollow shape (``level < below``), air above ``air_above`` mm (a range is drawn)."""
    box, lev, inside = res
    lumen = inside & (lev < below)
    t_b = p.tissue[box]
    t_b[lumen] = fluid
    level = p.rng.uniform(*air_above) if isinstance(air_above, tuple) else air_above
    t_b[lumen & (p.grid.Y[box] > level)] = air


# --------------------------------------------------------------------------------------------------
# Body, bones and bowel, then the organs.
# --------------------------------------------------------------------------------------------------
def draw_anatomy(p: Painter, habitus: dict[str, float], sex: str, has_gallbladder: bool,
                 has_pu: bool, modality: str) -> None:
    """Paint body, bones, bowel and the 15 organs (reference frame, mm; +x right, +y anterior).

    Introduced in chapter *Getting the data*.

    Args:
        p: The painter of the case (its grid, generator and maps).
        habitus: Body half-width ``Ac``, anterior/posterior cavity depths ``Bca``/``Bcp``, muscle ``dm``
            and fat ``df``/``dfa`` thicknesses (mm).
        sex: ``"M"`` or ``"F"`` (prostate or uterus as label 15).
        has_gallbladder: Draw label 4.
        has_pu: Draw label 15.
        modality: ``"CT"`` (with the scanner couch) or ``"MRI"``.
    """
    cavity, lev_cavity, lev_muscle = _draw_body(p, habitus, modality)
    _draw_spine_and_pelvis(p, cavity)
    _draw_ribs(p, habitus["Ac"], lev_cavity, lev_muscle)
    del lev_muscle
    solid = np.isin(p.tissue, SOLID_TISSUES)
    free = cavity & ~solid  # where soft tissue may go
    soft = free & (p.tissue != T_LUNG) & (p.tissue != T_HEART)  # where abdominal organs may go
    _draw_bowel(p, soft, free)
    # Large organs first so that small ones keep their voxels.
    for organ in ORGANS:
        if organ.drawn_for(sex, has_gallbladder, has_pu):
            _paint_organ(p, organ, soft if organ.region == "soft" else free)


def _draw_body(p: Painter, habitus: dict[str, float], modality: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Body outline (fat, muscle wall, the CT couch), lung bases and heart; returns the cavity and two levels."""
    Ac, Bca, Bcp, dm, df, dfa = (habitus[k] for k in ("Ac", "Bca", "Bcp", "dm", "df", "dfa"))
    X, Y, Z = p.grid.X, p.grid.Y, p.grid.Z

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
    return cavity, lev_cavity, lev_muscle


def _draw_spine_and_pelvis(p: Painter, cavity: np.ndarray) -> None:
    """Paraspinal and psoas muscles, vertebrae with discs and canal, sacrum and pelvis."""
    rng, t, Z = p.rng, p.tissue, p.grid.Z
    # Muscles: paraspinal (behind the spine) and psoas (beside the lumbar spine).
    yv = -50.0 + rng.normal(0, 3)
    for side in (1, -1):
        p.paint(Ellipsoid((34 * side, yv - 40, 0), (20, 18, 1e4), k=p.k), T_MUSCLE, allowed=cavity)
        p.paint(p.tube([(25 * side, -45, 40), (45 * side, -35, -90), (60 * side, -10, -200)], [6, 22, 18]),
                T_MUSCLE, allowed=cavity)

    # Spine: vertebral bodies with cortex and discs, posterior arch with the canal, sacrum, pelvis.
    disc_phase = rng.uniform(0, 34)

    def column(x: float, y: float, a: float, b: float) -> ZCut:
        return ZCut(Ellipsoid((x, y, 0.0), (a, b, 1e5), k=p.k), zmin=-95.0)

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


def _draw_ribs(p: Painter, Ac: float, lev_cavity: np.ndarray, lev_muscle: np.ndarray) -> None:
    """Ribs: oblique stripes in the muscle wall of the upper abdomen (none at the anterior midline)."""
    g = p.grid
    zr = g.box((-1e4, -1e4, 20.0), (1e4, 1e4, 1e4))
    if zr is not None:
        Xr, Yr, Zr = g.X[zr], g.Y[zr], g.Z[zr]
        ring = (lev_muscle[zr] < 1.0) & (lev_cavity[zr] >= 0.85)
        stripes = np.mod(Zr - 0.45 * Yr + p.rng.uniform(0, 28), 28.0) < 8.0
        where = (Zr > 55.0 + 0.35 * Yr) & ~((np.abs(Xr) < 0.35 * Ac) & (Yr > 0))
        p.tissue[zr][ring & stripes & where] = T_CORTICAL


def _draw_bowel(p: Painter, soft: np.ndarray, free: np.ndarray) -> None:
    """Colon and small-bowel loops (label 0) with fluid and air, and the iliac arteries (label 0)."""
    rng = p.rng
    # Colon: ascending, transverse, descending, sigmoid; air rises anteriorly (supine).
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
            _fill_lumen(p, res, 0.4, T_BOWEL_FLUID, T_BOWEL_AIR, air_level)
    # The iliac arteries continue the aorta below its bifurcation (label 0).
    for side in (1, -1):
        p.paint(p.tube([(-8, -16, -75), (40 * side - 5, -15, -130)], [7, 6]), T_ARTERY, allowed=free)
