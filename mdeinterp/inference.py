"""Running a depth network: one forward pass (:func:`predict`) and the one loop over a dataset (:func:`predictions`).

Every part of the package that runs a model on data goes through :func:`predictions` — accuracy
(:func:`evaluate`), dissection, ablation and correction — so each feeds the model what it declares:
the batch entries named by its ``input_keys`` (CSPN's sparse depth) and, for a ``forward`` with a
``focal`` parameter (BTS), the focal length. Nothing here knows a model by name.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from .errors import ConfigError, DataError
from .hooks import unwrap
from .metrics import MetricAccumulator, check_metres

Intervention = Callable[[dict], AbstractContextManager]  # batch -> context manager active for its forward pass


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
    return tuple(getattr(unwrap(model), "input_keys", ("image",)))


def batch_input(batch: dict, key: str, model: nn.Module) -> torch.Tensor:
    """Return ``batch[key]``; raise :class:`DataError` naming the model and the data setting when it is missing."""
    if key not in batch:
        arch = getattr(unwrap(model), "arch", type(model).__name__)
        hint = " (set the data config's sparse_points, as preset tiny_cspn does)" if key == "sparse_depth" else ""
        raise DataError(f"model {arch!r} takes batch[{key!r}], which the batch lacks (it has "
                        f"{', '.join(map(repr, batch))}){hint}")
    return batch[key]


def accepts_focal(model: nn.Module) -> bool:
    """Return True when ``model.forward`` (or a DDP-wrapped module's) has a ``focal`` parameter."""
    try:
        return "focal" in inspect.signature(unwrap(model).forward).parameters
    except (TypeError, ValueError):
        return False


def loader_options(device: torch.device | str | None, num_workers: int | None = None) -> dict[str, Any]:
    """Return DataLoader keyword arguments for feeding ``device``: with CUDA, pinned memory and worker processes.

    ``num_workers`` overrides the default of ``min(4, CPU cores)`` worker processes on CUDA (0 on CPU, where
    workers would compete with the model for the same cores).
    """
    cuda = device is not None and torch.device(device).type == "cuda"
    workers = num_workers if num_workers is not None else (min(4, os.cpu_count() or 1) if cuda else 0)
    return {"pin_memory": cuda, "num_workers": workers}


def batches(
    data: Dataset | DataLoader,
    batch_size: int = 8,
    max_images: int | None = None,
    *,
    device: str | torch.device | None = None,
    num_workers: int | None = None,
) -> Iterator[dict]:
    """Yield batches (dicts of tensors) from a Dataset or DataLoader, stopping after ``max_images`` images.

    A Dataset is wrapped in a DataLoader that, for a CUDA ``device``, pins memory and uses worker processes
    (:func:`loader_options`); a given DataLoader is used as it is.
    """
    loader = data if isinstance(data, DataLoader) else DataLoader(
        data, batch_size=batch_size, shuffle=False, **loader_options(device, num_workers))
    seen = 0
    for batch in loader:
        if max_images is not None and seen >= max_images:
            return
        if max_images is not None and seen + len(batch["image"]) > max_images:
            keep = max_images - seen
            batch = {k: v[:keep] if torch.is_tensor(v) else v for k, v in batch.items()}
        seen += len(batch["image"])
        yield batch


def image_count(data: Dataset | DataLoader, max_images: int | None) -> int | None:
    """Return how many images :func:`batches` yields from ``data`` (None when the dataset has no length)."""
    try:
        count = len(data.dataset) if isinstance(data, DataLoader) else len(data)
    except TypeError:
        return max_images
    return count if max_images is None else min(count, max_images)


def place(model: nn.Module, device: str | torch.device | None) -> torch.device:
    """Return the device to run on: ``device`` (the model is moved there and stays) or the model's own."""
    if device is not None:
        device = torch.device(device)
        model.to(device)
        return device
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def checked_intervention(intervention: object) -> Intervention | None:
    """Return ``intervention`` after checking it is a function batch -> context manager (ConfigError otherwise)."""
    if intervention is None:
        return None
    if isinstance(intervention, AbstractContextManager) or hasattr(intervention, "__enter__") or not callable(intervention):
        raise ConfigError(
            f"intervention must be a function batch -> context manager (entered once per batch), got a "
            f"{type(intervention).__name__}; use ablation_intervention(model, units) or "
            "correction_intervention(model, response, units), or wrap it: lambda batch: hooks.ablate(model, units)")

    def checked(batch: dict) -> AbstractContextManager:
        context = intervention(batch)
        if not (hasattr(context, "__enter__") and hasattr(context, "__exit__")):
            raise ConfigError(f"intervention {getattr(intervention, '__name__', intervention)!r} returned a "
                              f"{type(context).__name__}; expected a context manager (e.g. hooks.ablate(...))")
        return context

    return checked


@torch.no_grad()
def predictions(
    model: nn.Module,
    data: Dataset | DataLoader,
    *,
    intervention: Intervention | None = None,
    batch_size: int = 8,
    device: str | torch.device | None = None,
    max_images: int | None = None,
    num_workers: int | None = None,
    upsample: bool = True,
    before: Callable[[dict], None] | None = None,
) -> Iterator[tuple[dict, Tensor, Tensor]]:
    """Yield (batch, prediction, depth) per batch: the one loop that runs a model over data.

    The prediction is (B, 1, h, w) metres on ``device``, upsampled (bilinear) to the depth's (B, 1, H, W)
    when ``upsample``; ``depth`` is the batch's depth on ``device``. The model runs in eval mode without
    gradients on ``device`` (it is moved there; default its own device) and is given back in the mode it had,
    also when the caller stops early. ``intervention``: a function batch -> context manager entered around
    each batch's forward pass (:func:`mdeinterp.interventions.ablation_intervention`). ``before``: called
    with each batch before its forward pass (a check that fails before any work on a bad batch).
    """
    intervention = checked_intervention(intervention)
    device = place(model, device)
    was_training = model.training
    model.eval()
    try:
        for batch in batches(data, batch_size, max_images, device=device, num_workers=num_workers):
            if before is not None:
                before(batch)
            with intervention(batch) if intervention is not None else nullcontext():
                pred = predict(model, batch, device)
            depth = batch["depth"].to(device, non_blocking=True)
            if upsample and pred.shape[-2:] != depth.shape[-2:]:
                pred = F.interpolate(pred, size=depth.shape[-2:], mode="bilinear", align_corners=False)
            yield batch, pred, depth
    finally:
        model.train(was_training)


def predict_depth(
    model: nn.Module,
    data: Dataset | DataLoader,
    *,
    intervention: Intervention | None = None,
    batch_size: int = 8,
    device: str | torch.device | None = None,
    max_images: int | None = None,
) -> Iterator[tuple[Tensor, Tensor]]:
    """Yield (prediction upsampled to the depth size, depth), both (B, 1, H, W) metres on ``device``, per batch.

    :func:`predictions` without the batch; ``intervention`` and ``device`` as there.
    """
    for _, pred, depth in predictions(model, data, intervention=intervention, batch_size=batch_size, device=device,
                                      max_images=max_images):
        yield pred, depth


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
    # A private generator: building a DataLoader iterator draws a seed, and drawing it from the
    # global RNG would shift the training run's random stream (and break exact resumption).
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, generator=torch.Generator().manual_seed(0),
                        **loader_options(device, num_workers))
    accumulator = MetricAccumulator(d_max, garg_crop=garg_crop, averaging=averaging)
    short: list[torch.Tensor] = []
    with tqdm(desc="eval", leave=False, disable=not progress) as bar:
        # no upsampling here: the accumulator resizes in float64, as the metrics are defined
        for index, (batch, pred, depth) in enumerate(predictions(model, loader, device=device, upsample=False)):
            if index == 0:
                check_metres(depth, d_max, "evaluate: the dataset's depth")
            accumulator.update(pred.float(), depth.float())  # (B, 1, h, w), (B, 1, H, W) metres
            if "sparse_short" in batch:
                short.append(torch.as_tensor(batch["sparse_short"]))
            bar.update()
    metrics = {key: float(value) for key, value in accumulator.compute().items()}
    if short:
        metrics["sparse_short_images"] = float(torch.cat(short).sum())
    return metrics


__all__ = [
    "Intervention", "predict", "predictions", "predict_depth", "evaluate", "input_keys", "batch_input",
    "accepts_focal", "loader_options", "batches", "image_count", "place", "checked_intervention",
]
