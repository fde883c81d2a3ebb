"""Tests of amos_tutorial.data.stats on hand-made NIfTI cases (expected values come from conftest's organ table)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_ORGANS, TINY_SHAPE, TINY_SPACING, write_tiny_case

from amos_tutorial.data import stats
from amos_tutorial.labels import LABELS, ORGAN_IDS


def _block_voxels(block: tuple[slice, slice, slice]) -> int:
    return int(np.prod([s.stop - s.start for s in block]))


def test_case_statistics_geometry_and_organs(tiny_case):
    cs = stats.case_statistics(tiny_case, samples_per_organ=50)
    g = cs.geometry
    assert (g["shape_x"], g["shape_y"], g["shape_z"]) == TINY_SHAPE
    assert (g["spacing_x"], g["spacing_y"], g["spacing_z"]) == pytest.approx(TINY_SPACING)
    assert g["axcodes"] == "RAS"
    assert g["fov_z_mm"] == pytest.approx(TINY_SHAPE[2] * TINY_SPACING[2])
    assert g["n_organs_present"] == len(TINY_ORGANS)
    assert g["intensity_min"] == pytest.approx(-100.0)
    assert g["intensity_max"] == pytest.approx(150.0)

    rows = {r["label_id"]: r for r in cs.organs}
    assert sorted(rows) == list(ORGAN_IDS)
    voxel_ml = np.prod(TINY_SPACING) / 1000
    for organ, (block, value) in TINY_ORGANS.items():
        n = _block_voxels(block)
        assert rows[organ]["present"]
        assert rows[organ]["voxels"] == n
        assert rows[organ]["volume_ml"] == pytest.approx(n * voxel_ml)
        assert rows[organ]["fraction"] == pytest.approx(n / np.prod(TINY_SHAPE))
        assert rows[organ]["intensity_mean"] == pytest.approx(value)
        assert rows[organ]["intensity_std"] == pytest.approx(0.0, abs=1e-5)
        assert rows[organ]["organ"] == LABELS[organ].name
    absent = [i for i in ORGAN_IDS if i not in TINY_ORGANS]
    for organ in absent:
        assert not rows[organ]["present"]
        assert rows[organ]["voxels"] == 0
        assert math.isnan(rows[organ]["intensity_mean"])


def test_case_statistics_samples_are_capped_and_come_from_the_organ(tiny_case):
    cs = stats.case_statistics(tiny_case, samples_per_organ=10)
    assert set(cs.samples) == set(TINY_ORGANS)
    for organ, values in cs.samples.items():
        assert len(values) == min(10, _block_voxels(TINY_ORGANS[organ][0]))
        assert np.all(values == TINY_ORGANS[organ][1])
    # Same seed, same draw; the draw is per case so it is reproducible.
    again = stats.case_statistics(tiny_case, samples_per_organ=10)
    assert all(np.array_equal(cs.samples[k], again.samples[k]) for k in cs.samples)


def test_unlabelled_case_has_geometry_only(tmp_path):
    case = write_tiny_case(tmp_path, "amos_0600", modality="MRI", split="test", with_label=False)
    cs = stats.case_statistics(case)
    assert cs.organs == []
    assert cs.samples == {}
    assert cs.geometry["labelled"] is False
    assert cs.geometry["modality"] == "MRI"


def test_label_grid_mismatch_names_the_label_file(tmp_path, tiny_case):
    from amos_tutorial.utils.io import save_nifti

    bad = save_nifti(np.zeros((4, 4, 4), np.uint8), np.eye(4), tmp_path / "bad_label.nii.gz")
    with pytest.raises(ValueError, match=r"^" + str(bad).replace("\\", "\\\\") + ": label shape"):
        stats.case_statistics(replace(tiny_case, label=bad))


def test_out_of_range_labels_are_rejected(tmp_path, tiny_case):
    from amos_tutorial.utils.io import save_nifti

    arr = np.zeros(TINY_SHAPE, np.uint8)
    arr[0, 0, 0] = 16
    bad = save_nifti(arr, np.diag([*TINY_SPACING, 1.0]), tmp_path / "l16.nii.gz")
    with pytest.raises(ValueError, match="0-15"):
        stats.case_statistics(replace(tiny_case, label=bad))


def test_each_file_is_read_once(tiny_case, monkeypatch):
    from amos_tutorial.utils import io

    calls: list[str] = []
    real = io.load_nifti

    def counting(path, dtype=None):
        calls.append(str(path))
        return real(path, dtype)

    monkeypatch.setattr(io, "load_nifti", counting)
    stats.dataset_statistics([tiny_case])
    assert sorted(calls) == sorted([str(tiny_case.image), str(tiny_case.label)])


def _cases(tmp_path, n_ct=3, n_mri=2):
    cases = [write_tiny_case(tmp_path, f"amos_{i:04d}", "CT", offset=i) for i in range(1, n_ct + 1)]
    cases += [write_tiny_case(tmp_path, f"amos_{i:04d}", "MRI", offset=i) for i in range(540, 540 + n_mri)]
    return cases


def test_dataset_statistics_tables(tmp_path):
    cases = _cases(tmp_path)
    result = stats.dataset_statistics(cases, samples_per_organ=5)
    assert list(result.geometry.columns) == stats.GEOMETRY_COLUMNS
    assert list(result.organs.columns) == stats.ORGAN_COLUMNS
    assert len(result.geometry) == 5
    assert len(result.organs) == 5 * len(ORGAN_IDS)
    assert len(result.samples) == 5 * 5 * len(TINY_ORGANS)
    assert set(result.samples["organ"].astype(str)) == {LABELS[i].name for i in TINY_ORGANS}
    # Organ order is the label id order, whatever order the cases come in.
    assert list(result.organs["organ"].cat.categories) == [lab.name for lab in LABELS[1:]]
    summary = result.summary()
    assert "5 cases" in summary
    assert "3 CT" in summary
    assert "2 MRI" in summary
    assert result.errors == []


def test_bad_case_is_reported_not_fatal(tmp_path):
    cases = _cases(tmp_path, n_ct=2, n_mri=1)
    broken = tmp_path / "imagesTr" / "amos_0002.nii.gz"
    broken.write_bytes(b"not a nifti")
    with pytest.warns(UserWarning, match="amos_0002"):
        result = stats.dataset_statistics(cases)
    assert len(result.geometry) == 2
    assert len(result.errors) == 1
    assert result.errors[0].startswith(str(broken))
    with pytest.raises(ValueError, match="cannot read"):
        stats.dataset_statistics(cases, on_error="raise")


def test_cache_resumes_and_notices_changed_files(tmp_path, monkeypatch):
    cases = _cases(tmp_path, n_ct=2, n_mri=0)
    cache = tmp_path / "cache"
    first = stats.dataset_statistics(cases, cache_dir=cache, samples_per_organ=7)
    assert len(list(cache.glob("*.json"))) == 2

    def boom(*args, **kwargs):
        raise AssertionError("case_statistics called although the cache is valid")

    monkeypatch.setattr(stats, "case_statistics", boom)
    second = stats.dataset_statistics(cases, cache_dir=cache, samples_per_organ=7)
    pd.testing.assert_frame_equal(first.geometry, second.geometry)
    pd.testing.assert_frame_equal(first.organs, second.organs)
    pd.testing.assert_frame_equal(first.samples, second.samples)

    monkeypatch.undo()
    # Rewriting one image invalidates exactly that case's cache entry.
    write_tiny_case(tmp_path, "amos_0001", "CT", offset=1000.0)
    third = stats.dataset_statistics(cases, cache_dir=cache, samples_per_organ=7)
    changed = third.geometry.set_index("case_id").intensity_max
    assert changed["amos_0001"] == pytest.approx(1150.0)
    assert changed["amos_0002"] == pytest.approx(first.geometry.set_index("case_id").intensity_max["amos_0002"])


def test_select_cases_keeps_modalities_and_is_deterministic():
    cases = [{"case_id": f"c{i}", "modality": "CT"} for i in range(10)] + [
        {"case_id": f"m{i}", "modality": "MRI"} for i in range(2)
    ]
    pick = stats.select_cases(cases, 4, seed=3)
    assert len(pick) == 4
    assert {c["modality"] for c in pick} == {"CT", "MRI"}
    assert pick == stats.select_cases(cases, 4, seed=3)
    positions = [cases.index(c) for c in pick]
    assert positions == sorted(positions)  # original order kept
    assert stats.select_cases(cases, None) == cases
    assert stats.select_cases(cases, 100) == cases
    with pytest.raises(ValueError, match="max_cases"):
        stats.select_cases(cases, 0)


def test_class_balance_fractions(tmp_path):
    result = stats.dataset_statistics(_cases(tmp_path, n_ct=2, n_mri=1))
    balance = stats.class_balance(result.organs, result.geometry)
    for _, sub in balance.groupby("modality"):
        assert sub["fraction"].sum() == pytest.approx(1.0)
        bg = sub[sub.label_id == 0]
        expected_bg = 1 - sum(_block_voxels(b) for b, _ in TINY_ORGANS.values()) / np.prod(TINY_SHAPE)
        assert bg["fraction"].iloc[0] == pytest.approx(expected_bg)
    liver = balance[(balance.modality == "CT") & (balance.label_id == 6)]
    assert liver["present_in"].iloc[0] == 1.0
    spleen_absent = balance[(balance.label_id == 5)]
    assert (spleen_absent["present_in"] == 0).all()
    without_geometry = stats.class_balance(result.organs)
    assert 0 not in set(without_geometry.label_id)
    with pytest.raises(ValueError, match="lacks columns"):
        stats.class_balance(result.organs.drop(columns=["voxels"]))


def test_tidy_metadata_renames_and_parses():
    frame = pd.DataFrame(
        {
            "case_id": ["amos_0001", "amos_0540", "amos_0002"],
            "split": ["training"] * 3,
            "modality": ["CT", "MRI", "CT"],
            "Patient's Sex": ["M ", "F", None],
            "Patient's Age": ["061Y", "045Y", None],
            "Manufacturer's Model Name": ["Aquilion ONE", "Prisma", None],
            "Manufacturer": ["TOSHIBA", "SIEMENS", None],
            "Site": ["A", "B", None],
            "Acquisition Date": ["20190312", "2018-01-02", None],
        }
    )
    meta = stats.tidy_metadata(frame)
    assert meta["age"].tolist()[:2] == [61.0, 45.0]
    assert math.isnan(meta["age"].iloc[2])
    assert meta["sex"].tolist()[:2] == ["M", "F"]
    assert meta["scanner"].iloc[1] == "Prisma"
    assert meta["acquired"].iloc[0] == pd.Timestamp("2019-03-12")
    assert meta["acquired"].iloc[1] == pd.Timestamp("2018-01-02")
    bare = stats.tidy_metadata(frame[["case_id", "modality"]])
    assert bare["scanner"].isna().all()
    assert bare["age"].isna().all()
    with pytest.raises(ValueError, match="modality"):
        stats.tidy_metadata(frame[["case_id"]])


def test_statistics_of_a_synthetic_dataset(synthetic_root):
    from amos_tutorial.data.layout import load_amos

    ds = load_amos(synthetic_root)
    result = stats.dataset_statistics(ds.labelled(), samples_per_organ=20)
    assert len(result.geometry) == len(ds.labelled())
    assert set(result.geometry.modality) <= {"CT", "MRI"}
    assert (result.organs.groupby("case_id").present.sum() > 0).all()
    assert result.errors == []
    meta = stats.tidy_metadata(ds.to_frame())
    assert len(meta) == len(ds.cases)


def test_argument_checks_and_empty_input(tiny_case):
    with pytest.raises(ValueError, match="samples_per_organ"):
        stats.case_statistics(tiny_case, samples_per_organ=-1)
    with pytest.raises(ValueError, match="on_error"):
        stats.dataset_statistics([tiny_case], on_error="ignore")
    empty = stats.dataset_statistics([])
    assert empty.geometry.empty
    assert empty.organs.empty
    assert empty.samples.empty
    assert list(empty.samples.columns) == stats.SAMPLE_COLUMNS
    assert empty.summary() == "no cases"
