"""Atomic file writes and NIfTI I/O, built on nibabel.

Every file this package writes goes through :func:`atomic_path`: the data is written to a temporary
file in the destination folder and renamed over the target only once complete, so an interrupted
run never leaves a half-written file that a later run would mistake for a finished one.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np

__all__ = [
    "MAX_NIFTI_VOXELS",
    "GZIP_MAX_RATIO",
    "atomic_path",
    "atomic_write_text",
    "check_nifti_size",
    "load_nifti",
    "remove_partial_files",
    "save_nifti",
]

#: Largest volume :func:`load_nifti` reads, in voxels: 2**30 (4 GiB as float32). The largest AMOS
#: scans have about 512 x 512 x 1000 = 2.6e8 voxels; a header claiming more is damaged or hostile.
MAX_NIFTI_VOXELS = 2**30
#: Deflate never compresses by more than about 1032:1, so a ``.nii.gz`` of N bytes holds at most
#: ``GZIP_MAX_RATIO * N`` bytes of data: a header claiming more cannot be right.
GZIP_MAX_RATIO = 1032
#: Free bytes under which a failed write is reported as a full disk.
_NEARLY_FULL_BYTES = 1 << 20


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success.

    Args:
        target: Final path of the file.
        suffix: Suffix of the temporary file (defaults to the target's full suffix, so that
            libraries choosing a format by extension, like nibabel, still work).

    Examples:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> with atomic_path(d / "x.txt") as tmp:
        ...     _ = tmp.write_text("hello")
        >>> (d / "x.txt").read_text()
        'hello'
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if suffix is None:
        suffix = "".join(target.suffixes) or ".tmp"
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp creates 0600 files; give the result the permissions a plain open() would have.
        os.chmod(tmp, 0o666 & ~_current_umask())
        os.replace(tmp, target)
    except BaseException as exc:
        full = _disk_nearly_full(target.parent)  # measured before the partial file is removed
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        named = _write_error(exc, target, full)
        if named is not None:
            raise named from exc
        raise


def _disk_nearly_full(folder: Path) -> bool:
    import shutil

    try:
        return shutil.disk_usage(folder).free < _NEARLY_FULL_BYTES
    except OSError:
        return False


def _write_error(exc: BaseException, target: Path, disk_full: bool) -> OSError | None:
    """An OSError naming ``target`` for a failed write whose error does not name it (or None: re-raise as is).

    A full disk shows up as ``OSError(ENOSPC)`` without a file name from ``write()``, or as torch's
    ``RuntimeError: [enforce fail at inline_container.cc] ... unexpected pos`` from ``torch.save``.
    """
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC or (
        disk_full and isinstance(exc, (OSError, RuntimeError))
    ):
        return OSError(
            errno.ENOSPC, "no space left on device while writing it; free some space or write elsewhere", str(target)
        )
    if isinstance(exc, OSError) and exc.filename is None and exc.errno is not None:
        return OSError(exc.errno, exc.strerror or str(exc), str(target))
    if isinstance(exc, RuntimeError) and ("inline_container" in str(exc) or "PytorchStreamWriter" in str(exc)):
        reason = " ".join(str(exc).split())[:200]
        return OSError(errno.EIO, f"write failed ({reason})", str(target))
    return None


def _partial_target(name: str) -> str | None:
    """The target of a temporary file :func:`atomic_path` names ``.TARGET.XXXXXXXX<suffix>``, or None."""
    if not name.startswith("."):
        return None
    for i in range(1, len(name)):
        if name[i] != ".":
            continue
        target, rest = name[1:i], name[i + 1 :]
        suffix = "".join(Path(target).suffixes) or ".tmp"
        if target and re.fullmatch(r"[a-z0-9_]{8}", rest[:8]) and rest[8:] == suffix:
            return target
    return None


def remove_partial_files(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files that a killed write of :func:`atomic_path` left in ``folder`` (not below it).

    Introduced in chapter *Getting the data*. Call it only while holding the folder's lock
    (:class:`amos_tutorial.utils.lock.FolderLock`): a temporary file of a living writer must not go.

    Args:
        folder: The folder (a missing one holds nothing).

    Returns:
        The files removed.

    Examples:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / ".amos_0001.nii.gz.k3j_x9q2.nii.gz").write_bytes(b"cut")
        >>> [p.name for p in remove_partial_files(d)]
        ['.amos_0001.nii.gz.k3j_x9q2.nii.gz']
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for path in sorted(folder.iterdir()):
        if _partial_target(path.name) is not None and path.is_file():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    return removed


def atomic_write_text(target: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``target`` atomically and return the path."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding=encoding)
    return Path(target)


def save_nifti(
    array: np.ndarray,
    affine: np.ndarray,
    path: str | os.PathLike,
    dtype: np.dtype | type | None = None,
    zooms: tuple[float, ...] | None = None,
) -> Path:
    """Save a 3-D array as NIfTI-1 atomically (gzip when the name ends in ``.gz``).

    Args:
        array: Voxel data in the array order of ``affine`` (i, j, k).
        affine: 4x4 voxel-to-world (RAS+ mm, the NIfTI convention) matrix.
        path: Destination, usually ``*.nii.gz``.
        dtype: On-disk data type (for example ``np.int16`` for CT, ``np.uint8`` for labels).
        zooms: Optional voxel sizes written to the header (defaults to those implied by the affine).

    Returns:
        The destination path.
    """
    import nibabel as nib

    data = np.asarray(array)
    if dtype is not None:
        data = data.astype(dtype, copy=False)
    img = nib.Nifti1Image(data, np.asarray(affine, dtype=np.float64))
    img.header.set_data_dtype(data.dtype)
    img.set_qform(img.affine, code=1)
    img.set_sform(img.affine, code=1)
    if zooms is not None:
        img.header.set_zooms(zooms)
    with atomic_path(path) as tmp:
        nib.save(img, tmp)
    return Path(path)


def load_nifti(path: str | os.PathLike, dtype: np.dtype | type | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Load a NIfTI file and return ``(array, affine)``.

    Args:
        path: A ``.nii`` or ``.nii.gz`` file.
        dtype: If given, the array is returned in this dtype (labels: ``np.uint8``); otherwise
            the on-disk type scaled by the header's slope/intercept, as nibabel does.

    Raises:
        ValueError: With the file name and the problem, if the file cannot be read, or if its header
            claims more data than the file can hold or than :data:`MAX_NIFTI_VOXELS`
            (:func:`check_nifti_size`, checked before any voxel is read).
    """
    import nibabel as nib

    path = Path(path)
    try:
        img = nib.load(str(path))
    except Exception as exc:  # nibabel raises many types (EOFError, zlib.error, ImageFileError...)
        raise ValueError(f"{path}: cannot read NIfTI ({type(exc).__name__}: {exc})") from exc
    check_nifti_size(path, img)  # before the data is read: a damaged header must not allocate gigabytes
    try:
        data = np.asanyarray(img.dataobj)
    except Exception as exc:
        raise ValueError(f"{path}: cannot read NIfTI ({type(exc).__name__}: {exc})") from exc
    if dtype is not None:
        data = data.astype(dtype, copy=False)
    return data, np.asarray(img.affine, dtype=np.float64)


