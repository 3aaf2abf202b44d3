"""Network dissection, unit ablation and activation correction on any layer of any model.

* :func:`dissect` streams a dataset through a model and accumulates, for each requested layer, the
  per-depth-bin mean response of every unit (:class:`~mdeinterp.selectivity.DepthResponse`).
* :func:`range_errors` measures depth errors per depth range, optionally under an intervention:
  :func:`ablation_intervention` (zero units) or :func:`correction_intervention` (replace a unit's
  activation at every pixel by its dissected mean response for that pixel's true depth bin).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from . import hooks
from .data.transforms import check_batch
from .errors import DataError
from .evaluate import loader_options
from .evaluate import predict as predict_batch
from .io import atomic_path
from .metrics import RangeMetricAccumulator
from .selectivity import (
    DepthResponse,
    assigned_bins,
    default_num_bins,
    depth_bins,
    near_assigned_fraction,
    preferred_bins,
    selectivity_index,
    sid_edges,
)

FORMAT_VERSION = 1


@dataclass
class LayerResponse:
    """Dissection result of one layer: per-bin sums (C, K) and pixel counts (K,) over a dataset."""

    layer: str
    edges: Tensor  # (K + 1,) metres
    sums: Tensor  # (C, K) float64
    counts: Tensor  # (K,) float64

    @property
    def num_units(self) -> int:
        return self.sums.shape[0]

    @property
    def num_bins(self) -> int:
        return self.sums.shape[1]

    @property
    def mean_response(self) -> Tensor:
        """(C, K) mean activation per unit and depth bin."""
        return self.sums / (self.counts + 1e-15)

    @property
    def selectivity(self) -> Tensor:
        """(C,) depth selectivity index at each unit's preferred bin."""
        return selectivity_index(self.mean_response)

    @property
    def preferred_bin(self) -> Tensor:
        """(C,) bin of the largest absolute mean response."""
        return preferred_bins(self.mean_response)

    @property
    def assigned_bin(self) -> Tensor | None:
        """(C,) the bin the training objective assigns to each unit; None when there are more bins than units."""
        if self.num_bins > self.num_units:
            return None
        return assigned_bins(self.num_units, self.num_bins)

    def table(self) -> pd.DataFrame:
        """Return one row per unit: layer, unit, preferred bin and its range in metres, selectivity."""
        preferred = self.preferred_bin
        edges = self.edges.numpy()
        assigned = self.assigned_bin
        table = pd.DataFrame({
            "layer": self.layer,
            "unit": np.arange(self.num_units),
            "preferred_bin": preferred.numpy(),
            "preferred_lo_m": edges[preferred.numpy()],
            "preferred_hi_m": edges[preferred.numpy() + 1],
            "preferred_range_m": [f"{edges[b]:.2f}-{edges[b + 1]:.2f}" for b in preferred.numpy()],
            "selectivity": self.selectivity.numpy(),
        })
        if assigned is not None:
            table["assigned_bin"] = assigned.numpy()
            table["selectivity_at_assigned"] = selectivity_index(self.mean_response, assigned).numpy()
        return table


