"""Depth selectivity: SID depth bins, per-bin mean responses, the selectivity index and its loss.

Definitions follow the reference implementation of You et al. (ICCV 2021), see PAPER.md:

* SID edges (from DORN): ``t_0 = 0``, ``t_j = (beta + 1 - alpha) ** ((j - 1) / (K - 1)) - (1 - alpha)``
  for ``j = 1..K``, so ``t_1 = alpha = d_min`` and ``t_K = beta = d_max``. Bin ``k`` holds depths in
  ``(t_k, t_{k+1}]``.
* Mean response of unit ``c`` in bin ``k``: the unit's activation, upsampled bilinearly
  (``align_corners=False``) to the depth map's size, summed over valid pixels of bin ``k`` and divided by
  the pixel count plus ``1e-15``.
* Depth selectivity ``DS = (r_max - r_other) / (r_max + r_other + 1e-15)`` on absolute mean responses,
  ``r_other`` being the mean over the other ``K - 1`` bins.

Unlike the reference, depths beyond ``d_max`` (and NaN, Inf, ``<= 0``) are *invalid* here (bin ``-1``);
the reference silently counts depths beyond ``d_max`` in bin 0.

Speed: the upsampled feature map is never materialised. Bilinear upsampling is linear, so the sum of
upsampled activations over the pixels of bin ``k`` equals ``sum_q f[c, q] * A[q, k]``, where ``A[q, k]``
adds the interpolation weights that source pixel ``q`` gives to the output pixels of bin ``k``. ``A`` is
built with one ``scatter_add`` over the four bilinear taps of every output pixel, and the sums are one
batched matrix product. This is exact (up to float64 rounding) and needs memory proportional to the
*feature* map, not the depth map.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

EPS = 1e-15  # the reference's epsilon, in pixel counts and in the selectivity denominator


def sid_edges(num_bins: int, d_min: float, d_max: float) -> Tensor:
    """Return the ``num_bins + 1`` spacing-increasing bin edges ``[0, d_min, ..., d_max]`` in metres (float64).

    Args:
        num_bins: K, the number of depth bins (>= 2).
        d_min: alpha, the upper edge of the first bin (NYUv2 0.75 m, KITTI 3 m).
        d_max: beta, the upper edge of the last bin (NYUv2 10 m, KITTI 80 m).
    """
    if isinstance(num_bins, bool) or not isinstance(num_bins, int) or num_bins < 2:
        raise ValueError(f"num_bins must be an integer >= 2, got {num_bins!r}")
    if not (0 < d_min < d_max):
        raise ValueError(f"need 0 < d_min < d_max, got d_min={d_min}, d_max={d_max}")
    j = torch.arange(num_bins, dtype=torch.float64)  # j - 1 for j = 1..K
    inner = (d_max + 1.0 - d_min) ** (j / (num_bins - 1)) - (1.0 - d_min)
    inner[0], inner[-1] = d_min, d_max  # exact end points, free of pow rounding
    return torch.cat([torch.zeros(1, dtype=torch.float64), inner])


def depth_bins(depth: Tensor, edges: Tensor) -> Tensor:
    """Return the bin index of every depth (same shape, int64); ``-1`` marks invalid depth.

    Args:
        depth: any shape, metres. ``<= 0``, NaN, Inf and ``> edges[-1]`` are invalid.
        edges: ``K + 1`` increasing edges from :func:`sid_edges`; bin ``k`` holds ``(edges[k], edges[k+1]]``.
    """
    boundaries = edges.to(device=depth.device, dtype=depth.dtype)
    # bucketize(right=False) returns i with boundaries[i-1] < d <= boundaries[i]: bin = i - 1
    bins = torch.bucketize(depth, boundaries, right=False) - 1
    valid = (depth > 0) & (depth <= boundaries[-1])  # False for NaN as well
    return torch.where(valid, bins, torch.full_like(bins, -1))


def _interp_taps(out_size: int, in_size: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Return (i0, i1, w0, w1), each (out_size,): PyTorch's bilinear taps for align_corners=False."""
    scale = in_size / out_size
    src = ((torch.arange(out_size, dtype=torch.float64) + 0.5) * scale - 0.5).clamp_min(0.0)
    i0 = src.floor().long().clamp_max(in_size - 1)
    i1 = (i0 + 1).clamp_max(in_size - 1)
    w1 = src - i0
    return i0, i1, 1.0 - w1, w1


@functools.lru_cache(maxsize=32)
def _bilinear_taps(out_hw: tuple[int, int], in_hw: tuple[int, int], device: str) -> tuple[Tensor, Tensor]:
    """Return (source pixel (4, H, W) int64, weight (4, H, W) float64) of the four taps of each output pixel."""
    (height, width), (h, w) = out_hw, in_hw
    y0, y1, wy0, wy1 = _interp_taps(height, h)
    x0, x1, wx0, wx1 = _interp_taps(width, w)
    src = torch.stack([y0[:, None] * w + x0, y0[:, None] * w + x1, y1[:, None] * w + x0, y1[:, None] * w + x1])
    weight = torch.stack([wy0[:, None] * wx0, wy0[:, None] * wx1, wy1[:, None] * wx0, wy1[:, None] * wx1])
    return src.to(device), weight.to(device)


