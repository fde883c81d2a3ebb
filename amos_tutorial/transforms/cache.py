"""The preprocessed cache: one file per case, written atomically, resumable, within a memory budget.

Introduced in chapter *Preprocessing and augmentation*. ``preprocess_dataset`` runs the fast preprocessing
(:func:`~amos_tutorial.transforms.preprocessing.preprocess_case`) over the chosen splits and writes
``OUT/amos_XXXX.pt`` per case plus ``OUT/preprocess.json`` (the config, the cases and the failures).
A finished case is not redone while its image and label files are unchanged (their path, size and
modification time are recorded: a fixed label map is preprocessed again), an interrupted run resumes
where it stopped, and a case that cannot be read is reported in one line and skipped, not fatal. One
process writes a cache folder at a time (a lock file). Files are read back with
``torch.load(weights_only=True)``: they hold tensors and plain python values only.

Examples:
    >>> from amos_tutorial.data.layout import load_amos
    >>> paths = preprocess_dataset(load_amos("synthetic"), "cache/")       # doctest: +SKIP
    >>> cases = load_preprocessed("cache/", memory_budget_gb=8)             # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, Sequence

import torch

from amos_tutorial.transforms.preprocessing import PreprocessConfig, PreprocessedCase, preprocess_case

__all__ = [
    "CACHE_FORMAT",
    "CACHE_INDEX",
    "CACHE_LOCK_WAIT_S",
    "source_stamp",
    "preprocess_dataset",
    "save_preprocessed",
    "load_preprocessed_case",
    "load_preprocessed",
    "read_cache_index",
    "default_cache_dir",
    "available_memory_gb",
    "default_memory_budget_gb",
    "suggest_memory_budget_gb",
    "total_memory_gb",
]

#: RAM kept free for Python, torch, the model and the batches when a budget is derived from free memory.
RESERVED_GB = 2.0
#: A machine with less RAM than this (free Colab: 12.7 GB) gets a memory budget by default.
SMALL_MACHINE_GB = 16.0


def total_memory_gb() -> float | None:
    """The machine's RAM in GB (``MemTotal`` on Linux); None where unknown."""
    return _memory_gb("MemTotal", "SC_PHYS_PAGES")


def default_memory_budget_gb(total_gb: float | None = None, available_gb: float | None = None) -> float | None:
    """The memory budget of a run that sets none: no limit on a large machine, :func:`suggest_memory_budget_gb` on a small one.

    Introduced in the course kit's *Colab* page. On a machine with less than :data:`SMALL_MACHINE_GB` of RAM
    (free Colab, a laptop) a training run that loaded every preprocessed case would be killed; with a budget,
    the cases beyond it are memory-mapped from the cache instead (slower, never a crash).

    Args:
        total_gb: The machine's RAM (None: :func:`total_memory_gb`).
        available_gb: RAM available now (None: measured).

    Returns:
        A budget in GB, or None for no limit.

    Examples:
        >>> default_memory_budget_gb(total_gb=64.0) is None
        True
        >>> default_memory_budget_gb(total_gb=12.7, available_gb=11.5)
        4.8
    """
    total = total_memory_gb() if total_gb is None else float(total_gb)
    if total is not None and total >= SMALL_MACHINE_GB:
        return None
    return suggest_memory_budget_gb(available_gb=available_gb)


def available_memory_gb() -> float | None:
    """RAM available to new allocations right now, in GB (``MemAvailable`` on Linux); None where unknown.

    Introduced in the course kit's *Colab* page: free Colab has about 12.7 GB in total, of which less is
    available once the notebook runs, so budgets follow this number instead of assuming 16 GB.
    """
    return _memory_gb("MemAvailable", "SC_AVPHYS_PAGES")


