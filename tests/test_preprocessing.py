"""Fast preprocessing (amos_tutorial.transforms.preprocessing), the cache and ``amos preprocess``.

Test volumes are tiny phantoms written with save_nifti: a body ellipse in air, two organs and a
tiny "adrenal gland", with anisotropic voxels (0.7 x 0.9 x 3.3 mm) in RAS, LPS and axis-permuted
orientations. Agreement with the MONAI chain is tested in test_chains.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from amos_tutorial.transforms import cache as cache_mod
from amos_tutorial.transforms.cache import load_preprocessed, load_preprocessed_case, preprocess_dataset
from amos_tutorial.transforms.preprocessing import (
    PreprocessConfig,
    invert_to_original,
    preprocess_array,
    preprocess_case,
)
from amos_tutorial.utils.io import save_nifti

SHAPE = (40, 34, 12)
SPACING = (0.7, 0.9, 3.3)  # no target-grid voxel lands exactly half-way between two source voxels
# organ id: (centre voxel, radii in voxels, HU); 11 is a tiny "adrenal gland" of a few voxels
ORGANS = {
    6: ((14, 14, 6), (9, 8, 2.5), 160.0),
    2: ((28, 20, 5), (4, 4, 1.6), 220.0),
    11: ((22, 9, 7), (1.6, 1.6, 0.6), 120.0),
}


def phantom(modality: str = "CT", seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(image, label) arrays of the phantom in RAS voxel order."""
    rng = np.random.default_rng(seed)
    grid = np.meshgrid(*(np.arange(s, dtype=np.float64) for s in SHAPE), indexing="ij")
    body = ((grid[0] - 20) / 17) ** 2 + ((grid[1] - 17) / 14) ** 2 < 1
    image = np.where(body, 40.0, -1000.0) + rng.normal(0, 15, SHAPE)
    label = np.zeros(SHAPE, np.uint8)
    for organ, (centre, radii, hu) in ORGANS.items():
        inside = sum(((g - c) / r) ** 2 for g, c, r in zip(grid, centre, radii)) < 1
        label[inside] = organ
        image[inside] = hu + rng.normal(0, 10, int(inside.sum()))
    if modality == "MRI":
        image = (image + 1024.0) * 0.6  # positive, dark background, like an MR magnitude image
    return image.astype(np.float32), label


