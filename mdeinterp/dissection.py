"""Network dissection on any layer of any model: per-unit mean responses per SID depth bin, and their caches.

* :func:`dissect` streams a dataset through a model (:func:`mdeinterp.inference.predictions`) and
  accumulates, for each requested layer, the per-depth-bin mean response of every unit
  (:class:`~mdeinterp.selectivity.DepthResponse`); a :class:`Dissection` holds them per layer.
* :func:`activation_maps` returns the layers' activations on one batch; :func:`top_units` ranks units.
* :func:`load_cached_dissection` reads a cached dissection file back only when it validates.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from . import hooks
from .data.transforms import as_batch, check_batch
from .errors import ConfigError, DataError, EmptyBinWarning, LayerOutputError, MdeinterpError
from .inference import image_count, place, predict, predictions
from .io import atomic_path
from .selectivity import DepthResponse, default_num_bins, near_assigned_fraction, position_coded, sid_edges

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
        the share of near-silent units and the mean selectivity without them (docs/method.md, "DS"), and the
        count of dead units (DS undefined: left out of every mean)."""
        rows = []
        for name, response in self.layers.items():
            silent = response.near_silent()
            rows.append({
                "layer": name,
                "units": response.num_units,
                "bins": response.num_bins,
                "mean_selectivity": float(response.selectivity.nanmean()),
                "median_selectivity": float(response.selectivity.nanmedian()),
                "near_assigned": (float("nan") if response.assigned_bin is None else
                                  near_assigned_fraction(response.preferred_bin, response.assigned_bin, tolerance)),
                "silent_share": float(silent.double().mean()),
                "dead_units": int(response.dead.sum()),  # no response anywhere: DS undefined, in no unit group
                "active_selectivity": (float(response.selectivity[~silent].nanmean()) if (~silent).any()
                                       else float("nan")),
                **_controlled_columns(response, silent),
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
                for key in ("edges", "sums", "counts", "band_sums", "band_counts"):
                    if getattr(response, key) is not None:
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
                    banded = {key: torch.from_numpy(group[key][()]) for key in ("band_sums", "band_counts")
                              if key in group}
                    layers[name] = DepthResponse(
                        name, *(torch.from_numpy(group[key][()]) for key in ("edges", "sums", "counts")), **banded
                    )
        except (OSError, KeyError) as exc:
            raise DataError(f"{path} is not a dissection file written by mdeinterp ({exc})") from None
        return cls(layers)


def _controlled_columns(response: DepthResponse, silent: Tensor) -> dict[str, float]:
    """Return a layer's position-controlled statistics when it was dissected within bands, else nothing.

    ``controlled_selectivity``: mean DS within image bands over all units; ``clean_selectivity``: mean DS of the
    clean units (neither dead, near-silent nor position-coded), ``clean_share`` their share of the units.
    """
    controlled = response.controlled_selectivity()
    if controlled is None:
        return {}
    ds = response.selectivity
    coded = position_coded(ds, controlled)
    clean = ~response.dead & ~silent & ~coded
    return {"controlled_selectivity": float(controlled.nanmean()),
            "clean_selectivity": float(ds[clean].mean()) if clean.any() else float("nan"),
            "clean_share": float(clean.double().mean()),
            "position_coded_share": float(coded[~response.dead].double().mean())}


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
    bands: int | None = None,
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
        bands: also accumulate the responses within that many horizontal image bands, for the position
            control (:func:`~mdeinterp.selectivity.controlled_selectivity`: ``ds_controlled`` in the unit table).
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
    device = place(model, device)
    responses: dict[str, DepthResponse] = {}
    bar = tqdm(total=image_count(data, max_images), desc="dissect", unit="img", disable=not progress)
    try:
        with hooks.capture(model, layers, detach=True) as activations:
            # check_batch: depth (B, 1, H, W) of the image's size, not transposed, before any forward pass
            for batch, _, depth in predictions(model, data, batch_size=batch_size, device=device,
                                               max_images=max_images, upsample=False, before=check_batch):
                for name in layers:
                    features = activations[name]
                    if name not in responses:
                        if features.dim() != 4:  # e.g. a transformer's (B, N, C) tokens
                            raise LayerOutputError(
                                f"layer {name!r} returned shape {tuple(features.shape)}; dissection needs feature "
                                "maps (B, C, h, w): reshape its tokens to a map (e.g. a hook on a module that "
                                "outputs one) or dissect another layer")
                        units = features.shape[1]
                        layer_edges = edges if edges is not None else sid_edges(
                            num_bins or default_num_bins(units), d_min, d_max)
                        if num_bins is not None and num_bins > units:  # as Objective refuses a K above the units
                            raise ConfigError(f"layer {name!r} has {units} units but num_bins={num_bins} depth bins "
                                              "were asked for; use at most as many bins as units (or pass edges "
                                              "explicitly to bin a small layer finely)")
                        responses[name] = DepthResponse.zeros(units, layer_edges, device=device, layer=name,
                                                              bands=bands)
                    responses[name].update(features, depth)
                bar.update(len(batch["image"]))
    finally:
        bar.close()
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
    device = place(model, device)
    was_training = model.training
    model.eval()
    try:
        with hooks.capture(model, layers, detach=True) as activations:
            predict(model, batch, device)
    finally:
        model.train(was_training)
    return dict(activations)


def top_units(response: DepthResponse, count: int, most: bool = True, clean: bool = False) -> list[int]:
    """Return the ``count`` most (or least) depth-selective units of a layer's response, most selective first.

    ``clean``: rank the clean units first (neither dead, near-silent nor position-coded:
    :meth:`~mdeinterp.selectivity.DepthResponse.clean`), so a showcase is not made of units that barely respond or
    code image row; flagged units follow only when fewer than ``count`` are clean. Without the position control
    (a dissection made before it) every unit counts as clean.
    """
    ds = np.nan_to_num(response.selectivity.numpy(), nan=-np.inf if most else np.inf)  # dead units last
    order = np.argsort(-ds if most else ds, kind="stable")
    keep = response.clean() if clean else None
    if keep is not None:
        flags = ~keep.numpy()[order]
        order = order[np.argsort(flags, kind="stable")]  # clean first, each part in DS order
    return [int(u) for u in order[:count]]


def load_cached_dissection(path: str | Path, layers: Sequence[str] | None = None) -> Dissection | None:
    """Return the dissection cached at ``path`` when it validates, else None after a warning naming the file.

    Valid: readable, exactly ``layers`` (in order) when given, and per layer edges (K + 1,) strictly
    increasing, sums (C, K) and counts (K,) finite with counts >= 0. The caller recomputes on None, so
    a truncated or corrupted cache repairs itself instead of giving an error or, worse, NaN selectivity.
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        dissection = Dissection.load(path)
        problem = dissection_problem(dissection, layers)
    except (MdeinterpError, OSError, ValueError, TypeError, KeyError, RuntimeError) as exc:
        problem = f"unreadable ({' '.join(str(exc).split())[:160]})"
    if problem is None:
        return dissection
    warnings.warn(f"cached dissection {path} is invalid: {problem}; recomputing it", stacklevel=2)
    return None


def dissection_problem(dissection: Dissection, layers: Sequence[str] | None = None) -> str | None:
    """Return what is wrong with a loaded dissection (shapes, finiteness, layers), or None when it is sound."""
    names = list(dissection)
    if layers is not None and names != list(layers):
        return f"holds layers {names}, expected {list(layers)}"
    for name in names:
        response = dissection[name]
        edges, sums, counts = response.edges, response.sums, response.counts
        if edges.ndim != 1 or sums.ndim != 2 or counts.ndim != 1:
            return f"layer {name}: edges, sums, counts have {edges.ndim}, {sums.ndim}, {counts.ndim} dimensions; expected 1, 2, 1"
        bins = len(edges) - 1
        if sums.shape[1] != bins or counts.shape[0] != bins:
            return f"layer {name}: sums {tuple(sums.shape)} and counts {tuple(counts.shape)} do not match {bins} bins"
        for key, tensor in (("edges", edges), ("sums", sums), ("counts", counts)):
            if not torch.isfinite(tensor).all():
                return f"layer {name}: {key} holds NaN or Inf"
        if (counts < 0).any() or not (edges[1:] > edges[:-1]).all():
            return f"layer {name}: negative counts or edges not increasing"
    return None


__all__ = [
    "DepthResponse", "Dissection", "FORMAT_VERSION", "data_range", "dissect", "activation_maps", "top_units",
    "load_cached_dissection", "dissection_problem",
]
