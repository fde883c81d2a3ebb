"""Shared pytest fixtures: tiny hand-made AMOS cases and a tiny synthetic mini-AMOS set.

Everything here is small on purpose (the CI machine has 2 CPU cores): a hand-made case is a
20x18x10 volume, the synthetic set has 4 cases of at most 48x48x16 voxels.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

from amos_tutorial.utils.kernels import encrypt_kernels

# Figures are rendered off-screen in this process. Not via $MPLBACKEND: the variable would be
# inherited by the notebook kernels that the book tests start, and they must render inline.
matplotlib.use("Agg")

# Every kernel a test starts gets CurveZMQ keys, as in the book build (no "running over TCP without
# encryption" warning per kernel).
encrypt_kernels()

REPO_ROOT = Path(__file__).resolve().parents[1]

# Organ blocks of the hand-made case, in voxel index ranges of the (X, Y, Z) array, and their
# constant image intensity: tests derive expected volumes and means from this table.
TINY_ORGANS: dict[int, tuple[tuple[slice, slice, slice], float]] = {
    6: ((slice(2, 10), slice(3, 12), slice(2, 8)), 60.0),  # liver
    1: ((slice(12, 17), slice(4, 9), slice(3, 7)), 45.0),  # spleen
    2: ((slice(3, 6), slice(13, 16), slice(1, 4)), 150.0),  # right kidney
}
TINY_SHAPE = (20, 18, 10)
TINY_SPACING = (1.5, 1.25, 4.0)


@dataclass(frozen=True)
class TinyCase:
    """Stand-in for ``AmosCase`` with the attributes the stats and viz code read."""

    case_id: str
    split: str
    modality: str
    image: Path
    label: Path | None
    number: int = 1
    modality_source: str = "id-rule"


def tiny_arrays(background: float = -100.0) -> tuple[np.ndarray, np.ndarray]:
    """Image and label arrays of the hand-made case (no noise: values are exact)."""
    image = np.full(TINY_SHAPE, background, dtype=np.float32)
    label = np.zeros(TINY_SHAPE, dtype=np.uint8)
    for organ, (block, value) in TINY_ORGANS.items():
        label[block] = organ
        image[block] = value
    return image, label


def write_tiny_case(
    folder: Path,
    case_id: str = "amos_0001",
    modality: str = "CT",
    split: str = "training",
    with_label: bool = True,
    offset: float = 0.0,
) -> TinyCase:
    """Write the hand-made case as NIfTI files (RAS affine with :data:`TINY_SPACING`)."""
    from amos_tutorial.utils.io import save_nifti

    image, label = tiny_arrays()
    affine = np.diag([*TINY_SPACING, 1.0])
    img_path = save_nifti(image + offset, affine, folder / "imagesTr" / f"{case_id}.nii.gz", dtype=np.float32)
    lab_path = (
        save_nifti(label, affine, folder / "labelsTr" / f"{case_id}.nii.gz", dtype=np.uint8) if with_label else None
    )
    number = int(case_id.split("_")[-1])
    return TinyCase(case_id, split, modality, img_path, lab_path, number=number)


def write_untrained_run(
    folder: Path, spacing: tuple[float, float, float] = (2.0, 2.0, 3.0), seed: int = 0, **overrides
) -> Path:
    """A run folder as ``amos train`` writes it (config.json, checkpoints/best.pt) with an untrained tiny UNet.

    ``seed`` draws the weights (two seeds: two different runs); ``overrides`` go to ``make_config``
    (``fold=``, ``data=``, ``task=``...).
    """
    import torch

    from amos_tutorial.models import build_model_for_patch
    from amos_tutorial.training import make_config, save_checkpoint, save_config
    from amos_tutorial.transforms.preprocessing import PreprocessConfig

    preprocess = PreprocessConfig(spacing=spacing)
    settings = {"patch_size": (16, 16, 16), "preprocess": preprocess.to_dict(), "sw_batch_size": 2, **overrides}
    config = make_config("unet", "smoke", **settings)
    torch.manual_seed(seed)
    net = build_model_for_patch(config.model, config.variant, config.patch_size, preprocess.spacing)
    save_config(config, folder / "config.json")
    save_checkpoint(folder / "checkpoints" / "best.pt", {"model": net.state_dict()})
    return folder


@pytest.fixture
def tiny_case(tmp_path: Path) -> TinyCase:
    """One labelled hand-made CT case on disk."""
    return write_tiny_case(tmp_path)


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny synthetic mini-AMOS set (4 cases), generated once per test session."""
    from amos_tutorial.data.synthetic import generate_synthetic_dataset

    root = tmp_path_factory.mktemp("synthetic") / "amos22"
    return Path(generate_synthetic_dataset(root, n_cases=4, seed=0, max_shape=(48, 48, 16)))


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    # The CI machine has 2 cores shared by many jobs: tests that use torch get one thread.
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    yield