def _memory_gb(meminfo_key: str, sysconf_pages: str) -> float | None:
    """A ``/proc/meminfo`` field in GB, else the ``os.sysconf`` page count times the page size; None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(f"{meminfo_key}:"):
                    return int(line.split()[1]) * 1024 / 1e9
    except OSError:
        pass
    try:
        return os.sysconf(sysconf_pages) * os.sysconf("SC_PAGE_SIZE") / 1e9
    except (AttributeError, ValueError, OSError):
        return None


def suggest_memory_budget_gb(fraction: float = 0.5, reserve_gb: float = RESERVED_GB, available_gb: float | None = None) -> float:
    """A ``memory_budget_gb`` for :func:`load_preprocessed` that fits the RAM this machine actually has.

    Introduced in the course kit's *Colab* page. Takes ``fraction`` of the available RAM left after
    ``reserve_gb``; the cases beyond the budget are memory-mapped, so a small budget costs speed, not a crash.

    Args:
        fraction: Share of the available RAM (after the reserve) given to cached cases, in (0, 1].
        reserve_gb: RAM kept free for everything else.
        available_gb: Available RAM in GB (None: measure it with :func:`available_memory_gb`).

    Returns:
        The budget in GB, at least 0.5 (also when the available RAM cannot be measured).

    Raises:
        ValueError: If ``fraction`` is not in (0, 1] or ``reserve_gb`` is negative.

    Examples:
        >>> suggest_memory_budget_gb(available_gb=11.5)   # free Colab after start-up
        4.8
    """
    if not 0.0 < float(fraction) <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
    if float(reserve_gb) < 0:
        raise ValueError(f"reserve_gb must be >= 0, got {reserve_gb!r}")
    available = available_memory_gb() if available_gb is None else float(available_gb)
    if available is None:
        return 0.5
    return max(0.5, round((available - float(reserve_gb)) * float(fraction), 1))

def default_cache_dir(root: str | os.PathLike, config: PreprocessConfig | dict[str, Any] | None = None) -> Path:
    """The shared preprocessed-cache folder for one data folder and one preprocessing setting.

    Introduced in chapter *Preprocessing and augmentation*. Training, the chapters and the benchmark use
    this one folder, so a dataset is preprocessed once per setting; a changed setting gets its own
    folder and never reuses stale files.

    Args:
        root: The dataset root (the folder holding ``dataset.json``).
        config: The preprocessing settings (default :class:`PreprocessConfig`).

    Returns:
        ``cache_dir()/preprocessed/<root name>-<hash of root and settings>``.

    Examples:
        >>> default_cache_dir("/data/amos22").name.startswith("amos22-")  # doctest: +SKIP
        True
    """
    import hashlib

    from amos_tutorial.paths import cache_dir

    if config is None:
        config = PreprocessConfig()
    settings = config.to_dict() if isinstance(config, PreprocessConfig) else PreprocessConfig.from_dict(config).to_dict()
    root = Path(root)
    key = json.dumps({"root": str(root.resolve()), "preprocess": settings}, sort_keys=True)
    digest = hashlib.sha1(key.encode()).hexdigest()[:10]
    return cache_dir() / "preprocessed" / f"{root.name}-{digest}"


CACHE_FORMAT = 1
CACHE_INDEX = "preprocess.json"
#: Seconds that ``preprocess_dataset`` waits for another process filling the same cache folder.
CACHE_LOCK_WAIT_S = 6 * 3600
_log = logging.getLogger(__name__)


def source_stamp(case) -> dict[str, dict[str, Any]]:
    """The identity of a case's source files: resolved path, size and modification time (ns) of each.

    The rerun rule of every resumable step (:mod:`amos_tutorial.utils.stamps`), applied to a case's files.

    Introduced in chapter *Preprocessing and augmentation*. Recorded per case in ``preprocess.json``: a cached case
    whose image or label file changed since (a fixed label map, a re-downloaded scan) no longer
    matches and is rebuilt, instead of silently serving the old volume.

    Args:
        case: Anything with ``image`` and (optionally) ``label`` paths.

    Returns:
        ``{"image": {"path", "size", "mtime_ns"}, "label": {...}}`` (no ``label`` key without a label).

    Raises:
        OSError: If a file cannot be looked at (missing, permission).
    """
    from amos_tutorial.utils.stamps import file_stamp

    return {kind: file_stamp(path) for kind in ("image", "label") if (path := getattr(case, kind, None)) is not None}


def save_preprocessed(case: PreprocessedCase, path: str | os.PathLike) -> Path:
    """Write one :class:`PreprocessedCase` atomically with ``torch.save``.

    Introduced in chapter *Preprocessing and augmentation*. Tensors are moved to the CPU first, so a cache written
    from the GPU loads anywhere.

    Args:
        case: The case.
        path: Destination, usually ``OUT/amos_0001.pt``.

    Returns:
        The path.

    Examples:
        >>> save_preprocessed(preprocess_case("imagesTr/amos_0001.nii.gz"), "cache/amos_0001.pt")  # doctest: +SKIP
    """
    from amos_tutorial.utils.io import atomic_path

    state = {
        "format": CACHE_FORMAT,
        "case_id": case.case_id,
        "modality": case.modality,
        "image": case.image.detach().cpu().contiguous(),
        "label": None if case.label is None else case.label.detach().cpu().contiguous(),
        "meta": case.meta,
        "class_indices": None
        if case.class_indices is None
        else {int(k): v.cpu().contiguous() for k, v in case.class_indices.items()},
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return Path(path)


def load_preprocessed_case(path: str | os.PathLike, mmap: bool = False) -> PreprocessedCase:
    """Read one cached case (``torch.load(weights_only=True)``).

    Introduced in chapter *Preprocessing and augmentation*.

    Args:
        path: A file written by :func:`save_preprocessed`.
        mmap: Map the tensors from the file instead of reading them into memory (pages are read
            when touched: for caches larger than the RAM).

    Returns:
        The case, tensors on the CPU.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: ``"PATH: ..."`` if the file is corrupt or not a cached case.

    Examples:
        >>> load_preprocessed_case("cache/amos_0001.pt").image.shape  # doctest: +SKIP
        torch.Size([1, 243, 180, 210])
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: preprocessed case does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as exc:  # torch raises RuntimeError, UnpicklingError, EOFError... on damage
        from amos_tutorial.utils.errors import refused_object

        refused = refused_object(exc)
        if refused is not None:
            raise ValueError(
                f"{path}: refused for safety: the file holds objects that are not plain tensors ({refused}); "
                "delete it and rerun `amos preprocess`"
            ) from None
        reason = " ".join(str(exc).split())[:200]
        raise ValueError(f"{path}: cannot read preprocessed case ({type(exc).__name__}: {reason})") from None
    valid = isinstance(state, dict) and state.get("format") == CACHE_FORMAT
    if not (valid and isinstance(state.get("image"), torch.Tensor)):
        raise ValueError(f"{path}: not a preprocessed case of format {CACHE_FORMAT}; rerun `amos preprocess`")
    return PreprocessedCase(
        case_id=state["case_id"],
        modality=state["modality"],
        image=state["image"],
        label=state["label"],
        meta=state["meta"],
        class_indices=state.get("class_indices"),
    )


