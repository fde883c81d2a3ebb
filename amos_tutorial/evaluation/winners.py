"""How AMOS 2022 was won: the winners' recipe and its published costs, as data with a source on every row.

Introduced in chapter *How AMOS 2022 was won*. Plain Python and pandas; nothing is downloaded or computed
from data: every number here is **published**, and each row names where. The book's own (synthetic) ablation
lives in :mod:`amos_tutorial.benchmark.ablation` and is never mixed into these tables.

Sources (keys of :data:`WINNERS_SOURCES`):

* ``amos_winner``: Isensee et al. (DKFZ), *Extending nnU-Net is all you need*, arXiv 2208.10791: the winning
  entry and its 5-fold cross-validation Dice (also in :mod:`amos_tutorial.evaluation.reference`).
* ``nnunet_amos2022``: the winners' reproduction notes in the nnU-Net repository, ``MIC-DKFZ/nnUNet``,
  commit ``db00053f``, ``documentation/amos2022/readme.md`` and the trainers and planners it names: the
  configurations, batch sizes, folds, and the inference estimate (60 h per task on one RTX 3090).
* ``nnunet_revisited``: Isensee et al., *nnU-Net Revisited*, MICCAI 2024, and
  ``documentation/resenc_presets.md`` of the same repository: the residual-encoder presets M / L / XL on AMOS
  (5-fold cross-validation, GPU memory, hours per fold on one A100 40 GB).

Examples:
    >>> table = recipe_table()
    >>> "augmentation" in set(table["ingredient"])
    True
    >>> plan = gpu_plan()
    >>> float(plan.loc[plan.configuration == "nnU-Net ResEnc L", "gpu_hours"].iloc[0])
    175.0
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass

import pandas as pd

from amos_tutorial.evaluation.reference import SOURCES, Source, published_results, require_same_protocol
from amos_tutorial.transforms.augment import DA5_OMITTED

__all__ = [
    "FULL_FOLDS",
    "INFERENCE_HOURS_PER_TASK",
    "PLAN_COLUMNS",
    "RECIPE",
    "RECIPE_COLUMNS",
    "RecipeItem",
    "WINNERS_CONFIGURATIONS",
    "WINNERS_ENSEMBLES",
    "WINNERS_SOURCES",
    "full_plan_commands",
    "gpu_plan",
    "recipe_table",
]

#: Folds of nnU-Net's cross-validation, as the winners trained them.
FULL_FOLDS = 5

#: The published sources of this module, by key (two shared with :mod:`amos_tutorial.evaluation.reference`).
WINNERS_SOURCES: dict[str, Source] = {
    "amos_winner": SOURCES["amos_winner"],
    "nnunet_amos2022": SOURCES["nnunet_amos2022"],
    "nnunet_revisited": SOURCES["nnunet_revisited"],
}


@dataclass(frozen=True)
class RecipeItem:
    """One ingredient of the winning entry, as its source describes it.

    Attributes:
        ingredient: What it is about (``"network"``, ``"augmentation"``...).
        winners: What the winners did, in the source's terms.
        book: Where the book's package has the same thing (a model name, an option), "" where it has none.
        source: Key into :data:`WINNERS_SOURCES`.
    """

    ingredient: str
    winners: str
    book: str
    source: str


RECIPE: tuple[RecipeItem, ...] = (
    RecipeItem(
        "network",
        "residual-encoder U-Net, instance norm, features capped at 320",
        'model "resenc" (variants M, L; "tiny" for CPU)',
        "nnunet_amos2022",
    ),
    RecipeItem(
        "initialisation",
        '"SimonsInit": last norm of each residual block set to zero, so that each block starts as the identity',
        "resenc's init_identity",
        "nnunet_amos2022",
    ),
    RecipeItem(
        "spacing and patch",
        "target spacing 1.5 x 1 x 1 mm (one variant 2 x 0.688 x 0.688); patch grown from a 512 mm cube, "
        "clipped to the median image shape",
        "",
        "nnunet_amos2022",
    ),
    RecipeItem(
        "batch",
        'batch 5 or 6, hand-set to "more or less exactly fit a 40GB A100"; DDP used for the submission',
        "--batch-size",
        "nnunet_amos2022",
    ),
    RecipeItem("schedule", "SGD, lr 1e-2, poly decay, 1000 epochs x 250 iterations", "--preset full", "nnunet_amos2022"),
    RecipeItem(
        "augmentation",
        '"DA5" (rotation +-30 degrees, scaling 0.7-1.43, more intensity transforms) in 1 of the 3 Task 1 '
        "configurations and in none of the 2 Task 2 configurations; the others use nnU-Net's default augmentation",
        "--augment da5, a subset of DA5: no " + ", ".join(DA5_OMITTED[1:]) + "; " + DA5_OMITTED[0],
        "nnunet_amos2022",
    ),
    RecipeItem(
        "normalisation",
        'Task 1 declared CT; Task 2 declared "nonCT" (z-score per case)',
        "",
        "nnunet_amos2022",
    ),
    RecipeItem(
        "ensemble",
        "Task 1: 3 configurations x 5 folds = 15 models; Task 2: 2 x 5 = 10; mirroring TTA, window step 0.5",
        "amos predict --run A --run B ... --tta",
        "nnunet_amos2022",
    ),
    RecipeItem(
        "post-processing",
        "chosen per organ on the cross-validation: fix left/right kidney and adrenal confusion, remove small "
        "components, keep the largest component (26-connectivity)",
        "amos postprocess --choose",
        "nnunet_amos2022",
    ),
    RecipeItem(
        "result",
        "5-fold cross-validation Dice 90.13 (Task 1) and 89.06 (Task 2)",
        "",
        "amos_winner",
    ),
    RecipeItem(
        "inference cost",
        "about 60 h per task for 200 (240) cases on one RTX 3090, over 1 TB of temporary files",
        "",
        "nnunet_amos2022",
    ),
)
"""The winning entry, ingredient by ingredient, each with its source."""

RECIPE_COLUMNS: tuple[str, ...] = ("ingredient", "what the winners did", "in this book", "source")

#: The winners' final configurations, per task: (trainer, plans), as ``run_inference_task1.py`` /
#: ``run_inference_task2.py`` list them in ``models`` (source: ``nnunet_amos2022``). Each is trained on 5 folds.
WINNERS_CONFIGURATIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "Task 1 (CT)": (
        ("nnUNetTrainerV2_ResencUNet_SimonsInit_DA5", "nnUNetPlans_bfnnUNet_fabresnet_31_bs5"),
        ("nnUNetTrainerV2_ResencUNet_SimonsInit", "nnUNetPlans_bfnnUNet_fabresnet_31_spnnU_bs6"),
        ("nnUNetTrainerV2_ResencUNet_SimonsInit", "nnUNetPlans_bfnnUNet_fabresnet_bs5"),
    ),
    "Task 2 (CT+MRI)": (
        ("nnUNetTrainerV2_ResencUNet_SimonsInit", "nnUNetPlans_bfnnUNet_fabresnet_31_spnnU_bs6"),
        ("nnUNetTrainerV2_ResencUNet_SimonsInit", "nnUNetPlans_bfnnUNet_fabresnet_31_bs5"),
    ),
}

#: Models in the winners' final ensembles, per task: (configurations, folds) (source: ``nnunet_amos2022``).
WINNERS_ENSEMBLES: dict[str, tuple[int, int]] = {"Task 1 (CT)": (3, 5), "Task 2 (CT+MRI)": (2, 5)}

#: The winners' inference estimate per task, in hours on one RTX 3090 (source: ``nnunet_amos2022``).
INFERENCE_HOURS_PER_TASK = 60.0

PLAN_COLUMNS: tuple[str, ...] = (
    "configuration", "dice", "vram_gb", "hours_per_fold", "folds", "gpu_hours", "hardware", "source",
)  # fmt: skip

_PRESETS = ("nnU-Net (original)", "nnU-Net ResEnc M", "nnU-Net ResEnc L", "nnU-Net ResEnc XL")


def recipe_table() -> pd.DataFrame:
    """The winners' recipe, one ingredient per row, with its source (all published, nothing computed).

    Returns:
        Columns :data:`RECIPE_COLUMNS`; ``source`` is the source's short name; ``df.attrs["citations"]``
        maps each short name to its full reference and URL.
    """
    rows = [
        {
            "ingredient": item.ingredient,
            "what the winners did": item.winners,
            "in this book": item.book,
            "source": WINNERS_SOURCES[item.source].short,
        }
        for item in RECIPE
    ]
    df = pd.DataFrame(rows, columns=list(RECIPE_COLUMNS))
    df.attrs["citations"] = {s.short: f"{s.citation}, {s.url}" for s in WINNERS_SOURCES.values()}
    return df


def gpu_plan(folds: int = FULL_FOLDS, configurations: tuple[str, ...] = _PRESETS) -> pd.DataFrame:
    """Published training cost of nnU-Net's presets on AMOS, and what ``folds`` folds of each cost.

    The Dice, memory and hours of one fold are nnU-Net Revisited's (one A100 40 GB per fold, AMOS Task 2,
    5-fold cross-validation); ``gpu_hours`` = ``folds`` x ``hours_per_fold`` is the only computed column.

    Args:
        folds: Folds to train per configuration (1 to 5).
        configurations: Model names as :func:`~amos_tutorial.evaluation.reference.published_results` spells them.

    Returns:
        Columns :data:`PLAN_COLUMNS`, one row per configuration.

    Raises:
        ValueError: For a fold count out of range or a configuration without published numbers.
    """
    if not isinstance(folds, int) or isinstance(folds, bool) or not 1 <= folds <= FULL_FOLDS:
        raise ValueError(f"folds must be an integer from 1 to {FULL_FOLDS}, got {folds!r}")
    published = published_results(source="nnunet_revisited")
    require_same_protocol(published)
    published = published.set_index("model")
    unknown = [c for c in configurations if c not in published.index]
    if unknown:
        raise ValueError(f"no published cost for {unknown}; known: {sorted(published.index)}")
    rows = []
    for name in configurations:
        row = published.loc[name]
        rows.append({
            "configuration": name, "dice": row["dice"], "vram_gb": row["vram_gb"],
            "hours_per_fold": row["runtime_h"], "folds": folds, "gpu_hours": folds * float(row["runtime_h"]),
            "hardware": row["hardware"], "source": row["source"],
        })  # fmt: skip
    return pd.DataFrame(rows, columns=list(PLAN_COLUMNS))


def full_plan_commands(
    data: str = "/data/amos22",
    variant: str = "L",
    task: int = 2,
    folds: int = FULL_FOLDS,
    out: str = "runs/winners",
) -> list[str]:
    """The commands of the recipe on a GPU machine: folds, training, CV post-processing, ensemble.

    One fold set per configuration of the winners' ensemble for ``task`` (:data:`WINNERS_CONFIGURATIONS`), each
    preceded by a ``#`` line naming the winners' trainer and plans it stands for. A DA5 trainer becomes
    ``--augment da5`` (a subset of DA5, see :data:`~amos_tutorial.transforms.augment.DA5_OMITTED`), any other
    ``--augment default``. The book's package has no counterpart of the winners' plans variants (target spacing,
    batch size), so configurations that differ only by their plans map to the same runs and are trained once.
    The cross-validation predictions have no command of their own and are one call of
    :func:`amos_tutorial.inference.crossval_predictions`; their labels are linked into one folder.

    Args:
        data: The AMOS folder.
        variant: ResEnc variant (``"M"`` or ``"L"``).
        task: 1 (CT only, three configurations, one with DA5) or 2 (CT and MRI, two configurations, no DA5).
        folds: Folds to train per configuration (1 to 5).
        out: Folder for runs, predictions and the post-processing plan.

    Returns:
        One shell command per line, arguments quoted; lines starting with ``#`` are comments.

    Raises:
        ValueError: For a task other than 1 or 2, or a fold count out of range.
    """
    from amos_tutorial.data.tasks import get_task

    get_task(task)
    if not isinstance(folds, int) or isinstance(folds, bool) or not 1 <= folds <= FULL_FOLDS:
        raise ValueError(f"folds must be an integer from 1 to {FULL_FOLDS}, got {folds!r}")

    def line(*args: str) -> str:
        return shlex.join(["amos", *args])

    name = "Task 1 (CT)" if task == 1 else "Task 2 (CT+MRI)"
    by_augment: dict[str, list[str]] = {}
    for trainer, plans in WINNERS_CONFIGURATIONS[name]:
        augment = "da5" if trainer.endswith("_DA5") else "default"
        by_augment.setdefault(augment, []).append(f"{trainer} / {plans}")
    task_args = ("--task", str(task))
    commands = [line("splits", "--data", data, "--folds", str(FULL_FOLDS), *task_args)]
    runs: list[str] = []
    for augment, winners in by_augment.items():
        commands.append("# the winners' " + " and ".join(winners))
        for k in range(folds):
            run = f"{out}/task{task}_resenc_{variant}_{augment}_fold{k}"
            runs.append(run)
            commands.append(line("train", "--model", "resenc", "--variant", variant, "--augment", augment,
                                 "--fold", str(k), "--preset", "full", *task_args, "--data", data, "--out", run))
    commands.append(shlex.join([
        "python", "-c", "from amos_tutorial.inference import crossval_predictions; "
        f'crossval_predictions({json.dumps(runs)}, {json.dumps(out + "/cv")}, checkpoint="last", tta=True)',
    ]))  # fmt: skip
    labels = shlex.quote(f"{out}/cv_labels")
    commands.append(f"mkdir -p {labels} && ln -sf {shlex.quote(data)}/labelsTr/*.nii.gz "
                    f"{shlex.quote(data)}/labelsVa/*.nii.gz {labels}/")  # fmt: skip
    commands.append(
        line("postprocess", "--pred", f"{out}/cv", "--labels", f"{out}/cv_labels", "--out",
             f"{out}/cv_postprocessed", "--choose")
    )  # fmt: skip
    run_args = [a for run in runs for a in ("--run", run)]
    commands.append(
        line("predict", *run_args, "--images", f"{data}/imagesTs", "--out", f"{out}/test", "--tta",
             "--postprocess", f"{out}/cv_postprocessed/postprocess_plan.json")
    )  # fmt: skip
    return commands
