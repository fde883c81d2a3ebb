"""Tests of amos_tutorial.viz: orientation of slice views, overlay colours, plots and the 3-D viewer fallback."""

from __future__ import annotations

import sys
import types

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_ORGANS, TINY_SPACING, write_tiny_case
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from amos_tutorial import viz
from amos_tutorial.data import stats
from amos_tutorial.labels import LABELS
from amos_tutorial.viz import slices as slices_mod
from amos_tutorial.viz import viewer as viewer_mod

# A marker in the patient's right, anterior, superior corner region, in a RAS volume of shape (6, 5, 4).
SHAPE = (6, 5, 4)
SPACING = (0.8, 0.9, 5.0)


def _ras_volume() -> tuple[np.ndarray, np.ndarray]:
    vol = np.zeros(SHAPE, dtype=np.float32)
    vol[5, 4, 3] = 1.0  # most right, most anterior, most superior voxel
    return vol, np.diag([*SPACING, 1.0])


def _lps_volume() -> tuple[np.ndarray, np.ndarray]:
    # The same physical volume stored with the first two axes pointing Left and Posterior, as
    # DICOM-derived CT often is: flip the array and negate the matching affine columns.
    vol, aff = _ras_volume()
    flipped = vol[::-1, ::-1, :].copy()
    lps = aff.copy()
    lps[0, 0], lps[1, 1] = -SPACING[0], -SPACING[1]
    lps[0, 3], lps[1, 3] = (SHAPE[0] - 1) * SPACING[0], (SHAPE[1] - 1) * SPACING[1]
    return flipped, lps


@pytest.mark.parametrize("make", [_ras_volume, _lps_volume], ids=["RAS", "LPS"])
def test_radiological_orientation_whatever_the_storage(make):
    vol, aff = make()
    canon = viz.to_canonical(vol, aff)
    assert canon.spacing == pytest.approx(SPACING)
    np.testing.assert_allclose(canon.affine[:3, :3], np.diag(SPACING))
    # Axial: anterior at the top, the patient's right on the screen's left -> top-left pixel.
    axial = viz.display_slice(canon.image, "axial", 3)
    assert axial.shape == (SHAPE[1], SHAPE[0])
    assert np.argwhere(axial).tolist() == [[0, 0]]
    # Coronal: superior at the top, right on the left -> top-left.
    coronal = viz.display_slice(canon.image, "coronal", 4)
    assert coronal.shape == (SHAPE[2], SHAPE[0])
    assert np.argwhere(coronal).tolist() == [[0, 0]]
    # Sagittal: superior at the top, anterior on the left -> top-left.
    sagittal = viz.display_slice(canon.image, "sagittal", 5)
    assert sagittal.shape == (SHAPE[2], SHAPE[1])
    assert np.argwhere(sagittal).tolist() == [[0, 0]]


def test_original_orientation_is_recorded():
    vol, aff = _lps_volume()
    assert viz.to_canonical(vol, aff).original_axcodes == ("L", "P", "S")


def test_aspect_follows_spacing_and_directions():
    assert viz.plane_aspect(SPACING, "axial") == pytest.approx(0.9 / 0.8)
    assert viz.plane_aspect(SPACING, "coronal") == pytest.approx(5.0 / 0.8)
    assert viz.plane_aspect(SPACING, "sagittal") == pytest.approx(5.0 / 0.9)
    assert viz.plane_directions("coronal") == ("S", "I", "R", "L")
    with pytest.raises(ValueError, match="plane"):
        viz.plane_aspect(SPACING, "oblique")
    with pytest.raises(ValueError, match="outside"):
        viz.display_slice(np.zeros(SHAPE), "axial", 4)


