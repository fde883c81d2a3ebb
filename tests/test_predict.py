"""Prediction: original grid, fast path = MONAI plain path, flip TTA, resumable folders, bad inputs."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from conftest import write_untrained_run
import torch
from scipy import ndimage

from amos_tutorial.cli import main
from amos_tutorial.inference import flip_combinations, predict_case, predict_folder, sliding_window_probabilities
from amos_tutorial.transforms.preprocessing import PreprocessConfig

CONFIG = PreprocessConfig(spacing=(2.0, 2.0, 3.0))


def small_net(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv3d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv3d(4, 16, 3, padding=1)
    ).eval()


class CountingNet(torch.nn.Module):
    """Wraps a network and counts the windows it sees."""

    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net, self.windows = net, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.windows += x.shape[0]
        return self.net(x)


def images_of(root):
    return sorted((root / "imagesTr").glob("amos_*.nii.gz"))


def test_fast_path_matches_monai_plain_path_on_the_original_grid(synthetic_root):
    net = small_net()
    for image in images_of(synthetic_root):
        fast = predict_case(net, image, CONFIG, "cpu", roi_size=(16, 16, 8))
        plain = predict_case(net, image, CONFIG, "cpu", roi_size=(16, 16, 8), engine="plain")
        ref = nib.load(str(image))
        assert fast.labels.shape == plain.labels.shape == ref.shape
        assert fast.labels.dtype == np.uint8
        assert fast.labels.max() < 16
        np.testing.assert_array_equal(fast.affine, ref.affine)
        differ = fast.labels != plain.labels
        # Stated tolerance: at most 0.1% of voxels, and only where the plain labels change (organ borders).
        assert differ.mean() <= 1e-3
        border = ndimage.morphological_gradient(plain.labels, size=3) > 0
        assert not (differ & ~border).any()
        assert set(fast.timings) == {"load", "preprocess", "sliding_window", "inversion", "argmax"}
        assert len(np.unique(fast.labels)) > 1  # a non-trivial prediction was compared


def test_flip_tta_runs_every_flip_and_averages():
    assert flip_combinations() == [(), (0,), (1,), (2,), (0, 1), (0, 2), (1, 2), (0, 1, 2)]
    with pytest.raises(ValueError):
        flip_combinations((0, 3))
    torch.manual_seed(1)
    image = torch.randn(1, 1, 12, 10, 8)
    net = CountingNet(small_net(2))
    plain = sliding_window_probabilities(net, image, (12, 10, 8), overlap=0.0, sw_batch_size=1)
    assert net.windows == 1
    tta = sliding_window_probabilities(
        net, image, (12, 10, 8), overlap=0.0, sw_batch_size=1, tta_flips=flip_combinations()
    )
    assert net.windows == 1 + 8
    torch.testing.assert_close(tta.sum(dim=1), torch.ones(1, 12, 10, 8))  # still probabilities
    # The average of the 8 flipped predictions, computed by hand.
    by_hand = torch.zeros_like(tta)
    with torch.no_grad():
        for dims in flip_combinations():
            d = tuple(a + 2 for a in dims)
            out = net.net(torch.flip(image, d) if d else image).softmax(1)
            by_hand += torch.flip(out, d) if d else out
    torch.testing.assert_close(tta, by_hand / 8, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(tta, plain, atol=1e-3)


def test_predict_case_bad_inputs(tmp_path, synthetic_root):
    net = small_net()
    with pytest.raises(FileNotFoundError, match="missing.nii.gz"):
        predict_case(net, tmp_path / "missing.nii.gz", CONFIG, roi_size=(16, 16, 8))
    broken = tmp_path / "amos_0001.nii.gz"
    broken.write_bytes(b"not a nifti")
    with pytest.raises(ValueError, match=f"^{broken}"):
        predict_case(net, broken, CONFIG, roi_size=(16, 16, 8))
    image = images_of(synthetic_root)[0]
    with pytest.raises(ValueError, match="roi_size"):
        predict_case(net, image, CONFIG)
    with pytest.raises(ValueError, match="engine"):
        predict_case(net, image, CONFIG, roi_size=(16, 16, 8), engine="quick")
    with pytest.raises(TypeError, match="path= is now engine="):
        predict_case(net, image, CONFIG, roi_size=(16, 16, 8), path="plain")
    with pytest.raises(TypeError, match="roi_sise"):
        predict_case(net, image, CONFIG, roi_sise=(16, 16, 8))
    odd = tmp_path / "scan.nii.gz"
    odd.write_bytes(image.read_bytes())
    with pytest.raises(ValueError, match="CT from MRI"):
        predict_case(net, odd, CONFIG, roi_size=(16, 16, 8))
    assert predict_case(net, odd, CONFIG, roi_size=(16, 16, 8), modality="MRI").modality == "MRI"


@pytest.fixture
def run_dir(tmp_path):
    """A run folder as ``amos train`` writes it: config.json and checkpoints/best.pt (untrained tiny UNet)."""
    return write_untrained_run(tmp_path / "run", tuple(CONFIG.spacing))


def test_predict_folder_writes_resumes_and_reports_failures(run_dir, synthetic_root, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for image in images_of(synthetic_root):
        (images / image.name).write_bytes(image.read_bytes())
    out = tmp_path / "pred"
    table = predict_folder(run_dir, images, out, device="cpu", progress=False)
    assert table["status"].tolist() == ["written"] * len(table)
    assert len(table) >= 2
    for image in images.iterdir():
        pred, ref = nib.load(str(out / image.name)), nib.load(str(image))
        assert pred.shape == ref.shape
        assert pred.get_data_dtype() == np.uint8
        np.testing.assert_array_equal(pred.affine, ref.affine)
    settings = json.loads((out / "predict.json").read_text())
    assert settings["model"] == "unet"
    assert settings["engine"] == "fast"
    assert settings["roi_size"] == [16, 16, 16]

    # Resume: finished cases are skipped, a deleted one is predicted again.
    first = sorted(out.glob("amos_*.nii.gz"))[0]
    first.unlink()
    again = predict_folder(run_dir, images, out, device="cpu", progress=False)
    assert sorted(again["status"]) == ["skipped"] * (len(table) - 1) + ["written"]
    assert first.exists()

    # One unreadable image fails alone; the others are still predicted.
    bad = images / "amos_0999.nii.gz"
    bad.write_bytes(b"truncated")
    result = predict_folder(run_dir, images, tmp_path / "pred2", device="cpu", progress=False).set_index("case")
    assert result.loc["amos_0999", "status"] == "failed"
    assert str(bad) in result.loc["amos_0999", "error"]
    assert (result.drop(index="amos_0999")["status"] == "written").all()
    assert [p.name for p in (tmp_path / "pred2").iterdir() if p.name.startswith(".")] == []


def test_cli_predict(run_dir, synthetic_root, tmp_path, capsys):
    images = synthetic_root / "imagesTr"
    out = tmp_path / "pred"
    args = [
        "predict",
        "--run",
        str(run_dir),
        "--images",
        str(images),
        "--out",
        str(out),
        "--device",
        "cpu",
        "--no-progress",
    ]
    assert main(args + ["--engine", "plain", "--overlap", "0.5"]) == 0
    assert "written" in capsys.readouterr().out
    assert json.loads((out / "predict.json").read_text())["overlap"] == 0.5
    assert main(args + ["--engine", "plain", "--overlap", "0.5"]) == 0
    assert "0 written" in capsys.readouterr().out  # everything was done already
    # Resuming with other settings would mix two kinds of predictions: refused, one line naming the file.
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "predict.json" in err
    assert "overlap" in err
    assert "engine" in err
    (run_dir / "checkpoints" / "best.pt").write_bytes(b"corrupt")
    assert main(args + ["--overwrite"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("amos: error: ")
    assert "best.pt" in err
    assert len(err.strip().splitlines()) == 1


def _copy_images(synthetic_root, folder, n=2):
    folder.mkdir()
    for image in images_of(synthetic_root)[:n]:
        (folder / image.name).write_bytes(image.read_bytes())
    return folder


def test_predict_redoes_a_case_whose_image_changed(run_dir, synthetic_root, tmp_path, capsys):
    from amos_tutorial.utils.io import load_nifti, save_nifti

    images = _copy_images(synthetic_root, tmp_path / "images")
    out = tmp_path / "pred"
    predict_folder(run_dir, images, out, device="cpu", progress=False)
    changed = sorted(images.iterdir())[0]
    data, affine = load_nifti(changed)
    save_nifti(data[::-1].copy(), affine, changed)  # same shape, other voxels: a re-exported scan
    again = predict_folder(run_dir, images, out, device="cpu", progress=False).set_index("case")["status"]
    assert again[changed.name[:9]] == "written"
    assert (again.drop(changed.name[:9]) == "skipped").all()
    assert "its image or the run's checkpoint changed" in capsys.readouterr().out


def test_predict_refuses_a_plan_whose_contents_changed(run_dir, synthetic_root, tmp_path, capsys):
    from amos_tutorial.evaluation.postprocess import PostprocessPlan, Rule

    images = _copy_images(synthetic_root, tmp_path / "images")
    plan = PostprocessPlan((Rule("largest_component", (6,)),)).save(tmp_path / "plan.json")
    args = ["predict", "--run", str(run_dir), "--images", str(images), "--out", str(tmp_path / "pred"),
            "--postprocess", str(plan), "--device", "cpu", "--no-progress"]
    assert main(args) == 0
    PostprocessPlan((Rule("largest_component", (1,)),)).save(plan)  # same path, other rules
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "predict.json" in err
    assert "postprocess" in err
    assert len(err.strip().splitlines()) == 1


def test_predict_refuses_another_run_and_redoes_a_retrained_one(run_dir, synthetic_root, tmp_path, capsys):
    images = _copy_images(synthetic_root, tmp_path / "images", n=1)
    args = ["predict", "--images", str(images), "--out", str(tmp_path / "pred"), "--device", "cpu", "--no-progress"]
    assert main([*args, "--run", str(run_dir)]) == 0
    other = write_untrained_run(tmp_path / "other", tuple(CONFIG.spacing), seed=1)
    capsys.readouterr()
    assert main([*args, "--run", str(other)]) == 2
    assert "run_dir" in capsys.readouterr().err
    write_untrained_run(run_dir, tuple(CONFIG.spacing), seed=2)  # trained again: other weights, same folder
    assert main([*args, "--run", str(run_dir)]) == 0
    assert "1 image(s): 1 written, 0 skipped" in capsys.readouterr().out


def test_a_second_predict_into_a_folder_in_use_is_refused(run_dir, synthetic_root, tmp_path, capsys):
    from amos_tutorial.utils.lock import FolderLock

    images = _copy_images(synthetic_root, tmp_path / "images", n=1)
    out = tmp_path / "pred"
    args = ["predict", "--run", str(run_dir), "--images", str(images), "--out", str(out), "--device", "cpu",
            "--no-progress"]
    with FolderLock(out, what="prediction folder"):  # another amos predict writing there now
        code = main(args)
    err = capsys.readouterr().err
    assert code == 1
    assert f"{out}: this prediction folder is in use" in err
    assert len(err.strip().splitlines()) == 1
    assert list(out.glob("amos_*.nii.gz")) == []


def test_predict_removes_the_temporary_files_of_a_killed_run(run_dir, synthetic_root, tmp_path):
    images = _copy_images(synthetic_root, tmp_path / "images", n=1)
    out = tmp_path / "pred"
    out.mkdir()
    leftover = out / ".amos_0001.nii.gz.x1y2z3_4.nii.gz"
    leftover.write_bytes(b"half a file")
    unrelated = out / ".notes.txt"
    unrelated.write_text("mine")
    predict_folder(run_dir, images, out, device="cpu", progress=False)
    assert not leftover.exists()
    assert unrelated.exists()
