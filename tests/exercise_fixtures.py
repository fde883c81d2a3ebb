"""The stored inputs and expected answers of the exercise checkers, and the reference code that made them.

The checkers in :mod:`amos_tutorial.exercises` read ``amos_tutorial/exercises/fixtures/<name>.npz`` and never
import a reference implementation, so a student cannot hand the work to one. This file (outside the
installed package) builds those arrays from the references: MONAI (``DiceCELoss``, ``Spacing``'s grid,
``sliding_window_inference``), :mod:`amos_tutorial.evaluation` (DSC, NSD, the ``largest_component`` rule) and
the book's formulas. ``tests/test_exercises.py`` rebuilds them and compares with the stored files.

Rewrite the fixtures after changing an input or a reference::

    PYTHONPATH=. python tests/exercise_fixtures.py
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import numpy as np
import torch

from amos_tutorial.exercises.evaluation import _PositionNet

FIXTURES = Path(__file__).resolve().parents[1] / "amos_tutorial" / "exercises" / "fixtures"
SEED = 0


def window_level(image: np.ndarray, level: float, width: float) -> np.ndarray:
    """HU ``level ± width/2`` mapped linearly to 0..1, clipped."""
    low = float(level) - float(width) / 2.0
    return np.clip((np.asarray(image, dtype=np.float64) - low) / float(width), 0.0, 1.0)


def resample_spacing(volume: np.ndarray, spacing, target) -> np.ndarray:
    """Linear resampling on MONAI ``Spacing``'s grid (``align_corners=True``, border padding)."""
    out = np.asarray(volume, dtype=np.float64)
    for axis, (s, t) in enumerate(zip(spacing, target)):
        n = out.shape[axis]
        m = int(np.round((n - 1) * float(s) / float(t))) + 1
        coord = np.clip(np.arange(m) * float(t) / float(s), 0.0, n - 1.0)
        lo = np.floor(coord).astype(int)
        hi = np.minimum(lo + 1, n - 1)
        shape = [1] * out.ndim
        shape[axis] = m
        w = (coord - lo).reshape(shape)
        out = np.take(out, lo, axis=axis) * (1 - w) + np.take(out, hi, axis=axis) * w
    return out


def dice_ce_loss() -> torch.nn.Module:
    """MONAI's ``DiceCELoss`` as the book uses it."""
    from monai.losses import DiceCELoss

    return DiceCELoss(to_onehot_y=True, softmax=True)


def training_step(model, optimizer, loss_fn, image, label) -> float:
    optimizer.zero_grad()
    loss = loss_fn(model(image), label)
    loss.backward()
    optimizer.step()
    return loss.item()


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The package's ``largest_component`` rule on one boolean mask (given as the liver, label 6)."""
    from amos_tutorial.evaluation.postprocess import Rule, apply_rules

    label_map = np.where(np.asarray(mask, bool), 6, 0).astype(np.uint8)
    return np.asarray(apply_rules(label_map, (1.0, 1.0, 1.0), [Rule("largest_component", (6,))])) == 6


def _window_level() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(SEED)
    volume = rng.uniform(-1024, 1500, size=(6, 5, 4))
    edges = np.array([[-160.0, 40.0, 240.0, -161.0, 241.0]])
    stored = rng.integers(-1024, 2000, size=(8, 8)).astype(np.int16)
    inputs = [(volume, 40.0, 400.0), (volume, 37.5, 425.0), (edges, 40.0, 400.0), (stored, 50.0, 350.0), (np.array([[[100.0]]]), 40.0, 400.0)]
    out = {}
    for i, (x, level, width) in enumerate(inputs):
        out |= {f"c{i}_image": x, f"c{i}_window": np.array([level, width]), f"c{i}_expected": window_level(x, level, width)}
    return out


def _resample_spacing() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(SEED)
    inputs = [
        (rng.normal(size=(12, 10, 5)), (0.7, 0.7, 5.0), (1.5, 1.5, 2.0)),
        (rng.normal(size=(5, 4, 3)), (1.5, 1.5, 2.0), (1.5, 1.5, 2.0)),
        (rng.normal(size=(9, 4, 3)), (2.0, 1.5, 2.0), (1.5, 1.5, 2.0)),
        (rng.normal(size=(6, 6, 1)), (1.0, 1.0, 5.0), (1.5, 1.5, 2.0)),
    ]
    out = {}
    for i, (x, s, t) in enumerate(inputs):
        out |= {f"c{i}_volume": x, f"c{i}_spacing": np.array(s), f"c{i}_target": np.array(t), f"c{i}_expected": resample_spacing(x, s, t)}
    return out


