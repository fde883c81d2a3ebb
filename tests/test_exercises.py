"""Build-it-yourself exercises: every checker passes the book's solution and fails plausible wrong ones.

The right solutions are taken from the chapters themselves (the cells tagged ``solution``), so a solution
edited into something wrong fails here; the wrong ones are the mistakes students make. The skeletons (cells
tagged ``exercise-skeleton``) must make every checker say "not implemented yet" instead of raising.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from conftest import REPO_ROOT

from amos_tutorial.exercises import (
    NOT_IMPLEMENTED,
    check_dice,
    check_dice_ce_loss,
    check_nsd,
    check_patch_sampling,
    check_resample_spacing,
    check_sliding_window,
    check_training_loop,
    check_training_step,
    check_window_level,
    gaussian_weights,
    window_starts,
)
from amos_tutorial.exercises._check import Case, run_cases
from amos_tutorial.exercises.data import reference_resample_spacing

BOOK = REPO_ROOT / "book"
CHECK_CALL = re.compile(r"^(check_\w+)\((my_\w+)\)\s*$")


def _tagged(nb, tag: str) -> list:
    return [c for c in nb.cells if tag in c.metadata.get("tags", [])]


def _exercise_chapters() -> list[Path]:
    return [p for p in sorted(BOOK.glob("*.ipynb")) if _tagged(nbformat.read(p, as_version=4), "exercise-skeleton")]


def _run_chapter_exercises(path: Path, with_solutions: bool) -> list:
    """Execute a chapter's skeleton (and solution) cells in order, then its check cells; return the results."""
    nb = nbformat.read(path, as_version=4)
    namespace: dict = {}
    results = []
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if cell.cell_type != "code":
            continue
        if "exercise-skeleton" in tags or ("solution" in tags and with_solutions):
            exec(compile(cell.source, f"{path.name}:{'solution' if 'solution' in tags else 'skeleton'}", "exec"), namespace)
        elif "exercise-check" in tags:
            match = CHECK_CALL.match(cell.source.strip())
            assert match, f"{path.name}: a check cell must be one call check_x(my_x), got {cell.source!r}"
            results.append(eval(cell.source, namespace))  # noqa: S307 - the book's own cell
    return results


EXERCISE_CHAPTERS = _exercise_chapters()


def test_every_checker_is_used_by_a_chapter():
    used = set()
    for path in EXERCISE_CHAPTERS:
        for cell in _tagged(nbformat.read(path, as_version=4), "exercise-check"):
            used.add(CHECK_CALL.match(cell.source.strip()).group(1))
    import amos_tutorial.exercises as ex

    assert used == {name for name in ex.__all__ if name.startswith("check_")}


@pytest.mark.parametrize("path", EXERCISE_CHAPTERS, ids=[p.stem for p in EXERCISE_CHAPTERS])
def test_the_books_solutions_pass_their_checks(path):
    results = _run_chapter_exercises(path, with_solutions=True)
    assert results
    for result in results:
        assert result.passed, str(result)
        assert "\n" not in str(result)
        assert str(result).startswith("✓")


@pytest.mark.parametrize("path", EXERCISE_CHAPTERS, ids=[p.stem for p in EXERCISE_CHAPTERS])
def test_skeletons_report_not_implemented_yet(path):
    nb = nbformat.read(path, as_version=4)
    for cell in _tagged(nb, "exercise-skeleton"):
        assert 'raise NotImplementedError("Student exercise: ' in cell.source
    for result in _run_chapter_exercises(path, with_solutions=False):
        assert not result.passed
        assert not result.implemented
        assert NOT_IMPLEMENTED in str(result)
        assert "Student exercise" in str(result)


# --- wrong solutions, one per plausible mistake ----------------------------------------------------------


def _assert_fails(result, *words: str) -> None:
    text = str(result)
    assert not result.passed, text
    assert result.implemented, text
    assert "\n" not in text, text
    assert text.startswith("✗"), text
    assert "on input '" in text, text
    for word in words:
        assert word in text, text


def _window_no_clip(image, level, width):
    return (np.asarray(image, float) - (level - width / 2)) / width


def _window_full_width_each_side(image, level, width):
    return np.clip((np.asarray(image, float) - (level - width)) / (2 * width), 0, 1)


