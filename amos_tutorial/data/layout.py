"""Read the AMOS 2022 release layout: cases per split, image/label paths, modality and scanner metadata.

Introduced in chapter *Getting the data*. The real release unpacks to::

    amos22/
        dataset.json  readme.md
        imagesTr/ labelsTr/   training   (amos_XXXX.nii.gz)
        imagesVa/ labelsVa/   validation
        imagesTs/             test (no labels)
    labeled_data_meta_0000_0599.csv   (separate download, put beside amos22/ by `amos data download`)

The synthetic mini-AMOS set (``amos data synth``) writes the same layout, with the CSV inside the root.
:func:`load_amos` reads either. The case list comes from ``dataset.json`` (paths relative to it, like
``"./imagesTr/amos_0001.nii.gz"``; ``test`` entries may be plain strings, as in the Medical Segmentation
Decathlon); without ``dataset.json`` the image folders are scanned instead, and :meth:`AmosDataset.summary`
says so.

**Modality rule.** A case is CT or MRI. The scanner model in the metadata CSV decides first
(:data:`CT_SCANNERS`, :data:`MRI_SCANNERS`). Otherwise the number in the file name decides, as the
release's readme puts it: id < 500 is CT, otherwise MRI (``modality_rule="readme"``). Id 500 is the one
disputed case: the organisers' own tools call it CT (``modality_rule="organisers"``: id <= 500 is CT).
Every case records which source decided (``modality_source``: ``"metadata"`` or ``"id-rule"``).

Examples:
    >>> ds = load_amos("synthetic")  # doctest: +SKIP
    >>> print(ds.summary())  # doctest: +SKIP
    >>> ds.to_frame().groupby(["split", "modality"]).size()  # doctest: +SKIP
"""

from __future__ import annotations

import json
import numbers
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from amos_tutorial.data.case_ids import MODALITY_RULES, case_id, case_number, modality_from_id
from amos_tutorial.data.metadata import (
    AGE_COLUMN,
    MODEL_COLUMN,
    find_metadata_csv,
    modality_from_scanner,
    parse_age,
    read_metadata,
)
from amos_tutorial.data.release import (
    CT_SCANNERS,
    METADATA_COLUMNS,
    METADATA_CSV_NAME,
    MRI_SCANNERS,
    RELEASE_DIR_NAME,
    SPLIT_FOLDERS,
)
from amos_tutorial.labels import dataset_json_labels
from amos_tutorial.paths import resolve_data_root

__all__ = [
    "SPLITS",
    "MODALITIES",
    "SPLIT_FOLDERS",
    "MODALITY_RULES",
    "METADATA_CSV_NAME",
    "METADATA_COLUMNS",
    "CT_SCANNERS",
    "MRI_SCANNERS",
    "AmosCase",
    "AmosDataset",
    "load_amos",
    "modality_from_id",
    "modality_from_scanner",
    "parse_age",
    "case_number",
    "case_id",
    "find_metadata_csv",
]

SPLITS: tuple[str, ...] = ("training", "validation", "test")
MODALITIES: tuple[str, ...] = ("CT", "MRI")
_RELEASE_FOLDER = RELEASE_DIR_NAME


@dataclass(frozen=True)
class AmosCase:
    """One AMOS scan with its place in the release.

    Introduced in chapter *Getting the data*.

    Attributes:
        case_id: ``"amos_0001"``-style identifier (the file name without ``.nii.gz``).
        number: The integer in the identifier (1 for ``amos_0001``).
        split: One of :data:`SPLITS`.
        image: Path of the image file (may not exist: see :meth:`AmosDataset.missing_files`).
        label: Path of the label file, or None when the case has no label (test split).
        modality: ``"CT"`` or ``"MRI"``.
        modality_source: ``"metadata"`` (scanner model in the CSV) or ``"id-rule"`` (number in the name).
        metadata: The case's row of the metadata CSV (column -> value, empty cells as None);
            empty when there is no CSV or no row for this case.

    Examples:
        >>> c = AmosCase("amos_0001", 1, "training", Path("imagesTr/amos_0001.nii.gz"), None, "CT", "id-rule")
        >>> c.has_label
        False
    """

    case_id: str
    number: int
    split: str
    image: Path
    label: Path | None
    modality: str
    modality_source: str
    # A dict is not hashable: leave it out of hashing and equality so cases can live in sets.
    metadata: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def has_label(self) -> bool:
        """Whether a label path is listed for this case (the file itself may still be missing)."""
        return self.label is not None


