"""Benchmark the CPU-sized models: training-step and forward throughput; prints a Markdown table.

Usage: ``python -m benchmarks.bench_models [--models mff_tiny,bts_tiny] [--batch 16] [--height 96]
[--width 128] [--steps 10]``. A training step is forward + loss + backward + Adam step, with the
model's own loss from :mod:`mdeinterp.losses` (MFF loss for MFF, SILog for BTS; L1 when that
module is unavailable). Inputs are random images and random positive depths in metres. Wall-clock
figures depend on what else runs; the CPU-seconds columns (all threads) much less so.
"""

from __future__ import annotations

import argparse
import os
import time

import torch
import torch.nn.functional as F

from mdeinterp.models import create_model


def pick_loss(arch: str):
    """Return the loss function (pred, target) -> scalar used for ``arch``'s training step."""
    try:
        from mdeinterp import losses
    except ImportError:
        return lambda pred, target: (pred - target).abs().mean()
    return losses.silog_loss if arch.startswith("bts") else losses.mff_loss


def time_per_call(fn, steps: int, warmup: int = 2) -> tuple[float, float]:
    """Return the median wall-clock and process-CPU seconds of ``fn()`` over ``steps`` calls after ``warmup``.

    CPU seconds (summed over threads) barely change when other processes share the machine, so
    they give a load-independent figure next to the wall-clock one.
    """
    for _ in range(warmup):
        fn()
    walls, cpus = [], []
    for _ in range(steps):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return sorted(walls)[len(walls) // 2], sorted(cpus)[len(cpus) // 2]


def bench(arch: str, batch: int, height: int, width: int, steps: int) -> dict[str, float]:
    """Return parameter count and timings (seconds, images/second) of ``arch`` on random data."""
    torch.manual_seed(0)
    model = create_model(arch)
    image = torch.randn(batch, 3, height, width)
    depth = torch.rand(batch, 1, height, width) * 9.0 + 0.5  # metres
    loss_fn = pick_loss(arch)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)

    def train_step() -> None:
        optimizer.zero_grad(set_to_none=True)
        pred = model(image)
        target = F.interpolate(depth, size=pred.shape[-2:], mode="nearest")
        loss_fn(pred, target).backward()
        optimizer.step()

    model.train()
    train_s, train_cpu = time_per_call(train_step, steps)
    model.eval()
    with torch.no_grad():
        forward_s, forward_cpu = time_per_call(lambda: model(image), steps)
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "train_s": train_s,
        "train_cpu": train_cpu,
        "train_ips": batch / train_s,
        "forward_s": forward_s,
        "forward_cpu": forward_cpu,
        "forward_ips": batch / forward_s,
    }


def main() -> None:
    """Print one Markdown table row per model."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mff_tiny,bts_tiny")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--height", type=int, default=96)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"CPU threads: {torch.get_num_threads()}, batch {args.batch}, input {args.height}x{args.width}, "
          f"load average at start {load:.1f}\n")
    print("| model | parameters | train step (s) | train CPU (s) | train images/s | forward (s) | forward CPU (s) "
          "| forward images/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for arch in args.models.split(","):
        r = bench(arch, args.batch, args.height, args.width, args.steps)
        print(
            f"| {arch} | {r['params']:,} | {r['train_s']:.3f} | {r['train_cpu']:.3f} | {r['train_ips']:.1f} "
            f"| {r['forward_s']:.3f} | {r['forward_cpu']:.3f} | {r['forward_ips']:.1f} |"
        )


if __name__ == "__main__":
    main()
