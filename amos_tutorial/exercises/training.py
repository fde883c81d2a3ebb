"""Checkers of the training exercises: the Dice + cross-entropy loss, one training step, a training loop.

Introduced in chapter *Training the baselines*. The loss is compared with MONAI's ``DiceCELoss`` (value and
gradient), the step and the loop with a reference run of the same tiny 3-D network from the same weights.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from amos_tutorial.exercises._check import Case, CheckResult, compare_arrays, compare_numbers, run_cases

__all__ = [
    "check_dice_ce_loss",
    "check_training_loop",
    "check_training_step",
    "reference_dice_ce_loss",
    "reference_training_step",
    "tiny_segmenter",
]

_SEED = 0


def reference_dice_ce_loss() -> torch.nn.Module:
    """MONAI's ``DiceCELoss`` as the book uses it: softmax, one-hot labels, background included, means."""
    from monai.losses import DiceCELoss

    return DiceCELoss(to_onehot_y=True, softmax=True)


def _loss_case(name: str, logits: torch.Tensor, target: torch.Tensor) -> Case:
    def run(fn: Callable) -> tuple[Any, Any]:
        x = logits.clone().requires_grad_(True)
        got = fn(x, target.clone())
        if not isinstance(got, torch.Tensor):
            return got, None
        if got.requires_grad:
            got.backward()
        return got, x.grad

    def judge(answer: tuple[Any, Any]) -> str | None:
        got, grad = answer
        x = logits.clone().requires_grad_(True)
        expected = reference_dice_ce_loss()(x, target)
        expected.backward()
        if not isinstance(got, torch.Tensor):
            return f"expected a scalar torch.Tensor (to call .backward() on), got {type(got).__name__}"
        if got.numel() != 1:
            return f"expected a scalar loss, got a tensor of shape {tuple(got.shape)}"
        problem = compare_numbers(float(expected.detach()), float(got.detach()), atol=1e-5, rtol=1e-4, what="loss")
        if problem:
            return problem
        if grad is None:
            return "expected a loss that gradients flow through (got.requires_grad is False)"
        return compare_arrays(x.grad, grad, atol=1e-6, rtol=1e-3, what="gradient w.r.t. the logits")

    return Case(name, run, judge)


def check_dice_ce_loss(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> CheckResult:
    """Check ``fn(logits, target) -> scalar loss`` against MONAI's ``DiceCELoss(to_onehot_y=True, softmax=True)``.

    ``logits`` is ``(B, C, *spatial)``, ``target`` holds class indices ``(B, 1, *spatial)``. Inputs: a random
    3-D batch, a class absent from the target, one 2-D image, a target of background only, and very large
    logits (a naive ``exp`` overflows). Value and gradient must match.
    """
    g = torch.Generator().manual_seed(_SEED)
    logits = torch.randn(2, 4, 6, 5, 4, generator=g)
    target = torch.randint(0, 4, (2, 1, 6, 5, 4), generator=g)
    absent = target.clone()
    absent[absent == 3] = 1
    cases = [
        _loss_case("random 3-D batch, 4 classes", logits, target),
        _loss_case("class 3 absent from the target", logits, absent),
        _loss_case("one 2-D image, 3 classes", torch.randn(1, 3, 8, 8, generator=g), torch.randint(0, 3, (1, 1, 8, 8), generator=g)),
        _loss_case("target is background only", logits, torch.zeros_like(target)),
        _loss_case("very large logits (x1000)", logits * 1000.0, target),
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


def reference_training_step(model, optimizer, loss_fn, image, label) -> float:
    """The expected answer of the training-step exercise."""
    optimizer.zero_grad()
    loss = loss_fn(model(image), label)
    loss.backward()
    optimizer.step()
    return loss.item()


def _batches(count: int, batch: int = 2, seed: int = _SEED) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(batch, 1, 6, 6, 4, generator=g), torch.randint(0, 3, (batch, 1, 6, 6, 4), generator=g))
        for _ in range(count)
    ]


def _setup() -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    model = tiny_segmenter()
    return model, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)


