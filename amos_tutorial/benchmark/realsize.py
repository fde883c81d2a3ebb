"""``amos bench realsize``: preprocessing, data loading and prediction at real AMOS size, the book beside nnU-Net v2.

Introduced in chapter *Benchmarking the baselines*. Builds on the synthetic set
(CTs of exactly ``max_shape`` voxels by :func:`amos_tutorial.data.synthetic.synthesize_case`: 0.6-0.9 mm
in-plane, 1.25-5 mm slices),
the book's preprocessing (:func:`~amos_tutorial.transforms.preprocessing.preprocess_case`), sampler
(:class:`~amos_tutorial.transforms.sampler.PatchSampler`) and prediction
(:func:`~amos_tutorial.inference.predictor.predict_case`), and on nnU-Net v2 (``DefaultPreprocessor``,
``nnUNetDataLoader`` with ``nnUNetTrainer.get_training_transforms``, ``nnUNetPredictor``), after nnU-Net's own
export, fingerprint and planning of the same cases.

Every measurement runs in its own child process, so its **peak RSS** (``VmHWM``) is that step's alone;
``baseline_GB`` is the resident memory right after the imports. Three stages, each as seconds and peak RSS
per case and as a ratio (``speedup`` = nnU-Net seconds / book seconds: above 1 the book is faster;
``rss_ratio`` = book peak / nnU-Net peak):

* **preprocessing** of every case (read, reorient, crop, resample, normalise; nothing written): each at its
  own target spacing (book: its default; nnU-Net: the ``3d_fullres`` plan) and both at the book's spacing
  (an nnU-Net configuration inheriting ``3d_fullres``). Not equal work: nnU-Net resamples in-plane with a
  cubic spline (a separate z for anisotropic data) and samples class locations; the book interpolates
  trilinearly and crops to the body.
* **data loading**: patches per second of the book's sampler (whole batches in the process) against
  nnU-Net's data loader with its default training transforms, on the common spacing, same patch and batch,
  ``workers`` augmentation processes for nnU-Net (the book's sampler has none: 0 compares like for like).
* **prediction** of the largest case, image file to label file: ``amos predict``'s per-case path against
  ``nnUNetPredictor.predict_from_files_sequential``, both with the same network (nnU-Net's ``PlainConvUNet``
  of the common configuration, same random weights), window, overlap and Gaussian weighting, no mirroring.
  ``outside_s`` is the time outside the network (reading, resampling, window bookkeeping, resampling back,
  writing).

The prediction row also prints the book's memory per voxel of the CT, the peak it implies for a
512 x 512 x 500 CT and the largest 512 x 512 x Z case that fits in :data:`MEMORY_LIMIT_GB` (an
extrapolation from the measured case, labelled so).

Examples:
    >>> table = realsize_report(max_shape=(512, 512, 200), cases=3, out="bench/realsize")  # doctest: +SKIP
    >>> print(format_realsize(table))                                                      # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from amos_tutorial.utils.io import atomic_path, atomic_write_text
from amos_tutorial.utils.options import with_settings

__all__ = [
    "MEMORY_LIMIT_GB", "REALSIZE_COLUMNS", "RealsizeOptions", "format_realsize", "memory_bound", "realsize_report",
]

#: Columns of the table (one row per stage, setting and case).
REALSIZE_COLUMNS = (
    "stage", "setting", "case", "shape", "book_s", "nnunet_s", "speedup", "book_outside_s", "nnunet_outside_s",
    "book_peak_GB", "nnunet_peak_GB", "rss_ratio", "book_baseline_GB", "nnunet_baseline_GB",
)  # fmt: skip
#: The memory of a free Colab machine: the largest prediction must fit in it.
MEMORY_LIMIT_GB = 12.7
_DATASET_ID = 219
_COMMON = "3d_common"
_GB = 1e9


# --------------------------------------------------------------------------------------------
# Child processes
# --------------------------------------------------------------------------------------------


def _rss_now_gb() -> float:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / _GB
    except (OSError, ValueError, IndexError):
        return float("nan")


def _high_water_bytes() -> int | None:
    """This process's own peak resident memory (Linux ``VmHWM``), or None where /proc is missing.

    ``ru_maxrss`` is not used for the process itself: Linux carries it over ``exec`` from the parent that
    forked it, so a child of a large parent would report the parent's peak.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _peak_gb() -> float:
    """Peak resident memory of this process, or of its largest finished child process (workers), in GB."""
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    own = _high_water_bytes()
    if own is None:
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * scale
    return max(own, kids) / _GB


