"""Facts about the AMOS 2022 release layout, in one place.

Introduced in chapter *Getting the data*. The reader (:mod:`~amos_tutorial.data.layout`), the
synthetic generator (:mod:`~amos_tutorial.data.synthetic`) and the downloader
(:mod:`~amos_tutorial.data.download`) all import these names, so the layout they agree on is
written down once. Sources: the release's readme.md (folders, id rule), the AMOS metadata CSV as
read by third-party loaders (column names, scanner models).
"""

from __future__ import annotations

__all__ = [
    "AMOS_ZIP_MD5",
    "RELEASE_DIR_NAME",
    "METADATA_CSV_NAME",
    "METADATA_COLUMNS",
    "SPLIT_FOLDERS",
    "CT_SCANNERS",
    "MRI_SCANNERS",
]

#: MD5 of ``amos22.zip`` as published by a third-party download script (torch-em): UNVERIFIED.
AMOS_ZIP_MD5 = "67717b2a483ac0744c89c3016b7aaef7"
#: Folder created by unzipping ``amos22.zip``.
RELEASE_DIR_NAME = "amos22"
#: The metadata CSV, a separate download of Zenodo record 7262581.
METADATA_CSV_NAME = "labeled_data_meta_0000_0599.csv"
#: Column names of the metadata CSV (at least these; ``amos_id`` may be ``1`` or ``"amos_0001"``).
METADATA_COLUMNS: tuple[str, ...] = (
    "amos_id",
    "Patient's Birth Date",
    "Patient's Sex",
    "Patient's Age",
    "Manufacturer's Model Name",
    "Manufacturer",
    "Acquisition Date",
    "Site",
)
#: dataset.json split key -> (image folder, label folder). The release has no labelsTs.
SPLIT_FOLDERS: dict[str, tuple[str, str]] = {
    "training": ("imagesTr", "labelsTr"),
    "validation": ("imagesVa", "labelsVa"),
    "test": ("imagesTs", "labelsTs"),
}
#: Scanner models of the release, as in the metadata's "Manufacturer's Model Name".
CT_SCANNERS: tuple[str, ...] = ("Optima CT660", "Optima CT540", "Brilliance16", "SOMATOM Force", "Aquilion ONE")
MRI_SCANNERS: tuple[str, ...] = ("Ingenia", "SIGNA HDe", "Achieva", "Prisma")
