"""Train a depth network, optionally with the paper's depth-selectivity term.

One run is one directory ``out/name`` holding ``config.json``, ``meta.json``, ``checkpoint.pt``
(model, optimiser, step, RNG states, metric history), ``metrics.jsonl`` / ``metrics.csv`` (one row
per epoch) and, once finished, ``done``. The objective is the paper's

    loss = L_depth(pred, depth) − alpha · Σ_layers selectivity_term(layer)

with each layer's units assigned SID depth bins (PAPER.md, "Assignment and training objective").

Runs are exactly reproducible on CPU: the data order of epoch ``e`` is a permutation fixed by
``(seed, e)``, every checkpoint stores the RNG states and the position inside the epoch, so a run
killed at any point and resumed ends with the same weights as an uninterrupted one.
Started by ``torchrun`` (``WORLD_SIZE`` > 1), it trains with DistributedDataParallel and only
rank 0 writes files.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Sampler
from tqdm.auto import tqdm

from . import distributed as dist_utils
from .config import TrainConfig, from_dict, save_config, to_dict
from .errors import CheckpointError, ConfigError
from .evaluate import evaluate, predict
from .io import atomic_save, atomic_write_text, ensure_writable_dir, run_metadata

CHECKPOINT = "checkpoint.pt"
DONE = "done"
# Fields that change where a run executes, not what it computes; a finished run is reused across them.
RUNTIME_FIELDS = ("device", "num_workers")


def run_name(config: TrainConfig) -> str:
    """Return the default run-directory name, e.g. ``mff_tiny_indoor_a0.1_D+MFF_s0`` or ``..._a0.0_base_s0``."""
    source = config.data.kind if config.data.format == "synthetic" else config.data.format
    layers = "+".join(config.layers) if config.alpha else "base"
    return f"{config.model.arch}_{source}_a{config.alpha}_{layers}_s{config.seed}"


def learning_rate(config: TrainConfig, step: int, steps_per_epoch: int, total_steps: int) -> float:
    """Return the learning rate for optimiser step ``step`` (0-based).

    "step": ``lr · gamma^⌊epoch / step_size⌋`` (MFF: ×0.1 every 5 epochs);
    "poly": ``(lr − end_lr) · (1 − step / total_steps)^0.9 + end_lr`` (BTS).
    """
    if config.schedule == "step":
        return config.lr * config.gamma ** ((step // steps_per_epoch) // config.step_size)
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
) -> Path:
    """Return the run directory after training ``config`` to completion (or reusing a finished run).

    ``resume=True`` continues from the run directory's last checkpoint (or starts fresh when there
    is none). A finished run with the same config is returned at once without touching a file; an
    existing run directory with a different config raises :class:`ConfigError`.
    ``ckpt_every_steps`` adds mid-epoch checkpoints every that many optimiser steps.
    """
    from .data import make_dataset  # heavy imports stay local: `import mdeinterp` must be cheap
    from .hooks import capture, resolve
    from .losses import get_loss
    from .models import create_model
    from .selectivity import default_num_bins, selectivity_loss, sid_edges

    # ---- run directory: reuse, refuse or create -------------------------------------------------
    run_dir = Path(out) / (name or run_name(config))
    if _check_run_dir(run_dir, config, resume) == "done":
        return run_dir
    world = dist_utils.setup()
    is_main = world.rank == 0
    device = resolve_device(config.device, world.local_rank)

    # ---- model, loss, optimiser (seeded so every process starts from the same weights) ----------
    _seed_everything(config.seed)
    model = create_model(config.model.arch, **config.model.options()).to(device)
    if config.alpha != 0:
        for layer in config.layers:
            resolve(model, layer)  # an unknown layer fails here, before any data is rendered
    depth_loss_fn = get_loss(config.loss)
    optimizer_cls = torch.optim.Adam if config.optimizer == "adam" else torch.optim.AdamW
    optimizer = optimizer_cls(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    net = dist_utils.wrap(model, device, world)  # DDP in multi-process runs, the model itself otherwise

    # ---- data (rank 0 first: a synthetic dataset may be rendered to a shared cache) -------------
    with dist_utils.main_first(world):
        train_set = make_dataset(config.data, "train", progress=progress)
        test_set = make_dataset(config.data, "test", progress=progress)

    # ---- nothing is written before every input has proved valid ----------------------------------
    if is_main:
        ensure_writable_dir(run_dir)
        save_config(config, str(run_dir / "config.json"))
        atomic_write_text(run_dir / "meta.json", json.dumps({**run_metadata(), "seed": config.seed}, indent=2))
    steps_per_epoch = EpochOrder.batches_per_epoch(len(train_set), config.batch_size, world.size)
    total_steps = config.epochs * steps_per_epoch
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)

    # ---- state that a checkpoint carries ---------------------------------------------------------
    epoch, batch_in_epoch, step = 0, 0, 0
    history: list[dict[str, Any]] = []
    sums = _empty_sums(config)
    if resume and (run_dir / CHECKPOINT).exists():
        state = load_training_state(run_dir / CHECKPOINT)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        epoch, batch_in_epoch, step = state["epoch"], state["batch"], state["step"]
        history, sums = state["history"], state["sums"]
        _set_rng_state(state["rng"])

    lr = learning_rate(config, step, steps_per_epoch, total_steps)
    edges: dict[str, torch.Tensor] = {}  # layer -> SID edges (K+1,) in metres, built at the first step
    while epoch < config.epochs and step < total_steps:
        # ---- one epoch ----------------------------------------------------------------------------
        net.train()
        sampler = EpochOrder(
            len(train_set), config.batch_size, config.seed, epoch, batch_in_epoch, world.rank, world.size
        )
        loader = DataLoader(
            train_set,
            batch_size=config.batch_size,
            sampler=sampler,
            num_workers=config.num_workers,
            generator=torch.Generator().manual_seed(1_000_003 * config.seed + epoch),
            worker_init_fn=_seed_worker,
            pin_memory=device.type == "cuda",
        )
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{config.epochs}", disable=not (progress and is_main), leave=False)
        for batch in bar:
            lr = learning_rate(config, step, steps_per_epoch, total_steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            depth = batch["depth"].to(device, non_blocking=True)  # (B, 1, H, W) metres, 0 = invalid
            if config.alpha != 0:
                with capture(model, config.layers) as acts:
                    pred = predict(net, batch, device)  # (B, 1, h, w) metres
            else:
                acts, pred = {}, predict(net, batch, device)
            # MFF predicts at half resolution; nearest keeps invalid pixels 0 instead of blending them.
            target = depth
            if pred.shape[-2:] != depth.shape[-2:]:
                target = F.interpolate(depth, size=pred.shape[-2:], mode="nearest")
            depth_loss = depth_loss_fn(pred, target)
            terms = {}
            for layer, features in acts.items():  # (B, C, h_l, w_l) each
                if layer not in edges:
                    num_bins = config.num_bins or default_num_bins(features.shape[1])
                    edges[layer] = sid_edges(num_bins, config.data.d_min, config.data.d_max).to(device)
                terms[layer] = selectivity_loss(features, depth, edges[layer])
            loss = depth_loss - config.alpha * sum(terms.values()) if terms else depth_loss  # PAPER.md objective
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss is {loss.item()} at step {step} (epoch {epoch + 1}); lower --lr")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

            step += 1
            batch_in_epoch += 1
            sums["steps"] += 1
            sums["train_loss"] += loss.item()
            sums["depth_loss"] += depth_loss.item()
            for layer, term in terms.items():
                sums[f"sel_{layer}"] += term.item()
            bar.set_postfix(loss=f"{loss.item():.4f}", lr=f"{lr:.2e}")
            if step >= total_steps:
                break
            if ckpt_every_steps and step % ckpt_every_steps == 0 and batch_in_epoch < steps_per_epoch and is_main:
                _save_checkpoint(run_dir, model, optimizer, config, epoch, batch_in_epoch, step, history, sums)
        bar.close()

        # ---- end of epoch: evaluate, log, checkpoint ----------------------------------------------
        epoch += 1
        last = epoch == config.epochs or step >= total_steps
        if is_main:
            row: dict[str, Any] = {"epoch": epoch, "step": step, "lr": lr}
            averaged = [key for key in sums if key not in ("steps", "seconds") and not key.startswith("_")]
            row.update({key: sums[key] / max(sums["steps"], 1) for key in averaged})
            if epoch % config.eval_every == 0 or last:
                row.update(evaluate(model, test_set, config.data.d_max, config.batch_size, device,
                                    garg_crop=config.data.garg_crop))
            row["seconds"] = sums["seconds"] + time.perf_counter() - sums["_started"]
            history.append(row)
            sums = _empty_sums(config)
            batch_in_epoch = 0
            _write_metrics(run_dir, history)
            _save_checkpoint(run_dir, model, optimizer, config, epoch, batch_in_epoch, step, history, sums)
            if progress:
                tqdm.write(_format_row(row))
        else:
            sums, batch_in_epoch = _empty_sums(config), 0
        dist_utils.barrier(world)

    if is_main:
        atomic_write_text(run_dir / DONE, json.dumps(history[-1] if history else {}, indent=2))
    dist_utils.cleanup(world)
    return run_dir


# ---- run directory ---------------------------------------------------------------------------------


def _check_run_dir(run_dir: Path, config: TrainConfig, resume: bool) -> str:
    """Return "done" (finished run, same config), "resume", or "new"; raise on a mismatch."""
    config_path = run_dir / "config.json"
    if not config_path.exists():
        return "new"
    try:
        stored = from_dict(json.loads(config_path.read_text()))
    except (ValueError, TypeError, KeyError) as exc:
        raise ConfigError(
            f"run directory {run_dir} has an unreadable config.json ({exc}); choose another --name"
        ) from None
    differ = _config_differences(stored, config)
    if differ:
        raise ConfigError(
            f"run directory {run_dir} holds a run with a different config (differs in {', '.join(differ)}); "
            "choose another --name or --out, or delete that folder"
        )
    if (run_dir / DONE).exists():
        return "done"
    if (run_dir / CHECKPOINT).exists() and not resume:
        raise ConfigError(
            f"run directory {run_dir} holds an unfinished run; pass --resume to continue it or choose another --name"
        )
    return "resume"


def _config_differences(a: TrainConfig, b: TrainConfig) -> list[str]:
    """Return the dotted names of fields that differ between two configs, runtime-only fields aside."""
    flat_a, flat_b = _flatten(to_dict(a)), _flatten(to_dict(b))
    keys = sorted(set(flat_a) | set(flat_b))
    compared = [k for k in keys if k.split(".")[-1] not in RUNTIME_FIELDS]
    return [k for k in compared if _jsonish(flat_a.get(k)) != _jsonish(flat_b.get(k))]


def _flatten(raw: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _jsonish(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


# ---- checkpoints and metrics -------------------------------------------------------------------------


def _save_checkpoint(
    run_dir: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    config: TrainConfig,
    epoch: int,
    batch: int,
    step: int,
    history: list[dict[str, Any]],
    sums: dict[str, float],
) -> None:
    """Write everything needed to continue the run bit-exactly, atomically, to ``checkpoint.pt``."""
    sums = dict(sums)
    sums["seconds"] = sums["seconds"] + time.perf_counter() - sums.pop("_started")
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "config": to_dict(config),
        "epoch": epoch,  # epochs completed
        "batch": batch,  # batches done inside the current epoch
        "step": step,  # optimiser steps done
        "history": history,
        "sums": sums,
        "rng": _rng_state(),
    }
    atomic_save(run_dir / CHECKPOINT, lambda tmp: torch.save(state, tmp))


def load_training_state(path: str | Path) -> dict[str, Any]:
    """Return the training checkpoint at ``path`` (tensors on CPU), as written by :func:`train`."""
    from .models.checkpoint import read_checkpoint

    state = read_checkpoint(path)
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} holds {type(state).__name__}; expected a training checkpoint dict")
    missing = {"model", "optimizer", "epoch", "batch", "step", "history", "sums", "rng"} - set(state)
    if missing:
        raise CheckpointError(f"checkpoint {path} is not a training checkpoint (missing {', '.join(sorted(missing))})")
    state["sums"]["_started"] = time.perf_counter()
    return state


def _empty_sums(config: TrainConfig) -> dict[str, float]:
    sums = {"steps": 0, "train_loss": 0.0, "depth_loss": 0.0, "seconds": 0.0, "_started": time.perf_counter()}
    if config.alpha != 0:
        sums.update({f"sel_{layer}": 0.0 for layer in config.layers})
    return sums


def _write_metrics(run_dir: Path, history: list[dict[str, Any]]) -> None:
    """Rewrite ``metrics.jsonl`` and ``metrics.csv`` (one row per finished epoch) atomically."""
    import pandas as pd

    atomic_write_text(run_dir / "metrics.jsonl", "".join(json.dumps(row) + "\n" for row in history))
    atomic_save(run_dir / "metrics.csv", lambda tmp: pd.DataFrame(history).to_csv(tmp, index=False))


def _format_row(row: dict[str, Any]) -> str:
    shown = ("epoch", "train_loss", "d1", "abs_rel", "rmse") + tuple(k for k in row if k.startswith("sel_"))
    return "  ".join(f"{k}={row[k]:.4g}" if isinstance(row[k], float) else f"{k}={row[k]}" for k in shown if k in row)


# ---- randomness ------------------------------------------------------------------------------------


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _seed_worker(worker_id: int) -> None:
    # DataLoader seeds torch per worker; numpy and random are seeded from it so augmentation differs per worker.
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def _rng_state() -> dict[str, Any]:
    """Return the torch, CUDA, numpy and Python RNG states as tensors and plain values (weights_only-safe)."""
    _, keys, pos, has_gauss, gauss = np.random.get_state()
    version, py_state, py_gauss = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        "python": {"version": version, "state": torch.tensor(py_state, dtype=torch.int64), "gauss": py_gauss},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    numpy_state = state["numpy"]
    keys = numpy_state["keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, numpy_state["pos"], numpy_state["has_gauss"], numpy_state["gauss"]))
    python_state = state["python"]
    words = tuple(int(x) for x in python_state["state"].tolist())
    random.setstate((python_state["version"], words, python_state["gauss"]))
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