def test_window_limits():
    assert viz.window_limits(np.zeros(3), "auto", modality="CT") == (-160.0, 240.0)
    values = np.linspace(0, 1000, 1001)
    lo, hi = viz.window_limits(values, "auto", modality="MRI")
    assert lo == pytest.approx(5.0)
    assert hi == pytest.approx(995.0)
    assert viz.window_limits(values, (100, 50)) == (75.0, 125.0)
    with pytest.raises(ValueError, match="unknown window"):
        viz.window_limits(values, "brain")
    with pytest.raises(ValueError, match="width"):
        viz.window_limits(values, (0, -1))


def test_show_slices_draws_three_planes_with_fixed_colours(tiny_case):
    from amos_tutorial.utils.io import load_nifti

    image, affine = load_nifti(tiny_case.image)
    label = load_nifti(tiny_case.label, dtype=np.uint8)[0]
    fig = viz.show_slices(image, label, affine, modality="CT", title="tiny")
    assert isinstance(fig, Figure)
    axes = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title().split()[0] for ax in axes] == ["axial", "coronal", "sagittal"]
    for ax in axes:
        gray, overlay = ax.images
        assert gray.get_clim() == (-160.0, 240.0)
        # Overlay colour of each label id is the label table's colour.
        for lab in LABELS[1:]:
            assert to_hex(overlay.cmap(overlay.norm(lab.id))) == lab.color
    # Aspect of the coronal panel is slice spacing / in-plane spacing.
    assert axes[1].get_aspect() == pytest.approx(TINY_SPACING[2] / TINY_SPACING[0])
    legend_names = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend_names
    assert all(name.split(" ", 1)[1] in {LABELS[i].name for i in TINY_ORGANS} for name in legend_names)
    assert fig._suptitle.get_text() == "tiny"
    # Centred on one organ: each plane cuts through it.
    fig = viz.show_slices(image, label, affine, organ=2, legend=False)
    for ax in fig.axes:
        assert np.any(np.asarray(ax.images[1].get_array()) == 2)


def test_show_slices_argument_checks(tiny_case):
    img = np.zeros(SHAPE)
    with pytest.raises(ValueError, match="absent"):
        viz.show_slices(img, np.zeros(SHAPE, np.uint8), organ=3)
    with pytest.raises(ValueError, match="0-15"):
        viz.show_slices(img, np.full(SHAPE, 20, np.uint8))
    with pytest.raises(ValueError, match="label shape"):
        viz.show_slices(img, np.zeros((2, 2, 2), np.uint8))
    with pytest.raises(ValueError, match="alpha"):
        viz.show_slices(img, alpha=2)


def test_show_case_and_show_cases(tmp_path):
    cases = [write_tiny_case(tmp_path, f"amos_{i:04d}", "CT") for i in (1, 2, 3)]
    fig = viz.show_case(cases[0])
    assert "amos_0001" in fig._suptitle.get_text()
    grid = viz.show_cases(cases, plane="coronal", ncols=2)
    titled = [ax.get_title() for ax in grid.axes if ax.images]
    assert titled == ["amos_0001 (CT)", "amos_0002 (CT)", "amos_0003 (CT)"]
    with pytest.raises(ValueError, match="empty"):
        viz.show_cases([])


@pytest.fixture
def tables(tmp_path):
    cases = [write_tiny_case(tmp_path, f"amos_{i:04d}", "CT", offset=i) for i in (1, 2)]
    cases += [write_tiny_case(tmp_path, f"amos_{i:04d}", "MRI", offset=10 * i) for i in (540, 541)]
    return stats.dataset_statistics(cases, samples_per_organ=30)


