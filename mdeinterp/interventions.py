"""Unit ablation and activation correction on any layer of any model, at two levels.

* Primitives: :func:`ablate` (zero units) and :func:`correct` (replace a unit's activation at every
  pixel by its dissected mean response for that pixel's true depth bin) return an *intervention*, a
  function batch -> context manager that :func:`mdeinterp.inference.predictions` enters around each
  batch's forward pass; :func:`range_errors` measures depth errors per depth range under one.
* Experiments over unit groups: :func:`ablation_experiment` and :func:`correction_experiment` (each depth
  range's units, :func:`range_groups`, against as many random units), :func:`ablation_by_size` (1, 2, 4, …
  of a group's most selective units) — all one selective-vs-random loop (:func:`group_experiment`) — and
  :func:`ablate_units` (named unit sets). The :class:`~mdeinterp.run.Run` methods run them on a trained run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from . import hooks
from .data.transforms import as_batch
from .errors import ConfigError
from .inference import Intervention, predict_depth
from .metrics import RangeMetricAccumulator, check_metres, depth_ranges
from .selectivity import DepthResponse, depth_bins

Ranges = Sequence[tuple[float, float]]  # sorted, non-overlapping (lo, hi] depth ranges in metres
Units = Sequence[int] | Tensor


# ---- primitives -----------------------------------------------------------------------------------------


def ablate(model: nn.Module, units: Mapping[str, Units]) -> Intervention:
    """Return an intervention that zeroes ``{layer: units}`` for every batch (:func:`mdeinterp.hooks.ablate`)."""
    return lambda batch: hooks.ablate(model, units)


def correct(model: nn.Module, response: DepthResponse, units: Units) -> Intervention:
    """Return an intervention replacing ``units`` of ``response.layer`` by their dissected mean responses.

    At each feature pixel, the activation of a corrected unit becomes its mean response for the true
    depth bin of that pixel (depth resized to the feature map with nearest neighbour); pixels of invalid
    depth keep their activation. The intervention takes a batch or a single sample (:func:`as_batch`).
    """
    units = torch.as_tensor(units, dtype=torch.long)
    table = response.mean_response[units].float()  # (U, K)

    def make(batch: dict) -> AbstractContextManager:
        depth = as_batch(batch)["depth"]  # (B, 1, H, W) metres

        def replace(output: Tensor) -> Tensor:
            small = F.interpolate(depth.to(output.device), size=output.shape[-2:], mode="nearest")[:, 0]
            bins = depth_bins(small, response.edges)  # (B, h, w)
            lookup = table.to(output.device)[:, bins.clamp_min(0)].permute(1, 0, 2, 3)  # (B, U, h, w)
            index = units.to(output.device)
            chosen = output[:, index]
            replaced = torch.where(bins[:, None] >= 0, lookup.to(output.dtype), chosen)
            return output.index_copy(1, index, replaced)

        return hooks.edit(model, response.layer, replace)

    return make


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
        intervention: a function batch -> context manager, active during that batch's forward pass
            (:func:`ablate`, :func:`correct`).
    """
    ranges = _ranges(edges, num_ranges, ranges)
    accumulator = RangeMetricAccumulator(ranges, d_max=float(ranges[-1][1]))
    for index, (pred, depth) in enumerate(predict_depth(model, data, intervention=intervention, batch_size=batch_size,
                                                        device=device, max_images=max_images)):
        if index == 0:
            check_metres(depth, float(ranges[-1][1]), "range_errors: the data's depth")
        accumulator.update(pred, depth)
    table = accumulator.compute()
    table.insert(0, "range", np.arange(len(table)))
    return table


