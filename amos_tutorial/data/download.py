"""Download and extract the real AMOS 2022 release from Zenodo (``amos data download DEST``).

Introduced in chapter *Getting the data*. Built on the standard library (:mod:`urllib.request` for
HTTP, :mod:`hashlib` for the checksum, :mod:`zipfile` and :mod:`shutil` for the extraction) and on
``tqdm`` for the progress bars, so that it works the same on a laptop, a cluster and Colab.

What ends up where::

    DEST/amos22.zip                        the release (about 24.2 GB), kept unless remove_zip=True
    DEST/amos22.zip.md5                    its verified MD5 (``md5sum -c`` format)
    DEST/labeled_data_meta_0000_0599.csv   the scanner/patient metadata (about 35 KB)
    DEST/amos22/                           the extracted release: the dataset root

The download of 24 GB over a long time is made safe in the usual ways: bytes go to
``amos22.zip.part`` and a cut connection is resumed with an HTTP ``Range`` request (also by simply
re-running the command), the finished file is checked against an MD5 and renamed into place only
then, extraction goes into a temporary folder renamed into place when complete, and a finished
run is detected and skipped.

The default MD5 :data:`AMOS_ZIP_MD5` comes from a third-party download script and is **unverified**:
if it fails on a download you trust, pass the checksum you trust (``md5=``/``--md5``) or disable the
check (``md5=None``/``--no-verify``).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import urllib.parse
from pathlib import Path
from typing import Any

from amos_tutorial.data.extract import COMPLETE_MARKER, UnsafeArchiveError, check_zip_members, extract_release
from amos_tutorial.data.fetch import (
    ChecksumError,
    DownloadError,
    TransferOptions,
    check_md5,
    download_file,
    md5_sidecar,
    md5sum,
    say,
)
from amos_tutorial.data.release import AMOS_ZIP_MD5, METADATA_CSV_NAME, RELEASE_DIR_NAME
from amos_tutorial.utils.options import with_settings

__all__ = [
    "ZENODO_RECORD",
    "ZENODO_OLD_RECORD",
    "ZENODO_BASE_URL",
    "AMOS_ZIP_NAME",
    "AMOS_ZIP_MD5",
    "AMOS_ZIP_SIZE_GB",
    "METADATA_CSV_NAME",
    "RELEASE_DIR_NAME",
    "EXTRACTION_FACTOR",
    "COMPLETE_MARKER",
    "DownloadError",
    "ChecksumError",
    "TransferOptions",
    "UnsafeArchiveError",
    "file_url",
    "md5sum",
    "download_file",
    "check_zip_members",
    "extract_release",
    "download_amos",
]

ZENODO_RECORD = "7262581"
# Users report that the data of this older record differ from the challenge's: never use it.
ZENODO_OLD_RECORD = "7155725"
ZENODO_BASE_URL = f"https://zenodo.org/records/{ZENODO_RECORD}/files"
AMOS_ZIP_NAME = "amos22.zip"
#: Approximate size of ``amos22.zip`` (22.6 GiB), only used in messages.
AMOS_ZIP_SIZE_GB = 24.2
#: Room the extracted release takes, relative to the zip size. The NIfTI files inside are already
#: gzip-compressed, so the release takes about as much room as the zip; 20 % is a margin. The
#: free-space check therefore asks for about 2.2 times the zip size (zip + extracted release).
EXTRACTION_FACTOR = 1.2


def file_url(name: str, base_url: str = ZENODO_BASE_URL) -> str:
    """URL of one file of the Zenodo record: ``<base_url>/<name>?download=1``.

    Introduced in chapter *Getting the data*. Built on :mod:`urllib.parse`.

    Args:
        name: File name in the record, e.g. ``"amos22.zip"``.
        base_url: Folder URL of the record's files (a local mirror or a test server also works).

    Returns:
        The download URL.

    Raises:
        ValueError: If ``base_url`` is not an ``http://`` or ``https://`` URL (``file://`` and other
            schemes that urllib would accept are refused on purpose).

    Examples:
        >>> file_url("amos22.zip")
        'https://zenodo.org/records/7262581/files/amos22.zip?download=1'
    """
    if not isinstance(name, str) or not name or "/" in name:
        raise ValueError(f"file name must be a plain, non-empty file name, got {name!r}")
    scheme = urllib.parse.urlsplit(str(base_url)).scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"{base_url}: base URL must start with http:// or https://")
    return f"{str(base_url).rstrip('/')}/{urllib.parse.quote(name)}?download=1"


def download_amos(
    dest: str | os.PathLike,
    md5: str | None = AMOS_ZIP_MD5,
    base_url: str = ZENODO_BASE_URL,
    extract: bool = True,
    keep_zip: bool = True,
    metadata: bool = True,
    check_space: bool = True,
    *,
    options: TransferOptions | None = None,
    **settings: Any,
) -> Path:
    """Download the AMOS 2022 release (Zenodo record 7262581) into ``dest`` and extract it.

    Introduced in chapter *Getting the data*. Built on the standard library (:mod:`urllib.request`,
    :mod:`hashlib`, :mod:`zipfile`, :mod:`shutil`) and ``tqdm``; see :func:`download_file` and
    :func:`extract_release` for the details of resuming, verification and safe extraction.

    Steps: the metadata CSV goes to ``dest/labeled_data_meta_0000_0599.csv``; ``amos22.zip``
    (about 24.2 GB) is downloaded (after a free-space check: about 2.2 times the zip size when
    extracting), checked against ``md5`` and extracted to ``dest/amos22``. Every step that is already
    done is skipped, so re-running after an interruption continues where it stopped and re-running
    after success makes no request at all. The older Zenodo record 7155725 holds different data
    and is not used.

    Args:
        dest: Download folder (created if needed).
        md5: Expected MD5 of the zip; the default :data:`AMOS_ZIP_MD5` is from a third-party script
            and unverified. None disables the check.
        base_url: Folder URL of the record's files (a mirror, or a local test server).
        extract: Extract the zip; if False, stop after the (verified) download.
        keep_zip: Keep ``amos22.zip`` after a successful extraction (False deletes it and its ``.md5``).
        metadata: Also download the metadata CSV.
        check_space: Check free disk space before downloading and before extracting.
        options: Timeout, retries (default 10, per file), wait before a retry and progress bars
            (:class:`~amos_tutorial.data.fetch.TransferOptions`).
        **settings: Fields of :class:`~amos_tutorial.data.fetch.TransferOptions` given as keywords
            (``timeout=5``, ``progress=False``...); they override ``options``.

    Returns:
        The dataset root ``dest/amos22``; with ``extract=False``, the path of the zip.

    Raises:
        ValueError: On an invalid argument or an unreadable zip.
        TypeError: For a keyword that is not a field of :class:`~amos_tutorial.data.fetch.TransferOptions`.
        UnsafeArchiveError: If the zip contains an entry escaping ``dest`` or a symbolic link.
        DownloadError: On HTTP errors, too many cut connections or a too small disk.
        ChecksumError: If the zip's MD5 differs (it is renamed ``amos22.zip.corrupt``).
        FileExistsError: If ``dest/amos22`` exists but was not completed by this tool.

    Examples:
        >>> root = download_amos("/data/amos")  # doctest: +SKIP
        >>> root  # doctest: +SKIP
        PosixPath('/data/amos/amos22')
    """
    transfer = with_settings(TransferOptions, options, settings)
    progress = transfer.progress
    md5 = check_md5(md5)
    file_url(AMOS_ZIP_NAME, base_url)  # validates base_url before anything touches the disk
    dest = Path(dest).expanduser()
    if dest.exists() and not dest.is_dir():
        raise ValueError(f"{dest}: download destination exists and is not a folder")
    dest.mkdir(parents=True, exist_ok=True)
    root = dest / RELEASE_DIR_NAME
    zip_path = dest / AMOS_ZIP_NAME
    transfer_args = dict(
        timeout=transfer.timeout, retries=transfer.retries, retry_wait=transfer.retry_wait, progress=progress
    )

    if metadata:
        csv_path = dest / METADATA_CSV_NAME
        if csv_path.is_file():
            say(f"{csv_path}: already downloaded")
        else:
            download_file(
                file_url(METADATA_CSV_NAME, base_url), csv_path, md5=None, check_space=check_space, **transfer_args
            )

    if extract and root.exists() and not (root / COMPLETE_MARKER).is_file():
        # Checked before a 24 GB download rather than after it.
        raise FileExistsError(
            f"{root}: folder exists but was not completely extracted by 'amos data download'; "
            "move it away (or delete it) and re-run"
        )
    if extract and (root / COMPLETE_MARKER).is_file():
        say(f"{root}: already downloaded and extracted, nothing to do")
    else:
        download_file(
            file_url(AMOS_ZIP_NAME, base_url), zip_path, md5=md5, check_space=check_space,
            extra_space_ratio=EXTRACTION_FACTOR if extract else 0.0, **transfer_args,
        )
        if not extract:
            say(f"{zip_path}: downloaded (not extracted)")
            return zip_path
        say(f"Extracting {zip_path} into {root} ...")
        extract_release(zip_path, dest, progress=progress, check_space=check_space)
        if not keep_zip:
            zip_path.unlink()
            with contextlib.suppress(FileNotFoundError):
                md5_sidecar(zip_path).unlink()
    say(f"AMOS 2022 release ready in {root}\nCheck it with:  amos data validate --data {shlex.quote(str(root))}")
    return root