def _run_child(task: dict[str, Any], work: Path, timeout: float) -> dict[str, Any]:
    """Run one measurement in a fresh ``python -m amos_tutorial.benchmark.realsize TASK.json`` process."""
    work.mkdir(parents=True, exist_ok=True)
    name = f"{task['kind']}_{task.get('case', 'all')}_{task.get('setting', '')}".replace("/", "_")
    task_path, result_path = work / f"{name}.task.json", work / f"{name}.result.json"
    result_path.unlink(missing_ok=True)
    atomic_write_text(task_path, json.dumps({**task, "result": str(result_path)}, default=str))
    proc = subprocess.run(
        [sys.executable, "-m", "amos_tutorial.benchmark.realsize", str(task_path)],
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    if proc.returncode != 0 or not result_path.is_file():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"{task['kind']} ({task.get('case', '')}) failed in its process: {tail[0]}")
    return json.loads(result_path.read_text(encoding="utf-8"))


class _Timed:
    """A network wrapper that adds up the seconds spent inside ``forward``."""

    def __new__(cls, net: Any) -> Any:
        import torch

        class Timed(torch.nn.Module):
            def __init__(self, inner: torch.nn.Module) -> None:
                super().__init__()
                self.net = inner
                self.seconds = 0.0

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                start = time.perf_counter()
                out = self.net(x)
                self.seconds += time.perf_counter() - start
                return out

        return Timed(net)


def _network(task: dict[str, Any]) -> Any:
    """nnU-Net's network of the common configuration, with the same random weights in both children."""
    import torch
    from nnunetv2.utilities.get_network_from_plans import get_network_from_plans
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    conf = PlansManager(task["plans"]).get_configuration(_COMMON)
    torch.manual_seed(0)
    net = get_network_from_plans(
        conf.network_arch_class_name, conf.network_arch_init_kwargs, conf.network_arch_init_kwargs_req_import,
        1, 16, allow_init=True, deep_supervision=False,
    )  # fmt: skip
    return _Timed(net.eval())


def _child_setup(task: dict[str, Any]) -> dict[str, Any]:
    """nnU-Net's export, fingerprint and plans of the cases, plus the configuration at the book's spacing."""
    from amos_tutorial.nnunet.env import cpu_process_settings, nnunet_folders
    from amos_tutorial.nnunet.export import export_release
    from amos_tutorial.nnunet.plans import add_smoke_configuration, dataset_folder

    nnunet_folders(task["nnunet_dir"])
    cpu_process_settings(1)
    from nnunetv2.experiment_planning.plan_and_preprocess_api import extract_fingerprints, plan_experiments

    export_release(task["data"], task=2, nnunet_dir=task["nnunet_dir"])
    extract_fingerprints([_DATASET_ID], num_processes=1, check_dataset_integrity=False, clean=True, verbose=False,
                         show_progress_bar=False)  # fmt: skip
    plan_experiments([_DATASET_ID])
    plans = dataset_folder(_DATASET_ID) / "nnUNetPlans.json"
    add_smoke_configuration(plans, name=_COMMON, spacing=task["spacing_zyx"], patch_size=task["patch_zyx"],
                            features=task["features"], batch_size=task["batch"])  # fmt: skip
    fullres = json.loads(plans.read_text(encoding="utf-8"))["configurations"]["3d_fullres"]
    return {"plans": str(plans), "raw": str(dataset_folder(_DATASET_ID, "nnUNet_raw")),
            "fullres_spacing_zyx": fullres["spacing"]}  # fmt: skip


