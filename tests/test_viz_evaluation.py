"""The evaluation chapter's helpers: 2-D demonstrations, simulated predictions, model tables and figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_ORGANS, TINY_SPACING, tiny_arrays, write_tiny_case
from matplotlib.figure import Figure

from amos_tutorial.evaluation import compare, demos, dice, evaluate_folder, normalized_surface_dice, simulate
from amos_tutorial.utils.io import load_nifti, save_nifti
from amos_tutorial.viz import evaluation as ve

# --- 2-D demonstrations ---------------------------------------------------------------------------


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


def test_demo_figures():
    fig = ve.plot_metric_demos(demos.metric_demo_cases())
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 4
    assert "DSC 0.89" in fig.axes[0].get_title()
    fig = ve.plot_metric_demos(demos.metric_demo_cases()[:3])
    assert sum(ax.get_visible() for ax in fig.axes) == 3
    fig = ve.plot_metric_response(demos.metric_response((0, 2), (1.0,)))
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match="2-D"):
        ve.plot_metric_demos([demos.MetricDemo("3-D", np.ones((2, 2, 2), bool), np.ones((2, 2, 2), bool), "")])
    with pytest.raises(ValueError, match="lacks the columns"):
        ve.plot_metric_response(pd.DataFrame({"organ": ["x"]}))


# --- simulated predictions ------------------------------------------------------------------------


def test_perturb_labels_is_reproducible_and_honest_about_its_damage():
    _, label = tiny_arrays()
    pred, log = simulate.perturb_labels(label, seed=3, max_shift=(2, 2, 1), p_missing=0.3, p_resize=0.5)
    again, log2 = simulate.perturb_labels(label, seed=3, max_shift=(2, 2, 1), p_missing=0.3, p_resize=0.5)
    assert (pred == again).all()
    assert log.equals(log2)
    assert pred.dtype == np.uint8
    assert pred.shape == label.shape
    assert log.organ_id.tolist() == sorted(TINY_ORGANS)
    for row in log.itertuples():
        if row.missing:
            assert not (pred == row.organ_id).any()
            assert row.shift is None
        else:
            assert (pred == row.organ_id).any()
            assert all(abs(s) <= m for s, m in zip(row.shift, (2, 2, 1)))


def test_perturb_labels_exact_effects():
    _, label = tiny_arrays()
    same, _ = simulate.perturb_labels(label, max_shift=(0, 0, 0), p_missing=0.0, p_resize=0.0)
    assert (same == label).all()
    gone, log = simulate.perturb_labels(label, p_missing=1.0)
    assert not gone.any()
    assert log.missing.all()
    # One block, shifted by exactly its logged shift (no wrap-around: the block is far from the edges).
    block = np.zeros((20, 20, 10), np.uint8)
    block[6:12, 6:12, 3:7] = 6
    moved, log = simulate.perturb_labels(block, seed=5, max_shift=(2, 2, 2), p_missing=0.0, p_resize=0.0)
    shift = log["shift"].iloc[0]
    assert (moved == np.roll(block, shift, axis=(0, 1, 2))).all()
    # Dilation and erosion by one voxel, as logged.
    seen = set()
    for seed in range(20):
        resized, log = simulate.perturb_labels(block, seed=seed, max_shift=(0, 0, 0), p_missing=0.0, p_resize=1.0)
        kind = log["resize"].iloc[0]
        seen.add(kind)
        # The 6x6x4 block gains one layer on each face (6-connected dilation) or loses its outer layer.
        size = {"dilated 1 voxel": 6 * 6 * 4 + 2 * (6 * 4 + 6 * 4 + 6 * 6), "eroded 1 voxel": 4 * 4 * 2}[kind]
        assert (resized > 0).sum() == size, kind
    assert seen == {"dilated 1 voxel", "eroded 1 voxel"}


@pytest.mark.parametrize(
    "label, kwargs, match",
    [
        (np.zeros((4, 4, 4), np.float32), {}, "integer dtype"),
        (np.full((4, 4, 4), 16, np.uint8), {}, "0-15"),
        (np.zeros((4, 4, 4), np.uint8), {"max_shift": (1, 1)}, "max_shift"),
        (np.zeros((4, 4, 4), np.uint8), {"max_shift": (1, -1, 1)}, "max_shift"),
        (np.zeros((4, 4, 4), np.uint8), {"p_missing": 1.5}, "p_missing"),
        (np.zeros((4, 4, 4), np.uint8), {"p_resize": -0.1}, "p_resize"),
    ],
)
def test_perturb_labels_refuses_bad_input(label, kwargs, match):
    with pytest.raises(ValueError, match=match):
        simulate.perturb_labels(label, **kwargs)


def test_simulate_predictions_look_like_a_models(tmp_path):
    for cid in ("amos_0001", "amos_0002"):
        write_tiny_case(tmp_path, cid)
    labels, out = tmp_path / "labelsTr", tmp_path / "sim"
    log = simulate.simulate_predictions(labels, out, seed=1)
    assert sorted(p.name for p in out.iterdir()) == ["amos_0001.nii.gz", "amos_0002.nii.gz"]
    pred, affine = load_nifti(out / "amos_0002.nii.gz")
    ref, ref_affine = load_nifti(labels / "amos_0002.nii.gz")
    assert pred.shape == ref.shape
    assert np.allclose(affine, ref_affine)
    assert set(log.case) == {"amos_0001", "amos_0002"}
    df = evaluate_folder(out, labels, progress=False)  # accepted like any prediction folder
    assert len(df) == 2 * 15
    # A case's damage depends on its id, not on which other cases are simulated.
    simulate.simulate_predictions(labels, tmp_path / "one", seed=1, cases=["amos_0002"])
    assert (load_nifti(tmp_path / "one" / "amos_0002.nii.gz")[0] == pred).all()
    with pytest.raises(ValueError, match="no label map for amos_0003"):
        simulate.simulate_predictions(labels, tmp_path / "x", cases=["amos_0003"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no reference label maps"):
        simulate.simulate_predictions(tmp_path / "empty", tmp_path / "x")
    with pytest.raises(FileNotFoundError):
        simulate.simulate_predictions(tmp_path / "missing", tmp_path / "x")


def test_simulate_predictions_names_a_bad_file(tmp_path):
    save_nifti(np.full((4, 4, 4), 20, np.uint8), np.eye(4), tmp_path / "labels" / "amos_0001.nii.gz")
    with pytest.raises(ValueError, match=r"amos_0001\.nii\.gz.*0-15"):
        simulate.simulate_predictions(tmp_path / "labels", tmp_path / "out")


# --- tables of several models ---------------------------------------------------------------------


def _table(scores: dict[tuple[str, int], float], modality: dict[str, str] | None = None) -> pd.DataFrame:
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
    a = _table(
        {("amos_0001", 1): 0.9, ("amos_0001", 6): 0.5, ("amos_0600", 1): 0.2, ("amos_0600", 6): 0.4},
        {"amos_0600": "MRI"},
    )
    b = _table(
        {("amos_0001", 1): 0.8, ("amos_0001", 6): np.nan, ("amos_0600", 1): 0.9, ("amos_0600", 6): 0.7},
        {"amos_0600": "MRI"},
    )
    return compare.stack_results({"zeta": a, "alpha": b})


def test_stack_results(stacked):
    assert stacked.columns[0] == "model"
    assert list(stacked.model.cat.categories) == ["zeta", "alpha"]  # the caller's order, not sorted
    assert len(stacked) == 8
    assert stacked.attrs["conventions"] == "NSD tolerance 1 mm"
    other = _table({("amos_0001", 1): 0.5})
    other.attrs["conventions"] = "NSD tolerance 2 mm"
    with pytest.raises(ValueError, match="different conventions"):
        compare.stack_results({"a": _table({("amos_0001", 1): 0.5}), "b": other})
    with pytest.raises(ValueError, match="results is empty"):
        compare.stack_results({})
    with pytest.raises(ValueError, match="lacks the columns"):
        compare.stack_results({"a": pd.DataFrame({"case": ["x"]})})


def test_case_scores_and_worst_cases(stacked):
    scores = compare.case_scores(stacked).set_index(["model", "case"])
    assert scores.loc[("zeta", "amos_0001"), "dsc"] == pytest.approx(0.7)
    assert scores.loc[("alpha", "amos_0001"), "dsc"] == pytest.approx(0.8)  # NaN skipped
    assert scores.loc[("zeta", "amos_0600"), "worst_organ"] == "spleen"
    assert scores.loc[("zeta", "amos_0600"), "modality"] == "MRI"
    worst = compare.worst_cases(stacked, n=1)
    assert worst[["model", "case"]].values.tolist() == [["zeta", "amos_0600"], ["alpha", "amos_0001"]]
    overall = compare.worst_cases(stacked, n=2, per_model=False)
    assert overall.case.tolist() == ["amos_0600", "amos_0001"]
    assert overall.model.tolist() == ["zeta", "zeta"]
    by_nsd = compare.worst_cases(stacked, n=1, metric="nsd")
    assert by_nsd.dsc.round(2).tolist() == [0.3, 0.8]
    with pytest.raises(ValueError, match="metric"):
        compare.worst_cases(stacked, metric="hd95")
    with pytest.raises(ValueError, match="n must be"):
        compare.worst_cases(stacked, n=0)


def test_score_figures(stacked):
    fig = ve.plot_organ_scores(stacked)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["spleen", "liver"]
    assert [t.get_text() for t in fig.axes[1].get_legend().get_texts()] == ["zeta", "alpha"]
    fig = ve.plot_modality_scores(stacked)
    assert [ax.get_title() for ax in fig.axes] == ["DSC", "NSD"]
    with pytest.raises(ValueError, match="no dsc score"):
        ve.plot_organ_scores(stacked.assign(dsc=np.nan))
    with pytest.raises(ValueError, match="lacks the columns"):
        ve.plot_modality_scores(stacked.drop(columns="modality"))


# --- prediction vs reference ----------------------------------------------------------------------


def test_error_map():
    ref = np.array([[0, 1, 1, 2]])
    pred = np.array([[1, 0, 1, 3]])
    assert ve._error_map(ref, pred).tolist() == [[2, 1, 0, 3]]  # extra, missed, correct, wrong organ


def test_show_prediction_draws_the_errors():
    image, ref = tiny_arrays()
    pred = ref.copy()
    pred[ref == 1] = 0  # spleen missed
    affine = np.diag([*TINY_SPACING, 1.0])
    fig = ve.show_prediction(image, ref, pred, affine, organ=1, modality="CT", title="t")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3
    assert [ax.get_title().split(" (")[0] for ax in fig.axes] == ["reference", "prediction", "errors"]
    legend = [t.get_text() for t in fig.axes[2].get_legend().get_texts()]
    assert "missed" in legend
    assert "1 spleen" in legend
    overlay = fig.axes[2].get_images()[-1].get_array()
    assert set(np.unique(overlay.compressed())) == {1}  # only "missed" voxels are drawn
    with pytest.raises(ValueError, match="share a grid"):
        ve.show_prediction(image, ref[:-1], pred, affine)


def test_show_worst_cases(tmp_path, stacked):
    case = write_tiny_case(tmp_path, "amos_0001")
    pred_dir = tmp_path / "pred"
    _, label = tiny_arrays()
    save_nifti(np.where(label == 6, 0, label), np.diag([*TINY_SPACING, 1.0]), pred_dir / "amos_0001.nii.gz")
    worst = compare.case_scores(stacked)
    worst = worst[worst.case == "amos_0001"].assign(worst_organ_id=6, worst_organ="liver")
    fig = ve.show_worst_cases(worst, case.image.parent, case.label.parent, {"zeta": pred_dir, "alpha": pred_dir})
    assert len(fig.axes) == 6
    titles = [sub.get_suptitle() for sub in fig.subfigs]
    assert "zeta: amos_0001" in titles[0]
    assert "liver" in titles[0]
    assert "alpha" in titles[1]
    assert "missed" in [t.get_text() for t in fig.legends[0].get_texts()]
    with pytest.raises(ValueError, match="no prediction folder"):
        ve.show_worst_cases(worst, case.image.parent, case.label.parent, {"zeta": pred_dir})
    with pytest.raises(FileNotFoundError, match="amos_0001"):
        ve.show_worst_cases(worst, case.image.parent, case.label.parent, {"zeta": tmp_path, "alpha": tmp_path})
