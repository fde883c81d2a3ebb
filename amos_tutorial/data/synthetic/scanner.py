"""The scanner side of a synthetic case: scanner models, what an acquisition draws, and the intensities.

Introduced in chapter *Getting the data*. A CT case gets Hounsfield units (stored ``int16``), an MRI case a
T1- or T2-like contrast with an arbitrary scale (stored ``float32`` or ``uint16``); both get a partial-volume
blur, a smooth multiplicative bias field (strong for MRI) and noise (Gaussian for CT, Rician for MRI).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from amos_tutorial.data.release import CT_SCANNERS, MRI_SCANNERS
from amos_tutorial.data.synthetic.tissues import N_TISSUES, T_ARTERY, T_ORGAN, TISSUE_MEANS

__all__ = [
    "CT_SCANNER_MAKERS",
    "CT_SLICES",
    "CT_SLICE_P",
    "MRI_SCANNER_MAKERS",
    "MR_CONTRASTS",
    "MR_DTYPES",
    "MR_SLICES",
    "ORIENTATIONS",
    "Acquisition",
    "draw_acquisition",
    "intensities",
    "store_as",
]

# Scanner model -> (manufacturer as DICOM writes it, synthetic site). Models are those of the release.
CT_SCANNER_MAKERS: dict[str, tuple[str, str]] = {
    "Optima CT660": ("GE MEDICAL SYSTEMS", "Site A"),
    "Optima CT540": ("GE MEDICAL SYSTEMS", "Site B"),
    "Brilliance16": ("Philips", "Site A"),
    "SOMATOM Force": ("SIEMENS", "Site B"),
    "Aquilion ONE": ("TOSHIBA", "Site A"),
}
MRI_SCANNER_MAKERS: dict[str, tuple[str, str]] = {
    "Ingenia": ("Philips Medical Systems", "Site A"),
    "SIGNA HDe": ("GE MEDICAL SYSTEMS", "Site B"),
    "Achieva": ("Philips Medical Systems", "Site B"),
    "Prisma": ("SIEMENS", "Site A"),
}

assert set(CT_SCANNER_MAKERS) == set(CT_SCANNERS) and set(MRI_SCANNER_MAKERS) == set(MRI_SCANNERS)
ORIENTATIONS = ("RAS", "LPS")
MR_DTYPES = ("float32", "uint16")
CT_SLICES = (1.25, 1.5, 2.0, 2.5, 3.0, 5.0)
CT_SLICE_P = (0.1, 0.1, 0.15, 0.1, 0.15, 0.4)
MR_SLICES = (2.0, 2.5, 3.0, 4.0, 5.0)
MR_CONTRASTS = ("T1", "T2")


class Acquisition(NamedTuple):
    """What a case's acquisition draws (the caller may override each): spacing, orientation, MRI dtype and contrast."""

    spacing: tuple[float, float, float]
    orientation: str
    mr_dtype: str
    mr_contrast: str


def draw_acquisition(rng: np.random.Generator, modality: str) -> Acquisition:
    """Draw the spacing (in-plane 0.6-0.9 mm, slices 1.25-5 mm), orientation, MRI dtype and contrast.

    Everything is drawn, even what the caller overrides, so that overriding one parameter does not
    reshuffle the others.
    """
    sxy = round(float(rng.uniform(0.6, 0.9)), 4)
    if modality == "CT":
        sz = float(rng.choice(CT_SLICES, p=CT_SLICE_P))
    else:
        sz = float(rng.choice(MR_SLICES))
    orientation = ORIENTATIONS[int(rng.random() < (0.7 if modality == "CT" else 0.5))]
    dtype = MR_DTYPES[int(rng.integers(2))]
    contrast = MR_CONTRASTS[int(rng.integers(2))]
    return Acquisition((sxy, sxy, sz), orientation, dtype, contrast)


def intensities(tissue: np.ndarray, modality: str, contrast: str, rng: np.random.Generator) -> np.ndarray:
    """Tissue map -> float32 image: per-case jittered tissue means, blur, bias field, noise."""
    from scipy import ndimage

    col = {"CT": 0, "T1": 1, "T2": 2}[contrast if modality == "MRI" else "CT"]
    lut = np.zeros(N_TISSUES, dtype=np.float32)
    for tid, values in TISSUE_MEANS.items():
        v = values[col]
        if modality == "CT":
            # Soft tissues vary a little between patients; contrast phase varies the vessels more.
            v += rng.normal(0, 25 if tid in (T_ORGAN + 8, T_ORGAN + 9, T_ARTERY) else 6) if -200 < v < 400 else 0
        else:
            v *= rng.uniform(0.9, 1.1)
        lut[tid] = v
    if modality == "CT":
        lut[T_ARTERY] = lut[T_ORGAN + 8] = np.clip(lut[T_ORGAN + 8], 150, 250)
    img = lut[tissue]
    # Partial-volume blur in-plane only: slices are already thick.
    img = ndimage.gaussian_filter(img, sigma=(0.6, 0.6, 0.0), mode="nearest", truncate=3.0)
    shape = img.shape
    u, v, w = (np.linspace(-1, 1, n, dtype=np.float32).reshape(s) for n, s in
               zip(shape, ((-1, 1, 1), (1, -1, 1), (1, 1, -1))))
    c = rng.normal(0, 0.15 if modality == "MRI" else 0.01, size=7).astype(np.float32)
    log_bias = (c[0] * u + c[3] * u * u) + (c[1] * v + c[4] * v * v) + (c[2] * w + c[5] * w * w) + c[6] * u * v
    bias = np.exp(log_bias)
    if modality == "CT":
        # Multiplicative on attenuation (HU + 1000) so that air stays near -1000.
        img += np.float32(1000.0)
        img *= bias
        img -= np.float32(1000.0)
        img += rng.standard_normal(shape, dtype=np.float32) * np.float32(rng.uniform(8, 20))
        return img
    gain = np.float32(rng.uniform(300, 3000))
    img *= bias * gain
    sigma = np.float32(rng.uniform(0.01, 0.03) * gain)
    # Rician noise: magnitude of a complex signal with Gaussian noise in both channels.
    re = img + rng.standard_normal(shape, dtype=np.float32) * sigma
    im = rng.standard_normal(shape, dtype=np.float32) * sigma
    return np.sqrt(re * re + im * im)


def store_as(image: np.ndarray, dtype: str) -> np.ndarray:
    """The image in its file's dtype: ``int16`` (CT, HU clipped to -1024..3071), ``uint16`` or ``float32``."""
    if dtype == "int16":
        return np.clip(np.rint(image), -1024, 3071).astype(np.int16)
    if dtype == "uint16":
        return np.clip(np.rint(image), 0, 65535).astype(np.uint16)
    return image.astype(np.float32, copy=False)
