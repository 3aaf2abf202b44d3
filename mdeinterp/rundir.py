"""Run directories, training checkpoints, epoch statistics and RNG state: everything :func:`mdeinterp.train.train` persists.

Persistence only: this module knows nothing of dissections (their cache files are read back by
:func:`mdeinterp.dissection.load_cached_dissection`, for :class:`mdeinterp.run.Run`).

One run is one directory ``out/name`` holding ``config.json``, ``meta.json``, ``checkpoint.pt`` (model,
optimiser, position in the run, RNG states, metric history, statistics of the unfinished epoch),
``metrics.jsonl`` / ``metrics.csv`` (one row per epoch) and, once finished, ``done``. Every file is
written atomically, so a run killed at any moment leaves either the previous or the new version.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .config import TrainConfig, from_dict, load_config, to_dict, to_json
from .errors import CheckpointError, ConfigError, MdeinterpError, StaleRunError, TrainingError
from .io import atomic_save, atomic_write_text, ensure_writable_dir, run_metadata

CHECKPOINT = "checkpoint.pt"
DONE = "done"
# Fields that change where or how fast a run executes, not what it computes; a finished run is reused across them.
RUNTIME_FIELDS = ("device", "num_workers")


def run_info(config: TrainConfig) -> dict[str, Any]:
    """Return what labels a run in names and result tables: model, data kind, method, alpha, layers, bins, seed."""
    return {
        "model": config.model.arch,
        "data": config.data.kind if config.data.format == "synthetic" else config.data.format,
        "method": "interpretable" if config.alpha else "baseline",
        "alpha": float(config.alpha),
        "layers": "+".join(config.layers) if config.alpha else "",  # the assigned layers
        "num_bins": config.num_bins,
        "seed": config.seed,
    }


#: Fields that choose where or how fast a run computes, not what it computes: left out of the name's hash.
NAME_IGNORES = ("device", "num_workers")


def run_name(config: TrainConfig) -> str:
    """Return the default run-directory name, e.g. ``mff_tiny_indoor_a0.1_D+MFF_k32_s0_3f2a9c1d``.

    The readable part names model, data, alpha, assigned layers, a stated K (``_k16``) and the seed; the
    last 8 hex digits hash every other field (learning rate, steps, data size, ...; not ``device`` or
    ``num_workers``), so two configs that train different runs never share a folder.
    """
    import hashlib

    info = run_info(config)
    bins = f"_k{config.num_bins}" if config.num_bins is not None else ""
    fields = {key: value for key, value in to_dict(config).items() if key not in NAME_IGNORES}
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return f"{info['model']}_{info['data']}_a{config.alpha}_{info['layers'] or 'base'}{bins}_s{config.seed}_{digest}"


# ---- run directory -----------------------------------------------------------------------------------


def check_run_dir(run_dir: Path, config: TrainConfig, resume: bool) -> str:
    """Return "done" (finished run, same config), "resume", or "new"; raise :class:`ConfigError` on a mismatch.

    A folder without ``checkpoint.pt`` holds no training (a run refused after its folder was made, or
    one whose checkpoint was deleted) and is "new": its ``config.json`` does not block a corrected command,
    and its ``done`` is not believed.
    """
    config_path = run_dir / "config.json"
    if not (run_dir / CHECKPOINT).is_file():
        return "new"
    try:
        stored = from_dict(json.loads(config_path.read_text()))
    except (OSError, ValueError, TypeError, KeyError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(
            f"run directory {run_dir} has an unreadable config.json ({reason}); choose another --name"
        ) from None
    differ = config_differences(stored, config)
    if differ:
        raise ConfigError(
            f"run directory {run_dir} holds a run with a different config (differs in {', '.join(differ)}); "
            "choose another --name or --out, or delete that folder"
        )
    if read_done(run_dir) is not None:
        problems = reuse_problems(run_dir, config)
        if problems:
            raise StaleRunError(f"run directory {run_dir} looks finished but cannot be reused: {'; '.join(problems)}; "
                                "train it again with --fresh (API: fresh=True), delete the folder, or choose another --name")
        return "done"
    if not resume:
        raise ConfigError(
            f"run directory {run_dir} holds an unfinished run; pass --resume to continue it or choose another --name"
        )
    return "resume"


def read_done(run_dir: str | Path) -> dict[str, Any] | None:
    """Return the final metrics a finished run's ``done`` holds, or None when the run is not soundly finished.

    Finished means: ``done`` is a JSON object of finite numbers and ``checkpoint.pt`` exists. An empty or
    malformed ``done`` (a process killed while writing it with older code) or a missing checkpoint is unfinished.
    """
    run_dir = Path(run_dir)
    if not (run_dir / CHECKPOINT).is_file():
        return None
    try:
        row = json.loads((run_dir / DONE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(row, dict):
        return None
    numbers = [v for v in row.values() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return row if all(math.isfinite(v) for v in numbers) else None


#: What a finished run's folder must agree on before it is reused (:func:`reuse_problems`).
DATA_RECORD = "data.json"
#: Files computed from a run's weights (dissection caches and their stamps): removed when the run trains anew.
DERIVED_PATTERNS = ("dissection_*.h5", "chance_s*_half*.h5", "*.h5.stamp.json")


def reuse_problems(run_dir: str | Path, config: TrainConfig) -> list[str]:
    """Return why a finished-looking run folder cannot be reused for ``config``; empty when every record agrees.

    Checked: ``config.json`` against the checkpoint's embedded config; the ``done`` record's epoch and step
    against the checkpoint's; ``metrics.jsonl`` and ``metrics.csv`` hold one complete row per finished epoch,
    the last equal to ``done``; the data's fingerprint (``data.json``) against the data's fingerprint now.
    """
    from .provenance import data_fingerprint, fingerprint_differences

    run_dir = Path(run_dir)
    problems: list[str] = []
    try:
        state = load_training_state(run_dir / CHECKPOINT)
    except (CheckpointError, OSError, RuntimeError, ValueError) as exc:
        return [f"its checkpoint is unreadable ({' '.join(str(exc).split())[:120]})"]
    try:
        stored = load_config(str(run_dir / "config.json"))
        differ = config_differences(stored, from_dict(state["config"])) if "config" in state else ["(no config)"]
    except (ConfigError, OSError, ValueError, TypeError, KeyError) as exc:
        differ = [f"(unreadable: {exc})"]
    if differ:
        problems.append(f"config.json and the checkpoint's config differ in {', '.join(differ)}")
    done = read_done(run_dir) or {}
    if (done.get("epoch"), done.get("step")) != (state["epoch"], state["step"]):
        problems.append(f"done says epoch {done.get('epoch')} step {done.get('step')}, the checkpoint epoch "
                        f"{state['epoch']} step {state['step']}")
    try:
        rows = _metric_rows(run_dir)
    except (OSError, ValueError):
        rows = None
    if rows is None or len(rows) != state["epoch"] or (rows and rows[-1].get("step") != done.get("step")):
        problems.append(f"metrics.jsonl holds {'no readable' if rows is None else len(rows)} rows for "
                        f"{state['epoch']} finished epochs")
    try:
        csv_rows = len(read_metrics_csv(run_dir / "metrics.csv"))
    except (OSError, MdeinterpError):
        csv_rows = None
    if csv_rows != state["epoch"]:
        problems.append(f"metrics.csv holds {'no readable' if csv_rows is None else csv_rows} rows for "
                        f"{state['epoch']} finished epochs")
    try:
        recorded = json.loads((run_dir / DATA_RECORD).read_text())
    except (OSError, ValueError):
        recorded = None
    if not isinstance(recorded, dict):
        problems.append(f"it has no record of its data ({DATA_RECORD})")
    else:
        changed = fingerprint_differences(recorded, data_fingerprint(config.data))
        if changed:
            problems.append(f"its data changed since it trained ({', '.join(changed)} differ)")
    return problems


def remove_derived(run_dir: Path) -> None:
    """Remove what was computed from a run's earlier weights (:data:`DERIVED_PATTERNS`)."""
    for pattern in DERIVED_PATTERNS:
        for path in run_dir.glob(pattern):
            path.unlink(missing_ok=True)