def bin_weights(
    bins: Tensor, feature_size: tuple[int, int], num_bins: int, dtype: torch.dtype = torch.float64
) -> Tensor:
    """Return ``A`` (B, h*w, K + 1) in ``dtype``: how much each feature pixel contributes to each bin's sum.

    ``einsum("bcq,bqk->ck", features.flatten(2), A)[:, :K]`` equals the per-bin sums of the features
    upsampled bilinearly (``align_corners=False``) to the size of ``bins``. Column ``K`` collects invalid
    pixels (routing them there is cheaper than masking them out) and is to be dropped.

    Args:
        bins: (B, H, W) bin index per depth pixel from :func:`depth_bins` (``-1`` = invalid).
        feature_size: (h, w) of the feature map.
        num_bins: K.
    """
    batch, height, width = bins.shape
    h, w = int(feature_size[0]), int(feature_size[1])
    columns = num_bins + 1
    src, weight = _bilinear_taps((height, width), (h, w), str(bins.device))
    column = torch.where(bins >= 0, bins, num_bins)  # (B, H, W)
    image = torch.arange(batch, device=bins.device)[:, None, None] * (h * w)
    cell = (image[None] + src[:, None]) * columns + column[None]  # (4, B, H, W)
    weights = torch.zeros(batch * h * w * columns, dtype=dtype, device=bins.device)
    weights.index_add_(0, cell.reshape(-1), weight.to(dtype)[:, None].expand(-1, batch, -1, -1).reshape(-1))
    return weights.view(batch, h * w, columns)


def _as_depth_map(depth: Tensor) -> Tensor:
    """Return depth as (B, H, W); accepts (B, 1, H, W) or (B, H, W)."""
    if depth.dim() == 4 and depth.shape[1] == 1:
        return depth[:, 0]
    if depth.dim() == 3:
        return depth
    raise ValueError(f"depth must have shape (B, 1, H, W) or (B, H, W), got {tuple(depth.shape)}")


def _check_features(features: Tensor, depth: Tensor) -> None:
    if features.dim() != 4:
        raise ValueError(f"features must have shape (B, C, h, w), got {tuple(features.shape)}")
    if features.shape[0] != depth.shape[0]:
        raise ValueError(f"features hold {features.shape[0]} images but depth holds {depth.shape[0]}")


def bin_sums(
    features: Tensor, depth: Tensor, edges: Tensor, dtype: torch.dtype = torch.float64
) -> tuple[Tensor, Tensor]:
    """Return (sums (C, K), counts (K,)): per-bin sums of upsampled features and valid pixel counts.

    Sums are computed in ``dtype`` (float64 for dissection; the training loss uses the features' own
    dtype) and are differentiable with respect to ``features``; counts are float64.

    Args:
        features: (B, C, h, w) activations.
        depth: (B, 1, H, W) or (B, H, W) metres.
        edges: ``K + 1`` bin edges in metres.
    """
    depth = _as_depth_map(depth)
    _check_features(features, depth)
    num_bins = len(edges) - 1
    bins = depth_bins(depth, edges)
    weights = bin_weights(bins, features.shape[-2:], num_bins, dtype)  # (B, h*w, K + 1)
    sums = torch.einsum("bcq,bqk->ck", features.flatten(2).to(dtype), weights)[:, :num_bins]
    counts = torch.bincount((bins + 1).flatten(), minlength=num_bins + 1)[1:].double()  # shift: -1 -> 0
    return sums, counts


class DepthResponse:
    """Streaming accumulator of per-bin activation sums and pixel counts for one layer.

    Memory is constant in the dataset size: ``sums`` (C, K) and ``counts`` (K,) in float64.
    Accumulators of different processes or shards combine with :meth:`merge` (or an all-reduce
    of ``sums`` and ``counts``).

    Args:
        num_units: C, channels of the layer.
        edges: ``K + 1`` bin edges in metres (:func:`sid_edges`).
    """

    def __init__(self, num_units: int, edges: Tensor) -> None:
        self.edges = torch.as_tensor(edges, dtype=torch.float64)
        self.num_units = int(num_units)
        self.num_bins = len(self.edges) - 1
        self.sums = torch.zeros(self.num_units, self.num_bins, dtype=torch.float64)
        self.counts = torch.zeros(self.num_bins, dtype=torch.float64)

    def update(self, features: Tensor, depth: Tensor) -> None:
        """Add one batch: features (B, C, h, w), depth (B, 1, H, W) in metres."""
        if features.shape[1] != self.num_units:
            raise ValueError(f"expected features with {self.num_units} units, got {features.shape[1]}")
        with torch.no_grad():
            sums, counts = bin_sums(features.detach(), depth.detach(), self.edges)
        if self.sums.device != sums.device:
            self.sums, self.counts = self.sums.to(sums.device), self.counts.to(sums.device)
        self.sums += sums
        self.counts += counts

    def merge(self, other: "DepthResponse") -> "DepthResponse":
        """Add another accumulator's sums and counts into this one (same units and edges); return self."""
        if other.num_units != self.num_units or not torch.equal(other.edges, self.edges):
            raise ValueError("can only merge DepthResponse accumulators with the same units and edges")
        self.sums += other.sums.to(self.sums.device)
        self.counts += other.counts.to(self.counts.device)
        return self

    def mean(self) -> Tensor:
        """Return the mean response (C, K): sums / (counts + 1e-15)."""
        return self.sums / (self.counts + EPS)