def _mask_pairs() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(SEED)
    ref = np.zeros((16, 14, 8), bool)
    ref[3:12, 2:10, 2:6] = True
    one = np.zeros((5, 5, 5), bool)
    one[2, 2, 2] = True
    empty = np.zeros((5, 5, 5), bool)
    disk = np.zeros((20, 20), bool)
    yy, xx = np.mgrid[:20, :20]
    disk[(yy - 10) ** 2 + (xx - 9) ** 2 < 30] = True
    return [
        (ref, np.roll(ref, 2, axis=0)),
        (ref, ref ^ (rng.random(ref.shape) < 0.1)),
        (ref, ref.copy()),
        (one, one.copy()),
        (empty, one),
        (empty, empty.copy()),
        (disk, np.roll(disk, 3, axis=1)),
    ]


NSD_SETTINGS = [
    ((1.0, 1.0, 1.0), 1.0), ((0.7, 0.7, 5.0), 2.0), ((1.0, 1.0, 1.0), 1.0), ((0.7, 0.7, 5.0), 1.0),
    ((1.0, 1.0, 1.0), 2.0), ((1.0, 1.0, 1.0), 2.0), ((0.8, 1.2), 2.0),
]  # fmt: skip


def _metrics() -> dict[str, np.ndarray]:
    from amos_tutorial.evaluation.metrics import dice, normalized_surface_dice

    out = {}
    for i, ((r, p), (spacing, tol)) in enumerate(zip(_mask_pairs(), NSD_SETTINGS)):
        out |= {
            f"c{i}_reference": r,
            f"c{i}_prediction": p,
            f"c{i}_dice": np.array(dice(r, p)),
            f"c{i}_spacing": np.array(spacing),
            f"c{i}_tolerance": np.array(tol),
            f"c{i}_nsd": np.array(normalized_surface_dice(r, p, spacing, tol)),
        }
    return out


def _dice_ce_loss() -> dict[str, np.ndarray]:
    g = torch.Generator().manual_seed(SEED)
    logits = torch.randn(2, 4, 6, 5, 4, generator=g)
    target = torch.randint(0, 4, (2, 1, 6, 5, 4), generator=g)
    absent = target.clone()
    absent[absent == 3] = 1
    inputs = [
        (logits, target),
        (logits, absent),
        (torch.randn(1, 3, 8, 8, generator=g), torch.randint(0, 3, (1, 1, 8, 8), generator=g)),
        (logits, torch.zeros_like(target)),
        (logits * 1000.0, target),
    ]
    out = {}
    for i, (x, y) in enumerate(inputs):
        x = x.clone().requires_grad_(True)
        loss = dice_ce_loss()(x, y)
        loss.backward()
        out |= {f"c{i}_logits": x.detach().numpy(), f"c{i}_target": y.numpy(), f"c{i}_loss": loss.detach().numpy(), f"c{i}_grad": x.grad.numpy()}
    return out


def _tiny_segmenter(classes: int = 3) -> torch.nn.Module:
    torch.manual_seed(SEED)
    return torch.nn.Sequential(
        torch.nn.Conv3d(1, 4, 3, padding=1), torch.nn.BatchNorm3d(4), torch.nn.ReLU(), torch.nn.Conv3d(4, classes, 1)
    )


def _batches(count: int, batch: int = 2, seed: int = SEED):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(batch, 1, 6, 6, 4, generator=g), torch.randint(0, 3, (batch, 1, 6, 6, 4), generator=g)) for _ in range(count)]


#: (name, batches key, number of steps) of the step checker (one step per batch) and the loop checker.
STEP_CASES = [("one step", "three", 1), ("three steps in a row", "three", 3), ("a batch of one", "single", 1)]
LOOP_CASES = [("2 steps over 3 batches", "three", 2), ("5 steps over 3 batches (cycle)", "three", 5), ("zero steps", "three", 0)]