#: Everything training writes into a run folder (removed by ``--fresh`` before training anew).
TRAINING_FILES = (CHECKPOINT, DONE, "config.json", "meta.json", DATA_RECORD, "metrics.jsonl", "metrics.csv")


def clear_run_dir(run_dir: Path) -> None:
    """Remove a run folder's training files and caches (``--fresh``), keeping anything else a user put there."""
    for name in TRAINING_FILES:
        (run_dir / name).unlink(missing_ok=True)
    remove_derived(run_dir)


def start_run_dir(run_dir: Path, config: TrainConfig) -> None:
    """Create ``run_dir`` and write its ``config.json``, ``meta.json`` (software versions, seed) and ``data.json``
    (the data's fingerprint); drop a stale ``done`` and every cache computed from earlier weights."""
    from .provenance import data_fingerprint

    ensure_writable_dir(run_dir)
    (run_dir / DONE).unlink(missing_ok=True)
    remove_derived(run_dir)
    atomic_write_text(run_dir / DATA_RECORD, json.dumps(data_fingerprint(config.data), indent=2))
    atomic_write_text(run_dir / "config.json", to_json(config))
    atomic_write_text(run_dir / "meta.json", json.dumps({**run_metadata(), "seed": config.seed}, indent=2))


def check_finite_row(row: dict[str, Any]) -> None:
    """Raise :class:`TrainingError` naming the step when an epoch's losses or test metrics are not finite."""
    bad = {k: v for k, v in row.items() if isinstance(v, float) and not math.isfinite(v)}
    if not bad:
        return
    where = f"step {row.get('step')} (epoch {row.get('epoch')})"
    shown = ", ".join(f"{k}={v}" for k, v in list(bad.items())[:3])
    if any(k in bad for k in ("train_loss", "depth_loss")) or any(k.startswith("sel_") for k in bad):
        raise TrainingError(f"training diverged by {where}: {shown}; lower --lr")
    raise TrainingError(f"evaluation after {where} is not finite ({shown}): the model diverged (lower --lr) or the "
                        "test split has no valid depth pixel in the range")


