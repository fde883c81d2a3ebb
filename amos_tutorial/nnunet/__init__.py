"""Drive nnU-Net v2 from the book: export, plan and preprocess, train, predict (``amos nnunet ...``).

Introduced in chapter *nnU-Net v2: the framework that won*. nnU-Net v2 is an optional dependency (the
``amos_tutorial[nnunet]`` extra, or ``scripts/setup_env.sh`` on a CPU machine): importing this package does
not import it; each step does, and raises an ImportError naming the extra when it is missing.

* :mod:`~amos_tutorial.nnunet.env`: the ``nnUNet_raw``/``nnUNet_preprocessed``/``nnUNet_results`` folders.
* :mod:`~amos_tutorial.nnunet.export`: nnU-Net's own AMOS converters (Dataset218 Task 1, Dataset219 Task 2).
* :mod:`~amos_tutorial.nnunet.plans`: fingerprint, plans, preprocessing, plus a small CPU configuration.
* :mod:`~amos_tutorial.nnunet.trainer`: nnU-Net's trainer with a short schedule.
* :mod:`~amos_tutorial.nnunet.predict`: nnU-Net's predictor, writing ``amos_XXXX.nii.gz``.
* :mod:`~amos_tutorial.nnunet.checkpoint`: nnU-Net's checkpoints read with ``weights_only=True``.
"""

from amos_tutorial.nnunet.env import NNUNET_EXTRA, NNUNET_VARIABLES, nnunet_folders, require_nnunet
from amos_tutorial.nnunet.export import TASK_DATASET_IDS, dataset_folder_name, export_release
from amos_tutorial.nnunet.plans import SMOKE_CONFIGURATION, add_smoke_configuration, full_commands, plan_and_preprocess
from amos_tutorial.nnunet.predict import predict_folder
from amos_tutorial.nnunet.trainer import train_fold

__all__ = [
    "NNUNET_EXTRA",
    "NNUNET_VARIABLES",
    "SMOKE_CONFIGURATION",
    "TASK_DATASET_IDS",
    "add_smoke_configuration",
    "dataset_folder_name",
    "export_release",
    "full_commands",
    "nnunet_folders",
    "plan_and_preprocess",
    "predict_folder",
    "require_nnunet",
    "train_fold",
]
