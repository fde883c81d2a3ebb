"""Styled pandas tables for the book: the AMOS label table with its colour swatches.

Introduced in chapter *Getting the data*; builds on pandas (``DataFrame.style``, which needs jinja2,
a dependency of Jupyter).
"""

from __future__ import annotations

import pandas as pd

from amos_tutorial.labels import LABELS

__all__ = ["label_frame", "label_table"]

# Names in dataset.json that are not just another spelling convention of the canonical name.
_NOTES = {
    8: "typo in dataset.json (aorta)",
    9: "old anatomical name of the inferior vena cava",
    15: "one label for two organs: prostate (male) or uterus (female)",
}


def label_frame() -> pd.DataFrame:
    """The label table of :mod:`amos_tutorial.labels` as a DataFrame indexed by id.

    Introduced in chapter *Getting the data*; builds on pandas.

    Returns:
        Columns ``json_name, name, abbrev, color, note``; index ``id`` (0-15).

    Examples:
        >>> label_frame().loc[8, "json_name"]
        'arota'
    """
    frame = pd.DataFrame([{**lab.__dict__, "note": _NOTES.get(lab.id, "")} for lab in LABELS]).set_index("id")
    return frame[["json_name", "name", "abbrev", "color", "note"]]


def label_table():
    """The label table styled for a notebook: each row's colour cell shows the organ's colour.

    Introduced in chapter *Getting the data*; builds on :meth:`pandas.DataFrame.style`.

    Returns:
        A :class:`pandas.io.formats.style.Styler` (renders as HTML in Jupyter and in the book).
    """
    from matplotlib.colors import to_rgb

    def swatch(color: str) -> str:
        r, g, b = to_rgb(color)
        text = "black" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.5 else "white"
        return f"background-color: {color}; color: {text}; font-family: monospace"

    return label_frame().style.map(swatch, subset=["color"])
