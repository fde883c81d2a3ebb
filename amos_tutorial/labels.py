"""The AMOS 2022 label table: ids 0-15, exact ``dataset.json`` names, canonical names, colours.

Introduced in chapter *Getting the data*. Everything in this package maps organs **by id**, never by
name: the names in the release's ``dataset.json`` contain typos (``"arota"``, ``"postcava"``) that we
keep verbatim so that files written by us match the release byte for byte.

Examples:
    >>> from amos_tutorial.labels import LABELS, label_by_id
    >>> label_by_id(8).json_name, label_by_id(8).name
    ('arota', 'aorta')
    >>> len(LABELS)
    16
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Label",
    "LABELS",
    "NUM_CLASSES",
    "ORGAN_IDS",
    "BACKGROUND_ID",
    "label_by_id",
    "dataset_json_labels",
    "organ_names",
    "label_colormap",
]


@dataclass(frozen=True)
class Label:
    """One row of the label table.

    Attributes:
        id: Integer value in the label maps (0-15).
        json_name: Name exactly as in the release's ``dataset.json`` (typos included).
        name: Canonical snake_case name used in tables and figures.
        abbrev: Short abbreviation for crowded axes.
        color: Fixed plot colour as ``#rrggbb``.
    """

    id: int
    json_name: str
    name: str
    abbrev: str
    color: str


# Colours: a fixed qualitative palette so that an organ has the same colour in every figure of the book.
LABELS: tuple[Label, ...] = (
    Label(0, "background", "background", "BG", "#000000"),
    Label(1, "spleen", "spleen", "SPL", "#e6194b"),
    Label(2, "right kidney", "kidney_right", "RKI", "#3cb44b"),
    Label(3, "left kidney", "kidney_left", "LKI", "#ffe119"),
    Label(4, "gall bladder", "gallbladder", "GBL", "#4363d8"),
    Label(5, "esophagus", "esophagus", "ESO", "#f58231"),
    Label(6, "liver", "liver", "LIV", "#911eb4"),
    Label(7, "stomach", "stomach", "STO", "#46f0f0"),
    Label(8, "arota", "aorta", "AOR", "#f032e6"),
    Label(9, "postcava", "inferior_vena_cava", "IVC", "#bcf60c"),
    Label(10, "pancreas", "pancreas", "PAN", "#fabebe"),
    Label(11, "right adrenal gland", "adrenal_gland_right", "RAG", "#008080"),
    Label(12, "left adrenal gland", "adrenal_gland_left", "LAG", "#e6beff"),
    Label(13, "duodenum", "duodenum", "DUO", "#9a6324"),
    Label(14, "bladder", "urinary_bladder", "BLA", "#fffac8"),
    Label(15, "prostate/uterus", "prostate_uterus", "P/U", "#800000"),
)

NUM_CLASSES: int = len(LABELS)  # 16 including background
BACKGROUND_ID: int = 0
ORGAN_IDS: tuple[int, ...] = tuple(range(1, NUM_CLASSES))


def label_by_id(label_id: int) -> Label:
    """Return the :class:`Label` with this id.

    Args:
        label_id: An integer in 0-15.

    Returns:
        The label row.

    Raises:
        KeyError: If the id is not an AMOS label.

    Examples:
        >>> label_by_id(15).json_name
        'prostate/uterus'
    """
    try:
        idx = int(label_id)
    except (TypeError, ValueError):
        raise KeyError(f"AMOS label ids are integers 0-15, got {label_id!r}") from None
    if not 0 <= idx < NUM_CLASSES:
        raise KeyError(f"AMOS label ids are 0-15, got {label_id!r}")
    return LABELS[idx]


def dataset_json_labels() -> dict[str, str]:
    """The ``labels`` entry of the release's ``dataset.json``: ``{"0": "background", ...}``.

    Examples:
        >>> dataset_json_labels()["9"]
        'postcava'
    """
    return {str(lab.id): lab.json_name for lab in LABELS}


def organ_names(style: str = "name", include_background: bool = False) -> list[str]:
    """Organ names in id order.

    Args:
        style: ``"name"`` (canonical), ``"json_name"`` (as in ``dataset.json``) or ``"abbrev"``.
        include_background: Whether id 0 is included.

    Returns:
        A list of names, index ``i`` belonging to id ``i`` (or ``i + 1`` without background).

    Examples:
        >>> organ_names("abbrev")[:3]
        ['SPL', 'RKI', 'LKI']
    """
    if style not in ("name", "json_name", "abbrev"):
        raise ValueError(f"style must be 'name', 'json_name' or 'abbrev', got {style!r}")
    rows = LABELS if include_background else LABELS[1:]
    return [getattr(lab, style) for lab in rows]


def label_colormap():
    """A matplotlib ``ListedColormap`` with 16 entries, background transparent.

    Use with ``norm=None, vmin=0, vmax=15, interpolation="nearest"``.
    """
    from matplotlib.colors import ListedColormap, to_rgba

    colors = [to_rgba(lab.color) for lab in LABELS]
    colors[0] = (0.0, 0.0, 0.0, 0.0)
    return ListedColormap(colors, name="amos_labels")
