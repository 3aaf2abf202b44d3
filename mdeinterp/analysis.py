"""Network dissection, unit ablation and activation correction on any layer of any model.

* :func:`dissect` streams a dataset through a model and accumulates, for each requested layer, the
  per-depth-bin mean response of every unit (:class:`~mdeinterp.selectivity.DepthResponse`).
* :func:`range_errors` measures depth errors per depth range, optionally under an intervention:
  :func:`ablation_intervention` (zero units) or :func:`correction_intervention` (replace a unit's
  activation at every pixel by its dissected mean response for that pixel's true depth bin).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
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
from .data.transforms import as_batch, check_batch
from .errors import ConfigError, DataError, EmptyBinWarning
from .evaluate import loader_options
from .evaluate import predict as predict_batch
from .io import atomic_path
from .metrics import RangeMetricAccumulator, depth_ranges
from .selectivity import (
    DepthResponse,
    default_num_bins,
    depth_bins,
    near_assigned_fraction,
    sid_edges,
)

FORMAT_VERSION = 1


@dataclass
class Dissection:
    """Per-layer dissection results; ``dissection["D"]`` is a :class:`~mdeinterp.selectivity.DepthResponse`.

    Dissections of disjoint data parts add with ``+`` (layer by layer; the same layers and edges).
    """

    layers: dict[str, DepthResponse] = field(default_factory=dict)

    def __getitem__(self, layer: str) -> DepthResponse:
        if layer not in self.layers:
            raise KeyError(f"layer {layer!r} was not dissected; dissected layers: {', '.join(self.layers)}")
        return self.layers[layer]

    def __iter__(self) -> Iterator[str]:
        return iter(self.layers)

    def __add__(self, other: Dissection) -> Dissection:
        """Return the dissection of the union of two disjoint data parts (sums and counts add up)."""
        if not isinstance(other, Dissection):
            return NotImplemented
        if list(other.layers) != list(self.layers):
            raise ValueError(f"cannot add dissections of layers {list(other.layers)} and {list(self.layers)}")
        layers = {}
        for name, response in self.layers.items():
            try:
                layers[name] = response + other.layers[name]
            except ValueError:
                raise ValueError(f"layer {name!r} was dissected with different bin edges or units in the two parts "
                                 f"({response.num_bins} and {other.layers[name].num_bins} bins)") from None
        return Dissection(layers)

    def table(self) -> pd.DataFrame:
        """Return the tidy per-unit table of all layers (see :meth:`DepthResponse.table`)."""
        return pd.concat([response.table() for response in self.layers.values()], ignore_index=True)

    def summary(self, tolerance: int = 2) -> pd.DataFrame:
        """Return one row per layer: units, bins, mean selectivity, share of units near their assigned bin,
        the share of near-silent units and the mean selectivity without them (docs/method.md, "DS")."""
        rows = []
        for name, response in self.layers.items():
            silent = response.near_silent()
            rows.append({
                "layer": name,
                "units": response.num_units,
                "bins": response.num_bins,
                "mean_selectivity": float(response.selectivity.mean()),
                "median_selectivity": float(response.selectivity.median()),
                "near_assigned": (float("nan") if response.assigned_bin is None else
                                  near_assigned_fraction(response.preferred_bin, response.assigned_bin, tolerance)),
                "silent_share": float(silent.double().mean()),
                "active_selectivity": float(response.selectivity[~silent].mean()) if (~silent).any() else float("nan"),
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
                    layers[name] = DepthResponse(
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


def data_range(data: Dataset | DataLoader) -> tuple[float, float] | None:
    """Return the SID range (d_min, d_max) in metres a dataset declares, or None.

    Looked up on the dataset (through a DataLoader's ``dataset`` and a Subset's ``dataset``): its
    ``d_min``/``d_max`` attributes, else those of its ``config`` (a :class:`~mdeinterp.config.DataConfig`).
    """
    seen = 0
    while data is not None and seen < 8:  # DataLoader -> Subset -> ... -> the dataset itself
        for holder in (data, getattr(data, "config", None)):
            d_min, d_max = getattr(holder, "d_min", None), getattr(holder, "d_max", None)
            if d_min is not None and d_max is not None:
                return float(d_min), float(d_max)
        data, seen = getattr(data, "dataset", None), seen + 1
    return None


def _sid_range(data: Dataset | DataLoader, d_min: float | None, d_max: float | None) -> tuple[float, float]:
    """Return (d_min, d_max): the given values, else the data's (:func:`data_range`); ConfigError when neither."""
    if d_min is not None and d_max is not None:
        return float(d_min), float(d_max)
    declared = data_range(data)
    if declared is None:
        raise ConfigError(
            f"dissect needs the SID depth range: got d_min={d_min!r}, d_max={d_max!r} and a "
            f"{type(data).__name__} without d_min/d_max (nor a config carrying them); pass d_min=..., d_max=... in "
            "metres (the range your depths fill), or edges=sid_edges(K, d_min, d_max)")
    return (float(d_min) if d_min is not None else declared[0]), (float(d_max) if d_max is not None else declared[1])