def finish_run_dir(run_dir: Path, history: list[dict[str, Any]]) -> None:
    """Mark ``run_dir`` finished: ``done`` holds the last epoch's row; refuse a run whose last row is not finite."""
    if not history:
        raise TrainingError(f"run {run_dir} finished without an evaluated epoch; nothing to mark done")
    check_finite_row(history[-1])
    atomic_write_text(run_dir / DONE, json.dumps(history[-1], indent=2))


def config_differences(a: TrainConfig, b: TrainConfig) -> list[str]:
    """Return the dotted names of fields that differ between two configs, runtime-only fields aside."""
    flat_a, flat_b = _flatten(to_dict(a)), _flatten(to_dict(b))
    keys = sorted(set(flat_a) | set(flat_b))
    compared = [k for k in keys if k.split(".")[-1] not in RUNTIME_FIELDS]
    return [k for k in compared if _jsonish(flat_a.get(k)) != _jsonish(flat_b.get(k))]


#: Columns of a run's metrics that measure time, not results: they differ between identical runs.
TIMING_COLUMNS = ("seconds", "probe_seconds")


def run_differences(a: str | Path, b: str | Path) -> list[str]:
    """Return how two finished run directories differ in their results; empty when they are the same bit for bit.

    Compared: the configs (:func:`config_differences`, runtime fields aside), every tensor of the checkpoints'
    model weights (bitwise, with the largest absolute difference named) and every epoch row of
    ``metrics.jsonl`` apart from the :data:`TIMING_COLUMNS`. Use it to check that a rerun with the same seed on
    the same machine reproduces a run (``mdeinterp rerun``).
    """
    a, b = Path(a), Path(b)
    for run_dir in (a, b):
        if read_done(run_dir) is None:
            raise ConfigError(f"{run_dir} is not a finished run directory (no sound done and {CHECKPOINT})")
    found = [f"config.{name}" for name in config_differences(load_config(str(a / "config.json")),
                                                             load_config(str(b / "config.json")))]
    weights_a, weights_b = load_training_state(a / CHECKPOINT)["model"], load_training_state(b / CHECKPOINT)["model"]
    for name in sorted(set(weights_a) | set(weights_b)):
        x, y = weights_a.get(name), weights_b.get(name)
        if x is None or y is None or x.shape != y.shape:
            found.append(f"weights.{name}: present or shaped in one run only")
        elif not torch.equal(x, y):
            gap = (x.double() - y.double()).abs().max().item()
            found.append(f"weights.{name}: max |difference| {gap:.3g}")
    rows_a, rows_b = _metric_rows(a), _metric_rows(b)
    if len(rows_a) != len(rows_b):
        found.append(f"metrics: {len(rows_a)} vs {len(rows_b)} epochs")
    for row_a, row_b in zip(rows_a, rows_b):
        for key in sorted((set(row_a) | set(row_b)) - set(TIMING_COLUMNS)):
            if row_a.get(key) != row_b.get(key):
                found.append(f"metrics.{key} (epoch {row_a.get('epoch')}): {row_a.get(key)!r} vs {row_b.get(key)!r}")
    return found