def test_plot_intensity_histograms_uses_organ_colours(tables):
    fig = viz.plot_intensity_histograms(tables.samples)
    axes = fig.axes
    assert [ax.get_title().split(":")[0] for ax in axes] == ["CT", "MRI"]
    assert "z-score" in axes[1].get_xlabel()
    assert "HU" in axes[0].get_xlabel()
    expected = [LABELS[i].name for i in sorted(TINY_ORGANS)]
    # Ridge rows from the top: organs in id order, tick labels in the organ colour.
    ticks = axes[0].get_yticklabels()
    assert [t.get_text() for t in ticks][::-1] == expected
    assert all(to_hex(t.get_bbox_patch().get_facecolor()) == viz.organ_palette()[t.get_text()] for t in ticks)
    for ax in axes:
        fills = {c.get_label(): to_hex(c.get_facecolor()[0], keep_alpha=False) for c in ax.collections}
        assert fills == {name: viz.organ_palette()[name] for name in expected}
    # MRI samples are z-scored per case: the x range is centred near 0 whatever the raw offsets.
    lo, hi = axes[1].get_xlim()
    assert lo < 0 < hi
    assert hi - lo < 10
    only_liver = viz.plot_intensity_histograms(tables.samples, organs=["liver"], zscore_mri=False)
    assert [t.get_text() for t in only_liver.axes[0].get_yticklabels()] == ["liver"]
    assert "a.u." in only_liver.axes[1].get_xlabel()
    with pytest.raises(ValueError, match="unknown organ"):
        viz.plot_intensity_histograms(tables.samples, organs=["heart"])


def test_plot_organ_volumes_and_class_balance(tables):
    fig = viz.plot_organ_volumes(tables.organs)
    ax = fig.axes[0]
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert ticks == [LABELS[i].name for i in sorted(TINY_ORGANS)]
    boxes = [to_hex(t.get_bbox_patch().get_facecolor()) for t in ax.get_yticklabels()]
    assert boxes == [LABELS[i].color for i in sorted(TINY_ORGANS)]
    assert ax.get_xscale() == "log"

    balance = stats.class_balance(tables.organs, tables.geometry)
    fig = viz.plot_class_balance(balance)
    assert [ax.get_title() for ax in fig.axes] == ["CT", "MRI"]
    bars = fig.axes[0].patches
    assert len(bars) == len(TINY_ORGANS) + 1  # background + present organs
    assert [to_hex(b.get_facecolor()) for b in bars[1:]] == [LABELS[i].color for i in sorted(TINY_ORGANS)]
    heights = [b.get_height() for b in bars]
    expected = balance.query("modality == 'CT' and fraction > 0").sort_values("label_id").fraction.tolist()
    assert heights == pytest.approx(expected)
    assert fig.axes[0].get_yscale() == "log"
    with pytest.raises(ValueError, match="empty"):
        viz.plot_organ_volumes(tables.organs.iloc[:0])


def test_plot_geometry_and_metadata(tables):
    fig = viz.plot_geometry(tables.geometry)
    assert len(fig.axes) == 3
    meta = pd.DataFrame(
        {
            "case_id": ["a", "b", "c"],
            "modality": ["CT", "MRI", "CT"],
            "scanner": ["Aquilion ONE", "Prisma", "Aquilion ONE"],
            "site": [pd.NA, pd.NA, pd.NA],
            "sex": ["M", "F", "F"],
            "age": [61.0, 45.0, np.nan],
        }
    )
    fig = viz.plot_metadata(meta)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["Scanner model", "Site", "Sex", "Age"]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["CT", "MRI"]
    site_ax = fig.axes[1]
    assert any("not in the metadata" in t.get_text() for t in site_ax.texts)
    scanner_ax = fig.axes[0]
    assert {t.get_text() for t in scanner_ax.get_yticklabels()} == {"Aquilion ONE", "Prisma"}
    with pytest.raises(ValueError, match="lacks the columns"):
        viz.plot_metadata(meta.drop(columns=["age"]))


# --- the optional 3-D viewer --------------------------------------------------------------------


def _fake_itkwidgets(monkeypatch):
    calls: list[dict] = []
    module = types.ModuleType("itkwidgets")
    module.view = lambda **kwargs: calls.append(kwargs) or "VIEWER"
    monkeypatch.setitem(sys.modules, "itkwidgets", module)
    return calls


