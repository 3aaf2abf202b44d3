"""Training-step throughput of mff_tiny with and without the selectivity term (goal: overhead <= 1.10x).

Usage: python benchmarks/bench_train.py [--batch-size 16] [--steps 10] [--preset tiny] [--layers D,MFF]
Prints a Markdown table (images/s from the median step time per variant, and the slowdown ratio).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from mdeinterp.config import build_config
from mdeinterp.hooks import capture
from mdeinterp.losses import get_loss
from mdeinterp.models import create_model
from mdeinterp.selectivity import default_num_bins, selectivity_loss, sid_edges


class Trainer:
    """One model + optimiser taking training steps on fixed random inputs, with or without the selectivity term."""

    def __init__(self, config, layers: tuple[str, ...], alpha: float, batch_size: int) -> None:
        torch.manual_seed(0)
        self.model = create_model(config.model.arch)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        self.loss_fn = get_loss(config.loss)
        self.layers, self.alpha, self.config = layers, alpha, config
        height, width = config.data.height, config.data.width
        self.image = torch.randn(batch_size, 3, height, width)
        self.depth = torch.empty(batch_size, 1, height, width).uniform_(config.data.d_min, config.data.d_max)  # metres
        self.edges: dict[str, torch.Tensor] = {}

    def step(self) -> float:
        """Return the seconds one optimiser step takes."""
        start = time.perf_counter()
        with capture(self.model, self.layers) as acts:
            pred = self.model(self.image)
        loss = self.loss_fn(pred, F.interpolate(self.depth, size=pred.shape[-2:], mode="nearest"))
        for layer, features in acts.items():
            if layer not in self.edges:
                num_bins = default_num_bins(features.shape[1])
                self.edges[layer] = sid_edges(num_bins, self.config.data.d_min, self.config.data.d_max)
            loss = loss - self.alpha * selectivity_loss(features, self.depth, self.edges[layer])
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--layers", default="D,MFF")
    args = parser.parse_args()
    config = build_config(args.preset)
    layers = tuple(args.layers.split(","))
    baseline = Trainer(config, (), 0.0, args.batch_size)
    selective = Trainer(config, layers, 0.1, args.batch_size)
    # Interleave the two variants step by step so that load from other processes hits both alike.
    times: dict[str, list[float]] = {"base": [], "sel": []}
    for i in range(args.steps + 2):
        for key, trainer in (("base", baseline), ("sel", selective)):
            seconds = trainer.step()
            if i >= 2:  # the first steps allocate memory and pick kernels
                times[key].append(seconds)
    base = args.batch_size / statistics.median(times["base"])
    sel = args.batch_size / statistics.median(times["sel"])
    size = f"{config.data.height}x{config.data.width}"
    print("| model | input | batch | variant | images/s | time ratio |")
    print("|---|---|---:|---|---:|---:|")
    print(f"| {config.model.arch} | {size} | {args.batch_size} | baseline (alpha=0) | {base:.1f} | 1.00 |")
    print(f"| {config.model.arch} | {size} | {args.batch_size} | selectivity on {'+'.join(layers)} | {sel:.1f} | {base / sel:.2f} |")


if __name__ == "__main__":
    main()
