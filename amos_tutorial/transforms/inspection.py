"""Looking inside the preprocessing: every stage of one case, resampled grids, the cache, patches, round trips.

Introduced in chapter *Preprocessing and augmentation*; builds on :mod:`amos_tutorial.transforms` (the MONAI
chains, the cache and :class:`~amos_tutorial.transforms.sampler.PatchSampler`), MONAI and pandas. Each
function computes the table or arrays behind one figure of that chapter; the figures themselves live in
:mod:`amos_tutorial.viz.pipeline`.

Examples:
    >>> from amos_tutorial.transforms.inspection import resampling_table
    >>> resampling_table((512, 512, 103), (0.713, 0.713, 5.0)).loc["resampled", "shape"]
    '243x243x258'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from amos_tutorial.labels import LABELS, NUM_CLASSES
from amos_tutorial.utils.geometry import check_modality, spacing_from_affine

__all__ = [
    "PreprocessingStage",
    "STAGE_OF_TRANSFORM",
    "cache_table",
    "compare_patch_sampling",
    "preprocessing_stages",
    "resampling_table",
    "round_trip_agreement",
    "round_trip_label",
]


#: Stage of the pipeline that each MONAI transform of the preprocessing chain belongs to.
STAGE_OF_TRANSFORM: dict[str, str] = {
    "LoadImaged": "as stored",
    "EnsureChannelFirstd": "as stored",
    "Orientationd": "RAS orientation",
    "Spacingd": "resampled",
    "ScaleIntensityRanged": "intensity",
    "ClipIntensityPercentilesd": "intensity",
    "NormalizeIntensityd": "intensity",
    "CropForegroundd": "foreground crop",
}


def _fmt_number(value: float, digits: int) -> str:
    text = f"{float(value):.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _fmt_triplet(values: Sequence[float], digits: int = 2) -> str:
    return "x".join(_fmt_number(v, digits) for v in values)


@dataclass(frozen=True)
class PreprocessingStage:
    """A case after one stage of the preprocessing.

    Introduced in chapter *Preprocessing and augmentation*.

    Attributes:
        name: Stage name (a value of :data:`STAGE_OF_TRANSFORM`).
        transforms: The MONAI transforms applied in this stage, in order.
        image: Image array ``(X, Y, Z)`` in the axis order of ``affine``.
        label: Label map on the same grid, or None.
        affine: 4x4 voxel-to-world (RAS mm) matrix.
        normalised: Whether the intensities are already normalised (after the intensity stage).
        modality: ``"CT"`` or ``"MRI"``.
    """

    name: str
    transforms: tuple[str, ...]
    image: np.ndarray
    label: np.ndarray | None
    affine: np.ndarray
    normalised: bool
    modality: str

    @property
    def shape(self) -> tuple[int, int, int]:
        """Array shape ``(X, Y, Z)``."""
        return tuple(int(s) for s in self.image.shape)  # type: ignore[return-value]

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size in mm along the array axes."""
        return spacing_from_affine(self.affine)

    @property
    def axcodes(self) -> str:
        """Anatomical direction of each array axis, e.g. ``"LPS"`` or ``"RAS"``."""
        import nibabel as nib

        return "".join(nib.aff2axcodes(self.affine))

    def summary(self) -> dict[str, Any]:
        """One table row: stage, transforms, orientation codes, shape, spacing (mm) and value range."""
        return {
            "stage": self.name,
            "transforms": " + ".join(self.transforms),
            "axcodes": self.axcodes,
            "shape": "x".join(str(s) for s in self.shape),
            "spacing_mm": _fmt_triplet(self.spacing),
            "values": f"{_fmt_number(self.image.min(), 2)}..{_fmt_number(self.image.max(), 2)}",
        }


