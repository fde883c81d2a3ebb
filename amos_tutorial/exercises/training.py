"""Checkers of the training exercises: the Dice + cross-entropy loss, one training step, a training loop.

Introduced in chapter *Training the baselines*. The loss must match MONAI's ``DiceCELoss`` in value and
gradient; the step and the loop must give the losses and the weights of a reference run of the same tiny 3-D
network from the same weights. The expected answers are stored fixtures.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from amos_tutorial.exercises._check import Case, CheckResult, compare_arrays, compare_numbers, load_fixture, run_cases

__all__ = ["check_dice_ce_loss", "check_training_loop", "check_training_step", "tiny_segmenter"]

_SEED = 0


def _given_loss() -> torch.nn.Module:
    """The loss handed to the student's step and loop (given, not written by the student)."""
    from monai.losses import DiceCELoss

    return DiceCELoss(to_onehot_y=True, softmax=True)


def _loss_case(name: str, logits: torch.Tensor, target: torch.Tensor, loss: float, grad: np.ndarray) -> Case:
    def run(fn: Callable) -> tuple[Any, Any]:
        x = logits.clone().requires_grad_(True)
        got = fn(x, target.clone())
        if not isinstance(got, torch.Tensor):
            return got, None
        if got.requires_grad:
            got.backward()
        return got, x.grad

    def judge(answer: tuple[Any, Any]) -> str | None:
        got, got_grad = answer
        if not isinstance(got, torch.Tensor):
            return f"expected a scalar torch.Tensor (to call .backward() on), got {type(got).__name__}"
        if got.numel() != 1:
            return f"expected a scalar loss, got a tensor of shape {tuple(got.shape)}"
        problem = compare_numbers(loss, float(got.detach()), atol=1e-5, rtol=1e-4, what="loss")
        if problem:
            return problem
        if got_grad is None:
            return "expected a loss that gradients flow through (got.requires_grad is False)"
        return compare_arrays(grad, got_grad, atol=1e-6, rtol=1e-3, what="gradient w.r.t. the logits")

    return Case(name, run, judge)


_LOSS_INPUTS = [
    "random 3-D batch, 4 classes",
    "class 3 absent from the target",
    "one 2-D image, 3 classes",
    "target is background only",
    "very large logits (x1000)",
]


def check_dice_ce_loss(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> CheckResult:
    """Check ``fn(logits, target) -> scalar loss``: soft Dice (softmax, one-hot, ε = 1e-5, mean) + mean cross-entropy.

    ``logits`` is ``(B, C, *spatial)``, ``target`` holds class indices ``(B, 1, *spatial)``. Inputs: a random
    3-D batch, a class absent from the target, one 2-D image, a target of background only, and very large
    logits (a naive ``exp`` overflows). Value and gradient must match the stored ones.
    """
    data = load_fixture("dice_ce_loss")
    cases = [
        _loss_case(
            name,
            torch.from_numpy(data[f"c{i}_logits"]),
            torch.from_numpy(data[f"c{i}_target"]),
            float(data[f"c{i}_loss"]),
            data[f"c{i}_grad"],
        )
        for i, name in enumerate(_LOSS_INPUTS)
    ]
    return run_cases("Dice + cross-entropy loss", fn, cases)


def tiny_segmenter(classes: int = 3, seed: int = _SEED) -> torch.nn.Module:
    """A deterministic 3-D network of a few hundred weights (convolution, batch norm, convolution)."""
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv3d(1, 4, 3, padding=1),
        torch.nn.BatchNorm3d(4),
        torch.nn.ReLU(),
        torch.nn.Conv3d(4, classes, 1),
    )


def _setup(data: dict[str, np.ndarray]) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    model = tiny_segmenter()
    model.load_state_dict({k: torch.from_numpy(data[f"init_{k}"]) for k in model.state_dict()})
    return model, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)


