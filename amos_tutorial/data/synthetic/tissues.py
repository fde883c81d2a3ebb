"""Tissues of the synthetic abdomen: the ids of the tissue map and each tissue's mean intensity.

Introduced in chapter *Getting the data*. The anatomy paints tissue ids (:mod:`~amos_tutorial.data.synthetic.anatomy`),
the scanner turns them into intensities (:mod:`~amos_tutorial.data.synthetic.scanner`). Organ tissues are
``T_ORGAN`` + the AMOS label id.
"""

from __future__ import annotations

__all__ = [
    "N_TISSUES", "SOLID_TISSUES", "TISSUE_MEANS",
    "T_AIR", "T_LUNG", "T_FAT", "T_MUSCLE", "T_CORTICAL", "T_MARROW", "T_DISC", "T_CSF", "T_BOWEL_WALL", "T_BOWEL_AIR",
    "T_BOWEL_FLUID", "T_HEART", "T_ARTERY", "T_TABLE", "T_ORGAN", "T_STOMACH_AIR", "T_STOMACH_FLUID", "T_DUO_AIR",
    "T_DUO_FLUID", "T_UTERUS",
]  # fmt: skip

(T_AIR, T_LUNG, T_FAT, T_MUSCLE, T_CORTICAL, T_MARROW, T_DISC, T_CSF, T_BOWEL_WALL, T_BOWEL_AIR,
 T_BOWEL_FLUID, T_HEART, T_ARTERY, T_TABLE) = range(14)
T_ORGAN = 16
T_STOMACH_AIR, T_STOMACH_FLUID, T_DUO_AIR, T_DUO_FLUID, T_UTERUS = range(32, 37)
N_TISSUES = 40

# Mean intensity per tissue: CT in HU (portal-venous phase), MRI on a 0-1 scale before the gain.
# Each entry: tissue -> (CT HU, T1-like, T2-like). MRI orders the organs differently from CT
# (liver brighter than spleen on T1, fluid bright on T2, flowing blood dark on T2).
TISSUE_MEANS: dict[int, tuple[float, float, float]] = {
    T_AIR: (-1000, 0.0, 0.0),
    T_LUNG: (-850, 0.03, 0.03),
    T_FAT: (-100, 0.9, 0.7),
    T_MUSCLE: (50, 0.3, 0.15),
    T_CORTICAL: (850, 0.02, 0.02),
    T_MARROW: (420, 0.7, 0.5),
    T_DISC: (90, 0.3, 0.6),
    T_CSF: (10, 0.1, 0.95),
    T_BOWEL_WALL: (45, 0.35, 0.3),
    T_BOWEL_AIR: (-950, 0.0, 0.0),
    T_BOWEL_FLUID: (15, 0.15, 0.85),
    T_HEART: (110, 0.35, 0.25),
    T_ARTERY: (200, 0.8, 0.05),
    T_TABLE: (150, 0.0, 0.0),
    T_ORGAN + 1: (120, 0.4, 0.55),  # spleen
    T_ORGAN + 2: (170, 0.45, 0.6),  # right kidney
    T_ORGAN + 3: (170, 0.45, 0.6),  # left kidney
    T_ORGAN + 4: (12, 0.12, 0.95),  # gallbladder (bile)
    T_ORGAN + 5: (45, 0.35, 0.3),  # esophagus
    T_ORGAN + 6: (100, 0.55, 0.25),  # liver
    T_ORGAN + 7: (50, 0.35, 0.3),  # stomach wall
    T_ORGAN + 8: (200, 0.8, 0.05),  # aorta (contrast; flow void on T2)
    T_ORGAN + 9: (160, 0.7, 0.1),  # inferior vena cava
    T_ORGAN + 10: (95, 0.65, 0.35),  # pancreas
    T_ORGAN + 11: (55, 0.4, 0.3),  # right adrenal
    T_ORGAN + 12: (55, 0.4, 0.3),  # left adrenal
    T_ORGAN + 13: (50, 0.35, 0.3),  # duodenum wall
    T_ORGAN + 14: (10, 0.1, 0.95),  # bladder (urine)
    T_ORGAN + 15: (45, 0.35, 0.5),  # prostate
    T_STOMACH_AIR: (-950, 0.0, 0.0),
    T_STOMACH_FLUID: (20, 0.12, 0.85),
    T_DUO_AIR: (-900, 0.0, 0.0),
    T_DUO_FLUID: (20, 0.15, 0.85),
    T_UTERUS: (90, 0.45, 0.6),
}
SOLID_TISSUES = (T_CORTICAL, T_MARROW, T_DISC, T_CSF)