def _warm_up_book() -> None:
    """The book's modules import MONAI lazily, on the first case: do it before the clock starts, as
    nnU-Net's imports are (a one-off cost per process, a few seconds, not a cost per case)."""
    from amos_tutorial.transforms.preprocessing import PreprocessConfig, preprocess_array

    image = np.full((24, 24, 24), -1000.0, dtype=np.float32)
    image[6:18, 6:18, 6:18] = 40.0
    label = np.zeros(image.shape, dtype=np.uint8)
    label[8:16, 8:16, 8:16] = 1
    preprocess_array(image, np.diag([1.0, 1.0, 2.0, 1.0]), "CT", PreprocessConfig(), label=label)
    import monai.inferers  # noqa: F401 - imported by the sliding window on its first call


def _child_pre_book(task: dict[str, Any]) -> dict[str, Any]:
    from amos_tutorial.transforms.cache import save_preprocessed
    from amos_tutorial.transforms.preprocessing import PreprocessConfig, preprocess_case

    _warm_up_book()
    config = PreprocessConfig(spacing=tuple(task["spacing_xyz"]))
    baseline = _rss_now_gb()
    start = time.perf_counter()
    case = preprocess_case(task["image"], task["label"], "CT", config)
    seconds = time.perf_counter() - start
    peak = _peak_gb()
    if task.get("save"):
        save_preprocessed(case, task["save"])
    return {"seconds": seconds, "peak_GB": peak, "baseline_GB": baseline, "shape": list(case.image.shape[1:])}


def _child_pre_nnunet(task: dict[str, Any]) -> dict[str, Any]:
    from amos_tutorial.nnunet.env import nnunet_folders

    nnunet_folders(task["nnunet_dir"])
    from nnunetv2.preprocessing.preprocessors.default_preprocessor import DefaultPreprocessor
    from nnunetv2.training.dataloading.nnunet_dataset import nnUNetDatasetBlosc2
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    plans = PlansManager(task["plans"])
    conf = plans.get_configuration(task["configuration"])
    dataset_json = json.loads((Path(task["raw"]) / "dataset.json").read_text(encoding="utf-8"))
    baseline = _rss_now_gb()
    start = time.perf_counter()
    data, seg, properties = DefaultPreprocessor(verbose=False).run_case(
        [task["image"]], task["label"], plans, conf, dataset_json
    )
    seconds = time.perf_counter() - start
    peak = _peak_gb()
    if task.get("save"):
        target = Path(task["save"])
        target.parent.mkdir(parents=True, exist_ok=True)
        for stale in target.parent.glob(f"{target.name}.*"):  # blosc2 does not overwrite
            stale.unlink()
        for stale in target.parent.glob(f"{target.name}_seg.*"):
            stale.unlink()
        nnUNetDatasetBlosc2.save_case(data.astype(np.float32), seg.astype(np.int16), properties, task["save"])
    return {"seconds": seconds, "peak_GB": peak, "baseline_GB": baseline, "shape": list(data.shape[1:])}


def _child_load_book(task: dict[str, Any]) -> dict[str, Any]:
    from amos_tutorial.transforms.cache import load_preprocessed_case
    from amos_tutorial.transforms.sampler import PatchSampler

    volumes = [load_preprocessed_case(p) for p in task["cases"]]
    baseline = _rss_now_gb()
    sampler = PatchSampler(volumes, task["patch_xyz"], task["batch"], device="cpu", seed=0)
    for k in range(task["warmup"]):
        sampler.batch(k)
    start = time.perf_counter()
    for k in range(task["batches"]):
        sampler.batch(task["warmup"] + k)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_GB": _peak_gb(), "baseline_GB": baseline}