def check_nifti_size(path: str | os.PathLike, img) -> None:
    """Check a NIfTI header's data size against the file and :data:`MAX_NIFTI_VOXELS`, before reading.

    A damaged or hostile 4 KB file whose header claims 2e9 voxels would otherwise make numpy
    allocate gigabytes before the read fails.

    Args:
        path: The file.
        img: Its nibabel image (only the header is used).

    Raises:
        ValueError: ``"PATH: header claims ..."`` naming the claimed shape and the file size.
    """
    path = Path(path)
    shape = tuple(int(s) for s in img.shape)
    n_voxels = int(np.prod(shape, dtype=np.float64)) if shape else 0
    if n_voxels > MAX_NIFTI_VOXELS:
        raise ValueError(
            f"{path}: header claims {n_voxels:.3g} voxels (shape {shape}), more than the {MAX_NIFTI_VOXELS:.3g} "
            "this package reads (MAX_NIFTI_VOXELS): the file is damaged or not a scan"
        )
    header = img.header
    needed = n_voxels * np.dtype(header.get_data_dtype()).itemsize + int(header.get("vox_offset", 0) or 0)
    size = path.stat().st_size
    gz = path.name.lower().endswith(".gz")
    capacity = size * GZIP_MAX_RATIO if gz else size
    if needed > capacity:
        what = f"at most {capacity} bytes once decompressed" if gz else f"{size} bytes"
        raise ValueError(
            f"{path}: truncated or corrupt: the header claims {needed} bytes (shape {shape}) but the file "
            f"holds {what}"
        )