def test_viewer_falls_back_to_static_without_itkwidgets(monkeypatch):
    monkeypatch.setitem(sys.modules, "itkwidgets", None)  # import raises ImportError
    monkeypatch.delenv(viewer_mod.ENV_VIEWER, raising=False)
    vol, aff = _ras_volume()
    assert viz.viewer_backend("auto") == "static"
    out = viz.view_3d(vol, None, aff, modality="MRI")
    assert isinstance(out, Figure)
    assert len(out.axes) == 3
    with pytest.raises(ImportError, match="amos_tutorial\\[viewer\\]"):
        viz.view_3d(vol, None, aff, backend="itkwidgets")


def test_viewer_auto_needs_a_live_front_end(monkeypatch):
    calls = _fake_itkwidgets(monkeypatch)
    monkeypatch.delenv(viewer_mod.ENV_VIEWER, raising=False)
    monkeypatch.setattr(viewer_mod, "_live_frontend", lambda: False)
    vol, aff = _ras_volume()
    assert isinstance(viz.view_3d(vol, None, aff), Figure)
    assert calls == []
    monkeypatch.setattr(viewer_mod, "_live_frontend", lambda: True)
    assert viz.viewer_backend() == "itkwidgets"
    monkeypatch.setenv(viewer_mod.ENV_VIEWER, "static")
    assert viz.viewer_backend() == "static"
    monkeypatch.setenv(viewer_mod.ENV_VIEWER, "vtk")
    with pytest.raises(ValueError, match="AMOS_VIEWER"):
        viz.viewer_backend()


def test_viewer_passes_canonical_zyx_arrays_to_itkwidgets(monkeypatch):
    calls = _fake_itkwidgets(monkeypatch)
    monkeypatch.setitem(sys.modules, "itk", None)  # numpy route of itkwidgets 1.x
    vol, aff = _lps_volume()
    label = (vol > 0).astype(np.uint8) * 6
    out = viz.view_3d(vol, label, aff, backend="itkwidgets", ui_collapsed=True)
    assert out == "VIEWER"
    assert len(calls) == 1
    kwargs = calls[0]
    assert set(kwargs) == {"image", "label_image", "ui_collapsed"}
    assert kwargs["image"].shape == SHAPE[::-1]
    assert kwargs["image"].dtype == np.float32
    # The marker (right, anterior, superior) is at the far end of every canonical axis: [z, y, x].
    assert np.argwhere(kwargs["image"]).tolist() == [[SHAPE[2] - 1, SHAPE[1] - 1, SHAPE[0] - 1]]
    assert kwargs["label_image"].dtype == np.uint8
    assert kwargs["label_image"].max() == 6


def test_viewer_gives_itk_images_their_spacing(monkeypatch):
    calls = _fake_itkwidgets(monkeypatch)

    class FakeImage:
        def __init__(self, array):
            self.array, self.spacing = array, None

        def SetSpacing(self, spacing):
            self.spacing = spacing

    itk = types.ModuleType("itk")
    itk.image_from_array = FakeImage
    monkeypatch.setitem(sys.modules, "itk", itk)
    vol, aff = _lps_volume()
    viz.view_3d(vol, None, aff, backend="itkwidgets")
    image = calls[0]["image"]
    assert isinstance(image, FakeImage)
    assert image.spacing == pytest.approx(list(SPACING))
    assert image.array.shape == SHAPE[::-1]
    assert "label_image" not in calls[0]


def test_live_frontend_is_false_outside_a_kernel():
    assert viewer_mod._live_frontend() is False


def test_organ_palette_matches_labels():
    palette = viz.organ_palette("abbrev")
    assert palette["LIV"] == LABELS[6].color
    assert len(palette) == 15
    with pytest.raises(ValueError, match="style"):
        viz.organ_palette("latin")


def test_slice_position_centres_on_labels():
    label = np.zeros(SHAPE, np.uint8)
    label[1:3, 1:3, 1:3] = 4
    vol = viz.to_canonical(np.zeros(SHAPE), np.eye(4), label)
    assert slices_mod.slice_position(vol) == (2, 2, 2)
    assert slices_mod.slice_position(viz.to_canonical(np.zeros(SHAPE))) == (3, 2, 2)