def _batches(data: dict[str, np.ndarray], key: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
    count = sum(1 for k in data if k.startswith(key) and k.endswith("_image"))
    return [(torch.from_numpy(data[f"{key}{j}_image"]), torch.from_numpy(data[f"{key}{j}_label"])) for j in range(count)]


def _judge_run(got_losses: Any, got_model: torch.nn.Module, data: dict[str, np.ndarray], prefix: str) -> str | None:
    expected = data[f"{prefix}_losses"].tolist()
    if not isinstance(got_losses, list) or not all(isinstance(v, float) for v in got_losses):
        kinds = sorted({type(v).__name__ for v in got_losses}) if isinstance(got_losses, (list, tuple)) else []
        return f"expected a list of Python floats (loss.item()), got {type(got_losses).__name__} of {kinds}"
    if len(got_losses) != len(expected):
        return f"expected {len(expected)} losses, got {len(got_losses)}"
    for i, (e, g) in enumerate(zip(expected, got_losses)):
        problem = compare_numbers(e, g, atol=1e-5, rtol=1e-4, what=f"loss of step {i + 1}")
        if problem:
            return problem
    for name, g in got_model.state_dict().items():
        problem = compare_arrays(data[f"{prefix}_w_{name}"], g, atol=1e-5, rtol=1e-4, what=f"weights '{name}' after the steps")
        if problem:
            return problem
    return None


#: (name, batches, number of steps) of each input; the same lists as ``tests/exercise_fixtures.py``.
_STEP_INPUTS = [("one step", "three", 1), ("three steps in a row", "three", 3), ("a batch of one", "single", 1)]
_LOOP_INPUTS = [("2 steps over 3 batches", "three", 2), ("5 steps over 3 batches (cycle)", "three", 5), ("zero steps", "three", 0)]


def _step_case(name: str, data: dict[str, np.ndarray], batches: Sequence[tuple[torch.Tensor, torch.Tensor]], prefix: str) -> Case:
    def run(fn: Callable) -> tuple[Any, torch.nn.Module]:
        model, optimizer = _setup(data)
        model.train()
        losses = []
        for image, label in batches:
            value = fn(model, optimizer, _given_loss(), image, label)
            if not isinstance(value, float):
                return value, model
            losses.append(value)
        return losses, model

    def judge(answer: tuple[Any, torch.nn.Module]) -> str | None:
        got, model = answer
        if not isinstance(got, list):
            return f"expected a Python float (loss.item()), got {type(got).__name__}"
        return _judge_run(got, model, data, prefix)

    return Case(name, run, judge)


def check_training_step(fn: Callable[..., float]) -> CheckResult:
    """Check ``fn(model, optimizer, loss_fn, image, label) -> float`` (one optimisation step).

    Runs the step on a tiny 3-D network with SGD and momentum and compares the returned loss (computed
    before the update) and the weights afterwards with a stored reference run. Inputs: one step, three steps
    in a row (gradients of one step must not leak into the next), and a batch of one.
    """
    data = load_fixture("training")
    cases = [
        _step_case(name, data, _batches(data, key)[:steps], f"step{i}") for i, (name, key, steps) in enumerate(_STEP_INPUTS)
    ]
    return run_cases("training step", fn, cases)


def _loop_case(name: str, data: dict[str, np.ndarray], batches: list, steps: int, prefix: str) -> Case:
    def run(fn: Callable) -> tuple[Any, torch.nn.Module]:
        model, optimizer = _setup(data)
        model.eval()  # the loop must switch the network to training mode itself
        return fn(model, optimizer, _given_loss(), list(batches), steps), model

    def judge(answer: tuple[Any, torch.nn.Module]) -> str | None:
        got, model = answer
        if not model.training:
            return "expected the model in training mode after the loop (call model.train()), got eval mode"
        return _judge_run(got, model, data, prefix)

    return Case(name, run, judge)


def check_training_loop(fn: Callable[..., list[float]]) -> CheckResult:
    """Check ``fn(model, optimizer, loss_fn, batches, steps) -> list of losses`` (a minimal training loop).

    The loop puts the model in training mode, runs ``steps`` training steps on ``batches[0], batches[1], ...``
    starting again from the first batch when they run out, and returns the loss of every step. Inputs: fewer
    steps than batches, more steps than batches (cycling), a model handed over in eval mode, and zero steps.
    """
    data = load_fixture("training")
    cases = [
        _loop_case(name, data, _batches(data, key), steps, f"loop{i}") for i, (name, key, steps) in enumerate(_LOOP_INPUTS)
    ]
    return run_cases("training loop", fn, cases)