def preprocessing_stages(case: Any, config: Any = None) -> list[PreprocessingStage]:
    """Run the MONAI preprocessing chain on one case and keep the result of every stage.

    Introduced in chapter *Preprocessing and augmentation*; builds on
    :func:`amos_tutorial.transforms.chains.preprocessing_transforms` (``LoadImaged``,
    ``Orientationd``, ``Spacingd``, ``ScaleIntensityRanged`` or ``ClipIntensityPercentilesd`` +
    ``NormalizeIntensityd``, ``CropForegroundd``), applied one transform at a time.

    Args:
        case: An :class:`~amos_tutorial.data.layout.AmosCase` (anything with ``image``, ``label``
            (may be None) and ``modality``).
        config: A :class:`~amos_tutorial.transforms.preprocessing.PreprocessConfig` (default settings if None).

    Returns:
        The stages in order: as stored, RAS orientation, resampled, intensity, foreground crop
        (the last one only when the config crops).

    Raises:
        ValueError: ``"PATH: problem"`` if the case cannot be read, or for a bad modality.

    Examples:
        >>> [s.name for s in preprocessing_stages(case)]  # doctest: +SKIP
        ['as stored', 'RAS orientation', 'resampled', 'intensity', 'foreground crop']
    """
    from amos_tutorial.transforms.chains import preprocessing_transforms

    for attr in ("image", "modality"):
        if not hasattr(case, attr):
            raise ValueError(f"case must have 'image', 'label' and 'modality' attributes (an AmosCase), got {case!r}")
    modality = check_modality(case.modality)
    label_path = getattr(case, "label", None)
    for path in (case.image, label_path):
        if path is not None and not Path(path).is_file():
            raise ValueError(f"{path}: file does not exist")
    pre = preprocessing_transforms(modality, config, label_key="label" if label_path is not None else None)
    data: dict[str, Any] = {"image": str(case.image)}
    if label_path is not None:
        data["label"] = str(label_path)
    stages: list[PreprocessingStage] = []
    done: list[str] = []
    normalised = False
    steps = list(pre.transforms)
    for i, transform in enumerate(steps):
        name = type(transform).__name__
        try:
            data = transform(data)
        except Exception as exc:  # noqa: BLE001 - MONAI wraps reader errors in RuntimeError with a long chain
            first_line = (str(exc).splitlines() or [""])[0]
            raise ValueError(f"{case.image}: {name} failed ({type(exc).__name__}: {first_line})") from None
        done.append(name)
        stage = STAGE_OF_TRANSFORM.get(name, name)
        normalised = normalised or stage == "intensity"
        nxt = STAGE_OF_TRANSFORM.get(type(steps[i + 1]).__name__) if i + 1 < len(steps) else None
        if nxt == stage:
            continue
        image = data["image"]
        label = data.get("label")
        stages.append(
            PreprocessingStage(
                name=stage,
                transforms=tuple(done),
                image=np.asarray(image.as_tensor()[0], dtype=np.float32),
                label=None if label is None else np.asarray(label.as_tensor()[0]).round().astype(np.uint8),
                affine=np.asarray(image.affine, dtype=np.float64),
                normalised=normalised,
                modality=modality,
            )
        )
        done = []
    return stages