def correction_maps(
    model: nn.Module, sample: Mapping[str, object], response: DepthResponse, units: Units | None = None,
    *, device: str | torch.device | None = None,
) -> dict[str, Tensor]:
    """Return image (3, H, W), depth, pred_before and pred_after ((H, W) metres, CPU) for one sample.

    ``pred_after`` is the prediction with ``units`` of ``response.layer`` (default: all) corrected
    (:func:`correct`). ``sample`` is a dataset sample or a one-image batch; the result goes straight into
    :func:`mdeinterp.plots.error_correction` (``plots.error_correction(**maps)``).
    """
    batch = as_batch(sample)
    units = range(response.num_units) if units is None else units
    (before, depth), = predict_depth(model, [batch], batch_size=None, device=device)
    (after, _), = predict_depth(model, [batch], batch_size=None, device=device,
                                intervention=correct(model, response, units))
    return {"image": batch["image"][0].cpu(), "depth": depth[0, 0].cpu(), "pred_before": before[0, 0].cpu(),
            "pred_after": after[0, 0].cpu()}


# ---- depth ranges and unit groups ----------------------------------------------------------------------


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


def range_groups(response: DepthResponse, num_ranges: int | None = 4, *, ranges: Ranges | None = None,
                 keep: Tensor | None = None) -> dict[int, Tensor]:
    """Return range id -> the units whose preferred bin's centre lies in that depth range, most selective first.

    The ranges are ``ranges`` (metres) or ``num_ranges`` ranges of the layer's own SID bins. Ties in
    selectivity keep unit order (a stable sort), so a group's first units are the same on every machine.
    Dead units (:attr:`~mdeinterp.selectivity.DepthResponse.dead`) belong to no group, nor do the units
    ``keep`` (a (C,) bool mask, e.g. :meth:`~mdeinterp.selectivity.DepthResponse.clean`) leaves out.
    """
    ranges = _ranges(response.edges, num_ranges, ranges)
    unit_range = bin_ranges(response.edges, ranges)[response.preferred_bin]  # (C,)
    unit_range[response.dead] = -1  # dead units prefer no depth: in no group
    if keep is not None:
        unit_range[~keep] = -1
    order = torch.argsort(response.selectivity.nan_to_num(-1.0), descending=True, stable=True)
    return {g: order[unit_range[order] == g] for g in range(len(ranges))}


def unit_range(response: DepthResponse, unit: int, num_ranges: int) -> int:
    """Return the depth range id (0 = nearest of ``num_ranges``) of ``unit``'s preferred bin."""
    if not 0 <= unit < response.num_units:
        raise ConfigError(f"unit {unit} is not a unit of layer {response.layer!r}, which has units 0–{response.num_units - 1}")
    ranges = depth_ranges(response.edges, num_ranges)
    return int(bin_ranges(response.edges, ranges)[response.preferred_bin[unit]])


def ablation_sizes(count: int) -> list[int]:
    """Return the numbers of units to ablate from a group of ``count``: 1, 2, 4, … and ``count`` itself."""
    if count < 1:
        return []
    sizes = [2 ** p for p in range(count.bit_length()) if 2 ** p <= count]
    return sizes if sizes[-1] == count else [*sizes, count]


def relative_change(after: pd.DataFrame, before: pd.DataFrame, metric: str) -> np.ndarray:
    """Return (after − before) / before of column ``metric``, row by row (per evaluated depth range)."""
    return ((after[metric] - before[metric]) / before[metric]).to_numpy()


def own_range_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """Return the rows of an experiment evaluated on their group's own depth range (``range == group``).

    ``range`` is the evaluated range's index (0 = nearest), as :func:`range_errors` writes it; tables without
    it get it by ranking ``range_lo`` within each (setting, name, layer), never across layers or runs, whose
    ranges may differ in metres.
    """
    ranked = with_range_index(rows)
    return ranked[(ranked["group"] >= 0) & (ranked["range"] == ranked["group"])]