def _load_dataset_json(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(data, dict):
        kind = type(data).__name__
        raise ValueError(f"{path}: expected a JSON object with 'training', 'validation', 'test', got {kind}")
    return data


def _entry_paths(entry: Any, split: str, index: int, json_path: Path) -> tuple[str, str | None]:
    """(image, label) strings of one dataset.json entry: a dict, or a plain string as in MSD test lists."""
    if isinstance(entry, str):
        return entry, None
    if isinstance(entry, dict) and isinstance(entry.get("image"), str):
        label = entry.get("label")
        if label is not None and not isinstance(label, str):
            raise ValueError(f"{json_path}: {split}[{index}]: 'label' must be a path string, got {label!r}")
        return entry["image"], label
    raise ValueError(
        f"{json_path}: {split}[{index}]: expected a path string or {{'image': ..., 'label': ...}}, got {entry!r}"
    )


def _resolve_entry(root: Path, rel: str) -> Path:
    # "./imagesTr/x.nii.gz" -> root/imagesTr/x.nii.gz; pathlib drops the "." part. Absolute paths stay.
    p = Path(rel)
    return p if p.is_absolute() else root / p


def _is_nifti_file(path: Path) -> bool:
    # Dot files are atomic-write temporaries or macOS "._" resource forks, never cases.
    name = path.name.lower()
    return not path.name.startswith(".") and (name.endswith(".nii.gz") or name.endswith(".nii")) and path.is_file()


def _matching_file(folder: Path, name: str) -> Path | None:
    """The file of the same case in ``folder``: same name, else the other of ``.nii``/``.nii.gz``."""
    stem = name[:-7] if name.lower().endswith(".nii.gz") else name[:-4] if name.lower().endswith(".nii") else name
    for candidate in (name, f"{stem}.nii.gz", f"{stem}.nii"):
        if (folder / candidate).is_file():
            return folder / candidate
    return None


def _label_table(data: dict | None) -> tuple[dict[int, str], str]:
    """The label names by id and a sentence saying where they come from."""
    default = {int(k): v for k, v in dataset_json_labels().items()}
    raw = (data or {}).get("labels")
    if not isinstance(raw, dict) or not raw:
        return default, "AMOS table of amos_tutorial.labels (dataset.json has no 'labels')"
    table: dict[int, str] = {}
    try:
        for key, value in raw.items():
            if isinstance(value, numbers.Integral) and not isinstance(value, bool):
                table[int(value)] = str(key)  # nnU-Net v2 style: {"background": 0, ...}
            else:
                table[int(key)] = str(value)  # MSD / AMOS style: {"0": "background", ...}
    except (TypeError, ValueError):
        return default, "AMOS table of amos_tutorial.labels (dataset.json 'labels' is not an id table)"
    differing = sorted(i for i in set(table) | set(default) if table.get(i) != default.get(i))
    if not differing:
        return table, "dataset.json (identical to the AMOS table, typos included)"
    return table, f"dataset.json (differs from the AMOS table at ids {differing}; organs are mapped by id)"


class AmosDataset:
    """The cases of one AMOS folder (real release or synthetic mini-AMOS), built by :func:`load_amos`.

    Introduced in chapter *Getting the data*. Builds on pandas for the tables.

    Attributes:
        root: The folder holding ``dataset.json`` and the image/label folders.
        dataset_json: The parsed ``dataset.json``, or None when the folders were scanned instead.
        metadata: The metadata CSV indexed by case number (``number``), or None when there is none.
        metadata_csv: Path of that CSV, or None.
        cases: Every case, split by split in ``dataset.json`` order (folder scan: sorted by number).
        modality_rule: The id rule used where the metadata does not decide (see :func:`modality_from_id`).
        label_names: Label id -> name, from ``dataset.json`` when it has a table, else the package's.
        label_source: A sentence saying where ``label_names`` comes from.
        case_source: ``"dataset.json"`` or ``"folder scan"``.
        ignored_files: NIfTI files in the image folders whose names are not ``amos_XXXX`` (folder scan).

    Examples:
        >>> ds = load_amos("synthetic")  # doctest: +SKIP
        >>> len(ds.split("training")), ds.case("amos_0001").modality  # doctest: +SKIP
    """

    def __init__(
        self,
        root: Path,
        cases: list[AmosCase],
        dataset_json: dict | None = None,
        metadata: pd.DataFrame | None = None,
        metadata_csv: Path | None = None,
        modality_rule: str = "readme",
        ignored_files: list[Path] | None = None,
    ) -> None:
        self.root = Path(root)
        self.cases = list(cases)
        self.dataset_json = dataset_json
        self.metadata = metadata
        self.metadata_csv = metadata_csv
        self.modality_rule = modality_rule
        self.case_source = "dataset.json" if dataset_json is not None else "folder scan"
        self.ignored_files = list(ignored_files or [])
        self.label_names, self.label_source = _label_table(dataset_json)
        self._by_number = {c.number: c for c in self.cases}

    def __len__(self) -> int:
        return len(self.cases)

    def __iter__(self) -> Iterator[AmosCase]:
        return iter(self.cases)

    def __repr__(self) -> str:
        counts = ", ".join(f"{s}={len(self.split(s))}" for s in SPLITS)
        return f"AmosDataset(root={str(self.root)!r}, {counts}, source={self.case_source!r})"

    def split(self, name: str) -> list[AmosCase]:
        """The cases of one split.

        Args:
            name: One of :data:`SPLITS` (``"training"``, ``"validation"``, ``"test"``).

        Returns:
            The cases in listing order.

        Raises:
            ValueError: For an unknown split name.
        """
        if name not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {name!r}")
        return [c for c in self.cases if c.split == name]

    def case(self, case_id: str | int) -> AmosCase:
        """Look a case up by identifier, number or file name.

        Args:
            case_id: ``"amos_0001"``, ``1`` or ``"amos_0001.nii.gz"``.

        Returns:
            The case.

        Raises:
            KeyError: If this dataset has no such case.
        """
        number = case_number(case_id)
        try:
            return self._by_number[number]
        except KeyError:
            raise KeyError(f"{self.root}: no case amos_{number:04d} in this dataset") from None

    def labelled(self, modality: str | None = None) -> list[AmosCase]:
        """The cases that come with a label (training and validation in the release).

        Args:
            modality: ``"CT"`` or ``"MRI"`` for the labelled cases of one modality only; None for all.
                A copy without that modality (CT only for Task 1, say) gives an empty list: check it
                before taking the first case.

        Returns:
            The cases whose ``label`` is not None, in listing order (possibly empty).

        Raises:
            ValueError: For a modality other than ``"CT"``, ``"MRI"`` or None.

        Examples:
            >>> [c.split for c in load_amos("synthetic").labelled()][:1]  # doctest: +SKIP
            ['training']
            >>> load_amos("synthetic").labelled(modality="MRI")[0].modality  # doctest: +SKIP
            'MRI'
        """
        if modality is not None and modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES} or None, got {modality!r}")
        return [c for c in self.cases if c.label is not None and modality in (None, c.modality)]

    def modalities(self, labelled: bool = True) -> tuple[str, ...]:
        """The modalities this copy holds, in the order ``("CT", "MRI")``.

        Args:
            labelled: Count only the cases with a label (default), or every case.

        Returns:
            ``("CT", "MRI")``, ``("CT",)``, ``("MRI",)`` or ``()``.
        """
        cases = self.labelled() if labelled else self.cases
        return tuple(m for m in MODALITIES if any(c.modality == m for c in cases))

    def metadata_note(self) -> str | None:
        """A sentence saying why the metadata columns are unknown, or None when the CSV was found.

        Introduced in chapter *Getting the data*. The metadata CSV is a separate download; a copy
        without it still works (the modality then comes from the id rule), but the scanner, site, sex
        and age of every case are unknown.

        Returns:
            The sentence, or None.
        """
        if self.metadata is not None:
            return None
        return (
            f"No metadata CSV ({METADATA_CSV_NAME}) in {self.root} or its parent: scanner, site, sex and "
            "age are unknown (empty) for every case, and the modality comes from the case id. The CSV is a "
            "separate file of Zenodo record 7262581; `amos data download` puts it beside amos22/."
        )

    def missing_files(self) -> list[tuple[AmosCase, Path]]:
        """Listed image or label files that do not exist.

        Returns:
            ``(case, path)`` pairs in case order; empty when every listed file is there.
        """
        missing = []
        for c in self.cases:
            for path in (c.image, c.label):
                if path is not None and not path.is_file():
                    missing.append((c, path))
        return missing

    def orphan_labels(self) -> list[Path]:
        """Label files on disk with no image: no image of the same case (``.nii`` or ``.nii.gz``), no case listing them.

        A label whose case is listed with a missing image is left out: :meth:`missing_files` reports that
        case already.

        Returns:
            The label paths, sorted per label folder.
        """
        listed = {c.label for c in self.cases if c.label is not None}
        orphans = []
        for image_dir, label_dir in SPLIT_FOLDERS.values():
            folder = self.root / label_dir
            if not folder.is_dir():
                continue
            for path in sorted(folder.iterdir()):
                if not _is_nifti_file(path) or path in listed:
                    continue
                if _matching_file(self.root / image_dir, path.name) is None:
                    orphans.append(path)
        return orphans

    def unlisted_images(self) -> dict[str, list[Path]]:
        """Image files on disk that no case lists, per image folder (only non-empty folders are keys).

        Useful for the test split, whose size the readme and third-party listings disagree on.

        Returns:
            Image folder name (``"imagesTs"``) -> unlisted paths. Always empty after a folder scan.
        """
        listed = {c.image for c in self.cases}
        found: dict[str, list[Path]] = {}
        for image_dir, _ in SPLIT_FOLDERS.values():
            folder = self.root / image_dir
            if folder.is_dir():
                extra = [p for p in sorted(folder.iterdir()) if _is_nifti_file(p) and p not in listed]
                extra = [p for p in extra if p not in self.ignored_files]
                if extra:
                    found[image_dir] = extra
        return found

    def to_frame(self) -> pd.DataFrame:
        """One row per case: case_id, number, split, modality, modality_source, image, label, then metadata.

        The metadata columns are those of the CSV (without ``amos_id``, which ``number`` replaces), plus an
        integer ``age_years`` column parsed from ``Patient's Age`` (see :func:`parse_age`). The release's
        columns (:data:`METADATA_COLUMNS`) are always there: without a CSV, or for a case it does not list,
        their values are missing (see :meth:`metadata_note`). Paths are strings; a case without a label
        has None.

        Returns:
            A pandas DataFrame.

        Examples:
            >>> load_amos("synthetic").to_frame().groupby("modality").size()  # doctest: +SKIP
        """
        base = ["case_id", "number", "split", "modality", "modality_source", "image", "label"]
        rows = [
            {
                "case_id": c.case_id,
                "number": c.number,
                "split": c.split,
                "modality": c.modality,
                "modality_source": c.modality_source,
                "image": str(c.image),
                "label": None if c.label is None else str(c.label),
            }
            for c in self.cases
        ]
        frame = pd.DataFrame(rows, columns=base)
        if self.metadata is None:
            # No CSV: the release's columns exist with unknown values, so code that selects them runs.
            meta = pd.DataFrame(columns=[c for c in METADATA_COLUMNS if c != "amos_id"], dtype=object)
        else:
            meta = self.metadata.drop(columns=["amos_id"])
            for column in METADATA_COLUMNS:
                if column != "amos_id" and column not in meta.columns:
                    meta[column] = None
        meta_columns = list(meta.columns)
        joined = frame.join(meta, on="number")
        if AGE_COLUMN in meta_columns:
            joined["age_years"] = pd.array([parse_age(a) for a in joined[AGE_COLUMN]], dtype="Int64")
            position = meta_columns.index(AGE_COLUMN) + 1
            meta_columns.insert(position, "age_years")
        return joined[base + meta_columns]

    def summary(self) -> str:
        """A readable report: where the case list and labels come from, cases per split and modality, problems.

        Returns:
            Several lines of text (what ``amos data info`` prints).

        Examples:
            >>> print(load_amos("synthetic").summary())  # doctest: +SKIP
        """
        lines = [f"AMOS data at {self.root}"]
        if self.dataset_json is not None:
            lines.append(f"  case list:   {self.root / 'dataset.json'}")
            for key in ("description", "release", "licence"):
                if self.dataset_json.get(key):
                    lines.append(f"  {key + ':':<12} {self.dataset_json[key]}")
        else:
            lines.append("  case list:   no dataset.json found: cases found by scanning imagesTr/imagesVa/imagesTs")
        lines.append(f"  labels:      {self.label_source}")
        if self.metadata is not None:
            matched = sum(1 for c in self.cases if c.number in self.metadata.index)
            lines.append(
                f"  metadata:    {self.metadata_csv} "
                f"({len(self.metadata)} rows, {matched} of {len(self.cases)} cases matched)"
            )
        else:
            lines.append(f"  metadata:    not found ({METADATA_CSV_NAME} looked for in the root and its parent)")
        if self.modality_rule == "readme":
            id_rule = "id < 500 is CT, otherwise MRI (readme rule; id 500 counts as MRI)"
        else:
            id_rule = "id <= 500 is CT, otherwise MRI (organisers' rule; id 500 counts as CT)"
        lines.append(f"  modality:    scanner model in the metadata when known, else {id_rule}")
        lines.append("")
        lines.append(f"  {'split':<11}{'CT':>6}{'MRI':>6}{'total':>7}{'labelled':>10}")
        for split in SPLITS + ("all",):
            cs = self.cases if split == "all" else self.split(split)
            ct = sum(c.modality == "CT" for c in cs)
            lines.append(
                f"  {split:<11}{ct:>6}{len(cs) - ct:>6}{len(cs):>7}{sum(c.label is not None for c in cs):>10}"
            )
        by_meta = sum(c.modality_source == "metadata" for c in self.cases)
        lines.append(f"  modality decided by: metadata {by_meta}, id rule {len(self.cases) - by_meta}")
        notes = self._notes()
        if notes:
            lines.append("")
            lines.extend(f"  ! {n}" for n in notes)
        return "\n".join(lines)

    def _notes(self, max_listed: int = 10) -> list[str]:
        notes: list[str] = []
        if self.dataset_json is not None:
            for split, key in zip(SPLITS, ("numTraining", "numValidation", "numTest")):
                declared, listed = self.dataset_json.get(key), len(self.split(split))
                if isinstance(declared, int) and declared != listed:
                    notes.append(f"dataset.json: {key} says {declared} but {listed} {split} entries are listed")
        missing = self.missing_files()
        if missing:
            notes.append(f"{len(missing)} listed file(s) missing:")
            notes.extend(f"  {path}" for _, path in missing[:max_listed])
            if len(missing) > max_listed:
                notes.append(f"  ... and {len(missing) - max_listed} more (amos data validate lists all)")
        orphans = self.orphan_labels()
        if orphans:
            notes.append(f"{len(orphans)} label file(s) without an image:")
            notes.extend(f"  {p}" for p in orphans[:max_listed])
        for folder, extra in self.unlisted_images().items():
            notes.append(f"{folder}: {len(extra)} image file(s) on disk not listed in dataset.json")
        if self.ignored_files:
            notes.append(f"{len(self.ignored_files)} NIfTI file(s) ignored, name not amos_XXXX:")
            notes.extend(f"  {p}" for p in self.ignored_files[:max_listed])
        return notes


