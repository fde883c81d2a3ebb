"""Check an AMOS folder before training on it: every file readable, consistent and in range.

Introduced in chapter *Getting the data*. Builds on nibabel. A 24 GB download can arrive truncated, a
conversion can flip an axis, a label map can hold a stray value: each of these shows up here as one
:class:`Problem` naming the file, instead of as a crash (or a silently wrong Dice) hours into training.

What is checked, per case (:func:`validate_case`):

* the listed image and label files exist;
* each is a readable NIfTI file, read to the very end (a truncated ``.nii.gz`` often has an intact
  header and fails only on the last slices, or only on the gzip checksum);
* each is 3-D;
* image and label have the same shape and the same affine (within ``affine_atol``);
* each has at least one voxel per axis, an invertible (non-singular) affine, and no more voxels than
  the file can hold (:func:`amos_tutorial.utils.io.check_nifti_size`);
* image values are finite; label values are integers within 0-15.

and per folder (:func:`validate_dataset`): label files without an image, files in the image and
label folders whose names are not ``amos_XXXX.nii.gz`` (every command ignores them: said, not silent),
and, in a course pack (``amos data pack``), every file against the SHA-256 of its manifest.
Every file is streamed once, a slab of slices at a time, so memory stays at a few tens of MB even for
512x512x100 scans. An unexpected error in one case becomes a Problem for that case; the run goes on.

Examples:
    >>> problems = validate_dataset("synthetic")  # doctest: +SKIP
    >>> print("\\n".join(map(str, problems)) or "no problems")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from amos_tutorial.data.layout import SPLIT_FOLDERS, AmosCase, AmosDataset, load_amos
from amos_tutorial.data.manifest import MANIFEST_NAME, manifest_problems
from amos_tutorial.labels import NUM_CLASSES
from amos_tutorial.utils.io import check_nifti_size

__all__ = ["Problem", "validate_case", "validate_dataset"]

# Voxels per slab read: 2**23 is 32 slices of 512x512, at most 64 MB as float64.
_SLAB_VOXELS = 2**23
_MAX_VALUES_SHOWN = 10
# |det| of the 3x3 part below this fraction of the product of the voxel sizes: collapsed axes.
_SINGULAR_RTOL = 1e-6
# The only file names the image and label folders may hold (``.nii`` is accepted by load_amos too).
_CASE_FILE_RE = re.compile(r"^amos_\d{4}\.nii(\.gz)?$")


@dataclass(frozen=True)
class Problem:
    """One problem found in one file.

    Introduced in chapter *Getting the data*.

    Attributes:
        path: The file (or folder) the problem is about.
        message: What is wrong, in words.

    Examples:
        >>> str(Problem(Path("labelsTr/amos_0001.nii.gz"), "label values outside 0-15: [99]"))
        'labelsTr/amos_0001.nii.gz: label values outside 0-15: [99]'
    """

    path: Path
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass
class _VolumeInfo:
    shape: tuple[int, ...]
    affine: np.ndarray


def _open_nifti(fobj):
    import nibabel as nib

    errors = []
    for klass in (nib.Nifti1Image, nib.Nifti2Image):
        try:
            fobj.seek(0)
            return klass.from_stream(fobj)
        except Exception as exc:  # nibabel signals a wrong header type with several exception types
            errors.append(exc)
    raise errors[0]


def _check_values(data: np.ndarray, kind: str, state: dict) -> None:
    """Accumulate value statistics of one slab into ``state``."""
    if kind == "image":
        if np.issubdtype(data.dtype, np.inexact):
            state["nonfinite"] += int(np.count_nonzero(~np.isfinite(data)))
        return
    if np.issubdtype(data.dtype, np.inexact):
        finite = np.isfinite(data)
        state["nonfinite"] += int(np.count_nonzero(~finite))
        data = data[finite]
        fractional = data != np.round(data)
        if fractional.any():
            state["fractional"] += int(np.count_nonzero(fractional))
            data = data[~fractional]
    if data.size and (data.min() < 0 or data.max() >= NUM_CLASSES):
        out = data[(data < 0) | (data >= NUM_CLASSES)]
        state["out_of_range"] += int(out.size)
        state["bad_values"].update(np.unique(out)[:_MAX_VALUES_SHOWN].tolist())


def _scan_volume(path: Path, kind: str, problems: list[Problem]) -> _VolumeInfo | None:
    """Stream one NIfTI file once; append its problems; return shape/affine when the header is usable."""
    from nibabel.openers import ImageOpener

    try:
        opener = ImageOpener(str(path))
    except Exception as exc:
        problems.append(Problem(path, f"cannot open ({type(exc).__name__}: {exc})"))
        return None
    with opener:
        fobj = opener.fobj
        try:
            img = _open_nifti(fobj)
        except Exception as exc:
            problems.append(Problem(path, f"not a readable NIfTI file ({type(exc).__name__}: {exc})"))
            return None
        shape = tuple(int(s) for s in img.shape)
        info = _VolumeInfo(shape, np.asarray(img.affine, dtype=np.float64))
        if len(shape) != 3:
            problems.append(Problem(path, f"{len(shape)}-D {kind} of shape {shape}; AMOS {kind}s are 3-D"))
            return info
        if min(shape) < 1:
            problems.append(Problem(path, f"{kind} of shape {shape} has a zero-length axis (no voxels)"))
            return info
        affine_problem = _affine_problem(info.affine)
        if affine_problem:
            problems.append(Problem(path, affine_problem))
        try:
            check_nifti_size(path, img)
        except ValueError as exc:
            problems.append(Problem(path, str(exc).removeprefix(f"{path}: ")))
            return info
        state = {"nonfinite": 0, "fractional": 0, "out_of_range": 0, "bad_values": set()}
        slab = max(1, _SLAB_VOXELS // max(1, shape[0] * shape[1]))
        try:
            # NIfTI stores the last axis slowest: slabs along it are read front to back, once.
            for z0 in range(0, shape[2], slab):
                _check_values(np.asanyarray(img.dataobj[..., z0 : z0 + slab]), kind, state)
            # Reading past the data reaches the end of the gzip stream, where its checksum and length are
            # verified: this catches a file cut in its last few bytes, which a plain load does not notice.
            while fobj.read(1 << 20):
                pass
        except Exception as exc:
            problems.append(
                Problem(path, f"cannot read the voxel data: truncated or corrupt ({type(exc).__name__}: {exc})")
            )
            return info
    if state["nonfinite"]:
        problems.append(Problem(path, f"{kind} has {state['nonfinite']} non-finite voxel(s) (NaN or inf)"))
    if state["fractional"]:
        problems.append(Problem(path, f"label has {state['fractional']} non-integer voxel(s)"))
    if state["out_of_range"]:
        shown = sorted(state["bad_values"])[:_MAX_VALUES_SHOWN]
        values = [int(v) if float(v).is_integer() else float(v) for v in shown]
        problems.append(
            Problem(
                path,
                f"label values outside 0-{NUM_CLASSES - 1}: {values} ({state['out_of_range']} voxel(s))",
            )
        )
    return info


def _affine_problem(affine: np.ndarray) -> str | None:
    """Why a voxel-to-world matrix is unusable (non-finite, or singular: it cannot be inverted), or None."""
    if not np.isfinite(affine).all():
        return "affine has non-finite entries (NaN or inf)"
    spacing = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    det = float(np.linalg.det(affine[:3, :3]))
    if not spacing.min() > 0 or abs(det) <= _SINGULAR_RTOL * float(np.prod(spacing)):
        return (
            f"singular affine (voxel sizes {[round(float(v), 4) for v in spacing]}, determinant {det:.3g}): "
            "voxels cannot be placed in space; fix the header (qform/sform)"
        )
    return None


def _misnamed_files(root: Path) -> list[Problem]:
    """Files in the image and label folders whose names are not ``amos_XXXX.nii.gz``: loading ignores them."""
    found = []
    for image_dir, label_dir in SPLIT_FOLDERS.values():
        for folder in (root / image_dir, root / label_dir):
            try:
                if not folder.is_dir():
                    continue
                entries = sorted(folder.iterdir())
            except OSError as exc:
                found.append(Problem(folder, f"cannot list the folder ({exc.strerror or exc})"))
                continue
            for path in entries:
                if path.name.startswith(".") or _CASE_FILE_RE.match(path.name):
                    continue  # dot files: atomic-write temporaries, macOS resource forks
                what = "folder" if path.is_dir() else "file"
                message = f"{what} name is not amos_XXXX.nii.gz: ignored by every amos command (rename or move it)"
                found.append(Problem(path, message))
    return found


def validate_case(case: AmosCase, affine_atol: float = 1e-3) -> list[Problem]:
    """Check one case's image and label files.

    Introduced in chapter *Getting the data*. Builds on nibabel; each file is read once, a slab at a time.

    Args:
        case: A case from :func:`amos_tutorial.data.layout.load_amos`.
        affine_atol: Largest allowed absolute difference between the image's and the label's affine
            entries (mm). Must be >= 0.

    Returns:
        The problems found, one per problem, each naming its file; empty when the case is fine.

    Raises:
        TypeError: If ``case`` is not an :class:`~amos_tutorial.data.layout.AmosCase`.
        ValueError: If ``affine_atol`` is negative.

    Examples:
        >>> ds = load_amos("synthetic")  # doctest: +SKIP
        >>> validate_case(ds.cases[0])  # doctest: +SKIP
        []
    """
    if not isinstance(case, AmosCase):
        raise TypeError(f"expected an AmosCase (from load_amos), got {type(case).__name__}")
    if not affine_atol >= 0:
        raise ValueError(f"affine_atol must be >= 0, got {affine_atol!r}")
    problems: list[Problem] = []
    infos: dict[str, _VolumeInfo | None] = {}
    for kind, path in (("image", case.image), ("label", case.label)):
        if path is None:
            continue
        try:
            exists = path.is_file()
        except OSError as exc:  # e.g. a folder without read/search permission
            problems.append(Problem(path, f"cannot access the file ({exc.strerror or exc})"))
            infos[kind] = None
            continue
        if not exists:
            problems.append(Problem(path, f"file missing (listed as the {case.split} {kind} of {case.case_id})"))
            infos[kind] = None
            continue
        infos[kind] = _scan_volume(path, kind, problems)
    image, label = infos.get("image"), infos.get("label")
    if image is None or label is None or len(image.shape) != 3 or len(label.shape) != 3:
        return problems  # nothing meaningful to compare; the cause is reported already
    if label.shape != image.shape:
        message = f"label shape {label.shape} differs from image shape {image.shape} ({case.image.name})"
        problems.append(Problem(case.label, message))
    elif not np.allclose(label.affine, image.affine, rtol=0.0, atol=affine_atol):
        diff = float(np.max(np.abs(label.affine - image.affine)))
        problems.append(
            Problem(
                case.label,
                f"label affine differs from the image's by up to {diff:.4g} (tolerance {affine_atol:g}); "
                f"axis codes label {_axcodes(label.affine)} vs image {_axcodes(image.affine)}",
            )
        )
    return problems


def _axcodes(affine: np.ndarray) -> str:
    import nibabel as nib

    try:
        return "".join(str(c) for c in nib.aff2axcodes(affine))
    except Exception:  # a degenerate affine has no orientation; the numbers above still say enough
        return "?"


def validate_dataset(
    root_or_dataset: AmosDataset | str | os.PathLike | None,
    affine_atol: float = 1e-3,
    progress: bool = False,
    on_problem: Callable[[Problem], None] | None = None,
) -> list[Problem]:
    """Check every case of an AMOS folder and look for label files without an image.

    Introduced in chapter *Getting the data*. Builds on nibabel (reading) and tqdm (progress bar).
    Never stops at the first bad file: an unexpected error in one case becomes a Problem for that case.

    Args:
        root_or_dataset: An :class:`~amos_tutorial.data.layout.AmosDataset`, or anything
            :func:`~amos_tutorial.data.layout.load_amos` accepts (folder, ``"synthetic"``, None).
        affine_atol: Allowed image/label affine difference (see :func:`validate_case`).
        progress: Show a tqdm progress bar (on stderr).
        on_problem: Called with each problem as soon as it is found (the CLI prints them this way).

    Returns:
        Every problem found, in case order, then the label files without an image.

    Raises:
        FileNotFoundError, ValueError: From :func:`load_amos` when the folder itself cannot be read.

    Examples:
        >>> problems = validate_dataset("synthetic", progress=True)  # doctest: +SKIP
    """
    from tqdm.auto import tqdm

    if not affine_atol >= 0:
        raise ValueError(f"affine_atol must be >= 0, got {affine_atol!r}")
    ds = root_or_dataset if isinstance(root_or_dataset, AmosDataset) else load_amos(root_or_dataset)
    problems: list[Problem] = []

    def report(found: list[Problem]) -> None:
        problems.extend(found)
        if on_problem is not None:
            for p in found:
                on_problem(p)

    for case in tqdm(ds.cases, desc="validating", unit="case", disable=not progress, file=sys.stderr):
        try:
            found = validate_case(case, affine_atol=affine_atol)
        except Exception as exc:  # one broken case must not end the run; say which one and go on
            message = f"unexpected error while checking {case.case_id} ({type(exc).__name__}: {exc})"
            found = [Problem(case.image, message)]
        report(found)
    try:
        report([Problem(p, "label file without an image") for p in ds.orphan_labels()])
    except OSError as exc:  # an unreadable image or label folder: say so, the rest was checked
        message = f"cannot look for label files without an image ({exc.strerror or exc})"
        report([Problem(Path(exc.filename or ds.root), message)])
    report(_misnamed_files(Path(ds.root)))
    try:
        report([Problem(path, message) for path, message in manifest_problems(ds.root)])
    except ValueError as exc:
        report([Problem(Path(ds.root) / MANIFEST_NAME, str(exc).split(": ", 1)[-1])])
    return problems
