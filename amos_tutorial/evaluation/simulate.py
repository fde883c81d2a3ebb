"""Simulated predictions: reference label maps with errors of a known kind and size (a yardstick, not a model).

Introduced in chapter *Evaluating segmentations*; builds on numpy, :mod:`scipy.ndimage` and
:func:`amos_tutorial.utils.io.save_nifti`.

Examples:
    >>> from amos_tutorial.evaluation.simulate import perturb_labels
    >>> ref = np.zeros((20, 20, 8), np.uint8); ref[5:15, 5:15, 2:6] = 6
    >>> perturb_labels(ref, seed=1, p_missing=0.0)[0].shape
    (20, 20, 8)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from amos_tutorial.labels import LABELS, NUM_CLASSES

__all__ = ["perturb_labels", "simulate_predictions"]


def _shifted(mask: np.ndarray, offset: Sequence[int]) -> np.ndarray:
    """Shift a boolean array by integer voxels, filling with False (no wrap-around)."""
    out = np.zeros_like(mask)
    src, dst = [], []
    for n, d in zip(mask.shape, offset):
        d = int(d)
        if abs(d) >= n:
            return out
        src.append(slice(max(0, -d), n - max(0, d)))
        dst.append(slice(max(0, d), n - max(0, -d)))
    out[tuple(dst)] = mask[tuple(src)]
    return out


def perturb_labels(
    label: np.ndarray,
    seed: int = 0,
    max_shift: Sequence[int] = (1, 1, 1),
    p_missing: float = 0.05,
    p_resize: float = 0.3,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Make a *simulated* prediction from a reference label map by damaging each organ in a known way.

    Introduced in chapter *Evaluating segmentations*. Builds on numpy and :mod:`scipy.ndimage`
    (``find_objects``, ``binary_erosion``, ``binary_dilation``). Each organ present is, independently:
    dropped with probability ``p_missing`` (a missed organ); otherwise shifted by a random whole number of
    voxels (up to ``max_shift`` per axis), then eroded or dilated by one voxel with probability
    ``p_resize``. Organs are painted largest first, so small organs are not covered by large ones.

    Args:
        label: 3-D (or 2-D) integer label map with values 0-15.
        seed: Seed: the same seed gives the same damage.
        max_shift: Largest shift in voxels along each axis.
        p_missing: Probability that an organ is left out.
        p_resize: Probability that an organ is eroded or dilated (half each).

    Returns:
        ``(prediction, log)``: a uint8 label map of the same shape, and one row per organ present with
        ``organ_id, organ, missing, shift, resize`` (``shift`` None and ``resize`` ``"-"`` for a missing organ).

    Raises:
        ValueError: For label values outside 0-15, a ``max_shift`` of the wrong length or negative values,
            or probabilities outside [0, 1].

    Examples:
        >>> ref = np.zeros((20, 20, 8), np.uint8); ref[5:15, 5:15, 2:6] = 6
        >>> pred, log = perturb_labels(ref, seed=1, p_missing=0.0)
        >>> pred.shape, log.organ.tolist()
        ((20, 20, 8), ['liver'])
    """
    from scipy import ndimage

    label = np.asarray(label)
    if label.dtype.kind not in "iub":
        raise ValueError(f"label map must have an integer dtype, got {label.dtype}")
    if label.size and (label.min() < 0 or label.max() >= NUM_CLASSES):
        raise ValueError(f"label values must lie in 0-{NUM_CLASSES - 1}, found {label.min()}..{label.max()}")
    max_shift = tuple(int(s) for s in max_shift)
    if len(max_shift) != label.ndim or min(max_shift) < 0:
        raise ValueError(f"max_shift must have {label.ndim} values >= 0, got {max_shift}")
    for name, p in (("p_missing", p_missing), ("p_resize", p_resize)):
        if not 0.0 <= float(p) <= 1.0:
            raise ValueError(f"{name} must lie in [0, 1], got {p}")
    rng = np.random.default_rng(seed)
    labels = label.astype(np.uint8, copy=False)
    boxes = ndimage.find_objects(labels)
    present = [(i + 1, box) for i, box in enumerate(boxes) if box is not None]
    sizes = {organ: int(np.count_nonzero(labels[box] == organ)) for organ, box in present}
    out = np.zeros(labels.shape, dtype=np.uint8)
    log = []
    for organ, box in sorted(present, key=lambda item: -sizes[item[0]]):
        # Draw every random number for every organ, so one organ's fate does not change the others'.
        missing = bool(rng.random() < p_missing)
        shift = tuple(int(rng.integers(-m, m + 1)) for m in max_shift)
        resize_draw, grow = rng.random(), rng.random() < 0.5
        resize = "none" if resize_draw >= p_resize else ("dilated 1 voxel" if grow else "eroded 1 voxel")
        if missing:
            log.append((organ, LABELS[organ].name, True, None, "-"))
            continue
        log.append((organ, LABELS[organ].name, False, shift, resize))
        # Work on the organ's box, grown by the shift and one voxel of dilation.
        pad = [m + 1 for m in max_shift]
        region = tuple(slice(max(0, b.start - p), min(n, b.stop + p)) for b, p, n in zip(box, pad, labels.shape))
        mask = labels[region] == organ
        if resize.startswith("dilated"):
            mask = ndimage.binary_dilation(mask)
        elif resize.startswith("eroded"):
            eroded = ndimage.binary_erosion(mask)
            mask = eroded if eroded.any() else mask  # a one-voxel-thin organ would vanish: keep it
        mask = _shifted(mask, shift)
        out[region][mask] = organ
    table = pd.DataFrame(log, columns=["organ_id", "organ", "missing", "shift", "resize"])
    return out, table.sort_values("organ_id", ignore_index=True)


