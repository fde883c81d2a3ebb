"""Build-it-yourself exercises: checkers (autograders) that test a student's function in one line.

Introduced in chapter *Exploring the data*. Every part of the book has exercises in which the student
writes a piece of the pipeline (a skeleton cell raises ``NotImplementedError("Student exercise: ...")``)
and checks it with one call::

    from amos_tutorial.exercises import check_dice
    check_dice(my_dice)   # ✓ Dice (DSC): passed all 7 inputs (...)  or  ✗ ... expected 0.5, got 0.4

Each checker first makes sure the function is the student's own (one that is, or calls, the package's or
MONAI's implementation fails in one line), then runs it on random and edge-case inputs (empty masks, one
voxel, anisotropic spacing) and compares with stored answers (``fixtures/*.npz``, made by
``tests/exercise_fixtures.py`` from MONAI and :mod:`amos_tutorial.evaluation`; no reference function ships
with the package); it reports the first failing input, expected against got. An unfinished skeleton gives
"not implemented yet".

========================  ======================================  ==================================
checker                   the student writes                      expected answers made by
========================  ======================================  ==================================
check_window_level        CT display window (level, width)        the book's formula
check_resample_spacing    linear resampling to a voxel size       MONAI ``Spacing``'s convention
check_patch_sampling      organ-weighted patch sampling           statistics over 300 draws
check_dice_ce_loss        Dice + cross-entropy loss               MONAI ``DiceCELoss``
check_training_step       one optimisation step                   a reference step
check_training_loop       a minimal training loop                 a reference loop
check_dice, check_nsd     DSC and NSD from scratch                :mod:`amos_tutorial.evaluation`
check_sliding_window      Gaussian sliding-window inference       MONAI ``sliding_window_inference``
check_largest_component   keep the largest connected component    the package's post-processing rule
check_target_spacing      nnU-Net's 3d_fullres target spacing     nnU-Net v2's planner rule
check_mri_normalisation   MRI percentile clip + z-score           the package's preprocessing
========================  ======================================  ==================================
"""

from amos_tutorial.exercises._check import NOT_IMPLEMENTED, CheckResult
from amos_tutorial.exercises.data import (
    check_mri_normalisation,
    check_patch_sampling,
    check_resample_spacing,
    check_window_level,
)
from amos_tutorial.exercises.evaluation import (
    check_dice,
    check_nsd,
    check_sliding_window,
    gaussian_weights,
    surface_elements,
    window_starts,
)
from amos_tutorial.exercises.planning import check_target_spacing
from amos_tutorial.exercises.postprocess import check_largest_component
from amos_tutorial.exercises.training import check_dice_ce_loss, check_training_loop, check_training_step

__all__ = [
    "NOT_IMPLEMENTED",
    "CheckResult",
    "check_dice",
    "check_dice_ce_loss",
    "check_largest_component",
    "check_mri_normalisation",
    "check_nsd",
    "check_patch_sampling",
    "check_resample_spacing",
    "check_sliding_window",
    "check_target_spacing",
    "check_training_loop",
    "check_training_step",
    "check_window_level",
    "gaussian_weights",
    "surface_elements",
    "window_starts",
]