def _child_load_nnunet(task: dict[str, Any]) -> dict[str, Any]:
    from amos_tutorial.nnunet.env import nnunet_folders

    nnunet_folders(task["nnunet_dir"])
    from batchgenerators.dataloading.nondet_multi_threaded_augmenter import NonDetMultiThreadedAugmenter
    from batchgenerators.dataloading.single_threaded_augmenter import SingleThreadedAugmenter
    from nnunetv2.training.data_augmentation.compute_initial_patch_size import get_patch_size
    from nnunetv2.training.dataloading.data_loader import nnUNetDataLoader
    from nnunetv2.training.dataloading.nnunet_dataset import nnUNetDatasetBlosc2
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    plans = PlansManager(task["plans"])
    conf = plans.get_configuration(_COMMON)
    dataset_json = json.loads((Path(task["raw"]) / "dataset.json").read_text(encoding="utf-8"))
    labels = plans.get_label_manager(dataset_json)
    patch = tuple(task["patch_zyx"])
    # nnUNetTrainer.configure_rotation_dummyDA_mirroring_and_inital_patch_size, 3-D branch, and its
    # deep-supervision scales (the default trainer trains with deep supervision).
    dummy_2d = max(patch) / patch[0] > 3
    rotation = (-np.pi, np.pi) if dummy_2d else (-30 / 360 * 2 * np.pi, 30 / 360 * 2 * np.pi)
    initial = get_patch_size(patch, rotation, rotation, rotation, (0.85, 1.25))
    if dummy_2d:
        initial[0] = patch[0]
    scales = [list(s) for s in 1 / np.cumprod(np.vstack(conf.pool_op_kernel_sizes), axis=0)][:-1]
    transforms = nnUNetTrainer.get_training_transforms(
        patch, rotation, scales, (0, 1, 2), dummy_2d, use_mask_for_norm=conf.use_mask_for_norm,
        is_cascaded=False, foreground_labels=labels.foreground_labels, regions=None, ignore_label=labels.ignore_label,
    )  # fmt: skip
    dataset = nnUNetDatasetBlosc2(task["folder"])
    baseline = _rss_now_gb()
    loader = nnUNetDataLoader(dataset, task["batch"], initial, patch, labels, oversample_foreground_percent=0.33,
                              transforms=transforms)  # fmt: skip
    workers = int(task["workers"])
    if workers > 0:
        augmenter = NonDetMultiThreadedAugmenter(loader, None, workers, 6, None, pin_memory=False)
    else:
        augmenter = SingleThreadedAugmenter(loader, None)
    for _ in range(task["warmup"]):
        next(augmenter)
    start = time.perf_counter()
    for _ in range(task["batches"]):
        next(augmenter)
    seconds = time.perf_counter() - start
    if workers > 0:
        augmenter._finish()
    return {"seconds": seconds, "peak_GB": _peak_gb(), "baseline_GB": baseline}


def _child_predict_book(task: dict[str, Any]) -> dict[str, Any]:
    import torch

    from amos_tutorial.inference.predictor import predict_case
    from amos_tutorial.nnunet.env import nnunet_folders
    from amos_tutorial.transforms.preprocessing import PreprocessConfig
    from amos_tutorial.utils.io import save_nifti

    nnunet_folders(task["nnunet_dir"])
    _warm_up_book()
    net = _network(task)
    baseline = _rss_now_gb()
    start = time.perf_counter()
    with torch.no_grad():
        pred = predict_case(
            net, task["image"], PreprocessConfig(spacing=tuple(task["spacing_xyz"])), device="cpu", modality="CT",
            roi_size=task["patch_xyz"], overlap=task["overlap"], sw_batch_size=1, amp="off",
        )  # fmt: skip
        save_nifti(pred.labels, pred.affine, task["out"])
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "network_s": net.seconds, "peak_GB": _peak_gb(), "baseline_GB": baseline,
            "shape": list(pred.labels.shape)}  # fmt: skip


def _child_predict_nnunet(task: dict[str, Any]) -> dict[str, Any]:
    import torch

    from amos_tutorial.nnunet.env import nnunet_folders

    nnunet_folders(task["nnunet_dir"])
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    net = _network(task)
    plans = PlansManager(task["plans"])
    dataset_json = json.loads((Path(task["raw"]) / "dataset.json").read_text(encoding="utf-8"))
    predictor = nnUNetPredictor(
        tile_step_size=1 - task["overlap"], use_gaussian=True, use_mirroring=False, perform_everything_on_device=False,
        device=torch.device("cpu"), verbose=False, verbose_preprocessing=False, allow_tqdm=False,
    )  # fmt: skip
    predictor.manual_initialization(net, plans, plans.get_configuration(_COMMON), [net.state_dict()], dataset_json,
                                    "nnUNetTrainer", None)  # fmt: skip
    baseline = _rss_now_gb()
    start = time.perf_counter()
    predictor.predict_from_files_sequential([[task["image"]]], [task["out"]], save_probabilities=False,
                                            overwrite=True, folder_with_segs_from_prev_stage=None)  # fmt: skip
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "network_s": net.seconds, "peak_GB": _peak_gb(), "baseline_GB": baseline}


