"""Build-it-yourself exercises: every checker passes the book's solution and fails plausible wrong ones.

The right solutions are taken from the chapters themselves (the cells tagged ``solution``), so a solution
edited into something wrong fails here; the wrong ones are the mistakes students make, and answers that hand
the work to the package or to MONAI. The exercise cells of each chapter run in the chapter's order with the
skeletons (cells tagged ``exercise-skeleton``) unchanged: every check says "not implemented yet" (run-all
checks the student's code, never the solution), and every solution, which comes after its check, passes.
"""

from __future__ import annotations

import contextlib
import functools
import io
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
from amos_tutorial.exercises._check import Case, load_fixture, run_cases

BOOK = REPO_ROOT / "book"
CHECK_CALL = re.compile(r"^(check_\w+)\((my_\w+)\)\s*$")


def _tagged(nb, tag: str) -> list:
    return [c for c in nb.cells if tag in c.metadata.get("tags", [])]


def _exercise_chapters() -> list[Path]:
    return [p for p in sorted(BOOK.glob("*.ipynb")) if _tagged(nbformat.read(p, as_version=4), "exercise-skeleton")]


def _run_chapter_exercises(path: Path, nb=None) -> tuple[list, list[str]]:
    """Execute a chapter's exercise cells in the chapter's order (of ``nb`` when given), skeletons unchanged.

    Returns:
        The results of the check cells, and the lines the solution cells print (their own checks).
    """
    nb = nbformat.read(path, as_version=4) if nb is None else nb
    namespace: dict = {"__name__": "__main__"}
    results, printed = [], []
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if cell.cell_type != "code":
            continue
        if "exercise-skeleton" in tags or "solution" in tags:
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(compile(cell.source, f"{path.name}:{'solution' if 'solution' in tags else 'skeleton'}", "exec"), namespace)
            printed += out.getvalue().splitlines()
        elif "exercise-check" in tags:
            match = CHECK_CALL.match(cell.source.strip())
            assert match, f"{path.name}: a check cell must be one call check_x(my_x), got {cell.source!r}"
            results.append(eval(cell.source, namespace))  # noqa: S307 - the book's own cell
    return results, printed


EXERCISE_CHAPTERS = _exercise_chapters()


def test_every_checker_is_used_by_a_chapter():
    used = set()
    for path in EXERCISE_CHAPTERS:
        for cell in _tagged(nbformat.read(path, as_version=4), "exercise-check"):
            used.add(CHECK_CALL.match(cell.source.strip()).group(1))
    import amos_tutorial.exercises as ex

    assert used == {name for name in ex.__all__ if name.startswith("check_")}


@pytest.mark.parametrize("path", EXERCISE_CHAPTERS, ids=[p.stem for p in EXERCISE_CHAPTERS])
def test_run_all_checks_the_students_code_and_the_solutions_pass(path):
    nb = nbformat.read(path, as_version=4)
    for cell in _tagged(nb, "exercise-skeleton"):
        assert 'raise NotImplementedError("Student exercise: ' in cell.source
    results, printed = _run_chapter_exercises(path)
    assert results
    for result in results:
        assert not result.passed, str(result)
        assert not result.implemented, str(result)
        assert NOT_IMPLEMENTED in str(result)
        assert "Student exercise" in str(result)
        assert "\n" not in str(result)
    assert len(printed) == len(results)
    for line in printed:
        assert line.startswith("✓"), line


def test_chapter_order_puts_every_solution_after_its_check():
    from amos_tutorial.exercises.editions import solution_problems

    for path in EXERCISE_CHAPTERS:
        assert solution_problems(nbformat.read(path, as_version=4)) == [], path.name
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("def my_f():\n    raise NotImplementedError"),
            nbformat.v4.new_code_cell("# @title Solution (hidden: click to show the code)\ndef my_f():\n    return 1"),
            nbformat.v4.new_code_cell("check_f(my_f)"),
        ]
    )
    nb.cells[0].metadata["tags"] = ["exercise-skeleton"]
    nb.cells[1].metadata.update({"tags": ["solution", "hide-input"], "jupyter": {"source_hidden": True}, "cellView": "form"})
    nb.cells[2].metadata["tags"] = ["exercise-check"]
    problems = solution_problems(nb)
    assert len(problems) == 2
    assert "redefines my_f" in problems[0]
    assert "runs before this check" in problems[1]


