"""Depth selectivity: SID depth bins, per-bin mean responses, the selectivity index and its loss.

Definitions follow the reference implementation of You et al. (ICCV 2021); docs/method.md states them
with the paper's and the reference's conventions:

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
adds the interpolation weights that source pixel ``q`` gives to the output pixels of bin ``k``. Each
feature pixel feeds only a small stencil of depth pixels (4 x 4 at 2x upsampling; bilinear weights are
separable, so the stencil is the product of a row and a column run), so row ``q`` of ``A`` is built with
one row-local ``scatter_add`` of the stencil's weights into the bins of the pixels it covers. This is
exact (up to rounding) and needs memory proportional to the *feature* map, not the depth map.

Dissection (:func:`response_sums`) goes one image at a time so that ``A`` stays in cache, multiplies in
float32 blocks of ``MATMUL_BLOCK`` feature pixels whose results are added in float64, and bins depth
through a uniform grid finer than the narrowest bin instead of a binary search. At the paper's MFF shapes
this is about 10-20x faster than the reference's per-image, per-bin loop (``benchmarks/results.md``).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from .deprecation import moved

if TYPE_CHECKING:
    import pandas as pd

EPS = 1e-15  # the reference's epsilon, in pixel counts and in the selectivity denominator
SILENT_FRACTION = 0.05  # near-silent unit: peak mean response below 5% of its layer's median peak
#: Default number of horizontal bands of the position control (issue 29's probe used 4 and 8).
CONTROL_BANDS = 4
#: A bin counts inside a band only with at least this many valid depth pixels there: below it, a bin's mean
#: response is a handful of pixels (one object's edge) and its DS is noise.
CONTROL_MIN_PIXELS = 500
#: A unit is position-coded when its DS within image bands falls below this fraction of its DS: most of
#: its depth preference was the image row its depth appears in.
POSITION_CODED_FRACTION = 0.5


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


@functools.lru_cache(maxsize=32)
def _bucket_grid(boundaries: tuple[float, ...], dtype: torch.dtype) -> tuple[float, Tensor, Tensor] | None:
    """Return (cells per metre, first bucket per cell (G + 2,), boundaries + [inf]) for :func:`_fast_bucketize`.

    None when a grid would be too fine (very narrow bins) or the boundaries start below 0.
    """
    values = torch.tensor(boundaries, dtype=dtype)
    narrowest = float((values[1:] - values[:-1]).min())
    if values[0] < 0 or narrowest <= 0 or values[-1] / narrowest > 2**15:
        return None
    cells = int(2 * float(values[-1]) / narrowest) + 1  # a cell is at most half the narrowest bin
    scale = cells / float(values[-1])
    # Each cell's first bucket is that of its lower end, lowered by a relative 1e-6 so that rounding of
    # depth * scale never puts a depth below its cell's start; the window (1e-6 wider than a cell) still
    # holds at most one boundary, which one comparison then settles.
    lower = torch.arange(cells + 1, dtype=torch.float64) / scale * (1 - 1e-6)
    first = torch.bucketize(lower.to(dtype), values)
    first = torch.cat([first, torch.tensor([len(values)])])  # cell G + 1: NaN, bucket K + 1
    padded = torch.cat([values, torch.tensor([float("inf")], dtype=dtype)])
    return scale, first, padded


def _fast_bucketize(depth: Tensor, boundaries: Tensor) -> Tensor:
    """Return ``torch.bucketize(depth, boundaries)`` (int64, same shape), with NaN in bucket ``len(boundaries)``.

    On CPU, a uniform grid finer than the narrowest bin replaces the binary search (about 4x faster):
    each depth's cell gives its first possible bucket, one comparison the exact one.
    """
    grid = None
    if depth.device.type == "cpu" and depth.dtype in (torch.float32, torch.float64):  # the 1e-6 margin needs them
        grid = _bucket_grid(tuple(boundaries.tolist()), boundaries.dtype)
    if grid is None:
        return torch.bucketize(depth, boundaries)
    scale, first, padded = grid
    cells = len(first) - 2
    cell = (depth * scale).clamp_(0, cells).nan_to_num_(cells + 1).long()  # NaN -> the last cell
    bucket = first.take(cell)
    return bucket.add_(depth > padded.take(bucket))


def depth_bins(depth: Tensor, edges: Tensor) -> Tensor:
    """Return the bin index of every depth (same shape, int64); ``-1`` marks invalid depth.

    Args:
        depth: any shape, metres. ``<= 0``, NaN, Inf and ``> edges[-1]`` are invalid.
        edges: ``K + 1`` increasing edges from :func:`sid_edges`; bin ``k`` holds ``(edges[k], edges[k+1]]``.
    """
    boundaries = edges.to(device=depth.device, dtype=depth.dtype)
    # bucketize(right=False) returns i with boundaries[i-1] < d <= boundaries[i]: bin = i - 1; i = 0 for
    # depth <= 0 (so -1 already) and i = K + 1 beyond the last edge and for NaN
    bucket = _fast_bucketize(depth, boundaries)
    return torch.where(bucket > len(boundaries) - 1, -1, bucket - 1)


def _interp_taps(out_size: int, in_size: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Return (i0, i1, w0, w1), each (out_size,): PyTorch's bilinear taps for align_corners=False."""
    scale = in_size / out_size
    src = ((torch.arange(out_size, dtype=torch.float64) + 0.5) * scale - 0.5).clamp_min(0.0)
    i0 = src.floor().long().clamp_max(in_size - 1)
    i1 = (i0 + 1).clamp_max(in_size - 1)
    w1 = src - i0
    return i0, i1, 1.0 - w1, w1


