"""The winners' recipe as an ablation: DynUNet -> ResEnc -> + DA5 -> ensemble of folds -> + post-processing.

Introduced in chapter *How AMOS 2022 was won*. Builds on :func:`amos_tutorial.training.shared.shared_run` (every
training is trained once and reused, under a lock), :func:`amos_tutorial.inference.predict_folder` (one run or an
ensemble of runs), :func:`amos_tutorial.inference.crossval_predictions`, :mod:`amos_tutorial.evaluation.postprocess`
and :func:`amos_tutorial.evaluation.evaluate_folder`.

The protocol, the same for every step:

* **Test cases**: the labelled validation split of the data folder (all of it); a copy without one uses the
  cases the runs hold out of training (:func:`amos_tutorial.data.splits.run_cases`). No step trains on
  them (each run's ``cases.json`` is checked before it is scored), and every step predicts them with the **last** checkpoint (the best one was chosen on validation cases
  that can be test cases).
* **Pool**: every other labelled case. The single runs train on the training split (the pool); the fold runs
  train on nnU-Net's folds of the pool, read from a folder of links (:func:`pool_folder`), so that the test
  cases stay out of every fold.
* **Post-processing** is chosen on the folds' cross-validation predictions (pool cases only) and applied to the
  ensemble's test predictions, as the winners chose theirs on their cross-validation.
* **Deltas**: per organ and overall, each step minus the step before it, on the same test cases, with a paired
  percentile bootstrap over cases (:func:`paired_deltas`): an interval that contains 0 means that these test
  cases cannot tell the two steps apart.

Examples:
    >>> setup = AblationSetup(preset="smoke", iterations=2, fold_iterations=2, folds=2)  # doctest: +SKIP
    >>> runs = train_ladder("synthetic", setup, work="/tmp/ablation")                     # doctest: +SKIP
    >>> result = score_ladder(runs, setup, work="/tmp/ablation")                          # doctest: +SKIP
    >>> result.summary                                                                    # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import shutil
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "AblationResult",
    "AblationSetup",
    "DELTA_COLUMNS",
    "LadderRuns",
    "MEMBER_COLUMNS",
    "STEPS",
    "SUMMARY_COLUMNS",
    "SMOKE_FOLDS",
    "SMOKE_ITERATIONS",
    "SMOKE_LR",
    "SMOKE_PATCH_SIZE",
    "SMOKE_SCHEDULE",
    "HELDOUT_NOTE",
    "heldout_test_cases",
    "holdout_cases",
    "ladder_setup",
    "paired_deltas",
    "pool_folder",
    "score_ladder",
    "train_ladder",
]

#: The steps of the ladder, in order; each adds one ingredient of the winners' recipe to the one before.
STEPS: tuple[str, ...] = ("DynUNet", "ResEnc", "ResEnc + DA5", "ensemble of folds", "+ post-processing")
#: Columns of :attr:`AblationResult.summary`.
SUMMARY_COLUMNS: tuple[str, ...] = (
    "step", "dice", "delta", "low", "high", "n_cases", "models", "parameters", "train_steps", "train_s", "predict_s",
    "peak_gib",
)  # fmt: skip
#: Columns of :attr:`AblationResult.members`: each fold run alone against the ensemble of all of them.
MEMBER_COLUMNS: tuple[str, ...] = ("member", "dice", "ensemble_dice", "delta", "low", "high", "n_cases")
#: Columns of :func:`paired_deltas`.
DELTA_COLUMNS: tuple[str, ...] = ("organ_id", "organ", "before", "after", "delta", "low", "high", "n_cases")
#: Smoke scale of the ladder (the chapter on a 2-core CPU, five trainings inside its 3-minute budget), the same
#: for every run so that the steps stay comparable. Measured on synthetic mini-AMOS (2 busy cores): the
#: ``quick`` preset's 32^3 patch learns only the liver in 200 steps (mean Dice < 0.05); a 24^3 patch (the
#: synthetic volumes are about 27 x 25 x 21 voxels on the 3 x 3 x 4 mm grid, so it still holds most of one)
#: makes each step about 3x cheaper, so that more steps fit the budget. Steps per run: the DynUNet's test Dice
#: rises steeply here (measured 0.08 after 300 steps, 0.13 after 400, 0.18 after 600, constant schedule). 300
#: steps (the DynUNet of chapter *nnU-Net v2* trains the same) keep the five trainings well inside the page's 3
#: minutes, beside the predictions of its 8 test cases; the ladder's lesson is its method, not its Dice.
SMOKE_ITERATIONS: int = 300
#: Training patch (x, y, z) of every smoke run (the ``quick`` preset's for the DynUNet and ResEnc too).
SMOKE_PATCH_SIZE: tuple[int, int, int] = (24, 24, 24)
#: Learning rate of every smoke run (Adam, the ``quick`` preset's optimiser; its own rate is 1e-2).
SMOKE_LR: float = 1e-2
#: Fold runs trained and ensembled in smoke mode (of nnU-Net's 5).
SMOKE_FOLDS: int = 2
#: Learning-rate schedule of every smoke run. The ``quick`` preset's poly decay, stretched over a few hundred
#: steps, has halved the rate before the network has learned more than the liver; a constant rate learns
#: several organs in the same steps (measured: mean Dice 0.13 against 0.06 after 300 steps of batch 4).
SMOKE_SCHEDULE: dict[str, Any] = {"name": "constant"}
_ALL = "all organs"
_ALL_ID = 0


@dataclass(frozen=True)
class AblationSetup:
    """What the ladder trains.

    Attributes:
        preset: Trainer preset of every run (``"quick"`` in the chapter).
        dynunet: Registry name of the first step (the book's nnU-Net-like DynUNet, ``"nnunet"``).
        resenc_variant: Variant of the ``resenc`` runs (``"tiny"`` on CPU, ``"M"``/``"L"`` on a GPU).
        augment: Augmentation of steps 3-5 (the winners': ``"da5"``).
        iterations: Steps of the single runs (None: the preset's).
        fold_iterations: Steps of each fold run (None: the preset's).
        folds: Fold runs trained and ensembled (folds 0 .. ``folds``-1 of nnU-Net's 5).
        n_boot: Bootstrap resamples of the intervals.
        confidence: Coverage of the intervals.
        tta: Flip test-time augmentation in every prediction (the winners mirrored).
        patch_size: Training patch (x, y, z) of every run (None: the preset's).
        lr: Learning rate of every run (None: the preset's).
        val_every: Validation interval in epochs of every run; 0 validates only at the end (None: the preset's).
        schedule: Learning-rate schedule of every run (``TrainConfig.schedule``; None: the preset's).
    """

    preset: str = "quick"
    dynunet: str = "nnunet"
    resenc_variant: str = "tiny"
    augment: str = "da5"
    iterations: int | None = None
    fold_iterations: int | None = None
    folds: int = 5
    n_boot: int = 2000
    confidence: float = 0.95
    tta: bool = False
    patch_size: tuple[int, int, int] | None = None
    lr: float | None = None
    val_every: int | None = None
    schedule: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        from amos_tutorial.data.splits import DEFAULT_FOLDS

        if not isinstance(self.folds, int) or isinstance(self.folds, bool) or not 1 <= self.folds <= DEFAULT_FOLDS:
            raise ValueError(f"folds must be an integer from 1 to {DEFAULT_FOLDS}, got {self.folds!r}")
        for name in ("iterations", "fold_iterations"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
        if not isinstance(self.n_boot, int) or self.n_boot < 100:
            raise ValueError(f"n_boot must be an integer >= 100, got {self.n_boot!r}")
        if not 0.0 < float(self.confidence) < 1.0:
            raise ValueError(f"confidence must lie in (0, 1), got {self.confidence!r}")
        if self.patch_size is not None:
            from amos_tutorial.utils.geometry import check_patch_size

            object.__setattr__(self, "patch_size", check_patch_size(self.patch_size))
        if self.lr is not None and not (isinstance(self.lr, (int, float)) and float(self.lr) > 0):
            raise ValueError(f"lr must be a positive number or None, got {self.lr!r}")
        if self.schedule is not None and not (isinstance(self.schedule, dict) and "name" in self.schedule):
            raise ValueError(f"schedule must be a dict with a 'name' or None, got {self.schedule!r}")
        if self.val_every is not None and (
            not isinstance(self.val_every, int) or isinstance(self.val_every, bool) or self.val_every < 0
        ):
            raise ValueError(f"val_every must be an integer >= 0 or None, got {self.val_every!r}")

    def overrides(self, fold: bool = False) -> dict[str, Any]:
        """The ``TrainConfig`` overrides of a single run (``fold=False``) or of a fold run."""
        steps = self.fold_iterations if fold else self.iterations
        settings = {"iterations": steps, "patch_size": self.patch_size, "lr": self.lr, "val_every": self.val_every,
                    "schedule": None if self.schedule is None else dict(self.schedule)}  # fmt: skip
        return {k: v for k, v in settings.items() if v is not None}


def ladder_setup(smoke: bool, **changes: Any) -> AblationSetup:
    """The setup of chapter *How AMOS 2022 was won*: the smoke scale on a CPU, or the ``quick`` preset at full length.

    Smoke: :data:`SMOKE_ITERATIONS` steps per run, patch :data:`SMOKE_PATCH_SIZE`, learning rate
    :data:`SMOKE_LR` with schedule :data:`SMOKE_SCHEDULE`, validation only at the end, :data:`SMOKE_FOLDS` fold runs, no
    test-time augmentation; the same for every run. Full: the ``quick`` preset's own length, patch and
    optimiser, 5 fold runs, flip test-time augmentation.

    Args:
        smoke: The smoke scale.
        **changes: Any other :class:`AblationSetup` field (``folds=3``...).

    Returns:
        The :class:`AblationSetup`.

    Examples:
        >>> ladder_setup(smoke=True).overrides()["patch_size"]
        (24, 24, 24)
        >>> ladder_setup(smoke=False).overrides()
        {}
    """
    from amos_tutorial.data.splits import DEFAULT_FOLDS

    if smoke:
        scale = {"iterations": SMOKE_ITERATIONS, "fold_iterations": SMOKE_ITERATIONS, "folds": SMOKE_FOLDS,
                 "tta": False, "patch_size": SMOKE_PATCH_SIZE, "lr": SMOKE_LR, "schedule": dict(SMOKE_SCHEDULE),
                 "val_every": 0}  # fmt: skip
    else:
        scale = {"folds": DEFAULT_FOLDS, "tta": True}
    return AblationSetup(**{"preset": "quick", **scale, **changes})


@dataclass
class LadderRuns:
    """The run folders of each step (what :func:`train_ladder` trained or found).

    Attributes:
        root: The data folder.
        pool_root: The folder of links the fold runs train on (None when there are no fold runs).
        test_cases: Case ids every step is scored on.
        test_source: Where they come from (``"AMOS validation split"``...).
        runs: Step name -> run folders (one, or the fold runs for the last two steps).
        train_seconds: Step name -> seconds of training of its runs (from their ``metrics.csv``).
        train_steps: Step name -> optimiser steps of its runs, all runs together.
    """

    root: Path
    pool_root: Path | None
    test_cases: list[str]
    test_source: str
    runs: dict[str, list[Path]] = field(default_factory=dict)
    train_seconds: dict[str, float] = field(default_factory=dict)
    train_steps: dict[str, int] = field(default_factory=dict)


@dataclass
class AblationResult:
    """What :func:`score_ladder` measured.

    Attributes:
        scores: One row per step, case and organ (``evaluate_folder`` columns plus ``step``).
        summary: One row per step, columns :data:`SUMMARY_COLUMNS`: mean Dice over cases and organs,
            its change from the step before with the bootstrap interval, and the cost of the step (models to
            run, parameters of one model, training steps and seconds of all its runs, prediction seconds of the
            test cases, peak GPU memory of one training step where a GPU is used).
        deltas: Per step (from the second) and organ, :func:`paired_deltas` with a ``step`` column.
        plan: The post-processing plan chosen on the cross-validation predictions (None without folds).
        setup: The :class:`AblationSetup`.
        folder: Where the predictions and ``postprocess_plan.json`` are (one sub-folder of ``work`` per set of runs).
        members: The ensemble against its own members, columns :data:`MEMBER_COLUMNS`: each fold run alone on
            the same test cases, and the ensemble minus it with its paired bootstrap interval. Step 4 of the
            ladder also changes the training data (each member trains on the pool minus its validation fold);
            this table isolates the ensembling. Empty without fold runs.
    """

    scores: pd.DataFrame
    summary: pd.DataFrame
    deltas: pd.DataFrame
    plan: Any
    setup: AblationSetup
    folder: Path
    members: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(MEMBER_COLUMNS)))


def holdout_cases(root: str | os.PathLike, preset: str = "quick") -> tuple[list[Any], list[Any], str]:
    """The test cases of the ablation and the pool of labelled cases the runs may train on.

    Args:
        root: AMOS data folder or ``"synthetic"``.
        preset: Preset of the single runs (its ``val_cases`` when the copy has no validation split).

    Returns:
        ``(test cases, pool cases, where the test cases come from)``, cases as ``load_amos`` gives them.

    Raises:
        ValueError: If the folder has fewer than two labelled cases.
    """
    from amos_tutorial.data.layout import load_amos
    from amos_tutorial.data.splits import labelled_cases, run_cases
    from amos_tutorial.training.config import PRESETS

    dataset = load_amos(root)
    count = len(labelled_cases(dataset, "training")) + len(labelled_cases(dataset, "validation"))
    if count < 2:
        raise ValueError(f"{dataset.root}: {count} labelled case(s); the ablation needs at least 2")
    cases = run_cases(dataset, task=2, val_cases=int(PRESETS[preset]["val_cases"]))
    test = labelled_cases(dataset, "validation") if cases.from_split else cases.val
    return test, cases.train, cases.source


#: How a page names the cases of :func:`heldout_test_cases`.
HELDOUT_NOTE = ("held-out synthetic cases generated only for testing (the same generator with another seed, ids "
                "distinct from the set's, never trained on)")


def heldout_test_cases(root: str | os.PathLike, n_cases: int = 4) -> list[Any]:
    """Extra labelled test cases for a ladder trained on the synthetic set ``root``: ``score_ladder(extra_test=...)``.

    The cases of :func:`amos_tutorial.paths.synthetic_heldout_root` beside ``root`` (generated once, cached):
    no run of the ladder trains on them, and their ids differ from every case of ``root``.

    Args:
        root: The synthetic data folder the ladder trains on.
        n_cases: How many cases.

    Returns:
        The cases, as ``load_amos`` gives them.
    """
    from amos_tutorial.data.layout import load_amos
    from amos_tutorial.paths import synthetic_heldout_root

    return list(load_amos(synthetic_heldout_root(n_cases, beside=root)).cases)


def pool_folder(pool: list[Any], out: str | os.PathLike, metadata_csv: str | os.PathLike | None = None) -> Path:
    """A data folder of links holding only ``pool`` (as its training split), for the fold runs.

    Links are refreshed on every call, so the folder holds exactly ``pool``; the metadata CSV is linked
    beside them, so that the modalities are read as in the original folder.

    Args:
        pool: Labelled cases (``load_amos`` cases).
        out: The folder (created).
        metadata_csv: The release's metadata CSV, if any.

    Returns:
        ``out``.
    """
    from amos_tutorial.data.layout import METADATA_CSV_NAME
    from amos_tutorial.data.release import SPLIT_FOLDERS
    from amos_tutorial.data.subsets import link_cases

    out = Path(out)
    images, labels = link_cases(pool, out / "_links")
    for kind, source in zip(SPLIT_FOLDERS["training"], (images, labels)):
        target = out / kind
        if target.is_symlink() or target.is_file():
            target.unlink()
        elif target.is_dir():
            shutil.rmtree(target)
        shutil.copytree(source, target, symlinks=True)
    if metadata_csv is not None:
        link = out / METADATA_CSV_NAME
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(Path(metadata_csv).resolve())
    return out


def _train_record(result) -> tuple[float, int]:
    metrics = result.metrics
    seconds = float(metrics["seconds"].sum()) if "seconds" in metrics.columns else math.nan
    return seconds, int(result.iteration)


def train_ladder(
    root: str | os.PathLike,
    setup: AblationSetup,
    work: str | os.PathLike,
    device: str = "auto",
    fold_runs: bool = True,
    cache_dir: str | os.PathLike | None = None,
) -> LadderRuns:
    """Train (or find, through the shared-run cache) every run of the ladder.

    Args:
        root: AMOS data folder or ``"synthetic"``.
        setup: What to train.
        work: Folder for the pool of links (keep it stable: the fold runs' cache key holds its path).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
        fold_runs: Train the fold runs (False: steps 1-3 only, e.g. on a copy with too few cases).
        cache_dir: Cache folder of the shared runs (default ``$AMOS_CACHE_DIR``).

    Returns:
        The :class:`LadderRuns`.
    """
    from amos_tutorial.data.layout import find_metadata_csv
    from amos_tutorial.paths import resolve_data_root
    from amos_tutorial.training.shared import shared_run

    root = resolve_data_root(root).resolve()
    test, pool, source = holdout_cases(root, setup.preset)
    ladder = LadderRuns(root=root, pool_root=None, test_cases=[c.case_id for c in test], test_source=source)
    common = {"data": root, "preset": setup.preset, "device": device, "cache_dir": cache_dir}
    single = {
        STEPS[0]: (setup.dynunet, setup.overrides()),
        STEPS[1]: ("resenc", {"variant": setup.resenc_variant, **setup.overrides()}),
        STEPS[2]: ("resenc", {"variant": setup.resenc_variant, "augment": setup.augment, **setup.overrides()}),
    }
    for step, (model, overrides) in single.items():
        result = shared_run(model, **common, **overrides)
        ladder.runs[step] = [result.run_dir]
        ladder.train_seconds[step], ladder.train_steps[step] = _train_record(result)
    if not fold_runs:
        return ladder
    ladder.pool_root = pool_folder(pool, Path(work) / "pool", find_metadata_csv(root))
    fold_common = {**common, "data": ladder.pool_root}
    extra = {"variant": setup.resenc_variant, "augment": setup.augment, **setup.overrides(fold=True)}
    runs, seconds, steps = [], 0.0, 0
    for fold in range(setup.folds):
        result = shared_run("resenc", **fold_common, fold=fold, **extra)
        runs.append(result.run_dir)
        s, n = _train_record(result)
        seconds, steps = seconds + s, steps + n
    for step in STEPS[3:]:
        ladder.runs[step] = runs
        ladder.train_seconds[step], ladder.train_steps[step] = seconds, steps
    return ladder


def _case_dice(scores: pd.DataFrame) -> pd.DataFrame:
    """Case x organ table of Dice (NaN: organ absent from reference and prediction)."""
    organs = pd.MultiIndex.from_frame(scores[["organ_id", "organ"]].drop_duplicates().sort_values("organ_id"))
    table = scores.pivot_table(index="case", columns=["organ_id", "organ"], values="dsc", aggfunc="mean")
    return table.reindex(columns=organs)


def paired_deltas(
    before: pd.DataFrame,
    after: pd.DataFrame,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Per organ (and over all organs): mean Dice after minus before, with a paired bootstrap interval over cases.

    Both tables are ``evaluate_folder`` outputs on the same cases. The cases are resampled with replacement
    (the same draw for both steps, since they are scored on the same cases) ``n_boot`` times and the mean
    difference recomputed; the interval is the percentile interval of those means. The ``all organs`` row
    (``organ_id`` 0) averages each case's organs first.

    Args:
        before: Scores of the earlier step.
        after: Scores of the later step.
        n_boot: Resamples (>= 100).
        confidence: Coverage in (0, 1).
        seed: Seed of the resampling.

    Returns:
        Columns :data:`DELTA_COLUMNS`, the ``all organs`` row first; an organ scored in no common case has NaN.

    Raises:
        ValueError: If the two tables share no case, or for bad settings.

    Examples:
        >>> a = pd.DataFrame({"case": ["c1", "c2"], "organ_id": 1, "organ": "spleen", "dsc": [0.5, 0.7]})
        >>> b = a.assign(dsc=[0.6, 0.9])
        >>> round(float(paired_deltas(a, b).loc[0, "delta"]), 2)
        0.15
    """
    if not isinstance(n_boot, int) or n_boot < 100:
        raise ValueError(f"n_boot must be an integer >= 100, got {n_boot!r}")
    if not 0.0 < float(confidence) < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    a, b = _case_dice(before), _case_dice(after)
    cases = sorted(set(a.index) & set(b.index))
    if not cases:
        raise ValueError("the two score tables share no case: score both steps on the same cases")
    organs = sorted(set(a.columns) | set(b.columns))
    a, b = a.reindex(index=cases, columns=organs), b.reindex(index=cases, columns=organs)
    tail = (1.0 - float(confidence)) / 2.0
    draws = np.random.default_rng(seed).integers(0, len(cases), size=(n_boot, len(cases)))

    def row(organ_id: int, organ: str, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
        keep = ~(np.isnan(x) | np.isnan(y))
        out = {"organ_id": organ_id, "organ": organ, "before": np.nan, "after": np.nan, "delta": np.nan,
               "low": np.nan, "high": np.nan, "n_cases": int(keep.sum())}  # fmt: skip
        if keep.any():
            diff = np.where(keep, y - x, np.nan)
            boot = np.nanmean(diff[draws], axis=1)  # a draw of only excluded cases gives NaN: left out below
            boot = boot[~np.isnan(boot)]
            out.update(before=float(x[keep].mean()), after=float(y[keep].mean()), delta=float(np.nanmean(diff)),
                       low=float(np.quantile(boot, tail)), high=float(np.quantile(boot, 1.0 - tail)))  # fmt: skip
        return out

    with np.errstate(all="ignore"), _quiet_nanmean():
        rows = [row(_ALL_ID, _ALL, np.nanmean(a.to_numpy(float), axis=1), np.nanmean(b.to_numpy(float), axis=1))]
        rows += [row(int(oid), str(name), a[(oid, name)].to_numpy(float), b[(oid, name)].to_numpy(float))
                 for oid, name in organs]  # fmt: skip
    return pd.DataFrame(rows, columns=list(DELTA_COLUMNS))


@contextlib.contextmanager
def _quiet_nanmean():
    """Silence NumPy's 'Mean of empty slice' warning (an all-NaN row is expected and handled)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _parameters(run: Path) -> int:
    """Trainable parameters of one model of a run (its last checkpoint, loaded on the CPU)."""
    from amos_tutorial.models import count_parameters
    from amos_tutorial.training import load_run

    model, _ = load_run(run, checkpoint="last", device="cpu")
    return int(count_parameters(model))


def _peak_gib(model: str, variant: str, device: str, root: Path) -> float:
    """Peak GPU memory of one training step (``amos bench speed``'s probe); NaN off CUDA."""
    import torch

    from amos_tutorial.training.amp import resolve_device

    if resolve_device(device).type != "cuda":
        return math.nan
    from amos_tutorial.benchmark.speed import speed_benchmark

    frame = speed_benchmark([model], iterations=2, variant=variant, device=device, data=root, warmup=1)
    torch.cuda.empty_cache()
    return float(frame["peak_gib"].iloc[0])


def score_ladder(
    ladder: LadderRuns,
    setup: AblationSetup,
    work: str | os.PathLike,
    device: str = "auto",
    extra_test: Sequence[Any] = (),
) -> AblationResult:
    """Predict the test cases with every step, score them, and measure what each step changes and costs.

    Args:
        ladder: What :func:`train_ladder` returned.
        setup: The same setup.
        work: Folder for predictions, cross-validation predictions and the post-processing plan.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
        extra_test: Labelled cases (``load_amos`` cases) scored beside ``ladder.test_cases``, from a set that no
            run trained on (:func:`amos_tutorial.paths.synthetic_heldout_root`); their modality comes from the id
            rule. Their ids must differ from the test cases'.

    Raises:
        ValueError: If an extra case has no label or shares an id with a test case.

    Returns:
        The :class:`AblationResult`.
    """
    from amos_tutorial.data.layout import load_amos
    from amos_tutorial.data.subsets import link_cases
    from amos_tutorial.evaluation import evaluate_folder
    from amos_tutorial.evaluation.postprocess import choose_rules, postprocess_folder
    from amos_tutorial.inference import crossval_predictions, predict_folder
    from amos_tutorial.training.rundir import RunDir

    work = Path(work)
    dataset = load_amos(ladder.root)
    extra = list(extra_test)
    shared = sorted({c.case_id for c in extra} & set(ladder.test_cases))
    if shared:
        raise ValueError(f"extra test cases share ids with the ladder's test cases: {shared}")
    # Outputs are keyed on the runs and the cases: predictions of other runs (a retrained step) never resume into them.
    named = [str(r) for s in STEPS for r in ladder.runs.get(s, [])] + [str(c.image) for c in extra]
    key = hashlib.sha256("|".join(named).encode()).hexdigest()[:10]
    work = work / key
    images, labels = link_cases([dataset.case(c) for c in ladder.test_cases] + extra, work / "test")
    steps = [s for s in STEPS if s in ladder.runs]
    for run in (r for step in steps for r in ladder.runs[step]):  # extra cases come from another folder
        RunDir(run).check_unseen(ladder.test_cases)  # the run's own record: never scored on a case it trained on
    predict_s: dict[str, float] = {}
    scores: dict[str, pd.DataFrame] = {}
    plan = None
    previous_out = work
    for step in steps:
        out = work / "pred" / step.replace(" ", "_").replace("+", "plus")
        runs = ladder.runs[step]
        start = time.perf_counter()
        if step == STEPS[4]:
            with warnings.catch_warnings():  # fewer than 5 fold runs: a warning names the folds missing
                warnings.simplefilter("ignore", UserWarning)
                cv = crossval_predictions(runs, work / "cv", data=ladder.pool_root, checkpoint="last", tta=setup.tta,
                                          device=device, progress=False)  # fmt: skip
            cv_images, cv_labels = link_cases([dataset.case(c) for c in sorted(cv["case"])], work / "cv_reference")
            plan = choose_rules(work / "cv", cv_labels, images_dir=cv_images)
            plan.save(work / "postprocess_plan.json")
            postprocess_folder(previous_out, out, plan, images_dir=images, progress=False)
            predict_s[step] = predict_s[STEPS[3]] + time.perf_counter() - start
        else:
            predict_folder(runs if len(runs) > 1 else runs[0], images, out, checkpoint="last", tta=setup.tta,
                           device=device, data_root=ladder.root, progress=False)  # fmt: skip
            predict_s[step] = time.perf_counter() - start
        previous_out = out
        scores[step] = evaluate_folder(out, labels, data_root=ladder.root)
    members = []
    if STEPS[3] in scores and len(ladder.runs[STEPS[3]]) > 1:
        ensemble = scores[STEPS[3]]
        for run in ladder.runs[STEPS[3]]:
            out = work / "pred" / f"member_{run.name}"
            predict_folder(run, images, out, checkpoint="last", tta=setup.tta, device=device, data_root=ladder.root,
                           progress=False)  # fmt: skip
            member = evaluate_folder(out, labels, data_root=ladder.root)
            overall = paired_deltas(member, ensemble, setup.n_boot, setup.confidence).iloc[0]
            members.append({"member": run.name, "dice": overall["before"], "ensemble_dice": overall["after"],
                            "delta": overall["delta"], "low": overall["low"], "high": overall["high"],
                            "n_cases": overall["n_cases"]})  # fmt: skip
    deltas = []
    for previous, step in zip(steps, steps[1:]):
        d = paired_deltas(scores[previous], scores[step], setup.n_boot, setup.confidence)
        deltas.append(d.assign(step=step))
    delta_table = pd.concat(deltas, ignore_index=True) if deltas else pd.DataFrame(columns=[*DELTA_COLUMNS, "step"])
    peaks = {
        STEPS[0]: _peak_gib(setup.dynunet, "tiny", device, ladder.root),
        STEPS[1]: _peak_gib("resenc", setup.resenc_variant, device, ladder.root),
    }
    rows = []
    for step in steps:
        per_case = _case_dice(scores[step])
        with _quiet_nanmean():
            dice = float(np.nanmean(np.nanmean(per_case.to_numpy(float), axis=1)))
        overall = delta_table[(delta_table.step == step) & (delta_table.organ_id == _ALL_ID)]
        rows.append({
            "step": step, "dice": dice,
            "delta": overall["delta"].iloc[0] if len(overall) else np.nan,
            "low": overall["low"].iloc[0] if len(overall) else np.nan,
            "high": overall["high"].iloc[0] if len(overall) else np.nan,
            "n_cases": len(per_case), "models": len(ladder.runs[step]), "parameters": _parameters(ladder.runs[step][0]),
            "train_steps": ladder.train_steps[step], "train_s": ladder.train_seconds[step],
            "predict_s": predict_s[step], "peak_gib": peaks.get(step, peaks[STEPS[1]]),
        })  # fmt: skip
    summary = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    all_scores = pd.concat([s.assign(step=k) for k, s in scores.items()], ignore_index=True)
    return AblationResult(scores=all_scores, summary=summary, deltas=delta_table, plan=plan, setup=setup, folder=work,
                          members=pd.DataFrame(members, columns=list(MEMBER_COLUMNS)))