@dataclass
class Dissection:
    """Per-layer dissection results; ``dissection["D"]`` is a :class:`LayerResponse`."""

    layers: dict[str, LayerResponse] = field(default_factory=dict)

    def __getitem__(self, layer: str) -> LayerResponse:
        if layer not in self.layers:
            raise KeyError(f"layer {layer!r} was not dissected; dissected layers: {', '.join(self.layers)}")
        return self.layers[layer]

    def __iter__(self) -> Iterator[str]:
        return iter(self.layers)

    def table(self) -> pd.DataFrame:
        """Return the tidy per-unit table of all layers (see :meth:`LayerResponse.table`)."""
        return pd.concat([response.table() for response in self.layers.values()], ignore_index=True)

    def summary(self, tolerance: int = 2) -> pd.DataFrame:
        """Return one row per layer: units, bins, mean selectivity, share of units near their assigned bin."""
        rows = []
        for name, response in self.layers.items():
            rows.append({
                "layer": name,
                "units": response.num_units,
                "bins": response.num_bins,
                "mean_selectivity": float(response.selectivity.mean()),
                "median_selectivity": float(response.selectivity.median()),
                "near_assigned": (float("nan") if response.assigned_bin is None else
                                  near_assigned_fraction(response.preferred_bin, response.assigned_bin, tolerance)),
            })
        return pd.DataFrame(rows)

    def save(self, path: str | Path) -> Path:
        """Write the dissection to an HDF5 file atomically; return the path."""
        path = Path(path)
        with atomic_path(path) as tmp, h5py.File(tmp, "w") as fh:
            fh.attrs["format_version"] = FORMAT_VERSION
            for index, (name, response) in enumerate(self.layers.items()):
                group = fh.create_group(name.replace("/", "|"))
                group.attrs["layer"] = name
                group.attrs["index"] = index  # HDF5 lists groups alphabetically; keep the dissection's order
                for key in ("edges", "sums", "counts"):
                    group.create_dataset(key, data=getattr(response, key).cpu().numpy())
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Dissection":
        """Return the dissection stored by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise DataError(f"dissection file {path} does not exist")
        try:
            with h5py.File(path, "r") as fh:
                layers = {}
                for group in sorted(fh.values(), key=lambda g: int(g.attrs.get("index", 0))):
                    name = str(group.attrs["layer"])
                    layers[name] = LayerResponse(
                        name, *(torch.from_numpy(group[key][()]) for key in ("edges", "sums", "counts"))
                    )
        except (OSError, KeyError) as exc:
            raise DataError(f"{path} is not a dissection file written by mdeinterp ({exc})") from None
        return cls(layers)


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
    (:func:`~mdeinterp.evaluate.loader_options`); a given DataLoader is used as it is.
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


def _total(data: Dataset | DataLoader, max_images: int | None) -> int | None:
    try:
        count = len(data.dataset) if isinstance(data, DataLoader) else len(data)
    except TypeError:
        return max_images
    return count if max_images is None else min(count, max_images)


def _place(model: nn.Module, device: str | torch.device | None) -> torch.device:
    """Return the device to run on: ``device`` (the model is moved there and stays) or the model's own."""
    if device is not None:
        device = torch.device(device)
        model.to(device)
        return device
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def _forward(model: nn.Module, batch: dict, device: torch.device) -> Tensor:
    """Run the model on a batch's image (and focal length when the model takes one)."""
    return predict_batch(model, batch, device)


@torch.no_grad()
def dissect(
    model: nn.Module,
    data: Dataset | DataLoader,
    layers: Sequence[str],
    edges: Tensor | None = None,
    *,
    num_bins: int | None = None,
    d_min: float = 0.75,
    d_max: float = 10.0,
    batch_size: int = 8,
    device: str | torch.device | None = None,
    max_images: int | None = None,
    progress: bool = True,
) -> Dissection:
    """Return the dissection of ``layers``: per-unit mean responses per SID depth bin over ``data``.

    The model runs in eval mode without gradients; memory is constant in the dataset size.

    Args:
        model: any network; layers are reached by module name (or the model's ``layer_aliases``).
        data: a Dataset or DataLoader of dicts with ``image`` (B, 3, H, W) and ``depth`` (B, 1, H, W) metres.
        layers: module names, e.g. ``["D", "MFF"]``.
        edges: bin edges shared by all layers; default ``sid_edges(K, d_min, d_max)`` per layer with
            ``K = num_bins or min(units, 64)``.
        device: where the model runs and the responses accumulate (the model is moved there); default the
            model's device. The returned :class:`Dissection` holds CPU tensors.
    """
    layers = list(dict.fromkeys(layers))
    for name in layers:
        hooks.resolve(model, name)  # unknown names fail before any work
    device = _place(model, device)
    was_training = model.training
    model.eval()
    responses: dict[str, DepthResponse] = {}
    bar = tqdm(total=_total(data, max_images), desc="dissect", unit="img", disable=not progress)
    try:
        with hooks.capture(model, layers, detach=True) as activations:
            for batch in batches(data, batch_size, max_images, device=device):
                check_batch(batch)  # depth (B, 1, H, W) of the image's size, not transposed
                _forward(model, batch, device)
                depth = batch["depth"].to(device, non_blocking=True)
                for name in layers:
                    features = activations[name]
                    if name not in responses:
                        units = features.shape[1]
                        layer_edges = edges if edges is not None else sid_edges(
                            num_bins or default_num_bins(units), d_min, d_max)
                        responses[name] = DepthResponse(units, layer_edges, device=device)
                    responses[name].update(features, depth)
                bar.update(len(batch["image"]))
    finally:
        bar.close()
        model.train(was_training)
    if not responses:
        raise DataError("the dataset yielded no images to dissect")
    return Dissection({
        name: LayerResponse(name, r.edges.cpu(), r.sums.cpu(), r.counts.cpu()) for name, r in responses.items()
    })