def _training() -> dict[str, np.ndarray]:
    model = _tiny_segmenter()
    out = {f"init_{k}": v.numpy().copy() for k, v in model.state_dict().items()}
    batches = {"three": _batches(3), "single": _batches(1, batch=1, seed=1)}
    for key, items in batches.items():
        for j, (x, y) in enumerate(items):
            out |= {f"{key}{j}_image": x.numpy(), f"{key}{j}_label": y.numpy()}
    for kind, cases in (("step", STEP_CASES), ("loop", LOOP_CASES)):
        for i, (_, key, steps) in enumerate(cases):
            model = _tiny_segmenter()
            model.load_state_dict({k: torch.from_numpy(out[f"init_{k}"]) for k in model.state_dict()})
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
            model.train()
            items = batches[key]
            losses = [training_step(model, optimizer, dice_ce_loss(), *items[s % len(items)]) for s in range(steps)]
            out[f"{kind}{i}_losses"] = np.array(losses, dtype=np.float64)
            out |= {f"{kind}{i}_w_{k}": v.numpy().copy() for k, v in model.state_dict().items()}
    return out


# The checker's own predictor, whose answer depends on the position in the window: the fixtures must use it.
PositionNet = _PositionNet


#: (predictor: classes of the position network, or 0 for the 1x1 convolution), roi, overlap of each input.
WINDOW_CASES = [(2, (8, 8, 4), 0.5), (3, (6, 6, 4), 0.5), (2, (8, 6, 5), 0.25), (0, (6, 6, 4), 0.5), (2, (8, 8, 4), 0.5)]


def _sliding_window() -> dict[str, np.ndarray]:
    from monai.inferers import sliding_window_inference

    g = torch.Generator().manual_seed(SEED)
    torch.manual_seed(SEED)
    conv = torch.nn.Conv3d(2, 3, 1).eval()
    shapes = [(1, 1, 20, 18, 12), (1, 1, 9, 16, 4), (1, 1, 17, 11, 9), (1, 2, 12, 12, 6), (1, 1, 8, 8, 4)]
    out = {"conv_weight": conv.weight.detach().numpy().copy(), "conv_bias": conv.bias.detach().numpy().copy()}
    for i, (shape, (classes, roi, overlap)) in enumerate(zip(shapes, WINDOW_CASES)):
        image = torch.randn(*shape, generator=g)
        predictor = PositionNet(classes) if classes else conv
        with torch.no_grad():
            expected = sliding_window_inference(image, roi, 1, predictor, overlap=overlap, mode="gaussian", sigma_scale=0.125)
        out |= {f"c{i}_image": image.numpy(), f"c{i}_expected": torch.as_tensor(expected).numpy()}
    return out


def _component_masks() -> list[np.ndarray]:
    two = np.zeros((12, 12, 8), bool)
    two[1:6, 1:6, 1:5] = True
    two[8:10, 8:10, 5:7] = True
    diagonal = np.zeros((10, 10, 10), bool)
    diagonal[1:4, 1:4, 1:4] = True
    diagonal[4:6, 4:6, 4:6] = True
    diagonal[8, 0, 8] = True
    edge = np.zeros((8, 8, 8), bool)
    edge[1:3, 1:3, 1:3] = True
    edge[3, 3, 1:6] = True
    edge[6:8, 6:8, 6:8] = True
    islands = np.zeros((16, 16, 6), bool)
    rng = np.random.default_rng(SEED)
    islands[2:10, 2:10, 1:5] = True
    for x, y, z in rng.integers(0, [16, 16, 6], size=(6, 3)):
        if not islands[max(x - 1, 0) : x + 2, max(y - 1, 0) : y + 2, max(z - 1, 0) : z + 2].any():
            islands[x, y, z] = True
    one = np.zeros((5, 5, 5), bool)
    one[2, 2, 2] = True
    return [one, two, diagonal, edge, islands, np.zeros((6, 6, 6), bool)]


def _largest_component() -> dict[str, np.ndarray]:
    out = {}
    for i, mask in enumerate(_component_masks()):
        out |= {f"c{i}_mask": mask, f"c{i}_expected": largest_component(mask)}
    return out


ANISO_THRESHOLD = 3  # nnunetv2.configuration.ANISO_THRESHOLD


