"""Post-processing rules on hand-made volumes: largest component, small components, left/right by the midline."""

from __future__ import annotations

import numpy as np
import pytest

from amos_tutorial.evaluation.rules import (
    LEFT_RIGHT_PAIRS,
    Rule,
    apply_rules,
    body_midline,
    fix_left_right,
    keep_largest_component,
    remove_small_components,
)
from amos_tutorial.labels import label_by_id

SHAPE = (40, 20, 20)
RAS = np.eye(4)  # 1 mm voxels; world x grows towards the patient's right
LIVER, SPLEEN, R_KIDNEY, L_KIDNEY, DUODENUM = 6, 1, 2, 3, 13


def body() -> np.ndarray:
    """Reference labels: liver and right kidney at large x (patient right), spleen and left kidney at small x."""
    lab = np.zeros(SHAPE, np.uint8)
    lab[24:36, 4:14, 4:14] = LIVER
    lab[4:12, 4:12, 4:12] = SPLEEN
    lab[26:30, 15:19, 15:19] = R_KIDNEY
    lab[9:13, 15:19, 15:19] = L_KIDNEY
    lab[17:20, 2:5, 2:5] = DUODENUM  # two genuine pieces of one organ (a loop cut by the field of view)
    lab[17:20, 2:5, 15:18] = DUODENUM
    return lab


def test_the_amos_left_right_pairs():
    names = [(label_by_id(r).name, label_by_id(left).name) for r, left in LEFT_RIGHT_PAIRS]
    assert names == [("kidney_right", "kidney_left"), ("adrenal_gland_right", "adrenal_gland_left")]


def test_keep_largest_component_keeps_the_largest_only():
    lab = body()
    lab[1:3, 1:3, 1:3] = LIVER  # a second, smaller liver component far away
    out = keep_largest_component(lab, LIVER)
    assert (out == LIVER).sum() == 12 * 10 * 10
    assert not (out[1:3, 1:3, 1:3] == LIVER).any()
    np.testing.assert_array_equal(out[lab != LIVER], lab[lab != LIVER])  # other organs untouched
    diagonal = np.zeros((4, 4, 4), np.uint8)
    diagonal[0, 0, 0] = diagonal[1, 1, 1] = 1  # touching by a corner: one component with 26-connectivity
    assert (keep_largest_component(diagonal, 1) == 1).sum() == 2


def test_remove_small_drops_a_five_voxel_island():
    lab = body()
    island = (slice(38, 39), slice(0, 5), slice(0, 1))  # 5 voxels = 0.005 ml at 1 mm
    lab[island] = SPLEEN
    out = remove_small_components(lab, SPLEEN, (1.0, 1.0, 1.0), min_ml=0.01)
    assert (out[island] == 0).all()
    assert (out == SPLEEN).sum() == 8 * 8 * 8
    kept = remove_small_components(lab, SPLEEN, (1.0, 1.0, 1.0), min_ml=0.004)  # the island is 0.005 ml
    assert (kept[island] == SPLEEN).all()


def test_fix_left_right_swaps_a_kidney_by_the_body_midline():
    lab = body()
    swapped = lab.copy()
    swapped[lab == R_KIDNEY] = L_KIDNEY  # the right kidney predicted as left
    assert 17 < body_midline(RAS, swapped) < 23
    np.testing.assert_array_equal(fix_left_right(swapped, RAS, (R_KIDNEY, L_KIDNEY)), lab)
    # The same array with the x axis pointing to the patient's left: the sides are the other way round.
    lps = np.diag([-1.0, 1.0, 1.0, 1.0])
    fixed = fix_left_right(lab, lps, (R_KIDNEY, L_KIDNEY))
    assert (fixed[lab == R_KIDNEY] == L_KIDNEY).all()
    assert (fixed[lab == L_KIDNEY] == R_KIDNEY).all()
    # With the image the midline is the body's centre.
    image = np.full(SHAPE, -1000.0, np.float32)
    image[2:38] = 40.0
    assert body_midline(RAS, swapped, image) == pytest.approx(19.5)
    out = apply_rules(swapped, (1, 1, 1), [Rule("fix_left_right", (R_KIDNEY, L_KIDNEY))], affine=RAS, image=image)
    np.testing.assert_array_equal(out, lab)