@torch.no_grad()
def activation_maps(
    model: nn.Module, batch: dict, layers: Sequence[str], *, device: str | torch.device | None = None
) -> dict[str, Tensor]:
    """Return {layer: activations (B, C, h, w)} on ``device`` for one batch (or one sample, given unbatched).

    ``batch`` holds ``image`` (B, 3, H, W) or (3, H, W) ImageNet-normalised (and ``focal`` for models that
    take it). The model runs in eval mode on ``device`` (it is moved there; default its own device) and is
    given back in the mode it had.
    """
    if torch.is_tensor(batch["image"]) and batch["image"].dim() == 3:
        batch = {key: value[None] if torch.is_tensor(value) else [value] for key, value in batch.items()}
    device = _place(model, device)
    was_training = model.training
    model.eval()
    try:
        with hooks.capture(model, layers, detach=True) as activations:
            _forward(model, batch, device)
    finally:
        model.train(was_training)
    return dict(activations)


# --- interventions -----------------------------------------------------------------------------------

Intervention = Callable[[dict], AbstractContextManager]  # batch -> context manager active for its forward


def ablation_intervention(model: nn.Module, units: dict[str, Sequence[int] | Tensor]) -> Intervention:
    """Return an intervention that zeroes ``{layer: units}`` for every batch."""
    return lambda batch: hooks.ablate(model, units)


def correction_intervention(
    model: nn.Module, response: LayerResponse, units: Sequence[int] | Tensor
) -> Intervention:
    """Return an intervention replacing ``units`` of ``response.layer`` by their dissected mean responses.

    At each feature pixel, the activation of a corrected unit becomes its mean response for the true
    depth bin of that pixel (depth resized to the feature map with nearest neighbour); pixels of invalid
    depth keep their activation.
    """
    units = torch.as_tensor(units, dtype=torch.long)
    table = response.mean_response[units].float()  # (U, K)

    def make(batch: dict) -> AbstractContextManager:
        depth = batch["depth"]

        def correct(output: Tensor) -> Tensor:
            small = F.interpolate(depth.to(output.device), size=output.shape[-2:], mode="nearest")[:, 0]
            bins = depth_bins(small, response.edges)  # (B, h, w)
            lookup = table.to(output.device)[:, bins.clamp_min(0)].permute(1, 0, 2, 3)  # (B, U, h, w)
            index = units.to(output.device)
            chosen = output[:, index]
            replaced = torch.where(bins[:, None] >= 0, lookup.to(output.dtype), chosen)
            return output.index_copy(1, index, replaced)

        return hooks.edit(model, response.layer, correct)

    return make


@torch.no_grad()
def predict(
    model: nn.Module,
    data: Dataset | DataLoader,
    *,
    intervention: Intervention | None = None,
    batch_size: int = 8,
    device: str | torch.device | None = None,
    max_images: int | None = None,
) -> Iterator[tuple[Tensor, Tensor]]:
    """Yield (prediction upsampled to the depth size, depth), both (B, 1, H, W) metres on ``device``, per batch.

    ``device``: where the model runs (it is moved there); default the model's device.
    """
    device = _place(model, device)
    was_training = model.training
    model.eval()
    try:
        for batch in batches(data, batch_size, max_images, device=device):
            context = intervention(batch) if intervention is not None else nullcontext()
            with context:
                pred = _forward(model, batch, device)
            depth = batch["depth"].to(device, non_blocking=True)
            if pred.shape[-2:] != depth.shape[-2:]:
                pred = F.interpolate(pred, size=depth.shape[-2:], mode="bilinear", align_corners=False)
            yield pred, depth
    finally:
        model.train(was_training)


@torch.no_grad()
def range_errors(
    model: nn.Module,
    data: Dataset | DataLoader,
    edges: Tensor,
    num_ranges: int,
    *,
    intervention: Intervention | None = None,
    batch_size: int = 8,
    device: str | torch.device | None = None,
    max_images: int | None = None,
) -> pd.DataFrame:
    """Return depth metrics per depth range: one row per range (range_lo, range_hi, n_pixels, metrics).

    Args:
        edges: (K + 1,) SID bin edges in metres, grouped into ``num_ranges`` ranges of consecutive bins;
            the last edge is the evaluation cap.
        intervention: batch -> context manager active during that batch's forward pass.
    """
    accumulator = RangeMetricAccumulator.from_edges(edges, num_ranges, d_max=float(edges[-1]))
    for pred, depth in predict(model, data, intervention=intervention, batch_size=batch_size, device=device,
                               max_images=max_images):
        accumulator.update(pred, depth)
    return accumulator.compute()


def bin_to_range(num_bins: int, num_ranges: int) -> Tensor:
    """Return the range id (K,) of each bin, consistent with :func:`mdeinterp.metrics.depth_ranges`."""
    starts = torch.arange(num_ranges) * num_bins // num_ranges  # first bin of each range
    return torch.bucketize(torch.arange(num_bins), starts, right=True) - 1


