"""Training-step throughput with and without the selectivity term (goal: overhead <= 1.10x on CPU).

Both variants take the training loop's own step (`mdeinterp.train.training_step`, via
benchmarks/trainstep.py) on the same fixed random batch, interleaved step by step so that load from
other processes hits both alike.

Usage: python -m benchmarks.bench_train [--preset tiny] [--batch-size 16] [--steps 30] [--layers D,MFF]
Prints a Markdown table (images/s from the median step time per variant, and the slowdown ratio).
"""

from __future__ import annotations

import argparse
import statistics

import torch

from benchmarks.trainstep import StepTimer
from mdeinterp.config import build_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--layers", default="D,MFF")
    args = parser.parse_args()
    device = torch.device("cpu")
    timers = {
        alpha: StepTimer(build_config(args.preset, batch_size=args.batch_size, alpha=alpha, layers=args.layers,
                                      device="cpu"), device)
        for alpha in (0.0, 0.1)
    }
    times: dict[float, list[float]] = {alpha: [] for alpha in timers}
    for i in range(args.steps + 2):
        for alpha, timer in timers.items():
            seconds = timer.seconds()
            if i >= 2:  # the first steps allocate memory and build bin edges and stencils
                times[alpha].append(seconds)
    base, sel = (args.batch_size / statistics.median(times[alpha]) for alpha in timers)
    config = timers[0.1].config
    size = f"{config.data.height}x{config.data.width}"
    print(f"median of {args.steps} interleaved steps per variant, `mdeinterp.train.training_step`, "
          f"{torch.get_num_threads()} threads\n")
    print("| model | input | batch | variant | images/s | time ratio |")
    print("|---|---|---:|---|---:|---:|")
    print(f"| {config.model.arch} | {size} | {args.batch_size} | baseline (alpha=0) | {base:.1f} | 1.00 |")
    print(f"| {config.model.arch} | {size} | {args.batch_size} | selectivity on {'+'.join(config.layers)} "
          f"(alpha=0.1) | {sel:.1f} | {base / sel:.2f} |")


if __name__ == "__main__":
    main()
