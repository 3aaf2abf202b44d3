"""Training-step arithmetic rate of ``mff_tiny`` against this machine's measured matmul peak (one thread).

The step's floating-point operations are counted by PyTorch's ``FlopCounterMode`` (matmuls and convolutions,
forward and backward: 2 per multiply-add) on the training loop's own step (benchmarks/trainstep.py); the
peak is the median rate of a float32 1024 x 1024 matrix product on the same thread. The ratio says how far
the CPU step is from what the machine can do, i.e. how much a faster kernel or memory format could buy.

Usage: python -m benchmarks.bench_flops [--preset tiny] [--batch-size 8] [--steps 12]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.trainstep import StepTimer
from mdeinterp.config import build_config


def step_flops(timer: StepTimer) -> int:
    """Return the floating-point operations of one training step of ``timer`` (forward + backward)."""
    with FlopCounterMode(display=False) as counter:
        timer.step()
    return int(counter.get_total_flops())


def matmul_peak(size: int = 1024, repeats: int = 9) -> float:
    """Return the median float32 matrix-product rate in FLOP/s on the current thread count."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)  # warm-up
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        rates.append(2 * size**3 / (time.perf_counter() - start))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=12)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for alpha in (0.0, 0.1):
        config = build_config(args.preset, batch_size=args.batch_size, alpha=alpha, device="cpu")
        timer = StepTimer(config, torch.device("cpu"))
        flops = step_flops(timer)  # also the first step, which allocates memory and builds bin edges
        timer.step()
        seconds = statistics.median(timer.seconds() for _ in range(args.steps))
        rows.append((alpha, flops, seconds))
    peak = matmul_peak()
    print(f"`{args.preset}` ({build_config(args.preset).model.arch}), batch {args.batch_size}, one thread; "
          f"peak = float32 1024² matmul, {peak / 1e9:.1f} GFLOP/s\n")
    print("| α | GFLOP per step (per image) | s per step (median) | GFLOP/s | share of matmul peak |")
    print("|---|---|---|---|---|")
    for alpha, flops, seconds in rows:
        rate = flops / seconds
        print(f"| {alpha} | {flops / 1e9:.2f} ({flops / 1e9 / args.batch_size:.3f}) | {seconds:.3f} | "
              f"{rate / 1e9:.1f} | {rate / peak:.0%} |")


if __name__ == "__main__":
    main()
