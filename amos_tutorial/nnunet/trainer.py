"""``amos nnunet train``: nnU-Net's ``nnUNetTrainer``, shortened for a CPU smoke run, driven through its Python API.

Introduced in chapter *nnU-Net v2: the framework that won*. :class:`nnUNetTrainerAmosShort` is
nnU-Net's own trainer (its loss, deep supervision, augmentation, SGD with poly decay, oversampling,
checkpoints and final validation) with only the schedule shortened: a few epochs of a few iterations, and
no test-time mirroring in the final validation. :class:`nnUNetTrainerAmosCPUSmoke` is a CPU smoke variant,
**not nnU-Net's recipe**: the same pipeline (plans, preprocessing, network, loss with deep supervision,
oversampling, validation) trained like the book's DynUNet at its CPU scale (Adam at a constant 1e-2) and without
nnU-Net's data augmentation, so that a few hundred CPU steps get it past predicting background (nnU-Net's SGD
with poly decay and heavy augmentation do not, in the few dozen epochs a CPU page affords).
:func:`train_fold` builds one of them (``TRAINERS``) from the plans and runs one
fold of nnU-Net's 5-fold split (``splits_final.json``, equal to ``amos splits``). Augmentation runs in the
main process (``nnUNet_n_proc_DA=0``), so nothing is forked; the export pool of the final validation uses
nnU-Net's ``spawn`` context (the ``amos`` entry point, :mod:`amos_tutorial.cli`, is spawn-safe). Its command
line is ``amos nnunet train`` (:mod:`amos_tutorial.cli.nnunet`).

The class is not in nnU-Net's trainer folder, so nnU-Net's lookup by name (``nnUNetv2_predict``) does not
find it: :mod:`amos_tutorial.nnunet.predict` loads the checkpoint itself.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from amos_tutorial.nnunet.env import cpu_process_settings, nnunet_folders, require_nnunet

__all__ = [
    "CPU_SMOKE_LR",
    "DEFAULT_TRAINER",
    "SMOKE_EPOCHS",
    "SEED",
    "SMOKE_ITERATIONS",
    "TRAINERS",
    "train_fold",
    "trainer_class",
]

SMOKE_EPOCHS = 5
SMOKE_ITERATIONS = 10
#: Seed of Python's, NumPy's and torch's generators before :func:`train_fold` builds nnU-Net's trainer.
SEED = 0
#: The book's trainers of nnU-Net (class name -> what it is); the name is nnU-Net's ``-tr`` and its model folder's.
TRAINERS = {
    "nnUNetTrainerAmosShort": "nnU-Net's recipe (SGD, poly decay, augmentation) with a short schedule",
    "nnUNetTrainerAmosCPUSmoke": "CPU smoke variant, not nnU-Net's recipe: Adam at a constant 1e-2, no augmentation",
}
DEFAULT_TRAINER = "nnUNetTrainerAmosShort"
#: The CPU smoke variant's learning rate: the book's DynUNet at the CPU scale (quick preset, Adam, constant).
CPU_SMOKE_LR = 1e-2
#: Validation steps per epoch of the CPU smoke variant (only the pseudo Dice of nnU-Net's log reads them).
_CPU_SMOKE_VAL_ITERATIONS = 2
_TRAINERS: dict = {}


def trainer_class(name: str = DEFAULT_TRAINER) -> type:
    """One of :data:`TRAINERS`: nnU-Net's trainer with a settable short schedule (built on first use).

    Args:
        name: ``nnUNetTrainerAmosShort`` (nnU-Net's recipe, shortened) or ``nnUNetTrainerAmosCPUSmoke`` (CPU
            smoke variant: Adam at a constant :data:`CPU_SMOKE_LR`, no data augmentation).

    Raises:
        ValueError: On another name.
    """
    if name not in TRAINERS:
        raise ValueError(f"trainer must be one of {sorted(TRAINERS)}, got {name!r}")
    if name in _TRAINERS:
        return _TRAINERS[name]
    require_nnunet()
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

    class nnUNetTrainerAmosShort(nnUNetTrainer):  # noqa: N801 (nnU-Net's naming)
        """nnUNetTrainer with ``num_epochs`` x ``num_iterations_per_epoch`` steps and no validation mirroring."""

        def __init__(self, plans, configuration, fold, dataset_json, device=None):
            import torch

            # Same signature as nnUNetTrainer (nnU-Net records the constructor's arguments in checkpoints).
            super().__init__(plans, configuration, fold, dataset_json, device or torch.device("cpu"))
            self.set_schedule(SMOKE_EPOCHS, SMOKE_ITERATIONS)

        def set_schedule(self, epochs: int, iterations: int) -> None:
            """``epochs`` x ``iterations`` training steps; half as many validation steps per epoch."""
            self.num_epochs = int(epochs)
            self.num_iterations_per_epoch = int(iterations)
            self.num_val_iterations_per_epoch = max(1, int(iterations) // 2)
            self.save_every = max(1, int(epochs))

        def perform_actual_validation(self, save_probabilities: bool = False):
            # Sliding window without the 8 mirrored passes: the smoke run's validation stays cheap on a CPU.
            self.inference_allowed_mirroring_axes = None
            return super().perform_actual_validation(save_probabilities)

    class nnUNetTrainerAmosCPUSmoke(nnUNetTrainerAmosShort):  # noqa: N801 (nnU-Net's naming)
        """CPU smoke variant, not nnU-Net's recipe: Adam at a constant 1e-2 and no data augmentation."""

        def __init__(self, plans, configuration, fold, dataset_json, device=None):
            super().__init__(plans, configuration, fold, dataset_json, device)
            self.initial_lr = CPU_SMOKE_LR

        def set_schedule(self, epochs: int, iterations: int) -> None:
            super().set_schedule(epochs, iterations)
            self.num_val_iterations_per_epoch = _CPU_SMOKE_VAL_ITERATIONS

        def configure_optimizers(self):
            import torch

            optimizer = torch.optim.Adam(self.network.parameters(), lr=self.initial_lr)
            return optimizer, _ConstantLR()

        @staticmethod
        def get_training_transforms(patch_size, rotation_for_DA, deep_supervision_scales, mirror_axes,
                                    do_dummy_2d_data_aug, use_mask_for_norm=None, is_cascaded=False,
                                    foreground_labels=None, regions=None, ignore_label=None):
            # nnU-Net's nnUNetTrainerNoDA: the validation transforms (targets for deep supervision only).
            return nnUNetTrainer.get_validation_transforms(deep_supervision_scales, is_cascaded, foreground_labels,
                                                           regions, ignore_label)

        def configure_rotation_dummyDA_mirroring_and_inital_patch_size(self):  # noqa: N802 (nnU-Net's name)
            rotation, dummy_2d, _, _ = super().configure_rotation_dummyDA_mirroring_and_inital_patch_size()
            self.inference_allowed_mirroring_axes = None  # no mirroring in training, none at inference
            return rotation, dummy_2d, self.configuration_manager.patch_size, None

    for cls in (nnUNetTrainerAmosShort, nnUNetTrainerAmosCPUSmoke):
        cls.__module__ = __name__
        _TRAINERS[cls.__name__] = cls
    return _TRAINERS[name]


