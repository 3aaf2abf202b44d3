"""How tightly depth is tied to the image row in each renderer version's scenes (issue 29, docs/renderer-v5.md).

Usage: python -m benchmarks.bench_position_tie [--n 300]

Renders ``n`` training scenes of each kind with every renderer version (data seed 0; 96 x 128 indoor, 96 x 320
outdoor) and prints a Markdown table of ``mdeinterp.data.position_tie``'s measures: the p10-p90 across scenes of
the bottom rows' median depth, the image row's share of the depth variance, the share of valid pixels below the
scenes' d_min, the share of valid pixels, and the rendering time per scene.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from mdeinterp.config import DEPTH_RANGES, RENDERER_VERSIONS
from mdeinterp.data import position_tie
from mdeinterp.data.render import render_scene
from mdeinterp.data.synthetic import image_rng

SIZES = {"indoor": (96, 128), "outdoor": (96, 320)}


def row(kind: str, version: int, n: int) -> str:
    """Return one table row: the tie measures of ``n`` scenes of ``kind`` rendered by renderer ``version``."""
    height, width = SIZES[kind]
    start = time.perf_counter()
    depth = torch.from_numpy(np.stack([render_scene(kind, image_rng(0, "train", i), height, width, version=version)[1]
                                       for i in range(n)]))
    seconds = (time.perf_counter() - start) / n
    low, high = position_tie.bottom_depth_spread(depth)
    share = position_tie.row_explained_share(depth)
    below = position_tie.share_below(depth, DEPTH_RANGES[kind][0])
    valid = float((depth > 0).double().mean())
    return (f"| {kind} v{version} | {low:.2f}–{high:.2f} m | {share:.1%} | {below:.2%} | {valid:.2%} | "
            f"{seconds * 1000:.1f} ms |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="training scenes per kind and version")
    args = parser.parse_args()
    print("| scenes | bottom rows' median depth, p10–p90 | row's share of depth variance | valid pixels below d_min "
          "| valid pixels | render time per scene |")
    print("|---|---|---|---|---|---|")
    for kind in SIZES:
        for version in RENDERER_VERSIONS:
            print(row(kind, version, args.n), flush=True)


if __name__ == "__main__":
    main()
