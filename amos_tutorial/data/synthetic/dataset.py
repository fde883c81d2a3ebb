"""The dataset builder: a synthetic mini-AMOS set in the release layout, written atomically.

Introduced in chapter *Getting the data*; built on :func:`~amos_tutorial.data.synthetic.case.synthesize_case`,
nibabel (through :func:`amos_tutorial.utils.io.save_nifti`) and pandas (metadata CSV).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from amos_tutorial.data.release import METADATA_CSV_NAME
from amos_tutorial.data.synthetic.case import DEFAULT_MAX_SHAPE, MIN_SIDE, check_shape3, synthesize_case
from amos_tutorial.data.synthetic.plan import CASE_FOLDERS, CT_IDS, MAX_CASES, MODALITIES, MRI_IDS, SPLITS, plan_cases
from amos_tutorial.data.synthetic.writer import (
    check_target,
    dataset_json,
    metadata_csv,
    move_into_place,
    partial_folder,
    readme,
    remove_leftovers,
)

__all__ = ["check_subset", "generate_synthetic_dataset"]


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
    modalities, splits = check_subset(modalities, MODALITIES, "modalities"), check_subset(splits, SPLITS, "splits")
    limit = {("CT",): len(CT_IDS), ("MRI",): len(MRI_IDS)}.get(modalities, MAX_CASES)
    if not 1 <= n_cases <= limit:
        raise ValueError(
            f"n_cases must be 1-{limit} for modalities {'+'.join(modalities)} "
            f"(CT ids 1-499, MRI ids 501-599), got {n_cases}"
        )
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    max_shape = check_shape3(max_shape, "max_shape", MIN_SIDE)
    out = Path(out_dir).expanduser()
    check_target(out, overwrite)
    plans = plan_cases(n_cases, seed, modalities, splits)

    out.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(out)  # what a killed generation of this set left beside it
    tmp, lock = partial_folder(out)
    try:
        for img_dir, lab_dir in (CASE_FOLDERS[s] for s in splits):
            (tmp / img_dir).mkdir()
            if lab_dir:
                (tmp / lab_dir).mkdir()
        iterator = plans
        if progress:
            from tqdm.auto import tqdm

            iterator = tqdm(plans, desc="synthetic mini-AMOS", unit="case", file=sys.stderr)
        for plan in iterator:
            img_dir, lab_dir = CASE_FOLDERS[plan.split]
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
        atomic_write_text(tmp / "dataset.json", json.dumps(dataset_json(plans, seed), indent=4) + "\n")
        if metadata:
            atomic_write_text(tmp / METADATA_CSV_NAME, metadata_csv(plans))
        atomic_write_text(tmp / "readme.md", readme(plans, seed, max_shape, splits, metadata, modalities))
        lock.release()
        move_into_place(tmp, out, overwrite)
    except BaseException:
        lock.release()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def check_subset(values: Any, allowed: tuple[str, ...], name: str) -> tuple[str, ...]:
    """A non-empty subset of ``allowed`` (a sequence or a comma-separated string), in ``allowed`` order."""
    items = values.split(",") if isinstance(values, str) else list(values)
    items = [str(v).strip() for v in items if str(v).strip()]
    bad = [v for v in items if v not in allowed]
    if bad or not items:
        raise ValueError(f"{name} must be a non-empty subset of {', '.join(allowed)}, got {values!r}")
    return tuple(a for a in allowed if a in items)
