"""Geometry of the synthetic abdomen: voxel coordinates in the reference frame and the shape primitives.

Introduced in chapter *Getting the data*. A :class:`Grid` holds the reference-frame coordinates (mm) of
every voxel, bent by a smooth displacement field; a shape (:class:`Ellipsoid`, :class:`Tube`, their
:class:`ShapeUnion`, a :class:`ZCut` of one) has a bounding box and a *level* that is below 1 inside it.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

__all__ = ["Ellipsoid", "Grid", "ShapeUnion", "Tube", "ZCut", "rotation"]


class Grid:
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


class Ellipsoid:
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

    def level(self, grid: Grid, box: tuple[slice, ...]) -> np.ndarray:
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


class Tube:
    """A chain of capsules through control points with linearly varying radius; ``level < 1`` inside."""

    def __init__(self, points, radii, floor: float = 0.0, k=(1.0, 1.0, 1.0)) -> None:
        k = np.asarray(k, dtype=float)
        self.points = np.asarray(points, dtype=float) * k
        # Isotropic radius under anisotropic habitus scaling: use the in-plane geometric mean.
        self.radii = np.maximum(np.asarray(radii, dtype=float) * np.sqrt(k[0] * k[1]), floor)

    def bbox(self) -> tuple[np.ndarray, np.ndarray]:
        r = self.radii[:, None]
        return (self.points - r).min(axis=0), (self.points + r).max(axis=0)

    def level(self, grid: Grid, box: tuple[slice, ...]) -> np.ndarray:
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


class ShapeUnion:
    """Union of shapes: the minimum of their levels."""

    def __init__(self, parts: Sequence[Any]) -> None:
        self.parts = list(parts)

    def bbox(self) -> tuple[np.ndarray, np.ndarray]:
        boxes = [p.bbox() for p in self.parts]
        return np.min([b[0] for b in boxes], axis=0), np.max([b[1] for b in boxes], axis=0)

    def level(self, grid: Grid, box: tuple[slice, ...]) -> np.ndarray:
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


class ZCut:
    """A shape cut to ``zmin <= Z <= zmax`` (elliptic cylinders of the spine end at the sacrum)."""

    def __init__(self, shape: Any, zmin: float = -np.inf, zmax: float = np.inf) -> None:
        self.shape, self.zmin, self.zmax = shape, zmin, zmax
        self.center = getattr(shape, "center", None)

    def bbox(self) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = (np.array(b, dtype=float) for b in self.shape.bbox())
        lo[2], hi[2] = max(lo[2], self.zmin), min(hi[2], self.zmax)
        return lo, hi

    def level(self, grid: Grid, box: tuple[slice, ...]) -> np.ndarray:
        lev = self.shape.level(grid, box)
        z = grid.Z[box]
        lev[(z < self.zmin) | (z > self.zmax)] = np.inf
        return lev


def rotation(z_deg: float = 0.0, x_deg: float = 0.0, y_deg: float = 0.0) -> np.ndarray:
    """Rotation matrix: about x, then y, then z (degrees)."""
    a, b, c = np.deg2rad([x_deg, y_deg, z_deg])
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return rz @ ry @ rx
