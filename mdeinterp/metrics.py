"""Standard monocular-depth accuracy metrics, for one batch, a whole dataset, and per depth range.

Conventions (Eigen et al.; BTS's evaluation): a pixel is valid when its target depth is finite and in
(min_depth, d_max]; predictions are clamped to [min_depth, d_max]; an optional Garg or Eigen crop keeps
the standard KITTI window. A dataset's metrics are pooled over pixels by default (float64 sums of per-pixel
quantities, so a dataset value equals one computation over all its pixels at once) or averaged over images
(``averaging="image"``: each image's metrics, then their mean, as the reference code of MFF and BTS evaluates;
the paper presets use it). The two differ when images have different numbers of valid pixels or errors; per
depth range, metrics are always pooled over the range's pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from .errors import ConfigError, DataError

#: d1/d2/d3: share of pixels with max(pred/gt, gt/pred) < 1.25, 1.25², 1.25³; d102/d105/d110: < 1.02, 1.05, 1.10
#: (the fine thresholds the reference code of the paper also reports).
METRIC_KEYS: tuple[str, ...] = ("d1", "d2", "d3", "abs_rel", "sq_rel", "rmse", "rmse_log", "log10",
                                "d102", "d105", "d110")
HIGHER_IS_BETTER: dict[str, bool] = {key: key.startswith("d") for key in METRIC_KEYS}
#: How a dataset's metric averages: "pixel" pools every valid pixel of every image (one computation over all
#: pixels); "image" computes each image's metrics (its RMSE over its own pixels) and averages over images, as
#: the paper's reference evaluation does (batch 1, a mean of per-image values).
AVERAGING = ("pixel", "image")
_THRESHOLDS = (1.25, 1.25**2, 1.25**3)
_FINE_THRESHOLDS = (1.02, 1.05, 1.10)

# Per-pixel quantities summed by the accumulators (one column each, in this order; the same as METRIC_KEYS but
# squared errors in place of the RMSEs).
_TERMS = ("d1", "d2", "d3", "abs_rel", "sq_rel", "sq_err", "sq_log_err", "log10", "d102", "d105", "d110")

# Fractions of (height, height, width, width) of the standard KITTI evaluation windows.
GARG_CROP = (0.40810811, 0.99189189, 0.03594771, 0.96405229)
EIGEN_CROP = (0.3324324, 0.91351351, 0.0359477, 0.96405229)  # KITTI's; NYUv2's Eigen crop is fixed pixels


def check_metres(depth: torch.Tensor, d_max: float, where: str) -> None:
    """Raise :class:`~mdeinterp.errors.DataError` when ``depth`` has valid pixels but none in (0, ``d_max``] metres.

    The one units check of every boundary that takes true depth (dissection, the training objective,
    evaluation, the interventions): depth in millimetres (or centimetres) lies beyond ``d_max`` everywhere,
    and would otherwise give DS over no pixel, selectivity terms of 0 or metrics of NaN without a word.
    A batch with no valid pixel at all (depth <= 0 everywhere) passes: whole datasets are checked by their users.
    """
    depth = depth.detach()
    valid = torch.isfinite(depth) & (depth > 0)
    if not bool(valid.any()) or bool((depth[valid] <= d_max).any()):
        return
    median = float(depth[valid].float().median())
    hint = "; millimetres? divide by 1000" if median > 100 * d_max else ""
    raise DataError(f"{where}: no depth pixel lies in (0, {d_max:g}] m (median {median:g}); depth must be in "
                    f"metres, within the SID range{hint}")


def crop_mask(height: int, width: int, fractions: tuple[float, float, float, float]) -> torch.Tensor:
    """Return a (height, width) bool mask that is True inside the window given as fractions of the size.

    ``fractions`` = (top, bottom, left, right); rows int(top*H) .. int(bottom*H)-1 and likewise for
    columns are kept, the integer truncation used by the standard evaluation scripts.
    """
    top, bottom, left, right = fractions
    mask = torch.zeros(height, width, dtype=torch.bool)
    mask[int(top * height) : int(bottom * height), int(left * width) : int(right * width)] = True
    return mask


def _as_batch(depth: torch.Tensor | np.ndarray, name: str) -> torch.Tensor:
    """Return ``depth`` as a (B, 1, H, W) tensor; accepts (H, W), (B, H, W) and (B, 1, H, W)."""
    depth = torch.as_tensor(depth)
    if depth.dim() == 2:
        return depth[None, None]
    if depth.dim() == 3:
        return depth[:, None]
    if depth.dim() == 4 and depth.shape[1] == 1:
        return depth
    raise ValueError(f"{name} must have shape (H, W), (B, H, W) or (B, 1, H, W), got {tuple(depth.shape)}")


def _valid_pairs(
    pred: torch.Tensor | np.ndarray,
    target: torch.Tensor | np.ndarray,
    d_max: float,
    min_depth: float,
    garg_crop: bool,
    eigen_crop: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return the float64 (prediction, target) values and the image index (int64), each (N,), of a batch's valid pixels."""
    if garg_crop and eigen_crop:
        raise ConfigError("garg_crop and eigen_crop were both requested; expected at most one crop")
    pred = _as_batch(pred, "prediction").detach()
    target = _as_batch(target, "target").detach()
    if pred.shape[0] != target.shape[0]:
        raise ValueError(
            f"prediction batch size {pred.shape[0]} differs from target batch size {target.shape[0]}"
        )
    pred = pred.to(device=target.device, dtype=torch.float64)
    target = target.to(torch.float64)
    if pred.shape[-2:] != target.shape[-2:]:
        pred = F.interpolate(pred, size=target.shape[-2:], mode="bilinear", align_corners=False)

    valid = torch.isfinite(target) & (target > min_depth) & (target <= d_max)  # (B, 1, H, W)
    height, width = target.shape[-2:]
    if garg_crop:
        valid &= crop_mask(height, width, GARG_CROP).to(valid.device)
    elif eigen_crop:
        valid &= crop_mask(height, width, EIGEN_CROP).to(valid.device)
    image = torch.arange(valid.shape[0], device=valid.device).view(-1, 1, 1, 1).expand_as(valid)[valid]
    return pred[valid].clamp(min_depth, d_max), target[valid], image


