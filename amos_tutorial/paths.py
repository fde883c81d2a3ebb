"""Where the data lives: ``AMOS_DATA_DIR``, the cache folder and the word ``synthetic``.

Introduced in chapter *Getting the data*. Like nnU-Net, data paths come from environment variables
when they are not given explicitly, and a missing variable produces an error that says what to set.

Wherever a data root is expected (CLI and API), the word ``synthetic`` means the default synthetic
mini-AMOS set: generated once into the cache folder (``AMOS_CACHE_DIR``, default
``~/.cache/amos_tutorial``) and reused afterwards.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "ENV_DATA_DIR",
    "ENV_CACHE_DIR",
    "SYNTHETIC",
    "DEFAULT_SYNTHETIC_CASES",
    "DEFAULT_SYNTHETIC_SEED",
    "cache_dir",
    "synthetic_fingerprint",
    "synthetic_root",
    "synthetic_heldout_root",
    "resolve_data_root",
]

ENV_DATA_DIR = "AMOS_DATA_DIR"
ENV_CACHE_DIR = "AMOS_CACHE_DIR"
SYNTHETIC = "synthetic"
DEFAULT_SYNTHETIC_CASES = 16
DEFAULT_SYNTHETIC_SEED = 0


def cache_dir() -> Path:
    """The package's cache folder (``$AMOS_CACHE_DIR`` or ``~/.cache/amos_tutorial``), created if needed."""
    env = os.environ.get(ENV_CACHE_DIR)
    path = Path(env).expanduser() if env else Path.home() / ".cache" / "amos_tutorial"
    path.mkdir(parents=True, exist_ok=True)
    return path


def synthetic_fingerprint() -> str:
    """8 hex digits of the synthetic generator's source: a changed generator writes a new cached set.

    The cached set is generated once and reused; without this, a reader who updates the package would keep
    the set an older generator wrote (other case ids, other anatomy) and never see the difference.
    """
    import hashlib

    digest = hashlib.sha256()
    data_dir = Path(__file__).resolve().parent / "data"
    for path in _synthetic_sources():
        # The name too: moving code between the package's files is a change of the generator's source.
        digest.update(path.relative_to(data_dir).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:8]


def _synthetic_sources() -> list[Path]:
    """The generator's source files, in a fixed order: every module of ``data/synthetic/`` and ``data/release.py``."""
    data_dir = Path(__file__).resolve().parent / "data"
    return sorted((data_dir / "synthetic").rglob("*.py")) + [data_dir / "release.py"]


def synthetic_root(
    n_cases: int = DEFAULT_SYNTHETIC_CASES, seed: int = DEFAULT_SYNTHETIC_SEED, generate: bool = True
) -> Path:
    """Path of the cached synthetic mini-AMOS set, generating it on first use.

    Args:
        n_cases: Number of cases (default 16).
        seed: Generator seed (default 0).
        generate: If False, only return the path.

    Returns:
        The dataset root (the folder holding ``dataset.json``).
    """
    root = cache_dir() / f"synthetic_amos_n{n_cases}_s{seed}-{synthetic_fingerprint()}"
    if generate and not (root / "dataset.json").is_file():
        from amos_tutorial.data.synthetic import generate_synthetic_dataset

        try:
            generate_synthetic_dataset(root, n_cases=n_cases, seed=seed)
        except (ValueError, OSError):
            # Another process (a second pytest worker, a parallel notebook) may have finished the same
            # deterministic set first; its atomic rename means a dataset.json there is complete.
            if not (root / "dataset.json").is_file():
                raise
    return root


def synthetic_heldout_root(
    n_cases: int = 4, modalities: tuple[str, ...] = ("CT", "MRI"), beside: str | os.PathLike | None = None
) -> Path:
    """A small labelled synthetic set held out from another one: extra test cases for a chapter.

    Introduced in chapter *How AMOS 2022 was won*. Its cases form a validation split only (every case
    labelled), drawn by the same generator as the default set. Its seed is the first from 1 upwards whose case
    ids differ from every id of ``beside``, so that the cases of both sets can be linked into one folder and
    scored together; no model trained on ``beside`` has seen them. Generated once into the cache folder.

    Args:
        n_cases: Number of cases (1-100).
        modalities: ``("CT",)``, ``("MRI",)`` or both (about 20 % MRI, at least one from 4 cases).
        beside: The set the cases are held out from (default: :func:`synthetic_root`).

    Returns:
        The set's root (its ``imagesVa``/``labelsVa`` hold the cases).

    Raises:
        ValueError: On a bad ``n_cases`` or ``modalities``.
    """
    from amos_tutorial.data.synthetic.plan import MODALITIES, plan_cases

    if not isinstance(n_cases, int) or not 1 <= n_cases <= 100:
        raise ValueError(f"n_cases must be an integer 1-100, got {n_cases!r}")
    modalities = tuple(modalities)
    if not modalities or not set(modalities) <= set(MODALITIES):
        raise ValueError(f"modalities must be a non-empty subset of {MODALITIES}, got {modalities!r}")
    beside = Path(beside) if beside is not None else synthetic_root()
    taken = {p.name[:9] for p in beside.rglob("amos_*.nii.gz")}
    seed = next(s for s in range(1, 10_000)
                if not {c.case_id for c in plan_cases(n_cases, s, modalities, ("validation",))} & taken)
    kind = "_".join(m.lower() for m in modalities)
    root = cache_dir() / f"synthetic_heldout_{kind}_n{n_cases}_s{seed}-{synthetic_fingerprint()}"
    if not (root / "dataset.json").is_file():
        from amos_tutorial.data.synthetic import generate_synthetic_dataset

        try:
            generate_synthetic_dataset(root, n_cases=n_cases, seed=seed, modalities=modalities, splits=("validation",))
        except (ValueError, OSError):
            if not (root / "dataset.json").is_file():  # another process finished the same set first
                raise
    return root


def resolve_data_root(root: str | os.PathLike | None = None) -> Path:
    """Turn a user's data argument into an existing dataset folder.

    Args:
        root: A folder, the word ``"synthetic"``, or None to read ``$AMOS_DATA_DIR``.

    Returns:
        An existing folder.

    Raises:
        FileNotFoundError: If no root is given and ``AMOS_DATA_DIR`` is unset, or the folder does not exist.

    Examples:
        >>> resolve_data_root("synthetic").name  # doctest: +SKIP
        'synthetic_amos_n16_s0-...'
    """
    if root is None:
        root = os.environ.get(ENV_DATA_DIR)
        if not root:
            raise FileNotFoundError(
                f"No AMOS data folder given and ${ENV_DATA_DIR} is not set: pass a folder, "
                f"'{SYNTHETIC}' for the synthetic mini-AMOS set, or set {ENV_DATA_DIR}=/path/to/amos22"
            )
    if str(root) == SYNTHETIC:
        return synthetic_root()
    path = Path(root).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: AMOS data folder does not exist")
    return path