_CHILDREN: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "setup": _child_setup,
    "pre_book": _child_pre_book,
    "pre_nnunet": _child_pre_nnunet,
    "load_book": _child_load_book,
    "load_nnunet": _child_load_nnunet,
    "predict_book": _child_predict_book,
    "predict_nnunet": _child_predict_nnunet,
}


def _child_main(task_path: str) -> None:
    import torch

    task = json.loads(Path(task_path).read_text(encoding="utf-8"))
    torch.set_num_threads(int(task.get("threads", 1)))
    result = _CHILDREN[task["kind"]](task)
    atomic_write_text(task["result"], json.dumps(result))


# --------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------


def _row(stage: str, setting: str, case: str, shape: Any, book: dict, nnunet: dict) -> dict[str, Any]:
    row = {
        "stage": stage, "setting": setting, "case": case, "shape": "x".join(str(int(s)) for s in shape),
        "book_s": book["seconds"], "nnunet_s": nnunet["seconds"],
        "book_peak_GB": book["peak_GB"], "nnunet_peak_GB": nnunet["peak_GB"],
        "book_baseline_GB": book["baseline_GB"], "nnunet_baseline_GB": nnunet["baseline_GB"],
    }  # fmt: skip
    if "network_s" in book:
        row["book_outside_s"] = book["seconds"] - book["network_s"]
        row["nnunet_outside_s"] = nnunet["seconds"] - nnunet["network_s"]
    return row


def _machine() -> str:
    import platform

    import torch

    try:
        from importlib.metadata import version

        nnunet = version("nnunetv2")
    except Exception:  # noqa: BLE001 - only for the label
        nnunet = "?"
    return (f"{os.cpu_count()} CPU core(s) ({platform.machine()}), no GPU used, torch {torch.__version__}, "
            f"nnunetv2 {nnunet}")  # fmt: skip


def memory_bound(peak_gb: float, baseline_gb: float, voxels: int, limit_gb: float = MEMORY_LIMIT_GB,
                 shape: Sequence[int] = (512, 512, 500)) -> dict[str, float]:  # fmt: skip
    """Extrapolate a prediction's peak memory from one measured case, linearly in the CT's voxels.

    Args:
        peak_gb: Peak RSS of the measured prediction.
        baseline_gb: RSS before it started (imports, network).
        voxels: Voxels of the measured CT.
        limit_gb: The memory to fit in.
        shape: The CT to extrapolate to.

    Returns:
        ``bytes_per_voxel``, ``predicted_GB`` (for ``shape``) and ``max_slices`` (the largest
        ``shape[0] x shape[1] x Z`` that fits in ``limit_gb``).

    Examples:
        >>> memory_bound(3.0, 1.0, 10_000_000)["bytes_per_voxel"]
        200.0
    """
    if voxels < 1 or not peak_gb >= baseline_gb >= 0:
        raise ValueError(f"need voxels >= 1 and peak >= baseline >= 0, got {voxels}, {peak_gb}, {baseline_gb}")
    per_voxel = (peak_gb - baseline_gb) * _GB / voxels
    predicted = baseline_gb + per_voxel * float(np.prod(shape)) / _GB
    slice_bytes = per_voxel * shape[0] * shape[1]
    max_slices = int((limit_gb - baseline_gb) * _GB / slice_bytes) if slice_bytes > 0 else 0
    return {"bytes_per_voxel": round(per_voxel, 1), "predicted_GB": round(predicted, 2), "max_slices": max_slices}


def _slice_spacing(slices: int) -> float:
    """A CT slice thickness (1.25-5 mm) for ``slices`` slices over an abdomen of about 450 mm."""
    from amos_tutorial.data.synthetic.scanner import CT_SLICES

    return float(min(CT_SLICES, key=lambda s: abs(s - 450.0 / slices)))


