"""Figures of the book: slice views with label overlays, dataset plots and an optional 3-D viewer.

Introduced in chapter *Exploring the data*; builds on matplotlib, seaborn, nibabel and (optionally)
itkwidgets. Organ colours are fixed by :mod:`amos_tutorial.labels`, so an organ looks the same in
every figure of every chapter. All functions return a :class:`matplotlib.figure.Figure`.

``viz`` draws only (``tests/test_imports.py`` checks that no module here writes files or times code):
every figure is made by :mod:`amos_tutorial.viz._figure` (one DPI, the palettes, organ tick labels), and
what a figure shows is computed by the package it belongs to (:mod:`amos_tutorial.data.stats`,
:mod:`amos_tutorial.transforms.inspection`, :mod:`amos_tutorial.training.runs`,
:mod:`amos_tutorial.models.overview`, :mod:`amos_tutorial.evaluation`, :mod:`amos_tutorial.benchmark`).

Examples:
    >>> from amos_tutorial import viz
    >>> fig = viz.show_case(dataset.labelled()[0])           # doctest: +SKIP
    >>> fig = viz.plot_organ_volumes(stats.organs)           # doctest: +SKIP
"""

from amos_tutorial.viz.plots import (
    MODALITY_COLORS,
    organ_palette,
    plot_class_balance,
    plot_geometry,
    plot_intensity_histograms,
    plot_metadata,
    plot_organ_volumes,
    set_book_style,
)
from amos_tutorial.viz.slices import (
    CT_WINDOWS,
    PLANES,
    CanonicalVolume,
    display_slice,
    organ_legend_handles,
    plane_aspect,
    plane_directions,
    show_case,
    show_cases,
    show_slices,
    slice_position,
    to_canonical,
    window_limits,
)
from amos_tutorial.viz.tables import label_frame, label_table
from amos_tutorial.viz.viewer import view_3d, viewer_backend

__all__ = [
    "CT_WINDOWS",
    "MODALITY_COLORS",
    "PLANES",
    "CanonicalVolume",
    "display_slice",
    "label_frame",
    "label_table",
    "organ_legend_handles",
    "organ_palette",
    "plane_aspect",
    "plane_directions",
    "plot_class_balance",
    "plot_geometry",
    "plot_intensity_histograms",
    "plot_metadata",
    "plot_organ_volumes",
    "set_book_style",
    "show_case",
    "show_cases",
    "show_slices",
    "slice_position",
    "to_canonical",
    "view_3d",
    "viewer_backend",
    "window_limits",
]
