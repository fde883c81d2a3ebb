"""Slice views with label overlays, in the right orientation and aspect ratio.

Introduced in chapter *Exploring the data*; builds on nibabel (reorientation) and matplotlib.

AMOS stores volumes as (X, Y, Z) arrays whose axes may point in any anatomical direction (the
affine says which). Showing ``array[:, :, k]`` directly gives mirrored or rotated pictures and, with
5 mm slices, squashed coronal and sagittal views. Every view here therefore:

1. reorients the volume to the closest canonical **RAS+** orientation with
   :func:`nibabel.as_closest_canonical` (array axes point to the patient's Right, Anterior, Superior);
2. draws it in the **radiological convention**: the patient's right is on the left of the screen in
   axial and coronal views (as if looking up from the feet / facing the patient), anterior is at the
   top of axial views and on the left of sagittal views, superior is at the top of coronal and
   sagittal views;
3. sets the pixel aspect ratio from the voxel spacing, so that millimetres look the same in both
   directions of every panel.

Label colours come from :mod:`amos_tutorial.labels`, so an organ has the same colour in every figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from amos_tutorial.labels import LABELS, NUM_CLASSES, label_colormap
from amos_tutorial.utils.geometry import spacing_from_affine
from amos_tutorial.utils.options import with_settings
from amos_tutorial.viz._figure import new_figure

__all__ = [
    "CT_WINDOWS",
    "PLANES",
    "CanonicalVolume",
    "SliceOptions",
    "display_slice",
    "organ_legend_handles",
    "plane_aspect",
    "plane_directions",
    "show_case",
    "show_cases",
    "show_slices",
    "slice_position",
    "to_canonical",
    "window_limits",
]

PLANES = ("axial", "coronal", "sagittal")
# Window (level, width) in Hounsfield units: classic radiology presets for the abdomen.
CT_WINDOWS: dict[str, tuple[float, float]] = {
    "abdomen": (40.0, 400.0),
    "liver": (60.0, 160.0),
    "bone": (400.0, 1800.0),
    "lung": (-600.0, 1500.0),
}
_PERCENTILE_SAMPLE = 1_000_000
# Array axis fixed by each plane in RAS order, and (row, column) anatomical directions on screen.
_PLANE_AXIS = {"axial": 2, "coronal": 1, "sagittal": 0}
_DIRECTIONS = {
    # plane: (top, bottom, left, right) as seen on screen, radiological convention
    "axial": ("A", "P", "R", "L"),
    "coronal": ("S", "I", "R", "L"),
    "sagittal": ("S", "I", "A", "P"),
}


@dataclass(frozen=True)
class CanonicalVolume:
    """A volume (and optional label map) reoriented to RAS+.

    Attributes:
        image: Image array, axes (R, A, S).
        label: Label array on the same grid, or None.
        affine: The canonical voxel-to-world affine.
        spacing: Voxel size (mm) along the three array axes.
        original_axcodes: Orientation codes of the input, e.g. ``("L", "P", "S")``.
    """

    image: np.ndarray
    label: np.ndarray | None
    affine: np.ndarray
    spacing: tuple[float, float, float]
    original_axcodes: tuple[str, str, str]


def _check_plane(plane: str) -> str:
    if plane not in PLANES:
        raise ValueError(f"plane must be one of {PLANES}, got {plane!r}")
    return plane


def to_canonical(
    image: np.ndarray, affine: np.ndarray | None = None, label: np.ndarray | None = None
) -> CanonicalVolume:
    """Reorient an image (and its label map) to the closest canonical RAS+ orientation.

    Introduced in chapter *Exploring the data*; builds on :func:`nibabel.as_closest_canonical`,
    which only flips and permutes axes (no resampling), so label values stay exact.

    Args:
        image: 3-D array in the axis order of ``affine``.
        affine: 4x4 voxel-to-world matrix (RAS+ mm, as in NIfTI). None means identity (1 mm, RAS).
        label: Optional label map with the same shape as ``image``.

    Returns:
        A :class:`CanonicalVolume`.

    Raises:
        ValueError: If the image is not 3-D, the affine is not 4x4, or the label shape differs.

    Examples:
        >>> vol = to_canonical(np.zeros((4, 5, 6)), np.diag([-1.0, -1.0, 2.0, 1.0]))
        >>> vol.spacing, vol.original_axcodes
        ((1.0, 1.0, 2.0), ('L', 'P', 'S'))
    """
    import nibabel as nib

    image = np.asarray(image)
    if image.ndim != 3:
        raise ValueError(f"image must be 3-D, got shape {image.shape}")
    affine = np.eye(4) if affine is None else np.asarray(affine, dtype=np.float64)
    if affine.shape != (4, 4):
        raise ValueError(f"affine must be 4x4, got shape {affine.shape}")
    if label is not None:
        label = np.asarray(label)
        if label.shape != image.shape:
            raise ValueError(f"label shape {label.shape} differs from image shape {image.shape}")
    codes = tuple(nib.aff2axcodes(affine))
    canon = nib.as_closest_canonical(nib.Nifti1Image(image, affine))
    out_label = None
    if label is not None:
        # Labels are stored as uint8 so nibabel does not touch their values.
        out_label = np.asanyarray(nib.as_closest_canonical(nib.Nifti1Image(label.astype(np.uint8), affine)).dataobj)
    spacing = spacing_from_affine(canon.affine)
    return CanonicalVolume(np.asanyarray(canon.dataobj), out_label, canon.affine, spacing, codes)  # type: ignore[arg-type]


def display_slice(volume: np.ndarray, plane: str, index: int) -> np.ndarray:
    """Cut a slice out of a RAS+ volume and orient it for display in the radiological convention.

    Introduced in chapter *Exploring the data*; plain numpy indexing. Row 0 of the result is the top
    of the screen (``imshow`` with ``origin="upper"``), see :func:`plane_directions`.

    Args:
        volume: 3-D array with axes (R, A, S), e.g. ``CanonicalVolume.image``.
        plane: ``"axial"``, ``"coronal"`` or ``"sagittal"``.
        index: Slice index along the axis the plane fixes (S for axial, A for coronal, R for sagittal).

    Returns:
        A 2-D array ready for ``imshow``.

    Raises:
        ValueError: For an unknown plane, a non-3-D volume or an index out of range.

    Examples:
        >>> v = np.zeros((3, 4, 5)); v[2, 0, 0] = 1    # rightmost, most posterior voxel
        >>> np.argwhere(display_slice(v, "axial", 0)).tolist()   # bottom row, left column
        [[3, 0]]
    """
    _check_plane(plane)
    volume = np.asarray(volume)
    if volume.ndim != 3:
        raise ValueError(f"volume must be 3-D, got shape {volume.shape}")
    axis = _PLANE_AXIS[plane]
    if not 0 <= int(index) < volume.shape[axis]:
        raise ValueError(f"{plane} slice index {index} outside 0..{volume.shape[axis] - 1}")
    # Basic indexing gives a view; np.take would copy through the whole (strided) volume.
    cut = volume[(slice(None),) * axis + (int(index),)]
    # After the transpose rows follow the later RAS axis (A or S) and columns the earlier one
    # (R or A); flipping both puts A/S at the top and R/A on the left.
    return cut.T[::-1, ::-1]


def plane_aspect(spacing: Sequence[float], plane: str) -> float:
    """The ``imshow`` aspect (pixel height / width) of a plane, from the RAS voxel spacing.

    Introduced in chapter *Exploring the data*.

    Args:
        spacing: Voxel size (mm) along R, A, S.
        plane: ``"axial"``, ``"coronal"`` or ``"sagittal"``.

    Returns:
        The aspect ratio.

    Examples:
        >>> plane_aspect((0.7, 0.7, 5.0), "coronal")  # 5 mm slices are 7x taller than wide
        7.142857142857143
    """
    _check_plane(plane)
    sx, sy, sz = (float(s) for s in spacing)
    return {"axial": sy / sx, "coronal": sz / sx, "sagittal": sz / sy}[plane]


def plane_directions(plane: str) -> tuple[str, str, str, str]:
    """Anatomical directions at the (top, bottom, left, right) of a displayed plane.

    Introduced in chapter *Exploring the data* (radiological convention, see the module docstring).

    Args:
        plane: ``"axial"``, ``"coronal"`` or ``"sagittal"``.

    Returns:
        Four letters among R/L, A/P, S/I.

    Raises:
        ValueError: For an unknown plane.

    Examples:
        >>> plane_directions("axial")
        ('A', 'P', 'R', 'L')
    """
    return _DIRECTIONS[_check_plane(plane)]


def window_limits(
    image: np.ndarray, window: str | tuple[float, float] | None = "auto", modality: str | None = None
) -> tuple[float, float]:
    """Display limits (vmin, vmax) for an image.

    Introduced in chapter *Exploring the data*. CT values are Hounsfield units, so fixed
    level/width windows work; MRI intensities have no absolute scale, so percentiles are used.

    Args:
        image: The image (any shape).
        window: ``"auto"`` (abdomen window for CT, 0.5-99.5 percentiles otherwise), a preset name of
            :data:`CT_WINDOWS`, ``"percentile"`` / None (0.5-99.5 percentiles), or ``(level, width)``.
        modality: ``"CT"`` or ``"MRI"``; only used by ``"auto"``.

    Returns:
        ``(vmin, vmax)``.

    Raises:
        ValueError: For an unknown preset or a non-positive width.

    Examples:
        >>> window_limits(np.zeros(3), "abdomen")
        (-160.0, 240.0)
    """
    if window == "auto":
        window = "abdomen" if modality == "CT" else "percentile"
    if window is None or window == "percentile":
        values = np.asarray(image).reshape(-1)
        if values.size > _PERCENTILE_SAMPLE:
            # Display limits do not need every voxel: a fixed random subsample is ~50x faster on a full CT.
            values = values[np.random.default_rng(0).integers(0, values.size, _PERCENTILE_SAMPLE)]
        lo, hi = np.percentile(values, [0.5, 99.5])
        return float(lo), float(hi if hi > lo else lo + 1)
    if isinstance(window, str):
        if window not in CT_WINDOWS:
            raise ValueError(
                f"unknown window {window!r}; use 'auto', 'percentile', (level, width) or one of {sorted(CT_WINDOWS)}"
            )
        window = CT_WINDOWS[window]
    level, width = (float(v) for v in window)
    if width <= 0:
        raise ValueError(f"window width must be positive, got {width}")
    return level - width / 2, level + width / 2


def slice_position(vol: CanonicalVolume, organ: int | None = None) -> tuple[int, int, int]:
    """Voxel (R, A, S) position that the three planes cut through.

    Introduced in chapter *Exploring the data*; builds on :func:`scipy.ndimage.center_of_mass`.

    Args:
        vol: A canonical volume.
        organ: Label id to centre on; None centres on all labelled voxels, or on the volume centre
            when there is no label map or it is empty.

    Returns:
        Integer voxel indices.

    Raises:
        ValueError: If ``organ`` is given but absent from the label map.
    """
    from scipy import ndimage

    centre = tuple(s // 2 for s in vol.image.shape)
    if vol.label is None:
        if organ is not None:
            raise ValueError(f"organ={organ} needs a label map")
        return centre  # type: ignore[return-value]
    mask = vol.label == organ if organ is not None else vol.label > 0
    if not mask.any():
        if organ is not None:
            raise ValueError(f"organ {organ} ({LABELS[int(organ)].name}) is absent from this label map")
        return centre  # type: ignore[return-value]
    com = ndimage.center_of_mass(mask)
    return tuple(round(c) for c in com)  # type: ignore[return-value]


def organ_legend_handles(label_ids: Sequence[int] | None = None) -> list[Any]:
    """Matplotlib legend patches with the fixed organ colours.

    Introduced in chapter *Exploring the data*; builds on :class:`matplotlib.patches.Patch` and
    :mod:`amos_tutorial.labels`.

    Args:
        label_ids: Ids to include (default: organs 1-15).

    Returns:
        A list of :class:`matplotlib.patches.Patch`.
    """
    from matplotlib.patches import Patch

    ids = range(1, NUM_CLASSES) if label_ids is None else label_ids
    return [
        Patch(facecolor=LABELS[int(i)].color, edgecolor="none", label=f"{int(i)} {LABELS[int(i)].name}")
        for i in ids
        if int(i) > 0
    ]


@dataclass(frozen=True)
class SliceOptions:
    """How :func:`show_slices` draws: which planes, the window, the overlay and the figure's decorations.

    Introduced in chapter *Exploring the data*.

    Attributes:
        planes: Which planes to draw, in order.
        window: Intensity window, see :func:`window_limits`.
        modality: ``"CT"`` or ``"MRI"``, picks the automatic window.
        alpha: Opacity of the label overlay.
        legend: Add a legend of the organs visible in the drawn slices.
        orientation_labels: Write the anatomical directions (R/L, A/P, S/I) at the panel edges.
        title: Figure title.
        panel_size: Height in inches of one panel when a new figure is made.
    """

    planes: Sequence[str] = PLANES
    window: str | tuple[float, float] | None = "auto"
    modality: str | None = None
    alpha: float = 0.45
    legend: bool = True
    orientation_labels: bool = True
    title: str | None = None
    panel_size: float = 3.4


def show_slices(
    image: np.ndarray,
    label: np.ndarray | None = None,
    affine: np.ndarray | None = None,
    *,
    position: Sequence[int] | None = None,
    organ: int | None = None,
    axes: Sequence[Any] | None = None,
    options: SliceOptions | None = None,
    **settings: Any,
):
    """Axial, coronal and sagittal views of a volume with its label overlay.

    Introduced in chapter *Exploring the data*; builds on nibabel (reorientation to RAS+) and
    matplotlib. See the module docstring for the orientation convention.

    Args:
        image: 3-D image array in the axis order of ``affine``.
        label: Optional label map (0-15) on the same grid.
        affine: Voxel-to-world matrix of the file (None: identity).
        position: Voxel (R, A, S) position in the *canonical* volume the planes cut through; default
            from :func:`slice_position`.
        organ: Centre the planes on this organ id (ignored when ``position`` is given).
        axes: Existing matplotlib axes, one per plane (the figure is taken from the first).
        options: How to draw (:class:`SliceOptions`: planes, window, modality, alpha, legend,
            orientation labels, title, panel size).
        **settings: Fields of :class:`SliceOptions` given as keywords (``modality="CT"``, ``alpha=0.3``...);
            they override ``options``.

    Returns:
        The matplotlib Figure.

    Raises:
        ValueError: For bad planes, shapes, positions or windows.
        TypeError: For a keyword that is not a field of :class:`SliceOptions`.

    Examples:
        >>> img, aff = load_nifti(case.image)                   # doctest: +SKIP
        >>> show_slices(img, load_nifti(case.label)[0], aff, modality="CT")  # doctest: +SKIP
    """
    o = with_settings(SliceOptions, options, settings)
    window, modality, alpha, legend, title, panel_size = o.window, o.modality, o.alpha, o.legend, o.title, o.panel_size
    orientation_labels = o.orientation_labels
    planes = [_check_plane(p) for p in o.planes]
    if not planes:
        raise ValueError("planes must name at least one plane")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    if label is not None:
        lab = np.asarray(label)
        if lab.size and (lab.min() < 0 or lab.max() >= NUM_CLASSES):
            raise ValueError(f"label values must lie in 0-{NUM_CLASSES - 1}, found {lab.min()}..{lab.max()}")
    vol = to_canonical(image, affine, label)
    if position is None:
        position = slice_position(vol, organ)
    position = tuple(int(p) for p in position)
    if len(position) != 3:
        raise ValueError(f"position must be 3 voxel indices (R, A, S), got {position}")
    vmin, vmax = window_limits(vol.image, window, modality)

    if axes is None:
        fig = new_figure(
            (panel_size * len(planes) * 1.05, panel_size + (0.9 if legend and label is not None else 0.3))
        )
        axes = fig.subplots(1, len(planes), squeeze=False)[0]
    else:
        axes = list(axes)
        if len(axes) != len(planes):
            raise ValueError(f"got {len(axes)} axes for {len(planes)} planes")
        fig = axes[0].figure
    cmap = label_colormap()
    visible: set[int] = set()
    for ax, plane in zip(axes, planes):
        index = position[_PLANE_AXIS[plane]]
        aspect = plane_aspect(vol.spacing, plane)
        ax.imshow(
            display_slice(vol.image, plane, index),
            cmap="gray",
            vmin=vmin,
            vmax=vmax,
            aspect=aspect,
            interpolation="antialiased",
        )
        if vol.label is not None:
            lab2d = display_slice(vol.label, plane, index)
            visible.update(int(v) for v in np.unique(lab2d) if v > 0)
            ax.imshow(
                np.ma.masked_equal(lab2d, 0),
                cmap=cmap,
                vmin=0,
                vmax=NUM_CLASSES - 1,
                alpha=alpha,
                aspect=aspect,
                interpolation="nearest",
            )
        ax.set_title(f"{plane} (slice {index})", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        if orientation_labels:
            top, bottom, left, right = plane_directions(plane)
            style = {"color": "yellow", "fontsize": 9, "fontweight": "bold", "transform": ax.transAxes}
            ax.text(0.5, 0.98, top, ha="center", va="top", **style)
            ax.text(0.5, 0.02, bottom, ha="center", va="bottom", **style)
            ax.text(0.02, 0.5, left, ha="left", va="center", **style)
            ax.text(0.98, 0.5, right, ha="right", va="center", **style)
    if legend and visible:
        fig.legend(
            handles=organ_legend_handles(sorted(visible)),
            loc="outside lower center",
            ncol=min(5, len(visible)),
            fontsize=8,
            frameon=False,
        )
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def show_case(case: Any, **kwargs: Any):
    """:func:`show_slices` for an :class:`~amos_tutorial.data.layout.AmosCase` (reads its files).

    Introduced in chapter *Exploring the data*; builds on nibabel via
    :func:`amos_tutorial.utils.io.load_nifti`.

    Args:
        case: A case with ``image``, ``label`` (may be None), ``case_id`` and ``modality``.
        **kwargs: Passed to :func:`show_slices` (``title`` and ``modality`` default from the case).

    Returns:
        The matplotlib Figure.

    Raises:
        ValueError: ``"PATH: problem"`` if a file cannot be read.
    """
    from amos_tutorial.utils.io import load_nifti

    image, affine = load_nifti(case.image)
    label = load_nifti(case.label, dtype=np.uint8)[0] if getattr(case, "label", None) is not None else None
    kwargs.setdefault("modality", getattr(case, "modality", None))
    kwargs.setdefault("title", f"{case.case_id} ({kwargs['modality']}, {getattr(case, 'split', '')})")
    return show_slices(image, label, affine, **kwargs)


def show_cases(
    cases: Sequence[Any],
    plane: str = "axial",
    ncols: int = 4,
    alpha: float = 0.45,
    panel_size: float = 2.6,
):
    """One slice through the organs' centre for each of several cases: a quick visual survey.

    Introduced in chapter *Exploring the data*; builds on nibabel and matplotlib.

    Args:
        cases: Cases with ``image``, ``label``, ``case_id`` and ``modality``.
        plane: ``"axial"``, ``"coronal"`` or ``"sagittal"``.
        ncols: Panels per row.
        alpha: Opacity of the label overlay.
        panel_size: Size in inches of one panel.

    Returns:
        The matplotlib Figure.

    Raises:
        ValueError: If ``cases`` is empty or ``ncols`` < 1.
    """
    from amos_tutorial.utils.io import load_nifti

    _check_plane(plane)
    cases = list(cases)
    if not cases:
        raise ValueError("cases is empty: nothing to show")
    if ncols < 1:
        raise ValueError(f"ncols must be >= 1, got {ncols}")
    ncols = min(ncols, len(cases))
    nrows = -(-len(cases) // ncols)
    fig = new_figure((panel_size * ncols, panel_size * nrows + 0.8))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    visible: set[int] = set()
    for ax, case in zip(axes, cases):
        image, affine = load_nifti(case.image)
        label = load_nifti(case.label, dtype=np.uint8)[0] if getattr(case, "label", None) is not None else None
        show_slices(
            image,
            label,
            affine,
            planes=[plane],
            modality=getattr(case, "modality", None),
            alpha=alpha,
            legend=False,
            axes=[ax],
        )
        if label is not None:
            visible.update(int(v) for v in np.unique(label) if v > 0)
        ax.set_title(f"{case.case_id} ({getattr(case, 'modality', '?')})", fontsize=9)
    for ax in axes[len(cases) :]:
        ax.set_axis_off()
    if visible:
        fig.legend(
            handles=organ_legend_handles(sorted(visible)), loc="outside lower center", ncol=5, fontsize=8, frameon=False
        )
    return fig