def _ensure_data(root: Path, cases: int, shape: Sequence[int], seed: int) -> Path:
    """``cases`` labelled synthetic CTs of exactly ``shape`` voxels (0.6-0.9 mm in-plane), in the release layout.

    The set is written small by :func:`~amos_tutorial.data.synthetic.generate_synthetic_dataset` (layout,
    ``dataset.json``), then each case is synthesized again at the full shape with ``synthesize_case``.
    Kept and reused when ``realsize.json`` says the same cases, shape and seed.
    """
    from amos_tutorial.data.synthetic.case import synthesize_case
    from amos_tutorial.data.synthetic.dataset import generate_synthetic_dataset
    from amos_tutorial.utils.io import save_nifti

    marker = root / "realsize.json"
    wanted = {"cases": cases, "shape": [int(s) for s in shape], "seed": seed}
    if marker.is_file() and json.loads(marker.read_text(encoding="utf-8")) == wanted:
        return root / "amos22"
    marker.unlink(missing_ok=True)
    release = generate_synthetic_dataset(root / "amos22", n_cases=cases, seed=seed, max_shape=(32, 32, 16),
                                         overwrite=True, modalities=("CT",), splits=("training",))  # fmt: skip
    rng = np.random.default_rng(seed)
    for image in sorted((Path(release) / "imagesTr").glob("amos_*.nii.gz")):
        number = int(image.name.removeprefix("amos_").removesuffix(".nii.gz"))
        in_plane = round(float(rng.uniform(0.6, 0.9)), 4)
        spacing = (in_plane, in_plane, _slice_spacing(int(shape[2])))
        case = synthesize_case(number, "CT", "F" if number % 2 else "M", seed=seed, max_shape=shape, shape=shape,
                               spacing=spacing)  # fmt: skip
        save_nifti(case.image, case.affine, image)
        save_nifti(case.label, case.affine, Path(release) / "labelsTr" / image.name, dtype=np.uint8)
        del case
    atomic_write_text(marker, json.dumps(wanted))
    return Path(release)


@dataclass(frozen=True)
class RealsizeOptions:
    """How :func:`realsize_report` measures: spacing, patch, batches, network and child processes.

    Attributes:
        spacing: The common target spacing (x, y, z mm): the book's default.
        patch_size: Patch (x, y, z) of data loading and prediction, divisible by ``2 ** (len(features) - 1)``.
        batch_size: Patches per batch.
        batches: Timed batches per loader.
        warmup: Untimed batches first.
        workers: nnU-Net's augmentation processes (0: in its own process, as the book's sampler).
        overlap: Sliding-window overlap of both predictors (nnU-Net's ``tile_step_size`` = 1 - overlap).
        features: Features per stage of the shared network.
        threads: torch threads of every child process.
        seed: Seed of the synthetic cases.
        timeout: Seconds per child process.
    """

    spacing: Sequence[float] = (1.5, 1.5, 2.0)
    patch_size: Sequence[int] = (64, 64, 64)
    batch_size: int = 2
    batches: int = 10
    warmup: int = 2
    workers: int = 0
    overlap: float = 0.5
    features: Sequence[int] = (4, 8, 16, 32)
    threads: int = 1
    seed: int = 0
    timeout: float = 3600.0