def toc_files() -> list[str]:
    """Every page of ``_toc.yml`` (root first), as written there: ``book/<chapter>``."""
    from amos_tutorial.benchmark.chapters import toc_chapters

    return [str(p.relative_to(REPO_ROOT).with_suffix("")) for p in toc_chapters(REPO_ROOT)]


def toc_notebooks() -> list[str]:
    """The pages of ``_toc.yml`` that are notebooks (chapters), as ``book/<chapter>``."""
    return [page for page in toc_files() if (REPO_ROOT / f"{page}.ipynb").is_file()]


# --- each chapter executed once per test session, the reader's way ----------------------------------
#
# The chapter tests (tests/test_notebooks.py), the book test (tests/test_book.py), the Colab edition and the
# release test need the same executed chapters. They share the pytest-xdist group CHAPTERS_GROUP, so one worker
# executes every chapter in the book's order, as a reader reads it (the quick runs that *Training the baselines*
# trains are then in the cache when *Evaluating segmentations* asks for them), while the other worker runs the
# rest of the suite. Each is executed once per session, across pytest-xdist
# workers (a lock per chapter: whoever comes second waits for the first and reuses its copy), the way a reader
# runs it: in a fresh venv that holds only torch and ipykernel (as Colab has), from its own setup cell, which
# installs the package and the chapter's extras from a snapshot of this checkout at the release tag
# (tests/_reader.py). The executed copy and its time go into the session's shared folder; a failing chapter is
# recorded too, so it fails every test that needs it without being executed again.

#: Stops a hung cell, nothing else: the longest smoke cell takes about 2 min on 2 idle cores.
CELL_TIMEOUT_S = 1800
#: pytest-xdist group of every test that executes chapters the reader's way (one worker, the book's order).
CHAPTERS_GROUP = "chapters"
CHAPTER_LOG = "chapter_times.tsv"


def session_shared_dir(factory: pytest.TempPathFactory) -> Path:
    """A folder shared by every pytest-xdist worker of this test session (and only this session)."""
    base = factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the controller's basetemp: workers' basetemps are its sub-folders
    shared = base / "shared"
    shared.mkdir(exist_ok=True)
    return shared


def chapter_executor(env: dict[str, str] | None = None):
    """pytest-notebook's executor in the maintainers' environment, set up as the book build runs a chapter.

    Used for the data variants (tests/test_chapter_variants.py) and small hand-made notebooks; the chapters
    themselves run the reader's way (:func:`executed_chapter`).

    Args:
        env: Extra kernel environment on top of the smoke settings (e.g. ``AMOS_DATA`` for another copy).
    """
    from pytest_notebook.nb_regression import NBRegressionFixture

    from amos_tutorial.benchmark.chapters import SMOKE_ENV

    return NBRegressionFixture(
        exec_timeout=CELL_TIMEOUT_S,
        exec_env={**SMOKE_ENV, **(env or {})},
        diff_ignore=("/cells/*/outputs", "/cells/*/execution_count", "/metadata/language_info"),
    )


def reader(shared: Path, name: str = "reader", blocked: tuple[str, ...] = ()):
    """The reader's environment of this test session (made once, shared by the pytest-xdist workers).

    A fresh venv with only torch and ipykernel, as Colab has; each chapter's own setup cell installs the rest
    from a snapshot of this checkout at the release tag (see ``tests/_reader.py``). ``blocked`` names
    distributions that pip must refuse (an optional package that cannot be installed).
    """
    from _reader import Reader, make_reader
    from filelock import FileLock

    root = shared / name
    ready = root / "ready.json"
    with FileLock(f"{root}.lock"):
        if not ready.is_file():
            shutil.rmtree(root, ignore_errors=True)
            start = time.perf_counter()
            made = make_reader(root, REPO_ROOT, blocked=blocked)
            ready.write_text(json.dumps({"url": made.url, "seconds": round(time.perf_counter() - start, 1),
                                         "constraints": str(made.constraints or "")}), encoding="utf-8")
    info = json.loads(ready.read_text(encoding="utf-8"))
    return Reader(root, root / "venv" / "bin" / "python", root / "kernels", info["url"],
                  Path(info["constraints"]) if info["constraints"] else None)