def selectivity_index(mean_response: Tensor, preferred: Tensor | None = None) -> Tensor:
    """Return the depth selectivity index (C,) of each unit from its mean responses (C, K).

    ``DS = (r_pref - r_other) / (r_pref + r_other + 1e-15)`` on ``|mean_response|``, where ``r_pref`` is
    the response in the preferred bin (the argmax when ``preferred`` is None, else the given bin per unit)
    and ``r_other`` the mean over the other ``K - 1`` bins. 0: no preference; 1: responds in one bin only;
    negative only when a given ``preferred`` bin responds below the others' mean.
    """
    response = mean_response.abs()
    num_bins = response.shape[-1]
    if preferred is None:
        r_pref = response.max(dim=-1).values
    else:
        r_pref = response.gather(-1, preferred.long().unsqueeze(-1)).squeeze(-1)
    r_other = (response.sum(dim=-1) - r_pref) / (num_bins - 1)
    return (r_pref - r_other) / (r_pref + r_other + EPS)


def assigned_bins(num_units: int, num_bins: int) -> Tensor:
    """Return the bin assigned to each unit (C,): unit ``c`` gets ``floor(c / (C / K))``.

    Raises ValueError when there are more bins than units (some bins would get no unit).
    """
    if num_bins > num_units:
        raise ValueError(f"more bins ({num_bins}) than units ({num_units}): use at most {num_units} bins")
    return torch.arange(num_units) * num_bins // num_units  # integer form of floor(c / (C / K))


def default_num_bins(num_units: int, cap: int = 64) -> int:
    """Return the paper's number of bins for a layer: ``min(num_units, 64)``."""
    return min(int(num_units), cap)


def selectivity_loss(features: Tensor, depth: Tensor, edges: Tensor, assigned: Tensor | None = None) -> Tensor:
    """Return the layer term of the training objective: mean over units of DS at the assigned bin.

    Per batch, mean responses come from the *absolute* activations over the batch's valid pixels; each
    unit's DS is taken at its assigned bin (:func:`assigned_bins`, not the argmax); a unit whose assigned
    bin has no pixel in the batch counts 0. Training minimises ``depth_loss - alpha * sum(terms)``.

    Args:
        features: (B, C, h, w) activations (differentiable).
        depth: (B, 1, H, W) or (B, H, W) ground-truth depth in metres.
        edges: ``K + 1`` bin edges in metres.
        assigned: (C,) bin per unit; default ``assigned_bins(C, K)``.
    Returns:
        A scalar in the features' dtype (float64 for float64 features).
    """
    num_units, num_bins = features.shape[1], len(edges) - 1
    if assigned is None:
        assigned = assigned_bins(num_units, num_bins)
    assigned = assigned.to(features.device)
    # bilinear weights are non-negative, so upsample(|f|) == |upsample(f)| wherever the taps share a sign
    # (always, for post-ReLU layers); see the module docstring for why nothing is upsampled here.
    sums, counts = bin_sums(features.abs(), depth, edges, dtype=features.dtype)
    mean_response = sums / (counts.to(sums.dtype) + EPS)  # (C, K)
    ds = selectivity_index(mean_response, preferred=assigned)
    present = counts[assigned] > 0
    return torch.where(present, ds, torch.zeros_like(ds)).mean()


def preferred_bins(mean_response: Tensor) -> Tensor:
    """Return each unit's preferred bin (C,): the argmax of ``|mean_response|`` over bins."""
    return mean_response.abs().argmax(dim=-1)


def near_assigned_fraction(preferred: Tensor, assigned: Tensor, tolerance: int = 2) -> float:
    """Return the fraction of units whose preferred bin is within ``tolerance`` bins of the assigned one."""
    return float(((preferred - assigned).abs() <= tolerance).double().mean())


def chance_near_fraction(num_bins: int, tolerance: int = 2) -> float:
    """Return the chance level of :func:`near_assigned_fraction` for uniformly random preferred bins."""
    total = 0
    for assigned in range(num_bins):  # K is small; exact count of bins within the tolerance window
        total += min(num_bins - 1, assigned + tolerance) - max(0, assigned - tolerance) + 1
    return total / num_bins**2


__all__ = [
    "EPS", "sid_edges", "depth_bins", "bin_weights", "bin_sums", "DepthResponse", "selectivity_index",
    "assigned_bins", "default_num_bins", "selectivity_loss", "preferred_bins",
    "near_assigned_fraction", "chance_near_fraction",
]