def test_stored_fixtures_match_their_references():
    import exercise_fixtures

    for name in exercise_fixtures.BUILDERS:
        built, stored = exercise_fixtures.build(name), load_fixture(name)
        assert sorted(built) == sorted(stored), name
        for key, value in built.items():
            np.testing.assert_allclose(stored[key], value, rtol=1e-6, atol=1e-7, err_msg=f"{name}: {key}")


def test_a_missing_fixture_is_one_line_naming_the_file():
    with pytest.raises(FileNotFoundError, match="no_such_fixture.npz"):
        load_fixture("no_such_fixture")


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


def test_stored_resampling_is_monais_spacing():
    import exercise_fixtures

    from monai.data import MetaTensor
    from monai.transforms import Spacing

    volume = np.random.default_rng(1).normal(size=(12, 9, 5)).astype(np.float32)
    spacing, target = (0.7, 2.0, 5.0), (1.5, 1.5, 2.0)
    image = MetaTensor(torch.from_numpy(volume)[None], affine=torch.diag(torch.tensor([*spacing, 1.0], dtype=torch.float64)))
    out = Spacing(pixdim=target, mode="bilinear", padding_mode="border", align_corners=True)(image)
    np.testing.assert_allclose(exercise_fixtures.resample_spacing(volume, spacing, target), out[0].numpy(), atol=1e-5)


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


@pytest.mark.parametrize("wrong", [_nsd_voxel_count])
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


# --- answers that are not the student's own, and answers of the wrong type ---------------------------


def _dice_through_module(reference, prediction):
    from amos_tutorial.evaluation import metrics

    return metrics.dice(reference, prediction)


def _nsd_ignores_spacing(reference, prediction, spacing, tolerance_mm):
    from amos_tutorial.evaluation.metrics import normalized_surface_dice

    return normalized_surface_dice(reference, prediction, 1.0, tolerance_mm)


def _monai_loss():
    from monai.losses import DiceCELoss

    return DiceCELoss(to_onehot_y=True, softmax=True)


def _monai_window(image, predictor, roi_size, overlap=0.5):
    from monai.inferers import sliding_window_inference

    return sliding_window_inference(image, roi_size, 1, predictor, overlap=overlap, mode="gaussian")


