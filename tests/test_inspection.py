"""What the pipeline does to a case, step by step: stages, resampling, cache, sampling and round trips
(amos_tutorial.transforms.inspection)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import lps_case, preprocessed_volume, TINY_SPACING, write_tiny_case
from matplotlib.figure import Figure

from amos_tutorial.transforms import cache as cache_mod
from amos_tutorial.transforms import inspection
from amos_tutorial.transforms.preprocessing import PreprocessConfig, preprocess_case
from amos_tutorial.utils.io import load_nifti
from amos_tutorial.viz import pipeline as vp


class _Dataset:
    def __init__(self, cases):
        self.cases = list(cases)

    def split(self, name):
        if name not in ("training", "validation", "test"):
            raise ValueError(f"unknown split {name!r}")
        return self.cases if name == "training" else []


def test_stages_follow_the_monai_chain_and_match_the_fast_path(tmp_path):
    case = lps_case(tmp_path)
    stages = inspection.preprocessing_stages(case)
    assert [s.name for s in stages] == ["as stored", "RAS orientation", "resampled", "intensity", "foreground crop"]
    assert stages[0].transforms == ("LoadImaged", "EnsureChannelFirstd")
    assert stages[0].axcodes == "LPS"
    assert stages[1].axcodes == "RAS"
    # Orientation only flips: same values, mirrored array.
    np.testing.assert_array_equal(stages[1].image, stages[0].image[::-1, ::-1])
    assert stages[2].spacing == pytest.approx((1.5, 1.5, 2.0))
    assert not stages[2].normalised
    assert stages[3].normalised
    assert stages[3].image.min() >= 0.0
    assert stages[3].image.max() <= 1.0
    fast = preprocess_case(case.image, case.label, "CT")
    assert stages[-1].shape == fast.shape
    np.testing.assert_allclose(stages[-1].image, fast.image[0].numpy(), atol=1e-4)
    np.testing.assert_array_equal(stages[-1].label, fast.label[0].numpy())
    row = stages[0].summary()
    assert row["axcodes"] == "LPS"
    assert row["shape"] == "20x18x10"
    assert row["values"] == "-100..150"


def test_stages_without_crop_and_without_label(tmp_path):
    case = write_tiny_case(tmp_path, with_label=False)
    stages = inspection.preprocessing_stages(case, PreprocessConfig(crop_foreground=False))
    assert [s.name for s in stages][-1] == "intensity"
    assert all(s.label is None for s in stages)


def test_stages_reject_bad_cases(tmp_path):
    case = write_tiny_case(tmp_path)
    missing = type(case)("amos_0009", "training", "CT", tmp_path / "nope.nii.gz", None)
    with pytest.raises(ValueError, match="nope.nii.gz"):
        inspection.preprocessing_stages(missing)
    with pytest.raises(ValueError, match="modality"):
        inspection.preprocessing_stages(type(case)("amos_0001", "training", "PET", case.image, case.label))
    with pytest.raises(ValueError, match="AmosCase"):
        inspection.preprocessing_stages("imagesTr/amos_0001.nii.gz")


def test_resampling_table_of_the_amos_median():
    table = inspection.resampling_table((512, 512, 103), (0.713, 0.713, 5.0), (1.5, 1.5, 2.0), name="median")
    assert list(table.index) == ["median", "resampled"]
    assert table.loc["resampled", "shape"] == "243x243x258"
    assert table.loc["median", "voxels_M"] == pytest.approx(27.0, abs=0.01)
    assert table.loc["resampled", "float32_MB"] == pytest.approx(243 * 243 * 258 * 4 / 1e6, abs=0.1)
    assert table.loc["median", "anisotropy"] == pytest.approx(7.01, abs=0.01)
    assert table.loc["resampled", "fov_mm"] == "364x364x516"
    for bad in ((512, 512), (512, 512, 0), ("a", 1, 1)):
        with pytest.raises(ValueError, match="shape"):
            inspection.resampling_table(bad, (1, 1, 1))
    with pytest.raises(ValueError, match="target_spacing"):
        inspection.resampling_table((10, 10, 10), (1, 1, 1), (1, -1, 1))


def test_cache_table_follows_load_preprocessed(tmp_path, monkeypatch):
    cases = [write_tiny_case(tmp_path / "data", f"amos_000{i}") for i in (1, 2, 3)]
    out = tmp_path / "cache"
    cache_mod.preprocess_dataset(_Dataset(cases), out, splits=("training",), progress=False)
    table = inspection.cache_table(out)
    assert list(table.case_id) == ["amos_0001", "amos_0002", "amos_0003"]
    assert (table.storage == "RAM").all()
    assert (table.split == "training").all()
    assert (table.kept_pct > 0).all()
    assert (table.kept_pct <= 100).all()
    direct = preprocess_case(cases[0].image, cases[0].label, "CT")
    assert table.cropped_shape[0] == "x".join(map(str, direct.shape))
    assert table.stored_shape[0] == "20x18x10"

    # A budget that holds one and a half files: the first case in RAM, the others memory-mapped,
    # exactly as load_preprocessed decides.
    size_gb = (out / "amos_0001.pt").stat().st_size / 1e9
    flags = []
    real = cache_mod.load_preprocessed_case
    monkeypatch.setattr(cache_mod, "load_preprocessed_case", lambda p, mmap=False: flags.append(mmap) or real(p, mmap))
    cache_mod.load_preprocessed(out, splits=["training"], memory_budget_gb=1.5 * size_gb)
    monkeypatch.setattr(cache_mod, "load_preprocessed_case", real)
    budget = inspection.cache_table(out, memory_budget_gb=1.5 * size_gb, splits=["training"])
    assert list(budget.storage == "memory-mapped") == flags == [False, True, True]
    assert inspection.cache_table(out, splits=["validation"]).empty

    with pytest.raises(FileNotFoundError, match="preprocess.json"):
        inspection.cache_table(tmp_path / "data")
    with pytest.raises(ValueError, match="memory_budget_gb"):
        inspection.cache_table(out, memory_budget_gb=0)


def test_organ_weighting_shows_the_tiny_organ_more_often():
    volumes = [preprocessed_volume("a", seed=0), preprocessed_volume("b", seed=1)]
    freq = inspection.compare_patch_sampling(volumes, (8, 8, 8), batch_size=8, n_batches=10, seed=0)
    assert set(freq.sampler) == {"uniform", "organ-weighted"}
    assert len(freq) == 2 * 16
    share = freq.set_index(["sampler", "organ"])["patches"]
    assert share["organ-weighted", "adrenal_gland_left"] > 2 * share["uniform", "adrenal_gland_left"]
    assert share["organ-weighted", "adrenal_gland_left"] > 0.15
    assert share["uniform", "spleen"] == 0.0  # absent organs never appear
    for _, group in freq.groupby("sampler"):
        assert group["voxels"].sum() == pytest.approx(1.0)
        assert (group["n_patches"] == 80).all()
    fig = vp.plot_patch_class_frequencies(freq)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match="n_batches"):
        inspection.compare_patch_sampling(volumes, (8, 8, 8), n_batches=0)
    with pytest.raises(ValueError, match="columns"):
        vp.plot_patch_class_frequencies(freq.drop(columns="voxels"))


def test_round_trip_on_the_native_grid_is_exact(tiny_case):
    label, _ = load_nifti(tiny_case.label)
    pre = preprocess_case(tiny_case.image, tiny_case.label, "CT", PreprocessConfig(spacing=TINY_SPACING))
    for mode in ("nearest", "one-hot"):
        back = inspection.round_trip_label(pre, mode)
        assert back.shape == label.shape
        assert back.dtype == np.uint8
        agreement = inspection.round_trip_agreement(label, back)
        assert (agreement["dice"] == 1.0).all()
        assert agreement.attrs["voxel_agreement"] == 1.0
        assert sorted(agreement.index) == ["kidney_right", "liver", "spleen"]


def test_round_trip_on_a_coarse_grid_loses_detail(tmp_path):
    case = lps_case(tmp_path)
    label, _ = load_nifti(case.label)
    pre = preprocess_case(case.image, case.label, "CT", PreprocessConfig(spacing=(3.0, 3.0, 6.0)))
    agreement = inspection.round_trip_agreement(label, inspection.round_trip_label(pre))
    assert 0.3 < agreement["dice"].min() < 1.0
    assert agreement.loc["liver", "dice"] > agreement.loc["kidney_right", "dice"]  # the big organ fares best
    with pytest.raises(ValueError, match="mode"):
        inspection.round_trip_label(pre, "bicubic")
    pre.label = None
    with pytest.raises(ValueError, match="no label"):
        inspection.round_trip_label(pre)


def test_round_trip_agreement_counts():
    a = np.zeros((4, 4, 4), np.uint8)
    b = np.zeros((4, 4, 4), np.uint8)
    a[0:2] = 6  # 32 voxels
    b[1:3] = 6  # 32 voxels, 16 shared
    b[3, 0, 0] = 12
    frame = inspection.round_trip_agreement(a, b)
    assert frame.loc["liver", "dice"] == 0.5
    assert frame.loc["adrenal_gland_left"].tolist() == [0, 1, 0.0]
    assert frame.attrs["voxel_agreement"] == pytest.approx(1 - 33 / 64)
    with pytest.raises(ValueError, match="shape"):
        inspection.round_trip_agreement(a, b[:2])
