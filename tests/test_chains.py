"""MONAI chains (amos_tutorial.transforms.chains): agreement with the fast path, Invertd, augmentation.

The phantoms (anisotropic 0.7 x 0.9 x 3.3 mm voxels in RAS, LPS and axis-permuted storage) come
from test_preprocessing.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from amos_tutorial.transforms.augment import AugmentConfig
from amos_tutorial.transforms.preprocessing import PreprocessConfig, invert_to_original, preprocess_case
from amos_tutorial.transforms.chains import (
    augmentation_transforms,
    inverse_transforms,
    preprocessing_transforms,
    tutorial_augmentation_transforms,
)
from test_preprocessing import ORGANS, one_hot, oriented, phantom, write_case


@pytest.mark.parametrize(
    "orientation,modality",
    [("RAS", "CT"), ("LPS", "CT"), ("SLP", "CT"), ("RAS", "MRI"), ("LPS", "MRI"), ("SLP", "MRI")],
)
def test_fast_path_matches_monai_chain(tmp_path, orientation, modality):
    img, lab = write_case(tmp_path, "amos_0001", orientation, modality)
    fast = preprocess_case(img, lab, modality)
    ref = preprocessing_transforms(modality)({"image": str(img), "label": str(lab)})
    assert fast.shape == tuple(ref["image"].shape[1:])
    np.testing.assert_allclose(fast.meta["affine"], ref["image"].affine.numpy(), atol=1e-5)
    # Same grid, same trilinear weights; MONAI reaches each sampling position through normalised
    # grid_sample coordinates in float32, which moves it by ~1e-5 voxel. Measured differences are
    # below 1e-5; 1e-4 leaves room on a 0..1 (CT) or z-score (MRI) scale.
    diff = float((fast.image - ref["image"].as_tensor()).abs().max())
    assert diff < 1e-4, diff
    # Nearest neighbour: identical, because no target voxel lies exactly half-way between two
    # source voxels with these spacings (at such ties float rounding would decide).
    assert torch.equal(fast.label, ref["label"].as_tensor().to(torch.uint8))


@pytest.mark.parametrize("orientation", ["RAS", "LPS"])
def test_monai_chain_is_invertible_with_invertd(tmp_path, orientation):
    img, lab = write_case(tmp_path, "amos_0002", orientation)
    pre = preprocessing_transforms("CT")
    data = pre({"image": str(img), "label": str(lab)})
    data["pred"] = one_hot(data["label"].as_tensor())  # a plain tensor, like a network's output
    back = inverse_transforms(pre)(data)["pred"]
    original = oriented(*phantom("CT"), orientation)[1]
    assert tuple(back.shape) == (16, *original.shape)
    agree = float((back.argmax(0).numpy() == original).mean())
    assert agree >= 0.98, agree  # organ borders blur by under one coarse voxel
    fast = preprocess_case(img, lab, "CT")
    ours = invert_to_original(one_hot(fast.label), fast.meta).argmax(0).numpy()
    assert float((ours == back.argmax(0).numpy()).mean()) >= 0.999


def test_image_only_chain_and_config(tmp_path):
    img, _ = write_case(tmp_path, "amos_0003", "LPS", "MRI")
    cfg = PreprocessConfig(spacing=(2.0, 2.0, 4.0), crop_foreground=False)
    out = preprocessing_transforms("MRI", cfg)({"image": str(img)})
    assert "label" not in out
    np.testing.assert_allclose(np.diag(out["image"].affine.numpy())[:3], cfg.spacing)
    assert abs(float(out["image"].mean())) < 1e-4  # z-scored
    names = [type(t).__name__ for t in preprocessing_transforms("CT", cfg).transforms]
    assert "CropForegroundd" not in names
    assert "ScaleIntensityRanged" in names
    with pytest.raises(ValueError, match="modality"):
        preprocessing_transforms("PET")


@pytest.fixture
def preprocessed(tmp_path):
    img, lab = write_case(tmp_path, "amos_0004", "RAS")
    return preprocessing_transforms("CT")({"image": str(img), "label": str(lab)})


def test_augmentation_chain_centres_on_the_chosen_organ(preprocessed):
    ratios = [0.0] * 16
    ratios[11] = 1.0  # only the tiny "adrenal gland" (a few voxels) as centre
    config = AugmentConfig(affine_prob=0.0)
    aug = augmentation_transforms((16, 16, 8), num_samples=3, config=config, class_ratios=ratios)
    aug.set_random_state(0)
    patches = aug(dict(preprocessed))
    assert len(patches) == 3
    for p in patches:
        assert tuple(p["image"].shape) == (1, 16, 16, 8)
        values = set(torch.unique(p["label"]).int().tolist())
        assert 11 in values
        assert values <= {0, *ORGANS}


def test_augmentation_chains_shapes(preprocessed):
    aug = augmentation_transforms((16, 16, 8), num_samples=2)
    aug.set_random_state(1)
    for p in aug(dict(preprocessed)):
        assert tuple(p["image"].shape) == tuple(p["label"].shape) == (1, 16, 16, 8)
        assert set(torch.unique(p["label"]).int().tolist()) <= {0, *ORGANS}
    tut = tutorial_augmentation_transforms((16, 16, 8), num_samples=4)
    tut.set_random_state(2)
    patches = tut(dict(preprocessed))
    assert len(patches) == 4
    assert all(tuple(p["image"].shape) == (1, 16, 16, 8) for p in patches)
    # pos=1, neg=1: on average half of the centres are organ voxels; with 4 samples at least one is.
    assert any(bool((p["label"] > 0).any()) for p in patches)


def test_chain_arguments_are_checked():
    with pytest.raises(ValueError, match="patch_size"):
        augmentation_transforms((16, 16))
    with pytest.raises(ValueError, match="class_ratios"):
        augmentation_transforms((16, 16, 16), class_ratios=[1.0, 2.0])
    with pytest.raises(ValueError, match="num_samples"):
        augmentation_transforms((16, 16, 16), num_samples=0)
    with pytest.raises(ValueError, match="invertible"):
        inverse_transforms(lambda d: d)