def simulate_predictions(
    labels_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    seed: int = 0,
    cases: Sequence[str] | None = None,
    **kwargs: Any,
) -> pd.DataFrame:
    """Write a *simulated* prediction (:func:`perturb_labels`) for every reference label map of a folder.

    Introduced in chapter *Evaluating segmentations*. Builds on
    :func:`amos_tutorial.evaluation.list_cases`, :func:`~amos_tutorial.evaluation.read_label_map` and
    :func:`amos_tutorial.utils.io.save_nifti` (atomic writes, the reference's affine). The files look
    exactly like a model's predictions, so ``evaluate_folder`` and ``amos submit`` accept them.

    Args:
        labels_dir: Folder of reference label maps ``amos_XXXX.nii.gz``.
        out_dir: Where the simulated predictions go (created).
        seed: Base seed; case ``amos_XXXX`` uses ``seed + XXXX``, so a case's damage does not depend on
            which other cases are simulated.
        cases: Case ids to simulate (default: all).
        **kwargs: Passed to :func:`perturb_labels` (``max_shift``, ``p_missing``, ``p_resize``).

    Returns:
        The damage log: one row per case and organ present (``case`` + the columns of :func:`perturb_labels`).

    Raises:
        FileNotFoundError: If ``labels_dir`` does not exist.
        ValueError: If it holds no label map, a requested case is missing, or a file is not a valid label
            map (one line naming the file).

    Examples:
        >>> log = simulate_predictions("amos22/labelsVa", "runs/simulated/pred")  # doctest: +SKIP
    """
    from amos_tutorial.data.layout import case_id as to_case_id
    from amos_tutorial.evaluation.evaluate import list_cases, read_label_map
    from amos_tutorial.utils.io import save_nifti

    found, _ = list_cases(labels_dir)
    if not found:
        raise ValueError(f"{labels_dir}: no reference label maps amos_XXXX.nii.gz in this folder")
    if cases is not None:
        wanted = [to_case_id(c) for c in cases]
        missing = [c for c in wanted if c not in found]
        if missing:
            raise ValueError(f"{labels_dir}: no label map for {', '.join(missing)}")
        found = {c: found[c] for c in wanted}
    out_dir = Path(out_dir)
    logs = []
    for cid, path in found.items():
        reference, affine = read_label_map(path)
        number = int(cid.split("_")[-1])
        try:
            prediction, log = perturb_labels(reference, seed=seed + number, **kwargs)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from exc
        save_nifti(prediction, affine, out_dir / f"{cid}.nii.gz", dtype=np.uint8)
        log.insert(0, "case", cid)
        logs.append(log)
    return pd.concat(logs, ignore_index=True)
