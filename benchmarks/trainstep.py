"""Training steps exactly as ``train()`` takes them (:func:`mdeinterp.train.training_step`), on one fixed batch.

The benchmarks time this rather than a loop of their own, so a number measured here is the number of
the training loop: the same model, objective (:class:`mdeinterp.objective.Objective`), optimiser,
precision and memory format that :func:`mdeinterp.train.train` builds from the config.
"""

from __future__ import annotations

import time
import warnings

import torch

from benchmarks.bench_selectivity import sync
from mdeinterp.config import TrainConfig
from mdeinterp.objective import Objective
from mdeinterp.train import build_model, make_optimizer, training_step


class StepTimer:
    """A model, its objective and optimiser from ``config``, stepping on one random batch (images, metres)."""

    def __init__(self, config: TrainConfig, device: torch.device) -> None:
        torch.manual_seed(config.seed)
        self.config, self.device = config, device
        self.model = build_model(config, device)
        self.objective = Objective.from_config(config)
        self.optimizer = make_optimizer(config, self.model)
        g = torch.Generator().manual_seed(config.seed)
        size = (config.batch_size, config.data.height, config.data.width)
        self.batch = {
            "image": torch.randn(size[0], 3, *size[1:], generator=g).to(device),
            "depth": torch.empty(size[0], 1, *size[1:]).uniform_(config.data.d_min, config.data.d_max, generator=g)
            .to(device),
        }
        if config.data.sparse_points:  # depth completion: the batch also carries the sparse input
            depth = self.batch["depth"].flatten(1)
            chosen = torch.rand(depth.shape, generator=g).argsort(dim=1)[:, : config.data.sparse_points].to(device)
            sparse = torch.zeros_like(depth).scatter_(1, chosen, depth.gather(1, chosen))
            self.batch["sparse_depth"] = sparse.view_as(self.batch["depth"])

    def step(self) -> None:
        training_step(self.model, self.model, self.objective, self.optimizer, self.batch, self.config, self.device)

    def seconds(self) -> float:
        """Return the wall time of one step, device work included."""
        sync(self.device)
        start = time.perf_counter()
        self.step()
        sync(self.device)
        return time.perf_counter() - start

    def host_syncs(self) -> list[str] | None:
        """Return the distinct host synchronisations one step makes (CUDA's sync debug mode); None on CPU."""
        if self.device.type != "cuda":
            return None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                self.step()
            finally:
                torch.cuda.set_sync_debug_mode("default")
        return sorted({str(w.message).splitlines()[0] for w in caught if "synchroniz" in str(w.message)})