def _release_root(path: Path) -> Path:
    """The folder holding dataset.json or the image folders: ``path`` itself or its ``amos22/``."""

    def looks_like_release(p: Path) -> bool:
        return (p / "dataset.json").is_file() or any((p / d).is_dir() for d, _ in SPLIT_FOLDERS.values())

    if looks_like_release(path):
        return path
    if looks_like_release(path / _RELEASE_FOLDER):
        return path / _RELEASE_FOLDER
    raise FileNotFoundError(
        f"{path}: not an AMOS data folder: no dataset.json, no imagesTr/imagesVa/imagesTs "
        f"and no {_RELEASE_FOLDER}/ subfolder with them"
    )


def _scan_folders(root: Path) -> tuple[list[tuple[str, Path, Path | None]], list[Path]]:
    entries, ignored = [], []
    for split, (image_dir, label_dir) in SPLIT_FOLDERS.items():
        folder = root / image_dir
        if not folder.is_dir():
            continue
        found = []
        for path in folder.iterdir():
            if not _is_nifti_file(path):
                continue
            try:
                found.append((case_number(path), path))
            except ValueError:
                ignored.append(path)
        for _, image in sorted(found):
            entries.append((split, image, _matching_file(root / label_dir, image.name)))
    return entries, sorted(ignored)


