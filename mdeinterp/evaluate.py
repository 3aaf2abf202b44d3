"""Accuracy of a depth network on a dataset: the paper's eight metrics over all valid pixels."""

from __future__ import annotations

import inspect

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from .metrics import MetricAccumulator


def predict(model: nn.Module, batch: dict, device: torch.device | str) -> torch.Tensor:
    """Return the model's depth prediction (B, 1, h, w) in metres for a batch of samples.

    Models whose ``forward`` takes a ``focal`` argument (BTS) get the batch's focal lengths
    (pixels); the choice reads the signature, never the model's name.
    """
    image = batch["image"].to(device, non_blocking=True)  # (B, 3, H, W), ImageNet-normalised
    if "focal" in batch and accepts_focal(model):
        focal = torch.as_tensor(batch["focal"], dtype=image.dtype, device=image.device)
        return model(image, focal=focal)
    return model(image)


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
) -> dict[str, float]:
    """Return the metrics (d1, d2, d3, abs_rel, sq_rel, rmse, rmse_log, log10) of ``model`` on ``dataset``.

    Predictions are upsampled to the ground truth's size and clamped to [1e-3, ``d_max``] metres
    inside :class:`~mdeinterp.metrics.MetricAccumulator`; pixels with depth 0 are ignored. The
    model is put in eval mode and given back in the mode it had.
    """
    # A private generator: building a DataLoader iterator draws a seed, and drawing it from the
    # global RNG would shift the training run's random stream (and break exact resumption).
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, generator=torch.Generator().manual_seed(0))
    accumulator = MetricAccumulator(d_max, garg_crop=garg_crop)
    was_training = model.training
    model.eval()
    try:
        for batch in tqdm(loader, desc="eval", leave=False, disable=not progress):
            pred = predict(model, batch, device)  # (B, 1, h, w) metres
            accumulator.update(pred.float().cpu(), batch["depth"].float())
    finally:
        model.train(was_training)
    return {key: float(value) for key, value in accumulator.compute().items()}