@functools.lru_cache(maxsize=64)
def _axis_stencil(out_size: int, in_size: int) -> tuple[Tensor, Tensor]:
    """Return (index, weight), each (in_size, L): the output positions each input position feeds, and how much.

    1-D linear interpolation (align_corners=False) from ``in_size`` to ``out_size`` positions, transposed:
    input ``i`` feeds a run of consecutive outputs starting at ``index[i, 0]``; entries past the run
    have weight 0 (their index is clamped to a valid position).
    """
    i0, i1, w0, w1 = _interp_taps(out_size, in_size)
    out = torch.arange(out_size)
    matrix = torch.zeros(in_size, out_size, dtype=torch.float64)  # (in, out); clamped taps add up
    matrix.index_put_((i0, out), w0, accumulate=True)
    matrix.index_put_((i1, out), w1, accumulate=True)
    fed = matrix > 0
    first = fed.double().argmax(dim=1)  # 0 for an input that feeds nothing (weights stay 0)
    last = out_size - 1 - fed.flip(1).double().argmax(dim=1)
    length = int((last - first).clamp_min(0).max()) + 1
    position = first[:, None] + torch.arange(length)  # (in, L)
    index = position.clamp_max(out_size - 1)
    weight = torch.where(position < out_size, matrix.gather(1, index), torch.zeros((), dtype=torch.float64))
    return index, weight


@functools.lru_cache(maxsize=32)
def _stencil(out_hw: tuple[int, int], in_hw: tuple[int, int], device: str) -> tuple[Tensor, Tensor, Tensor]:
    """Return (rows (h, Ly), cols (w, Lx), weight (h*w, Ly*Lx) float64): the depth pixels each feature pixel feeds.

    Bilinear upsampling is separable, so feature pixel ``(y, x)`` feeds depth pixels
    ``(rows[y, i], cols[x, j])`` with weight ``wy[y, i] * wx[x, j]``.
    """
    rows, wy = _axis_stencil(int(out_hw[0]), int(in_hw[0]))
    cols, wx = _axis_stencil(int(out_hw[1]), int(in_hw[1]))
    weight = (wy[:, None, :, None] * wx[None, :, None, :]).reshape(rows.shape[0] * cols.shape[0], -1)
    return rows.to(device), cols.to(device), weight.to(device)