def _window_in_place_int(image, level, width):
    out = np.asarray(image)  # int16 stays int16: integer arithmetic
    return np.clip((out - (level - width / 2)) // 1 / width, 0, 1).astype(out.dtype)


@pytest.mark.parametrize("wrong", [_window_no_clip, _window_full_width_each_side, _window_in_place_int])
def test_window_level_catches_mistakes(wrong):
    _assert_fails(check_window_level(wrong), "expected")


def _resample_zoom(volume, spacing, target):
    from scipy import ndimage

    return ndimage.zoom(np.asarray(volume, float), np.divide(spacing, target), order=1)


def _resample_shape_n_times(volume, spacing, target):
    out = np.asarray(volume, float)
    for axis, (s, t) in enumerate(zip(spacing, target)):
        n = out.shape[axis]
        coord = np.clip(np.arange(max(round(n * s / t), 1)) * t / s, 0, n - 1)
        out = np.take(out, np.round(coord).astype(int), axis)
    return out


def _resample_nearest(volume, spacing, target):
    out = np.asarray(volume, float)
    for axis, (s, t) in enumerate(zip(spacing, target)):
        n = out.shape[axis]
        coord = np.clip(np.arange(round((n - 1) * s / t) + 1) * t / s, 0, n - 1)
        out = np.take(out, np.round(coord).astype(int), axis)
    return out


@pytest.mark.parametrize("wrong", [_resample_zoom, _resample_shape_n_times, _resample_nearest])
def test_resample_catches_mistakes(wrong):
    _assert_fails(check_resample_spacing(wrong), "expected")


def test_reference_resampling_is_monais_spacing():
    from monai.data import MetaTensor
    from monai.transforms import Spacing

    volume = np.random.default_rng(1).normal(size=(12, 9, 5)).astype(np.float32)
    spacing, target = (0.7, 2.0, 5.0), (1.5, 1.5, 2.0)
    image = MetaTensor(torch.from_numpy(volume)[None], affine=torch.diag(torch.tensor([*spacing, 1.0], dtype=torch.float64)))
    out = Spacing(pixdim=target, mode="bilinear", padding_mode="border", align_corners=True)(image)
    np.testing.assert_allclose(reference_resample_spacing(volume, spacing, target), out[0].numpy(), atol=1e-5)


def _patch_uniform_voxel(label, patch_size, rng):
    shape, patch = np.array(label.shape), np.array(patch_size)
    voxels = np.argwhere(label > 0)
    if len(voxels) == 0:
        return tuple(int(rng.integers(0, s + 1)) for s in shape - patch)
    return tuple(np.clip(voxels[rng.integers(len(voxels))] - patch // 2, 0, shape - patch))


def _patch_unclipped(label, patch_size, rng):
    organs = np.unique(label[label > 0])
    if len(organs) == 0:
        return (0,) * label.ndim
    voxels = np.argwhere(label == rng.choice(organs))
    return tuple(voxels[rng.integers(len(voxels))] - np.array(patch_size) // 2)


def _patch_always_origin_when_empty(label, patch_size, rng):
    organs = np.unique(label[label > 0])
    if len(organs) == 0:
        return (0,) * label.ndim
    voxels = np.argwhere(label == rng.choice(organs))
    shape, patch = np.array(label.shape), np.array(patch_size)
    return tuple(np.clip(voxels[rng.integers(len(voxels))] - patch // 2, 0, shape - patch))


@pytest.mark.parametrize(
    ("wrong", "word"),
    [(_patch_uniform_voxel, "organ 11"), (_patch_unclipped, "inside"), (_patch_always_origin_when_empty, "random")],
)
def test_patch_sampling_catches_mistakes(wrong, word):
    _assert_fails(check_patch_sampling(wrong), word)


def _dice_of(probs, onehot, dims):
    return 1 - (2 * (probs * onehot).sum(dims) + 1e-5) / (probs.sum(dims) + onehot.sum(dims) + 1e-5)


def _loss_dice_only(logits, target):
    probs = torch.softmax(logits, 1)
    onehot = torch.zeros_like(probs).scatter_(1, target.long(), 1.0)
    return _dice_of(probs, onehot, tuple(range(2, logits.ndim))).mean()


def _loss_whole_batch_dice(logits, target):
    probs = torch.softmax(logits, 1)
    onehot = torch.zeros_like(probs).scatter_(1, target.long(), 1.0)
    dims = (0, *range(2, logits.ndim))
    return _dice_of(probs, onehot, dims).mean() + torch.nn.functional.cross_entropy(logits, target[:, 0].long())


def _loss_naive_exp(logits, target):
    e = torch.exp(logits)
    probs = e / e.sum(1, keepdim=True)
    onehot = torch.zeros_like(probs).scatter_(1, target.long(), 1.0)
    ce = -(onehot * torch.log(probs)).sum(1).mean()
    return _dice_of(probs, onehot, tuple(range(2, logits.ndim))).mean() + ce


def _loss_detached(logits, target):
    ce = torch.nn.functional.cross_entropy(logits, target[:, 0].long())
    return (_loss_dice_only(logits, target) + ce).detach()  # the right value, but no gradient


@pytest.mark.parametrize(
    ("wrong", "word"),
    [(_loss_dice_only, "loss"), (_loss_whole_batch_dice, "loss"), (_loss_naive_exp, "large"), (_loss_detached, "gradient")],
)
def test_dice_ce_loss_catches_mistakes(wrong, word):
    _assert_fails(check_dice_ce_loss(wrong), word)


def _step_no_zero_grad(model, optimizer, loss_fn, image, label):
    loss = loss_fn(model(image), label)
    loss.backward()
    optimizer.step()
    return loss.item()


def _step_no_update(model, optimizer, loss_fn, image, label):
    optimizer.zero_grad()
    loss = loss_fn(model(image), label)
    loss.backward()
    return loss.item()


def _step_returns_tensor(model, optimizer, loss_fn, image, label):
    optimizer.zero_grad()
    loss = loss_fn(model(image), label)
    loss.backward()
    optimizer.step()
    return loss


@pytest.mark.parametrize(
    ("wrong", "word"),
    [(_step_no_zero_grad, "three steps"), (_step_no_update, "weights"), (_step_returns_tensor, "float")],
)
def test_training_step_catches_mistakes(wrong, word):
    _assert_fails(check_training_step(wrong), word)


def _good_step(model, optimizer, loss_fn, image, label):
    optimizer.zero_grad()
    loss = loss_fn(model(image), label)
    loss.backward()
    optimizer.step()
    return loss.item()


def _loop_no_train_mode(model, optimizer, loss_fn, batches, steps):
    return [_good_step(model, optimizer, loss_fn, *batches[i % len(batches)]) for i in range(steps)]


def _loop_no_cycle(model, optimizer, loss_fn, batches, steps):
    model.train()
    return [_good_step(model, optimizer, loss_fn, *b) for b in batches[:steps]]


@pytest.mark.parametrize(("wrong", "word"), [(_loop_no_train_mode, "training mode"), (_loop_no_cycle, "cycle")])
def test_training_loop_catches_mistakes(wrong, word):
    _assert_fails(check_training_loop(wrong), word)


def _dice_empty_is_one(reference, prediction):
    total = reference.sum() + prediction.sum()
    return 2 * (reference & prediction).sum() / total if total else 1.0


def _dice_is_iou(reference, prediction):
    union = (reference | prediction).sum()
    return (reference & prediction).sum() / union if union else float("nan")


@pytest.mark.parametrize(("wrong", "word"), [(_dice_empty_is_one, "both masks empty"), (_dice_is_iou, "shifted")])
def test_dice_catches_mistakes(wrong, word):
    _assert_fails(check_dice(wrong), word)


def _nsd_voxel_count(reference, prediction, spacing, tolerance_mm):
    from scipy import ndimage

    from amos_tutorial.evaluation.metrics import surface_elements

    (br, _), (bp, _) = surface_elements(reference, spacing), surface_elements(prediction, spacing)
    if not (br.any() and bp.any()):
        return float("nan") if not (br.any() or bp.any()) else 0.0
    near_r = ndimage.distance_transform_edt(~bp, sampling=spacing)[br] <= tolerance_mm
    near_p = ndimage.distance_transform_edt(~br, sampling=spacing)[bp] <= tolerance_mm
    return (near_r.sum() + near_p.sum()) / (br.sum() + bp.sum())  # counts elements, ignores their areas


def _nsd_ignores_spacing(reference, prediction, spacing, tolerance_mm):
    from amos_tutorial.evaluation.metrics import normalized_surface_dice

    return normalized_surface_dice(reference, prediction, 1.0, tolerance_mm)


@pytest.mark.parametrize("wrong", [_nsd_voxel_count, _nsd_ignores_spacing])
def test_nsd_catches_mistakes(wrong):
    _assert_fails(check_nsd(wrong), "expected")


def _window(image, predictor, roi_size, overlap, weight):
    starts = [window_starts(n, r, overlap) for n, r in zip(image.shape[2:], roi_size)]
    out, norm = None, torch.zeros(image.shape[2:])
    for corner in itertools.product(*starts):
        box = tuple(slice(s, s + r) for s, r in zip(corner, roi_size))
        pred = predictor(image[(..., *box)])
        out = torch.zeros(*pred.shape[:2], *image.shape[2:]) if out is None else out
        out[(..., *box)] += pred * weight
        norm[box] += weight
    return out, norm


def _window_plain_average(image, predictor, roi_size, overlap=0.5):
    out, norm = _window(image, predictor, roi_size, overlap, torch.ones(roi_size))
    return out / norm


def _window_unnormalised(image, predictor, roi_size, overlap=0.5):
    return _window(image, predictor, roi_size, overlap, gaussian_weights(roi_size))[0]


def _window_no_overlap(image, predictor, roi_size, overlap=0.5):
    out, norm = _window(image, predictor, roi_size, 0.0, gaussian_weights(roi_size))
    return out / norm


@pytest.mark.parametrize("wrong", [_window_plain_average, _window_unnormalised, _window_no_overlap])
def test_sliding_window_catches_mistakes(wrong):
    _assert_fails(check_sliding_window(wrong), "expected")


@pytest.mark.parametrize(("size", "roi", "overlap"), [(10, 4, 0.5), (9, 4, 0.5), (17, 8, 0.25), (8, 8, 0.5), (13, 5, 0.0), (5, 3, 0.9)])
def test_window_starts_match_monai(size, roi, overlap):
    from monai.inferers.utils import _get_scan_interval
    from monai.data.utils import dense_patch_slices

    interval = _get_scan_interval((size,), (roi,), 1, (overlap,))
    expected = [s[0].start for s in dense_patch_slices((size,), (roi,), interval)]
    assert window_starts(size, roi, overlap) == expected


def test_given_helpers_check_their_arguments():
    with pytest.raises(ValueError, match="roi"):
        window_starts(4, 5, 0.5)
    with pytest.raises(ValueError, match="overlap"):
        window_starts(10, 4, 1.0)
    weights = gaussian_weights((5, 7))
    assert weights.shape == (5, 7)
    assert float(weights.max()) == pytest.approx(1.0)


def test_a_crashing_function_is_one_line_naming_the_input():
    def raises(*args):
        raise ValueError("bad shape\nsecond line of the message")

    result = run_cases("demo", raises, [Case("first input", lambda f: f(1), lambda got: None)])
    assert not result.passed
    assert result.failed_input == "first input"
    assert str(result) == "✗ demo: on input 'first input' it raised ValueError: bad shape"
    with pytest.raises(TypeError, match="function"):
        check_dice("my_dice")


def _largest_6_connected(mask):
    from scipy import ndimage

    labels, n = ndimage.label(mask)  # the default structure: faces only (6-connectivity)
    if n == 0:
        return np.zeros(mask.shape, bool)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == sizes.argmax()


def _first_component(mask):
    from scipy import ndimage

    labels, _ = ndimage.label(mask, structure=np.ones((3, 3, 3), bool))
    return labels == 1


def _largest_counting_background(mask):
    from scipy import ndimage

    labels, _ = ndimage.label(mask, structure=np.ones((3, 3, 3), bool))
    return labels == np.bincount(labels.ravel()).argmax()  # the background is the largest "component"


@pytest.mark.parametrize(
    ("wrong", "word"),
    [(_largest_6_connected, "corner"), (_first_component, "expected"), (_largest_counting_background, "one voxel")],
)
def test_largest_component_catches_mistakes(wrong, word):
    from amos_tutorial.exercises import check_largest_component

    _assert_fails(check_largest_component(wrong), word)