class _ConstantLR:
    """A learning-rate schedule that keeps the optimiser's rate (nnU-Net calls ``step(epoch)`` every epoch)."""

    def step(self, current_step=None) -> None:
        """Leave the rate as it is."""


#: nnU-Net's cross-validation: 5 folds, each validating on at least one case.
_N_FOLDS = 5


def _check_enough_cases(pre: Path, dataset_json: dict, fold) -> None:
    """Refuse a fold of nnU-Net's 5-fold split when the data set has fewer than 5 training cases."""
    if fold == "all" or (pre / "splits_final.json").is_file():
        return  # nnU-Net's own split file decides (it may have been written by hand)
    n = dataset_json.get("numTraining")
    if isinstance(n, int) and n < _N_FOLDS:
        raise ValueError(
            f"{pre / 'dataset.json'}: {n} training case(s); nnU-Net's {_N_FOLDS}-fold cross-validation needs at "
            f"least {_N_FOLDS}: export a data set with more labelled cases"
        )


def _resume_safely(trainer) -> None:
    """nnU-Net's ``--c`` (its ``maybe_load_checkpoint``) with the checkpoint read by ``weights_only=True``.

    The same file as nnU-Net picks (final, else latest, else best) is read by
    :func:`amos_tutorial.nnunet.checkpoint.load_nnunet_checkpoint` and handed to the trainer as a dict, so
    nnU-Net's own ``torch.load(weights_only=False)`` never sees it.
    """
    from amos_tutorial.nnunet.checkpoint import load_nnunet_checkpoint

    folder = Path(trainer.output_folder)
    for name in ("checkpoint_final.pth", "checkpoint_latest.pth", "checkpoint_best.pth"):
        if (folder / name).is_file():
            trainer.load_checkpoint(load_nnunet_checkpoint(folder / name))
            return
    print(f"{folder}: no checkpoint to continue from; starting a new training")