def target_spacing(spacings: np.ndarray, shapes: np.ndarray) -> np.ndarray:
    """nnU-Net v2's ``ExperimentPlanner.determine_fullres_target_spacing`` (a copy, without the override)."""
    spacings = np.vstack(spacings).astype(np.float64)
    target = np.percentile(spacings, 50, 0)
    target_size = np.percentile(np.vstack(shapes), 50, 0)
    worst = int(np.argmax(target))
    other = [i for i in range(len(target)) if i != worst]
    other_spacings = [target[i] for i in other]
    other_sizes = [target_size[i] for i in other]
    aniso_spacing = target[worst] > ANISO_THRESHOLD * max(other_spacings)
    aniso_voxels = target_size[worst] * ANISO_THRESHOLD < min(other_sizes)
    if aniso_spacing and aniso_voxels:
        value = np.percentile(spacings[:, worst], 10)
        if value < max(other_spacings):
            value = max(max(other_spacings), value) + 1e-5
        target[worst] = value
    return target


def _target_spacing() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(SEED)
    n = 20
    inplane = rng.uniform(0.6, 0.9, n)
    amos_z = rng.choice([1.25, 2.5, 5.0, 5.0, 5.0, 5.0], n)
    inputs = [
        (np.c_[inplane, inplane, rng.uniform(0.8, 1.2, n)], np.c_[np.full(n, 512), np.full(n, 512), rng.integers(200, 400, n)]),
        (np.c_[inplane, inplane, amos_z], np.c_[np.full(n, 512), np.full(n, 512), rng.integers(60, 160, n)]),
        (np.c_[inplane, inplane, np.full(n, 5.0)], np.c_[np.full(n, 512), np.full(n, 512), rng.integers(300, 500, n)]),
        (np.c_[np.full(n, 1.5), np.full(n, 1.5), np.r_[np.full(6, 1.0), np.full(n - 6, 5.0)]], np.c_[np.full(n, 256), np.full(n, 256), np.full(n, 40)]),
        (np.c_[amos_z, inplane, inplane], np.c_[rng.integers(60, 160, n), np.full(n, 512), np.full(n, 512)]),
        (np.array([[0.7, 0.7, 5.0]]), np.array([[512, 512, 90]])),
    ]
    out = {}
    for i, (spacings, shapes) in enumerate(inputs):
        out |= {f"c{i}_spacings": spacings, f"c{i}_shapes": shapes.astype(np.int64), f"c{i}_expected": target_spacing(spacings, shapes)}
    return out


def mri_normalisation(image: np.ndarray) -> np.ndarray:
    """The package's MRI normalisation (``transforms.preprocessing._normalise``): percentile clip, then z-score."""
    from amos_tutorial.transforms.preprocessing import PreprocessConfig, _normalise

    tensor = torch.as_tensor(np.asarray(image, dtype=np.float64))
    return _normalise(tensor, "MRI", PreprocessConfig()).numpy()


def _mri_normalisation() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(SEED)
    mri = rng.gamma(2.0, 150.0, size=(10, 9, 6))
    mri[0, 0, :3] = 20000.0  # a few very bright voxels: the clip matters
    inputs = [mri, rng.normal(-50, 30, size=(6, 6, 4)), np.full((4, 4, 3), 7.0),
              rng.integers(0, 1200, size=(8, 8, 5)).astype(np.int16), np.arange(8.0).reshape(2, 2, 2)]
    out = {}
    for i, x in enumerate(inputs):
        out |= {f"c{i}_image": x, f"c{i}_expected": mri_normalisation(x)}
    return out


BUILDERS = {
    "window_level": _window_level,
    "resample_spacing": _resample_spacing,
    "metrics": _metrics,
    "dice_ce_loss": _dice_ce_loss,
    "training": _training,
    "sliding_window": _sliding_window,
    "largest_component": _largest_component,
    "target_spacing": _target_spacing,
    "mri_normalisation": _mri_normalisation,
}


def build(name: str) -> dict[str, np.ndarray]:
    """The arrays of fixture ``name``, computed from the references."""
    return {key: np.asarray(value) for key, value in BUILDERS[name]().items()}


def write(names=None) -> list[Path]:
    """Write the fixtures (atomically: a temporary file, then a rename) and return their paths."""
    FIXTURES.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names or BUILDERS:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **build(name))
        path = FIXTURES / f"{name}.npz"
        tmp = path.with_suffix(".npz.tmp")
        tmp.write_bytes(buffer.getvalue())
        os.replace(tmp, path)
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write(sys.argv[1:] or None):
        print(f"{path}: {path.stat().st_size} bytes")