class _LossModule(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = _monai_loss()

    def forward(self, logits, target):
        return self.inner(logits, target)


def _delegating_answers():
    from amos_tutorial.evaluation import metrics
    from amos_tutorial.evaluation.postprocess import apply_rules

    def largest(mask):
        return apply_rules(mask.astype(np.uint8), (1, 1, 1), []) > 0

    return [
        ("dice is the package's", check_dice, metrics.dice),
        ("dice through the metrics module", check_dice, _dice_through_module),
        ("dice as a partial", check_dice, functools.partial(metrics.dice)),
        ("nsd is the package's", check_nsd, metrics.normalized_surface_dice),
        ("nsd calls the package's", check_nsd, _nsd_ignores_spacing),
        ("loss is MONAI's instance", check_dice_ce_loss, _monai_loss()),
        ("loss module wrapping MONAI's", check_dice_ce_loss, _LossModule()),
        ("sliding window is MONAI's", check_sliding_window, _monai_window),
        ("largest component through apply_rules", __import__("amos_tutorial.exercises", fromlist=["x"]).check_largest_component, largest),
        ("lambda around the package's dice", check_dice, lambda r, p: metrics.dice(r, p)),
    ]


@pytest.mark.parametrize(("name", "checker", "answer"), _delegating_answers(), ids=[a[0] for a in _delegating_answers()])
def test_delegating_answers_fail_in_one_line(name, checker, answer):
    result = checker(answer)
    text = str(result)
    assert not result.passed, text
    assert "\n" not in text
    assert "not your own code" in text, text
    assert "amos_tutorial" in text or "monai" in text, text


def test_given_helpers_are_not_delegation():
    from amos_tutorial.exercises._check import delegation

    def uses_helpers(image, predictor, roi_size, overlap=0.5):
        return gaussian_weights(roi_size), window_starts(image.shape[2], roi_size[0], overlap)

    assert delegation(uses_helpers, given=(gaussian_weights, window_starts)) is None
    assert delegation(uses_helpers) is not None


def _patch_not_centred(label, patch_size, rng):
    shape, patch = np.array(label.shape), np.array(patch_size)
    organs = np.unique(label[label > 0])
    if len(organs) == 0:
        return tuple(int(rng.integers(0, s + 1)) for s in shape - patch)
    voxels = np.argwhere(label == rng.choice(organs))
    return tuple(int(v) for v in np.clip(voxels[rng.integers(len(voxels))], 0, shape - patch))  # forgot - patch // 2


def _patch_empty_from_0_or_1(label, patch_size, rng):
    shape, patch = np.array(label.shape), np.array(patch_size)
    organs = np.unique(label[label > 0])
    if len(organs) == 0:
        return tuple(int(rng.integers(0, 2)) for _ in shape)  # two distinct starts, but not uniform
    voxels = np.argwhere(label == rng.choice(organs))
    return tuple(int(v) for v in np.clip(voxels[rng.integers(len(voxels))] - patch // 2, 0, shape - patch))


@pytest.mark.parametrize(("wrong", "word"), [(_patch_not_centred, "patch centre"), (_patch_empty_from_0_or_1, "uniformly")])
def test_patch_sampling_catches_the_two_wrong_answers_that_used_to_pass(wrong, word):
    _assert_fails(check_patch_sampling(wrong), word)


def test_a_numeric_string_is_not_an_answer():
    result = check_dice(lambda reference, prediction: "0.5")
    assert not result.passed
    assert "got text '0.5'" in str(result), str(result)
    result = check_window_level(lambda image, level, width: np.full(np.shape(image), "0.5"))
    assert not result.passed
    assert "text" in str(result), str(result)


def _spacing_median_only(spacings, shapes):
    return np.median(np.asarray(spacings, float), axis=0)


def _spacing_no_floor(spacings, shapes):
    spacings = np.asarray(spacings, float)
    target, size = np.median(spacings, axis=0), np.median(np.asarray(shapes, float), axis=0)
    worst = int(np.argmax(target))
    others = [a for a in range(3) if a != worst]
    if target[worst] > 3 * max(target[others]) and size[worst] * 3 < min(size[others]):
        target[worst] = np.percentile(spacings[:, worst], 10)  # may end up finer than the in-plane spacing
    return target


def _spacing_z_always_last(spacings, shapes):
    spacings = np.asarray(spacings, float)
    target, size = np.median(spacings, axis=0), np.median(np.asarray(shapes, float), axis=0)
    if target[2] > 3 * max(target[:2]) and size[2] * 3 < min(size[:2]):
        target[2] = max(np.percentile(spacings[:, 2], 10), max(target[:2]) + 1e-5)
    return target


@pytest.mark.parametrize(
    ("wrong", "word"),
    [(_spacing_median_only, "AMOS-like"), (_spacing_no_floor, "in-plane"), (_spacing_z_always_last, "coarse axis first")],
)
def test_target_spacing_catches_mistakes(wrong, word):
    from amos_tutorial.exercises import check_target_spacing

    _assert_fails(check_target_spacing(wrong), word)


def _mri_no_clip(image):
    image = np.asarray(image, float)
    std = image.std()
    return (image - image.mean()) / (std if std > 0 else 1.0)


def _mri_sample_std(image):
    image = np.clip(np.asarray(image, float), *np.percentile(image, [0.5, 99.5]))
    std = image.std(ddof=1)
    return (image - image.mean()) / (std if std > 0 else 1.0)


def _mri_constant_nan(image):
    image = np.clip(np.asarray(image, float), *np.percentile(image, [0.5, 99.5]))
    return (image - image.mean()) / image.std()


@pytest.mark.parametrize(
    ("wrong", "word"), [(_mri_no_clip, "bright"), (_mri_sample_std, "expected"), (_mri_constant_nan, "constant")]
)
def test_mri_normalisation_catches_mistakes(wrong, word):
    from amos_tutorial.exercises import check_mri_normalisation

    with np.errstate(invalid="ignore", divide="ignore"):
        _assert_fails(check_mri_normalisation(wrong), word)


def test_the_packages_normalisation_is_delegation():
    from amos_tutorial.exercises import check_mri_normalisation
    from amos_tutorial.transforms.preprocessing import PreprocessConfig, _normalise

    def through_package(image):
        return _normalise(torch.as_tensor(np.asarray(image, float)), "MRI", PreprocessConfig()).numpy()

    assert "not your own code" in str(check_mri_normalisation(through_package))


def test_a_solved_chapter_passes_every_check():
    from amos_tutorial.exercises.autograder import solved_notebook

    for path in EXERCISE_CHAPTERS:
        solved = solved_notebook(nbformat.read(path, as_version=4))
        solved.cells = [c for c in solved.cells if "solution" not in c.metadata.get("tags", [])]
        results, _ = _run_chapter_exercises(path, solved)
        assert results, path.name
        for result in results:
            assert result.passed, f"{path.name}: {result}"


#: Chapters whose reuse cell runs the student's function in the package's pipeline, and the column it shows.
REUSE_CELLS = {"training": "your my_dice_ce", "evaluation": "your my_sliding_window"}


def _table(output) -> list[list[str]]:
    return [line.split() for line in output["data"]["text/plain"].splitlines()]


@pytest.mark.slow
@pytest.mark.notebook
@pytest.mark.parametrize("chapter", sorted(REUSE_CELLS))
def test_the_reuse_cell_runs_in_its_chapter_once_the_exercise_is_solved(chapter, tmp_path):
    """The chapter up to its reuse cell, every exercise cell solved: the student's function runs in the pipeline."""
    from conftest import chapter_executor

    from amos_tutorial.exercises.autograder import solved_notebook

    nb = solved_notebook(nbformat.read(BOOK / f"{chapter}.ipynb", as_version=4))
    reuse = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "not_done_line(" in c.source]
    assert len(reuse) == 1, chapter
    nb.cells = nb.cells[: reuse[0] + 1]
    path = tmp_path / f"{chapter}.ipynb"
    nbformat.write(nb, path)
    executor = chapter_executor()
    executor.exec_cwd = str(BOOK)
    final = executor.check(str(path)).nb_final
    errors = [o for c in final.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors, errors[0]["evalue"] if errors else ""
    outputs = final.cells[-1].outputs
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "Not reused yet" not in text
    tables = [o for o in outputs if o.output_type in ("display_data", "execute_result") and "text/plain" in o.get("data", {})]
    assert len(tables) == 1, text
    header, *rows = _table(tables[0])
    assert REUSE_CELLS[chapter].split()[-1] in header
    values = {" ".join(row[:-2]): [float(v) for v in row[-2:]] for row in rows}
    if chapter == "training":  # the student's loss trained the whole quick schedule
        assert values["steps"][0] == values["steps"][1] > 0
        assert 0.0 <= values["best validation Dice"][1] <= 1.0
    else:  # the solved window is the Gaussian one: the same scores as the package's
        assert set(values) == {"dsc", "nsd"}
        for package, yours in values.values():
            assert 0.0 <= yours <= 1.0
            assert yours == pytest.approx(package, abs=1e-3)