def execute_chapter_as_reader(path: Path, shared: Path, environment: str = "reader",
                              blocked: tuple[str, ...] = ()):
    """Execute a chapter the reader's way; returns ``(notebook, setup seconds, error or None)``."""
    from _reader import execute_as_reader

    who = reader(shared, environment, blocked)
    return execute_as_reader(path, who, shared / environment / "work" / path.stem, f"{who.root}.install.lock",
                             CELL_TIMEOUT_S)


def executed_chapter(path: Path, shared: Path):
    """The executed copy of chapter ``path``, executing it (the reader's way) only if no one did in this session.

    Returns:
        ``(notebook, copy_path)``.

    Raises:
        AssertionError: If the chapter failed (now or earlier in the session), with the error.
    """
    import nbformat
    from filelock import FileLock

    from amos_tutorial.utils.io import atomic_path

    rel = path.resolve().relative_to(REPO_ROOT)
    copy = shared / "executed" / rel
    failed = copy.with_suffix(".failed")
    copy.parent.mkdir(parents=True, exist_ok=True)
    # The reader's venv is made (once per session) before the clock starts: it is not the chapter's time.
    reader(shared)
    with FileLock(f"{copy}.lock"):
        if not copy.is_file() and not failed.is_file():
            start = time.perf_counter()
            setup_s = 0.0
            try:
                nb, setup_s, error = execute_chapter_as_reader(path, shared)
                if error:
                    raise RuntimeError(error)
                with atomic_path(copy) as tmp:
                    nbformat.write(nb, tmp)
                status = "ok"
            except Exception as exc:
                failed.write_text(f"{type(exc).__name__}: {exc}", encoding="utf-8")
                status = "failed"
            worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
            with open(shared / CHAPTER_LOG, "a", encoding="utf-8") as log:
                log.write(f"{path.stem}\t{time.perf_counter() - start - setup_s:.1f}\t{status}\t{worker}\t{setup_s:.1f}\n")
    if failed.is_file():
        raise AssertionError(f"{rel} failed to execute:\n{failed.read_text(encoding='utf-8')[-4000:]}")
    return nbformat.read(copy, as_version=4), copy


