"""Shared pytest fixtures: tiny hand-made AMOS cases and a tiny synthetic mini-AMOS set.

Everything here is small on purpose (the CI machine has 2 CPU cores): a hand-made case is a
20x18x10 volume, the synthetic set has 4 cases of at most 48x48x16 voxels.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import pytest

# Figures are rendered off-screen in this process. Not via $MPLBACKEND: the variable would be
# inherited by the notebook kernels that the book tests start, and they must render inline.
matplotlib.use("Agg")

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
    import yaml

    toc = yaml.safe_load((REPO_ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return files
