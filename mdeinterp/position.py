"""Depth or image position? A control for depth-selective units (beyond the paper).

In indoor scenes depth goes with the image row: the bottom rows see the floor just in front of the camera, at
nearly the same depth in every image (renderer v4's camera stands 1.1-1.2 m high, tilted 0.23-0.25 rad down, so
the bottom rows lie at about 1.7-1.9 m). A unit that fires on the bottom rows has a high depth selectivity
(DS) for that depth without encoding depth at all. Dissection cannot tell the two apart; this control can:
it dissects the same images twice, once keeping only the depth of the bottom rows and once only that of the
rows above, and compares each unit's mean response at its preferred bin in the two parts.

``position_index = (r_bottom - r_rest) / (r_bottom + r_rest)``: +1 when the unit responds to its preferred
depth only in the bottom rows, 0 when it responds alike wherever that depth appears, -1 only above them.
A unit is measured only when both parts hold at least ``min_pixels`` pixels of its preferred bin.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset

from .dissection import Dissection, dissect

#: A unit at or above this index responds at least 5x more strongly to its preferred depth in the bottom rows.
POSITIONAL_INDEX = 2 / 3


class RowBand(Dataset):
    """``data`` with the depth of every row outside ``[start, stop)`` (fractions of the height) set invalid (0).

    The image is untouched, so the network sees the whole scene; only which pixels are counted changes.
    """

    def __init__(self, data: Dataset, start: float, stop: float) -> None:
        if not 0 <= start < stop <= 1:
            raise ValueError(f"expected 0 <= start < stop <= 1 (fractions of the image height), got {start}, {stop}")
        self.data, self.start, self.stop = data, start, stop

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = dict(self.data[index])
        depth = sample["depth"].clone()
        height = depth.shape[-2]
        rows = torch.arange(height)
        outside = (rows < round(self.start * height)) | (rows >= round(self.stop * height))
        depth[..., outside, :] = 0
        sample["depth"] = depth
        return sample


def position_control(model: nn.Module, data: Dataset, dissection: Dissection, layers: Sequence[str] | None = None,
                     *, bottom: float = 0.25, min_pixels: int = 100, **dissect_options: Any) -> pd.DataFrame:
    """Return one row per unit of ``layers`` (default: every layer of ``dissection``): its response at its preferred
    bin (from ``dissection``) in the bottom ``bottom`` of the image rows and in the rows above, and its position index.

    Columns: layer, unit, selectivity, preferred_bin, bin_lo, bin_hi (metres), response_bottom, response_rest,
    pixels_bottom, pixels_rest, position_index (NaN where a part holds fewer than ``min_pixels`` of the bin's
    pixels or the unit is silent at that bin in both), bottom. Each layer is dissected with its own bin edges,
    layers sharing edges in one pass.
    ``dissect_options`` go to :func:`mdeinterp.dissection.dissect` (batch_size, device, max_images).
    """
    options = {"progress": False, **dissect_options, "warn_empty": False}
    parts = {"bottom": RowBand(data, 1 - bottom, 1.0), "rest": RowBand(data, 0.0, 1 - bottom)}
    layers = list(layers or dissection)
    # layers with the same bin edges share one pass over each part of the data
    groups: dict[tuple[float, ...], list[str]] = {}
    for layer in layers:
        groups.setdefault(tuple(dissection[layer].edges.tolist()), []).append(layer)
    measured: dict[str, dict[str, Any]] = {part: {} for part in parts}
    for names in groups.values():
        edges = dissection[names[0]].edges
        for part, band in parts.items():
            result = dissect(model, band, names, edges=edges, **options)
            measured[part].update({name: result[name] for name in names})
    rows = []
    for layer in layers:
        full = dissection[layer]
        units = torch.arange(full.num_units)
        preferred = full.preferred_bin
        response = {part: measured[part][layer].mean_response[units, preferred] for part in parts}
        pixels = {part: measured[part][layer].counts[preferred] for part in parts}
        total = response["bottom"] + response["rest"]
        index = (response["bottom"] - response["rest"]) / total
        enough = (pixels["bottom"] >= min_pixels) & (pixels["rest"] >= min_pixels) & (total > 0)
        index = torch.where(enough, index, torch.full_like(index, float("nan")))
        rows.append(pd.DataFrame({
            "layer": layer, "unit": units.numpy(), "selectivity": full.selectivity.numpy(),
            "preferred_bin": preferred.numpy(), "bin_lo": full.edges[preferred].numpy(),
            "bin_hi": full.edges[preferred + 1].numpy(), "response_bottom": response["bottom"].numpy(),
            "response_rest": response["rest"].numpy(), "pixels_bottom": pixels["bottom"].numpy(),
            "pixels_rest": pixels["rest"].numpy(), "position_index": index.numpy(), "bottom": bottom}))
    return pd.concat(rows, ignore_index=True)


def describe_position(tables: Mapping[str, pd.DataFrame]) -> str:
    """Return one Markdown list item per run label and layer of ``tables`` (label -> :func:`position_control`):
    how many measurable units respond at least 5x more strongly to their preferred depth in the bottom rows, and
    how many of the layer's ten most selective units are among them."""
    lines = []
    for label, table in tables.items():
        for layer, units in table.groupby("layer", sort=False):
            measured = units.dropna(subset=["position_index"])
            positional = measured["position_index"] >= POSITIONAL_INDEX
            top = units.nlargest(max(1, len(units) // 10), "selectivity")
            top_measured = top.dropna(subset=["position_index"])
            top_positional = int((top_measured["position_index"] >= POSITIONAL_INDEX).sum())
            median = f"{measured['position_index'].median():+.2f}" if len(measured) else "n/a"
            bottom = float(units["bottom"].iloc[0])
            lines.append(
                f"- **{label} {layer}**: {int(positional.sum())} of {len(measured)} measurable units (of {len(units)}) "
                f"respond at least 5× more strongly to their preferred depth in the bottom {bottom:.0%} of the rows "
                f"than above them (median index {median}); of its {len(top)} most selective units, "
                f"{top_positional} of {len(top_measured)} measurable are.")
    return "\n".join(lines)


__all__ = ["POSITIONAL_INDEX", "RowBand", "position_control", "describe_position"]