def _warn_empty_bins(responses: Mapping[str, DepthResponse]) -> None:
    """Warn (:class:`~mdeinterp.errors.EmptyBinWarning`) once per layer whose bins hold no pixel."""
    for name, response in responses.items():
        empty = response.empty_bins.tolist()
        if empty:
            edges = response.edges
            warnings.warn(EmptyBinWarning(
                f"layer {name!r}: {len(empty)} of {response.num_bins} SID bins over {float(edges[1]):g}-"
                f"{float(edges[-1]):g} m hold no pixel of the data (bins {empty}); their mean response is 0 and "
                "inflates DS: give d_min/d_max the range the data fills"), stacklevel=4)


@torch.no_grad()
def dissect(
    model: nn.Module,
    data: Dataset | DataLoader,
    layers: Sequence[str],
    edges: Tensor | None = None,
    *,
    num_bins: int | None = None,
    d_min: float | None = None,
    d_max: float | None = None,
    batch_size: int = 8,
    device: str | torch.device | None = None,
    max_images: int | None = None,
    progress: bool = True,
    warn_empty: bool = True,
) -> Dissection:
    """Return the dissection of ``layers``: per-unit mean responses per SID depth bin over ``data``.

    The model runs in eval mode without gradients; memory is constant in the dataset size. Definitions:
    docs/method.md, "Dissection".

    Args:
        model: any network; layers are reached by module name (or the model's ``layer_aliases``).
        data: a Dataset or DataLoader of dicts with ``image`` (B, 3, H, W) and ``depth`` (B, 1, H, W) metres.
        layers: module names, e.g. ``["D", "MFF"]``; each must output one tensor (B, C, h, w).
        edges: bin edges shared by all layers; default ``sid_edges(K, d_min, d_max)`` per layer with
            ``K = num_bins or min(units, 64)``.
        d_min, d_max: the SID range in metres; default the data's own (:func:`data_range`). Without
            either, :class:`~mdeinterp.errors.ConfigError`: there is no silent default range.
        device: where the model runs and the responses accumulate (the model is moved there); default the
            model's device. The returned :class:`Dissection` holds CPU tensors.
        warn_empty: warn (:class:`~mdeinterp.errors.EmptyBinWarning`) when a bin holds no pixel.
    """
    layers = list(dict.fromkeys(layers))
    if not layers:
        raise ConfigError("layers is empty: name at least one module to dissect, e.g. layers=['D']")
    if max_images is not None and max_images < 1:
        raise ConfigError(f"max_images must be a positive number of images (or None for all), got {max_images}")
    for name in layers:
        hooks.resolve(model, name)  # unknown names fail before any work
    if edges is None:
        d_min, d_max = _sid_range(data, d_min, d_max)
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
                        responses[name] = DepthResponse.zeros(units, layer_edges, device=device, layer=name)
                    responses[name].update(features, depth)
                bar.update(len(batch["image"]))
    finally:
        bar.close()
        model.train(was_training)
    if not responses:
        raise DataError("the dataset yielded no images to dissect")
    first = next(iter(responses.values()))
    if float(first.counts.sum()) == 0:  # every selectivity would be 0/0: refuse rather than report DS 0
        edges_used = first.edges
        raise DataError(f"no pixel of the data has a valid depth in ({float(edges_used[0]):g}, "
                        f"{float(edges_used[-1]):g}] m (depths <= 0, NaN or beyond d_max are invalid); check the "
                        "depth's units (metres) and the SID range")
    if warn_empty:
        _warn_empty_bins(responses)
    return Dissection({name: response.cpu() for name, response in responses.items()})


