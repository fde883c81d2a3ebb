"""PatchSampler and batch augmentation (amos_tutorial.transforms.sampler / augment), on the CPU.

Volumes are built in memory as PreprocessedCase objects; images often encode their own voxel
coordinates or labels so that a test can tell exactly where a patch came from.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from amos_tutorial.transforms.augment import AugmentConfig, affine_resample, rotation_zoom_matrix
from amos_tutorial.transforms.preprocessing import PreprocessedCase, compute_class_indices
from amos_tutorial.transforms.sampler import PatchSampler, SamplerOptions

PATCH = (12, 12, 8)
NO_AUG = AugmentConfig(
    flip_prob=0, rot90_prob=0, affine_prob=0, intensity_scale_prob=0, intensity_shift_prob=0, gamma_prob=0, noise_prob=0
)
SPATIAL_ONLY = AugmentConfig(flip_prob=0.5, rot90_prob=0.5, affine_prob=0.0, intensity_scale_prob=0,
                             intensity_shift_prob=0, gamma_prob=0, noise_prob=0)


def coord_volume(case_id: str, shape=(30, 26, 18), offset: float = 0.0, tiny: bool = True) -> PreprocessedCase:
    """Image = x * 10000 + y * 100 + z + offset (exact in float32); a big organ 6, a 4-voxel organ 11."""
    x, y, z = torch.meshgrid(*(torch.arange(s) for s in shape), indexing="ij")
    image = (x * 10000 + y * 100 + z).float()[None] + offset
    label = torch.zeros(1, *shape, dtype=torch.uint8)
    label[0, 3:20, 4:20, 2:14] = 6
    if tiny:
        label[0, 25:27, 22:24, 15] = 11
    return PreprocessedCase(case_id, "CT", image, label, {"spacing": [1.5, 1.5, 2.0]}, compute_class_indices(label))


def label_volume(case_id: str, shape=(30, 26, 18)) -> PreprocessedCase:
    """Image = 10 * label, so that any spatial transform must keep image and label aligned."""
    label = torch.zeros(1, *shape, dtype=torch.uint8)
    label[0, 3:20, 4:20, 2:14] = 6
    label[0, 8:14, 6:12, 4:9] = 2
    label[0, 22:28, 15:24, 6:16] = 1
    return PreprocessedCase(case_id, "CT", label.float() * 10, label, {"spacing": [1.5, 1.5, 2.0]},
                            compute_class_indices(label))


def decode(patch: torch.Tensor, offset: float = 0.0) -> np.ndarray:
    v = (patch - offset).round().long().numpy()
    return np.stack([v // 10000, (v // 100) % 100, v % 100])


def test_shapes_dtypes_and_iteration():
    sampler = PatchSampler([coord_volume("a"), coord_volume("b")], PATCH, batch_size=3, seed=4)
    batch = sampler.batch(0)
    assert set(batch) == {"image", "label"}
    assert batch["image"].shape == (3, 1, *PATCH)
    assert batch["image"].dtype == torch.float32
    assert batch["label"].shape == (3, 1, *PATCH)
    assert batch["label"].dtype == torch.int64
    assert batch["image"].device.type == "cpu"
    first, second = next(iter(sampler)), list(sampler.batches(1, 2))
    assert torch.equal(first["image"], batch["image"])
    assert len(second) == 1
    assert torch.equal(second[0]["label"], sampler.batch(1)["label"])
    assert "2 volumes" in repr(sampler)


def test_batches_are_a_pure_function_of_seed_rank_and_iteration():
    vols = [coord_volume("a"), coord_volume("b", offset=0.5)]
    one = PatchSampler(vols, PATCH, 4, seed=7, augment_config=AugmentConfig(affine_prob=0.5, noise_prob=0.5))
    two = PatchSampler(vols, PATCH, 4, seed=7, augment_config=AugmentConfig(affine_prob=0.5, noise_prob=0.5))
    for k in (5, 0, 5, 11):  # any order: a resumed run sees the same batch k
        a, b = one.batch(k), two.batch(k)
        assert torch.equal(a["image"], b["image"])
        assert torch.equal(a["label"], b["label"])
    assert not torch.equal(one.batch(1)["image"], one.batch(2)["image"])
    other = PatchSampler(vols, PATCH, 4, seed=8)
    assert not torch.equal(one.batch(1)["image"], other.batch(1)["image"])
    with pytest.raises(ValueError, match="iteration"):
        one.batch(-1)


def test_unaugmented_patches_are_exact_crops_with_their_labels():
    vol = coord_volume("a")
    sampler = PatchSampler([vol], PATCH, 6, augment=False, seed=3)
    for k in range(3):
        plan = sampler.plan(k)
        batch = sampler.build(plan)
        for i in range(6):
            xyz = decode(batch["image"][i, 0])
            start = plan.starts[i]
            for axis in range(3):
                expected = start[axis] + np.arange(PATCH[axis])
                assert (np.moveaxis(xyz[axis], axis, 0) == expected.reshape(-1, 1, 1)).all()
            sl = tuple(slice(s, s + p) for s, p in zip(start, PATCH))
            assert torch.equal(batch["label"][i, 0], vol.label[0][sl].long())
            if plan.classes[i] >= 0:  # an organ-centred patch contains its centre voxel's organ
                assert bool((batch["label"][i] == int(plan.classes[i])).any())


def test_volumes_smaller_than_the_patch_are_padded():
    small = coord_volume("s", shape=(8, 10, 5), offset=3.0, tiny=False)
    batch = PatchSampler([small], PATCH, 2, augment=False).batch(0)
    img, lab = batch["image"][0, 0], batch["label"][0, 0]
    # Centred: start = floor((shape - patch) / 2) = (-2, -1, -2).
    assert torch.equal(img[2:10, 1:11, 2:7], small.image[0])
    assert torch.equal(lab[2:10, 1:11, 2:7], small.label[0].long())
    assert float(img[0, 0, 0]) == float(small.image.min())  # padding = the volume's background value
    assert int(lab[0].sum()) == 0
    assert int(lab[-1].sum()) == 0


def test_flips_and_turns_keep_image_and_label_aligned():
    sampler = PatchSampler([label_volume("a")], (12, 12, 8), 8, augment_config=SPATIAL_ONLY, seed=1)
    turned = 0
    for k in range(4):
        plan = sampler.plan(k)
        batch = sampler.build(plan)
        assert torch.equal(batch["image"], batch["label"].float() * 10)
        turned += int((plan.params["rot90"] > 0).sum() + plan.params["flip"].any(1).sum())
    assert turned > 0  # the transforms were really applied


def test_rotation_and_zoom_keep_labels_valid_and_aligned():
    config = AugmentConfig(affine_prob=1.0, flip_prob=0, rot90_prob=0, intensity_scale_prob=0,
                           intensity_shift_prob=0, gamma_prob=0, noise_prob=0)
    sampler = PatchSampler([label_volume("a")], (12, 12, 8), 6, augment_config=config, seed=2)
    batch = sampler.batch(0)
    assert bool(sampler.plan(0).params["affine"].all())
    assert set(torch.unique(batch["label"]).tolist()) <= {0, 1, 2, 6}
    # Trilinear image vs nearest label: they may differ on organ borders only. Away from them (a
    # 3x3x3 neighbourhood of one label) a misaligned grid would show up as wholesale disagreement.
    lab = batch["label"].float()
    border = F.max_pool3d(lab, 3, 1, 1) != -F.max_pool3d(-lab, 3, 1, 1)
    agree = (torch.round(batch["image"] / 10) == batch["label"])[~border].float().mean()
    assert float(agree) > 0.97, float(agree)
    assert float(border.float().mean()) < 0.5  # there is an interior to test


def test_affine_resample_quarter_turn_equals_rot90():
    x = torch.arange(1 * 1 * 9 * 9 * 5, dtype=torch.float32).reshape(1, 1, 9, 9, 5)
    lab = (x % 7).to(torch.uint8)
    m = torch.from_numpy(rotation_zoom_matrix(math.pi / 2, 1.0))[None]
    img, out_lab = affine_resample(x, lab, m, (9, 9, 5))
    expected = torch.rot90(x, -1, dims=(2, 3))  # output (i, j) reads input (n - 1 - j, i)
    assert float((img - expected).abs().max()) < 1e-3
    assert torch.equal(out_lab, torch.rot90(lab, -1, dims=(2, 3)))
    same, _ = affine_resample(x, None, torch.eye(3, dtype=torch.float64)[None], (9, 9, 5))
    assert float((same - x).abs().max()) < 1e-3
    np.testing.assert_allclose(rotation_zoom_matrix(0.0, 2.0, (1.5, 1.5, 2.0)), np.eye(3) / 2)


def test_intensity_augmentation_changes_only_intensities():
    vol = label_volume("a")
    plain = PatchSampler([vol], PATCH, 8, augment_config=NO_AUG, seed=5)
    config = AugmentConfig(flip_prob=0, rot90_prob=0, affine_prob=0, intensity_scale_prob=1, intensity_shift_prob=1,
                           gamma_prob=0.5, noise_prob=0.5)
    noisy = PatchSampler([vol], PATCH, 8, augment_config=config, seed=5)
    a, b = plain.batch(0), noisy.batch(0)
    assert torch.equal(a["label"], b["label"])  # same crops: the random stream does not depend on the config
    assert not torch.allclose(a["image"], b["image"])
    unaugmented = PatchSampler([vol], PATCH, 8, augment=False, seed=5).batch(0)
    assert torch.equal(unaugmented["image"], a["image"])


def test_organ_weighting_finds_a_tiny_organ():
    vols = [coord_volume(f"v{i}", shape=(48, 44, 24)) for i in range(2)]

    def share_with_tiny(weighted: bool) -> float:
        sampler = PatchSampler(vols, PATCH, 8, organ_weighted=weighted, augment=False, seed=11)
        hits = sum(int((sampler.batch(k)["label"] == 11).flatten(1).any(1).sum()) for k in range(40))
        return hits / 320

    weighted, uniform = share_with_tiny(True), share_with_tiny(False)
    # 4 voxels of 50,000: uniform centres rarely come near them; organ-weighted centres pick the
    # tiny organ in half of the foreground draws (2 organs present, foreground_prob 0.5).
    assert weighted > 0.15, weighted
    assert weighted > 5 * uniform, (weighted, uniform)


def test_rank_sharding():
    vols = [coord_volume(f"v{i}", offset=0.25 * i) for i in range(5)]
    r0 = PatchSampler(vols, PATCH, 4, seed=3, rank=0, world_size=2, augment=False)
    r1 = PatchSampler(vols, PATCH, 4, seed=3, rank=1, world_size=2, augment=False)
    assert r0.case_ids == ["v0", "v2", "v4"]
    assert r1.case_ids == ["v1", "v3"]
    for k in range(5):
        for sampler, allowed in ((r0, {0.0, 0.5, 1.0}), (r1, {0.25, 0.75})):
            frac = sampler.batch(k)["image"][:, 0, 0, 0, 0] % 1  # the offset names the volume
            assert set(frac.tolist()) <= allowed
    assert not torch.equal(r0.batch(0)["image"], r1.batch(0)["image"])
    with pytest.raises(ValueError, match="rank"):
        PatchSampler(vols, PATCH, 4, rank=2, world_size=2)
    with pytest.raises(ValueError, match="gets no volume"):
        PatchSampler(vols[:1], PATCH, 4, rank=1, world_size=2)



def test_options_object_draws_what_the_keywords_draw():
    vols = [coord_volume(f"v{i}", offset=0.25 * i) for i in range(5)]
    by_keywords = PatchSampler(vols, PATCH, 4, seed=3, rank=1, world_size=2, augment=False)
    by_options = PatchSampler(vols, PATCH, 4, seed=3, augment=False, options=SamplerOptions(rank=1, world_size=2))
    assert by_options.case_ids == by_keywords.case_ids
    assert torch.equal(by_options.batch(0)["image"], by_keywords.batch(0)["image"])
    overridden = PatchSampler(vols, PATCH, 4, seed=3, augment=False, options=SamplerOptions(rank=1, world_size=2), rank=0)
    assert overridden.case_ids == ["v0", "v2", "v4"]
    with pytest.raises(TypeError, match="unknown setting"):
        PatchSampler(vols, PATCH, 4, foreground=0.3)

def test_missing_index_table_half_precision_storage_and_errors():
    vol = coord_volume("a", offset=0.0)
    no_table = PreprocessedCase("a", "CT", vol.image / 1e5, vol.label, vol.meta, None)
    half = PatchSampler([no_table], PATCH, 2, augment=False, image_dtype=torch.float16, seed=1)
    full = PatchSampler([no_table], PATCH, 2, augment=False, seed=1)
    a, b = half.batch(0), full.batch(0)
    assert a["image"].dtype == torch.float32
    assert torch.equal(a["label"], b["label"])
    assert float((a["image"] - b["image"]).abs().max()) < 3e-3  # float16 rounding of values up to 3
    unlabelled = PreprocessedCase("amos_0042", "CT", vol.image, None, vol.meta)
    with pytest.raises(ValueError, match="amos_0042"):
        PatchSampler([unlabelled], PATCH, 2)
    with pytest.raises(ValueError, match="patch_size"):
        PatchSampler([vol], (12, 12), 2)
    with pytest.raises(ValueError, match="class_weights"):
        PatchSampler([vol], PATCH, 2, class_weights=[1.0] * 3)
    with pytest.raises(ValueError, match="at least one volume"):
        PatchSampler([], PATCH, 2)
    with pytest.raises(ValueError, match="probability"):
        AugmentConfig(flip_prob=1.5)
