"""Ablation of chosen unit sets: the error change per depth range when given units are zeroed, and its curve
against the number of ablated units (1, 2, 4, … of a range's most selective units, vs as many random units).

:mod:`mdeinterp.analysis` ablates whole depth-range groups; this module asks how the damage grows with the
number of units taken from a group, and what one unit (the unit explorer's question) does.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from .analysis import DepthResponse, ablation_intervention, bin_ranges, range_errors
from .errors import ConfigError
from .metrics import depth_ranges


def _bin_range(response: DepthResponse, num_ranges: int) -> Tensor:
    """Return the range id (K,) of each bin of ``response``: ``num_ranges`` metre ranges of its edges."""
    return bin_ranges(response.edges, depth_ranges(response.edges, num_ranges))


def range_groups(response: DepthResponse, num_ranges: int) -> dict[int, Tensor]:
    """Return range id -> the units whose preferred bin lies in that depth range, most selective first."""
    unit_range = _bin_range(response, num_ranges)[response.preferred_bin]  # (C,)
    order = torch.argsort(response.selectivity, descending=True, stable=True)
    return {g: order[unit_range[order] == g] for g in range(num_ranges)}


def unit_range(response: DepthResponse, unit: int, num_ranges: int) -> int:
    """Return the depth range id (0 = nearest of ``num_ranges``) of ``unit``'s preferred bin."""
    if not 0 <= unit < response.num_units:
        raise ConfigError(f"unit {unit} is not a unit of layer {response.layer!r}, which has units 0–{response.num_units - 1}")
    return int(_bin_range(response, num_ranges)[response.preferred_bin[unit]])


def ablation_sizes(count: int) -> list[int]:
    """Return the numbers of units to ablate from a group of ``count``: 1, 2, 4, … and ``count`` itself."""
    if count < 1:
        return []
    sizes = [2 ** p for p in range(count.bit_length()) if 2 ** p <= count]
    return sizes if sizes[-1] == count else [*sizes, count]


def _change(after: pd.DataFrame, before: pd.DataFrame, metric: str) -> list[float]:
    return ((after[metric] - before[metric]) / before[metric]).tolist()


def ablate_units(
    model: nn.Module, data: Dataset | DataLoader, response: DepthResponse, unit_sets: dict[str, Sequence[int] | Tensor],
    *, num_ranges: int = 4, metric: str = "abs_rel", baseline: pd.DataFrame | None = None, **predict_options: object,
) -> pd.DataFrame:
    """Return the relative change of ``metric`` per depth range when each named unit set of ``response.layer`` is zeroed.

    One row per (set, evaluated range): ``ablated`` (the set's name), ``units`` (how many), range_lo, range_hi
    (metres), ``metric`` after ablation and ``relative_change`` against no ablation. ``baseline``: the
    unablated :func:`~mdeinterp.analysis.range_errors` table, when already computed.
    """
    base = baseline if baseline is not None else range_errors(model, data, response.edges, num_ranges, **predict_options)
    rows = []
    for name, units in unit_sets.items():
        units = torch.as_tensor(units, dtype=torch.long)
        table = range_errors(model, data, response.edges, num_ranges,
                             intervention=ablation_intervention(model, {response.layer: units}), **predict_options)
        for record, change in zip(table.to_dict("records"), _change(table, base, metric)):
            rows.append({"ablated": name, "units": len(units), "range_lo": record["range_lo"],
                         "range_hi": record["range_hi"], metric: record[metric], "relative_change": change})
    return pd.DataFrame(rows)


def ablation_by_size(
    model: nn.Module, data: Dataset | DataLoader, response: DepthResponse, *, num_ranges: int = 4,
    random_draws: int = 3, metric: str = "abs_rel", seed: int = 0, **predict_options: object,
) -> pd.DataFrame:
    """Return per-range errors when the 1, 2, 4, … most selective units of each range's group are ablated, or as many
    random units of the layer.

    Rows as :func:`mdeinterp.analysis.ablation_experiment` (group, kind, draw, units, range_lo, range_hi,
    metrics, ``relative_change`` of ``metric``), with ``units`` the number ablated; ``group`` -1 is no ablation.
    """
    base = range_errors(model, data, response.edges, num_ranges, **predict_options)
    rows = [{"group": -1, "kind": "none", "draw": 0, "units": 0, "relative_change": 0.0, **r}
            for r in base.to_dict("records")]
    generator = torch.Generator().manual_seed(seed)
    for group, members in range_groups(response, num_ranges).items():
        for size in ablation_sizes(len(members)):
            choices = [("selective", 0, members[:size])] + [
                ("random", draw, torch.randperm(response.num_units, generator=generator)[:size])
                for draw in range(random_draws)]
            for kind, draw, units in choices:
                table = range_errors(model, data, response.edges, num_ranges,
                                     intervention=ablation_intervention(model, {response.layer: units}),
                                     **predict_options)
                for record, change in zip(table.to_dict("records"), _change(table, base, metric)):
                    rows.append({"group": group, "kind": kind, "draw": draw, "units": size,
                                 "relative_change": change, **record})
    return pd.DataFrame(rows)


def run_ablation_by_size(run_dir: str | Path, layer: str, *, eval_images: int | None = None,
                       dissect_images: int | None = None, random_draws: int = 3, num_ranges: int = 4) -> pd.DataFrame:
    """Return :func:`ablation_by_size` of a finished run's ``layer`` on its test data, labelled with ``name`` and ``layer``.

    The units are grouped by the run's cached dissection (``dissect_images`` training images, None: all);
    errors are measured on the first ``eval_images`` test images (None: all).
    """
    from .run import Run

    run = Run.of(run_dir)
    response = run.dissection(dissect_images)[layer]
    curve = ablation_by_size(run.model(), run.data("test"), response, num_ranges=num_ranges,
                             random_draws=random_draws, seed=run.config.seed, max_images=eval_images)
    return curve.assign(name=run.name, layer=layer)


__all__ = ["run_ablation_by_size", "range_groups", "unit_range", "ablation_sizes", "ablate_units", "ablation_by_size"]