def _judge_run(got_losses: Any, got_model: torch.nn.Module, expected: list[float], ref_model: torch.nn.Module) -> str | None:
    if not isinstance(got_losses, list) or not all(isinstance(v, float) for v in got_losses):
        kinds = sorted({type(v).__name__ for v in got_losses}) if isinstance(got_losses, (list, tuple)) else []
        return f"expected a list of Python floats (loss.item()), got {type(got_losses).__name__} of {kinds}"
    if len(got_losses) != len(expected):
        return f"expected {len(expected)} losses, got {len(got_losses)}"
    for i, (e, g) in enumerate(zip(expected, got_losses)):
        problem = compare_numbers(e, g, atol=1e-5, rtol=1e-4, what=f"loss of step {i + 1}")
        if problem:
            return problem
    for (name, e), g in zip(ref_model.state_dict().items(), got_model.state_dict().values()):
        problem = compare_arrays(e, g, atol=1e-5, rtol=1e-4, what=f"weights '{name}' after the steps")
        if problem:
            return problem
    return None


def _step_case(name: str, batches: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> Case:
    def run(fn: Callable) -> tuple[Any, torch.nn.Module]:
        model, optimizer = _setup()
        model.train()
        losses = []
        for image, label in batches:
            value = fn(model, optimizer, reference_dice_ce_loss(), image, label)
            if not isinstance(value, float):
                return value, model
            losses.append(value)
        return losses, model

    def judge(answer: tuple[Any, torch.nn.Module]) -> str | None:
        got, model = answer
        if not isinstance(got, list):
            return f"expected a Python float (loss.item()), got {type(got).__name__}"
        ref, optimizer = _setup()
        ref.train()
        expected = [reference_training_step(ref, optimizer, reference_dice_ce_loss(), x, y) for x, y in batches]
        return _judge_run(got, model, expected, ref)

    return Case(name, run, judge)


def check_training_step(fn: Callable[..., float]) -> CheckResult:
    """Check ``fn(model, optimizer, loss_fn, image, label) -> float`` (one optimisation step).

    Runs the step on a tiny 3-D network with SGD and momentum and compares the returned loss (computed
    before the update) and the weights afterwards with a reference step. Inputs: one step, three steps in a
    row (gradients of one step must not leak into the next), and a batch of one.
    """
    cases = [
        _step_case("one step", _batches(1)),
        _step_case("three steps in a row", _batches(3)),
        _step_case("a batch of one", _batches(1, batch=1, seed=1)),
    ]
    return run_cases("training step", fn, cases)


def _reference_loop(model, optimizer, loss_fn, batches, steps) -> list[float]:
    model.train()
    return [reference_training_step(model, optimizer, loss_fn, *batches[i % len(batches)]) for i in range(steps)]


def _loop_case(name: str, batches: list, steps: int) -> Case:
    def run(fn: Callable) -> tuple[Any, torch.nn.Module]:
        model, optimizer = _setup()
        model.eval()  # the loop must switch the network to training mode itself
        return fn(model, optimizer, reference_dice_ce_loss(), list(batches), steps), model

    def judge(answer: tuple[Any, torch.nn.Module]) -> str | None:
        got, model = answer
        ref, optimizer = _setup()
        expected = _reference_loop(ref, optimizer, reference_dice_ce_loss(), batches, steps)
        if not model.training:
            return "expected the model in training mode after the loop (call model.train()), got eval mode"
        return _judge_run(got, model, expected, ref)

    return Case(name, run, judge)


def check_training_loop(fn: Callable[..., list[float]]) -> CheckResult:
    """Check ``fn(model, optimizer, loss_fn, batches, steps) -> list of losses`` (a minimal training loop).

    The loop puts the model in training mode, runs ``steps`` training steps on ``batches[0], batches[1], ...``
    starting again from the first batch when they run out, and returns the loss of every step. Inputs: fewer
    steps than batches, more steps than batches (cycling), a model handed over in eval mode, and zero steps.
    """
    batches = _batches(3)
    cases = [
        _loop_case("2 steps over 3 batches", batches, 2),
        _loop_case("5 steps over 3 batches (cycle)", batches, 5),
        _loop_case("zero steps", batches, 0),
    ]
    return run_cases("training loop", fn, cases)
