"""The full grid's training cost from measured step times: the floor under `make reproduce` on this machine.

Every run of `grid.plan("full")` is timed on its own config's training step (`benchmarks/trainstep.py`, one
torch thread, as `run_all`'s workers), runs of the same shape sharing one measurement. Its steps come from the
config (epochs x batches per epoch, or max_steps). Per-epoch evaluation, the probe, dissections and the
notebooks come on top, so the sum is a lower bound of the training part.

Usage: python -m benchmarks.bench_grid [--steps 8] [--workers 2] [--recorded]
Prints a Markdown table (one row per kind of run), the wall-clock floor of the training on `--workers`
processes (max(total / workers, longest run)) and the expected wall time of `make reproduce` on 2, 4, 8 and 16
cores (:func:`cores_table`). ``--recorded`` prints that last table from :data:`RECORDED_RUN_SECONDS` (the per-run
training seconds of the committed grid) without timing anything.
"""

from __future__ import annotations

import argparse
import heapq
import statistics
from collections.abc import Mapping, Sequence

import torch

from benchmarks.trainstep import StepTimer
from mdeinterp import train
from mdeinterp.config import TrainConfig
from mdeinterp.grid import RunSpec, plan, schedule


def planned_steps(config: TrainConfig) -> int:
    """Return the optimiser steps ``train(config)`` takes in one process on the config's synthetic training split."""
    return train.planned_steps(config, config.data.n_train)


#: Dissection of every run on all its training images, right after training in the same worker, as a share of the
#: run's training time: in the 2026-12-04 grid the 21 runs' dissections took 802 s beside 11,118 s of training
#: (metrics.csv; file times of `done` and the dissection stamps), 0.072 x training; 2026-12-03: 1,216 s beside
#: 13,456 s, 0.090, plus 107 s of per-epoch evaluation. 0.10 covers both.
DISSECTION_SHARE = 0.10
#: Notebooks 00-07 with every run trained and dissected, one after another: 8 min 37 s on 2026-12-04 (the
#: notebooks other than 01 in the grid's `make reproduce`), 9 min 24 s and 10 min 44 s on 2026-12-01.
NOTEBOOK_SECONDS = 600.0
#: Training seconds per run of `plan("full")`, from each run's metrics.csv: the grid `make reproduce` trained from an
#: empty runs/ on 2026-12-04 (renderer v5; MFF 6,000 steps at 48 x 64; 2 workers of one thread on the 2-core
#: machine, an Intel Xeon with torch's AVX512 kernels; nothing else ran beside it). Sum 11,118 s. The 2026-12-03
#: grid on that session's machine (CPU not recorded) summed 13,456 s, with the BTS runs relatively cheaper (692 s against 731-895 s for
#: an MFF run there; 1,064 s against 610-660 s here).
RECORDED_RUN_SECONDS: dict[str, float] = {
    "base_s0": 610.0, "interp_s0": 631.0, "base_s1": 635.0, "interp_s1": 660.0, "base_s2": 630.0,
    "interp_s2": 652.0, "layer_R.conv0_s0": 651.0, "layer_R.conv1_s0": 650.0,
    "bts_base_s0": 1064.0, "bts_interp_s0": 1016.0, "outdoor_base_s0": 670.0, "outdoor_interp_s0": 666.0,
    "completion_base_s0": 897.0, "completion_interp_s0": 912.0,
    "sweep_a0_s0": 108.0, "sweep_a0.03_s0": 111.0, "sweep_a0.1_s0": 111.0, "sweep_a0.3_s0": 111.0,
    "sweep_a1_s0": 112.0, "sweep_k8_s0": 112.0, "sweep_k16_s0": 111.0,
}


def list_schedule(costs: Sequence[float], workers: int) -> float:
    """Return the makespan in seconds of jobs taken in the given order, each by the first worker to be free.

    This is how `grid.run_all` spends its workers: every run is submitted to a process pool in the order of
    `grid.schedule` and an idle worker process takes the next one.
    """
    if workers < 1:
        raise ValueError(f"workers={workers!r}; expected at least 1")
    if any(cost < 0 for cost in costs):
        raise ValueError(f"costs {list(costs)!r} hold a negative duration; expected seconds >= 0")
    free_at = [0.0] * min(workers, len(costs))  # when each busy-or-idle worker is next free
    for cost in costs:
        heapq.heappush(free_at, heapq.heappop(free_at) + cost)
    return max(free_at, default=0.0)


def expected_wall_seconds(run_seconds: Sequence[float], cores: int, *,
                          dissection_share: float = DISSECTION_SHARE,
                          notebook_seconds: float = NOTEBOOK_SECONDS) -> float:
    """Return the expected wall-clock seconds of `make reproduce` from empty `runs/` on ``cores`` cores.

    ``run_seconds`` are the runs' one-thread training seconds in the order they are handed to the workers. One
    worker per core trains a run and then dissects it (its cost times ``1 + dissection_share``), list-scheduled in
    that order; the notebooks follow one after another. Rendering the scene caches (seconds) and any slowdown of
    one-thread runs side by side on a larger machine are not modelled.
    """
    costs = [seconds * (1 + dissection_share) for seconds in run_seconds]
    return list_schedule(costs, cores) + notebook_seconds


def cores_table(run_seconds: Mapping[str, float], specs: Sequence[RunSpec],
                cores: Sequence[int] = (2, 4, 8, 16)) -> str:
    """Return a Markdown table of the expected wall time of `make reproduce` on each of ``cores`` cores, in minutes:
    with the runs handed out as `run_all` does (`grid.schedule`, longest first) and, for comparison, in plan order
    (as the 2026-12-03 grid was trained, before `grid.schedule`)."""
    scheduled = [run_seconds[spec.name] for spec in schedule(specs)]
    in_plan = [run_seconds[spec.name] for spec in specs]
    lines = ["| cores | runs + dissections (min) | notebooks (min) | total (min) | total in plan order (min) |",
             "|---:|---:|---:|---:|---:|"]
    for count in cores:
        total = expected_wall_seconds(scheduled, count)
        lines.append(f"| {count} | {(total - NOTEBOOK_SECONDS) / 60:.0f} | {NOTEBOOK_SECONDS / 60:.0f} | "
                     f"{total / 60:.0f} | {expected_wall_seconds(in_plan, count) / 60:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8, help="timed steps per kind of run (after 2 warm-up steps)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--recorded", action="store_true",
                        help="print the cores table from the committed grid's recorded run times; time nothing")
    args = parser.parse_args()
    if args.recorded:
        print("expected `make reproduce` wall time from the per-run training seconds recorded on 2026-12-04\n")
        print(cores_table(RECORDED_RUN_SECONDS, plan("full")))
        return
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
        kind["per_step"] = per_step
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
    per_run = {name: kind["per_step"] * steps for kind in kinds.values()
               for name, steps in zip(kind["runs"], kind["steps"])}
    print(f"\nExpected `make reproduce` wall time from these step times, with dissections "
          f"(+{DISSECTION_SHARE:.0%}) and the notebooks ({NOTEBOOK_SECONDS / 60:.0f} min):\n")
    print(cores_table(per_run, plan("full")))


if __name__ == "__main__":
    main()