def _fed_columns(columns: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
    """Return (B, h*w, Ly*Lx): the column (bin) of every depth pixel each feature pixel feeds.

    Args:
        columns: (B, H, W) column index per depth pixel.
        rows, cols: the stencil of :func:`_stencil`.
    """
    batch = columns.shape[0]
    (h, ly), (w, lx) = rows.shape, cols.shape
    fed = columns.index_select(1, rows.flatten()).index_select(2, cols.flatten())  # (B, h*Ly, w*Lx)
    return fed.view(batch, h, ly, w, lx).transpose(2, 3).reshape(batch, h * w, ly * lx)


def _column_weights(
    columns: Tensor, feature_size: tuple[int, int], num_columns: int, dtype: torch.dtype, out: Tensor | None = None
) -> Tensor:
    """Return (B, h*w, num_columns): the bilinear weight each feature pixel gives to the depth pixels of each column.

    Each feature pixel feeds a handful of depth pixels (16 at 2x upsampling), so ``A`` is built with one
    row-local ``scatter_add`` over that stencil, not a scatter into the whole matrix.
    """
    rows, cols, weight = _stencil(tuple(columns.shape[-2:]), tuple(feature_size), str(columns.device))
    fed = _fed_columns(columns, rows, cols)  # (B, h*w, S)
    if out is None:
        out = torch.zeros(*fed.shape[:2], num_columns, dtype=dtype, device=columns.device)
    else:
        out.zero_()
    return out.scatter_add_(2, fed, weight.to(dtype).expand(fed.shape[0], -1, -1))


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
    columns = torch.where(bins >= 0, bins, num_bins)  # (B, H, W)
    return _column_weights(columns, feature_size, num_bins + 1, dtype)


def _column_counts(columns: Tensor, num_columns: int) -> Tensor:
    """Return the number of pixels (float64, (num_columns,)) in each column; ``columns`` holds 0..num_columns-1."""
    flat = columns.flatten()
    if flat.device.type == "cpu":
        return torch.bincount(flat, minlength=num_columns).double()
    # bincount sizes its output from the data (a device-to-host copy); a fixed-size scatter does not
    counts = torch.zeros(num_columns, dtype=torch.float64, device=flat.device)
    return counts.index_add_(0, flat, torch.ones_like(flat, dtype=torch.float64))


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
    weights, counts = _binning(depth, edges, tuple(features.shape[-2:]), dtype)
    return _weighted_sums(features.to(dtype), weights), counts


def _binning(depth: Tensor, edges: Tensor, feature_size: tuple[int, int], dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """Return (``A`` (B, h*w, K + 1) of :func:`bin_weights`, counts (K,) float64) of a (B, H, W) depth batch."""
    num_bins = len(edges) - 1
    bins = depth_bins(depth, edges)
    counts = _column_counts(bins + 1, num_bins + 1)[1:]  # shift: -1 -> 0
    return bin_weights(bins, feature_size, num_bins, dtype), counts


def _weighted_sums(features: Tensor, weights: Tensor) -> Tensor:
    """Return the per-bin sums (C, K) of features (B, C, h, w) given ``A`` (B, h*w, K + 1) from :func:`bin_weights`.

    A batched product then a sum over images: unlike an einsum contracting images and pixels at once, it
    copies no transposed feature map, forward or backward.
    """
    return torch.bmm(features.flatten(2), weights).sum(dim=0)[:, :-1]


# Feature pixels per float32 matrix product in :func:`response_sums`: each block's (C, K) result is
# added in float64, so float32 rounding grows with the block, not with the image or the dataset.
MATMUL_BLOCK = 2048


def _block_count(pixels: int) -> int:
    """Return how many float32 blocks to split ``pixels`` feature pixels into: about ``MATMUL_BLOCK`` each, exactly if possible."""
    fewest = -(-pixels // MATMUL_BLOCK)
    for blocks in range(fewest, 4 * fewest + 1):  # a divisor avoids a product for the leftover pixels
        if pixels % blocks == 0:
            return blocks
    return fewest


def response_sums(features: Tensor, depth: Tensor, edges: Tensor) -> tuple[Tensor, Tensor]:
    """Return (sums (C, K), counts (K,)) in float64, as :func:`bin_sums`, for dissection (no gradient).

    On CPU, float32 (or lower precision) features are multiplied in float32 blocks of
    ``MATMUL_BLOCK`` feature pixels whose results are added in float64: about 3x faster than float64
    products, within 1e-7 relative of them at the paper's shapes (tests bound it at 1e-6). The
    bilinear weights of the 2x upsampling are multiples of 1/16, exact in float32. float64 features and
    GPUs (where float64 is cheap enough and TF32 would otherwise apply) use float64 throughout.

    Args:
        features: (B, C, h, w) activations.
        depth: (B, 1, H, W) or (B, H, W) metres.
        edges: ``K + 1`` bin edges in metres.
    """
    depth = _as_depth_map(depth)
    _check_features(features, depth)
    num_bins = len(edges) - 1
    batch, num_units, h, w = features.shape
    boundaries = edges.to(device=depth.device, dtype=depth.dtype)
    # bucketize against [0, t_1, ..., t_K] yields the bin's column directly: 0 for depth <= 0, k + 1 for
    # bin k, K + 1 beyond d_max and for NaN; both invalid kinds land in columns that are dropped.
    columns = _fast_bucketize(depth, boundaries)  # (B, H, W)
    counts = _column_counts(columns, num_bins + 2)[1 : num_bins + 1]
    exact = features.dtype == torch.float64 or features.device.type != "cpu"
    compute = torch.float64 if exact else torch.float32
    pixels = h * w
    blocks = 1 if exact else _block_count(pixels)
    block = pixels // blocks
    head = blocks * block  # the pixels % blocks pixels left over (none when blocks divides h*w) go in `rest`
    products = torch.empty(batch, blocks, num_units, num_bins, dtype=compute, device=features.device)
    rest = torch.zeros(batch, num_units, num_bins, dtype=compute, device=features.device)
    weights = None  # (1, h*w, K + 2), reused image after image (small enough to stay in cache)
    for index, (image, column) in enumerate(zip(features.reshape(batch, num_units, pixels), columns)):
        weights = _column_weights(column[None], (h, w), num_bins + 2, compute, out=weights)
        image = image.to(compute)
        valid = weights[0, :, 1 : num_bins + 1]  # (h*w, K): the invalid columns take no part in the products
        torch.bmm(image[:, :head].view(num_units, blocks, block).transpose(0, 1),
                  valid[:head].view(blocks, block, num_bins), out=products[index])  # (blocks, C, K)
        if head < pixels:
            torch.mm(image[:, head:], valid[head:], out=rest[index])
    sums = products.sum(dim=(0, 1), dtype=torch.float64) + rest.sum(dim=0, dtype=torch.float64)
    return sums, counts


@dataclass(eq=False)
class DepthResponse:
    """The dissection of one layer over some data: per-bin activation sums (C, K) and pixel counts (K,).

    The one result type of dissection (docs/method.md, "Dissection"). Sums and counts are additive, so
    results of disjoint data parts (shards, processes, split halves) add with ``+``; :meth:`update` adds
    one batch in place while streaming. Memory is constant in the dataset size (float64 tensors).

    Fields:
        layer: the layer's name ("" when not known).
        edges: ``K + 1`` SID bin edges in metres (:func:`sid_edges`).
        sums: (C, K) float64, sums of the upsampled activations over the valid pixels of each bin.
        counts: (K,) float64, valid pixels per bin.
    """

    layer: str
    edges: Tensor
    sums: Tensor
    counts: Tensor
    #: the position control's sums (C, R, K) and counts (R, K) within R image bands (:func:`band_sums`), or None
    band_sums: Tensor | None = None
    band_counts: Tensor | None = None

    def __post_init__(self) -> None:
        self.edges = torch.as_tensor(self.edges, dtype=torch.float64)
        if self.edges.ndim != 1 or len(self.edges) < 2 or not bool((self.edges[1:] > self.edges[:-1]).all()):
            raise ValueError(f"layer {self.layer!r}: edges must be K + 1 increasing depths in metres, "
                             f"got {self.edges.tolist()[:6]}")
        if self.sums.dim() != 2 or self.counts.shape != (self.sums.shape[1],) or len(self.edges) != self.sums.shape[1] + 1:
            raise ValueError(f"layer {self.layer!r}: expected sums (C, K), counts (K,) and K + 1 edges, got sums "
                             f"{tuple(self.sums.shape)}, counts {tuple(self.counts.shape)}, {len(self.edges)} edges")

    @classmethod
    def zeros(cls, num_units: int, edges: Tensor, device: torch.device | str | None = None,
              layer: str = "", bands: int | None = None) -> DepthResponse:
        """Return an empty response of ``num_units`` units over ``edges`` (metres), its sums on ``device``;
        with ``bands``, also the position control's sums within that many image bands."""
        num_bins = len(edges) - 1
        banded = {} if not bands else dict(
            band_sums=torch.zeros(int(num_units), bands, num_bins, dtype=torch.float64, device=device),
            band_counts=torch.zeros(bands, num_bins, dtype=torch.float64, device=device))
        return cls(layer, edges, torch.zeros(int(num_units), num_bins, dtype=torch.float64, device=device),
                   torch.zeros(num_bins, dtype=torch.float64, device=device), **banded)

    @property
    def num_units(self) -> int:
        """Return C, the layer's number of units."""
        return self.sums.shape[0]

    @property
    def num_bins(self) -> int:
        """Return K, the number of SID bins."""
        return self.sums.shape[1]

    def update(self, features: Tensor, depth: Tensor) -> DepthResponse:
        """Return self after adding one batch: features (B, C, h, w), depth (B, 1, H, W) in metres."""
        if features.shape[1] != self.num_units:
            raise ValueError(f"layer {self.layer!r}: expected features with {self.num_units} units, got "
                             f"{features.shape[1]}")
        with torch.no_grad():
            sums, counts = response_sums(features.detach(), depth.detach(), self.edges)
        if self.sums.device != sums.device:
            self.sums, self.counts = self.sums.to(sums.device), self.counts.to(sums.device)
        self.sums += sums
        self.counts += counts
        if self.band_sums is not None:
            band, band_count = band_sums(features, depth, self.edges, self.band_sums.shape[1])
            self.band_sums = self.band_sums.to(band.device) + band
            self.band_counts = self.band_counts.to(band.device) + band_count
        return self

    def __add__(self, other: DepthResponse) -> DepthResponse:
        """Return the response of the union of two disjoint data parts (same layer, units and edges)."""
        if not isinstance(other, DepthResponse):
            return NotImplemented
        if other.layer != self.layer or other.num_units != self.num_units or not torch.equal(other.edges, self.edges):
            raise ValueError(f"cannot add the responses of layer {other.layer!r} ({other.num_units} units, "
                             f"{other.num_bins} bins) to layer {self.layer!r} ({self.num_units} units, "
                             f"{self.num_bins} bins): layer, units and bin edges must be the same")
        banded = {}
        if self.band_sums is not None and other.band_sums is not None:
            banded = dict(band_sums=self.band_sums + other.band_sums.to(self.band_sums.device),
                          band_counts=self.band_counts + other.band_counts.to(self.band_counts.device))
        return DepthResponse(self.layer, self.edges, self.sums + other.sums.to(self.sums.device),
                             self.counts + other.counts.to(self.counts.device), **banded)

    def cpu(self) -> DepthResponse:
        """Return the response with CPU tensors."""
        banded = {} if self.band_sums is None else dict(band_sums=self.band_sums.cpu(),
                                                        band_counts=self.band_counts.cpu())
        return DepthResponse(self.layer, self.edges.cpu(), self.sums.cpu(), self.counts.cpu(), **banded)

    def controlled_selectivity(self, min_pixels: float = CONTROL_MIN_PIXELS) -> Tensor | None:
        """Return the (C,) DS within image bands (:func:`controlled_selectivity`), or None without band sums."""
        if self.band_sums is None:
            return None
        return controlled_selectivity(self.band_sums, self.band_counts, min_pixels)

    @property
    def mean_response(self) -> Tensor:
        """Return the mean response (C, K): sums / (counts + :data:`EPS`)."""
        return self.sums / (self.counts + EPS)

    @property
    def selectivity(self) -> Tensor:
        """Return the (C,) depth selectivity index at each unit's preferred bin (:func:`selectivity_index`).

        A dead unit (:attr:`dead`: no response anywhere) has no preferred depth: its DS is NaN, not 0, so
        averages over a layer (``nanmean``) and the unit groups leave it out instead of counting it unselective.
        """
        index = selectivity_index(self.mean_response)
        return torch.where(self.dead, torch.full_like(index, float("nan")), index)

    @property
    def dead(self) -> Tensor:
        """Return a (C,) bool mask of dead units: mean response exactly 0 in every bin (e.g. a ReLU never on)."""
        return self.mean_response.abs().amax(dim=-1) == 0

    @property
    def preferred_bin(self) -> Tensor:
        """Return the (C,) bin of each unit's largest absolute mean response."""
        return preferred_bins(self.mean_response)

    @property
    def assigned_bin(self) -> Tensor | None:
        """Return the (C,) bin the training objective assigns to each unit; None when there are more bins than units."""
        if self.num_bins > self.num_units:
            return None
        return assigned_bins(self.num_units, self.num_bins)

    def near_silent(self, fraction: float = SILENT_FRACTION) -> Tensor:
        """Return a (C,) bool mask of near-silent units: peak ``|mean response|`` below ``fraction`` of the layer's median peak.

        Such a unit hardly responds anywhere, yet its DS can be high on noise (docs/method.md, "DS").
        """
        peak = self.mean_response.abs().max(dim=-1).values  # (C,)
        return peak < fraction * peak.median()

    def clean(self) -> Tensor | None:
        """Return a (C,) bool mask of the units the controlled claims keep: neither dead, near-silent nor
        position-coded (:func:`position_coded`; the columns of :meth:`table`). None without the position control."""
        controlled = self.controlled_selectivity()
        if controlled is None:
            return None
        return ~(self.dead | self.near_silent() | position_coded(self.selectivity, controlled))

    @property
    def empty_bins(self) -> Tensor:
        """Return the indices of the bins that hold no valid pixel (their mean response is 0)."""
        return torch.nonzero(self.counts == 0).flatten()

    def table(self) -> pd.DataFrame:
        """Return one row per unit: layer, unit, preferred bin and its range in metres, selectivity
        (and, when bins can be assigned, the assigned bin and the selectivity there)."""
        import numpy as np
        import pandas as pd

        preferred = self.preferred_bin.numpy()
        edges = self.edges.numpy()
        table = pd.DataFrame({
            "layer": self.layer,
            "unit": np.arange(self.num_units),
            "preferred_bin": preferred,
            "preferred_lo_m": edges[preferred],
            "preferred_hi_m": edges[preferred + 1],
            "preferred_range_m": [f"{edges[b]:.2f}-{edges[b + 1]:.2f}" for b in preferred],
            "selectivity": self.selectivity.numpy(),
        })
        assigned = self.assigned_bin
        if assigned is not None:
            table["assigned_bin"] = assigned.numpy()
            table["selectivity_at_assigned"] = selectivity_index(self.mean_response, assigned).numpy()
        controlled = self.controlled_selectivity()
        if controlled is not None:  # the position control and the unit flags the controlled claims use
            table["ds_controlled"] = controlled.numpy()
            table["dead"] = self.dead.numpy()
            table["near_silent"] = self.near_silent().numpy()
            table["position_coded"] = position_coded(self.selectivity, controlled).numpy()
        return table


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


def assigned_bins(num_units: int, num_bins: int, device: torch.device | str | None = None) -> Tensor:
    """Return the bin assigned to each unit (C,) on ``device``: unit ``c`` gets ``floor(c / (C / K))``.

    Raises ValueError when there are more bins than units (some bins would get no unit).
    """
    if num_bins > num_units:
        raise ValueError(f"more bins ({num_bins}) than units ({num_units}): use at most {num_units} bins")
    return torch.arange(num_units, device=device) * num_bins // num_units  # integer form of floor(c / (C / K))


def default_num_bins(num_units: int, cap: int = 64) -> int:
    """Return the paper's number of bins for a layer: ``min(num_units, 64)``."""
    return min(int(num_units), cap)


def selectivity_term(features: Tensor, depth: Tensor, edges: Tensor, assigned: Tensor | None = None) -> Tensor:
    """Return the layer term the training objective maximises: mean over units of DS at the assigned bin.

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
    # bilinear weights are non-negative, so upsample(|f|) == |upsample(f)| wherever the taps share a sign
    # (always, for post-ReLU layers); see the module docstring for why nothing is upsampled here.
    sums, counts = bin_sums(features.abs(), depth, edges, dtype=features.dtype)
    return _assigned_term(sums, counts, assigned)


def selectivity_terms(
    activations: Mapping[str, Tensor], depth: Tensor, edges: Mapping[str, Tensor]
) -> dict[str, Tensor]:
    """Return :func:`selectivity_term` of every layer (layer -> scalar), binning the depth once per group.

    Layers whose features have the same size and dtype and that are given the *same* edges tensor (one
    object, as :class:`~mdeinterp.objective.Objective` hands out per K) share one binning of the batch
    (the bin of every depth pixel, the weights ``A`` and the counts). At MFF's D and MFF layers this
    halves the term's binning work. Results equal per-layer :func:`selectivity_term` calls.

    Args:
        activations: layer -> (B, C_l, h, w) activations (differentiable).
        depth: (B, 1, H, W) or (B, H, W) ground-truth depth in metres.
        edges: layer -> ``K + 1`` bin edges in metres.
    """
    depth = _as_depth_map(depth)
    binnings: dict[tuple, tuple[Tensor, Tensor]] = {}  # (feature size, dtype, edges object) -> (A, counts)
    terms: dict[str, Tensor] = {}
    for layer, features in activations.items():
        _check_features(features, depth)
        size = tuple(features.shape[-2:])
        key = (size, features.dtype, id(edges[layer]))
        if key not in binnings:
            binnings[key] = _binning(depth, edges[layer], size, features.dtype)
        weights, counts = binnings[key]
        # |f| is summed, see selectivity_term
        terms[layer] = _assigned_term(_weighted_sums(features.abs(), weights), counts, None)
    return terms


def _assigned_term(sums: Tensor, counts: Tensor, assigned: Tensor | None) -> Tensor:
    """Return the mean DS at the assigned bins of per-bin sums (C, K) and counts (K,); absent bins count 0."""
    num_units, num_bins = sums.shape
    if assigned is None:
        assigned = assigned_bins(num_units, num_bins, device=sums.device)  # built there: no copy per step
    assigned = assigned.to(sums.device)
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


# ---- the position control: DS within horizontal image bands ------------------------------------------------------





def position_coded(selectivity: Tensor, controlled: Tensor) -> Tensor:
    """Return a (C,) bool mask: controlled DS < :data:`POSITION_CODED_FRACTION` x DS (NaN controlled: coded)."""
    return ~(controlled >= POSITION_CODED_FRACTION * selectivity)


def band_sums(features: Tensor, depth: Tensor, edges: Tensor, bands: int = CONTROL_BANDS) -> tuple[Tensor, Tensor]:
    """Return (sums (C, R, K), counts (R, K)) in float64: :func:`bin_sums` within ``R = bands`` horizontal bands.

    Band ``r`` holds the depth map's rows ``[r H / R, (r + 1) H / R)``. A pixel's band and bin form one index
    ``r K + k``, so the binning is :func:`bin_weights`' with ``R K`` bins: one pass, no loop over bands.

    Args:
        features: (B, C, h, w) activations; depth: (B, 1, H, W) or (B, H, W) metres; edges: ``K + 1`` edges.
    """
    depth = _as_depth_map(depth)
    _check_features(features, depth)
    num_bins = len(edges) - 1
    bins = depth_bins(depth, edges)  # (B, H, W), -1 invalid
    height = depth.shape[-2]
    band = (torch.arange(height, device=depth.device) * bands) // height  # (H,)
    cell = torch.where(bins >= 0, band.view(1, -1, 1) * num_bins + bins, -1)  # (B, H, W)
    cells = bands * num_bins
    counts = _column_counts(cell + 1, cells + 1)[1:]
    weights = bin_weights(cell, tuple(features.shape[-2:]), cells, torch.float64)
    sums = _weighted_sums(features.detach().to(torch.float64), weights)  # (C, R K)
    return sums.view(-1, bands, num_bins), counts.view(bands, num_bins)


def controlled_selectivity(sums: Tensor, counts: Tensor, min_pixels: float = CONTROL_MIN_PIXELS) -> Tensor:
    """Return each unit's DS within image bands (C,): the position control of the selectivity index.

    Within each band ``r``, DS is computed as :func:`selectivity_index` over the bins holding at least
    ``min_pixels`` valid pixels in that band (the others are left out, not counted as silent); the bands'
    DS are then averaged, weighted by the pixels of their qualifying bins. Bands with fewer than two
    qualifying bins are skipped, and so, per unit, are the bands where the unit does not respond (peak below
    :data:`SILENT_FRACTION` of its peak over bands): they say nothing of depth against row. A unit that codes
    image row only responds alike to every depth inside a band: its controlled DS is near 0 although its DS
    can be high, because with a fixed camera the bottom rows see the near bins. A unit that codes depth keeps
    its preference inside every band where its depth occurs. Every unit is measured, whatever its preferred
    bin; NaN when no band where it responds has two qualifying bins, and for dead units.
    The control removes row codes down to the band height: finer row codes need more bands (then fewer
    bins qualify per band).

    Args:
        sums: (C, R, K) per-band, per-bin response sums; counts: (R, K) pixels (:func:`band_sums`).
    """
    mean = (sums / (counts + EPS)).abs()  # (C, R, K)
    qualifying = counts >= min_pixels  # (R, K)
    present = qualifying.sum(dim=-1)  # (R,)
    response = mean * qualifying
    r_pref = response.amax(dim=-1)  # (C, R)
    r_other = (response.sum(dim=-1) - r_pref) / (present - 1).clamp_min(1)
    per_band = (r_pref - r_other) / (r_pref + r_other + EPS)  # (C, R)
    # a band where the unit does not respond says nothing of depth against row: it is left out for that unit
    active = r_pref >= SILENT_FRACTION * r_pref.amax(dim=-1, keepdim=True)  # (C, R)
    weight = ((counts * qualifying).sum(dim=-1) * (present >= 2)) * active * (r_pref > 0)  # (C, R)
    total = weight.sum(dim=-1)
    controlled = (per_band * weight).sum(dim=-1) / total.clamp_min(EPS)
    return torch.where(total > 0, controlled, torch.full_like(controlled, float("nan")))


__all__ = [
    "EPS", "sid_edges", "depth_bins", "bin_weights", "bin_sums", "response_sums", "DepthResponse", "selectivity_index",
    "assigned_bins", "default_num_bins", "selectivity_term", "selectivity_terms", "preferred_bins",
    "near_assigned_fraction", "chance_near_fraction", "band_sums", "controlled_selectivity", "position_coded",
    "CONTROL_BANDS", "CONTROL_MIN_PIXELS", "POSITION_CODED_FRACTION",
]

# the terms are maximised by training, so they are not called losses (old names still resolve, with a warning)
__getattr__ = moved(__name__, {"selectivity_loss": "mdeinterp.selectivity:selectivity_term",
                               "selectivity_losses": "mdeinterp.selectivity:selectivity_terms"})
