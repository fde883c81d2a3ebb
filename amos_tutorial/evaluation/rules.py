"""Post-processing rules for one predicted label map, and the plan that lists the rules kept per organ.

Introduced in chapter *How AMOS 2022 was won*. The winners of AMOS 2022 (nnU-Net's AMOS code) cleaned their
ensemble's label maps per organ: swap kidneys and adrenal glands found on the wrong side of the body, drop
small components and keep the largest one. As in nnU-Net, a rule is kept for an organ only if it raises
that organ's mean Dice on the cross-validation predictions
(:func:`amos_tutorial.evaluation.postprocess.choose_rules`). Connected components come
from ``scipy.ndimage.label`` in 3-D with 26-connectivity (a voxel touches all its 26 neighbours).

Rules, applied in the order of :data:`RULES`:

* ``"fix_left_right"`` for a (right, left) pair of :data:`LEFT_RIGHT_PAIRS`: every component of either
  label is given the label of the side of the body's midline its centre lies on. Sides are patient sides
  from the affine (NIfTI world is RAS+: larger world x is the patient's right), the midline is the centre
  in x of the body (the image's voxels brighter than a tenth of its range) or, without the image, of the
  label map's organs.
* ``"remove_small"``: components smaller than ``min_ml`` millilitres become background.
* ``"largest_component"``: all but the largest component become background.

Examples:
    >>> import numpy as np
    >>> labels = np.zeros((10, 10, 10), np.uint8); labels[1:4, 1:4, 1:4] = 6; labels[8, 8, 8] = 6
    >>> out = apply_rules(labels, (1.0, 1.0, 1.0), [Rule("largest_component", (6,))])
    >>> int((out == 6).sum())
    27
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from amos_tutorial.labels import BACKGROUND_ID, LABELS, ORGAN_IDS, label_by_id

__all__ = [
    "CONNECTIVITY_STRUCTURE",
    "DEFAULT_MIN_ML",
    "LEFT_RIGHT_PAIRS",
    "PLAN_FILE",
    "RULES",
    "PostprocessPlan",
    "Rule",
    "apply_rules",
    "body_midline",
    "components",
    "fix_left_right",
    "keep_largest_component",
    "postprocess_case",
    "remove_small_components",
    "voxel_ml",
]

#: The rules, in the order :func:`apply_rules` applies them.
RULES: tuple[str, ...] = ("fix_left_right", "remove_small", "largest_component")

#: 26-connectivity in 3-D: every voxel of the 3x3x3 neighbourhood touches the centre.
CONNECTIVITY_STRUCTURE = np.ones((3, 3, 3), dtype=bool)


def _pair(right: str, left: str) -> tuple[int, int]:
    ids = {lab.name: lab.id for lab in LABELS}
    return ids[right], ids[left]


#: (right, left) label ids whose sides :func:`fix_left_right` checks: kidneys (2, 3), adrenal glands (11, 12).
LEFT_RIGHT_PAIRS: tuple[tuple[int, int], ...] = (
    _pair("kidney_right", "kidney_left"),
    _pair("adrenal_gland_right", "adrenal_gland_left"),
)

#: Components below this volume (ml) are removed by ``"remove_small"`` unless told otherwise
#: (our choice: a tenth of a small adrenal gland; :func:`choose_rules` checks on each organ that it helps).
DEFAULT_MIN_ML = 0.5

#: Plan file written by :func:`PostprocessPlan.save` into a post-processed folder.
PLAN_FILE = "postprocess_plan.json"

#: Fraction of an image's intensity range (minimum to 99th percentile) under which a voxel is air.
_AIR_FRACTION = 0.1
_PLAN_FORMAT = "amos_tutorial postprocess plan"


@dataclass(frozen=True)
class Rule:
    """One post-processing rule for one organ (or a right/left pair).

    Introduced in chapter *How AMOS 2022 was won*.

    Attributes:
        rule: One of :data:`RULES`.
        organs: The organ id; for ``"fix_left_right"`` the (right, left) pair of :data:`LEFT_RIGHT_PAIRS`.
        min_ml: Volume threshold of ``"remove_small"`` in millilitres (None for the other rules).
    """

    rule: str
    organs: tuple[int, ...]
    min_ml: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "organs", tuple(int(o) for o in self.organs))
        if self.rule not in RULES:
            raise ValueError(f"unknown rule {self.rule!r}; known rules: {', '.join(RULES)}")
        if self.rule == "fix_left_right":
            if self.organs not in LEFT_RIGHT_PAIRS:
                raise ValueError(f"fix_left_right needs a (right, left) pair of {LEFT_RIGHT_PAIRS}, got {self.organs}")
        elif len(self.organs) != 1 or self.organs[0] not in ORGAN_IDS:
            raise ValueError(f"{self.rule} needs one organ id from 1 to {max(ORGAN_IDS)}, got {self.organs}")
        if self.rule == "remove_small":
            if self.min_ml is None or not self.min_ml > 0:
                raise ValueError(f"remove_small needs min_ml > 0 (millilitres), got {self.min_ml!r}")
            object.__setattr__(self, "min_ml", float(self.min_ml))

    @property
    def organ_name(self) -> str:
        """Canonical organ name(s), ``+``-joined for a pair."""
        return "+".join(label_by_id(o).name for o in self.organs)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rule": self.rule, "organs": list(self.organs)}
        if self.min_ml is not None:
            out["min_ml"] = self.min_ml
        return out


def voxel_ml(spacing: Sequence[float]) -> float:
    """Volume of one voxel in millilitres.

    Args:
        spacing: Voxel size (mm), three positive numbers.

    Returns:
        The product of the three sizes divided by 1000.

    Raises:
        ValueError: If ``spacing`` is not three positive sizes.
    """
    spacing = tuple(float(s) for s in spacing)
    if len(spacing) != 3 or min(spacing) <= 0:
        raise ValueError(f"spacing must be three positive voxel sizes in mm, got {spacing}")
    return float(np.prod(spacing)) / 1000.0


def _box(mask: np.ndarray) -> tuple[slice, ...] | None:
    """The bounding box of a 3-D mask as slices, or None when it is empty."""
    box = []
    for axis in range(3):
        hit = np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != axis)))
        if hit.size == 0:
            return None
        box.append(slice(int(hit[0]), int(hit[-1]) + 1))
    return tuple(box)


def components(mask: np.ndarray) -> tuple[tuple[slice, ...], np.ndarray, np.ndarray]:
    """The connected components of a 3-D mask, labelled inside its bounding box only.

    Labelling only the mask's bounding box keeps a kidney's components cheap in a 512 x 512 x 300 CT.

    Args:
        mask: ``(X, Y, Z)`` boolean mask.

    Returns:
        ``(box, component map inside the box, voxel count per component)``; component 0 is the outside.
    """
    from scipy import ndimage

    box = _box(mask) or tuple(slice(0, 0) for _ in range(3))
    labelled, n = ndimage.label(mask[box], structure=CONNECTIVITY_STRUCTURE)
    sizes = np.bincount(labelled.ravel(), minlength=n + 1)
    sizes[0] = 0
    return box, labelled, sizes


def keep_largest_component(label_map: np.ndarray, organ: int) -> np.ndarray:
    """Set every component of ``organ`` but the largest (26-connectivity) to background; a new array.

    Introduced in chapter *How AMOS 2022 was won*. Builds on ``scipy.ndimage.label``.

    Examples:
        >>> m = np.zeros((6, 6, 6), np.uint8); m[:2, :2, :2] = 1; m[5, 5, 5] = 1
        >>> int((keep_largest_component(m, 1) == 1).sum())
        8
    """
    out = np.array(label_map, copy=True)
    box, labelled, sizes = components(out == organ)
    if sizes.sum() > 0:
        out[box][(labelled > 0) & (labelled != int(sizes.argmax()))] = BACKGROUND_ID
    return out


def remove_small_components(label_map: np.ndarray, organ: int, spacing: Sequence[float], min_ml: float) -> np.ndarray:
    """Set the components of ``organ`` smaller than ``min_ml`` millilitres to background; a new array.

    Introduced in chapter *How AMOS 2022 was won*. Builds on ``scipy.ndimage.label`` (26-connectivity).

    Examples:
        >>> m = np.zeros((6, 6, 6), np.uint8); m[:2, :2, :2] = 1; m[5, 5, 5] = 1
        >>> int((remove_small_components(m, 1, (1, 1, 1), min_ml=0.002) == 1).sum())
        8
    """
    out = np.array(label_map, copy=True)
    box, labelled, sizes = components(out == organ)
    small = np.flatnonzero((sizes > 0) & (sizes * voxel_ml(spacing) < float(min_ml)))
    if small.size:
        out[box][np.isin(labelled, small)] = BACKGROUND_ID
    return out


def _world_x(affine: np.ndarray, index: np.ndarray) -> np.ndarray:
    """World x (mm, RAS+: larger = patient's right) of voxel indices ``(N, 3)``."""
    affine = np.asarray(affine, dtype=np.float64)
    return index @ affine[0, :3] + affine[0, 3]


def body_midline(affine: np.ndarray, label_map: np.ndarray | None = None, image: np.ndarray | None = None) -> float:
    """World x (mm) of the body's centre: the midline that separates patient right from left.

    Introduced in chapter *How AMOS 2022 was won*. With ``image``: the centre of its voxels brighter than
    a tenth of its range (minimum to 99th percentile; air is darker, CT or MRI). Otherwise the middle of
    the organs' extent in x (liver on the right and spleen on the left span the body).

    Args:
        affine: 4x4 voxel-to-world matrix of the volume.
        label_map: ``(X, Y, Z)`` labels (used without ``image``).
        image: ``(X, Y, Z)`` image on the same grid.

    Returns:
        The midline's world x in mm.

    Raises:
        ValueError: If neither gives any voxel to measure.

    Examples:
        >>> lab = np.zeros((10, 2, 2), np.uint8); lab[2] = 6; lab[7] = 1
        >>> body_midline(np.eye(4), lab)
        4.5
    """
    if image is not None:
        image = np.asarray(image, dtype=np.float32)
        low, high = float(image.min()), float(np.percentile(image, 99))
        mask = image > low + _AIR_FRACTION * (high - low)
        total = int(mask.sum())
        if total:
            # World x is linear in the indices: the mean of x is x of the mean index (per-axis projections).
            centre = [
                float(np.arange(mask.shape[a]) @ mask.sum(axis=tuple(b for b in range(3) if b != a))) / total
                for a in range(3)
            ]
            return float(_world_x(affine, np.array([centre]))[0])
    box = None if label_map is None else _box(np.asarray(label_map) != BACKGROUND_ID)
    if box is not None:
        # The box's corners (exact for axis-aligned grids, the box's extent for oblique ones).
        corners = np.array([[c.start if bit == 0 else c.stop - 1 for c, bit in zip(box, bits)]
                            for bits in np.ndindex(2, 2, 2)], dtype=np.float64)
        xs = _world_x(affine, corners)
        return float((xs.min() + xs.max()) / 2)
    raise ValueError("no body to find the midline of: the image is blank and the label map empty")


def fix_left_right(
    label_map: np.ndarray, affine: np.ndarray, pair: tuple[int, int], midline_x: float | None = None
) -> np.ndarray:
    """Relabel each component of a right/left organ pair by the side of the body it lies on; a new array.

    Introduced in chapter *How AMOS 2022 was won*. A component (26-connectivity, both labels together) whose
    centre has a world x above the midline is on the patient's right (NIfTI's RAS+ world) and gets the
    pair's right label, otherwise the left one. Components of the two labels that touch are judged per label.

    Args:
        label_map: ``(X, Y, Z)`` labels.
        affine: Its voxel-to-world matrix (patient sides come from here, not from the array order).
        pair: ``(right id, left id)`` from :data:`LEFT_RIGHT_PAIRS`.
        midline_x: World x of the midline (default: :func:`body_midline` of the label map).

    Returns:
        The relabelled map.

    Examples:
        >>> lab = np.zeros((20, 3, 3), np.uint8); lab[0:4] = 6; lab[16:20] = 1
        >>> lab[14, 1, 1] = 2                        # "right kidney" on the left of a RAS+ grid
        >>> int(fix_left_right(lab, np.eye(4), (2, 3))[14, 1, 1])
        2
        >>> flipped = np.diag([-1.0, 1, 1, 1])       # x axis pointing to the patient's left
        >>> int(fix_left_right(lab, flipped, (2, 3))[14, 1, 1])
        3
    """
    from scipy import ndimage

    right, left = (int(p) for p in pair)
    out = np.array(label_map, copy=True)
    if midline_x is None:
        midline_x = body_midline(affine, label_map)
    for organ in (right, left):
        box, labelled, sizes = components(np.asarray(label_map) == organ)
        comps = np.flatnonzero(sizes)
        if comps.size == 0:
            continue
        centres = np.array(ndimage.center_of_mass(labelled > 0, labelled, comps), dtype=np.float64).reshape(-1, 3)
        centres += [b.start for b in box]
        for comp, x in zip(comps, _world_x(affine, centres)):
            out[box][labelled == comp] = right if x > midline_x else left
    return out


def _check_rules(rules: Iterable[Rule]) -> list[Rule]:
    rules = list(rules)
    for rule in rules:
        if not isinstance(rule, Rule):
            raise ValueError(f"rules must be Rule objects, got {rule!r}")
    return sorted(rules, key=lambda r: RULES.index(r.rule))


def apply_rules(
    label_map: np.ndarray,
    spacing: Sequence[float],
    rules: Iterable[Rule] | "PostprocessPlan",
    affine: np.ndarray | None = None,
    image: np.ndarray | None = None,
) -> np.ndarray:
    """Apply post-processing rules to one label map, in the order of :data:`RULES`; a new array.

    Introduced in chapter *How AMOS 2022 was won*.

    Args:
        label_map: ``(X, Y, Z)`` uint8 labels.
        spacing: Voxel size (mm) for ``"remove_small"``.
        rules: :class:`Rule` objects or a :class:`PostprocessPlan`.
        affine: Voxel-to-world matrix for ``"fix_left_right"`` (default: RAS+ axes with ``spacing``).
        image: The image on the same grid, for the body's midline (default: the organs' extent).

    Returns:
        The post-processed label map (same shape and dtype).
    """
    rules = _check_rules(rules.rules if isinstance(rules, PostprocessPlan) else rules)
    out = np.asarray(label_map)
    if affine is None:
        affine = np.diag([*(float(s) for s in spacing), 1.0])
    midline = None
    for rule in rules:
        if rule.rule == "fix_left_right":
            if midline is None:
                midline = body_midline(affine, out, image)
            out = fix_left_right(out, affine, rule.organs, midline)
        elif rule.rule == "remove_small":
            out = remove_small_components(out, rule.organs[0], spacing, rule.min_ml)
        else:
            out = keep_largest_component(out, rule.organs[0])
    return np.array(out, copy=True) if out is label_map else out


@dataclass
class PostprocessPlan:
    """The rules chosen per organ, with the table of the choice.

    Introduced in chapter *How AMOS 2022 was won*.

    Attributes:
        rules: The kept rules.
        table: One row per rule tried: ``organ, rule, min_ml, dice_before, dice_after, kept, cases``
            (mean Dice over the cross-validation cases where the organ is present in the label or
            the prediction), or None for a hand-written plan.
    """

    rules: tuple[Rule, ...] = ()
    table: pd.DataFrame | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        table = None if self.table is None else json.loads(self.table.to_json(orient="records"))
        return {"format": _PLAN_FORMAT, "version": 1, "rules": [r.to_dict() for r in self.rules], "table": table}

    def save(self, path: str | os.PathLike) -> Path:
        """Write the plan as JSON, atomically; returns the path."""
        from amos_tutorial.utils.io import atomic_write_text

        return atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> PostprocessPlan:
        """Read a plan written by :meth:`save` (or by hand: ``{"rules": [{"rule": ..., "organs": [...]}]}``).

        Raises:
            FileNotFoundError: If the file does not exist.
            ValueError: ``"PATH: ..."`` for a file that is not a plan, or an unknown rule or organ.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no post-processing plan (write one with `amos postprocess --choose`)")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise ValueError(f"{path}: not a JSON post-processing plan ({str(exc)[:120]})") from None
        if not isinstance(data, Mapping) or not isinstance(data.get("rules"), list):
            raise ValueError(f"{path}: not a post-processing plan (no list of 'rules')")
        rules = []
        for i, item in enumerate(data["rules"]):
            try:
                if not isinstance(item, Mapping):
                    raise ValueError(f"expected an object, got {item!r}")
                unknown = sorted(set(item) - {"rule", "organs", "min_ml"})
                if unknown:
                    raise ValueError(f"unknown key(s) {unknown}")
                rules.append(Rule(str(item.get("rule")), tuple(item.get("organs") or ()), item.get("min_ml")))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{path}: rule {i}: {exc}") from None
        table = pd.DataFrame(data["table"]) if isinstance(data.get("table"), list) else None
        return cls(tuple(rules), table)


def postprocess_case(
    labels: np.ndarray, affine: np.ndarray, plan: PostprocessPlan | Iterable[Rule], image: Any = None
) -> np.ndarray:
    """Apply a plan to one label map with its affine; ``image`` (array or NIfTI path) only read if needed.

    Introduced in chapter *How AMOS 2022 was won*. The image locates the body's midline for
    ``"fix_left_right"``; it is loaded only when the plan has such a rule.
    """
    rules = _check_rules(plan.rules if isinstance(plan, PostprocessPlan) else plan)
    if image is not None and not isinstance(image, np.ndarray):
        if any(r.rule == "fix_left_right" for r in rules):
            from amos_tutorial.utils.io import load_nifti

            image = load_nifti(image, dtype=np.float32)[0]
        else:
            image = None
    spacing = np.sqrt((np.asarray(affine, dtype=np.float64)[:3, :3] ** 2).sum(axis=0))
    return apply_rules(labels, spacing, rules, affine=affine, image=image)
