"""The full grid's training cost from measured step times: the floor under `make reproduce` on this machine.

Every run of `grid.plan("full")` is timed on its own config's training step (`benchmarks/trainstep.py`, one
torch thread, as `run_all`'s workers), runs of the same shape sharing one measurement. Its steps come from the
config (epochs x batches per epoch, or max_steps). Per-epoch evaluation, the probe, dissections and the
notebooks come on top, so the sum is a lower bound of the training part.

Usage: python -m benchmarks.bench_grid [--steps 8] [--workers 2]
Prints a Markdown table (one row per kind of run) and the wall-clock floor of the training on `--workers`
processes: max(total / workers, longest run).
"""

from __future__ import annotations

import argparse
import statistics

import torch

from benchmarks.trainstep import StepTimer
from mdeinterp import train
from mdeinterp.config import TrainConfig
from mdeinterp.grid import plan


def planned_steps(config: TrainConfig) -> int:
    """Return the optimiser steps ``train(config)`` takes in one process on the config's synthetic training split."""
    return train.planned_steps(config, config.data.n_train)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8, help="timed steps per kind of run (after 2 warm-up steps)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    kinds: dict[tuple, dict] = {}
    for spec in plan("full"):
        config = spec.config(device="cpu")
        key = (config.model.arch, config.data.height, config.data.width, config.batch_size, config.loss,
               config.layers if config.alpha else (), config.num_bins, config.data.sparse_points)
        kind = kinds.setdefault(key, {"config": config, "runs": [], "steps": []})
        kind["runs"].append(spec.name)
        kind["steps"].append(planned_steps(config))
    rows, longest = [], 0.0
    for kind in kinds.values():
        timer = StepTimer(kind["config"], torch.device("cpu"))
        times = [timer.seconds() for _ in range(args.steps + 2)][2:]
        per_step = statistics.median(times)
        longest = max(longest, per_step * max(kind["steps"]))
        rows.append((kind, per_step, per_step * sum(kind["steps"])))
    total = sum(cpu for _, _, cpu in rows)
    print(f"median of {args.steps} steps per kind of run, one torch thread, `grid.plan('full')`\n")
    print("| model | input | variant | runs | steps | s / step | CPU-s |")
    print("|---|---|---|---:|---:|---:|---:|")
    for kind, per_step, cpu in rows:
        c = kind["config"]
        bins = c.num_bins or "min(units, 64)"
        variant = f"selectivity term on {'+'.join(c.layers)}, K {bins}" if c.alpha else "baseline (alpha 0)"
        print(f"| {c.model.arch} | {c.data.height}x{c.data.width} | {variant} | {len(kind['runs'])} | "
              f"{sum(kind['steps']):,} | {per_step:.3f} | {cpu:,.0f} |")
    floor = max(total / args.workers, longest)
    print(f"\nTraining steps alone: {total:,.0f} CPU-s; on {args.workers} worker processes at least "
          f"{floor / 60:.0f} min of wall clock (longest run {longest / 60:.0f} min), before evaluation, the probe, "
          f"dissections and the notebooks.")


if __name__ == "__main__":
    main()