def read_cache_index(out_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The ``preprocess.json`` of a cache folder, or None if there is none.

    Introduced in chapter *Preprocessing and augmentation*. Built on ``json``.

    Args:
        out_dir: A cache folder.

    Returns:
        ``{"format", "config", "cases": {case_id: {...}}, "failed": {case_id: message}}`` or None.

    Raises:
        ValueError: ``"PATH: ..."`` if the file is not valid JSON.

    Examples:
        >>> read_cache_index("cache/")["config"]["spacing"]  # doctest: +SKIP
        [1.5, 1.5, 2.0]
    """
    path = Path(out_dir) / CACHE_INDEX
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None


def _write_index(out_dir: Path, index: dict[str, Any]) -> None:
    from amos_tutorial.utils.io import atomic_write_text

    atomic_write_text(out_dir / CACHE_INDEX, json.dumps(index, indent=1, sort_keys=True) + "\n")


def _one_line(exc: BaseException, image: Path, label: Path | None) -> str:
    """The error as one line that starts with the file it is about (the image unless it names the label)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if any(text.startswith(str(p)) for p in (image, label) if p is not None):
        return text
    return f"{image}: {type(exc).__name__}: {text}"


def preprocess_dataset(
    dataset,
    out_dir: str | os.PathLike,
    config: PreprocessConfig | None = None,
    splits: Sequence[str] = ("training", "validation"),
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> list[Path]:
    """Preprocess every case of ``splits`` into ``out_dir``, one atomic file per case.

    Introduced in chapter *Preprocessing and augmentation*. Resumable: cases whose file exists are skipped (files
    only appear complete, thanks to :func:`amos_tutorial.utils.io.atomic_path`), as long as their
    source files are those recorded in ``preprocess.json`` (:func:`source_stamp`: path, size,
    modification time); a case whose image or label changed is rebuilt. A case that fails is
    reported on stderr in one line that starts with its file, recorded under ``failed`` in
    ``preprocess.json`` (an older cached file of it is removed), and the run goes on. The folder is
    locked while it is written (:class:`amos_tutorial.utils.lock.FolderLock`): a second process
    filling the same cache waits for the first (up to :data:`CACHE_LOCK_WAIT_S`).

    Args:
        dataset: An :class:`~amos_tutorial.data.layout.AmosDataset` (anything with
            ``split(name) -> cases`` having ``case_id``, ``image``, ``label``, ``modality``), or a
            data root / ``"synthetic"`` passed to ``load_amos``.
        out_dir: Cache folder (created).
        config: Preprocessing settings; a folder is tied to one config (``preprocess.json``).
        splits: Splits to process (``"training"``, ``"validation"``, ``"test"``).
        device: Where to compute (``"cuda"`` is much faster on real data).
        progress: Show a tqdm progress bar.

    Returns:
        Paths of the cached cases, written now or earlier, in dataset order (failed cases omitted).

    Raises:
        ValueError: If ``out_dir`` holds a cache made with another config, or a split is unknown.
    """
    config = config or PreprocessConfig()
    if not isinstance(config, PreprocessConfig):
        raise ValueError(f"config must be a PreprocessConfig, got {type(config).__name__}")
    if isinstance(dataset, (str, os.PathLike)):
        from amos_tutorial.data.layout import load_amos

        dataset = load_amos(dataset)
    if isinstance(splits, str):
        splits = (splits,)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    from amos_tutorial.utils.io import remove_partial_files
    from amos_tutorial.utils.lock import FolderLock

    with FolderLock(out_dir, what="preprocessed cache", wait=CACHE_LOCK_WAIT_S):
        remove_partial_files(out_dir)
        return _preprocess_locked(dataset, out_dir, config, splits, device, progress)


def _preprocess_locked(dataset, out_dir: Path, config: PreprocessConfig, splits, device, progress: bool) -> list[Path]:
    from amos_tutorial.utils.geometry import check_modality

    index = read_cache_index(out_dir) or {}
    if index and index.get("config") != config.to_dict():
        raise ValueError(
            f"{out_dir / CACHE_INDEX}: this cache was made with config {index.get('config')}, not "
            f"{config.to_dict()}; use another folder (or delete this one)"
        )
    index.update({"format": CACHE_FORMAT, "config": config.to_dict()})
    index.setdefault("cases", {})
    index.setdefault("failed", {})
    _write_index(out_dir, index)  # the config is claimed before the first case is written

    cases = []
    for split in splits:
        try:
            cases.extend((split, c) for c in dataset.split(split))
        except (KeyError, ValueError) as exc:
            raise ValueError(f"unknown split {split!r}: {exc}") from None

    from tqdm.auto import tqdm

    done: list[Path] = []
    n_new = n_failed = 0
    bar = tqdm(cases, desc="preprocess", unit="case", disable=not progress, file=sys.stderr)
    n_rebuilt = 0
    for split, case in bar:
        target = out_dir / f"{case.case_id}.pt"
        label = getattr(case, "label", None)
        try:
            stamp = source_stamp(case)
        except OSError:
            stamp = None  # preprocess_case below reports the missing or unreadable file
        entry = index["cases"].get(case.case_id)
        if target.is_file():
            if stamp is not None and entry is not None and entry.get("source") == stamp:
                done.append(target)
                continue
            # Made from other files (or by a version that did not record them): never serve it as is.
            bar.write(f"{target}: source files changed since it was cached, preprocessing again", file=sys.stderr)
            n_rebuilt += 1
        try:
            result = preprocess_case(case.image, label, check_modality(case.modality), config, device=device)
            result.case_id = case.case_id  # the dataset's id, even if the file is named otherwise
            result.meta["case_id"] = case.case_id
            save_preprocessed(result, target)
        except Exception as exc:  # one bad case must not stop the other 599
            line = _one_line(exc, Path(case.image), None if label is None else Path(label))
            bar.write(line, file=sys.stderr)
            index["failed"][case.case_id] = line
            index["cases"].pop(case.case_id, None)
            target.unlink(missing_ok=True)  # an older version of a case that fails now must not be trained on
            n_failed += 1
            continue
        index["failed"].pop(case.case_id, None)
        index["cases"][case.case_id] = {
            "file": target.name,
            "split": split,
            "modality": result.modality,
            "shape": list(result.shape),
            "labelled": result.label is not None,
            "source": stamp,
        }
        done.append(target)
        n_new += 1
        if n_new % 20 == 0:  # keep the index close to the files on long runs
            _write_index(out_dir, index)
    _write_index(out_dir, index)
    _log.info(
        "%s: %d cases written (%d of them rebuilt from changed sources), %d already there, %d failed",
        out_dir, n_new, n_rebuilt, len(done) - n_new, n_failed,
    )
    return done


def load_preprocessed(
    out_dir: str | os.PathLike,
    case_ids: Sequence[str] | None = None,
    memory_budget_gb: float | None = None,
    splits: Sequence[str] | None = None,
) -> list[PreprocessedCase]:
    """Load cached cases, keeping at most ``memory_budget_gb`` in RAM.

    Introduced in chapter *Preprocessing and augmentation*. Cases are read in order into memory until the budget is
    reached; the rest are memory-mapped (``torch.load(mmap=True)``): they take no RAM until touched,
    and then only the pages that a patch needs. With a budget that holds everything, every case is
    simply read.

    Args:
        out_dir: A folder written by :func:`preprocess_dataset`.
        case_ids: Cases to load (default: every ``*.pt`` in the folder, sorted).
        memory_budget_gb: RAM for the cases; None: no limit.
        splits: Instead of ``case_ids``, the cases of these splits according to ``preprocess.json``
            (e.g. ``("training",)`` for the patch sampler).

    Returns:
        The cases in the order of ``case_ids`` (or sorted by id).

    Raises:
        FileNotFoundError: If the folder or a requested case is missing.
        ValueError: ``"PATH: ..."`` for a corrupt file, or a non-positive budget.

    Examples:
        >>> train = load_preprocessed("cache/", splits=("training",), memory_budget_gb=8)  # doctest: +SKIP
    """
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise FileNotFoundError(f"{out_dir}: preprocessed cache folder does not exist (run `amos preprocess`)")
    if memory_budget_gb is not None and memory_budget_gb <= 0:
        raise ValueError(f"memory_budget_gb must be > 0 or None, got {memory_budget_gb}")
    if splits is not None:
        if case_ids is not None:
            raise ValueError("pass case_ids or splits, not both")
        index = read_cache_index(out_dir)
        if index is None:
            raise FileNotFoundError(f"{out_dir / CACHE_INDEX}: no cache index to select splits from")
        wanted = {splits} if isinstance(splits, str) else set(splits)
        case_ids = sorted(cid for cid, info in index.get("cases", {}).items() if info.get("split") in wanted)
    if case_ids is None:
        paths = sorted(p for p in out_dir.glob("*.pt") if not p.name.startswith("."))
    else:
        paths = [out_dir / f"{cid}.pt" for cid in case_ids]
    budget = None if memory_budget_gb is None else memory_budget_gb * 1e9
    used = 0
    cases = []
    n_mapped = 0
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: preprocessed case does not exist")
        size = path.stat().st_size  # torch.save does not compress: file size ~ memory size
        mmap = budget is not None and used + size > budget
        cases.append(load_preprocessed_case(path, mmap=mmap))
        if mmap:
            n_mapped += 1
        else:
            used += size
    if n_mapped:
        _log.info(
            "%s: %d cases in memory (%.2f GB), %d memory-mapped (over the %.2f GB budget)",
            out_dir, len(cases) - n_mapped, used / 1e9, n_mapped, memory_budget_gb,
        )
    return cases
