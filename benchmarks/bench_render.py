"""Rendering speed of the procedural scenes: prints a Markdown table of images per second (one process).

Wall-clock and CPU-time rates are both reported: on a shared machine the CPU-time rate is the
renderer's own speed, the wall-clock rate what a user waits.

Usage: python -m benchmarks.bench_render [--n 60]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from mdeinterp.data.render import render_scene

CASES = (("indoor", 240, 320), ("indoor", 96, 128), ("outdoor", 96, 320), ("outdoor", 240, 320))


def images_per_second(kind: str, height: int, width: int, n: int) -> tuple[float, float]:
    """Return (wall-clock, CPU-time) rendered images per second for ``n`` scenes of ``kind``."""
    render_scene(kind, np.random.default_rng(10_000), height, width)  # warm-up
    wall, cpu = time.perf_counter(), time.process_time()
    for seed in range(n):
        render_scene(kind, np.random.default_rng(seed), height, width)
    return n / (time.perf_counter() - wall), n / (time.process_time() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60, help="images per case")
    args = parser.parse_args()
    print("| kind | size (HxW) | images/s (wall) | images/s (CPU time) |")
    print("|---|---|---|---|")
    for kind, height, width in CASES:
        wall, cpu = images_per_second(kind, height, width, args.n)
        print(f"| {kind} | {height}x{width} | {wall:.1f} | {cpu:.1f} |", flush=True)


if __name__ == "__main__":
    main()
