"""The training configuration: one dataclass, five presets, saved as ``RUN_DIR/config.json``.

Introduced in chapter *Training the baselines*. A run is fully described by a :class:`TrainConfig`:
the model and its variant, the patch, the optimiser and schedule recipe, the preprocessing, the
seed... :func:`make_config` fills it from the model's registry recipe and a preset:

* ``smoke``: the model's tiny variant and tiny patch, a few dozen iterations, one validation at the
  end. Meant to check that everything runs, on one CPU core, in well under a minute per model.
  The networks do not learn anything in so few steps.
* ``quick``: the tiny variant on a coarse grid (3 x 3 x 4 mm), on a 24^3 patch where the network
  accepts one (:data:`~amos_tutorial.models.registry.QUICK_PATCH_SIZE`; the transformers keep their
  32^3 tiny patch), Adam at 1e-2 for 600 steps, validated every 100 steps: one to six minutes per model
  on one CPU core, and long enough for the fastest learners to find the large organs of the synthetic
  data. Mean validation Dice over liver, spleen and kidneys after the 600 steps (2 synthetic validation
  cases; over all 15 organs in brackets), measured on 2026-12-06 with the 24^3 patch (one thread of a busy
  2-core CPU, seconds per run): UNet 0.68 (0.35, 92 s), DynUNet/nnU-Net 0.19 (0.17, 98 s), VNet 0.31
  (0.10, 409 s), SegResNet 0.19 (0.05, 169 s). The transformers on their 32^3 patch, measured by an
  earlier version of the package and not re-measured: CoTr 0.81 (0.40), Swin UNETR 0.56 (0.15), UNETR
  0.19 (0.05), nnFormer 0.02 (0.03). A ranking of how fast tiny networks learn, not of the
  architectures. Meant for the chapters' demonstrations and a first check that a pipeline learns; far
  from an AMOS result (a coarse grid, a tiny network, 0.24 % of the recipe's steps).
* ``course``: for a course pack (``amos data pack``) on a free Colab T4: the full network on the pack's
  own grid, a small patch, :data:`COURSE_ITERATIONS` Adam steps. Sized to train in minutes there; NOT
  measured on a T4 here (see :data:`COURSE_ITERATIONS`).
* ``full``: the recipe of the AMOS baselines (see :mod:`amos_tutorial.models.monai_nets`), e.g.
  1000 epochs x 250 iterations, patch (160, 160, 64), SGD with poly decay for the CNNs.

Examples:
    >>> cfg = make_config("unet", preset="smoke", iterations=20)
    >>> cfg.variant, cfg.iterations, cfg.patch_size
    ('tiny', 20, (32, 32, 32))
    >>> TrainConfig.from_dict(cfg.to_dict()) == cfg
    True
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from amos_tutorial.data.manifest import PACK_SPACING
from amos_tutorial.data.tasks import get_task
from amos_tutorial.training.rundir import CONFIG_FILE
from amos_tutorial.utils.geometry import check_patch_size
from amos_tutorial.utils.io import atomic_write_text

__all__ = [
    "AMP_MODES",
    "COURSE_ITERATIONS",
    "COURSE_PATCH_SIZE",
    "COURSE_VAL_CASES",
    "MRI_PATCH_SIZE",
    "PRESETS",
    "TrainConfig",
    "load_config",
    "make_config",
    "save_config",
]

#: Steps of the ``course`` preset. A choice, NOT a measurement: at an assumed 0.1-0.3 s per step of the full
#: UNet/nnU-Net on a free Colab T4 (fp16, patch :data:`COURSE_PATCH_SIZE`, batch 2) the 1,500 steps take
#: about 3-8 minutes; nobody has timed them on a T4 for this package (``amos bench speed`` does, there).
COURSE_ITERATIONS = 1500
#: Patch of the ``course`` preset, in voxels of the pack's grid (:data:`~amos_tutorial.data.manifest.PACK_SPACING`,
#: 2 x 2 x 3 mm): 192 x 192 x 192 mm of a body, about half an abdomen's width.
COURSE_PATCH_SIZE: tuple[int, int, int] = (96, 96, 64)
#: Validation cases of the ``course`` preset: a pack's validation split holds more (its choice balances the splits);
#: a few keep each validation short on a T4.
COURSE_VAL_CASES = 4

#: What each preset sets on top of the model's registry recipe.
PRESETS: dict[str, dict[str, Any]] = {
    "smoke": {
        "variant": "tiny",
        "iterations": 40,
        "iterations_per_epoch": 10,
        "val_every": 0,
        "val_cases": 2,
        "sw_overlap": 0.25,
        "sw_batch_size": 4,
    },
    "quick": {
        "variant": "tiny",
        "iterations": 600,
        "iterations_per_epoch": 100,
        "val_every": 1,
        "val_cases": 2,
        "sw_overlap": 0.25,
        "sw_batch_size": 4,
        # Adam converges in hundreds of steps where the recipes' SGD (momentum 0.99) needs thousands.
        "optimizer": {"name": "adam", "lr": 1e-2},
        "schedule": {"name": "poly", "power": 0.9},
        # Merged into the default preprocessing: a coarse grid makes every step and validation cheap.
        "preprocess": {"spacing": [3.0, 3.0, 4.0]},
    },
    # Free Colab with one T4 (16 GB, fp16): the full network with its recipe's patch, optimiser and schedule
    # shape, 6 % of the recipe's steps. AN ESTIMATE, NOT MEASURED: at roughly 0.5-1 s per step on a T4 the
    # 15,000 steps take about 2-4 h of GPU time, spread over sessions with --stop-after and --resume.
    "colab": {
        "variant": "full",
        "iterations": 15_000,
        "iterations_per_epoch": 250,
        "val_every": 10,
        "val_cases": 5,
        "sw_overlap": 0.25,
        "sw_batch_size": 1,
    },
    # A course pack on a free Colab T4: the pack is already on its coarse grid, so the preprocessing keeps it.
    "course": {
        "variant": "full",
        "patch_size": COURSE_PATCH_SIZE,
        "batch_size": 2,
        "iterations": COURSE_ITERATIONS,
        "iterations_per_epoch": 250,
        "val_every": 2,
        "val_cases": COURSE_VAL_CASES,
        "sw_overlap": 0.25,
        "sw_batch_size": 2,
        "optimizer": {"name": "adam", "lr": 1e-3},
        "schedule": {"name": "poly", "power": 0.9},
        "preprocess": {"spacing": list(PACK_SPACING)},
    },
    "full": {
        "variant": "full",
        # iterations and iterations_per_epoch come from the model's schedule (1000 x 250).
        "val_every": 50,
        "val_cases": 10,
        "sw_overlap": 0.5,
        "sw_batch_size": 2,
    },
}

AMP_MODES = ("auto", "bf16", "fp16", "off")


#: The organisers' patch for training on MRI alone, in this package's (x, y, z) order. Their nnU-Net code
#: writes it 48 x 160 x 224 in (z, y, x); their patch for CT and for CT+MRI, 64 x 160 x 160, is the
#: recipes' ``(160, 160, 64)``. MRI alone is not a challenge task, so no preset picks it: pass it as
#: ``patch_size=MRI_PATCH_SIZE`` (``--patch-size 224,160,48``) to train on MRI cases only, and note that
#: the in-plane order (224 along x) follows our reading of their axis order.
MRI_PATCH_SIZE: tuple[int, int, int] = (224, 160, 48)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (written to ``RUN_DIR/config.json``).

    Introduced in chapter *Training the baselines*.

    Attributes:
        model: Registry name (``"nnunet"``, ``"unet"``...).
        variant: ``"full"``, ``"tiny"`` or another variant of the model (``ModelSpec.variants``, e.g.
            ``"M"`` / ``"L"`` for ``resenc``).
        preset: Preset it was made from (``"smoke"``, ``"quick"``, ``"colab"``, ``"full"``), for the record.
        data: Data folder or ``"synthetic"``.
        patch_size: Training patch (x, y, z) in voxels of the preprocessed grid.
        batch_size: Patches per step and per process (with DDP the global batch is
            ``batch_size * world_size``).
        iterations: Total optimiser steps of the run.
        iterations_per_epoch: Steps per "epoch" (nnU-Net's 250): the unit of logging, checkpoints
            and validation.
        val_every: Validate every this many epochs; 0 validates only at the end (always done).
        val_cases: Labelled cases used for validation (the AMOS validation split when it has labels,
            otherwise held out of the training split). Ignored when ``fold`` is set.
        fold: nnU-Net's cross-validation fold (0-4, see :mod:`amos_tutorial.data.splits`): train on the
            fold's training cases and validate on all its validation cases, drawn from every labelled
            case (training and validation splits), as nnU-Net's Task 2 does. None: the split above.
        optimizer: ``{"name": "sgd"|"adamw"|"adam", "lr": ..., ...}`` (keyword arguments of the torch optimiser).
        schedule: ``{"name": "poly", "power": 0.9}``, ``{"name": "cosine", "warmup_fraction": 0.02}``
            or ``{"name": "constant"}``, stretched over ``iterations``.
        grad_clip: Gradient-norm clipping (nnU-Net: 12); None disables it.
        deep_supervision: Train on every output of a deep-supervision model (nnU-Net weights).
        preprocess: ``PreprocessConfig.to_dict()``.
        seed: Seed of the weights' initialisation, the patch sampler and the RNGs.
        deterministic: Ask torch for deterministic algorithms (slower on GPU).
        amp: ``"auto"`` (bf16 where supported, fp16 + GradScaler on older GPUs, fp32 on CPU),
            ``"bf16"``, ``"fp16"`` or ``"off"``.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``.
        sw_overlap: Sliding-window overlap of the validation.
        sw_batch_size: Windows per forward pass in validation.
        organ_weighted: Centre patches on organs (nnU-Net-style oversampling), see ``PatchSampler``.
        augment: Name of the patch augmentation in
            :data:`~amos_tutorial.transforms.augment.AUGMENTATIONS`: ``"off"``, ``"default"`` or ``"da5"``
            (a subset of nnU-Net's DA5, see :data:`~amos_tutorial.transforms.augment.DA5_OMITTED`). Booleans of older ``config.json`` files are read
            as ``True -> "default"``, ``False -> "off"``.
        cache_dir: Folder of the preprocessed cases; None uses ``<AMOS_CACHE_DIR>/preprocessed/...``.
        memory_budget_gb: RAM for the training cases, passed to ``load_preprocessed``; the cases beyond it are
            memory-mapped. None: :func:`amos_tutorial.transforms.cache.default_memory_budget_gb` (no limit on
            a machine with 16 GB or more, about half the available RAM on a smaller one).
        modality_rule: Id rule for the modality when the metadata does not decide.
        world_size: Processes of the run (1, or the torchrun world size); recorded for resuming.
        task: AMOS task, 1 (train and validate on CT cases only) or 2 (CT and MRI, the default). The
            modality of a case comes from the metadata CSV, else the id rule (``modality_rule``).
    """

    model: str = "unet"
    variant: str = "tiny"
    preset: str = "smoke"
    data: str = "synthetic"
    patch_size: tuple[int, int, int] = (32, 32, 32)
    batch_size: int = 2
    iterations: int = 40
    iterations_per_epoch: int = 10
    val_every: int = 0
    val_cases: int = 2
    fold: int | None = None
    optimizer: dict = field(default_factory=lambda: {"name": "sgd", "lr": 1e-2, "momentum": 0.99, "nesterov": True})
    schedule: dict = field(default_factory=lambda: {"name": "poly", "power": 0.9})
    grad_clip: float | None = 12.0
    deep_supervision: bool = False
    preprocess: dict = field(default_factory=dict)
    seed: int = 0
    deterministic: bool = False
    amp: str = "auto"
    device: str = "auto"
    sw_overlap: float = 0.5
    sw_batch_size: int = 2
    organ_weighted: bool = True
    augment: str = "default"
    cache_dir: str | None = None
    memory_budget_gb: float | None = None
    modality_rule: str = "readme"
    world_size: int = 1
    task: int = 2

    def __post_init__(self) -> None:
        # Normalise JSON lists and check values once, here, so every consumer can trust the config.
        object.__setattr__(self, "patch_size", check_patch_size(self.patch_size))
        object.__setattr__(self, "data", str(self.data))
        self._check_variant()
        object.__setattr__(self, "augment", _augment_name(self.augment))
        for name in ("batch_size", "iterations", "iterations_per_epoch", "val_cases", "world_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        get_task(self.task)
        if self.fold is not None:
            from amos_tutorial.data.splits import DEFAULT_FOLDS

            if not isinstance(self.fold, int) or isinstance(self.fold, bool) or not 0 <= self.fold < DEFAULT_FOLDS:
                raise ValueError(f"fold must be an integer from 0 to {DEFAULT_FOLDS - 1} or None, got {self.fold!r}")
        if not isinstance(self.val_every, int) or self.val_every < 0:
            raise ValueError(f"val_every must be an integer >= 0 (0: only at the end), got {self.val_every!r}")
        if self.amp not in AMP_MODES:
            raise ValueError(f"amp must be one of {AMP_MODES}, got {self.amp!r}")
        if not 0.0 <= float(self.sw_overlap) < 1.0:
            raise ValueError(f"sw_overlap must be in [0, 1), got {self.sw_overlap!r}")
        if self.sw_batch_size < 1:
            raise ValueError(f"sw_batch_size must be >= 1, got {self.sw_batch_size!r}")
        if self.grad_clip is not None and float(self.grad_clip) <= 0:
            raise ValueError(f"grad_clip must be positive or None, got {self.grad_clip!r}")
        for name in ("optimizer", "schedule"):
            d = getattr(self, name)
            if not isinstance(d, Mapping) or "name" not in d:
                raise ValueError(f"{name} must be a dict with a 'name' key, got {d!r}")
            object.__setattr__(self, name, dict(d))
        if "lr" not in self.optimizer or float(self.optimizer["lr"]) <= 0:
            raise ValueError(f"optimizer needs a positive 'lr', got {self.optimizer!r}")

    def _check_variant(self) -> None:
        from amos_tutorial.models.registry import DEFAULT_VARIANTS, get_model_spec

        try:
            variants = get_model_spec(self.model).variants
        except KeyError:  # a model registered later, e.g. in a notebook: only the common variants are known
            variants = DEFAULT_VARIANTS
        if self.variant not in variants:
            raise ValueError(f"{self.model}: variant must be one of {list(variants)}, got {self.variant!r}")

    @property
    def modalities(self) -> tuple[str, ...]:
        """The modalities this run trains and validates on (``("CT",)`` for Task 1)."""
        return get_task(self.task).modalities

    @property
    def epochs(self) -> int:
        """Number of epochs (the last one may be partial)."""
        return -(-self.iterations // self.iterations_per_epoch)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (tuples become lists).

        Examples:
            >>> TrainConfig().to_dict()["patch_size"]
            [32, 32, 32]
        """
        d = asdict(self)
        d["patch_size"] = list(self.patch_size)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrainConfig:
        """Build a config from :meth:`to_dict` output.

        Raises:
            ValueError: On unknown keys, so that a typo in a hand-edited config.json is not ignored.
        """
        if not isinstance(d, Mapping):
            raise ValueError(f"TrainConfig.from_dict expects a mapping, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig keys {unknown}; known keys are {sorted(known)}")
        return cls(**dict(d))

    def replace(self, **changes: Any) -> TrainConfig:
        """Copy with some fields changed (checked like the constructor)."""
        unknown = sorted(set(changes) - {f.name for f in fields(self)})
        if unknown:
            raise ValueError(f"unknown TrainConfig keys {unknown}")
        return replace(self, **changes)


def make_config(
    model: str, preset: str = "smoke", data: str | os.PathLike = "synthetic", **overrides: Any
) -> TrainConfig:
    """Build a :class:`TrainConfig` from a model's registry recipe, a preset and explicit overrides.

    Introduced in chapter *Training the baselines*. Builds on the model registry
    (:mod:`amos_tutorial.models`) and ``PreprocessConfig``.

    Precedence: ``overrides`` > ``preset`` > the model's recipe (patch, batch size, optimiser,
    schedule, deep supervision). The ``full`` preset takes its length from the recipe
    (``schedule["epochs"] * schedule["iterations_per_epoch"]``).

    Args:
        model: Registry name.
        preset: ``"smoke"``, ``"quick"``, ``"colab"`` or ``"full"`` (:data:`PRESETS`).
        data: Data folder or ``"synthetic"``.
        **overrides: Any :class:`TrainConfig` field (``iterations=100``, ``patch_size=(64, 64, 32)``,
            ``task=1``...). ``lr=`` is accepted as a shortcut for the optimiser's learning rate.

    Returns:
        The config.

    Raises:
        KeyError: For an unknown model.
        ValueError: For an unknown preset or override.

    Examples:
        >>> make_config("nnunet", preset="full").iterations
        250000
        >>> quick = make_config("unet", preset="quick")
        >>> quick.optimizer["name"], quick.iterations, quick.preprocess["spacing"]
        ('adam', 600, [3.0, 3.0, 4.0])
    """
    from amos_tutorial.models import get_model_spec
    from amos_tutorial.transforms.preprocessing import PreprocessConfig

    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    spec = get_model_spec(model)
    settings = dict(PRESETS[preset])
    preset_patch, preset_batch = spec.recipe_for(settings["variant"])
    if preset == "quick" and spec.quick_patch_size is not None:
        preset_patch = tuple(spec.quick_patch_size)
    sched = dict(spec.schedule)
    # The recipe's budget becomes iterations / iterations_per_epoch; the schedule keeps only its shape.
    recipe_ipe = int(sched.pop("iterations_per_epoch", 250))
    recipe_epochs = int(sched.pop("epochs", 1000))
    # A relative data folder would break `--resume` from another directory.
    data = str(data) if str(data) == "synthetic" else str(Path(data).expanduser().resolve())
    base: dict[str, Any] = {
        "model": model,
        "preset": preset,
        "data": data,
        "patch_size": preset_patch,
        "batch_size": preset_batch,
        "iterations": recipe_epochs * recipe_ipe,
        "iterations_per_epoch": recipe_ipe,
        "optimizer": dict(spec.optimizer),
        "schedule": sched,
        "deep_supervision": bool(spec.deep_supervision),
        "preprocess": PreprocessConfig().to_dict(),
    }
    # A preset's preprocessing is a partial dict merged into the default (e.g. only the spacing).
    base["preprocess"] = {**base["preprocess"], **settings.pop("preprocess", {})}
    base.update(settings)
    overrides = dict(overrides)
    if "lr" in overrides:
        lr = overrides.pop("lr")
        if lr is not None:
            base["optimizer"] = {**base["optimizer"], "lr": float(lr)}
    if "variant" in overrides and overrides["variant"] is not None and "patch_size" not in overrides:
        # Changing the variant alone also changes the recommended patch and batch.
        base["patch_size"], base["batch_size"] = spec.recipe_for(overrides["variant"])
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown training options {unknown}; known options are {sorted(known | {'lr'})}")
    base.update({k: v for k, v in overrides.items() if v is not None})
    if isinstance(base.get("preprocess"), PreprocessConfig):
        base["preprocess"] = base["preprocess"].to_dict()
    # Validate the preprocessing dict now rather than after an hour of caching.
    PreprocessConfig.from_dict(base["preprocess"])
    return TrainConfig(**base)


def _augment_name(value: Any) -> str:
    """The augmentation name of a config value; booleans of older configs map to "default" / "off"."""
    from amos_tutorial.transforms.augment import AUGMENTATIONS

    if isinstance(value, bool):
        return "default" if value else "off"
    if not isinstance(value, str) or value not in AUGMENTATIONS:
        raise ValueError(f"augment must be one of {sorted(AUGMENTATIONS)}, got {value!r}")
    return value


def save_config(config: TrainConfig, path: str | os.PathLike) -> Path:
    """Write ``config`` as indented JSON, atomically.

    Introduced in chapter *Training the baselines*; builds on :func:`amos_tutorial.utils.io.atomic_write_text`.

    Args:
        config: The config.
        path: Destination (usually ``RUN_DIR/config.json``).

    Returns:
        The path written.
    """
    return atomic_write_text(path, json.dumps(config.to_dict(), indent=2, sort_keys=True) + "\n")


def load_config(path: str | os.PathLike) -> TrainConfig:
    """Read a ``config.json`` written by :func:`save_config`.

    Introduced in chapter *Training the baselines*.

    Args:
        path: The JSON file (or a run folder holding ``config.json``).

    Returns:
        The config.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: ``"PATH: ..."`` if it is not valid JSON or not a training config.
    """
    path = Path(path)
    if path.is_dir():
        path = path / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no training config (is this a run folder written by `amos train`?)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return TrainConfig.from_dict(data)
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: not a valid training config ({exc})") from exc