def _relative_change(after: pd.DataFrame, before: pd.DataFrame, metric: str) -> np.ndarray:
    return ((after[metric] - before[metric]) / before[metric]).to_numpy()


def _unit_groups(response: LayerResponse, num_ranges: int) -> dict[int, Tensor]:
    """Return range id -> units preferring a bin of that range, most selective first."""
    unit_range = bin_to_range(response.num_bins, num_ranges)[response.preferred_bin]
    order = torch.argsort(response.selectivity, descending=True)
    return {g: order[unit_range[order] == g] for g in range(num_ranges)}


def _range_rows(table: pd.DataFrame, **labels: object) -> list[dict]:
    return [{**labels, **row} for row in table.to_dict("records")]


def _group_experiment(
    model: nn.Module,
    data: Dataset | DataLoader,
    response: LayerResponse,
    make_intervention: Callable[[Tensor], Intervention],
    *,
    num_ranges: int,
    random_draws: int,
    metric: str,
    seed: int,
    **predict_options: object,
) -> pd.DataFrame:
    """Return per-range errors under ``make_intervention(units)`` for each range's units and random units."""
    base = range_errors(model, data, response.edges, num_ranges, **predict_options)
    rows = _range_rows(base, group=-1, kind="none", draw=0, units=0, relative_change=0.0)
    generator = torch.Generator().manual_seed(seed)
    for group, units in _unit_groups(response, num_ranges).items():
        if len(units) == 0:
            continue
        choices = [("selective", 0, units)] + [
            ("random", draw, torch.randperm(response.num_units, generator=generator)[: len(units)])
            for draw in range(random_draws)
        ]
        for kind, draw, chosen in choices:
            table = range_errors(model, data, response.edges, num_ranges,
                                 intervention=make_intervention(chosen), **predict_options)
            labelled = _range_rows(table, group=group, kind=kind, draw=draw, units=len(chosen))
            change = _relative_change(table, base, metric)
            rows += [{**row, "relative_change": float(c)} for row, c in zip(labelled, change)]
    return pd.DataFrame(rows)


def ablation_experiment(
    model: nn.Module,
    data: Dataset | DataLoader,
    response: LayerResponse,
    *,
    num_ranges: int = 4,
    random_draws: int = 3,
    metric: str = "abs_rel",
    seed: int = 0,
    **predict_options: object,
) -> pd.DataFrame:
    """Return per-range errors when the units preferring each depth range are ablated, or as many random ones.

    One row per (ablated group, kind, draw, evaluated range): ``group`` is the depth range whose preferring
    units were zeroed (-1: no ablation), ``kind`` is "selective" or "random" (``draw`` numbers the random
    draws), ``range`` the evaluated depth range, ``relative_change`` the relative change of ``metric``
    against no ablation. ``predict_options`` go to :func:`predict` (batch_size, device, max_images).
    """
    return _group_experiment(
        model, data, response, lambda units: ablation_intervention(model, {response.layer: units}),
        num_ranges=num_ranges, random_draws=random_draws, metric=metric, seed=seed, **predict_options,
    )


def correction_experiment(
    model: nn.Module,
    data: Dataset | DataLoader,
    response: LayerResponse,
    *,
    num_ranges: int = 4,
    random_draws: int = 3,
    metric: str = "abs_rel",
    seed: int = 0,
    **predict_options: object,
) -> pd.DataFrame:
    """Return per-range errors after correcting the units of each depth range, or as many random units.

    Correction replaces a unit's activation at each pixel by its dissected mean response for the pixel's
    true depth bin (:func:`correction_intervention`). Rows as in :func:`ablation_experiment`;
    ``relative_change`` < 0 means the correction removed error.
    """
    return _group_experiment(
        model, data, response, lambda units: correction_intervention(model, response, units),
        num_ranges=num_ranges, random_draws=random_draws, metric=metric, seed=seed, **predict_options,
    )


def top_units(response: LayerResponse, count: int, most: bool = True) -> list[int]:
    """Return the ``count`` most (or least) depth-selective units of a LayerResponse, most selective first."""
    order = np.argsort(-response.selectivity.numpy() if most else response.selectivity.numpy(), kind="stable")
    return [int(u) for u in order[:count]]


__all__ = [
    "LayerResponse", "Dissection", "dissect", "batches", "activation_maps", "predict", "range_errors",
    "ablation_intervention", "correction_intervention", "bin_to_range", "ablation_experiment",
    "correction_experiment", "top_units",
]
