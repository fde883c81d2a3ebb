"""``amos data pack``: a course pack of a synthetic release validates, its manifest catches one altered byte."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from amos_tutorial.cli import main
from amos_tutorial.data.layout import load_amos
from amos_tutorial.data.manifest import MANIFEST_NAME
from amos_tutorial.data.validate import validate_dataset
from amos_tutorial.transforms.pack import make_pack
from amos_tutorial.transforms.preprocessing import resample_and_crop
from amos_tutorial.utils.geometry import spacing_from_affine
from amos_tutorial.utils.io import load_nifti


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    """A synthetic release of 10 cases with both modalities and every split."""
    from amos_tutorial.data.synthetic import generate_synthetic_dataset

    root = tmp_path_factory.mktemp("release") / "amos22"
    return Path(generate_synthetic_dataset(root, n_cases=10, seed=3, max_shape=(40, 40, 20), progress=False))


@pytest.fixture(scope="module")
def pack(release, tmp_path_factory):
    return make_pack(tmp_path_factory.mktemp("packs") / "course", release, 4, spacing=(2.0, 2.0, 3.0), progress=False)


def test_pack_is_a_release_that_validates(pack, release, capsys):
    ds = load_amos(pack.root)
    assert sorted(c.case_id for c in ds.cases) == pack.cases
    assert {c.modality for c in ds.cases} == {"CT", "MRI"}
    assert {c.split for c in ds.cases} == {"training", "validation"}
    assert ds.metadata is not None
    for case in ds.cases:
        image, affine = load_nifti(case.image)
        assert spacing_from_affine(affine) == pytest.approx((2.0, 2.0, 3.0))
        source, _ = load_nifti(load_amos(release).case(case.case_id).image)
        assert image.dtype == source.dtype
    assert validate_dataset(pack.root) == []
    assert main(["data", "validate", "--data", str(pack.root), "--no-progress"]) == 0
    assert f"files match the SHA-256 of {MANIFEST_NAME}" in capsys.readouterr().out


def test_manifest_records_source_spacing_licence_and_every_file(pack, release):
    manifest = json.loads((pack.root / MANIFEST_NAME).read_text())
    source = json.loads((release / "dataset.json").read_text())
    assert manifest["licence"] == source["licence"]
    assert "AMOS" in manifest["attribution"]
    assert manifest["spacing_mm"] == [2.0, 2.0, 3.0]
    assert [c["source_case_id"] for c in manifest["cases"]] == pack.cases
    on_disk = sorted(p.relative_to(pack.root).as_posix() for p in pack.root.rglob("*") if p.is_file())
    assert sorted(manifest["files"]) == [p for p in on_disk if p != MANIFEST_NAME]


def test_zip_holds_the_pack_under_its_name(pack):
    with zipfile.ZipFile(pack.zip_path) as zf:
        names = set(zf.namelist())
        assert zf.testzip() is None
    on_disk = {f"course/{p.relative_to(pack.root).as_posix()}" for p in pack.root.rglob("*") if p.is_file()}
    assert names == on_disk
    assert pack.zip_bytes == pack.zip_path.stat().st_size


def test_one_altered_byte_is_found_and_named(pack, tmp_path, capsys):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(pack.root, copy)
    target = sorted((copy / "imagesTr").iterdir())[0]
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    problems = validate_dataset(copy)
    assert [p.path for p in problems if "SHA-256" in p.message] == [target]
    assert main(["data", "validate", "--data", str(copy), "--no-progress"]) == 1
    assert f"{target}: SHA-256 differs" in capsys.readouterr().out


def test_pack_is_smaller_and_cropped(release, tmp_path):
    image, affine = load_nifti(sorted((release / "imagesTr").iterdir())[0])
    out, _, new_affine = resample_and_crop(image, affine, "CT", (3.0, 3.0, 4.0))
    assert out.size < image.size
    assert spacing_from_affine(new_affine) == pytest.approx((3.0, 3.0, 4.0))


def test_resample_and_crop_keeps_raw_intensities_and_crops_the_air():
    img = np.full((40, 40, 10), -1000, np.int16)
    img[10:30, 12:28, 2:8] = 40
    label = np.zeros(img.shape, np.uint8)
    label[15:25, 15:25, 3:7] = 6
    out, lab, affine = resample_and_crop(img, np.diag([1.0, 1.0, 2.0, 1.0]), "CT", (2.0, 2.0, 2.0), label=label)
    assert out.dtype == np.int16
    assert out.shape == (10, 8, 6)
    assert lab.shape == out.shape
    assert int(out.max()) == 40
    assert set(np.unique(lab).tolist()) == {0, 6}


def test_cli_pack_and_refusals(release, tmp_path, capsys):
    out = tmp_path / "p"
    rc = main(["data", "pack", str(out), "--data", str(release), "--cases", "2", "--spacing", "3",
               "--modalities", "CT", "--no-progress"])  # fmt: skip
    assert rc == 0
    assert "course pack of 2 cases at 3 x 3 x 3 mm" in capsys.readouterr().out
    assert {c.modality for c in load_amos(out).cases} == {"CT"}
    rc = main(["data", "pack", str(out), "--data", str(release), "--cases", "2", "--no-progress"])
    assert rc == 1
    assert "exists and is not an empty folder" in capsys.readouterr().err
    rc = main(["data", "pack", str(tmp_path / "q"), "--data", str(release), "--cases", "99", "--no-progress"])
    assert rc == 2
    assert "99 cases asked" in capsys.readouterr().err


def test_a_chapter_pointed_at_a_pack_gets_the_course_size(pack, monkeypatch):
    from amos_tutorial.notebook import chapter_config

    monkeypatch.delenv("AMOS_DATA", raising=False)
    monkeypatch.delenv("AMOS_SMOKE", raising=False)
    monkeypatch.delenv("AMOS_SIZE", raising=False)
    cfg = chapter_config(str(pack.root))
    assert cfg.size == "course"
    assert cfg.preset == "course"
    assert cfg.max_cases is None
    assert cfg.pick(smoke=1, full=2) == 1
    assert cfg.pick(smoke=1, full=2, course=3) == 3
    assert "course pack" in str(cfg)
    monkeypatch.setenv("AMOS_SMOKE", "0")
    assert chapter_config(str(pack.root)).size == "full"
    monkeypatch.setenv("AMOS_SMOKE", "1")
    assert chapter_config(str(pack.root)).size == "smoke"
    monkeypatch.setenv("AMOS_SIZE", "course")
    assert chapter_config(str(pack.root)).size == "course"


def test_course_preset_trains_on_the_pack_grid(pack, tmp_path):
    from amos_tutorial.data.manifest import PACK_SPACING
    from amos_tutorial.training import make_config, train
    from amos_tutorial.training.config import COURSE_ITERATIONS, COURSE_PATCH_SIZE

    config = make_config("unet", preset="course")
    assert tuple(config.preprocess["spacing"]) == PACK_SPACING
    assert config.iterations == COURSE_ITERATIONS
    assert config.patch_size == COURSE_PATCH_SIZE
    result = train(
        "unet", data=str(pack.root), out=tmp_path / "run", preset="course", variant="tiny", patch_size=(32, 32, 32),
        iterations=2, iterations_per_epoch=2, val_cases=1, device="cpu", progress=False,
        cache_dir=str(tmp_path / "cache"),
    )  # fmt: skip
    assert result.iteration == 2


@pytest.mark.slow
@pytest.mark.notebook
def test_a_chapter_runs_on_a_pack_in_course_size(pack):
    from conftest import REPO_ROOT, chapter_executor

    chapter = str(REPO_ROOT / "book" / "exploring_the_data.ipynb")
    nb = chapter_executor({"AMOS_DATA": str(pack.root), "AMOS_SIZE": "course"}).check(chapter).nb_final
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("mode   : course" in o.get("text", "") for o in outputs if o.output_type == "stream")