def realsize_report(
    max_shape: Sequence[int] = (512, 512, 300),
    cases: int = 3,
    out: str | os.PathLike = "bench/realsize",
    *,
    log: Callable[[str], None] = print,
    options: RealsizeOptions | None = None,
    **settings: Any,
) -> pd.DataFrame:
    """Measure the three stages side by side (see the module docstring) and write ``OUT/realsize.csv``.

    Args:
        max_shape: Shape of every synthetic CT (x, y, z voxels); in-plane spacing drawn in 0.6-0.9 mm, slices
            1.25-5 mm (the thickness that makes the z axis about 450 mm long).
        cases: Number of synthetic CTs (at least 2: nnU-Net's planner needs a dataset).
        out: Folder of the table and of the work files (``data/``, ``nnunet/``, ``work/``); the synthetic
            cases are kept and reused by a second run with the same ``max_shape``, ``cases`` and ``seed``.
        log: Where progress goes.
        options: The settings of :class:`RealsizeOptions` (``spacing``, ``patch_size``, ``batch_size``, ``batches``,
            ``warmup``, ``workers``, ``overlap``, ``features``, ``threads``, ``seed``, ``timeout``).
        **settings: Fields of :class:`RealsizeOptions` given as keywords; they override ``options``.

    Returns:
        The table (:data:`REALSIZE_COLUMNS`); ``attrs`` hold the settings and the memory bound.

    Raises:
        TypeError: For a keyword that is not a field of :class:`RealsizeOptions`.
        ValueError: On a bad size or option (one line).
        RuntimeError: When a measurement fails in its process (its last line).
    """
    o = with_settings(RealsizeOptions, options, settings)
    spacing, patch_size, batch_size, batches = o.spacing, o.patch_size, o.batch_size, o.batches
    warmup, workers, overlap, features, threads = o.warmup, o.workers, o.overlap, o.features, o.threads
    seed, timeout = o.seed, o.timeout
    import nibabel as nib

    shape = [int(s) for s in max_shape]
    if len(shape) != 3 or min(shape) < 16:
        raise ValueError(f"max_shape must be three sizes of at least 16 voxels, got {max_shape!r}")
    if cases < 2:
        raise ValueError(f"cases must be >= 2 (nnU-Net plans from a dataset), got {cases}")
    if not 0 <= overlap < 1:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    factor = 2 ** (len(features) - 1)
    if len(patch_size) != 3 or any(int(p) % factor for p in patch_size):
        raise ValueError(f"patch_size must be 3 sizes divisible by {factor}, got {patch_size!r}")
    if batches < 1 or warmup < 0 or workers < 0 or threads < 1:
        raise ValueError(f"need batches >= 1, warmup >= 0, workers >= 0, threads >= 1, got {batches}, {warmup}, "
                         f"{workers}, {threads}")  # fmt: skip
    out_dir = Path(out)
    work, nnunet_dir = out_dir / "work", out_dir / "nnunet"
    started = time.perf_counter()
    root = _ensure_data(out_dir / "data", cases, shape, seed)
    log(f"{cases} synthetic CT(s) of {'x'.join(map(str, shape))} voxels in {root} ({time.perf_counter() - started:.0f} s)")
    common = {"threads": threads, "nnunet_dir": str(nnunet_dir.resolve())}
    xyz = [float(s) for s in spacing]
    patch_xyz = [int(p) for p in patch_size]
    setup = _run_child({**common, "kind": "setup", "data": str(root.resolve()), "spacing_zyx": xyz[::-1],
                        "patch_zyx": patch_xyz[::-1], "features": list(features), "batch": batch_size},
                       work, timeout)  # fmt: skip
    common.update(plans=setup["plans"], raw=setup["raw"])
    own_xyz = [float(s) for s in setup["fullres_spacing_zyx"][::-1]]
    log(f"nnU-Net planned 3d_fullres at {'x'.join(f'{s:.2f}' for s in own_xyz)} mm (x, y, z)")
    images = sorted((Path(setup["raw"]) / "imagesTr").glob("*_0000.nii.gz"))
    rows = []
    book_cases, nnunet_folder = [], work / "nnunet_common"
    for image in images:
        cid = image.name.removesuffix("_0000.nii.gz")
        label = str(Path(setup["raw"]) / "labelsTr" / f"{cid}.nii.gz")
        book_file = work / f"{cid}.pt"
        book = _run_child({**common, "kind": "pre_book", "case": cid, "image": str(image), "label": label,
                           "spacing_xyz": xyz, "save": str(book_file)}, work, timeout)  # fmt: skip
        book_cases.append(str(book_file))
        raw_shape = nib.load(str(image)).shape
        for setting, configuration in ((f"own (nnU-Net {'x'.join(f'{s:.2f}' for s in own_xyz)} mm)", "3d_fullres"),
                                       (f"common {'x'.join(f'{s:g}' for s in xyz)} mm", _COMMON)):  # fmt: skip
            save = str(nnunet_folder / cid) if configuration == _COMMON else None
            theirs = _run_child({**common, "kind": "pre_nnunet", "case": cid, "setting": configuration,
                                 "image": str(image), "label": label, "configuration": configuration, "save": save},
                                work, timeout)  # fmt: skip
            rows.append(_row("preprocessing", setting, cid, raw_shape, book, theirs))
            log(f"preprocessing {cid} {setting}: book {book['seconds']:.1f} s, nnU-Net {theirs['seconds']:.1f} s")
    load = {"patch_xyz": patch_xyz, "patch_zyx": patch_xyz[::-1], "batch": batch_size, "batches": batches,
            "warmup": warmup}  # fmt: skip
    book = _run_child({**common, **load, "kind": "load_book", "cases": book_cases}, work, timeout)
    theirs = _run_child({**common, **load, "kind": "load_nnunet", "folder": str(nnunet_folder), "workers": workers},
                        work, timeout)  # fmt: skip
    patches = batches * batch_size
    row = _row("data loading", f"patches/s, batch {batch_size}, {workers} worker(s)", "all", patch_xyz, book, theirs)
    row.update(book_s=book["seconds"] / patches, nnunet_s=theirs["seconds"] / patches)
    rows.append(row)
    log(f"data loading: book {patches / book['seconds']:.1f} patches/s, nnU-Net {patches / theirs['seconds']:.1f}")
    largest = max(images, key=lambda p: int(np.prod(nib.load(str(p)).shape)))
    predict = {"image": str(largest), "spacing_xyz": xyz, "patch_xyz": patch_xyz, "overlap": overlap,
               "case": largest.name}  # fmt: skip
    book = _run_child({**common, **predict, "kind": "predict_book", "out": str(work / "pred_book.nii.gz")}, work, timeout)
    theirs = _run_child({**common, **predict, "kind": "predict_nnunet", "out": str(work / "pred_nnunet")}, work, timeout)
    pred_shape = nib.load(str(largest)).shape
    rows.append(_row("prediction", f"one CT, overlap {overlap:g}, same network", largest.name.removesuffix("_0000.nii.gz"),
                     pred_shape, book, theirs))  # fmt: skip
    log(f"prediction: book {book['seconds']:.1f} s ({book['network_s']:.1f} s network), "
        f"nnU-Net {theirs['seconds']:.1f} s ({theirs['network_s']:.1f} s network)")  # fmt: skip
    table = pd.DataFrame(rows).reindex(columns=list(REALSIZE_COLUMNS))
    table["speedup"] = table["nnunet_s"] / table["book_s"]
    table["rss_ratio"] = table["book_peak_GB"] / table["nnunet_peak_GB"]
    bound = memory_bound(book["peak_GB"], book["baseline_GB"], int(np.prod(pred_shape)))
    table.attrs.update(bound=bound, machine=_machine(), date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                       max_shape=shape, patch=patch_xyz, batch=batch_size, workers=workers, threads=threads)  # fmt: skip
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / "realsize.csv") as tmp:
        table.to_csv(tmp, index=False)
    atomic_write_text(out_dir / "realsize.json", json.dumps(table.attrs, indent=2, default=str) + "\n")
    return table


