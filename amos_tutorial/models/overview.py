"""Model facts for the book: architecture family, parameters of each variant, recipe, the memory floor.

Introduced in chapter *Training the baselines*; builds on the model registry
(:func:`~amos_tutorial.models.get_model_spec`, ``build_model_for_patch``, ``count_parameters``).
The figure of these facts is :func:`amos_tutorial.viz.training.plot_model_sizes`.

Examples:
    >>> from amos_tutorial.models.overview import static_memory_gib
    >>> round(static_memory_gib(2**30 / 4, "adamw"), 2)
    4.0
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

__all__ = ["MODEL_FAMILIES", "model_overview", "optimizer_state_factor", "static_memory_gib"]


#: Architecture family of each built-in model (a model registered later is shown as ``"other"``).
MODEL_FAMILIES: dict[str, str] = {
    "nnunet": "CNN",
    "unet": "CNN",
    "vnet": "CNN",
    "segresnet": "CNN",
    "resenc": "CNN",
    "unetr": "transformer encoder",
    "swinunetr": "transformer encoder",
    "cotr": "CNN + transformer",
    "nnformer": "CNN + transformer",
}


# Optimiser states kept per parameter: SGD with momentum keeps one buffer, Adam/AdamW two.
_STATES = {"sgd": 1, "adam": 2, "adamw": 2}


def optimizer_state_factor(optimizer: str | Mapping[str, Any]) -> int:
    """Number of optimiser state tensors kept per parameter tensor.

    Introduced in chapter *Training the baselines*. SGD with momentum keeps one buffer (the
    velocity), Adam and AdamW two (first and second moments), SGD without momentum none.

    Args:
        optimizer: A name (``"sgd"``, ``"adam"``, ``"adamw"``) or a recipe dict with ``"name"``
            (and ``"momentum"`` for SGD).

    Returns:
        0, 1 or 2.

    Raises:
        ValueError: For an unknown optimiser name.

    Examples:
        >>> optimizer_state_factor({"name": "sgd", "lr": 0.01, "momentum": 0.99})
        1
        >>> optimizer_state_factor("adamw")
        2
    """
    recipe = {"name": optimizer} if isinstance(optimizer, str) else dict(optimizer)
    name = str(recipe.get("name", "")).lower()
    if name not in _STATES:
        raise ValueError(f"unknown optimizer {recipe.get('name')!r}; known: {', '.join(sorted(_STATES))}")
    if name == "sgd" and isinstance(optimizer, Mapping) and not float(recipe.get("momentum", 0.0)):
        return 0
    return _STATES[name]


def static_memory_gib(params: int | float, optimizer: str | Mapping[str, Any] = "sgd", bytes_per_value: int = 4) -> float:
    """Memory of weights, gradients and optimiser states: the floor below any training run.

    Introduced in chapter *Training the baselines*. ``params x bytes x (1 weight + 1 gradient +
    optimiser states)``, in GiB. Mixed precision does not shrink it: autocast keeps the weights,
    gradients and states in fp32. Activations come on top and usually dominate in 3-D
    segmentation; they depend on the patch and batch and have to be measured.

    Args:
        params: Number of parameters.
        optimizer: See :func:`optimizer_state_factor`.
        bytes_per_value: 4 for fp32 master weights.

    Returns:
        GiB.

    Raises:
        ValueError: For a negative parameter count or a non-positive ``bytes_per_value``.

    Examples:
        >>> round(static_memory_gib(2**30 / 4, "adamw"), 2)   # 2**28 parameters with AdamW
        4.0
    """
    if not isinstance(params, (int, float)) or params < 0 or not math.isfinite(params):
        raise ValueError(f"params must be a non-negative number, got {params!r}")
    if bytes_per_value <= 0:
        raise ValueError(f"bytes_per_value must be positive, got {bytes_per_value!r}")
    return float(params) * bytes_per_value * (2 + optimizer_state_factor(optimizer)) / 2**30


def model_overview(names: Sequence[str] | None = None, variants: Sequence[str] = ("full", "tiny")) -> pd.DataFrame:
    """One row per registered model: family, parameters of each variant, recipe, static memory.

    Introduced in chapter *Training the baselines*; builds on
    :func:`amos_tutorial.models.build_model_for_patch` and ``count_parameters``. Each model is built
    once per variant on the CPU at the variant's recommended patch (a few seconds for all of them).

    Args:
        names: Registry names (default: every registered model whose optional modules are installed; the
            others are listed in ``frame.attrs["unavailable"]``).
        variants: Which variants to count (``"full"``, ``"tiny"``).

    Returns:
        Columns ``model, family, params_<variant>_M`` (one per variant), ``patch`` (x x y x z of the
        full recipe), ``batch``, ``optimizer``, ``lr``, ``schedule``, ``deep_supervision``,
        ``static_GiB`` (weights + gradients + optimiser states of the full variant, see
        :func:`static_memory_gib`; only when ``"full"`` is among ``variants``) and ``paper``.

    Raises:
        KeyError: For an unknown model (the message lists the registered ones).
        ValueError: For an unknown variant or an empty list of variants.

    Examples:
        >>> bool(model_overview(["unet"], variants=["tiny"]).loc[0, "params_tiny_M"] < 0.1)
        True
    """
    from amos_tutorial.models import available_models, build_model_for_patch, count_parameters, get_model_spec, list_models

    variants = list(variants)
    if not variants or any(v not in ("full", "tiny") for v in variants):
        raise ValueError(f"variants must be a non-empty list of 'full'/'tiny', got {variants!r}")
    unavailable = [] if names is not None else sorted(set(list_models()) - set(available_models()))
    names = available_models() if names is None else list(names)
    rows = []
    for name in names:
        spec = get_model_spec(name)
        row: dict[str, Any] = {"model": name, "family": MODEL_FAMILIES.get(name, "other")}
        counts = {}
        for variant in variants:
            patch, _ = spec.recipe_for(variant)
            net = build_model_for_patch(name, variant, patch_size=patch)
            counts[variant] = count_parameters(net)
            row[f"params_{variant}_M"] = counts[variant] / 1e6
            del net
        row.update(
            patch="x".join(str(p) for p in spec.patch_size),
            batch=spec.batch_size,
            optimizer=str(spec.optimizer.get("name", "")),
            lr=float(spec.optimizer.get("lr", float("nan"))),
            schedule=str(spec.schedule.get("name", "")),
            deep_supervision=bool(spec.deep_supervision),
        )
        if "full" in counts:
            row["static_GiB"] = static_memory_gib(counts["full"], spec.optimizer)
        row["paper"] = spec.paper
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame.attrs["unavailable"] = unavailable
    return frame
