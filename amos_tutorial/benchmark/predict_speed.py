"""How fast is prediction? One AMOS-like CT, the fast path vs the MONAI plain path, stage by stage.

Introduced in chapter *Training the baselines*; builds on :func:`amos_tutorial.inference.predict_case`,
:func:`amos_tutorial.data.synthetic.synthesize_case` and :mod:`amos_tutorial.utils.timing`.
``amos bench predict`` prints the table.

The image is a synthetic CT in LPS orientation (so the orientation step does real work), saved as NIfTI.
The network is DynUNet (the registry's ``nnunet``) with random weights unless ``run`` is given: timings do
not depend on the weights, and random weights make the agreement test harder (noisy probabilities
everywhere, not just at organ borders). Both paths run the same sliding window on the same device; they
differ in preprocessing (torch on the device vs the MONAI chain on the CPU) and inversion
(:func:`~amos_tutorial.transforms.preprocessing.invert_to_original` on the device vs MONAI ``Invertd`` on the
CPU). Reported: the seconds of each stage (minimum over ``repeats`` after one warm-up), the end-to-end time
without loading, and how many voxels of the two label maps differ (and whether they lie on organ borders).

Examples:
    >>> table, agreement = predict_timings(device="cpu", shape=(96, 96, 20))  # doctest: +SKIP
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from amos_tutorial.utils.options import with_settings

__all__ = ["PATHS", "TimingOptions", "format_predict_timings", "label_agreement", "predict_timings"]

PATHS = ("fast", "plain")
"""The two prediction paths of :func:`~amos_tutorial.inference.predict_case`."""


def _model(device: Any, model: str, variant: str | None, run: str | Path | None, roi: Sequence[int] | None):
    """``(network, preprocessing config, window, description)``: a trained run, or random weights."""
    import torch

    from amos_tutorial.transforms.preprocessing import PreprocessConfig

    if run is not None:
        from amos_tutorial.training import load_run

        net, config = load_run(run, device=device)
        return net, PreprocessConfig.from_dict(config.preprocess), tuple(roi or config.patch_size), (
            f"{config.model} ({config.variant}) from {run}"
        )
    from amos_tutorial.models import build_model_for_patch, count_parameters, get_model_spec

    spec = get_model_spec(model)
    variant = variant or ("full" if device.type != "cpu" else "tiny")
    roi = tuple(roi or (spec.patch_size if variant == "full" else spec.tiny_patch_size))
    pre_config = PreprocessConfig()
    torch.manual_seed(0)
    net = build_model_for_patch(model, variant, roi, pre_config.spacing).to(device).eval()
    return net, pre_config, roi, f"{model} ({variant}, random weights, {count_parameters(net) / 1e6:.1f}M parameters)"


def label_agreement(fast: np.ndarray, plain: np.ndarray) -> dict[str, Any]:
    """Share of equal voxels, voxels that differ (and how many off organ borders), lowest per-label Dice.

    Examples:
        >>> a = np.zeros((4, 4, 4), np.uint8); a[1:3, 1:3, 1:3] = 6
        >>> label_agreement(a, a)["agreement"]
        1.0
    """
    from scipy import ndimage

    differ = fast != plain
    border = ndimage.morphological_gradient(plain, size=3) > 0
    organs = [k for k in range(1, 16) if (plain == k).any() or (fast == k).any()]
    dices = [2 * ((fast == k) & (plain == k)).sum() / ((fast == k).sum() + (plain == k).sum()) for k in organs]
    return {
        "agreement": float(1 - differ.mean()),
        "voxels_differ": int(differ.sum()),
        "voxels_off_border": int((differ & ~border).sum()),
        "lowest_label_dice": float(min(dices)) if dices else float("nan"),
        "labels": len(organs),
    }


def _time_path(model, path, pre_config, device, which, repeats, kwargs, log) -> tuple[dict[str, float], Any]:
    """Minimum seconds per stage over ``repeats`` runs after one warm-up run, and the last prediction."""
    from amos_tutorial.inference import STAGES, predict_case
    from amos_tutorial.utils.timing import peak_memory_gib, reset_peak_memory

    runs = []
    for i in range(repeats + 1):  # the first run warms up (cuDNN autotuning, caches)
        reset_peak_memory(device)
        pred = predict_case(model, path, pre_config, device, engine=which, **kwargs)
        if i > 0:
            runs.append(pred.timings)
        seconds = sum(v for k, v in pred.timings.items() if k != "load")
        log(f"  {which} run {i}{' (warm-up)' if i == 0 else ''}: {seconds:.2f} s without loading")
    timings = {stage: min(r[stage] for r in runs) for stage in STAGES}
    timings["peak_gib"] = peak_memory_gib(device)
    return timings, pred


@dataclass(frozen=True)
class TimingOptions:
    """How :func:`predict_timings` predicts and times: window, overlap, batch, precision, flips, repeats, threads.

    Attributes:
        roi: Sliding window (default: the model's patch).
        overlap: Window overlap.
        sw_batch_size: Windows per forward pass.
        amp: Mixed precision.
        tta: Flip test-time augmentation (8 passes).
        repeats: Timed runs per path (default: 3 on a GPU, 1 on the CPU).
        threads: torch CPU threads (None: torch's choice).
    """

    roi: Sequence[int] | None = None
    overlap: float = 0.5
    sw_batch_size: int = 4
    amp: str = "auto"
    tta: bool = False
    repeats: int | None = None
    threads: int | None = None


def predict_timings(
    device: str = "auto",
    shape: Sequence[int] | None = None,
    spacing: Sequence[float] = (0.7, 0.7, 5.0),
    model: str = "nnunet",
    variant: str | None = None,
    run: str | Path | None = None,
    log: Callable[[str], None] = print,
    *,
    options: TimingOptions | None = None,
    **settings: Any,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Predict one synthetic CT by both paths and time every stage.

    Args:
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"mps"``.
        shape: Image shape (default: 512x512x100 on a GPU, 192x192x40 on the CPU).
        spacing: Image spacing in mm.
        model: Registry name (random weights).
        variant: ``"full"`` or ``"tiny"`` (default: full on a GPU, tiny on the CPU).
        run: A trained run folder instead of random weights.
        log: Where progress lines go.
        options: The settings of :class:`TimingOptions` (``roi``, ``overlap``, ``sw_batch_size``, ``amp``, ``tta``,
            ``repeats``, ``threads``).
        **settings: Fields of :class:`TimingOptions` given as keywords; they override ``options``.

    Returns:
        ``(table, agreement)``: one row per stage (and ``end to end without load``, ``peak_gib``) with the
        seconds of ``fast`` and ``plain`` and their ratio (``attrs``: device, image, model, window); and
        :func:`label_agreement` of the two label maps plus ``same_grid``.
    """
    o = with_settings(TimingOptions, options, settings)
    roi, overlap, sw_batch_size, amp, tta = o.roi, o.overlap, o.sw_batch_size, o.amp, o.tta
    repeats, threads = o.repeats, o.threads
    import nibabel as nib
    import torch

    from amos_tutorial.data.synthetic import synthesize_case
    from amos_tutorial.inference import STAGES
    from amos_tutorial.training.amp import amp_policy, resolve_device
    from amos_tutorial.utils.io import save_nifti
    from amos_tutorial.utils.timing import thread_limit

    with thread_limit(threads):
        dev = resolve_device(device)
        gpu = dev.type != "cpu"
        shape = tuple(shape or ((512, 512, 100) if gpu else (192, 192, 40)))
        repeats = max(1, repeats or (3 if gpu else 1))
        net, pre_config, roi, name = _model(dev, model, variant, run, roi)
        if dev.type == "cuda":
            torch.backends.cudnn.benchmark = True
        kwargs = dict(roi_size=roi, overlap=overlap, sw_batch_size=sw_batch_size, amp=amp, tta=tta, modality="CT")
        case = synthesize_case(1, "CT", shape=shape, spacing=tuple(spacing), orientation="LPS", seed=0)
        with tempfile.TemporaryDirectory() as tmp:
            path = save_nifti(case.image, case.affine, Path(tmp) / "amos_0001.nii.gz", dtype=np.int16)
            timed = {w: _time_path(net, path, pre_config, dev, w, repeats, kwargs, log) for w in PATHS}
            grid = nib.load(str(path))
            same_grid = all(
                p.labels.shape == grid.shape and np.allclose(p.affine, grid.affine) for _, p in timed.values()
            )
    rows = {stage: {w: timed[w][0][stage] for w in PATHS} for stage in STAGES}
    rows["end to end without load"] = {w: sum(rows[s][w] for s in STAGES if s != "load") for w in PATHS}
    rows["peak_gib"] = {w: timed[w][0]["peak_gib"] for w in PATHS}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table["ratio"] = table["plain"] / table["fast"].clip(lower=1e-9)
    table.index.name = "stage"
    table.attrs.update(device=str(dev), amp=amp_policy(dev, amp).name, shape=shape, spacing=tuple(spacing), model=name,
                       roi=roi, repeats=repeats, tta=bool(tta))  # fmt: skip
    agreement = label_agreement(timed["fast"][1].labels, timed["plain"][1].labels)
    agreement["same_grid"] = bool(same_grid)
    return table, agreement


def format_predict_timings(table: pd.DataFrame, agreement: dict[str, Any]) -> str:
    """The stage table and the label agreement as text."""
    a = table.attrs
    return "\n".join([
        f"device: {a['device']}; AMP {a['amp']}",
        f"image: {a['shape']} at {a['spacing']} mm (LPS); model: {a['model']}; window {a['roi']}, TTA {a['tta']}",
        f"seconds per stage, min of {a['repeats']}:",
        table.to_string(float_format=lambda v: f"{v:.3f}"),
        f"outputs on the input grid (shape and affine): {agreement['same_grid']}",
        f"label agreement fast vs plain: {agreement['agreement']:.6f} ({agreement['voxels_differ']} voxels differ, "
        f"{agreement['voxels_off_border']} of them off organ borders); lowest per-label Dice "
        f"{agreement['lowest_label_dice']:.6f} ({agreement['labels']} labels)",
    ])  # fmt: skip
