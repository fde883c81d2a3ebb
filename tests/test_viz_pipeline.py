"""The preprocessing chapter's figures (amos_tutorial.viz.pipeline)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import lps_case, preprocessed_volume
from matplotlib.figure import Figure

from amos_tutorial.transforms import inspection
from amos_tutorial.transforms.preprocessing import preprocess_case
from amos_tutorial.utils.io import load_nifti
from amos_tutorial.viz import pipeline as vp


def test_plot_preprocessing_stages(tmp_path):
    stages = inspection.preprocessing_stages(lps_case(tmp_path))
    fig = vp.plot_preprocessing_stages(stages, planes=("axial", "coronal"))
    assert isinstance(fig, Figure)
    images = [ax for ax in fig.axes if ax.images]
    assert len(images) == 2 * len(stages)
    assert "LPS" in images[0].get_title()
    assert "foreground crop" in images[len(stages) - 1].get_title()
    with pytest.raises(ValueError, match="empty"):
        vp.plot_preprocessing_stages([])
    with pytest.raises(ValueError, match="planes"):
        vp.plot_preprocessing_stages(stages, planes=("oblique",))


def test_plot_intensity_normalisation_marks_the_window(tiny_case):
    image, _ = load_nifti(tiny_case.image)
    label, _ = load_nifti(tiny_case.label)
    pre = preprocess_case(tiny_case.image, tiny_case.label, "CT")
    mri = preprocess_case(tiny_case.image, tiny_case.label, "MRI")
    fig = vp.plot_intensity_normalisation([(image, label, pre), (image, None, mri)])
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 4
    ct_top = fig.axes[0]
    lines = sorted(line.get_xdata()[0] for line in ct_top.get_lines())
    assert lines == [-175.0, 250.0]
    assert "Hounsfield" in ct_top.get_xlabel()
    assert "z-score" in fig.axes[3].get_xlabel()
    with pytest.raises(ValueError, match="empty"):
        vp.plot_intensity_normalisation([])
    with pytest.raises(ValueError, match="PreprocessedCase"):
        vp.plot_intensity_normalisation([(image, label, image)])


def _params(**changes):
    base = {
        "flip": torch.tensor([[False, False, False]]),
        "rot90": torch.tensor([0]),
        "affine": torch.tensor([False]),
        "angle": torch.tensor([0.0]),
        "zoom": torch.tensor([1.0]),
        "int_scale": torch.tensor([1.0]),
        "int_shift": torch.tensor([0.0]),
        "gamma": torch.tensor([1.0]),
        "noise_std": torch.tensor([0.0]),
    }
    base.update(changes)
    return base


def test_describe_augmentation():
    assert vp.describe_augmentation(_params(), 0) == "none"
    text = vp.describe_augmentation(
        _params(flip=torch.tensor([[True, False, True]]), rot90=torch.tensor([3]), affine=torch.tensor([True]),
                angle=torch.tensor([np.radians(10.0)]), zoom=torch.tensor([1.1]), gamma=torch.tensor([1.3]),
                noise_std=torch.tensor([0.05])),
        0,
    )
    assert text == "flip x,z; turn 90 deg x3; rotate 10 deg, zoom 1.10; gamma 1.30; noise 0.05"
    with pytest.raises(ValueError, match="outside"):
        vp.describe_augmentation(_params(), 1)
    with pytest.raises(ValueError, match="lacks"):
        vp.describe_augmentation({"flip": torch.zeros(1, 3)}, 0)


def test_plot_augmented_batch_same_crops():
    from amos_tutorial.transforms.sampler import PatchSampler

    volumes = [preprocessed_volume("a"), preprocessed_volume("b", seed=1)]
    plain = PatchSampler(volumes, (16, 16, 8), 3, augment=False, seed=2)
    augmented = PatchSampler(volumes, (16, 16, 8), 3, augment=True, seed=2)
    fig = vp.plot_augmented_batch(plain.batch(0), augmented.batch(0), augmented.plan(0).params)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 6
    assert fig.axes[0].get_ylabel() == "no augmentation"
    assert fig.axes[3].get_xlabel() == vp.describe_augmentation(augmented.plan(0).params, 0).replace("; ", "\n")
    with pytest.raises(ValueError, match="one shape"):
        vp.plot_augmented_batch(plain.batch(0), PatchSampler(volumes, (8, 8, 8), 3, seed=2).batch(0))
    with pytest.raises(ValueError, match="batch dict"):
        vp.plot_augmented_batch({"image": plain.batch(0)["image"]}, augmented.batch(0))


def test_plot_round_trip(tiny_case):
    image, affine = load_nifti(tiny_case.image)
    label, _ = load_nifti(tiny_case.label)
    back = label.copy()
    back[label == 6] = 0  # "lose" the liver
    fig = vp.plot_round_trip(image, label, back, affine, modality="CT", planes=("axial",))
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3
    diff = fig.axes[2].images[-1].get_array()
    assert diff.count() > 0  # the lost liver shows up as differing voxels
    with pytest.raises(ValueError, match="one shape"):
        vp.plot_round_trip(image, label, back[:5], affine)
