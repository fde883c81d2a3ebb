"""The 2-D demonstrations of the evaluation chapter (amos_tutorial.evaluation.demos)."""

from __future__ import annotations

import numpy as np
import pytest

from amos_tutorial.evaluation import demos, dice, normalized_surface_dice


def test_thin_organ_pair():
    ref, pred = demos.thin_organ_pair((20, 20), width=2, length=10, shift=(0, 1))
    assert ref.sum() == pred.sum() == 20
    assert (ref & pred).sum() == 10
    assert dice(ref, pred) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="do not fit"):
        demos.thin_organ_pair((20, 20), width=3, length=10, shift=(0, 15))
    with pytest.raises(ValueError, match="width and length"):
        demos.thin_organ_pair(width=0)
    with pytest.raises(ValueError, match="shape"):
        demos.thin_organ_pair((20, 20, 3))


def test_noisy_boundary_stays_within_its_amplitude():
    from amos_tutorial.evaluation import disk_mask

    ref, pred = demos.noisy_boundary_pair((48, 48), radius=12, amplitude=3.0, seed=4)
    assert (ref == disk_mask((48, 48), radius=12)).all()
    assert not (pred == ref).all()
    assert (pred <= disk_mask((48, 48), radius=15)).all()  # never beyond radius + amplitude
    assert (disk_mask((48, 48), radius=9) <= pred).all()  # never inside radius - amplitude
    again = demos.noisy_boundary_pair((48, 48), radius=12, amplitude=3.0, seed=4)[1]
    assert (again == pred).all()
    with pytest.raises(ValueError, match="amplitude"):
        demos.noisy_boundary_pair(amplitude=-1)
    with pytest.raises(ValueError, match="must fit"):
        demos.noisy_boundary_pair((20, 20), radius=9, amplitude=2)


def test_island_pair_and_its_lesson():
    ref, pred = demos.island_pair()
    assert (ref <= pred).all()
    assert (pred & ~ref).sum() > 0
    # A few stray voxels: DSC hardly moves, NSD loses the island's whole boundary.
    assert dice(ref, pred) > 0.98
    assert normalized_surface_dice(ref, pred, 1.0, 1.0) < 0.95
    with pytest.raises(ValueError, match="overlaps"):
        demos.island_pair((12, 12), radius=5, island_radius=2)


def test_demo_cases_teach_what_the_chapter_says():
    cases = demos.metric_demo_cases()
    assert len(cases) == 4
    assert all(c.reference.shape == c.prediction.shape == (48, 48) for c in cases)
    scores = demos.score_demo_cases(cases, tolerances=(1.0, 2.0)).set_index("case")
    large, thin, noisy, island = scores.index
    assert scores.loc[large, "dsc"] > scores.loc[large, "nsd_1mm"]  # shift: NSD at 1 mm punishes more
    assert scores.loc[large, "nsd_2mm"] == pytest.approx(1.0)  # ... and 2 mm forgives a 2 px shift
    assert scores.loc[thin, "nsd_1mm"] == pytest.approx(1.0)  # thin organ: NSD forgives, DSC does not
    assert scores.loc[thin, "dsc"] < 0.7
    assert scores.loc[noisy, "dsc"] > scores.loc[noisy, "nsd_1mm"]
    assert scores.loc[island, "dsc"] > scores.loc[island, "nsd_1mm"]
    assert scores["lesson"].str.len().min() > 20
    with pytest.raises(ValueError, match="cases is empty"):
        demos.score_demo_cases([])
    with pytest.raises(ValueError, match="tolerances is empty"):
        demos.score_demo_cases(cases, tolerances=())


def test_metric_response_shapes_of_the_curves():
    table = demos.metric_response(shifts_px=(0, 1, 2, 3, 4), tolerances=(1.0, 2.0))
    assert set(table.metric) == {"DSC", "NSD @ 1 mm", "NSD @ 2 mm"}
    for organ, part in table.groupby("organ"):
        dsc = part[part.metric == "DSC"].sort_values("shift_mm").value.to_numpy()
        assert dsc[0] == 1.0, organ
        assert (np.diff(dsc) <= 1e-12).all(), organ  # DSC falls steadily
    large = table[table.organ.str.startswith("large")]
    nsd2 = large[large.metric == "NSD @ 2 mm"].set_index("shift_mm").value
    assert (nsd2.loc[[0.0, 1.0, 2.0]] == 1.0).all()
    assert nsd2.loc[3.0] < 1.0  # 1 up to the tolerance
    # Spacing scales the shift in mm.
    assert demos.metric_response((0, 2), (1.0,), spacing=0.5).shift_mm.max() == 1.0
    with pytest.raises(ValueError, match="shifts_px"):
        demos.metric_response((-1,))
    with pytest.raises(ValueError, match="spacing"):
        demos.metric_response(spacing=0)


def test_anisotropy_one_voxel_is_not_one_distance():
    table = demos.anisotropy_table(spacing=(0.7, 5.0), radius_mm=20, tolerances=(1.0, 5.0))
    fine, coarse = table.iloc[0], table.iloc[1]
    assert fine.shift_mm == 0.7
    assert coarse.shift_mm == 5.0
    assert fine.nsd_1mm == 1.0
    assert coarse.nsd_1mm < 0.5
    assert coarse.nsd_5mm == 1.0
    assert fine.dsc > coarse.dsc
    with pytest.raises(ValueError, match="spacing"):
        demos.anisotropy_table(spacing=(0.7,))
    with pytest.raises(ValueError, match="radius_mm"):
        demos.anisotropy_table(radius_mm=0)