@torch.no_grad()
def activation_maps(
    model: nn.Module, batch: dict, layers: Sequence[str], *, device: str | torch.device | None = None
) -> dict[str, Tensor]:
    """Return {layer: activations (B, C, h, w)} on ``device`` for one batch (or one sample, given unbatched).

    ``batch`` holds ``image`` (B, 3, H, W) or (3, H, W) ImageNet-normalised (and ``focal`` for models that
    take it). The model runs in eval mode on ``device`` (it is moved there; default its own device) and is
    given back in the mode it had.
    """
    batch = as_batch(batch)
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
    model: nn.Module, response: DepthResponse, units: Sequence[int] | Tensor
) -> Intervention:
    """Return an intervention replacing ``units`` of ``response.layer`` by their dissected mean responses.

    At each feature pixel, the activation of a corrected unit becomes its mean response for the true
    depth bin of that pixel (depth resized to the feature map with nearest neighbour); pixels of invalid
    depth keep their activation. The intervention takes a batch or a single sample (:func:`as_batch`).
    """
    units = torch.as_tensor(units, dtype=torch.long)
    table = response.mean_response[units].float()  # (U, K)

    def make(batch: dict) -> AbstractContextManager:
        depth = as_batch(batch)["depth"]  # (B, 1, H, W) metres

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