def load_amos(
    root: str | os.PathLike | None = None,
    metadata_csv: str | os.PathLike | None = None,
    modality_rule: str = "readme",
) -> AmosDataset:
    """Read an AMOS folder: the real ``amos22`` release or the synthetic mini-AMOS set.

    Introduced in chapter *Getting the data*. Builds on ``json`` and pandas; paths via
    :func:`amos_tutorial.paths.resolve_data_root`.

    The case list comes from ``dataset.json``; without it, the image folders are scanned (labels are
    matched by case name, ``.nii`` or ``.nii.gz``). A case's modality comes from the scanner model in
    the metadata CSV when the model is known, otherwise from its number (see :func:`modality_from_id`).
    Listed files that are missing do not stop the reading: :meth:`AmosDataset.summary` and
    ``amos data validate`` report them.

    Args:
        root: The folder holding ``dataset.json`` or its parent (``amos22/`` is entered when present);
            ``"synthetic"`` for the cached synthetic set; None for ``$AMOS_DATA_DIR``.
        metadata_csv: The metadata CSV; by default :func:`find_metadata_csv` looks beside the data.
        modality_rule: ``"readme"`` (id < 500 is CT) or ``"organisers"`` (id <= 500 is CT), used where
            the metadata does not decide.

    Returns:
        The dataset.

    Raises:
        FileNotFoundError: If the folder or the given CSV does not exist, or ``root`` is None and
            ``AMOS_DATA_DIR`` is unset (the message says what to set).
        ValueError: If ``dataset.json`` or the CSV cannot be parsed (the message starts with its path),
            or a case is listed twice.

    Examples:
        >>> ds = load_amos("synthetic")  # doctest: +SKIP
        >>> ds.case("amos_0001").modality_source  # doctest: +SKIP
        'metadata'
    """
    if modality_rule not in MODALITY_RULES:
        raise ValueError(f"modality_rule must be one of {MODALITY_RULES}, got {modality_rule!r}")
    base = _release_root(resolve_data_root(root))

    json_path = base / "dataset.json"
    data: dict | None = None
    ignored: list[Path] = []
    entries: list[tuple[str, Path, Path | None]] = []
    if json_path.is_file():
        data = _load_dataset_json(json_path)
        for split in SPLITS:
            items = data.get(split) or []
            if not isinstance(items, list):
                raise ValueError(f"{json_path}: '{split}' must be a list, got {type(items).__name__}")
            for i, entry in enumerate(items):
                image, label = _entry_paths(entry, split, i, json_path)
                label_path = None if label is None else _resolve_entry(base, label)
                entries.append((split, _resolve_entry(base, image), label_path))
    else:
        entries, ignored = _scan_folders(base)

    if metadata_csv is not None:
        csv_path: Path | None = Path(metadata_csv).expanduser()
        if not csv_path.is_file():
            raise FileNotFoundError(f"{csv_path}: metadata CSV does not exist")
    else:
        csv_path = find_metadata_csv(base)
    metadata = read_metadata(csv_path) if csv_path is not None else None

    cases: list[AmosCase] = []
    seen: dict[int, str] = {}
    for split, image, label in entries:
        try:
            number = case_number(image)
        except ValueError as exc:
            raise ValueError(f"{json_path}: {split}: {exc}") from None
        if number in seen:
            raise ValueError(f"{json_path}: case amos_{number:04d} is listed twice ({seen[number]} and {split})")
        seen[number] = split
        row: dict = {}
        modality, source = None, "id-rule"
        if metadata is not None and number in metadata.index:
            row = {k: (None if pd.isna(v) else v) for k, v in metadata.loc[number].items() if k != "amos_id"}
            modality = modality_from_scanner(row.get(MODEL_COLUMN))
            if modality is not None:
                source = "metadata"
        if modality is None:
            modality = modality_from_id(number, modality_rule)
        cases.append(AmosCase(f"amos_{number:04d}", number, split, image, label, modality, source, row))

    return AmosDataset(
        base,
        cases,
        dataset_json=data,
        metadata=metadata,
        metadata_csv=csv_path,
        modality_rule=modality_rule,
        ignored_files=ignored,
    )
