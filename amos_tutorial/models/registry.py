"""Model registry: name -> factory with the recommended training recipe.

Introduced in chapter *Training the baselines*. The registry is open: any module can add a model
with :func:`register_model` (CoTr and nnFormer, written in plain PyTorch, register themselves the
same way as the MONAI networks).

Examples:
    >>> from amos_tutorial.models import get_model_spec, build_model
    >>> spec = get_model_spec("unet")                      # doctest: +SKIP
    >>> net = build_model("unet", variant="tiny")          # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch.nn as nn

__all__ = [
    "DEFAULT_VARIANTS",
    "ModelSpec",
    "QUICK_PATCH_SIZE",
    "all_variants",
    "available_models",
    "build_model",
    "get_model_spec",
    "list_models",
    "register_model",
    "unregister_model",
]

#: The variants every model builds: the recipe's network and a tiny one for CPU smoke runs.
DEFAULT_VARIANTS: tuple[str, ...] = ("full", "tiny")


@dataclass(frozen=True)
class ModelSpec:
    """A registered baseline and its recommended recipe.

    Attributes:
        name: Registry name (``"unet"``, ``"nnunet"``...).
        factory: ``factory(in_channels, out_channels, variant) -> nn.Module`` where ``variant`` is one
            of ``variants``.
        patch_size: Recommended training patch (x, y, z) in voxels for the full variant.
        batch_size: Recommended batch size for the full variant.
        optimizer: Optimiser recipe, e.g. ``{"name": "sgd", "lr": 1e-2, "momentum": 0.99, "nesterov": True}``.
        schedule: Learning-rate schedule, e.g. ``{"name": "poly", "power": 0.9}``.
        tiny_patch_size: Patch for the CPU smoke ``tiny`` variant.
        tiny_batch_size: Batch size for the ``tiny`` variant.
        quick_patch_size: Patch of the tiny variant in the ``quick`` preset (``None``: ``tiny_patch_size``).
            :data:`QUICK_PATCH_SIZE` where the tiny network accepts it.
        deep_supervision: Whether the model returns several outputs in training mode.
        divisible_by: Every patch dimension must be a multiple of this.
        paper: Citation key / short reference of the architecture's paper.
        description: One-line idea of the architecture.
        extra: Free-form extra facts (published parameter counts etc.).
        variants: The variants the factory builds (default ``("full", "tiny")``). ``"full"`` is the
            recipe's network and ``"tiny"`` the CPU smoke network; a model may add named sizes (``resenc``:
            nnU-Net's ``"M"`` and ``"L"``).
        variant_recipes: Patch and batch of named variants other than ``"full"`` and ``"tiny"``:
            ``{"L": {"patch_size": (192, 192, 192), "batch_size": 2}}``; a variant missing here trains
            with ``patch_size`` / ``batch_size``.
        requires: Modules of an optional extra the factory imports (``resenc``: ``dynamic_network_architectures``);
            :func:`available_models` leaves the model out while one is missing.
    """

    name: str
    factory: Callable[[int, int, str], nn.Module]
    patch_size: tuple[int, int, int]
    batch_size: int
    optimizer: dict[str, Any]
    schedule: dict[str, Any]
    tiny_patch_size: tuple[int, int, int] = (32, 32, 32)
    tiny_batch_size: int = 2
    quick_patch_size: tuple[int, int, int] | None = None
    deep_supervision: bool = False
    divisible_by: int = 16
    paper: str = ""
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    variants: tuple[str, ...] = DEFAULT_VARIANTS
    variant_recipes: dict[str, dict[str, Any]] = field(default_factory=dict)
    requires: tuple[str, ...] = ()

    def missing_modules(self) -> list[str]:
        """The modules of :attr:`requires` that are not installed."""
        import importlib.util

        return [m for m in self.requires if importlib.util.find_spec(m) is None]

    def check_variant(self, variant: str) -> str:
        """Return ``variant`` if this model builds it.

        Raises:
            ValueError: Naming the model, the bad value and the model's variants.

        Examples:
            >>> get_model_spec("unet").check_variant("tiny")
            'tiny'
        """
        if variant not in self.variants:
            raise ValueError(f"{self.name}: variant must be one of {list(self.variants)}, got {variant!r}")
        return variant

    def recipe_for(self, variant: str) -> tuple[tuple[int, int, int], int]:
        """The recommended ``(patch_size, batch_size)`` of a variant.

        Examples:
            >>> get_model_spec("unet").recipe_for("tiny")
            ((32, 32, 32), 2)
        """
        self.check_variant(variant)
        if variant == "tiny":
            return tuple(self.tiny_patch_size), int(self.tiny_batch_size)
        recipe = self.variant_recipes.get(variant, {})
        patch = tuple(int(p) for p in recipe.get("patch_size", self.patch_size))
        return patch, int(recipe.get("batch_size", self.batch_size))  # type: ignore[return-value]


_REGISTRY: dict[str, ModelSpec] = {}

#: Patch of the ``quick`` preset for the tiny networks that accept it. The synthetic volumes measure about
#: 27 x 25 x 21 voxels on the quick preset's 3 x 3 x 4 mm grid, so a 24^3 patch still holds most of one,
#: where a 32^3 patch is mostly padding; each step costs 0.4x as much (DynUNet tiny, batch 2, one thread,
#: measured on the 2-core machine: 0.145 s against 0.365 s), and the quick DynUNet's validation Dice after
#: 600 steps rose from 0.09 to 0.17.
QUICK_PATCH_SIZE: tuple[int, int, int] = (24, 24, 24)


def register_model(spec: ModelSpec, overwrite: bool = False) -> ModelSpec:
    """Add a model to the registry.

    Args:
        spec: The model's spec.
        overwrite: Replace an existing entry of the same name.

    Raises:
        ValueError: If the name is taken and ``overwrite`` is False.
    """
    if spec.name in _REGISTRY and not overwrite:
        raise ValueError(f"model {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def unregister_model(name: str) -> ModelSpec:
    """Remove a model from the registry and return its spec (tests and notebooks that add a model for a while).

    Raises:
        KeyError: If no model has that name.
    """
    _ensure_builtin()
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; registered models: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY.pop(name)


def _ensure_builtin() -> None:
    # Importing the package registers the built-in models (kept lazy so the registry module stays light).
    import amos_tutorial.models  # noqa: F401


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    _ensure_builtin()
    return sorted(_REGISTRY)


def available_models() -> list[str]:
    """Names of the registered models whose optional modules are installed, sorted."""
    _ensure_builtin()
    return sorted(name for name, spec in _REGISTRY.items() if not spec.missing_modules())


def get_model_spec(name: str) -> ModelSpec:
    """Return the spec of a registered model.

    Raises:
        KeyError: With the list of known names, if ``name`` is unknown.
    """
    _ensure_builtin()
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; registered models: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def all_variants() -> tuple[str, ...]:
    """Every variant name some registered model builds, sorted (the choices of ``--variant``)."""
    _ensure_builtin()
    return tuple(sorted({v for spec in _REGISTRY.values() for v in spec.variants}))


def build_model(name: str, variant: str = "full", in_channels: int = 1, out_channels: int = 16) -> nn.Module:
    """Instantiate a registered model.

    Args:
        name: Registry name.
        variant: ``"full"`` (the recipe's network), ``"tiny"`` (a small network for CPU smoke runs) or
            another of the model's ``variants``.
        in_channels: Input channels (1 for CT or MRI).
        out_channels: Classes including background (16 for AMOS).

    Raises:
        ValueError: For a variant the model does not build.
        ImportError: When a module the model needs is not installed (one line naming it and the extra).
    """
    spec = get_model_spec(name)
    missing = spec.missing_modules()
    if missing:
        from amos_tutorial._meta import EXTRA_MODULES, install_spec

        extra = min((e for e, mods in EXTRA_MODULES.items() if missing[0] in mods), key=lambda e: len(EXTRA_MODULES[e]))
        raise ImportError(f"model {name!r} needs {missing[0]}, which is not installed: pip install \"{install_spec(extra)}\"")
    return spec.factory(in_channels, out_channels, spec.check_variant(variant))