def with_range_index(rows: pd.DataFrame) -> pd.DataFrame:
    """Return ``rows`` with ``range`` = index of the evaluated depth range (0 = nearest); see :func:`own_range_rows`."""
    if "range" in rows:
        return rows
    keys = [c for c in ("setting", "name", "layer") if c in rows]
    rank = rows.groupby(keys)["range_lo"].rank(method="dense") if keys else rows["range_lo"].rank(method="dense")
    return rows.assign(range=rank.astype(int) - 1)


# ---- experiments over unit groups ----------------------------------------------------------------------


def group_experiment(
    model: nn.Module,
    data: Dataset | DataLoader,
    response: DepthResponse,
    intervene: Callable[[Tensor], Intervention],
    *,
    num_ranges: int = 4,
    ranges: Ranges | None = None,
    sizes: Callable[[int], Sequence[int]] | None = None,
    random_draws: int = 3,
    metric: str = "abs_rel",
    seed: int = 0,
    keep: Tensor | None = None,
    **predict_options: object,
) -> pd.DataFrame:
    """Return per-range errors under ``intervene(units)`` for each range's units and as many random units.

    The one selective-vs-random loop. For each depth-range group (:func:`range_groups`) and each size of
    ``sizes(len(group))`` (default: the whole group), the group's ``size`` most selective units and
    ``random_draws`` draws of ``size`` units of the layer (a generator seeded with ``seed``). One row per
    (group, kind, draw, evaluated range) with columns group (-1: no intervention), kind ("none",
    "selective", "random"), draw, units, relative_change (of ``metric`` against no intervention), then
    :func:`range_errors`' columns. ``predict_options`` go to :func:`range_errors`.

    ``keep``: a (C,) bool mask of the units the experiment may use (the controlled computation passes
    :meth:`~mdeinterp.selectivity.DepthResponse.clean`): the groups hold only kept units, and the random units
    are drawn from the kept units, so both sides of the comparison leave out the same flagged units.
    """
    ranges = _ranges(response.edges, num_ranges, ranges)
    base = range_errors(model, data, ranges=ranges, **predict_options)
    rows = [{"group": -1, "kind": "none", "draw": 0, "units": 0, "relative_change": 0.0, **row}
            for row in base.to_dict("records")]
    generator = torch.Generator().manual_seed(seed)
    pool = torch.arange(response.num_units) if keep is None else torch.nonzero(keep).flatten()
    for group, members in range_groups(response, ranges=ranges, keep=keep).items():
        for size in (sizes(len(members)) if sizes is not None else [len(members)] if len(members) else []):
            choices = [("selective", 0, members[:size])] + [
                ("random", draw, pool[torch.randperm(len(pool), generator=generator)[:size]])
                for draw in range(random_draws)]
            for kind, draw, units in choices:
                table = range_errors(model, data, ranges=ranges, intervention=intervene(units), **predict_options)
                for row, change in zip(table.to_dict("records"), relative_change(table, base, metric)):
                    rows.append({"group": group, "kind": kind, "draw": draw, "units": size,
                                 "relative_change": float(change), **row})
    return pd.DataFrame(rows)


def ablation_experiment(
    model: nn.Module, data: Dataset | DataLoader, response: DepthResponse, *, num_ranges: int = 4,
    ranges: Ranges | None = None, random_draws: int = 3, metric: str = "abs_rel", seed: int = 0,
    keep: Tensor | None = None, **predict_options: object,
) -> pd.DataFrame:
    """Return per-range errors when the units preferring each depth range are ablated, or as many random ones.

    One row per (ablated group, kind, draw, evaluated range): ``group`` is the depth range whose preferring
    units were zeroed (-1: no ablation), ``kind`` is "selective" or "random" (``draw`` numbers the random
    draws), ``range`` the index of the evaluated depth range (0 = nearest) with its ends ``range_lo`` and
    ``range_hi`` in metres, ``relative_change`` the relative change of ``metric`` against no ablation.

    ``ranges``: the (lo, hi] depth ranges in metres; give the same ranges to every layer of one experiment
    so that their rows compare (layers of different K would otherwise be cut differently). Default:
    ``num_ranges`` ranges of this layer's SID bins. A unit belongs to the range holding its preferred
    bin's centre. ``keep``: the units it may use (:func:`group_experiment`). ``predict_options`` go to
    :func:`range_errors` (batch_size, device, max_images).
    """
    return group_experiment(model, data, response, lambda units: ablate(model, {response.layer: units}),
                            num_ranges=num_ranges, ranges=ranges, random_draws=random_draws, metric=metric, seed=seed,
                            keep=keep, **predict_options)