#: The ``meta.json`` fields that describe the machine and software a run was trained with.
MACHINE_FIELDS = ("cpu", "cpu_capability", "kernel_env", "torch", "numpy", "python", "platform")


def machine_differences(a: str | Path, b: str | Path) -> list[str]:
    """Return how the machines and software two runs were trained with differ (``meta.json``: ``"cpu: X vs Y"``);
    a field one run did not record (a run trained before it was recorded) reads "not recorded". Two runs that
    differ in their results (:func:`run_differences`) on different CPUs need not differ in anything else: CPU
    kernels can round differently."""
    def meta(run_dir: Path) -> dict[str, Any]:
        try:
            return json.loads((Path(run_dir) / "meta.json").read_text())
        except (OSError, ValueError):
            return {}

    meta_a, meta_b = meta(Path(a)), meta(Path(b))
    return [f"{key}: {meta_a.get(key, 'not recorded')} vs {meta_b.get(key, 'not recorded')}" for key in MACHINE_FIELDS
            if meta_a.get(key) != meta_b.get(key)]


def _metric_rows(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]


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


# ---- epoch statistics ------------------------------------------------------------------------------------


def _as_float64(value: Any) -> Any:
    return value.double() if torch.is_tensor(value) else float(value)


@dataclass
class EpochStats:
    """Running sums of the current epoch's training losses, and its wall time across resumed processes."""

    steps: int = 0
    train_loss: float | torch.Tensor = 0.0  # float64 scalar tensor while an epoch runs
    depth_loss: float | torch.Tensor = 0.0
    selectivity: dict[str, Any] = field(default_factory=dict)  # layer -> sum of its selectivity term
    seconds: float = 0.0  # spent in earlier processes (a resumed epoch)
    started: float = field(default_factory=time.perf_counter, repr=False)

    @classmethod
    def empty(cls, layers: tuple[str, ...]) -> EpochStats:
        """Return zero statistics for an epoch training the selectivity terms of ``layers`` (none: baseline)."""
        return cls(selectivity={layer: 0.0 for layer in layers})

    def add(self, loss: Any, depth_loss: Any, terms: dict[str, Any]) -> None:
        """Count one optimiser step with its objective and parts (numbers, or scalar tensors summed on their
        device in float64 without a host sync: the same sums as of their ``.item()``)."""
        self.steps += 1
        self.train_loss = self.train_loss + _as_float64(loss)
        self.depth_loss = self.depth_loss + _as_float64(depth_loss)
        for layer, term in terms.items():
            self.selectivity[layer] = self.selectivity[layer] + _as_float64(term)

    def elapsed(self) -> float:
        """Return the epoch's wall time in seconds so far."""
        return self.seconds + time.perf_counter() - self.started

    def means(self) -> dict[str, float]:
        """Return the epoch's means: ``train_loss``, ``depth_loss`` and ``sel_<layer>`` per assigned layer."""
        steps = max(self.steps, 1)
        means = {"train_loss": float(self.train_loss) / steps, "depth_loss": float(self.depth_loss) / steps}
        means.update({f"sel_{layer}": float(total) / steps for layer, total in self.selectivity.items()})
        return means

    def state_dict(self) -> dict[str, float]:
        """Return the statistics as a flat dict of numbers (the checkpoint's ``sums``)."""
        state = {"steps": self.steps, "train_loss": float(self.train_loss), "depth_loss": float(self.depth_loss),
                 "seconds": self.elapsed()}
        state.update({f"sel_{layer}": float(total) for layer, total in self.selectivity.items()})
        return state

    @classmethod
    def from_state_dict(cls, state: dict[str, float]) -> EpochStats:
        """Return the statistics saved by :meth:`state_dict`, the clock restarted now."""
        selectivity = {key[len("sel_"):]: value for key, value in state.items() if key.startswith("sel_")}
        return cls(int(state["steps"]), state["train_loss"], state["depth_loss"], selectivity, state["seconds"])