def format_realsize(table: pd.DataFrame) -> str:
    """The table for a terminal: per case, then the mean per stage and setting with its ratios."""
    pd_opts = {"float_format": lambda v: f"{v:.3g}"}
    lines = [table.to_string(index=False, **pd_opts), ""]
    means = table.groupby(["stage", "setting"], sort=False)[
        ["book_s", "nnunet_s", "book_peak_GB", "nnunet_peak_GB"]
    ].mean()
    means["speedup"] = means["nnunet_s"] / means["book_s"]
    means["rss_ratio"] = means["book_peak_GB"] / means["nnunet_peak_GB"]
    lines += ["mean per stage (speedup = nnU-Net s / book s, above 1: the book is faster; "
              "data loading in s per patch):", means.to_string(**pd_opts)]  # fmt: skip
    bound = table.attrs.get("bound")
    if bound:
        lines += ["", f"book prediction memory (extrapolated from the measured case): {bound['bytes_per_voxel']:g} "
                  f"bytes per CT voxel above the imports; a 512x512x500 CT would peak at about "
                  f"{bound['predicted_GB']:g} GB; the largest 512x512xZ CT within {MEMORY_LIMIT_GB} GB has Z = "
                  f"{bound['max_slices']}"]  # fmt: skip
    if table.attrs.get("machine"):
        lines.append(f"measured {table.attrs.get('date', '')} on {table.attrs['machine']}; synthetic cases")
    return "\n".join(lines)


if __name__ == "__main__":
    _child_main(sys.argv[1])
