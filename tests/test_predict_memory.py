"""Prediction memory that does not grow with the number of classes: the labels are taken one class at a time.

Measured on this 2-core machine (2026-12-06) on a 256 x 256 x 80 CT at 0.8 x 0.8 x 2.5 mm, with the book's
default 1.5 x 1.5 x 2 mm grid and 16 classes: the peak resident memory of ``predict_case`` above the
imports was 189 bytes per CT voxel when the 16 probability volumes were resampled back together
(``keep_probabilities=True``, the former path), and 50 bytes per voxel class by class; on this test's
192 x 192 x 48 CT, 197 against 64. The test allows 100 bytes per voxel (100 times the uint8 label map), which
the former path exceeds by about twice.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from amos_tutorial.inference import predict_case
from amos_tutorial.transforms.preprocessing import PreprocessConfig
from amos_tutorial.utils.io import save_nifti

#: Bytes of peak resident memory per voxel of the CT allowed above the imports (twice the measurement).
BYTES_PER_VOXEL = 100

_CHILD = r"""
import json, resource, sys
from pathlib import Path
import numpy as np, torch
torch.set_num_threads(1)
from amos_tutorial.inference import predict_case
from amos_tutorial.transforms.preprocessing import PreprocessConfig
from amos_tutorial.utils.io import save_nifti
image, small, keep = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
torch.manual_seed(0)
net = torch.nn.Conv3d(1, 16, 3, padding=1).eval()
kw = dict(config=PreprocessConfig(), device="cpu", modality="CT", roi_size=(32, 32, 32), keep_probabilities=keep)
predict_case(net, small, **kw)  # lazy imports and first allocations
base = int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize()
with torch.no_grad():
    labels = predict_case(net, image, **kw).labels
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the (larger) pytest process.
peak = next(int(l.split()[1]) * 1024 for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmHWM:"))
print(json.dumps({"delta": peak - base, "voxels": int(labels.size)}))
"""


def _ct(path, shape, seed=0):
    rng = np.random.default_rng(seed)
    image = rng.normal(-200.0, 300.0, size=shape).astype(np.float32)
    save_nifti(image, np.diag([0.8, 0.8, 2.5, 1.0]), path)
    return path


def test_labels_class_by_class_equal_the_argmax_of_all_classes(tmp_path):
    image = _ct(tmp_path / "amos_0001.nii.gz", (40, 36, 12))
    torch.manual_seed(0)
    net = torch.nn.Conv3d(1, 16, 3, padding=1).eval()
    kw = {"config": PreprocessConfig(), "device": "cpu", "modality": "CT", "roi_size": (16, 16, 16)}
    together = predict_case(net, image, keep_probabilities=True, **kw)
    by_class = predict_case(net, image, **kw)
    assert len(np.unique(together.labels)) > 2, "the random network should predict several classes"
    np.testing.assert_array_equal(by_class.labels, together.labels)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_prediction_memory_is_bounded_per_voxel(tmp_path):
    image = _ct(tmp_path / "amos_0001.nii.gz", (192, 192, 48))
    small = _ct(tmp_path / "amos_0002.nii.gz", (32, 32, 8), seed=1)
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(image), str(small), "0"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    per_voxel = result["delta"] / result["voxels"]
    assert per_voxel < BYTES_PER_VOXEL, f"{per_voxel:.0f} bytes per voxel above the imports"
