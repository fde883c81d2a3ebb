"""``amos nnunet plan``: nnU-Net's fingerprint, plans and preprocessing, plus a small CPU configuration.

Introduced in chapter *nnU-Net v2: the framework that won*. Runs nnU-Net's own
``extract_fingerprints``, ``plan_experiments`` (default ``ExperimentPlanner``) and ``preprocess``, i.e. what
``nnUNetv2_plan_and_preprocess -d ID --verify_dataset_integrity`` does. nnU-Net plans for a GPU (for AMOS a
6-stage U-Net on 1.5 x 0.76 x 0.76 mm and large patches); for a CPU smoke run :func:`add_smoke_configuration`
writes one more configuration into ``nnUNetPlans.json`` with nnU-Net's ``inherits_from`` mechanism: the
``3d_fullres`` plan on a coarse grid (the book's quick grid: 4 x 3 x 3 mm in nnU-Net's z, y, x order) with a
4-stage 8-64 feature U-Net and a small patch. Only that configuration is preprocessed in smoke mode.

Examples:
    >>> plan_and_preprocess(219, nnunet_dir="/tmp/nnunet_demo")  # doctest: +SKIP
    PosixPath('/tmp/nnunet_demo/nnUNet_preprocessed/Dataset219_AMOS2022_postChallenge_task2/nnUNetPlans.json')
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from amos_tutorial.nnunet.env import cpu_process_settings, nnunet_folders, require_nnunet
from amos_tutorial.utils.io import atomic_write_text

__all__ = [
    "FULL_PRESETS",
    "PLANS_IDENTIFIER",
    "SMOKE_CONFIGURATION",
    "SMOKE_FEATURES",
    "SMOKE_PATCH",
    "SMOKE_SPACING",
    "add_smoke_configuration",
    "dataset_folder",
    "full_commands",
    "fullres_target_spacing",
    "plan_and_preprocess",
    "plans_vs_book",
]

PLANS_IDENTIFIER = "nnUNetPlans"
#: The CPU configuration added to nnU-Net's plans, and its settings (nnU-Net's axis order: z, y, x).
SMOKE_CONFIGURATION = "3d_smoke"
SMOKE_SPACING = (4.0, 3.0, 3.0)
SMOKE_PATCH = (24, 32, 32)
SMOKE_FEATURES = (8, 16, 32, 64)
SMOKE_BATCH = 2
#: Full mode: planner and plans name of nnU-Net's default and residual-encoder presets (resenc_presets.md).
FULL_PRESETS = {
    "default": ("ExperimentPlanner", PLANS_IDENTIFIER),
    "ResEncM": ("nnUNetPlannerResEncM", "nnUNetResEncUNetMPlans"),
    "ResEncL": ("nnUNetPlannerResEncL", "nnUNetResEncUNetLPlans"),
}


def fullres_target_spacing(fingerprint: dict, anisotropy_threshold: float = 3.0) -> dict:
    """The target spacing of nnU-Net's ``3d_fullres`` from a dataset fingerprint, with the rule that chose it.

    Introduced in chapter *nnU-Net v2: the framework that won*. The same rule as nnU-Net v2's
    ``ExperimentPlanner.determine_fullres_target_spacing``: the median spacing per axis, except on an
    anisotropic axis, one whose median spacing is more than ``anisotropy_threshold`` times the largest other
    one while its median size (after cropping) times the threshold is below the smallest other size. There
    nnU-Net takes the 10th percentile of that axis's spacings (never below the largest other spacing).

    Args:
        fingerprint: The content of ``dataset_fingerprint.json`` (``spacings`` and ``shapes_after_crop``,
            nnU-Net's axis order z, y, x).
        anisotropy_threshold: nnU-Net's ``anisotropy_threshold`` (3).

    Returns:
        ``{"spacing": (z, y, x), "median": (z, y, x), "anisotropic_axis": int or None, "tenth_percentile":
        float or None}`` in mm.

    Raises:
        ValueError: If the fingerprint lacks ``spacings`` or ``shapes_after_crop``, or they are empty.

    Examples:
        >>> fp = {"spacings": [[5.0, 0.7, 0.7], [2.5, 0.8, 0.8], [5.0, 0.7, 0.7]],
        ...       "shapes_after_crop": [[90, 512, 512], [180, 512, 512], [100, 512, 512]]}
        >>> fullres_target_spacing(fp)["spacing"]
        (3.0, 0.7, 0.7)
    """
    import numpy as np

    missing = [k for k in ("spacings", "shapes_after_crop") if not fingerprint.get(k)]
    if missing:
        raise ValueError(f"the fingerprint lacks {missing}: pass the content of dataset_fingerprint.json")
    spacings = np.vstack(fingerprint["spacings"]).astype(float)
    median = np.percentile(spacings, 50, 0)
    median_size = np.percentile(np.vstack(fingerprint["shapes_after_crop"]), 50, 0)
    worst = int(np.argmax(median))
    others = [i for i in range(len(median)) if i != worst]
    other_spacing = max(median[i] for i in others)
    aniso_spacing = median[worst] > anisotropy_threshold * other_spacing
    aniso_voxels = median_size[worst] * anisotropy_threshold < min(median_size[i] for i in others)
    target = median.copy()
    tenth = None
    if aniso_spacing and aniso_voxels:
        tenth = float(np.percentile(spacings[:, worst], 10))
        target[worst] = tenth if tenth >= other_spacing else other_spacing + 1e-5
    return {
        "spacing": tuple(float(v) for v in target),
        "median": tuple(float(v) for v in median),
        "anisotropic_axis": worst if tenth is not None else None,
        "tenth_percentile": tenth,
    }


def dataset_folder(dataset_id: int, kind: str = "nnUNet_preprocessed") -> Path:
    """The ``DatasetXXX_*`` folder of ``dataset_id`` under one nnU-Net folder (from the environment).

    Raises:
        FileNotFoundError: If no folder of that id exists there.
        ValueError: If two folders have that id (nnU-Net cannot tell which one is meant).
    """
    base = Path(os.environ.get(kind, ""))
    found = sorted(base.glob(f"Dataset{int(dataset_id):03d}_*")) if base.is_dir() else []
    if not found:
        raise FileNotFoundError(f"{base}: no Dataset{int(dataset_id):03d}_* folder (run the previous step first)")
    if len(found) > 1:
        raise ValueError(
            f"{base}: two data sets have the id {int(dataset_id):03d} ({', '.join(p.name for p in found)}); "
            "remove one, or export with another --dataset-id"
        )
    return found[0]


def _check_raw_dataset(dataset_id: int) -> Path:
    """The exported raw dataset of ``dataset_id``, complete (an export killed midway has no dataset.json)."""
    raw = dataset_folder(dataset_id, "nnUNet_raw")
    if not (raw / "dataset.json").is_file():
        raise ValueError(
            f"{raw / 'dataset.json'}: missing: the export was interrupted; run `amos nnunet export` again"
        )
    if not any((raw / "imagesTr").glob("*.nii.gz")):
        raise ValueError(f"{raw / 'imagesTr'}: no training image: the export was interrupted; run it again")
    return raw


def add_smoke_configuration(
    plans_file: str | os.PathLike,
    name: str = SMOKE_CONFIGURATION,
    spacing: Sequence[float] = SMOKE_SPACING,
    patch_size: Sequence[int] = SMOKE_PATCH,
    features: Sequence[int] = SMOKE_FEATURES,
    batch_size: int = SMOKE_BATCH,
) -> dict:
    """Add a small 3-D configuration to nnU-Net plans (``inherits_from: 3d_fullres``), atomically.

    Introduced in chapter *nnU-Net v2: the framework that won*. Everything not set here (normalisation,
    resampling, network class, convolution and norm types) comes from nnU-Net's ``3d_fullres`` plan.

    Args:
        plans_file: ``nnUNetPlans.json`` written by nnU-Net's planner.
        name: Name of the new configuration.
        spacing: Target spacing (mm, nnU-Net's axis order z, y, x).
        patch_size: Patch (voxels), divisible by ``2 ** (len(features) - 1)``.
        features: Features per stage (one stride-2 downsampling between stages).
        batch_size: Patches per step.

    Returns:
        The new configuration entry.

    Raises:
        ValueError: On a patch that the stages cannot halve, or plans without ``3d_fullres``.
    """
    path = Path(plans_file)
    plans = json.loads(path.read_text(encoding="utf-8"))
    parent = plans.get("configurations", {}).get("3d_fullres")
    if parent is None:
        raise ValueError(f"{path}: no 3d_fullres configuration to inherit from")
    n_stages = len(features)
    factor = 2 ** (n_stages - 1)
    if len(patch_size) != 3 or any(int(p) % factor for p in patch_size):
        raise ValueError(f"patch_size must be 3 sizes divisible by {factor} ({n_stages} stages), got {patch_size!r}")
    if len(spacing) != 3 or any(float(s) <= 0 for s in spacing):
        raise ValueError(f"spacing must be 3 positive values (z, y, x in mm), got {spacing!r}")
    arch = copy.deepcopy(parent["architecture"])
    kwargs = arch["arch_kwargs"]
    kwargs.update(
        n_stages=n_stages,
        features_per_stage=[int(f) for f in features],
        kernel_sizes=[[3, 3, 3]] * n_stages,
        strides=[[1, 1, 1]] + [[2, 2, 2]] * (n_stages - 1),
        n_conv_per_stage=[2] * n_stages,
        n_conv_per_stage_decoder=[2] * (n_stages - 1),
    )
    median_mm = [s * n for s, n in zip(parent["spacing"], parent["median_image_size_in_voxels"])]
    entry = {
        "inherits_from": "3d_fullres",
        "data_identifier": f"{PLANS_IDENTIFIER}_{name}",
        "spacing": [float(s) for s in spacing],
        "patch_size": [int(p) for p in patch_size],
        "batch_size": int(batch_size),
        "median_image_size_in_voxels": [round(mm / s, 1) for mm, s in zip(median_mm, spacing)],
        "architecture": arch,
    }
    plans["configurations"][name] = entry
    atomic_write_text(path, json.dumps(plans, indent=4) + "\n")
    return entry


def plan_and_preprocess(
    dataset_id: int,
    nnunet_dir: str | os.PathLike | None = None,
    smoke: bool = True,
    processes: int = 2,
    log: Callable[[str], None] = print,
) -> Path:
    """nnU-Net's fingerprint, plans and preprocessing of an exported dataset.

    Introduced in chapter *nnU-Net v2: the framework that won*; builds on
    ``nnunetv2.experiment_planning.plan_and_preprocess_api``.

    Args:
        dataset_id: nnU-Net dataset id (218 or 219 after ``amos nnunet export``).
        nnunet_dir: One folder for the three nnU-Net folders; None reads the environment.
        smoke: Add :data:`SMOKE_CONFIGURATION` and preprocess only it; False preprocesses nnU-Net's
            ``2d`` and ``3d_fullres`` (hours of CPU on the real data).
        processes: Worker processes for the fingerprint and the preprocessing.
        log: Where step timings go.

    Returns:
        The plans file (``nnUNetPlans.json``).

    Raises:
        ImportError: If nnU-Net v2 is not installed.
        ValueError: If a nnU-Net variable is missing, two data sets share the id, or the export of this
            one was interrupted (no ``dataset.json``).
    """
    require_nnunet()
    nnunet_folders(nnunet_dir)
    cpu_process_settings(processes)
    from nnunetv2.experiment_planning.plan_and_preprocess_api import extract_fingerprints, plan_experiments, preprocess

    _check_raw_dataset(dataset_id)
    start = time.perf_counter()
    extract_fingerprints(
        [dataset_id], num_processes=processes, check_dataset_integrity=True, clean=True, verbose=False,
        show_progress_bar=False,
    )
    log(f"fingerprint: {time.perf_counter() - start:.0f} s")
    start = time.perf_counter()
    plan_experiments([dataset_id])
    plans_file = dataset_folder(dataset_id) / f"{PLANS_IDENTIFIER}.json"
    configurations = ["2d", "3d_fullres"]
    if smoke:
        add_smoke_configuration(plans_file)
        configurations = [SMOKE_CONFIGURATION]
    log(f"plans: {time.perf_counter() - start:.0f} s")
    start = time.perf_counter()
    preprocess(
        [dataset_id], PLANS_IDENTIFIER, configurations, [processes] * len(configurations), verbose=False,
        show_progress_bar=False,
    )
    log(f"preprocessing ({', '.join(configurations)}): {time.perf_counter() - start:.0f} s")
    return plans_file


def full_commands(task: int = 1, preset: str = "default", fold: int | str = 0) -> list[str]:
    """nnU-Net's own commands for a full run of one AMOS task (on a GPU), as strings to print.

    Examples:
        >>> full_commands(1, "ResEncM")[1]
        'nnUNetv2_plan_and_preprocess -d 218 --verify_dataset_integrity -pl nnUNetPlannerResEncM'
    """
    from amos_tutorial.nnunet.export import TASK_DATASET_IDS

    if preset not in FULL_PRESETS:
        raise ValueError(f"preset must be one of {sorted(FULL_PRESETS)}, got {preset!r}")
    planner, plans_name = FULL_PRESETS[preset]
    d = TASK_DATASET_IDS[task]
    pl = "" if preset == "default" else f" -pl {planner}"
    p = "" if preset == "default" else f" -p {plans_name}"
    return [
        f"amos nnunet export --task {task} --data $AMOS_DATA_DIR",
        f"nnUNetv2_plan_and_preprocess -d {d} --verify_dataset_integrity{pl}",
        f"nnUNetv2_train {d} 3d_fullres {fold}{p}",
        f"nnUNetv2_predict -d {d} -c 3d_fullres -f {fold}{p} -i $nnUNet_raw/{_raw_name(task)}/imagesTs -o pred_{d}",
    ]


def _raw_name(task: int) -> str:
    from amos_tutorial.nnunet.export import dataset_folder_name

    return dataset_folder_name(task)


def plans_vs_book(plans_file: str | os.PathLike, configuration: str = "3d_fullres"):
    """nnU-Net's plan for one configuration beside the book's own choices for its DynUNet ``nnunet``.

    Introduced in chapter *nnU-Net v2: the framework that won*; built on pandas. nnU-Net stores axes as
    z, y, x; the table shows x, y, z like the rest of the book.

    Args:
        plans_file: ``nnUNetPlans.json``.
        configuration: Plans configuration (inheritance resolved like nnU-Net does).

    Returns:
        A DataFrame indexed by setting, with columns ``nnU-Net`` and ``book``.
    """
    import pandas as pd

    from amos_tutorial.models import get_model_spec
    from amos_tutorial.transforms.preprocessing import PreprocessConfig

    plans = json.loads(Path(plans_file).read_text(encoding="utf-8"))
    configs = plans["configurations"]
    if configuration not in configs:
        raise ValueError(f"{plans_file}: no configuration {configuration!r} ({', '.join(configs)})")
    conf = dict(configs[configuration])
    while "inherits_from" in conf:
        parent = dict(configs[conf.pop("inherits_from")])
        parent.update(conf)
        conf = parent
    kwargs = conf["architecture"]["arch_kwargs"]
    book_pre, spec = PreprocessConfig(), get_model_spec("nnunet")

    def xyz(values, fmt="{:g}"):
        return " x ".join(fmt.format(float(v)) for v in list(values)[::-1])

    rows = {
        "target spacing (mm, x y z)": (xyz(conf["spacing"], "{:.2f}"), " x ".join(f"{v:g}" for v in book_pre.spacing)),
        "patch (voxels, x y z)": (xyz(conf["patch_size"]), " x ".join(str(v) for v in spec.patch_size)),
        "stages / features": (
            f"{kwargs['n_stages']} / {kwargs['features_per_stage'][0]}-{kwargs['features_per_stage'][-1]}",
            "from patch and spacing (MONAI DynUNet)",
        ),
        "batch": (str(conf["batch_size"]), str(spec.batch_size)),
        "normalisation": (
            ", ".join(conf["normalization_schemes"]),
            f"CT clipped to {book_pre.ct_window[0]:g}..{book_pre.ct_window[1]:g} HU; MRI percentiles "
            f"{book_pre.mri_percentiles[0]:g}-{book_pre.mri_percentiles[1]:g}",
        ),
        "network": (conf["architecture"]["network_class_name"].rsplit(".", 1)[-1], "DynUNet (deep supervision)"),
    }
    return pd.DataFrame(rows, index=["nnU-Net", "book"]).T
