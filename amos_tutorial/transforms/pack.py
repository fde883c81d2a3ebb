"""A course pack: a few cases of the release, coarser and cropped, in the release layout, in one zip.

Introduced in chapter *Getting the data* (``amos data pack OUT --data DIR --cases N``). Built on the
package's own pieces: :func:`~amos_tutorial.data.selection.choose_cases` picks the cases across split,
modality and scanner, :func:`~amos_tutorial.transforms.preprocessing.resample_and_crop` (the training
preprocessing without its intensity step) makes each scan coarser and crops it to the body,
:mod:`~amos_tutorial.data.manifest` records a SHA-256 per file, and :mod:`zipfile` writes the zip.

What ends up where::

    OUT/dataset.json                     the release's, listing the packed cases (licence kept)
    OUT/labeled_data_meta_0000_0599.csv  their metadata rows, when the source has the CSV
    OUT/imagesTr/amos_XXXX.nii.gz ...    the cases, in their release folders and under their own ids
    OUT/pack_manifest.json               source, spacing, cases, licence, attribution, SHA-256 per file
    OUT.zip                              all of it under OUT's name, for a shared drive

One case is in memory at a time, so packing needs the memory of the largest case, whatever ``N``.
The pack is written into a hidden folder and renamed into place when complete.

Examples:
    >>> result = make_pack("/data/pack", "/data/amos22", n_cases=24)  # doctest: +SKIP
    >>> result.zip_path.name  # doctest: +SKIP
    'pack.zip'
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import numpy as np

from amos_tutorial.data.manifest import PACK_SPACING, write_manifest
from amos_tutorial.data.release import METADATA_CSV_NAME, SPLIT_FOLDERS
from amos_tutorial.data.selection import LABELLED_SPLITS, choose_cases
from amos_tutorial.transforms.preprocessing import resample_and_crop
from amos_tutorial.utils.io import atomic_path, atomic_write_text, load_nifti, save_nifti

__all__ = ["PACK_SPACING", "AMOS_ATTRIBUTION", "PackResult", "make_pack"]

#: The citation the AMOS organisers ask for, written into every pack's manifest beside the licence.
AMOS_ATTRIBUTION = (
    "Ji Y. et al., AMOS: A Large-Scale Abdominal Multi-Organ Benchmark for Versatile Medical Image "
    "Segmentation, NeurIPS 2022 Datasets and Benchmarks Track; data: Zenodo record 7262581"
)
_RELEASE_KEYS = ("name", "description", "reference", "licence", "release", "tensorImageSize", "modality")
_SCANNER_COLUMN = "Manufacturer's Model Name"


class PackResult(NamedTuple):
    """What :func:`make_pack` wrote.

    Attributes:
        root: The pack folder ``OUT``.
        zip_path: ``OUT.zip``.
        cases: Ids of the packed cases.
        source_bytes: Bytes of the source files of those cases.
        pack_bytes: Bytes of the pack's case files.
        zip_bytes: Size of the zip.
    """

    root: Path
    zip_path: Path
    cases: list[str]
    source_bytes: int
    pack_bytes: int
    zip_bytes: int


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _write_zip(folder: Path, zip_path: Path) -> None:
    """Zip ``folder`` under its own name; gzip files are stored (deflating them again gains nothing)."""
    with atomic_path(zip_path) as tmp, zipfile.ZipFile(tmp, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                method = zipfile.ZIP_STORED if path.name.endswith(".gz") else zipfile.ZIP_DEFLATED
                zf.write(path, f"{folder.name}/{_rel(path, folder)}", compress_type=method)


def make_pack(
    out: str | os.PathLike,
    data: str | os.PathLike,
    n_cases: int,
    spacing: Sequence[float] = PACK_SPACING,
    modalities: Sequence[str] | None = None,
    splits: Sequence[str] | None = LABELLED_SPLITS,
    seed: int | None = 0,
    overwrite: bool = False,
    progress: bool = True,
) -> PackResult:
    """Write a course pack of ``n_cases`` cases of ``data`` into ``out`` and ``out.zip``.

    Introduced in chapter *Getting the data*.

    Args:
        out: The pack folder to create (absent or empty unless ``overwrite``).
        data: An AMOS folder (the release, a partial download, the synthetic set).
        n_cases: How many cases.
        spacing: Voxel size of the pack in mm (x, y, z).
        modalities: Keep only these modalities when choosing; None keeps both.
        splits: Keep only these splits when choosing; the default keeps the labelled ones; None keeps all.
        seed: Seeded choice (None: the lowest case numbers first).
        overwrite: Replace an existing ``out`` and ``out.zip``.
        progress: Show a tqdm progress bar.

    Returns:
        A :class:`PackResult`.

    Raises:
        ValueError: On a bad argument, too few cases, or an unreadable source file (the message names it).
        FileExistsError: If ``out`` exists and is not empty, without ``overwrite``.
        FileNotFoundError: If ``data`` is not an AMOS folder or a case file is missing.
    """
    from tqdm.auto import tqdm

    from amos_tutorial import __version__
    from amos_tutorial.data.layout import load_amos
    from amos_tutorial.utils.geometry import spacing_from_affine

    try:
        spacing = tuple(float(s) for s in spacing)
    except (TypeError, ValueError):
        raise ValueError(f"spacing must be three numbers in mm, got {spacing!r}") from None
    if len(spacing) != 3 or not all(0.1 <= s <= 20.0 for s in spacing):
        raise ValueError(f"spacing must be three numbers between 0.1 and 20 mm (x, y, z), got {spacing!r}")
    out = Path(out).expanduser()
    zip_path = out.with_name(out.name + ".zip")
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise FileExistsError(f"{out}: exists and is not an empty folder; choose another OUT or pass --overwrite")
    ds = load_amos(data)
    picked = choose_cases(ds.cases, n=n_cases, modalities=modalities, splits=splits, seed=seed)
    for case in picked:
        for path in (case.image, case.label):
            if path is not None and not Path(path).is_file():
                raise FileNotFoundError(f"{path}: file of {case.case_id} does not exist")

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.packing")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    source = ds.dataset_json or {}
    entries: dict[str, list] = {s: [] for s in SPLIT_FOLDERS}
    records, source_bytes = [], 0
    try:
        for case in tqdm(picked, desc="packing", unit="case", disable=not progress):
            image_dir, label_dir = SPLIT_FOLDERS[case.split]
            name = f"{case.case_id}.nii.gz"
            image, affine = load_nifti(case.image)
            label = None if case.label is None else load_nifti(case.label)[0]
            source_bytes += Path(case.image).stat().st_size + (Path(case.label).stat().st_size if case.label else 0)
            try:
                new_image, new_label, new_affine = resample_and_crop(
                    image, affine, case.modality, spacing, label=label,
                )  # fmt: skip
            except ValueError as exc:
                raise ValueError(f"{case.image}: {exc}") from None
            save_nifti(new_image, new_affine, tmp / image_dir / name)
            entry: Any = f"./{image_dir}/{name}"
            if new_label is not None:
                save_nifti(new_label, new_affine, tmp / label_dir / name, dtype=np.uint8)
                entry = {"image": entry, "label": f"./{label_dir}/{name}"}
            entries[case.split].append(entry)
            records.append({
                "case_id": case.case_id,
                "source_case_id": case.case_id,
                "split": case.split,
                "modality": case.modality,
                "scanner": (case.metadata or {}).get(_SCANNER_COLUMN),
                "source_image": _rel(Path(case.image), Path(ds.root)),
                "original_shape": [int(s) for s in image.shape[:3]],
                "original_spacing": [round(float(s), 4) for s in spacing_from_affine(affine)],
                "shape": [int(s) for s in new_image.shape],
            })  # fmt: skip
            del image, label, new_image, new_label
        listing = {k: source[k] for k in source if k not in SPLIT_FOLDERS and not k.startswith("num")}
        listing.update(
            numTraining=len(entries["training"]), numValidation=len(entries["validation"]),
            numTest=len(entries["test"]), **entries,
        )  # fmt: skip
        atomic_write_text(tmp / "dataset.json", json.dumps(listing, indent=4, ensure_ascii=False) + "\n")
        if ds.metadata is not None:
            rows = ds.metadata.loc[[c.number for c in picked if c.number in ds.metadata.index]]
            rows.to_csv(tmp / METADATA_CSV_NAME, index=False)
        write_manifest(
            tmp,
            {
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "tool": f"amos_tutorial {__version__} (amos data pack)",
                "source": {"folder": str(Path(ds.root).resolve()), **{k: source[k] for k in _RELEASE_KEYS if k in source}},
                "licence": source.get("licence", "not stated in the source dataset.json"),
                "attribution": AMOS_ATTRIBUTION,
                "spacing_mm": list(spacing),
                "crop": "to the body: the foreground box of the training preprocessing",
                "seed": seed,
                "cases": records,
            },
        )
        if out.is_dir():
            shutil.rmtree(out)
        elif out.exists():
            out.unlink()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _write_zip(out, zip_path)
    pack_bytes = sum(p.stat().st_size for p in out.rglob("*.nii.gz"))
    return PackResult(out, zip_path, [c.case_id for c in picked], source_bytes, pack_bytes, zip_path.stat().st_size)

