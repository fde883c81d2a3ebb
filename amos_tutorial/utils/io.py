"""Atomic file writes and NIfTI I/O, built on nibabel.

Every file this package writes goes through :func:`atomic_path`: the data is written to a temporary
file in the destination folder and renamed over the target only once complete, so an interrupted
run never leaves a half-written file that a later run would mistake for a finished one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np

__all__ = ["atomic_path", "atomic_write_text", "load_nifti", "save_nifti"]


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
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


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
        ValueError: With the file name and the problem, if the file cannot be read.
    """
    import nibabel as nib

    path = Path(path)
    try:
        img = nib.load(str(path))
        data = np.asanyarray(img.dataobj)
    except Exception as exc:  # nibabel raises many types (EOFError, zlib.error, ImageFileError...)
        raise ValueError(f"{path}: cannot read NIfTI ({type(exc).__name__}: {exc})") from exc
    if dtype is not None:
        data = data.astype(dtype, copy=False)
    return data, np.asarray(img.affine, dtype=np.float64)
