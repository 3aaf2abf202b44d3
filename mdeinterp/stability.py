"""How much of a dissection is signal: depth-bin occupancy, split-half spread and unit stability.

Beyond the paper. The depth selectivity index (docs/method.md) divides a unit's largest mean response by the
mean of the others; a bin that holds a handful of pixels has a noisy mean response, and a unit "peaking"
there can score DS near 1 by sampling noise alone. Three diagnostics make that visible:

* :func:`bin_shares`: the share of valid pixels in each SID bin (a dataset and a bin range fit each other
  when no bin is nearly empty);
* :func:`filled_selectivity`: DS restricted to bins holding at least ``min_share`` of the pixels;
* :func:`split_half_summary`: each layer dissected on two disjoint halves of the data; the half-to-half
  difference estimates the sampling error of the full-data mean DS, and the share of units whose preferred
  bin agrees between halves measures how stable the units' preferences are.

Dissection sums and counts are additive, so the full-data dissection is the sum of the halves
(``half_a + half_b``) and costs nothing extra.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset, Subset

from .dissection import Dissection, dissect
from .selectivity import EPS, DepthResponse, depth_bins, selectivity_index

#: bins holding less than this share of valid pixels are "thinly filled" (the science issue's convention)
MIN_SHARE = 0.005


def bin_shares(depths: Iterable[Tensor], edges: Tensor) -> Tensor:
    """Return the share (K,) float64 of valid pixels falling in each bin of ``edges`` (sums to 1).

    Args:
        depths: depth maps in metres, any shapes (e.g. a dataset's ``sample["depth"]`` one by one).
        edges: ``K + 1`` bin edges in metres (:func:`~mdeinterp.selectivity.sid_edges`).
    """
    num_bins = len(edges) - 1
    counts = torch.zeros(num_bins + 1, dtype=torch.float64)
    for depth in depths:
        counts += torch.bincount((depth_bins(depth, edges) + 1).flatten(), minlength=num_bins + 1).double()
    valid = counts[1:]
    if valid.sum() == 0:
        raise ValueError("no valid depth pixel in the given depth maps")
    return valid / valid.sum()


def filled_selectivity(response: DepthResponse, min_share: float = MIN_SHARE) -> Tensor:
    """Return the (C,) depth selectivity index over the bins holding >= ``min_share`` of the pixels.

    The same index as :func:`~mdeinterp.selectivity.selectivity_index`, with the thinly filled bins left
    out of both the preferred bin and the mean over the other bins. Needs at least two filled bins.
    """
    shares = response.counts / response.counts.sum().clamp_min(EPS)
    filled = shares >= min_share
    if int(filled.sum()) < 2:
        raise ValueError(f"fewer than two bins hold >= {min_share:.1%} of the pixels of layer {response.layer!r}")
    return selectivity_index(response.mean_response[:, filled])


def dissect_split(model: nn.Module, data: Dataset, layers: Sequence[str], **options: Any) -> tuple[Dissection, Dissection]:
    """Return :func:`~mdeinterp.dissection.dissect` of ``layers`` on the first and the second half of ``data``.

    The halves are contiguous, so for real datasets stored scene by scene they share few scenes.
    ``options`` are passed to ``dissect`` (``num_bins``, ``d_min``, ``d_max``, ``batch_size``, ``device`` ...).
    """
    if len(data) < 2:
        raise ValueError(f"need at least 2 images to dissect in halves, got {len(data)}")
    middle = len(data) // 2
    return (dissect(model, Subset(data, range(middle)), layers, **options),
            dissect(model, Subset(data, range(middle, len(data))), layers, **options))


def split_half_summary(half_a: Dissection, half_b: Dissection, tolerance: int = 2,
                       min_share: float = MIN_SHARE) -> pd.DataFrame:
    """Return one row per layer: full-data selectivity with its split-half spread, and unit stability.

    Columns: ``layer, units, bins, mean_selectivity, median_selectivity, near_assigned`` (full data, as
    :meth:`Dissection.summary`), ``selectivity_spread`` (``|DS_a - DS_b| / 2``, the standard error of the
    full-data mean DS estimated from two halves), ``filled_bins``, ``emptiest_bin_share``,
    ``filled_selectivity`` and ``filled_selectivity_spread`` (DS over bins with >= ``min_share`` of the
    pixels), ``preferred_agreement`` (share of units whose preferred bin is the same in both halves) and
    ``preferred_agreement_1`` (within one bin).
    """
    full = half_a + half_b
    rows = full.summary(tolerance).to_dict("records")
    for row in rows:
        name = row["layer"]
        a, b, whole = half_a[name], half_b[name], full[name]
        shares = whole.counts / whole.counts.sum().clamp_min(EPS)
        gap = (a.preferred_bin - b.preferred_bin).abs()
        row.update({
            "selectivity_spread": abs(float(a.selectivity.nanmean()) - float(b.selectivity.nanmean())) / 2,
            "filled_bins": int((shares >= min_share).sum()),
            "emptiest_bin_share": float(shares.min()),
            "filled_selectivity": float(filled_selectivity(whole, min_share).mean()),
            "filled_selectivity_spread": abs(float(filled_selectivity(a, min_share).mean())
                                             - float(filled_selectivity(b, min_share).mean())) / 2,
            "preferred_agreement": float((gap == 0).double().mean()),
            "preferred_agreement_1": float((gap <= 1).double().mean()),
        })
    return pd.DataFrame(rows)


def describe_occupancy(summaries: pd.DataFrame) -> str:
    """Return a sentence per data kind on how its pixels fill the SID bins (rows of
    :func:`mdeinterp.run.bin_occupancy` summaries: data, bins, emptiest_bin_share, bins_under_min_share,
    beyond_d_max_share)."""
    sentences = []
    for row in summaries.to_dict("records"):
        filled = ("every bin holds at least" if row["bins_under_min_share"] == 0
                  else f"{row['bins_under_min_share']} of {row['bins']} bins hold less than")
        sentences.append(
            f"{row['data']}: {filled} {100 * MIN_SHARE:g}% of the valid "
            f"training pixels (emptiest bin {100 * row['emptiest_bin_share']:.2g}% over K = {row['bins']}); "
            f"{100 * row['beyond_d_max_share']:.2g}% of the pixels lie beyond d_max and are left out.")
    short = [f"{row['data']} ({row['bins_under_min_share']} of {row['bins']} bins under {100 * MIN_SHARE:g}%, the "
             f"emptiest {100 * row['emptiest_bin_share']:.2g}%)" for row in summaries.to_dict("records")
             if row["bins_under_min_share"]]
    verdict = ("**What did not hold:** nothing; every bin of every kind of data holds enough pixels." if not short else
               "**What did not hold:** every bin well filled, for " + "; ".join(short) + ": dissections of those bins "
               "rest on few pixels, which is why notebook 02 also reports DS on well-filled bins only.")
    return " ".join(sentences) + "\n\n" + verdict


__all__ = ["MIN_SHARE", "bin_shares", "filled_selectivity", "dissect_split", "split_half_summary", "describe_occupancy"]
