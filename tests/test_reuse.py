"""From scratch, then reuse: the trainer takes the student's loss, the predictor the student's sliding window.

``train(..., loss=fn)`` trains with any ``(logits, target) -> scalar`` function (and records its name so
that resuming without it is refused); ``sliding_window_probabilities(..., blend=...)`` blends windows
with a Gaussian, a constant, or the student's own sliding-window function.
"""

from __future__ import annotations

import itertools

import pytest
import torch

from amos_tutorial.exercises import gaussian_weights, window_starts
from amos_tutorial.inference.options import check_blend
from amos_tutorial.inference.window import sliding_window_probabilities
from amos_tutorial.training.losses import SegmentationLoss


def _student_window(image, predictor, roi_size, overlap=0.5):
    weight, out, norm = gaussian_weights(roi_size), None, image.new_zeros(image.shape[2:])
    starts = [window_starts(n, r, overlap) for n, r in zip(image.shape[2:], roi_size)]
    for corner in itertools.product(*starts):
        box = tuple(slice(s, s + r) for s, r in zip(corner, roi_size))
        pred = predictor(image[(..., *box)]) * weight
        out = image.new_zeros(*pred.shape[:2], *image.shape[2:]) if out is None else out
        out[(..., *box)] += pred
        norm[box] += weight
    return out / norm


class _Ramp(torch.nn.Module):
    """Logits that depend on the position in the window, so that the blending shows."""

    def forward(self, x):
        ramp = torch.linspace(-2.0, 2.0, x.shape[2]).view(1, 1, -1, 1, 1)
        return torch.cat([x + ramp, x - ramp, x * 0], dim=1)


def test_the_students_sliding_window_predicts_like_monais_gaussian():
    image = torch.randn(1, 1, 20, 14, 10, generator=torch.Generator().manual_seed(0))
    gaussian = sliding_window_probabilities(_Ramp(), image, (8, 8, 4), overlap=0.5)
    constant = sliding_window_probabilities(_Ramp(), image, (8, 8, 4), overlap=0.5, blend="constant")
    student = sliding_window_probabilities(_Ramp(), image, (8, 8, 4), overlap=0.5, blend=_student_window)
    torch.testing.assert_close(student, gaussian, atol=1e-4, rtol=1e-4)
    assert (constant - gaussian).abs().max() > 1e-3


@pytest.mark.parametrize("shape", [(20, 6, 10), (5, 7, 3)])
def test_the_students_window_predicts_a_case_smaller_than_the_window(shape):
    # A resampled case can be shorter than the training patch along an axis; MONAI pads it, and so must the
    # predictor before it hands the image to the student's function (whose window_starts needs roi <= axis).
    image = torch.randn(1, 1, *shape, generator=torch.Generator().manual_seed(1))
    gaussian = sliding_window_probabilities(_Ramp(), image, (8, 8, 4), overlap=0.5)
    student = sliding_window_probabilities(_Ramp(), image, (8, 8, 4), overlap=0.5, blend=_student_window)
    assert tuple(student.shape) == (1, 3, *shape)
    torch.testing.assert_close(student, gaussian, atol=1e-4, rtol=1e-4)


def test_a_bad_blend_is_one_line():
    with pytest.raises(ValueError, match="blend must be one of .*'mean'"):
        check_blend("mean")
    with pytest.raises(ValueError, match="blend"):
        sliding_window_probabilities(_Ramp(), torch.zeros(1, 1, 8, 8, 4), (8, 8, 4), blend="mean")


def test_segmentation_loss_uses_the_students_loss_on_every_output():
    seen = []

    def my_loss(logits, target):
        seen.append(tuple(logits.shape))
        return torch.nn.functional.cross_entropy(logits, target[:, 0].long())

    outputs = torch.randn(2, 3, 4, 8, 8, 8)  # (B, S, C, X, Y, Z): three deep-supervision outputs
    value = SegmentationLoss(deep_supervision=True, base=my_loss)(outputs, torch.randint(0, 4, (2, 1, 8, 8, 8)))
    assert value.ndim == 0
    assert len(seen) == 3
    with pytest.raises(ValueError, match="loss must be a function"):
        SegmentationLoss(base="cross_entropy")


@pytest.mark.slow
def test_train_with_the_students_loss_and_refuse_to_resume_without_it(tmp_path):
    from amos_tutorial.training import train

    calls = []

    def my_loss(logits, target):
        calls.append(1)
        return torch.nn.functional.cross_entropy(logits, target[:, 0].long())

    train("unet", data="synthetic", out=tmp_path / "run", preset="smoke", iterations=3, progress=False, loss=my_loss)
    assert len(calls) >= 3
    assert "my_loss" in (tmp_path / "run" / "loss.json").read_text()
    with pytest.raises(ValueError, match="loss.json: this run was trained with the loss"):
        train("unet", data="synthetic", out=tmp_path / "run", preset="smoke", iterations=5, progress=False, resume=True)


def test_the_students_rule_post_processes_predictions_beside_the_packages(tmp_path):
    import numpy as np
    from scipy import ndimage

    from amos_tutorial.exercises.reuse import postprocess_comparison
    from amos_tutorial.utils.io import save_nifti

    reference = np.zeros((12, 12, 8), np.uint8)
    reference[1:6, 1:6, 1:5] = 6
    pred = reference.copy()
    pred[9:11, 9:11, 6:8] = 6  # a false island: the largest component removes it
    (tmp_path / "pred").mkdir()
    (tmp_path / "labels").mkdir()
    save_nifti(pred, np.eye(4), tmp_path / "pred" / "amos_0001.nii.gz")
    save_nifti(reference, np.eye(4), tmp_path / "labels" / "amos_0001.nii.gz")

    def my_largest(mask):
        labels, n = ndimage.label(mask, structure=np.ones((3, 3, 3), bool))
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        return labels == sizes.argmax() if n else np.zeros(mask.shape, bool)

    table = postprocess_comparison(tmp_path / "pred", tmp_path / "labels", my_largest)
    row = table.iloc[0]
    assert row["as predicted"] < 1.0
    assert row["package's rule"] == pytest.approx(1.0)
    assert row["your rule"] == pytest.approx(row["package's rule"])
    unchanged = postprocess_comparison(tmp_path / "pred", tmp_path / "labels", lambda mask: mask)
    assert unchanged.iloc[0]["your rule"] == pytest.approx(row["as predicted"])
    with pytest.raises(FileNotFoundError, match="no predicted"):
        postprocess_comparison(tmp_path / "labels" / "none", tmp_path / "labels", my_largest)


def test_not_done_line_is_one_line_and_none_once_passed():
    from amos_tutorial.exercises import check_dice
    from amos_tutorial.exercises.reuse import not_done_line

    def my_dice(reference, prediction):
        raise NotImplementedError("Student exercise: count the overlap")

    line = not_done_line(check_dice(my_dice), "scores the predictions with it")
    assert "\n" not in line
    assert "scores the predictions with it" in line
    assert "not implemented yet" in line

    def right(reference, prediction):
        total = reference.sum() + prediction.sum()
        return 2 * (reference & prediction).sum() / total if total else float("nan")

    assert not_done_line(check_dice(right), "scores") is None
