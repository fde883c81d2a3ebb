#!/usr/bin/env python
"""Patches per second: MONAI tutorial-style pipeline vs. PatchSampler, side by side in one run.

Chapter *Preprocessing* quotes the figures this script prints. Both pipelines read the same
in-memory volumes (as after ``CacheDataset``: channel-first float32 images and labels with 15
organs, some only a few voxels large):

(a) MONAI tutorial style: ``RandCropByPosNegLabeld`` (``--batch`` samples per volume) + flips +
    rot90 + intensity shift, per sample, in a ``DataLoader`` with ``--workers`` worker processes;
(b) :class:`amos_tutorial.transforms.sampler.PatchSampler` (organ-weighted, full augmentation),
    on the CPU, and on CUDA when available (volumes cached on the GPU, and in host memory).

With ``--train`` it also measures the ratio that matters on a GPU: seconds per step of a MONAI
UNet (16..256 channels, 2 residual units, bf16, DiceCE, AdamW) on random tensors already on the
device, divided by seconds per step when the batches come from each pipeline (1.0 = the GPU never
waits for data).

Examples:
    python scripts/bench_pipeline.py --patch 64 64 64 --batch 2 --volumes 4 --shape 160 160 96
    python scripts/bench_pipeline.py --patch 96 96 96 --batch 2 --volumes 8 --shape 240 240 200 --train
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def make_volumes(n: int, shape: tuple[int, int, int], seed: int = 0):
    """``n`` synthetic preprocessed cases: a body ellipsoid with 15 organ ellipsoids of varied sizes."""
    from amos_tutorial.transforms.preprocessing import PreprocessedCase, compute_class_indices

    rng = np.random.default_rng(seed)
    grids = np.meshgrid(*(np.arange(s, dtype=np.float32) for s in shape), indexing="ij")
    cases = []
    for i in range(n):
        centre = np.array(shape) / 2
        body = sum(((g - c) / (0.45 * s)) ** 2 for g, c, s in zip(grids, centre, shape)) < 1
        image = np.where(body, 0.4, 0.0).astype(np.float32)
        label = np.zeros(shape, dtype=np.uint8)
        for organ in range(1, 16):
            # Radii from 1.5 voxels (adrenal-like) to a fifth of the volume (liver-like).
            r = 1.5 + (organ % 5) * 0.05 * min(shape) * rng.uniform(0.5, 1.0)
            c = rng.uniform(0.3, 0.7, 3) * np.array(shape)
            blob = sum(((g - cc) / r) ** 2 for g, cc in zip(grids, c)) < 1
            label[blob] = organ
            image[blob] = 0.3 + 0.04 * organ
        image += rng.normal(0, 0.02, shape).astype(np.float32)
        img_t = torch.from_numpy(image)[None]
        lab_t = torch.from_numpy(label)[None]
        meta = {"spacing": [1.5, 1.5, 2.0]}
        cases.append(PreprocessedCase(f"bench_{i:04d}", "CT", img_t, lab_t, meta, compute_class_indices(lab_t)))
    return cases


def monai_loader(cases, patch, batch, workers):
    """The tutorial pipeline: per-sample transforms in DataLoader workers, ``batch`` patches per step."""
    from monai.data import DataLoader, Dataset, MetaTensor, list_data_collate

    from amos_tutorial.transforms.presets import tutorial_augmentation_transforms

    data = [
        {"image": MetaTensor(c.image, affine=torch.diag(torch.tensor([1.5, 1.5, 2.0, 1.0]))),
         "label": MetaTensor(c.label.float(), affine=torch.diag(torch.tensor([1.5, 1.5, 2.0, 1.0])))}
        for c in cases
    ]
    ds = Dataset(data, transform=tutorial_augmentation_transforms(patch, num_samples=batch))
    return DataLoader(
        ds, batch_size=1, shuffle=True, num_workers=workers, collate_fn=list_data_collate,
        persistent_workers=workers > 0,
    )


def endless(loader):
    while True:
        yield from loader


def time_stream(next_batch, n: int, warmup: int, device: torch.device, step=None) -> float:
    """Seconds per batch (after ``warmup`` batches), optionally running ``step(batch)`` on each."""
    for _ in range(warmup):
        b = next_batch()
        if step:
            step(b)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    for _ in range(n):
        b = next_batch()
        if step:
            step(b)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - t0) / n


def make_step(device: torch.device, patch):
    """A MONAI UNet training step (bf16 autocast on CUDA), the raw-step reference of the book."""
    from monai.losses import DiceCELoss
    from monai.networks.nets import UNet

    net = UNet(3, 1, 16, (16, 32, 64, 128, 256), (2, 2, 2, 2), num_res_units=2).to(device)
    opt = torch.optim.AdamW(net.parameters(), 1e-4)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    amp = device.type == "cuda"

    def step(batch):
        x = batch["image"].to(device, non_blocking=True)
        y = batch["label"].to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss = loss_fn(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patch", nargs=3, type=int, default=[64, 64, 64])
    parser.add_argument("--batch", type=int, default=2, help="patches per step")
    parser.add_argument("--volumes", type=int, default=4)
    parser.add_argument("--shape", nargs=3, type=int, default=[160, 160, 96], help="volume shape (x y z)")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers of the MONAI pipeline")
    parser.add_argument("--steps", type=int, default=20, help="timed batches per pipeline")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads in the main process (0: default)")
    parser.add_argument("--train", action="store_true", help="also time a UNet step fed by each pipeline")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from amos_tutorial.transforms.sampler import PatchSampler

    patch = tuple(args.patch)
    shape = tuple(args.shape)
    cpu = torch.device("cpu")
    print(f"volumes {args.volumes} x {shape}, patch {patch}, batch {args.batch}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"cuda: {torch.cuda.get_device_name() if torch.cuda.is_available() else 'none'}")
    t0 = time.perf_counter()
    cases = make_volumes(args.volumes, shape)
    print(f"synthetic volumes built in {time.perf_counter() - t0:.1f} s")

    rows = []
    loader = monai_loader(cases, patch, args.batch, args.workers)
    it = endless(loader)

    def monai_next():
        return next(it)

    s = time_stream(monai_next, args.steps, args.warmup, cpu)
    rows.append((f"(a) MONAI tutorial, DataLoader {args.workers} workers", s))

    sampler = PatchSampler(cases, patch, args.batch, device="cpu", seed=0)
    counter = iter(range(10**9))
    s = time_stream(lambda: sampler.batch(next(counter)), args.steps, args.warmup, cpu)
    rows.append(("(b) PatchSampler, cpu", s))

    cuda = torch.device("cuda") if torch.cuda.is_available() else None
    samplers = {}
    if cuda is not None:
        for name, on_dev in (("volumes on GPU", True), ("volumes in host memory", False)):
            smp = PatchSampler(cases, patch, args.batch, device=cuda, seed=0, cache_on_device=on_dev)
            samplers[name] = smp
            counter = iter(range(10**9))
            s = time_stream(lambda smp=smp, c=counter: smp.batch(next(c)), args.steps, args.warmup, cuda)
            rows.append((f"(b) PatchSampler, cuda, {name}", s))

    print(f"\n{'pipeline':58s} {'s/batch':>9s} {'patches/s':>10s}")
    for name, s in rows:
        print(f"{name:58s} {s:9.4f} {args.batch / s:10.1f}")

    if args.train:
        device = cuda or cpu
        step = make_step(device, patch)
        raw = {
            "image": torch.randn(args.batch, 1, *patch, device=device),
            "label": torch.randint(0, 16, (args.batch, 1, *patch), device=device),
        }
        steps = max(5, args.steps // 2)
        t_raw = time_stream(lambda: raw, steps, args.warmup, device, step)
        results = [("raw step (random tensors on the device)", t_raw)]
        t_monai = time_stream(monai_next, steps, args.warmup, device, step)
        results.append((f"(a) MONAI tutorial, {args.workers} workers", t_monai))
        feeders = samplers or {"cpu": sampler}
        for name, smp in feeders.items():
            counter = iter(range(10**9))
            t_smp = time_stream(lambda smp=smp, c=counter: smp.batch(next(c)), steps, args.warmup, device, step)
            results.append((f"(b) PatchSampler, {name}", t_smp))
        print(f"\nUNet training step on {device} ({'bf16' if device.type == 'cuda' else 'fp32'}):")
        print(f"{'loop':58s} {'s/step':>9s} {'ratio':>6s}")
        for name, s in results:
            print(f"{name:58s} {s:9.4f} {t_raw / s:6.2f}")
    print(f"\nPatchSampler (cpu) / MONAI tutorial: {rows[0][1] / rows[1][1]:.1f}x the patches per second")


if __name__ == "__main__":
    main()
