"""Multi-process training entered from ``torchrun``'s environment variables (as nanoGPT does).

Without ``WORLD_SIZE`` > 1 every function here is a no-op and training runs in one process.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class World:
    """This process's place among the training processes."""

    rank: int = 0
    local_rank: int = 0
    size: int = 1

    @property
    def distributed(self) -> bool:
        return self.size > 1


def setup() -> World:
    """Return this process's :class:`World`, joining the process group when ``WORLD_SIZE`` > 1.

    The backend is NCCL when CUDA is available, Gloo otherwise (CPU runs and tests).
    """
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    world = World(rank=int(os.environ["RANK"]), local_rank=int(os.environ.get("LOCAL_RANK", "0")), size=size)
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(world.local_rank)
        dist.init_process_group(backend=backend)
    return world


def wrap(model: nn.Module, device: torch.device, world: World) -> nn.Module:
    """Return ``model`` wrapped in DistributedDataParallel when distributed, else ``model`` itself."""
    if not world.distributed:
        return model
    device_ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


@contextmanager
def main_first(world: World) -> Iterator[None]:
    """Run the body on rank 0 first, then on the other ranks (e.g. to fill a shared data cache once)."""
    if world.distributed and world.rank != 0:
        dist.barrier()
    yield
    if world.distributed and world.rank == 0:
        dist.barrier()


def barrier(world: World) -> None:
    """Wait for every process (no-op in a single process)."""
    if world.distributed:
        dist.barrier()


def cleanup(world: World) -> None:
    """Leave the process group (no-op in a single process)."""
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()