def _pixel_terms(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Return the per-pixel quantities (N, 11) in :data:`_TERMS` order from valid (N,) depths in metres."""
    ratio = torch.maximum(pred / target, target / pred)
    error = target - pred
    log_error = torch.log(target) - torch.log(pred)
    return torch.stack(
        (
            *((ratio < threshold).to(pred.dtype) for threshold in _THRESHOLDS),
            error.abs() / target,
            error**2 / target,
            error**2,
            log_error**2,
            (torch.log10(target) - torch.log10(pred)).abs(),
            *((ratio < threshold).to(pred.dtype) for threshold in _FINE_THRESHOLDS),
        ),
        dim=1,
    )


def _metrics_from_sums(sums: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """Return metrics (..., 11) in :data:`METRIC_KEYS` order from term sums (..., 11) and pixel counts (...,).

    Entries with a zero count are NaN.
    """
    means = sums / count.unsqueeze(-1)  # 0/0 -> NaN for empty rows
    means[..., 5] = means[..., 5].sqrt()  # rmse
    means[..., 6] = means[..., 6].sqrt()  # rmse_log
    return means


def compute_metrics(
    pred: torch.Tensor | np.ndarray,
    target: torch.Tensor | np.ndarray,
    d_max: float,
    min_depth: float = 1e-3,
    garg_crop: bool = False,
    eigen_crop: bool = False,
) -> dict[str, float]:
    """Return {metric: value} for :data:`METRIC_KEYS` over the valid pixels of one batch.

    Args:
        pred: predicted depth (B, 1, h, w), (B, h, w) or (h, w), metres; resized bilinearly
            (align_corners=False) to the target's size when it differs, then clamped to [min_depth, d_max].
        target: ground-truth depth (B, 1, H, W), (B, H, W) or (H, W), metres; valid where finite and
            in (min_depth, d_max].
        d_max: evaluation cap in metres (NYUv2 10, KITTI 80).
        min_depth: smallest valid depth and lower clamp of the prediction, metres.
        garg_crop: keep only the Garg et al. KITTI window.
        eigen_crop: keep only the Eigen et al. KITTI window.

    Without a valid pixel every value is NaN.
    """
    accumulator = MetricAccumulator(d_max, min_depth=min_depth, garg_crop=garg_crop, eigen_crop=eigen_crop)
    accumulator.update(pred, target)
    return accumulator.compute()


class MetricAccumulator:
    """Accumulates float64 sums of the metric terms over batches of a dataset, pooled over pixels or per image.

    ``averaging`` (:data:`AVERAGING`): "pixel" weights every valid pixel alike; "image" averages each image's
    metrics over the images with at least one valid pixel (the paper's reference evaluation).
    """

    def __init__(
        self, d_max: float, min_depth: float = 1e-3, garg_crop: bool = False, eigen_crop: bool = False,
        averaging: str = "pixel",
    ) -> None:
        if not (0 < min_depth < d_max):
            raise ConfigError(f"need 0 < min_depth < d_max, got min_depth={min_depth}, d_max={d_max}")
        if averaging not in AVERAGING:
            raise ConfigError(f"metric averaging {averaging!r} is unknown; expected one of {', '.join(AVERAGING)}")
        self.d_max = float(d_max)
        self.min_depth = float(min_depth)
        self.garg_crop = garg_crop
        self.eigen_crop = eigen_crop
        self.averaging = averaging
        self.count = 0  # pixels ("pixel") or images ("image") added
        self.sums = torch.zeros(len(_TERMS), dtype=torch.float64)  # term sums ("pixel") or metric sums ("image")

    def update(self, pred: torch.Tensor | np.ndarray, target: torch.Tensor | np.ndarray) -> None:
        """Add a batch; ``pred`` and ``target`` as in :func:`compute_metrics` (metres, any device)."""
        pred_valid, target_valid, image = _valid_pairs(
            pred, target, self.d_max, self.min_depth, self.garg_crop, self.eigen_crop
        )
        terms = _pixel_terms(pred_valid, target_valid)
        if self.averaging == "pixel":
            self.count += int(target_valid.numel())
            self.sums += terms.sum(dim=0).cpu()
            return
        images = _as_batch(target, "target").shape[0]
        sums = torch.zeros(images, len(_TERMS), dtype=torch.float64, device=terms.device).index_add_(0, image, terms)
        counts = torch.bincount(image, minlength=images).to(torch.float64)
        seen = counts > 0
        self.count += int(seen.sum())
        self.sums += _metrics_from_sums(sums[seen], counts[seen]).sum(dim=0).cpu()

    def merge(self, other: MetricAccumulator) -> MetricAccumulator:
        """Return ``self`` after adding the sums of ``other`` (same settings), e.g. from another worker."""
        _check_same_settings(self, other)
        self.count += other.count
        self.sums += other.sums
        return self

    def compute(self) -> dict[str, float]:
        """Return {metric: value} over every pixel or image added so far (NaN when there is none)."""
        count = torch.tensor(float(self.count), dtype=torch.float64)
        if self.averaging == "pixel":
            values = _metrics_from_sums(self.sums, count)
        else:
            values = self.sums / count
        return {key: float(value) for key, value in zip(METRIC_KEYS, values.tolist())}


def depth_ranges(edges: Sequence[float] | torch.Tensor | np.ndarray, num_ranges: int) -> list[tuple[float, float]]:
    """Return ``num_ranges`` (lo, hi] metre ranges, each the union of consecutive depth bins.

    Args:
        edges: K + 1 increasing bin edges in metres (e.g. SID edges t_0 = 0 .. t_K = d_max).
        num_ranges: number of ranges R, 1 <= R <= K. Range r holds bins floor(r*K/R) .. floor((r+1)*K/R)-1,
            an equal number of bins when R divides K.
    """
    edges = np.asarray(torch.as_tensor(edges, dtype=torch.float64).cpu(), dtype=np.float64).ravel()
    num_bins = edges.size - 1
    if num_bins < 1 or np.any(np.diff(edges) <= 0):
        raise ConfigError(f"bin edges must be at least 2 strictly increasing values, got {edges.tolist()}")
    if not (1 <= num_ranges <= num_bins):
        raise ConfigError(f"num_ranges={num_ranges} is invalid; expected 1 .. {num_bins} (the number of bins)")
    cut = (np.arange(num_ranges + 1) * num_bins) // num_ranges  # indices into edges
    return [(float(edges[a]), float(edges[b])) for a, b in zip(cut[:-1], cut[1:])]


class RangeMetricAccumulator:
    """Accumulates the metric sums separately for each (lo, hi] target-depth range, vectorised over ranges."""

    def __init__(
        self,
        ranges: Sequence[tuple[float, float]],
        d_max: float,
        min_depth: float = 1e-3,
        garg_crop: bool = False,
        eigen_crop: bool = False,
    ) -> None:
        """``ranges``: sorted, non-overlapping (lo, hi] pairs in metres, e.g. from :func:`depth_ranges`."""
        bounds = torch.as_tensor([tuple(r) for r in ranges], dtype=torch.float64)
        if bounds.dim() != 2 or bounds.shape[0] == 0 or bounds.shape[1] != 2:
            raise ConfigError(f"ranges must be a non-empty list of (lo, hi) pairs, got {list(ranges)}")
        ordered = bool((bounds[:, 0] < bounds[:, 1]).all()) and bool((bounds[1:, 0] >= bounds[:-1, 1]).all())
        if not ordered:
            raise ConfigError(
                f"ranges must be sorted, non-overlapping (lo, hi] pairs with lo < hi, got {bounds.tolist()}"
            )
        self.overall = MetricAccumulator(d_max, min_depth=min_depth, garg_crop=garg_crop, eigen_crop=eigen_crop)
        self.bounds = bounds  # (R, 2)
        self.counts = torch.zeros(len(bounds), dtype=torch.float64)
        self.sums = torch.zeros(len(bounds), len(_TERMS), dtype=torch.float64)

    @classmethod
    def from_edges(
        cls, edges: Sequence[float] | torch.Tensor | np.ndarray, num_ranges: int, d_max: float, **options: object
    ) -> RangeMetricAccumulator:
        """Return an accumulator over :func:`depth_ranges` ``(edges, num_ranges)``; options as ``__init__``."""
        return cls(depth_ranges(edges, num_ranges), d_max, **options)  # type: ignore[arg-type]

    def update(self, pred: torch.Tensor | np.ndarray, target: torch.Tensor | np.ndarray) -> None:
        """Add a batch; ``pred`` and ``target`` as in :func:`compute_metrics` (metres, any device)."""
        o = self.overall
        pred_valid, target_valid, _ = _valid_pairs(pred, target, o.d_max, o.min_depth, o.garg_crop, o.eigen_crop)
        terms = _pixel_terms(pred_valid, target_valid)  # (N, 11)
        o.count += int(target_valid.numel())
        o.sums += terms.sum(dim=0).cpu()

        bounds = self.bounds.to(target_valid.device)
        # First range whose hi >= depth, then keep the pixel only when depth > that range's lo.
        range_id = torch.bucketize(target_valid, bounds[:, 1].contiguous(), right=False)  # (N,)
        inside = range_id < len(bounds)
        inside &= target_valid > bounds[range_id.clamp(max=len(bounds) - 1), 0]
        range_id, terms = range_id[inside], terms[inside]
        self.counts += torch.bincount(range_id, minlength=len(bounds)).to(torch.float64).cpu()
        self.sums += torch.zeros_like(self.sums, device=terms.device).index_add_(0, range_id, terms).cpu()

    def merge(self, other: RangeMetricAccumulator) -> RangeMetricAccumulator:
        """Return ``self`` after adding the sums of ``other`` (same ranges and settings)."""
        if not torch.equal(self.bounds, other.bounds):
            raise ConfigError(
                f"cannot merge range accumulators with ranges {self.bounds.tolist()} and {other.bounds.tolist()}"
            )
        self.overall.merge(other.overall)
        self.counts += other.counts
        self.sums += other.sums
        return self

    def compute(self) -> pd.DataFrame:
        """Return one row per range: range_lo, range_hi (metres), n_pixels and the :data:`METRIC_KEYS` columns.

        A range without pixels has NaN metrics.
        """
        values = _metrics_from_sums(self.sums, self.counts).numpy()
        table = pd.DataFrame(values, columns=list(METRIC_KEYS))
        table.insert(0, "n_pixels", self.counts.numpy().astype(np.int64))
        table.insert(0, "range_hi", self.bounds[:, 1].numpy())
        table.insert(0, "range_lo", self.bounds[:, 0].numpy())
        return table


def _check_same_settings(a: MetricAccumulator, b: MetricAccumulator) -> None:
    """Raise ConfigError unless two accumulators share d_max, min_depth and crop."""
    settings_a = (a.d_max, a.min_depth, a.garg_crop, a.eigen_crop, a.averaging)
    settings_b = (b.d_max, b.min_depth, b.garg_crop, b.eigen_crop, b.averaging)
    if settings_a != settings_b:
        raise ConfigError(
            "cannot merge accumulators with (d_max, min_depth, garg_crop, eigen_crop, averaging) "
            f"{settings_a} and {settings_b}"
        )


__all__ = [
    "check_metres",
    "AVERAGING",
    "EIGEN_CROP",
    "GARG_CROP",
    "HIGHER_IS_BETTER",
    "METRIC_KEYS",
    "MetricAccumulator",
    "RangeMetricAccumulator",
    "compute_metrics",
    "crop_mask",
    "depth_ranges",
]
