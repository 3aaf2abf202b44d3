"""Train a depth network, optionally with the paper's depth-selectivity term.

:func:`train` is the loop and only the loop: the objective ``L_depth − α Σ_layers term`` lives in
:mod:`mdeinterp.objective`; run directories, checkpoints, epoch statistics and RNG state in
:mod:`mdeinterp.rundir`. Data, model and optimiser come from the small builders below.

Runs are exactly reproducible on CPU: the data order of epoch ``e`` is a permutation fixed by
``(seed, e)``, every checkpoint stores the RNG states and the position inside the epoch, so a run
killed at any point and resumed ends with the same weights as an uninterrupted one.
Started by ``torchrun`` (``WORLD_SIZE`` > 1), it trains with DistributedDataParallel and only
rank 0 writes files.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler, Subset
from tqdm.auto import tqdm

from . import distributed as dist_utils
from .config import TrainConfig
from .data.transforms import as_batch
from .deprecation import moved
from .errors import ConfigError, TrainingError, unknown_name
from .inference import evaluate, predict
from .lock import run_lock
from .objective import Objective, ObjectiveParts
from .rundir import (
    CHECKPOINT,
    EpochStats,
    Progress,
    check_finite_row,
    check_run_dir,
    clear_run_dir,
    finish_run_dir,
    format_row,
    restore_checkpoint,
    rng_state,
    run_name,
    save_checkpoint,
    seed_everything,
    seed_worker,
    set_rng_state,
    start_run_dir,
    write_metrics,
)

# run-directory names this module used to re-export; they live in mdeinterp.rundir
__getattr__ = moved(__name__, {name: f"mdeinterp.rundir:{name}" for name in ("DONE", "load_training_state")}
                    | {"Position": "mdeinterp.rundir:Progress"})

#: The registry owns the optimiser names (``TrainConfig.optimizer`` holds one of them).
OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


#: steps between the loop's host syncs (finite-loss check, progress bar): on a GPU a sync per step stalls the queue
SYNC_EVERY = 25

def learning_rate(config: TrainConfig, step: int, steps_per_epoch: int, total_steps: int) -> float:
    """Return the learning rate for optimiser step ``step`` (0-based).

    "step": ``lr · gamma^⌊epoch / step_size⌋`` with epochs counted from 1, as MFF's reference code counts them
    (×0.1 in epochs 5-9, ×0.01 from epoch 10: the first drop comes after 4 epochs);
    "poly": ``(lr − end_lr) · (1 − step / total_steps)^0.9 + end_lr`` (BTS).
    """
    if config.schedule == "step":
        epoch = step // steps_per_epoch + 1
        return config.lr * config.gamma ** (epoch // config.step_size)
    remaining = max(0.0, 1.0 - step / total_steps)
    return (config.lr - config.end_lr) * remaining**0.9 + config.end_lr


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """Return the torch device for a config's ``device`` ("auto", "cpu", "cuda", "cuda:N")."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r} requested but CUDA is not available; use --device cpu or auto")
        if name == "cuda":
            name = f"cuda:{local_rank}"
    return torch.device(name)