def correction_experiment(
    model: nn.Module, data: Dataset | DataLoader, response: DepthResponse, *, num_ranges: int = 4,
    ranges: Ranges | None = None, random_draws: int = 3, metric: str = "abs_rel", seed: int = 0,
    keep: Tensor | None = None, **predict_options: object,
) -> pd.DataFrame:
    """Return per-range errors after correcting the units of each depth range, or as many random units.

    Correction replaces a unit's activation at each pixel by its dissected mean response for the pixel's
    true depth bin (:func:`correct`). Rows and ``ranges`` as in :func:`ablation_experiment`;
    ``relative_change`` < 0 means the correction removed error.
    """
    return group_experiment(model, data, response, lambda units: correct(model, response, units),
                            num_ranges=num_ranges, ranges=ranges, random_draws=random_draws, metric=metric, seed=seed,
                            keep=keep, **predict_options)


def ablation_by_size(
    model: nn.Module, data: Dataset | DataLoader, response: DepthResponse, *, num_ranges: int = 4,
    random_draws: int = 3, metric: str = "abs_rel", seed: int = 0, **predict_options: object,
) -> pd.DataFrame:
    """Return per-range errors when the 1, 2, 4, … most selective units of each range's group are ablated, or as
    many random units of the layer.

    Rows as :func:`ablation_experiment` (group, kind, draw, units, relative_change of ``metric``, then the
    range columns), with ``units`` the number ablated; ``group`` -1 is no ablation.
    """
    return group_experiment(model, data, response, lambda units: ablate(model, {response.layer: units}),
                            num_ranges=num_ranges, sizes=ablation_sizes, random_draws=random_draws, metric=metric,
                            seed=seed, **predict_options)


def ablate_units(
    model: nn.Module, data: Dataset | DataLoader, response: DepthResponse, unit_sets: Mapping[str, Units],
    *, num_ranges: int = 4, metric: str = "abs_rel", baseline: pd.DataFrame | None = None, **predict_options: object,
) -> pd.DataFrame:
    """Return the relative change of ``metric`` per depth range when each named unit set of ``response.layer`` is zeroed.

    One row per (set, evaluated range): ``ablated`` (the set's name), ``units`` (how many), range_lo, range_hi
    (metres), ``metric`` after ablation and ``relative_change`` against no ablation. ``baseline``: the
    unablated :func:`range_errors` table, when already computed.
    """
    base = baseline if baseline is not None else range_errors(model, data, response.edges, num_ranges, **predict_options)
    rows = []
    for name, units in unit_sets.items():
        units = torch.as_tensor(units, dtype=torch.long)
        table = range_errors(model, data, response.edges, num_ranges,
                             intervention=ablate(model, {response.layer: units}), **predict_options)
        for record, change in zip(table.to_dict("records"), relative_change(table, base, metric)):
            rows.append({"ablated": name, "units": len(units), "range_lo": record["range_lo"],
                         "range_hi": record["range_hi"], metric: record[metric], "relative_change": float(change)})
    return pd.DataFrame(rows)


__all__ = [
    "Intervention", "Ranges", "ablate", "correct", "range_errors", "correction_maps", "bin_ranges", "range_groups",
    "unit_range", "ablation_sizes", "relative_change", "own_range_rows", "with_range_index", "group_experiment",
    "ablation_experiment", "correction_experiment", "ablation_by_size", "ablate_units",
]