def resampling_table(
    shape: Sequence[int],
    spacing: Sequence[float],
    target_spacing: Sequence[float] = (1.5, 1.5, 2.0),
    name: str = "original",
) -> pd.DataFrame:
    """What resampling to ``target_spacing`` does to a grid: shape, voxel count, memory, anisotropy.

    Introduced in chapter *Preprocessing and augmentation*. The resampled shape is
    ``round(shape * spacing / target_spacing)`` per axis (the field of view is kept; MONAI's
    ``Spacingd`` may differ by a voxel).

    Args:
        shape: Voxels along x, y, z.
        spacing: Voxel size in mm along x, y, z.
        target_spacing: The new voxel size.
        name: Label of the first row.

    Returns:
        Two rows (``name`` and ``"resampled"``) with columns ``shape``, ``spacing_mm``, ``fov_mm``,
        ``voxels_M``, ``float32_MB`` and ``anisotropy`` (largest / smallest spacing).

    Raises:
        ValueError: If an argument is not three positive numbers.

    Examples:
        >>> t = resampling_table((512, 512, 103), (0.713, 0.713, 5.0))
        >>> t.loc["resampled", "shape"]
        '243x243x258'
    """
    arrays = []
    for what, values in (("shape", shape), ("spacing", spacing), ("target_spacing", target_spacing)):
        try:
            arr = np.asarray([float(v) for v in values], dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{what} must be three positive numbers, got {values!r}") from None
        if arr.shape != (3,) or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
            raise ValueError(f"{what} must be three positive numbers, got {values!r}")
        arrays.append(arr)
    shp, sp, target = arrays
    fov = shp * sp
    new = np.maximum(np.round(fov / target), 1)
    rows = {}
    for row, s, d in ((name, shp, sp), ("resampled", new, target)):
        voxels = float(np.prod(s))
        rows[row] = {
            "shape": "x".join(str(int(v)) for v in s),
            "spacing_mm": _fmt_triplet(d, 3),
            "fov_mm": _fmt_triplet(s * d, 0),
            "voxels_M": round(voxels / 1e6, 2),
            "float32_MB": round(voxels * 4 / 1e6, 1),
            "anisotropy": round(float(d.max() / d.min()), 2),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def cache_table(
    out_dir: str | Path,
    memory_budget_gb: float | None = None,
    splits: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The preprocessed cache case by case, and which cases a memory budget keeps in RAM.

    Introduced in chapter *Preprocessing and augmentation*; builds on
    :func:`amos_tutorial.transforms.cache.read_cache_index` and ``load_preprocessed_case``
    (memory-mapped, so only the small ``meta`` is read). The ``storage`` column follows the rule of
    :func:`~amos_tutorial.transforms.cache.load_preprocessed`: cases are taken in order and read into
    RAM while the running total of file sizes stays within the budget; the others are memory-mapped.

    Args:
        out_dir: A cache folder written by ``amos preprocess``.
        memory_budget_gb: The budget (None: no limit, everything in RAM).
        splits: Only the cases of these splits, sorted by id, as ``load_preprocessed(splits=...)``
            selects them (default: every case file, sorted).

    Returns:
        One row per case: ``case_id``, ``split``, ``modality``, ``stored_shape``, ``resampled_shape``,
        ``cropped_shape``, ``kept_pct`` (share of the resampled voxels kept by the crop), ``MB``
        (file size) and ``storage`` (``"RAM"`` or ``"memory-mapped"``).

    Raises:
        FileNotFoundError: If the folder or its ``preprocess.json`` is missing.
        ValueError: ``"PATH: ..."`` for a corrupt file, or a non-positive budget.
    """
    from amos_tutorial.transforms.cache import CACHE_INDEX, load_preprocessed_case, read_cache_index

    out_dir = Path(out_dir)
    index = read_cache_index(out_dir) if out_dir.is_dir() else None
    if index is None:
        raise FileNotFoundError(f"{out_dir / CACHE_INDEX}: no preprocessed cache here (run `amos preprocess`)")
    if memory_budget_gb is not None and memory_budget_gb <= 0:
        raise ValueError(f"memory_budget_gb must be > 0 or None, got {memory_budget_gb}")
    cases = index.get("cases", {})
    if splits is not None:
        wanted = {splits} if isinstance(splits, str) else set(splits)
        ids = sorted(cid for cid, info in cases.items() if info.get("split") in wanted)
        paths = [out_dir / f"{cid}.pt" for cid in ids]
    else:
        paths = sorted(p for p in out_dir.glob("*.pt") if not p.name.startswith("."))
    budget = None if memory_budget_gb is None else memory_budget_gb * 1e9
    used = 0
    rows = []
    for path in paths:
        case = load_preprocessed_case(path, mmap=True)
        size = path.stat().st_size
        mapped = budget is not None and used + size > budget
        if not mapped:
            used += size
        meta = case.meta
        resampled = [int(s) for s in meta.get("resampled_shape", case.shape)]
        rows.append(
            {
                "case_id": case.case_id,
                "split": cases.get(case.case_id, {}).get("split", "?"),
                "modality": case.modality,
                "stored_shape": "x".join(str(int(s)) for s in meta.get("original_shape", [])),
                "resampled_shape": "x".join(map(str, resampled)),
                "cropped_shape": "x".join(map(str, case.shape)),
                "kept_pct": round(100.0 * math.prod(case.shape) / max(math.prod(resampled), 1), 1),
                "MB": round(size / 1e6, 2),
                "storage": "memory-mapped" if mapped else "RAM",
            }
        )
    return pd.DataFrame(rows, columns=[
        "case_id", "split", "modality", "stored_shape", "resampled_shape", "cropped_shape", "kept_pct", "MB", "storage",
    ])


def compare_patch_sampling(
    volumes: Sequence[Any],
    patch_size: Sequence[int],
    batch_size: int = 8,
    n_batches: int = 40,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> pd.DataFrame:
    """How often each class appears in patches drawn uniformly vs organ-weighted.

    Introduced in chapter *Preprocessing and augmentation*; builds on
    :class:`~amos_tutorial.transforms.sampler.PatchSampler` with ``organ_weighted=False`` (every
    patch centre anywhere in the volume) and ``True`` (half of the centres on an organ voxel, every
    organ present equally likely), both without augmentation and with the same seed.

    Args:
        volumes: Labelled preprocessed cases (``load_preprocessed``).
        patch_size: Patch ``(x, y, z)`` in voxels.
        batch_size: Patches per batch.
        n_batches: Batches drawn per sampler.
        seed: Seed of both samplers.
        device: Where the samplers build the batches.

    Returns:
        A tidy frame, one row per sampler and class: ``sampler``, ``label_id``, ``organ``,
        ``patches`` (share of patches containing at least one voxel of the class), ``voxels`` (share
        of all patch voxels) and ``n_patches``.

    Raises:
        ValueError: If ``n_batches`` < 1 (the sampler checks the rest).

    Examples:
        >>> freq = compare_patch_sampling(volumes, (32, 32, 32), n_batches=20)   # doctest: +SKIP
        >>> freq.pivot(index="organ", columns="sampler", values="patches")       # doctest: +SKIP
    """
    from amos_tutorial.transforms.sampler import PatchSampler

    if int(n_batches) < 1:
        raise ValueError(f"n_batches must be >= 1, got {n_batches}")
    rows = []
    for name, weighted in (("uniform", False), ("organ-weighted", True)):
        sampler = PatchSampler(
            volumes, patch_size, batch_size, device=device, organ_weighted=weighted, augment=False, seed=seed
        )
        contains = np.zeros(NUM_CLASSES, dtype=np.int64)
        voxels = np.zeros(NUM_CLASSES, dtype=np.int64)
        n = 0
        for k in range(int(n_batches)):
            label = sampler.batch(k)["label"].reshape(sampler.batch_size, -1)
            for row in label:
                counts = torch.bincount(row, minlength=NUM_CLASSES)[:NUM_CLASSES].cpu().numpy()
                contains += counts > 0
                voxels += counts
                n += 1
        for lab in LABELS:
            rows.append(
                {
                    "sampler": name,
                    "label_id": lab.id,
                    "organ": lab.name,
                    "patches": contains[lab.id] / n,
                    "voxels": voxels[lab.id] / max(voxels.sum(), 1),
                    "n_patches": n,
                }
            )
    return pd.DataFrame(rows)


def round_trip_label(case: Any, mode: str = "one-hot") -> np.ndarray:
    """Send a preprocessed label map back to the case's original grid.

    Introduced in chapter *Preprocessing and augmentation*; builds on
    :func:`~amos_tutorial.transforms.preprocessing.invert_to_original`. ``"nearest"`` resamples the
    label map itself; ``"one-hot"`` does what prediction does with a network's probabilities:
    one channel per class, trilinear resampling, then argmax (smoother organ borders).

    Args:
        case: A labelled :class:`~amos_tutorial.transforms.preprocessing.PreprocessedCase`.
        mode: ``"one-hot"`` or ``"nearest"``.

    Returns:
        ``uint8`` array of the original image's shape, in the original voxel order.

    Raises:
        ValueError: If the case has no label or ``mode`` is unknown.

    Examples:
        >>> back = round_trip_label(preprocess_case(img, lab, "CT"))   # doctest: +SKIP
    """
    from amos_tutorial.transforms.preprocessing import invert_to_original

    if getattr(case, "label", None) is None:
        raise ValueError(f"{getattr(case, 'case_id', 'case')}: no label to send back")
    if mode == "nearest":
        back = invert_to_original(case.label, case.meta, mode="nearest")
        return back[0].to(torch.uint8).cpu().numpy()
    if mode != "one-hot":
        raise ValueError(f"mode must be 'one-hot' or 'nearest', got {mode!r}")
    onehot = torch.nn.functional.one_hot(case.label[0].long(), NUM_CLASSES).permute(3, 0, 1, 2).float()
    onehot[0] += 1e-3  # outside the cropped box every channel is 0: let background win there
    back = invert_to_original(onehot, case.meta, mode="trilinear")
    return back.argmax(0).to(torch.uint8).cpu().numpy()


def round_trip_agreement(label: np.ndarray, back: np.ndarray) -> pd.DataFrame:
    """Per-organ Dice between an original label map and the same map after a round trip.

    Introduced in chapter *Preprocessing and augmentation*; plain numpy.

    Args:
        label: The original label map.
        back: The label map after preprocessing and inversion, same shape.

    Returns:
        One row per organ present in either map (index: organ name) with ``voxels``,
        ``voxels_back`` and ``dice``; ``frame.attrs["voxel_agreement"]`` is the share of voxels with
        the same label.

    Raises:
        ValueError: If the shapes differ.

    Examples:
        >>> a = np.zeros((4, 4, 4), np.uint8); a[:2] = 6
        >>> float(round_trip_agreement(a, a).loc["liver", "dice"])
        1.0
    """
    label, back = np.asarray(label), np.asarray(back)
    if label.shape != back.shape:
        raise ValueError(f"label shape {label.shape} differs from round-trip shape {back.shape}")
    n_a = np.bincount(label.ravel().astype(np.int64), minlength=NUM_CLASSES)
    n_b = np.bincount(back.ravel().astype(np.int64), minlength=NUM_CLASSES)
    both = np.bincount(label.ravel()[label.ravel() == back.ravel()].astype(np.int64), minlength=NUM_CLASSES)
    rows = {}
    for lab in LABELS[1:]:
        if n_a[lab.id] or n_b[lab.id]:
            rows[lab.name] = {
                "voxels": int(n_a[lab.id]),
                "voxels_back": int(n_b[lab.id]),
                "dice": round(float(2 * both[lab.id] / (n_a[lab.id] + n_b[lab.id])), 4),
            }
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=["voxels", "voxels_back", "dice"])
    frame.index.name = "organ"
    frame.attrs["voxel_agreement"] = float((label == back).mean())
    return frame