def chapter_executions(shared: Path) -> dict[str, int]:
    """How many times each chapter was executed in this session, from the shared log."""
    log = shared / CHAPTER_LOG
    counts: dict[str, int] = {}
    if log.is_file():
        for line in log.read_text(encoding="utf-8").splitlines():
            counts[line.split("\t")[0]] = counts.get(line.split("\t")[0], 0) + 1
    return counts


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Print each chapter's execution time against the book's budget (a measurement, not a test)."""
    if os.environ.get("PYTEST_XDIST_WORKER") or not hasattr(config, "_tmp_path_factory"):
        return
    log = config._tmp_path_factory.getbasetemp() / "shared" / CHAPTER_LOG
    if not log.is_file():
        return
    import pandas as pd

    from amos_tutorial.benchmark.chapters import format_chapter_times

    frame = pd.read_csv(log, sep="\t", names=["chapter", "seconds", "status", "worker", "setup_s"])
    terminalreporter.section("chapter execution times (smoke mode, the reader's way; setup cell not counted)")
    terminalreporter.write_line(format_chapter_times(frame))
    installs = frame[frame["setup_s"] > 1]
    if len(installs):
        terminalreporter.write_line("setup cells that installed packages: " + ", ".join(
            f"{row.chapter} {row.setup_s:.0f} s" for row in installs.itertuples()))
    for chapter, count in frame["chapter"].value_counts().items():
        if count > 1:
            terminalreporter.write_line(f"WARNING: {chapter} was executed {count} times")


# --- shared by the tests of a module and of its figures ---------------------------------------------


def score_table(scores: dict[tuple[str, int], float], modality: dict[str, str] | None = None) -> pd.DataFrame:
    """A small evaluate_folder-like table: (case, organ_id) -> DSC (NSD = DSC / 2)."""
    from amos_tutorial.labels import label_by_id

    modality = modality or {}
    rows = [
        {
            "case": case,
            "organ_id": organ,
            "organ": label_by_id(organ).name,
            "modality": modality.get(case, "CT"),
            "dsc": value,
            "nsd": value / 2,
            "ref_ml": 0.0 if np.isnan(value) else 10.0 * organ,
            "pred_ml": 1.0,
            "tolerance_mm": 1.0,
        }
        for (case, organ), value in scores.items()
    ]
    df = pd.DataFrame(rows)
    df.attrs["conventions"] = "NSD tolerance 1 mm"
    return df


@pytest.fixture
def stacked() -> pd.DataFrame:
    a = score_table(
        {("amos_0001", 1): 0.9, ("amos_0001", 6): 0.5, ("amos_0600", 1): 0.2, ("amos_0600", 6): 0.4},
        {"amos_0600": "MRI"},
    )
    b = score_table(
        {("amos_0001", 1): 0.8, ("amos_0001", 6): np.nan, ("amos_0600", 1): 0.9, ("amos_0600", 6): 0.7},
        {"amos_0600": "MRI"},
    )
    from amos_tutorial.evaluation import compare

    return compare.stack_results({"zeta": a, "alpha": b})


def metrics_table(iterations=(4, 8, 12), losses=(3.0, 2.0, 1.5), seconds=(9.0, 2.0, 2.4), dice=(np.nan, 0.1, 0.3)):
    return pd.DataFrame(
        {
            "epoch": range(1, len(iterations) + 1),
            "iteration": list(iterations),
            "train_loss": list(losses),
            "lr": [0.01] * len(iterations),
            "seconds": list(seconds),
            "val_dice": list(dice),
        }
    )


def run_result(model="unet", metrics=None, losses=None, run_dir=Path("unused")):
    from amos_tutorial.training import TrainConfig
    from amos_tutorial.training.trainer import RunResult

    metrics = metrics_table() if metrics is None else metrics
    config = TrainConfig(model=model, iterations=int(metrics["iteration"].max()), iterations_per_epoch=4)
    if losses is None:
        losses = {k: 4.0 - 0.2 * k for k in range(config.iterations)}
    return RunResult(
        run_dir=run_dir,
        config=config,
        metrics=metrics,
        iteration=config.iterations,
        completed=True,
        interrupted=False,
        best_dice=float(np.nanmax(metrics["val_dice"])) if "val_dice" in metrics else None,
        losses=losses,
    )


def run_folder(tmp_path: Path, model="unet", metrics=None) -> Path:
    from amos_tutorial.training import TrainConfig, save_config

    folder = tmp_path / model
    metrics = metrics_table() if metrics is None else metrics
    save_config(TrainConfig(model=model, iterations=int(metrics["iteration"].max()), iterations_per_epoch=4),
                folder / "config.json")  # fmt: skip
    metrics.to_csv(folder / "metrics.csv", index=False)
    return folder


LPS_SPACING = (0.7, 0.9, 3.3)


def lps_case(tmp_path, case_id="amos_0002"):
    """The hand-made case stored with its first two axes pointing Left and Posterior."""
    from amos_tutorial.utils.io import save_nifti

    image, label = tiny_arrays()
    affine = np.diag([-LPS_SPACING[0], -LPS_SPACING[1], LPS_SPACING[2], 1.0])
    img = save_nifti(image[::-1, ::-1].copy(), affine, tmp_path / "imagesTr" / f"{case_id}.nii.gz", dtype=np.float32)
    lab = save_nifti(label[::-1, ::-1].copy(), affine, tmp_path / "labelsTr" / f"{case_id}.nii.gz", dtype=np.uint8)
    return TinyCase(case_id, "training", "CT", img, lab, number=2)


def preprocessed_volume(case_id="vol", shape=(40, 40, 24), tiny_organ=True, seed=0):
    """A preprocessed-looking case: a big liver block and (optionally) a 2x2x2 adrenal gland in a corner."""
    import torch

    from amos_tutorial.transforms.preprocessing import PreprocessedCase, compute_class_indices

    rng = np.random.default_rng(seed)
    image = rng.normal(0.3, 0.05, shape).astype(np.float32)
    label = np.zeros(shape, dtype=np.uint8)
    label[5:30, 5:30, 4:20] = 6
    if tiny_organ:
        label[36:38, 36:38, 1:3] = 12
    img = torch.from_numpy(image)[None]
    lab = torch.from_numpy(label)[None]
    meta = {"spacing": [1.5, 1.5, 2.0], "affine": np.diag([1.5, 1.5, 2.0, 1.0]).tolist()}
    return PreprocessedCase(case_id, "CT", img, lab, meta, compute_class_indices(lab))