# ---- checkpoints and metrics ---------------------------------------------------------------------------


@dataclass
class Progress:
    """How far a run has trained: epochs completed, batches done in the current epoch, optimiser steps done."""

    epoch: int = 0
    batch: int = 0
    step: int = 0


def save_checkpoint(
    run_dir: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    config: TrainConfig,
    progress: Progress,
    history: list[dict[str, Any]],
    stats: EpochStats,
) -> None:
    """Write everything needed to continue the run bit-exactly, atomically, to ``checkpoint.pt``."""
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "config": to_dict(config),
        "epoch": progress.epoch,  # epochs completed
        "batch": progress.batch,  # batches done inside the current epoch
        "step": progress.step,  # optimiser steps done
        "history": history,
        "sums": stats.state_dict(),
        "rng": rng_state(),
    }
    atomic_save(run_dir / CHECKPOINT, lambda tmp: torch.save(state, tmp))


def load_training_state(path: str | Path) -> dict[str, Any]:
    """Return the training checkpoint at ``path`` (tensors on CPU), as written by :func:`save_checkpoint`."""
    from .models.checkpoint import read_checkpoint

    state = read_checkpoint(path)
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} holds {type(state).__name__}; expected a training checkpoint dict")
    missing = {"model", "optimizer", "epoch", "batch", "step", "history", "sums", "rng"} - set(state)
    if missing:
        raise CheckpointError(f"checkpoint {path} is not a training checkpoint (missing {', '.join(sorted(missing))})")
    return state


def restore_checkpoint(
    path: Path, model: nn.Module, optimizer: torch.optim.Optimizer
) -> tuple[Progress, list[dict[str, Any]], EpochStats]:
    """Load the checkpoint at ``path`` into ``model``, ``optimizer`` and the RNGs; return (progress, history, stats)."""
    state = load_training_state(path)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    set_rng_state(state["rng"])
    progress = Progress(state["epoch"], state["batch"], state["step"])
    return progress, state["history"], EpochStats.from_state_dict(state["sums"])


def write_metrics(run_dir: Path, history: list[dict[str, Any]]) -> None:
    """Rewrite ``metrics.jsonl`` and ``metrics.csv`` (one row per finished epoch) atomically."""
    import pandas as pd

    atomic_write_text(run_dir / "metrics.jsonl", "".join(json.dumps(row) + "\n" for row in history))
    atomic_save(run_dir / "metrics.csv", lambda tmp: pd.DataFrame(history).to_csv(tmp, index=False))


def read_metrics_csv(path: str | Path) -> Any:
    """Return a run's ``metrics.csv`` as a DataFrame; an empty or unparsable file is a :class:`DataError` naming it."""
    import pandas as pd

    from .errors import DataError

    try:
        return pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{path} is empty or not a metrics table ({' '.join(str(exc).split())[:120]}); "
                        "train the run again (--resume) to rewrite it") from None


def format_row(row: dict[str, Any]) -> str:
    """Return an epoch's row as one log line (loss, accuracy, selectivity terms)."""
    shown = ("epoch", "train_loss", "d1", "abs_rel", "rmse") + tuple(k for k in row if k.startswith("sel_"))
    return "  ".join(f"{k}={row[k]:.4g}" if isinstance(row[k], float) else f"{k}={row[k]}" for k in shown if k in row)


# ---- randomness ------------------------------------------------------------------------------------


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: seed numpy and random from torch's per-worker seed."""
    # DataLoader seeds torch per worker; numpy and random are seeded from it so augmentation differs per worker.
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def rng_state() -> dict[str, Any]:
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


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the RNG states returned by :func:`rng_state`."""
    torch.set_rng_state(state["torch"])
    numpy_state = state["numpy"]
    keys = numpy_state["keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, numpy_state["pos"], numpy_state["has_gauss"], numpy_state["gauss"]))
    python_state = state["python"]
    words = tuple(int(x) for x in python_state["state"].tolist())
    random.setstate((python_state["version"], words, python_state["gauss"]))
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
