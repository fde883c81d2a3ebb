"""A user's own function on the command line: ``amos train --loss FILE.py:NAME`` and ``amos predict --blend``."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from conftest import write_untrained_run

from amos_tutorial.cli import main
from amos_tutorial.utils.plugins import load_function

LOSS_FILE = '''
def constant_loss(logits, target):
    """A loss whose value is known: 7 whatever the network predicts (its gradient is zero)."""
    return (logits * 0).sum() + 7.0
'''


def test_load_function_from_a_file_and_a_module(tmp_path):
    path = tmp_path / "my_losses.py"
    path.write_text(LOSS_FILE)
    assert load_function(f"{path}:constant_loss").__name__ == "constant_loss"
    assert load_function("amos_tutorial.training.losses:cross_entropy").__name__ == "cross_entropy"


@pytest.mark.parametrize(
    "spec, words",
    [
        ("{tmp}/missing.py:f", ["missing.py", "does not exist"]),
        ("{tmp}/my_losses.py:nope", ["my_losses.py", "'nope'"]),
        ("{tmp}/broken.py:f", ["broken.py", "fails to run", "ZeroDivisionError"]),
        ("no_such_module_xyz:f", ["no_such_module_xyz", "cannot import"]),
        ("{tmp}/my_losses.py", ["FILE.py:FUNCTION"]),
    ],
)
def test_load_function_errors_are_one_line_naming_the_file_or_function(tmp_path, spec, words):
    (tmp_path / "my_losses.py").write_text(LOSS_FILE)
    (tmp_path / "broken.py").write_text("1 / 0\n")
    with pytest.raises(ValueError) as exc:
        load_function(spec.format(tmp=tmp_path))
    message = str(exc.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_cli_train_with_a_loss_from_a_file(synthetic_root, tmp_path, capsys):
    path = tmp_path / "my_losses.py"
    path.write_text(LOSS_FILE)
    out = tmp_path / "run"
    args = ["train", "--model", "unet", "--data", str(synthetic_root), "--out", str(out), "--preset", "smoke",
            "--iterations", "2", "--iterations-per-epoch", "2", "--patch-size", "16,16,16", "--device", "cpu",
            "--cache-dir", str(tmp_path / "cache"), "--no-progress"]  # fmt: skip
    assert main([*args, "--loss", f"{path}:constant_loss"]) == 0
    metrics = pd.read_csv(out / "metrics.csv")
    assert metrics["train_loss"].tolist() == pytest.approx([7.0])
    assert json.loads((out / "loss.json").read_text())["loss"].endswith("constant_loss")
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main([*args, "--out", str(tmp_path / "run2"), "--loss", f"{path}:nope"])
    assert exc.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("amos train: error: argument --loss:")
    assert "'nope'" in last
    with pytest.raises(SystemExit):
        main([*args, "--out", str(tmp_path / "run3"), "--loss", "focal"])
    assert "dice_ce" in capsys.readouterr().err


def test_cli_predict_constant_blending_differs_from_gaussian(synthetic_root, tmp_path):
    run = write_untrained_run(tmp_path / "run", (2.0, 2.0, 3.0), seed=3)
    images = synthetic_root / "imagesTr"
    labels = {}
    for blend in ("gaussian", "constant"):
        out = tmp_path / blend
        assert main(["predict", "--run", str(run), "--images", str(images), "--out", str(out), "--device", "cpu",
                     "--overlap", "0.75", "--blend", blend, "--no-progress"]) == 0  # fmt: skip
        labels[blend] = np.concatenate([np.asarray(nib.load(str(p)).dataobj).ravel() for p in sorted(out.glob("amos_*.nii.gz"))])
    assert labels["gaussian"].shape == labels["constant"].shape
    assert (labels["gaussian"] != labels["constant"]).any()
    assert json.loads((tmp_path / "constant" / "predict.json").read_text())["blend"] == "constant"
    assert "blend" not in json.loads((tmp_path / "gaussian" / "predict.json").read_text())


def test_cli_predict_with_a_sliding_window_from_a_module(synthetic_root, tmp_path):
    window = tmp_path / "my_window.py"
    window.write_text(
        "from monai.inferers import sliding_window_inference\n"
        "def plain_window(image, predictor, roi_size, overlap):\n"
        "    return sliding_window_inference(image, roi_size, 2, predictor, overlap=overlap, mode='constant')\n"
    )
    run = write_untrained_run(tmp_path / "run", (2.0, 2.0, 3.0), seed=3)
    images = synthetic_root / "imagesTr"
    for name, blend in (("mine", f"{window}:plain_window"), ("constant", "constant")):
        assert main(["predict", "--run", str(run), "--images", str(images), "--out", str(tmp_path / name),
                     "--device", "cpu", "--overlap", "0.75", "--blend", blend, "--no-progress"]) == 0  # fmt: skip
    for path in sorted((tmp_path / "constant").glob("amos_*.nii.gz")):
        mine = np.asarray(nib.load(str(tmp_path / "mine" / path.name)).dataobj)
        np.testing.assert_array_equal(mine, np.asarray(nib.load(str(path)).dataobj))
    assert "plain_window" in json.loads((tmp_path / "mine" / "predict.json").read_text())["blend"]
