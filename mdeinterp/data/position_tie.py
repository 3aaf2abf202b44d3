"""How tightly depth is tied to the image row in a set of depth maps (issue 29, renderer v5).

Two numbers over valid pixels (finite, > 0):

* the spread across scenes of the bottom rows' median depth (its 10th and 90th percentiles, metres): a
  camera at fixed height and pitch sees the same floor depth at the bottom of every image;
* the share of depth variance that the image row explains: between-row variance over total variance,
  rows weighted by their valid pixels (the correlation ratio eta squared of depth on row).
"""

from __future__ import annotations

import torch
from torch import Tensor


def bottom_depth_spread(depth: Tensor, rows: int = 4, low: float = 0.1, high: float = 0.9) -> tuple[float, float]:
    """Return (p10, p90) in metres across scenes of each scene's median valid depth in its bottom ``rows`` rows.

    Args:
        depth: (B, H, W) or (B, 1, H, W) metres; NaN, Inf and <= 0 are invalid. Scenes whose bottom rows hold
            no valid pixel are left out.
    """
    depth = _maps(depth)
    bottom = depth[:, -rows:].flatten(1).double()  # (B, rows*W)
    bottom = torch.where(_valid(bottom), bottom, torch.full_like(bottom, float("nan")))
    medians = bottom.nanmedian(dim=1).values
    medians = medians[~medians.isnan()]
    if medians.numel() == 0:
        raise ValueError("no scene has a valid depth in its bottom rows")
    return float(torch.quantile(medians, low)), float(torch.quantile(medians, high))


def row_explained_share(depth: Tensor) -> float:
    """Return the share (0..1) of the valid depths' variance explained by image row: between-row over total variance.

    Args:
        depth: (B, H, W) or (B, 1, H, W) metres; NaN, Inf and <= 0 are invalid.
    """
    depth = _maps(depth).double()
    valid = _valid(depth)
    height = depth.shape[1]
    row = torch.arange(height).view(1, height, 1).expand_as(depth)[valid]  # (N,)
    values = depth[valid]
    if values.numel() < 2:
        raise ValueError("need at least 2 valid depths to measure the row's share of their variance")
    count = torch.zeros(height, dtype=torch.float64).index_add_(0, row, torch.ones_like(values))
    total = torch.zeros(height, dtype=torch.float64).index_add_(0, row, values)
    mean = values.mean()
    row_mean = total / count.clamp_min(1)
    between = (count * (row_mean - mean) ** 2).sum()
    variance = ((values - mean) ** 2).sum()
    return float(between / variance) if variance > 0 else 0.0


def share_below(depth: Tensor, d_min: float) -> float:
    """Return the share (0..1) of valid pixels with depth below ``d_min`` metres."""
    depth = _maps(depth)
    valid = _valid(depth)
    return float((depth[valid] < d_min).double().mean())


def _maps(depth: Tensor) -> Tensor:
    if depth.dim() == 4 and depth.shape[1] == 1:
        return depth[:, 0]
    if depth.dim() != 3:
        raise ValueError(f"depth must have shape (B, H, W) or (B, 1, H, W), got {tuple(depth.shape)}")
    return depth


def _valid(depth: Tensor) -> Tensor:
    return torch.isfinite(depth) & (depth > 0)


__all__ = ["bottom_depth_spread", "row_explained_share", "share_below"]
