"""Tests of the synthetic mini-AMOS generator (amos_tutorial.data.synthetic)."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from amos_tutorial.data import synthetic
from amos_tutorial.data.synthetic import (
    CT_SCANNER_MAKERS,
    METADATA_COLUMNS,
    METADATA_CSV_NAME,
    MRI_SCANNER_MAKERS,
    CaseOptions,
    generate_synthetic_dataset,
    synthesize_case,
)
from amos_tutorial.labels import ORGAN_IDS, dataset_json_labels

N_CASES = 8
MAX_SHAPE = (48, 48, 24)
DATASET_KEYS = {
    "training", "validation", "test", "labels", "numTraining", "numValidation", "numTest",
    "licence", "description", "release",
}


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return generate_synthetic_dataset(tmp_path_factory.mktemp("syn") / "mini_amos", n_cases=N_CASES, seed=3,
                                      max_shape=MAX_SHAPE)


@pytest.fixture(scope="module")
def ds(root) -> dict:
    return json.loads((root / "dataset.json").read_text())


@pytest.fixture(scope="module")
def meta(root) -> dict[int, dict[str, str]]:
    with open(root / METADATA_CSV_NAME, newline="") as f:
        return {int(row["amos_id"]): row for row in csv.DictReader(f)}


@pytest.fixture(scope="module")
def cases(root, ds) -> list[dict]:
    """Every case with its split, loaded image/label headers and (for labelled cases) label array."""
    out = []
    for split in ("training", "validation", "test"):
        for entry in ds[split]:
            item = {"image": entry} if isinstance(entry, str) else dict(entry)
            img = nib.load(root / item["image"])
            rec = {"split": split, "number": int(re.search(r"amos_(\d{4})", item["image"]).group(1)), "img": img}
            if "label" in item:
                lab = nib.load(root / item["label"])
                rec["lab"] = lab
                rec["label"] = np.asanyarray(lab.dataobj)
            out.append(rec)
    return out


def _world_centroids(label: np.ndarray, affine: np.ndarray) -> dict[int, np.ndarray]:
    ids = [i for i in ORGAN_IDS if (label == i).any()]
    centers = ndimage.center_of_mass(np.ones(label.shape), label, ids)
    return {i: (affine @ [*c, 1.0])[:3] for i, c in zip(ids, centers)}


def test_release_layout_and_dataset_json(root, ds):
    for folder in ("imagesTr", "labelsTr", "imagesVa", "labelsVa", "imagesTs"):
        assert (root / folder).is_dir(), folder
    assert "synthetic" in (root / "readme.md").read_text().lower()
    assert set(ds) == DATASET_KEYS
    assert ds["labels"] == dataset_json_labels()
    assert ds["labels"]["8"] == "arota"
    assert ds["labels"]["9"] == "postcava"
    counts = (len(ds["training"]), len(ds["validation"]), len(ds["test"]))
    assert counts == (ds["numTraining"], ds["numValidation"], ds["numTest"])
    assert sum(counts) == N_CASES
    assert counts[0] == N_CASES // 2
    assert min(counts) >= 1
    pattern = re.compile(r"^\./(imagesTr|imagesVa|imagesTs)/amos_\d{4}\.nii\.gz$")
    listed = set()
    for split, img_dir, lab_dir in (("training", "imagesTr", "labelsTr"), ("validation", "imagesVa", "labelsVa")):
        for entry in ds[split]:
            assert set(entry) == {"image", "label"}
            assert entry["image"].startswith(f"./{img_dir}/")
            assert pattern.match(entry["image"])
            assert entry["label"] == entry["image"].replace(img_dir, lab_dir)
            assert (root / entry["label"]).is_file()
            listed.add(entry["image"])
    for entry in ds["test"]:
        assert set(entry) == {"image"}
        assert entry["image"].startswith("./imagesTs/")
        listed.add(entry["image"])
    on_disk = {f"./{p.parent.name}/{p.name}" for p in root.glob("images*/*.nii.gz")}
    assert listed == on_disk
    assert not any(root.glob("labelsTs*")), "the test split has no labels"


def test_metadata_csv(root, ds, meta):
    with open(root / METADATA_CSV_NAME, newline="") as f:
        assert tuple(next(csv.reader(f))) == METADATA_COLUMNS
    entries = [e for split in ("training", "validation", "test") for e in ds[split]]
    numbers = {int(re.search(r"(\d{4})", e["image"]).group(1)) for e in entries}
    assert set(meta) == numbers
    for number, row in meta.items():
        assert row["Patient's Sex"] in ("M", "F")
        assert re.fullmatch(r"\d{3}Y", row["Patient's Age"])
        born, acquired = int(row["Patient's Birth Date"]), int(row["Acquisition Date"])
        assert abs((acquired - born) // 10000 - int(row["Patient's Age"][:3])) <= 1
        scanners = CT_SCANNER_MAKERS if number < 500 else MRI_SCANNER_MAKERS
        assert row["Manufacturer's Model Name"] in scanners
        assert scanners[row["Manufacturer's Model Name"]][0] == row["Manufacturer"]
        assert row["Site"]


def test_case_ids_modalities_and_splits(cases):
    numbers = [c["number"] for c in cases]
    assert len(set(numbers)) == len(numbers)
    assert 500 not in numbers
    assert all(1 <= n <= 599 for n in numbers)
    mri = [c for c in cases if c["number"] > 500]
    assert 1 <= len(mri) <= N_CASES // 2
    assert any(c["split"] == "training" for c in mri), "at least one MRI case in training"


def test_dtypes_spacing_orientation_and_grid(cases):
    axcodes = set()
    for c in cases:
        img = c["img"]
        zooms = img.header.get_zooms()
        assert 0.6 <= zooms[0] <= 0.9
        assert zooms[0] == pytest.approx(zooms[1])
        assert 1.25 <= zooms[2] <= 5.0
        assert all(s <= m for s, m in zip(img.shape, MAX_SHAPE))
        assert int(img.header["qform_code"]) == 1
        assert int(img.header["sform_code"]) == 1
        np.testing.assert_allclose(img.get_qform(), img.get_sform(), atol=1e-4)
        axcodes.add(nib.aff2axcodes(img.affine))
        data = np.asanyarray(img.dataobj)
        if c["number"] < 500:
            assert img.get_data_dtype() == np.int16
            assert data.min() <= -900, "air around the body"
            assert data.max() >= 400, "bone"
        else:
            assert img.get_data_dtype() in (np.float32, np.uint16)
            assert data.min() >= 0
        if "lab" in c:
            lab = c["lab"]
            assert lab.get_data_dtype() == np.uint8
            assert lab.shape == img.shape
            np.testing.assert_allclose(lab.affine, img.affine)
            assert c["label"].max() <= 15
    assert axcodes == {("R", "A", "S"), ("L", "P", "S")}


def test_mr_dtypes_vary(cases):
    dtypes = {c["img"].get_data_dtype() for c in cases if c["number"] > 500}
    if len([c for c in cases if c["number"] > 500]) >= 2:
        assert dtypes == {np.dtype(np.float32), np.dtype(np.uint16)}


def test_every_organ_somewhere_and_some_missing(cases, meta):
    labelled = [c for c in cases if "label" in c]
    present = [set(np.unique(c["label"]).tolist()) for c in labelled]
    assert set().union(*present) == set(range(16))
    assert any(4 not in p for p in present), "a case without gallbladder"
    assert any(15 not in p for p in present), "a case without prostate/uterus"
    assert sum(4 in p for p in present) >= len(labelled) // 2
    for c, p in zip(labelled, present):
        # Everything else is always there, however small the grid.
        assert set(range(16)) - {4, 15} <= p, c["number"]
    sexes = {meta[c["number"]]["Patient's Sex"] for c, p in zip(labelled, present) if 15 in p}
    assert sexes == {"M", "F"}


def test_organs_in_plausible_places(cases, meta):
    for c in (c for c in cases if "label" in c):
        w = _world_centroids(c["label"], c["lab"].affine)
        tag = f"amos_{c['number']:04d}"
        # RAS world: +x is the patient's left-to-right axis pointing right, +y anterior, +z superior.
        assert w[6][0] > w[1][0], f"{tag}: liver on the patient's right, spleen on the left"
        assert w[6][0] > w[8][0], tag
        assert w[7][0] < w[6][0], tag
        assert w[9][0] > w[8][0], f"{tag}: IVC right of the aorta"
        assert w[2][0] > w[8][0] > w[3][0], f"{tag}: kidneys either side"
        assert w[2][1] < w[10][1], f"{tag}: kidneys posterior to the pancreas"
        assert w[3][1] < w[10][1], f"{tag}: kidneys posterior to the pancreas"
        assert w[1][1] < w[7][1], f"{tag}: spleen posterior to the stomach"
        assert all(w[14][2] < w[i][2] for i in range(1, 14) if i in w), f"{tag}: bladder lowest"
        assert w[5][2] > w[10][2], f"{tag}: esophagus in the upper slices"
        assert w[5][2] > w[2][2], f"{tag}: esophagus in the upper slices"
        assert w[11][2] > w[2][2], f"{tag}: adrenals above the kidneys"
        assert w[12][2] > w[3][2], f"{tag}: adrenals above the kidneys"
        if 4 in w:
            assert w[4][0] > w[8][0], f"{tag}: gallbladder right, under the liver"
            assert w[4][2] < w[6][2], f"{tag}: gallbladder right, under the liver"
        if 15 in w:
            if meta[c["number"]]["Patient's Sex"] == "M":
                assert w[15][2] < w[14][2], f"{tag}: prostate below the bladder"
            else:
                assert w[15][1] < w[14][1], f"{tag}: uterus behind and above the bladder"
                assert w[15][2] > w[14][2], f"{tag}: uterus behind and above the bladder"


def test_synthesize_case_is_deterministic_and_seed_dependent():
    kw = dict(max_shape=(40, 40, 20))
    a = synthesize_case(42, "CT", "F", seed=5, **kw)
    b = synthesize_case(42, "CT", "F", seed=5, options=CaseOptions(**kw))  # the options object, same case
    c = synthesize_case(42, "CT", "F", seed=6, **kw)
    assert a.image.tobytes() == b.image.tobytes()
    assert a.label.tobytes() == b.label.tobytes()
    np.testing.assert_array_equal(a.affine, b.affine)
    assert a.info == b.info
    assert a.image.shape != c.image.shape or a.image.tobytes() != c.image.tobytes()
    assert a.label.dtype == np.uint8
    assert a.image.dtype == np.int16


def test_dataset_is_deterministic_for_a_seed(tmp_path):
    def arrays(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): np.asanyarray(nib.load(p).dataobj).tobytes()
                for p in sorted(root.glob("*/*.nii.gz"))}

    kw = dict(n_cases=4, max_shape=(32, 32, 16))
    r1 = generate_synthetic_dataset(tmp_path / "a", seed=1, **kw)
    r2 = generate_synthetic_dataset(tmp_path / "b", seed=1, **kw)
    r3 = generate_synthetic_dataset(tmp_path / "c", seed=2, **kw)
    assert arrays(r1) == arrays(r2)
    for name in ("dataset.json", METADATA_CSV_NAME):
        assert (r1 / name).read_text() == (r2 / name).read_text()
    assert (r1 / METADATA_CSV_NAME).read_text() != (r3 / METADATA_CSV_NAME).read_text()


def test_organ_sizes_are_physical_whatever_the_spacing():
    # Same field of view (64 x 64 x 128 mm) sampled at two spacings: organ volumes in mm^3 agree.
    coarse = synthesize_case(77, "CT", "M", seed=0, shape=(80, 80, 32), spacing=(0.8, 0.8, 4.0))
    fine = synthesize_case(77, "CT", "M", seed=0, shape=(128, 128, 64), spacing=(0.5, 0.5, 2.0))
    vol_c = np.bincount(coarse.label.ravel(), minlength=16) * (0.8 * 0.8 * 4.0)
    vol_f = np.bincount(fine.label.ravel(), minlength=16) * (0.5 * 0.5 * 2.0)
    for organ in (1, 2, 3, 6, 7, 14):
        assert vol_c[organ] == pytest.approx(vol_f[organ], rel=0.2), organ
    assert coarse.info["scale_xy"] == pytest.approx(fine.info["scale_xy"])


def test_intensities_ct_hu_and_mr_contrast():
    ct = synthesize_case(10, "CT", "M", seed=0, max_shape=(64, 64, 32))
    lab, img = ct.label, ct.image.astype(float)

    def median(image, label, organ):
        core = ndimage.binary_erosion(label == organ)  # away from partial-volume edges
        return float(np.median(image[core if core.any() else label == organ]))

    assert 20 <= median(img, lab, 6) <= 150, "liver in soft-tissue HU"
    assert 140 <= median(img, lab, 8) <= 260, "contrast-enhanced aorta"
    assert -30 <= median(img, lab, 14) <= 50, "urine"
    t1 = synthesize_case(510, "MRI", "M", seed=0, max_shape=(64, 64, 32), mr_contrast="T1", image_dtype="float32")
    t2 = synthesize_case(510, "MRI", "M", seed=0, max_shape=(64, 64, 32), mr_contrast="T2", image_dtype="uint16")
    assert t1.image.dtype == np.float32
    assert t2.image.dtype == np.uint16
    # MRI orders organs differently from CT: on T2 urine is brighter than liver (dark on CT vs liver).
    assert median(t2.image.astype(float), t2.label, 14) > median(t2.image.astype(float), t2.label, 6)
    assert median(t1.image, t1.label, 6) > median(t1.image, t1.label, 1), "T1: liver brighter than spleen"


def test_synthesize_case_rejects_bad_arguments():
    with pytest.raises(ValueError, match="modality"):
        synthesize_case(1, "PET")
    with pytest.raises(ValueError, match="599"):
        synthesize_case(0)
    with pytest.raises(ValueError, match="max_shape"):
        synthesize_case(1, max_shape=(8, 8, 8))
    with pytest.raises(ValueError, match="orientation"):
        synthesize_case(1, orientation="XYZ")
    with pytest.raises(TypeError, match="orientaton"):
        synthesize_case(1, orientaton="RAS")


def test_refuses_non_empty_target_and_bad_arguments(tmp_path):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ValueError) as err:
        generate_synthetic_dataset(out, n_cases=2, max_shape=(32, 32, 16))
    assert str(err.value).startswith(str(out))
    assert "overwrite" in str(err.value)
    assert (out / "keep.txt").read_text() == "mine"
    with pytest.raises(ValueError, match="n_cases"):
        generate_synthetic_dataset(tmp_path / "x", n_cases=0)
    with pytest.raises(ValueError, match="max_shape"):
        generate_synthetic_dataset(tmp_path / "x", n_cases=2, max_shape=(32, 32))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"], "no temporary folder left behind"
    # An existing empty folder is fine, and overwrite replaces a non-empty one.
    empty = tmp_path / "empty"
    empty.mkdir()
    assert (generate_synthetic_dataset(empty, n_cases=2, max_shape=(32, 32, 16)) / "dataset.json").is_file()
    generate_synthetic_dataset(out, n_cases=2, max_shape=(32, 32, 16), overwrite=True)
    assert not (out / "keep.txt").exists()
    assert (out / "dataset.json").is_file()


def test_a_failing_case_leaves_nothing_half_written(tmp_path, monkeypatch):
    real = synthetic.synthesize_case
    calls = []

    def flaky(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 3:
            raise MemoryError("simulated")
        return real(*args, **kwargs)

    monkeypatch.setattr(synthetic.dataset, "synthesize_case", flaky)  # the builder's module calls it
    with pytest.raises(RuntimeError, match=r"amos_\d{4}\.nii\.gz: generation failed \(MemoryError"):
        generate_synthetic_dataset(tmp_path / "out", n_cases=4, max_shape=(32, 32, 16))
    assert list(tmp_path.iterdir()) == []


def test_cli_synth_and_refusal(tmp_path, capsys):
    from amos_tutorial import cli

    out = tmp_path / "cli_amos"
    args = ["data", "synth", str(out), "--cases", "4", "--seed", "2", "--max-shape", "32,32,16", "--no-progress"]
    assert cli.main(args) == 0
    ds = json.loads((out / "dataset.json").read_text())
    assert ds["numTraining"] + ds["numValidation"] + ds["numTest"] == 4
    assert str(out) in capsys.readouterr().out
    before = (out / "dataset.json").read_text()
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"amos: error: {out}:")
    assert "--overwrite" in err
    assert "\n" not in err
    assert (out / "dataset.json").read_text() == before
    assert cli.main([*args[:6], "3", *args[7:], "--overwrite"]) == 0
    assert (out / "dataset.json").read_text() != before


def _digest(*parts: object) -> str:
    import hashlib

    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            h.update(f"{part.dtype}{part.shape}".encode())
            h.update(np.ascontiguousarray(part).tobytes())
        else:
            h.update(repr(part).encode())
    return h.hexdigest()[:16]


# Digests of the generator's output, computed with the generator as it was before it became a package
# (the single module amos_tutorial/data/synthetic.py, commit e00275c). Restructuring the generator must
# keep them; a change of the anatomy or intensities changes them on purpose: then update them, and the
# cached sets follow (paths.synthetic_fingerprint). A numpy release that rounds sin/exp differently
# could also move them.
PINNED_CASES = {
    (7, "CT", "M"): "bb8b7ddf06185a2d",
    (501, "MRI", "F"): "60350cd19062d51a",
}
PINNED_SET = "509964dbe8a667bc"


@pytest.mark.parametrize("number, modality, sex", sorted(PINNED_CASES))
def test_generated_case_is_unchanged(number, modality, sex):
    case = synthesize_case(number, modality, sex, seed=0, max_shape=(40, 40, 20))
    assert _digest(case.image, case.label, case.affine, sorted(case.info.items())) == PINNED_CASES[
        (number, modality, sex)
    ]


def test_generated_set_is_unchanged(root):
    # The module's 8-case set: every array and affine as read back, and the metadata CSV (file bytes would
    # also pin the gzip/zlib version, and dataset.json carries the package version).
    parts: list[object] = [(root / METADATA_CSV_NAME).read_text()]
    for path in sorted(root.glob("*/*.nii.gz")):
        img = nib.load(path)
        parts += [str(path.relative_to(root)), np.asanyarray(img.dataobj), img.affine]
    assert _digest(*parts) == PINNED_SET


def test_cli_synth_max_shape_has_an_upper_bound(tmp_path, capsys):
    from amos_tutorial.cli import main
    from amos_tutorial.data.synthetic.case import MAX_SIDE

    out = tmp_path / "huge"
    code = main(["data", "synth", str(out), "--cases", "1", "--max-shape", "100000,100000,100000",
                 "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"max_shape must be three integers from 16 to {MAX_SIDE}" in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()
    with pytest.raises(ValueError, match="more than the"):
        synthesize_case(1, "CT", max_shape=(MAX_SIDE, MAX_SIDE, MAX_SIDE))


def test_a_killed_generation_leaves_nothing_for_the_next_one(tmp_path, capsys):
    import socket
    import subprocess
    import sys

    from amos_tutorial.utils.lock import LOCK_NAME, FolderLock

    out = tmp_path / "amos"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    killed = tmp_path / ".amos.tmp-0123456789ab"
    (killed / "imagesTr").mkdir(parents=True)
    holder = {"pid": int(dead.stdout), "host": socket.gethostname(), "started": "earlier", "what": "synthetic set"}
    (killed / LOCK_NAME).write_text(json.dumps(holder))  # kill -9 during generation: folder and lock stay
    running = tmp_path / ".amos.tmp-ba9876543210"
    with FolderLock(running, what="synthetic set being written"):  # another generation under way
        generate_synthetic_dataset(out, n_cases=1, max_shape=(32, 32, 16))
        assert running.is_dir()
    assert not killed.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".amos.tmp-ba9876543210", "amos"]
    assert not (out / LOCK_NAME).exists()
    assert "taking over a stale lock" in capsys.readouterr().err
