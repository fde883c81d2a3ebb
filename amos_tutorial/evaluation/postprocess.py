"""Post-processing of predicted label maps with per-organ rules chosen on cross-validation predictions.

Introduced in chapter *How AMOS 2022 was won*. The winners of AMOS 2022 (nnU-Net's AMOS code) cleaned their
ensemble's label maps per organ. As in nnU-Net, a rule is kept for an organ only if it raises that organ's mean
Dice on the cross-validation predictions (:func:`choose_rules`); :func:`postprocess_folder` applies the kept
rules to a folder of predictions. The rules themselves, and what each does to one label map, are in
:mod:`amos_tutorial.evaluation.rules` (re-exported here).

Examples:
    >>> import numpy as np
    >>> labels = np.zeros((10, 10, 10), np.uint8); labels[1:4, 1:4, 1:4] = 6; labels[8, 8, 8] = 6
    >>> out = apply_rules(labels, (1.0, 1.0, 1.0), [Rule("largest_component", (6,))])
    >>> int((out == 6).sum())
    27
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from amos_tutorial.evaluation.rules import (
    CONNECTIVITY_STRUCTURE,
    DEFAULT_MIN_ML,
    LEFT_RIGHT_PAIRS,
    PLAN_FILE,
    RULES,
    PostprocessPlan,
    Rule,
    apply_rules,
    body_midline,
    components,
    fix_left_right,
    keep_largest_component,
    postprocess_case,
    remove_small_components,
    voxel_ml,
)
from amos_tutorial.labels import LABELS, ORGAN_IDS

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
    "choose_rules",
    "fix_left_right",
    "keep_largest_component",
    "postprocess_case",
    "postprocess_folder",
    "read_label_map",
    "remove_small_components",
]


# ---- choosing rules on cross-validation predictions -------------------------------------------------

#: (remove_small, largest_component) switched off/on.
_VARIANTS = ((0, 0), (1, 0), (0, 1), (1, 1))


def _dice(inter: float, pred: float, ref: float) -> float:
    return math.nan if pred + ref == 0 else 2.0 * inter / (pred + ref)


def _variant_dice(mask: np.ndarray, ref: np.ndarray, ml_per_voxel: float, min_ml: float) -> dict[tuple[int, int], float]:
    """Dice of one organ for (remove_small, largest_component) on or off, from one component labelling."""
    box, labelled, sizes = components(mask)
    inter = np.bincount(labelled[ref[box]].ravel(), minlength=len(sizes)).astype(np.float64)
    inter[0] = 0
    ref_vol = float(ref.sum())
    big = (sizes > 0) & (sizes * ml_per_voxel >= min_ml)
    largest = np.zeros(len(sizes), dtype=bool)
    if sizes.sum() > 0:
        largest[int(sizes.argmax())] = True
    everything = sizes > 0
    out = {}
    for rs, lc in _VARIANTS:
        keep = everything & (big if rs else True) & (largest if lc else True)
        out[(rs, lc)] = _dice(float(inter[keep].sum()), float(sizes[keep].sum()), ref_vol)
    return out


def _case_dice(pred, ref, affine, image, organs, min_ml) -> dict[tuple[int, int, int, int], float]:
    """Dice per (organ, fix_left_right, remove_small, largest_component) for one case."""
    spacing = np.sqrt((np.asarray(affine, dtype=np.float64)[:3, :3] ** 2).sum(axis=0))
    ml_per_voxel = voxel_ml(spacing)
    pair_of = {o: pair for pair in LEFT_RIGHT_PAIRS for o in pair}
    fixed: dict[tuple[int, int], np.ndarray] = {}
    midline = None
    result = {}
    for organ in organs:
        variants = [(0, pred)]
        if organ in pair_of:
            pair = pair_of[organ]
            if pair not in fixed:
                midline = body_midline(affine, pred, image) if midline is None else midline
                fixed[pair] = fix_left_right(pred, affine, pair, midline)
            variants.append((1, fixed[pair]))
        ref_o = ref == organ
        for lr, labels in variants:
            for (rs, lc), value in _variant_dice(labels == organ, ref_o, ml_per_voxel, min_ml).items():
                result[(organ, lr, rs, lc)] = value
    return result


def _paired_files(pred_dir: Path, label_dir: Path) -> list[tuple[str, Path, Path]]:
    from amos_tutorial.data.folders import list_cases

    preds, _ = list_cases(pred_dir)
    labels, _ = list_cases(label_dir)
    common = sorted(set(preds) & set(labels))
    if not common:
        raise ValueError(f"{pred_dir}: no prediction amos_XXXX.nii.gz with a label of the same name in {label_dir}")
    no_label, no_pred = sorted(set(preds) - set(labels)), sorted(set(labels) - set(preds))
    if no_label or no_pred:
        parts = [f"{len(ids)} {what} ({_first_ids(ids)})" for what, ids in
                 (("without a label", no_label), ("without a prediction", no_pred)) if ids]
        raise ValueError(
            f"{pred_dir}: --pred and --labels ({label_dir}) do not cover the same cases: {'; '.join(parts)}; "
            "rules chosen on a subset would not be the cross-validation's: give folders of the same cases"
        )
    return [(cid, preds[cid], labels[cid]) for cid in common]


def _first_ids(ids: Sequence[str], n: int = 5) -> str:
    return ", ".join(ids[:n]) + (f" and {len(ids) - n} more" if len(ids) > n else "")


def read_label_map(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """A label map as uint8 with its affine; NaN, fractions and ids outside the AMOS labels are refused.

    Introduced in chapter *How AMOS 2022 was won*. A cast to uint8 alone would turn NaN into 0, 2.5 into 2
    and 256 into 0 without a word.

    Args:
        path: A NIfTI label map.

    Returns:
        ``(labels, affine)``, labels as uint8 ids 0-15.

    Raises:
        ValueError: ``"PATH: ..."`` for an unreadable file, NaN or infinite values, values that are not
            whole numbers, or ids outside 0 to the largest AMOS label id.
    """
    from amos_tutorial.utils.io import load_nifti

    data, affine = load_nifti(path)
    data = np.asarray(data)
    top = max(lab.id for lab in LABELS)
    if data.dtype.kind == "f":
        if not np.isfinite(data).all():
            raise ValueError(f"{path}: holds NaN or infinite values; a label map holds label ids 0-{top}")
        fractional = data[data != np.round(data)]
        if fractional.size:
            raise ValueError(
                f"{path}: holds values that are not whole label ids (e.g. {float(fractional[0]):g}); a label map "
                f"holds label ids 0-{top}"
            )
    elif data.dtype.kind not in "iub":
        raise ValueError(f"{path}: data type {data.dtype} is not a label map's (integers 0-{top})")
    if data.size and (data.min() < 0 or data.max() > top):
        outside = np.unique(data[(data < 0) | (data > top)])
        shown = ", ".join(f"{v:g}" for v in outside[:5].astype(np.float64))
        raise ValueError(f"{path}: holds label(s) {shown} outside the AMOS label ids 0-{top}")
    return data.astype(np.uint8), affine


def _load_pair(pred_path: Path, label_path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pred, affine = read_label_map(pred_path)
    ref, _ = read_label_map(label_path)
    if pred.shape != ref.shape:
        raise ValueError(f"{pred_path}: shape {pred.shape} differs from its label's {ref.shape} ({label_path})")
    return pred, ref, affine


def _decide(means: Mapping[tuple, float], organs: Sequence[int], min_ml: float) -> tuple[list[Rule], list[dict]]:
    """nnU-Net's greedy choice: each rule on top of those kept before it, kept if the organ's mean Dice rises."""
    state = {o: [0, 0, 0] for o in organs}  # (fix_left_right, remove_small, largest_component) per organ
    rules, rows = [], []

    def score(group: Sequence[int], step: int | None = None) -> float:
        values = []
        for o in group:
            key = list(state[o])
            if step is not None:
                key[step] = 1
            values.append(means.get((o, *key), math.nan))
        return float(np.mean(values)) if not any(math.isnan(v) for v in values) else math.nan

    candidates = [("fix_left_right", p, 0) for p in LEFT_RIGHT_PAIRS if all(o in organs for o in p)]
    candidates += [(name, (o,), step) for step, name in ((1, "remove_small"), (2, "largest_component")) for o in organs]
    for name, group, step in candidates:
        before, after = score(group), score(group, step)
        kept = bool(after > before)  # NaN compares False: no case with this organ, no rule
        rule = Rule(name, group, min_ml if name == "remove_small" else None)
        if kept:
            rules.append(rule)
            for o in group:
                state[o][step] = 1
        rows.append({"organ": rule.organ_name, "rule": name, "min_ml": rule.min_ml, "dice_before": before,
                     "dice_after": after, "kept": kept})
    return rules, rows


def choose_rules(
    pred_dir: str | os.PathLike,
    label_dir: str | os.PathLike,
    images_dir: str | os.PathLike | None = None,
    min_ml: float = DEFAULT_MIN_ML,
    organs: Sequence[int] = ORGAN_IDS,
    progress: bool = False,
) -> PostprocessPlan:
    """Choose post-processing rules per organ on cross-validation predictions, as nnU-Net does.

    Introduced in chapter *How AMOS 2022 was won*. Rules are tried in the order of :data:`RULES`, each on
    top of the rules already kept for that organ; a rule is kept only if it raises the organ's mean Dice
    over the cases (for ``fix_left_right``: the mean of the pair's two organs). A case where an organ is
    absent from both label and prediction does not count for that organ. Every case is read once.

    Args:
        pred_dir: Predictions ``amos_XXXX.nii.gz`` (e.g. from :func:`amos_tutorial.inference.crossval_predictions`).
        label_dir: Reference labels with the same file names (``labelsTr``).
        images_dir: The images, to locate the body's midline (default: the organs' extent).
        min_ml: Threshold of ``"remove_small"`` in millilitres.
        organs: Organ ids to consider.
        progress: Show a progress bar.

    Returns:
        A :class:`PostprocessPlan` with the kept rules and the table of every rule tried.

    Raises:
        ValueError: ``"PATH: ..."`` for a folder without matching cases, predictions and labels that do not
            cover the same cases (the message names those missing), a prediction of another shape, or a
            label map holding NaN, fractions or ids outside 0-15 (:func:`read_label_map`).
    """
    from tqdm.auto import tqdm

    organs = [int(o) for o in organs]
    bad = [o for o in organs if o not in ORGAN_IDS]
    if bad:
        raise ValueError(f"organs must be ids from 1 to {max(ORGAN_IDS)}, got {bad}")
    if not min_ml > 0:
        raise ValueError(f"min_ml must be > 0 (millilitres), got {min_ml!r}")
    pairs = _paired_files(Path(pred_dir), Path(label_dir))
    per_case: list[dict] = []
    for cid, pred_path, label_path in tqdm(pairs, desc="choose rules", unit="case", disable=not progress):
        pred, ref, affine = _load_pair(pred_path, label_path)
        image = _image_for(images_dir, cid)
        per_case.append(_case_dice(pred, ref, affine, image, organs, min_ml))
    keys = per_case[0].keys()
    with np.errstate(all="ignore"):
        means = {k: _nanmean([c[k] for c in per_case]) for k in keys}
    rules, rows = _decide(means, organs, float(min_ml))
    counts = {o: sum(not math.isnan(c.get((o, 0, 0, 0), math.nan)) for c in per_case) for o in organs}
    table = pd.DataFrame(rows)
    table["cases"] = [min(counts[_organ_id(name)] for name in row.split("+")) for row in table["organ"]]
    return PostprocessPlan(tuple(rules), table)


def _organ_id(name: str) -> int:
    return next(lab.id for lab in LABELS if lab.name == name)


def _nanmean(values: Sequence[float]) -> float:
    arr = np.asarray(values, dtype=np.float64)
    return float(np.nanmean(arr)) if np.isfinite(arr).any() else math.nan


def _image_for(images_dir: str | os.PathLike | None, case_id: str) -> np.ndarray | None:
    if images_dir is None:
        return None
    path = Path(images_dir) / f"{case_id}.nii.gz"
    if not path.is_file():
        return None
    from amos_tutorial.utils.io import load_nifti

    return load_nifti(path, dtype=np.float32)[0]


def postprocess_folder(
    pred_dir: str | os.PathLike,
    out: str | os.PathLike,
    plan: PostprocessPlan | str | os.PathLike,
    images_dir: str | os.PathLike | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> pd.DataFrame:
    """Apply a plan to every prediction of a folder; resumable (finished outputs are skipped).

    Introduced in chapter *How AMOS 2022 was won*. Writes each ``amos_XXXX.nii.gz`` atomically with the
    prediction's affine, and the plan as :data:`PLAN_FILE`, under the folder's lock. An output is skipped
    only while its prediction (and image) are the files it was made from (``inputs.json``, the rerun rule of
    :mod:`amos_tutorial.utils.stamps`).

    Args:
        pred_dir: Folder of predictions.
        out: Output folder (created; must differ from ``pred_dir``).
        plan: A :class:`PostprocessPlan` or the path of its JSON file.
        images_dir: The images, to locate the body's midline (default: the organs' extent).
        overwrite: Process cases whose output exists already.
        progress: Show a progress bar.

    Returns:
        One row per case: ``case, status`` (``"written"``, ``"skipped"`` or ``"failed"``), ``output``,
        ``changed_voxels``, ``error`` (why a case failed: an unreadable prediction, NaN, fractions or ids
        outside 0-15, see :func:`read_label_map`; the other cases are still written).

    Raises:
        ValueError: ``"PATH: ..."`` for a bad plan file, an empty folder, or ``out`` equal to ``pred_dir``;
            a resumed ``out`` made with another plan is refused.
        amos_tutorial.utils.lock.LockedError: If another process writes into ``out``.
    """
    from amos_tutorial.data.folders import list_cases
    from amos_tutorial.utils.lock import locked_output_folder

    if not isinstance(plan, PostprocessPlan):
        plan = PostprocessPlan.load(plan)
    preds, _ = list_cases(pred_dir)
    if not preds:
        raise ValueError(f"{pred_dir}: no prediction named amos_XXXX.nii.gz to post-process")
    out = Path(out)
    if out.exists() and out.resolve() == Path(pred_dir).resolve():
        raise ValueError(f"{out}: the output folder must differ from the predictions' folder")
    with locked_output_folder(out, "post-processing folder"):
        _check_same_plan(out / PLAN_FILE, plan, overwrite)
        plan.save(out / PLAN_FILE)
        rows = _postprocess_cases(preds, out, plan, images_dir, overwrite, progress)
    return pd.DataFrame(rows, columns=["case", "status", "output", "changed_voxels", "error"])


def _postprocess_cases(preds: dict[str, Path], out: Path, plan: PostprocessPlan, images_dir, overwrite: bool,
                       progress: bool) -> list[dict[str, Any]]:
    """The resumable loop: skip outputs made from the same inputs, process the others, report failures as rows."""
    from tqdm.auto import tqdm

    from amos_tutorial.utils.io import save_nifti
    from amos_tutorial.utils.stamps import INPUTS_FILE, InputRecord, file_stamp

    record = InputRecord(out / INPUTS_FILE)
    rows = []
    for cid, path in tqdm(preds.items(), desc="postprocess", unit="case", disable=not progress):
        target = out / f"{cid}.nii.gz"
        row = {"case": cid, "output": str(target), "changed_voxels": None, "error": ""}
        image = None if images_dir is None else Path(images_dir) / f"{cid}.nii.gz"
        image = image if image is not None and image.is_file() else None
        try:
            inputs = {"prediction": file_stamp(path), "image": None if image is None else file_stamp(image)}
            if target.exists() and not overwrite:
                if _finished(target, path) and record.is_current(cid, inputs):
                    rows.append({**row, "status": "skipped"})
                    continue
                tqdm.write(f"{target}: not a readable label map of its prediction's shape, or its prediction "
                           "changed since; post-processing it again")
            labels, affine = read_label_map(path)
            fixed = postprocess_case(labels, affine, plan, image)
            save_nifti(fixed, affine, target, dtype=np.uint8)
        except (ValueError, OSError) as exc:  # one unreadable prediction must not stop the others
            message = " ".join(str(exc).split()) or type(exc).__name__
            tqdm.write(f"{path}: post-processing failed: {message}")
            rows.append({**row, "status": "failed", "error": message})
            continue
        record.set(cid, inputs)
        rows.append({**row, "status": "written", "changed_voxels": int((fixed != labels).sum())})
    return rows


def _finished(target: Path, source: Path) -> bool:
    """Whether ``target`` is a complete label map of ``source``'s shape (not a 0-byte or truncated file)."""
    import nibabel as nib

    from amos_tutorial.utils.io import load_nifti

    try:
        return load_nifti(target)[0].shape[:3] == tuple(nib.load(str(source)).shape[:3])
    except Exception:  # unreadable for any reason: process it again
        return False


def _check_same_plan(path: Path, plan: PostprocessPlan, overwrite: bool) -> None:
    if overwrite or not path.is_file() or not any(path.parent.glob("amos_*.nii.gz")):
        return
    try:
        before = PostprocessPlan.load(path)
    except ValueError:
        before = None
    if before is None or [r.to_dict() for r in before.rules] != [r.to_dict() for r in plan.rules]:
        raise ValueError(
            f"{path}: this folder was post-processed with another plan; pass overwrite=True (--overwrite) "
            "or choose another output folder"
        )