class EpochOrder(Sampler[int]):
    """Sample indices of one epoch for one process: a permutation fixed by ``(seed, epoch)``.

    The permutation is cut to a whole number of batches per process (like ``drop_last``), split
    round-robin over ``world_size`` processes, and starts at batch ``start_batch`` so that a
    resumed run continues exactly where the checkpoint was taken.
    """

    def __init__(
        self,
        size: int,
        batch_size: int,
        seed: int,
        epoch: int,
        start_batch: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.size, self.batch_size, self.seed, self.epoch = size, batch_size, seed, epoch
        self.start_batch, self.rank, self.world_size = start_batch, rank, world_size

    @staticmethod
    def batches_per_epoch(size: int, batch_size: int, world_size: int = 1) -> int:
        """Return the number of batches each process sees per epoch (at least 1)."""
        return max(1, (size // world_size) // batch_size)

    def _indices(self) -> list[int]:
        generator = torch.Generator().manual_seed(1_000_003 * self.seed + self.epoch)
        order = torch.randperm(self.size, generator=generator)
        per_rank = max(1, self.size // self.world_size)
        order = order[: per_rank * self.world_size][self.rank :: self.world_size]
        stop = self.batches_per_epoch(self.size, self.batch_size, self.world_size) * self.batch_size
        return order[self.start_batch * self.batch_size : stop].tolist()

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices())

    def __len__(self) -> int:
        return len(self._indices())


def train(
    config: TrainConfig,
    out: str | Path = "runs",
    name: str | None = None,
    resume: bool = False,
    progress: bool = True,
    ckpt_every_steps: int | None = None,
    fresh: bool = False,
) -> Path:
    """Return the run directory after training ``config`` to completion (or reusing a finished run).

    ``resume=True`` continues from the run directory's last checkpoint (or starts fresh when there is
    none). A finished run with the same config is returned at once without touching a file; a run
    directory with a different config raises :class:`ConfigError`. ``ckpt_every_steps`` adds
    mid-epoch checkpoints every that many optimiser steps. Nothing is written before every input
    (config, model, layers, data) has proved valid.
    """
    if fresh and resume:
        raise ConfigError("fresh=True (--fresh) trains anew and resume=True (--resume) continues; choose one")
    config = resolve_config(config)
    run_dir = Path(out) / (name or run_name(config))
    # one writer per folder: only rank 0 writes it, so only rank 0 holds the lock (DDP ranks share the folder)
    with run_lock(run_dir) if int(os.environ.get("RANK", "0")) == 0 else contextlib.nullcontext():
        if fresh:
            clear_run_dir(run_dir)
        return _train_locked(config, run_dir, resume, progress, ckpt_every_steps)


def _train_locked(config: TrainConfig, run_dir: Path, resume: bool, progress: bool,
                  ckpt_every_steps: int | None) -> Path:
    """Train ``config`` into ``run_dir`` while holding its writer lock (the body of :func:`train`)."""
    if check_run_dir(run_dir, config, resume) == "done":
        return run_dir
    check_sizes(config)
    world = dist_utils.setup()
    device = resolve_device(config.device, world.local_rank)
    seed_everything(config.seed)  # every process starts from the same weights
    model = build_model(config, device)
    objective = Objective.from_config(config)
    optimizer = make_optimizer(config, model)
    net = dist_utils.wrap(model, device, world)  # DDP in multi-process runs, the model itself otherwise
    train_set, test_set = build_datasets(config, world, progress)
    preflight(model, objective, (train_set, test_set), device)
    probe = probe_set(config)
    if world.rank == 0:
        start_run_dir(run_dir, config)
    steps_per_epoch = EpochOrder.batches_per_epoch(len(train_set), config.batch_size, world.size)
    total_steps = planned_steps(config, len(train_set), world.size)
    at, history, stats = Progress(), [], EpochStats.empty(objective.layers)
    if resume and (run_dir / CHECKPOINT).exists():
        at, history, stats = restore_checkpoint(run_dir / CHECKPOINT, model, optimizer)

    lr = learning_rate(config, at.step, steps_per_epoch, total_steps)
    while at.epoch < config.epochs and at.step < total_steps:
        net.train()
        loader = epoch_loader(train_set, config, at, world, device)
        bar = tqdm(loader, desc=f"epoch {at.epoch + 1}/{config.epochs}", disable=not (progress and world.rank == 0),
                   leave=False)
        for batch in bar:
            lr = learning_rate(config, at.step, steps_per_epoch, total_steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            parts = training_step(net, model, objective, optimizer, batch, config, device)
            last = at.step + 1 >= total_steps or at.batch + 1 >= steps_per_epoch
            if (at.step % SYNC_EVERY == 0 or last) and not torch.isfinite(parts.loss):  # NaN weights keep the loss NaN
                raise TrainingError(f"loss is {parts.loss.item()} at step {at.step} (epoch {at.epoch + 1}); lower --lr")
            at.step, at.batch = at.step + 1, at.batch + 1
            stats.add(parts.loss.detach(), parts.depth_loss.detach(), {k: t.detach() for k, t in parts.terms.items()})
            if at.step % SYNC_EVERY == 0 and not bar.disable:
                bar.set_postfix(loss=f"{parts.loss.item():.4f}", lr=f"{lr:.2e}")
            if at.step >= total_steps:
                break
            if ckpt_every_steps and at.step % ckpt_every_steps == 0 and at.batch < steps_per_epoch and world.rank == 0:
                save_checkpoint(run_dir, model, optimizer, config, at, history, stats)
        bar.close()

        at.epoch, at.batch = at.epoch + 1, 0
        finished, stats = stats, EpochStats.empty(objective.layers)
        if world.rank == 0:  # end of epoch: evaluate, log, checkpoint
            history.append(epoch_row(config, model, test_set, device, at, lr, finished, total_steps, probe))
            check_finite_row(history[-1])  # a diverged run stops here, never marked done
            write_metrics(run_dir, history)
            save_checkpoint(run_dir, model, optimizer, config, at, history, stats)
            if progress:
                tqdm.write(format_row(history[-1]))
        dist_utils.barrier(world)

    if world.rank == 0:
        finish_run_dir(run_dir, history)
    dist_utils.cleanup(world)
    return run_dir


def training_step(
    net: nn.Module, model: nn.Module, objective: Objective, optimizer: torch.optim.Optimizer, batch: dict[str, Any],
    config: TrainConfig, device: torch.device,
) -> ObjectiveParts:
    """Take one optimiser step on ``batch`` and return the objective's parts; nothing is read back to the host.

    ``net`` runs the forward pass (the DDP wrapper in multi-process runs), ``model`` is the module whose
    layers the objective captures (the same object otherwise). The benchmarks time this very function.
    """
    depth = batch["depth"].to(device, non_blocking=True)  # (B, 1, H, W) metres, 0 = invalid
    with precision(config, device), objective.capture(model) as activations:
        parts = objective(predict(net, channels_last(batch, config), device), depth, activations)
    optimizer.zero_grad(set_to_none=True)
    parts.loss.backward()
    optimizer.step()
    return parts


# ---- the builders train() calls ---------------------------------------------------------------------


def planned_steps(config: TrainConfig, n_images: int, world_size: int = 1) -> int:
    """Return the optimiser steps :func:`train` takes on ``n_images`` training images: every epoch's full batches
    per process, or ``max_steps`` when that comes first."""
    total = config.epochs * EpochOrder.batches_per_epoch(n_images, config.batch_size, world_size)
    return min(total, config.max_steps or total)


def resolve_config(config: TrainConfig) -> TrainConfig:
    """Return ``config`` with its data format resolved (``"auto"`` -> the path's format); raise for unknown names."""
    from .data import resolve_format

    return replace(config, data=resolve_format(config.data))


def build_model(config: TrainConfig, device: torch.device) -> nn.Module:
    """Return the config's model on ``device`` after checking its layers and the input size against it.

    The layers are always checked, also for a baseline (α = 0) that does not use them, so a typo
    never trains silently.
    """
    from .hooks import resolve
    from .models import create_model

    model = create_model(config.model.arch, **config.model.options())
    for layer in config.layers:
        resolve(model, layer)  # an unknown layer fails here, before any data is rendered
    check_input_size(model, config.data.height, config.data.width)
    model = model.to(device)
    return model.to(memory_format=torch.channels_last) if config.channels_last else model


#: Bytes of memory per input pixel of a training batch, a lower bound: image and depth (16 B) times the feature
#: maps a forward and backward pass keep (at least 16 input-sized float maps). Refuses only sizes that cannot fit.
BYTES_PER_TRAINING_PIXEL = 16 * 16
SYNTHETIC_BYTES_PER_PIXEL = 7  # a rendered scene held in memory: 3 B of RGB and a float32 depth


def check_sizes(config: TrainConfig) -> None:
    """Raise :class:`~mdeinterp.errors.StorageError` when the run's batches or rendered scenes exceed the memory."""
    from .io import check_memory

    data = config.data
    pixels = data.height * data.width
    check_memory(config.batch_size * pixels * BYTES_PER_TRAINING_PIXEL,
                 f"a training batch of {config.batch_size} images of {data.height}x{data.width}",
                 "lower --batch-size, --height or --width")
    if data.format == "synthetic":
        check_memory((data.n_train + data.n_test) * pixels * SYNTHETIC_BYTES_PER_PIXEL,
                     f"{data.n_train} + {data.n_test} rendered scenes of {data.height}x{data.width}",
                     "lower --n-train/--n-test or the image size")


def preflight(model: nn.Module, objective: Objective, datasets: tuple[Dataset, ...], device: torch.device) -> None:
    """Check, before any file is written, that each dataset's first sample reads and the objective fits the model.

    Reading a sample runs the data checks (depth format, valid pixels); one forward pass of it checks
    K against each assigned layer's units. RNG states are restored, so the run is the one without the probe.
    """
    state = rng_state()
    try:
        samples = [dataset[0] for dataset in datasets if len(dataset)]
        if not objective.layers or not samples:
            return
        was_training = model.training
        model.eval()
        with torch.no_grad(), objective.capture(model) as activations:
            sample = samples[0]
            predict(model, as_batch(sample), device)
            for layer, activation in activations.items():
                objective.layer_edges(layer, activation.shape[1], device)
        model.train(was_training)
    finally:
        set_rng_state(state)


def check_input_size(model: nn.Module, height: int, width: int) -> None:
    """Raise :class:`ConfigError` when ``height`` x ``width`` is below the model's ``min_input_size`` (pixels)."""
    minimum = getattr(model, "min_input_size", 1)
    if height < minimum or width < minimum:
        raise ConfigError(
            f"input size {height}x{width} is too small for {getattr(model, 'arch', type(model).__name__)}: "
            f"its encoder's stride needs at least {minimum}x{minimum} pixels (--height/--width >= {minimum})"
        )


def make_optimizer(config: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    """Return the config's optimiser (a name of :data:`OPTIMIZERS`) over the model's parameters."""
    if config.optimizer not in OPTIMIZERS:
        raise ConfigError(unknown_name("optimizer", config.optimizer, OPTIMIZERS))
    return OPTIMIZERS[config.optimizer](model.parameters(), lr=config.lr, weight_decay=config.weight_decay)


def build_datasets(config: TrainConfig, world: dist_utils.World, progress: bool) -> tuple[Dataset, Dataset]:
    """Return the (train, test) datasets; rank 0 first, since a synthetic dataset may be rendered to a shared cache."""
    from .data import make_dataset

    with dist_utils.main_first(world):
        return make_dataset(config.data, "train", progress=progress), make_dataset(config.data, "test", progress=progress)


def epoch_loader(
    dataset: Dataset, config: TrainConfig, at: Progress, world: dist_utils.World, device: torch.device
) -> DataLoader:
    """Return the loader of epoch ``at.epoch`` for this process, starting at batch ``at.batch``."""
    sampler = EpochOrder(len(dataset), config.batch_size, config.seed, at.epoch, at.batch, world.rank, world.size)
    return DataLoader(
        dataset,
        batch_size=config.batch_size,
        sampler=sampler,
        num_workers=config.num_workers,
        generator=torch.Generator().manual_seed(1_000_003 * config.seed + at.epoch),
        worker_init_fn=seed_worker,
        pin_memory=device.type == "cuda",
    )


def precision(config: TrainConfig, device: torch.device) -> contextlib.AbstractContextManager:
    """Return the context of the forward pass: bf16 autocast when ``config.amp``, else a no-op."""
    if not config.amp:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def channels_last(batch: dict[str, Any], config: TrainConfig) -> dict[str, Any]:
    """Return ``batch`` with its image in ``torch.channels_last`` memory format when ``config.channels_last``."""
    if not config.channels_last:
        return batch
    return {**batch, "image": batch["image"].contiguous(memory_format=torch.channels_last)}


def epoch_row(
    config: TrainConfig, model: nn.Module, test_set: Dataset, device: torch.device, at: Progress, lr: float,
    stats: EpochStats, total_steps: int, probe: Dataset | None = None,
) -> dict[str, Any]:
    """Return the log row of the epoch just finished: position, mean losses, test metrics when due, wall time.

    The losses are logged apart: ``train_loss`` (the objective), ``depth_loss`` and ``sel_<layer>`` (each
    assigned layer's selectivity term, the objective being ``depth_loss − α Σ sel``). With a ``probe`` set,
    ``ds_<layer>`` is each studied layer's mean DS on it and ``probe_seconds`` what measuring it took; ``seconds``
    is the epoch's training time without the probe and the evaluation.
    """
    row: dict[str, Any] = {"epoch": at.epoch, "step": at.step, "lr": lr, **stats.means(), "seconds": stats.elapsed()}
    if at.epoch % config.eval_every == 0 or at.epoch == config.epochs or at.step >= total_steps:
        row.update(evaluate(model, test_set, config.data.d_max, config.batch_size, device,
                            garg_crop=config.data.garg_crop, averaging=config.metric_averaging))
    if probe is not None:
        started = time.perf_counter()
        row.update({f"ds_{layer}": value for layer, value in probe_selectivity(model, probe, config, device).items()})
        row["probe_seconds"] = time.perf_counter() - started
    return row


def probe_set(config: TrainConfig) -> Dataset | None:
    """Return the fixed probe set: the first ``config.probe_images`` training images without augmentation (None for 0).

    Unaugmented, so reading it draws no random number and the images are the same after every epoch.
    """
    from .data import make_dataset

    if config.probe_images == 0:
        return None
    train_set = make_dataset(replace(config.data, augment=False), "train", progress=False)
    return Subset(train_set, range(min(config.probe_images, len(train_set))))


def probe_selectivity(model: nn.Module, probe: Dataset, config: TrainConfig, device: torch.device) -> dict[str, float]:
    """Return layer -> mean DS of its units on ``probe`` for every studied layer of ``model`` (the config's K and range).

    Studied layers are those the model declares (``studied_layers``), else the config's assigned layers. The
    loader draws nothing from the global random stream, so probing leaves the training run's stream as it was.
    """
    from .dissection import dissect

    layers = tuple(getattr(model, "studied_layers", ())) or tuple(config.layers)
    loader = DataLoader(probe, batch_size=config.batch_size, shuffle=False, generator=torch.Generator().manual_seed(0))
    found = dissect(model, loader, layers, num_bins=config.num_bins, d_min=config.data.d_min, d_max=config.data.d_max,
                    device=device, progress=False, warn_empty=False)  # occupancy: notebook 00
    return {layer: float(found[layer].selectivity.nanmean()) for layer in layers}


def plateau_epoch(history: Any, layers: tuple[str, ...] | list[str], tolerance: float = 0.01) -> int | None:
    """Return the first epoch after which no layer's probe DS rose by ``tolerance`` or more, or None if none did.

    ``history``: a run's epoch log (rows of ``metrics.csv``, a DataFrame or a list of dicts) with ``epoch`` and
    ``ds_<layer>`` columns. Epoch ``e`` (≥ 2) is the plateau when ``ds[e] − ds[e − 1] < tolerance`` for every
    layer: training further would add less than ``tolerance`` DS per epoch.
    """
    import pandas as pd

    table = pd.DataFrame(history)
    missing = [f"ds_{layer}" for layer in layers if f"ds_{layer}" not in table]
    if missing or not layers:
        raise ConfigError(f"the epoch log has no probe DS for {', '.join(missing) or 'no layer'}; "
                          f"found columns {', '.join(table.columns)} (train with probe_images > 0)")
    rise = table[[f"ds_{layer}" for layer in layers]].diff().iloc[1:]
    flat = (rise < tolerance).all(axis=1)
    return int(table["epoch"].iloc[1:][flat].iloc[0]) if flat.any() else None


def plateau_step(history: Any, layers: tuple[str, ...] | list[str], tolerance: float = 0.01) -> int | None:
    """Return the training step at the end of :func:`plateau_epoch`'s epoch (the log's ``step`` column), or None."""
    import pandas as pd

    table = pd.DataFrame(history)
    epoch = plateau_epoch(table, layers, tolerance)
    return None if epoch is None else int(table.set_index("epoch")["step"].loc[epoch])