def _checked(intervention: object) -> Intervention | None:
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

    ``intervention``: a function batch -> context manager, entered around each batch's forward pass
    (:func:`ablation_intervention`, :func:`correction_intervention`). ``device``: where the model runs (it
    is moved there); default the model's device.
    """
    intervention = _checked(intervention)
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


def correction_maps(
    model: nn.Module, sample: Mapping[str, object], response: DepthResponse, units: Sequence[int] | Tensor | None = None,
    *, device: str | torch.device | None = None,
) -> dict[str, Tensor]:
    """Return image (3, H, W), depth, pred_before and pred_after ((H, W) metres, CPU) for one sample.

    ``pred_after`` is the prediction with ``units`` of ``response.layer`` (default: all) corrected
    (:func:`correction_intervention`). ``sample`` is a dataset sample or a one-image batch; the result
    goes straight into :func:`mdeinterp.plots.error_correction` (``plots.error_correction(**maps)``).
    """
    batch = as_batch(sample)
    units = range(response.num_units) if units is None else units
    (before, depth), = predict_depth(model, [batch], batch_size=None, device=device)
    (after, _), = predict_depth(model, [batch], batch_size=None, device=device,
                                intervention=correction_intervention(model, response, units))
    return {"image": batch["image"][0].cpu(), "depth": depth[0, 0].cpu(), "pred_before": before[0, 0].cpu(),
            "pred_after": after[0, 0].cpu()}


Ranges = Sequence[tuple[float, float]]  # sorted, non-overlapping (lo, hi] depth ranges in metres


@torch.no_grad()
def range_errors(
    model: nn.Module,
    data: Dataset | DataLoader,
    edges: Tensor | None = None,
    num_ranges: int | None = None,
    *,
    ranges: Ranges | None = None,
    intervention: Intervention | None = None,
    batch_size: int = 8,
    device: str | torch.device | None = None,
    max_images: int | None = None,
) -> pd.DataFrame:
    """Return depth metrics per depth range: one row per range (range, range_lo, range_hi, n_pixels, metrics).

    Args:
        edges, num_ranges: (K + 1,) SID bin edges in metres, grouped into ``num_ranges`` ranges of
            consecutive bins (:func:`mdeinterp.metrics.depth_ranges`); or
        ranges: the (lo, hi] ranges in metres themselves. The last upper end is the evaluation cap.
        intervention: a function batch -> context manager, active during that batch's forward pass.
    """
    ranges = _ranges(edges, num_ranges, ranges)
    accumulator = RangeMetricAccumulator(ranges, d_max=float(ranges[-1][1]))
    for pred, depth in predict_depth(model, data, intervention=intervention, batch_size=batch_size, device=device,
                                     max_images=max_images):
        accumulator.update(pred, depth)
    table = accumulator.compute()
    table.insert(0, "range", np.arange(len(table)))
    return table


def _ranges(edges: Tensor | None, num_ranges: int | None, ranges: Ranges | None) -> list[tuple[float, float]]:
    """Return the (lo, hi] metre ranges given either as ``ranges`` or as ``edges`` grouped into ``num_ranges``."""
    if ranges is not None:
        return [(float(lo), float(hi)) for lo, hi in ranges]
    if edges is None or num_ranges is None:
        raise ConfigError(f"give ranges=[(lo, hi), ...] in metres, or edges and num_ranges; got edges="
                          f"{None if edges is None else 'a tensor'}, num_ranges={num_ranges!r}")
    return depth_ranges(edges, num_ranges)


def bin_ranges(edges: Tensor, ranges: Ranges) -> Tensor:
    """Return the range id (K,) holding the centre of each bin of ``edges`` (metres); -1 outside every range.

    With ranges made from the same edges (:func:`mdeinterp.metrics.depth_ranges`) each bin lies inside its
    range; with other edges (a layer of another K) each bin goes where its centre lies.
    """
    bounds = torch.as_tensor([tuple(r) for r in ranges], dtype=torch.float64)  # (R, 2)
    centres = (edges[:-1] + edges[1:]).double() / 2  # (K,)
    index = torch.bucketize(centres, bounds[:, 1].contiguous())  # first range with hi >= centre
    inside = (index < len(bounds)) & (centres > bounds[index.clamp_max(len(bounds) - 1), 0])
    return torch.where(inside, index, -1)


def _relative_change(after: pd.DataFrame, before: pd.DataFrame, metric: str) -> np.ndarray:
    return ((after[metric] - before[metric]) / before[metric]).to_numpy()


def _unit_groups(response: DepthResponse, ranges: Ranges) -> dict[int, Tensor]:
    """Return range id -> units whose preferred bin's centre lies in that range, most selective first."""
    unit_range = bin_ranges(response.edges, ranges)[response.preferred_bin]
    order = torch.argsort(response.selectivity, descending=True)
    return {g: order[unit_range[order] == g] for g in range(len(ranges))}


def _range_rows(table: pd.DataFrame, **labels: object) -> list[dict]:
    return [{**labels, **row} for row in table.to_dict("records")]