def train_fold(
    dataset_id: int,
    configuration: str = "3d_smoke",
    fold: int = 0,
    nnunet_dir: str | os.PathLike | None = None,
    epochs: int = SMOKE_EPOCHS,
    iterations: int = SMOKE_ITERATIONS,
    device: str = "cpu",
    processes: int = 1,
    resume: bool = False,
    trainer: str = DEFAULT_TRAINER,
) -> Path:
    """Train one fold with nnU-Net's trainer (short schedule) and run nnU-Net's final validation.

    Introduced in chapter *nnU-Net v2: the framework that won*.

    Args:
        dataset_id: nnU-Net dataset id (preprocessed by ``amos nnunet plan``).
        configuration: Plans configuration (``3d_smoke``; ``3d_fullres`` on a GPU).
        fold: 0-4 (nnU-Net's split), or ``"all"``.
        nnunet_dir: One folder for the three nnU-Net folders; None reads the environment.
        epochs: Epochs (nnU-Net: 1000).
        iterations: Iterations per epoch (nnU-Net: 250).
        device: ``cpu`` or ``cuda``.
        processes: Export workers of the final validation.
        resume: Continue from the fold's latest checkpoint (nnU-Net's ``--c``), if there is one.
        trainer: One of :data:`TRAINERS` (nnU-Net's ``-tr``; it names the model folder).

    Returns:
        The model folder (``nnUNet_results/DatasetXXX/<trainer>__nnUNetPlans__<configuration>``); the fold's
        ``checkpoint_final.pth``, ``validation/`` and ``validation/summary.json`` are in ``fold_K/``.

    Raises:
        ValueError: On a bad fold, epochs, iterations or trainer, a missing nnU-Net variable, or fewer than 5
            training cases for nnU-Net's 5-fold split.
        FileNotFoundError: If the dataset was not preprocessed.
    """
    if fold != "all" and (not isinstance(fold, int) or not 0 <= fold <= 4):
        raise ValueError(f"fold must be 0-4 or 'all', got {fold!r}")
    if int(epochs) < 1 or int(iterations) < 1:
        raise ValueError(f"epochs and iterations must be >= 1, got {epochs!r} and {iterations!r}")
    if trainer not in TRAINERS:
        raise ValueError(f"trainer must be one of {sorted(TRAINERS)}, got {trainer!r}")
    require_nnunet()
    nnunet_folders(nnunet_dir)
    cpu_process_settings(processes)
    # Augmentation in the main process: no worker processes to start (and none to leak) on a CPU.
    os.environ.setdefault("nnUNet_n_proc_DA", "0")
    import torch

    from amos_tutorial.nnunet.plans import PLANS_IDENTIFIER, dataset_folder

    pre = dataset_folder(dataset_id)
    plans = json.loads((pre / f"{PLANS_IDENTIFIER}.json").read_text(encoding="utf-8"))
    dataset_json = json.loads((pre / "dataset.json").read_text(encoding="utf-8"))
    _check_enough_cases(pre, dataset_json, fold)
    if configuration not in plans["configurations"]:
        raise ValueError(f"{pre}: plans have no configuration {configuration!r} ({', '.join(plans['configurations'])})")
    plans["continue_training"] = bool(resume)  # what nnU-Net's get_trainer_from_args adds
    # nnU-Net seeds nothing; seeding Python, NumPy and torch here makes a CPU run (augmentation in the main
    # process) repeat, so that the page's numbers do not move between builds.
    import random

    import numpy as np

    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    run = trainer_class(trainer)(plans, configuration, fold, dataset_json, torch.device(device))
    run.set_schedule(epochs, iterations)
    if resume:
        _resume_safely(run)
    run.run_training()
    run.perform_actual_validation(save_probabilities=False)
    return Path(run.output_folder_base)