def oriented(image: np.ndarray, label: np.ndarray, orientation: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The same physical volume stored in another voxel order: (image, label, affine)."""
    ras = np.diag([*SPACING, 1.0])
    ras[:3, 3] = (12.0, -40.0, 7.0)
    if orientation == "RAS":
        return image, label, ras
    if orientation == "LPS":  # x and y reversed, as DICOM-derived files often are
        flip = np.diag([-1.0, -1.0, 1.0, 1.0])
        flip[:2, 3] = (SHAPE[0] - 1, SHAPE[1] - 1)
        return image[::-1, ::-1].copy(), label[::-1, ::-1].copy(), ras @ flip
    if orientation == "SLP":  # slices first, then a reversed x, then y
        perm = np.zeros((4, 4))
        perm[2, 0] = perm[1, 2] = perm[3, 3] = 1.0
        perm[0, 1] = -1.0
        perm[0, 3] = SHAPE[0] - 1
        img = np.transpose(image[::-1], (2, 0, 1)).copy()
        lab = np.transpose(label[::-1], (2, 0, 1)).copy()
        return img, lab, ras @ perm
    raise ValueError(orientation)


def write_case(folder: Path, case_id: str, orientation: str = "RAS", modality: str = "CT") -> tuple[Path, Path]:
    image, label = phantom(modality)
    image, label, affine = oriented(image, label, orientation)
    img = save_nifti(image, affine, folder / "imagesTr" / f"{case_id}.nii.gz", dtype=np.float32)
    lab = save_nifti(label, affine, folder / "labelsTr" / f"{case_id}.nii.gz", dtype=np.uint8)
    return img, lab


def one_hot(label: torch.Tensor, n: int = 16) -> torch.Tensor:
    return torch.nn.functional.one_hot(label[0].long(), n).permute(3, 0, 1, 2).float()


# ----------------------------------------------------------------------------------------------
def test_config_roundtrip_and_checks():
    cfg = PreprocessConfig(spacing=[2, 2, 3], ct_window=(-100, 200), crop_foreground=False)
    assert cfg.spacing == (2.0, 2.0, 3.0)
    assert PreprocessConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="spacing"):
        PreprocessConfig(spacing=(1.5, 0.0, 2.0))
    with pytest.raises(ValueError, match="ct_window"):
        PreprocessConfig(ct_window=(250, -175))
    with pytest.raises(ValueError, match="mri_percentiles"):
        PreprocessConfig(mri_percentiles=(-1, 99))
    with pytest.raises(ValueError, match="unknown PreprocessConfig keys"):
        PreprocessConfig.from_dict({"spacingg": [1, 1, 1]})


def test_ct_grid_window_and_meta():
    image, label = phantom("CT")
    _, _, affine = oriented(image, label, "RAS")
    cfg = PreprocessConfig(crop_foreground=False)
    case = preprocess_array(image, affine, "CT", cfg, label=label, case_id="amos_0001")
    # Spacing's grid: n_out = round((n_in - 1) * old / new + 1), voxel 0 stays at voxel 0.
    expected = tuple(int(round((n - 1) * o / t + 1)) for n, o, t in zip(SHAPE, SPACING, cfg.spacing))
    assert case.shape == expected
    assert case.image.dtype == torch.float32
    assert case.label.dtype == torch.uint8
    assert float(case.image.min()) == 0.0
    assert float(case.image.max()) <= 1.0
    aff = np.array(case.meta["affine"])
    np.testing.assert_allclose(np.diag(aff)[:3], cfg.spacing)
    np.testing.assert_allclose(aff[:3, 3], affine[:3, 3])
    assert set(torch.unique(case.label).tolist()) == {0, *ORGANS}
    # Window: an air voxel maps to 0, the liver (160 HU) to (160 + 175) / 425.
    liver = case.image[case.label == 6]
    assert abs(float(liver.median()) - (160 + 175) / 425) < 0.05


def test_foreground_crop_keeps_every_organ():
    image, label = phantom("CT")
    _, _, affine = oriented(image, label, "RAS")
    full = preprocess_array(image, affine, "CT", PreprocessConfig(crop_foreground=False), label=label)
    crop = preprocess_array(image, affine, "CT", label=label)
    (x0, x1), (y0, y1), (z0, z1) = crop.meta["crop_box"]
    assert crop.shape == (x1 - x0, y1 - y0, z1 - z0)
    assert np.prod(crop.shape) < np.prod(full.shape)  # the air around the body is gone
    assert torch.equal(crop.label, full.label[:, x0:x1, y0:y1, z0:z1])
    assert int((crop.label > 0).sum()) == int((full.label > 0).sum())


def test_mri_percentile_clip_and_zscore():
    image, label = phantom("MRI")
    image[3, 3, 3] = 1e6  # one hot pixel must not squash the contrast
    _, _, affine = oriented(image, label, "RAS")
    case = preprocess_array(image, affine, "MRI", PreprocessConfig(crop_foreground=False))
    assert abs(float(case.image.mean())) < 1e-4
    assert abs(float(case.image.std(unbiased=False)) - 1.0) < 1e-4
    assert float(case.image.max()) < 10.0


@pytest.mark.parametrize("modality", ["CT", "MRI"])
def test_orientation_is_normalised_to_ras(modality):
    image, label = phantom(modality)
    results = []
    for orientation in ("RAS", "LPS", "SLP"):
        img, lab, aff = oriented(image, label, orientation)
        results.append(preprocess_array(img, aff, modality, label=lab))
    for other in results[1:]:
        assert other.shape == results[0].shape
        np.testing.assert_allclose(other.meta["affine"], results[0].meta["affine"], atol=1e-6)
        assert float((other.image - results[0].image).abs().max()) < 1e-5
        assert torch.equal(other.label, results[0].label)


@pytest.mark.parametrize("orientation", ["RAS", "LPS", "SLP"])
def test_invert_one_hot_label_to_original_grid(tmp_path, orientation):
    img_path, lab_path = write_case(tmp_path, "amos_0003", orientation)
    case = preprocess_case(img_path, lab_path, "CT")
    original = oriented(*phantom("CT"), orientation)[1]
    back = invert_to_original(one_hot(case.label), case.meta)
    assert back.shape == (16, *original.shape)
    assert back.device == case.label.device
    # Down- then up-sampling blurs organ borders by under a voxel of the coarse grid: >= 98% agree.
    agree = float((back.argmax(0).numpy() == original).mean())
    assert agree >= 0.98, agree
    nearest = invert_to_original(case.label, case.meta, mode="nearest")[0].numpy()
    assert float((nearest == original).mean()) >= 0.98


def test_invert_fills_outside_the_crop():
    image, label = phantom("CT")
    _, _, affine = oriented(image, label, "RAS")
    case = preprocess_array(image, affine, "CT", label=label)
    back = invert_to_original(torch.ones(1, *case.shape), case.meta, fill=-1.0)[0]
    # Organs lie inside the crop; the air corners of the field of view do not.
    assert bool((back[torch.from_numpy(label > 0)] == 1.0).all())
    assert float(back[0, 0, 0]) == float(back[-1, -1, -1]) == -1.0
    assert set(torch.unique(back).tolist()) == {-1.0, 1.0}
    with pytest.raises(ValueError, match="mode"):
        invert_to_original(torch.ones(1, *case.shape), case.meta, mode="cubic")
    with pytest.raises(ValueError, match="meta lacks"):
        invert_to_original(torch.ones(1, *case.shape), {"affine": case.meta["affine"]})


def test_bad_inputs_name_the_problem(tmp_path):
    image, label = phantom("CT")
    _, _, affine = oriented(image, label, "RAS")
    with pytest.raises(ValueError, match="modality"):
        preprocess_array(image, affine, "PET")
    with pytest.raises(ValueError, match="label shape"):
        preprocess_array(image, affine, "CT", label=label[:-1])
    bad = image.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        preprocess_array(bad, affine, "CT")
    with pytest.raises(ValueError, match="singular"):
        preprocess_array(image, np.zeros((4, 4)), "CT")

    img_path, lab_path = write_case(tmp_path, "amos_0004")
    broken = tmp_path / "imagesTr" / "amos_0005.nii.gz"
    broken.write_bytes(b"not a nifti file")
    with pytest.raises(ValueError) as err:
        preprocess_case(broken, None, "CT")
    assert str(err.value).startswith(str(broken))
    moved = affine.copy()
    moved[:3, 3] += 1.0  # a label 1 mm off its image
    shifted = save_nifti(label, moved, tmp_path / "lab.nii.gz", dtype=np.uint8)
    with pytest.raises(ValueError) as err:
        preprocess_case(img_path, shifted, "CT")
    assert str(err.value).startswith(str(shifted))
    assert "affine" in str(err.value)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        preprocess_case(tmp_path / "missing.nii.gz")


# ----------------------------------------------------------------------------------------------
class _Case:
    def __init__(self, case_id, image, label, modality="CT"):
        self.case_id, self.image, self.label, self.modality = case_id, image, label, modality


class _Dataset:
    """Just what preprocess_dataset reads from an AmosDataset: split(name) -> cases."""

    def __init__(self, training, validation=()):
        self._splits = {"training": list(training), "validation": list(validation), "test": []}

    def split(self, name):
        if name not in self._splits:
            raise ValueError(f"unknown split {name!r}")
        return self._splits[name]


@pytest.fixture
def small_dataset(tmp_path):
    cases = []
    for i, orientation in ((1, "RAS"), (2, "LPS")):
        img, lab = write_case(tmp_path / "data", f"amos_{i:04d}", orientation)
        cases.append(_Case(f"amos_{i:04d}", img, lab))
    broken = tmp_path / "data" / "imagesTr" / "amos_0003.nii.gz"
    broken.write_bytes(b"\x1f\x8b truncated gzip")
    cases.append(_Case("amos_0003", broken, None))
    img, _ = write_case(tmp_path / "data", "amos_0550", "RAS", modality="MRI")
    val = [_Case("amos_0550", img, None, modality="MRI")]
    return _Dataset(cases, val)


def test_preprocess_dataset_resumes_and_survives_a_bad_case(tmp_path, small_dataset, capsys, monkeypatch):
    out = tmp_path / "cache"
    cfg = PreprocessConfig(spacing=(2.0, 2.0, 4.0))
    paths = preprocess_dataset(small_dataset, out, cfg, progress=False)
    assert [p.name for p in paths] == ["amos_0001.pt", "amos_0002.pt", "amos_0550.pt"]
    err_lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err_lines) == 1
    assert err_lines[0].startswith(str(small_dataset.split("training")[2].image))
    index = cache_mod.read_cache_index(out)
    assert index["config"] == cfg.to_dict()
    assert list(index["failed"]) == ["amos_0003"]
    assert index["cases"]["amos_0550"]["modality"] == "MRI"
    assert not index["cases"]["amos_0550"]["labelled"]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left behind

    stamps = {p.name: p.stat().st_mtime_ns for p in paths}
    calls = []
    real = cache_mod.preprocess_case
    monkeypatch.setattr(cache_mod, "preprocess_case", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    again = preprocess_dataset(small_dataset, out, cfg, progress=False)
    assert again == paths
    assert calls == [small_dataset.split("training")[2].image]  # only the failed case is retried
    assert {p.name: p.stat().st_mtime_ns for p in again} == stamps

    with pytest.raises(ValueError, match="another folder"):
        preprocess_dataset(small_dataset, out, PreprocessConfig(), progress=False)


def test_cache_roundtrip_budget_and_corruption(tmp_path, small_dataset):
    out = tmp_path / "cache"
    cfg = PreprocessConfig(spacing=(2.0, 2.0, 4.0))
    preprocess_dataset(small_dataset, out, cfg, splits=("training",), progress=False)
    first = small_dataset.split("training")[0]
    direct = preprocess_case(first.image, first.label, "CT", cfg)
    loaded = load_preprocessed(out)
    assert [c.case_id for c in loaded] == ["amos_0001", "amos_0002"]
    assert torch.equal(loaded[0].image, direct.image)
    assert torch.equal(loaded[0].label, direct.label)
    assert loaded[0].meta["affine"] == direct.meta["affine"]
    assert sorted(loaded[0].class_indices) == sorted(ORGANS)
    # A budget smaller than one case: everything is memory-mapped, with the same values.
    mapped = load_preprocessed(out, case_ids=["amos_0002"], memory_budget_gb=1e-9)
    assert torch.equal(mapped[0].image, loaded[1].image)
    assert [c.case_id for c in load_preprocessed(out, splits=("training",))] == ["amos_0001", "amos_0002"]
    assert load_preprocessed(out, splits="validation") == []
    with pytest.raises(FileNotFoundError, match="amos_0009.pt"):
        load_preprocessed(out, case_ids=["amos_0009"])
    (out / "amos_0002.pt").write_bytes(b"garbage")
    with pytest.raises(ValueError) as err:
        load_preprocessed_case(out / "amos_0002.pt")
    assert str(err.value).startswith(str(out / "amos_0002.pt"))


def test_cli_preprocess(tmp_path, capsys):
    from amos_tutorial.cli import main

    data = tmp_path / "amos22"
    write_case(data, "amos_0001", "LPS")
    write_case(data, "amos_0002", "RAS")
    out = tmp_path / "cache"
    rc = main(["preprocess", "--data", str(data), "--out", str(out), "--spacing", "2,2,4", "--no-progress"])
    assert rc == 0
    assert sorted(p.name for p in out.glob("*.pt")) == ["amos_0001.pt", "amos_0002.pt"]
    assert cache_mod.read_cache_index(out)["config"]["spacing"] == [2.0, 2.0, 4.0]
    assert "2 cases preprocessed, 0 failed" in capsys.readouterr().out

    (data / "imagesTr" / "amos_0003.nii.gz").write_bytes(b"broken")
    rc = main(["preprocess", "--data", str(data), "--out", str(out), "--spacing", "2,2,4", "--no-progress"])
    captured = capsys.readouterr()
    assert rc == 1
    assert str(data / "imagesTr" / "amos_0003.nii.gz") in captured.err

    rc = main(["preprocess", "--data", str(tmp_path / "nowhere"), "--out", str(out)])
    assert rc == 2
    assert "amos: error:" in capsys.readouterr().err