def _group_experiment(
    model: nn.Module,
    data: Dataset | DataLoader,
    response: DepthResponse,
    make_intervention: Callable[[Tensor], Intervention],
    *,
    num_ranges: int,
    ranges: Ranges | None,
    random_draws: int,
    metric: str,
    seed: int,
    **predict_options: object,
) -> pd.DataFrame:
    """Return per-range errors under ``make_intervention(units)`` for each range's units and random units."""
    ranges = _ranges(response.edges, num_ranges, ranges)
    base = range_errors(model, data, ranges=ranges, **predict_options)
    rows = _range_rows(base, group=-1, kind="none", draw=0, units=0, relative_change=0.0)
    generator = torch.Generator().manual_seed(seed)
    for group, units in _unit_groups(response, ranges).items():
        if len(units) == 0:
            continue
        choices = [("selective", 0, units)] + [
            ("random", draw, torch.randperm(response.num_units, generator=generator)[: len(units)])
            for draw in range(random_draws)
        ]
        for kind, draw, chosen in choices:
            table = range_errors(model, data, ranges=ranges, intervention=make_intervention(chosen),
                                 **predict_options)
            labelled = _range_rows(table, group=group, kind=kind, draw=draw, units=len(chosen))
            change = _relative_change(table, base, metric)
            rows += [{**row, "relative_change": float(c)} for row, c in zip(labelled, change)]
    return pd.DataFrame(rows)


def ablation_experiment(
    model: nn.Module,
    data: Dataset | DataLoader,
    response: DepthResponse,
    *,
    num_ranges: int = 4,
    ranges: Ranges | None = None,
    random_draws: int = 3,
    metric: str = "abs_rel",
    seed: int = 0,
    **predict_options: object,
) -> pd.DataFrame:
    """Return per-range errors when the units preferring each depth range are ablated, or as many random ones.

    One row per (ablated group, kind, draw, evaluated range): ``group`` is the depth range whose preferring
    units were zeroed (-1: no ablation), ``kind`` is "selective" or "random" (``draw`` numbers the random
    draws), ``range`` the index of the evaluated depth range (0 = nearest) with its ends ``range_lo`` and
    ``range_hi`` in metres, ``relative_change`` the relative change of ``metric`` against no ablation.

    ``ranges``: the (lo, hi] depth ranges in metres; give the same ranges to every layer of one experiment
    so that their rows compare (layers of different K would otherwise be cut differently). Default:
    ``num_ranges`` ranges of this layer's SID bins. A unit belongs to the range holding its preferred
    bin's centre. ``predict_options`` go to :func:`predict_depth` (batch_size, device, max_images).
    """
    return _group_experiment(
        model, data, response, lambda units: ablation_intervention(model, {response.layer: units}),
        num_ranges=num_ranges, ranges=ranges, random_draws=random_draws, metric=metric, seed=seed, **predict_options,
    )


def correction_experiment(
    model: nn.Module,
    data: Dataset | DataLoader,
    response: DepthResponse,
    *,
    num_ranges: int = 4,
    ranges: Ranges | None = None,
    random_draws: int = 3,
    metric: str = "abs_rel",
    seed: int = 0,
    **predict_options: object,
) -> pd.DataFrame:
    """Return per-range errors after correcting the units of each depth range, or as many random units.

    Correction replaces a unit's activation at each pixel by its dissected mean response for the pixel's
    true depth bin (:func:`correction_intervention`). Rows and ``ranges`` as in :func:`ablation_experiment`;
    ``relative_change`` < 0 means the correction removed error.
    """
    return _group_experiment(
        model, data, response, lambda units: correction_intervention(model, response, units),
        num_ranges=num_ranges, ranges=ranges, random_draws=random_draws, metric=metric, seed=seed, **predict_options,
    )


def top_units(response: DepthResponse, count: int, most: bool = True) -> list[int]:
    """Return the ``count`` most (or least) depth-selective units of a layer's response, most selective first."""
    order = np.argsort(-response.selectivity.numpy() if most else response.selectivity.numpy(), kind="stable")
    return [int(u) for u in order[:count]]


__all__ = [
    "DepthResponse", "Dissection", "data_range", "dissect", "batches", "activation_maps", "as_batch",
    "predict_depth", "correction_maps", "range_errors", "ablation_intervention", "correction_intervention",
    "bin_ranges", "ablation_experiment", "correction_experiment", "top_units",
]
