"""Accuracy of a depth network on a dataset: the paper's metrics over all valid pixels, or averaged per image."""

from __future__ import annotations

import inspect
import os
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from .errors import DataError
from .metrics import MetricAccumulator

if TYPE_CHECKING:
    import pandas as pd


def predict(model: nn.Module, batch: dict, device: torch.device | str) -> torch.Tensor:
    """Return the model's depth prediction (B, 1, h, w) in metres for a batch of samples.

    The model is fed the batch entries named by its ``input_keys`` (default ``("image",)``; CSPN declares
    ``("image", "sparse_depth")``), in that order. Models whose ``forward`` takes a ``focal`` argument (BTS)
    also get the batch's focal lengths (pixels); the choice reads the model's declarations, never its name.
    """
    inputs = [batch_input(batch, key, model).to(device, non_blocking=True) for key in input_keys(model)]
    if "focal" in batch and accepts_focal(model):
        focal = torch.as_tensor(batch["focal"], dtype=inputs[0].dtype, device=inputs[0].device)
        return model(*inputs, focal=focal)
    return model(*inputs)


def input_keys(model: nn.Module) -> tuple[str, ...]:
    """Return the batch keys ``model`` (or a DDP-wrapped module) takes as inputs, in order: its ``input_keys``."""
    return tuple(getattr(getattr(model, "module", model), "input_keys", ("image",)))


def batch_input(batch: dict, key: str, model: nn.Module) -> torch.Tensor:
    """Return ``batch[key]``; raise :class:`DataError` naming the model and the data setting when it is missing."""
    if key not in batch:
        arch = getattr(getattr(model, "module", model), "arch", type(model).__name__)
        hint = " (set the data config's sparse_points, as preset tiny_cspn does)" if key == "sparse_depth" else ""
        raise DataError(f"model {arch!r} takes batch[{key!r}], which the batch lacks (it has "
                        f"{', '.join(map(repr, batch))}){hint}")
    return batch[key]


def loader_options(device: torch.device | str | None, num_workers: int | None = None) -> dict[str, Any]:
    """Return DataLoader keyword arguments for feeding ``device``: with CUDA, pinned memory and worker processes.

    ``num_workers`` overrides the default of ``min(4, CPU cores)`` worker processes on CUDA (0 on CPU, where
    workers would compete with the model for the same cores).
    """
    cuda = device is not None and torch.device(device).type == "cuda"
    workers = num_workers if num_workers is not None else (min(4, os.cpu_count() or 1) if cuda else 0)
    return {"pin_memory": cuda, "num_workers": workers}


def accepts_focal(model: nn.Module) -> bool:
    """Return True when ``model.forward`` (or a DDP-wrapped module's) has a ``focal`` parameter."""
    inner = getattr(model, "module", model)
    try:
        return "focal" in inspect.signature(inner.forward).parameters
    except (TypeError, ValueError):
        return False


@torch.no_grad()
def evaluate(
    model: nn.Module,
    dataset: Dataset,
    d_max: float,
    batch_size: int = 8,
    device: torch.device | str = "cpu",
    garg_crop: bool = False,
    progress: bool = False,
    num_workers: int | None = None,
    averaging: str = "pixel",
) -> dict[str, float]:
    """Return the metrics (:data:`~mdeinterp.metrics.METRIC_KEYS`) of ``model`` on ``dataset``.

    With sparse depth input (samples holding ``sparse_short``), ``sparse_short_images`` counts the images
    that had fewer valid pixels than the sparse points asked for (they got all their valid pixels).

    Predictions are upsampled to the ground truth's size and clamped to [1e-3, ``d_max``] metres
    inside :class:`~mdeinterp.metrics.MetricAccumulator`; pixels with depth 0 are ignored. The
    model is moved to ``device`` (where it stays) and runs there, metrics included; it is put in eval
    mode and given back in the mode it had. With CUDA, batches come from pinned memory and
    ``num_workers`` worker processes (:func:`loader_options`). ``averaging``: "pixel" pools all valid
    pixels, "image" averages per-image metrics (:data:`~mdeinterp.metrics.AVERAGING`).
    """
    device = torch.device(device)
    model.to(device)
    # A private generator: building a DataLoader iterator draws a seed, and drawing it from the
    # global RNG would shift the training run's random stream (and break exact resumption).
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, generator=torch.Generator().manual_seed(0),
                        **loader_options(device, num_workers))
    accumulator = MetricAccumulator(d_max, garg_crop=garg_crop, averaging=averaging)
    was_training = model.training
    model.eval()
    short: list[torch.Tensor] = []
    try:
        for batch in tqdm(loader, desc="eval", leave=False, disable=not progress):
            pred = predict(model, batch, device)  # (B, 1, h, w) metres
            accumulator.update(pred.float(), batch["depth"].to(device, non_blocking=True).float())
            if "sparse_short" in batch:
                short.append(torch.as_tensor(batch["sparse_short"]))
    finally:
        model.train(was_training)
    metrics = {key: float(value) for key, value in accumulator.compute().items()}
    if short:
        metrics["sparse_short_images"] = float(torch.cat(short).sum())
    return metrics


def range_accuracy(run_dir: str | os.PathLike, num_ranges: int = 4, device: str = "cpu") -> pd.DataFrame:
    """Return a run's test accuracy per depth range: one row per range (range_lo, range_hi, n_pixels, share, metrics).

    The ranges are those of the ablation analysis: the run's K SID bins over its data's range, grouped into
    ``num_ranges`` ranges of consecutive bins (:func:`mdeinterp.analysis.range_errors`); metrics are pooled
    over each range's pixels and ``share`` is the range's part of all valid test pixels.
    """
    from .analysis import range_errors
    from .run import Run
    from .selectivity import sid_edges

    run = Run.from_dir(run_dir)
    model, config, test = run.model(device), run.config, run.data("test")
    edges = sid_edges(run.num_bins(), config.data.d_min, config.data.d_max)
    table = range_errors(model, test, edges, num_ranges, batch_size=config.batch_size, device=device)
    table.insert(3, "share", table["n_pixels"] / table["n_pixels"].sum())
    return table
