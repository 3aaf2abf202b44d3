"""Pinned values of the depth metrics, their dataset accumulators and the per-range variant."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mdeinterp.errors import ConfigError
from mdeinterp.metrics import (
    GARG_CROP,
    HIGHER_IS_BETTER,
    METRIC_KEYS,
    MetricAccumulator,
    RangeMetricAccumulator,
    compute_metrics,
    crop_mask,
    depth_ranges,
)


def _random_depth(seed: int, shape=(2, 1, 6, 8), d_max: float = 10.0) -> torch.Tensor:
    """Return depths in (0, d_max] metres with a few invalid zeros."""
    generator = torch.Generator().manual_seed(seed)
    depth = 0.2 + (d_max - 0.2) * torch.rand(shape, generator=generator)
    depth[torch.rand(shape, generator=generator) < 0.1] = 0.0
    return depth


def _assert_metrics(actual: dict, expected: dict, tol: float = 1e-12) -> None:
    assert set(actual) == set(METRIC_KEYS)
    for key, value in expected.items():
        assert actual[key] == pytest.approx(value, abs=tol), key


def test_perfect_prediction():
    target = _random_depth(0)
    _assert_metrics(
        compute_metrics(target.clone(), target, d_max=10.0),
        dict(d1=1, d2=1, d3=1, abs_rel=0, sq_rel=0, rmse=0, rmse_log=0, log10=0),
    )


def test_prediction_twice_the_target():
    target = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    expected = dict(
        d1=0, d2=0, d3=0,  # ratio 2 > 1.25^3 = 1.953125
        abs_rel=1.0,
        sq_rel=(1 + 2 + 3 + 4) / 4,  # error^2 / target = target
        rmse=math.sqrt((1 + 4 + 9 + 16) / 4),
        rmse_log=math.log(2),
        log10=math.log10(2),
    )
    _assert_metrics(compute_metrics(2 * target, target, d_max=10.0), expected)


def test_hand_computed_2x2():
    target = torch.tensor([[1.0, 2.0], [4.0, 5.0]])
    pred = torch.tensor([[1.0, 3.0], [2.0, 5.0]])  # ratios 1, 1.5, 2, 1; errors 0, -1, 2, 0
    expected = dict(
        d1=0.5,
        d2=0.75,  # 1.5 < 1.5625
        d3=0.75,  # 2 >= 1.953125
        abs_rel=(0 + 1 / 2 + 2 / 4 + 0) / 4,
        sq_rel=(0 + 1 / 2 + 4 / 4 + 0) / 4,
        rmse=math.sqrt((0 + 1 + 4 + 0) / 4),
        rmse_log=math.sqrt((math.log(1.5) ** 2 + math.log(2) ** 2) / 4),
        log10=(math.log10(1.5) + math.log10(2)) / 4,
    )
    _assert_metrics(compute_metrics(pred, target, d_max=10.0), expected)
    # (B, 1, H, W), (B, H, W) and numpy inputs give the same numbers
    _assert_metrics(compute_metrics(pred[None, None], target[None, None], d_max=10.0), expected)
    _assert_metrics(compute_metrics(pred.numpy()[None], target.numpy()[None], d_max=10.0), expected)


def test_invalid_pixels_are_ignored():
    target = torch.tensor([[1.0, 2.0, 0.0], [4.0, 12.0, float("nan")]])  # 0, > d_max and NaN are invalid
    pred = torch.tensor([[1.0, 3.0, 7.0], [2.0, 1.0, 9.0]])
    reference = compute_metrics(torch.tensor([1.0, 3.0, 2.0])[None], torch.tensor([1.0, 2.0, 4.0])[None], 10.0)
    _assert_metrics(compute_metrics(pred, target, d_max=10.0), reference)
    assert reference["abs_rel"] == pytest.approx((0 + 0.5 + 0.5) / 3, abs=1e-12)


def test_predictions_are_clamped():
    target = torch.tensor([[5.0, 2.0]])
    pred = torch.tensor([[20.0, -1.0]])  # -> 10 (d_max) and 0.5 (min_depth)
    metrics = compute_metrics(pred, target, d_max=10.0, min_depth=0.5)
    assert metrics["abs_rel"] == pytest.approx((5 / 5 + 1.5 / 2) / 2, abs=1e-12)
    assert metrics["rmse_log"] == pytest.approx(math.sqrt((math.log(2) ** 2 + math.log(4) ** 2) / 2), abs=1e-12)


def test_prediction_is_resized_bilinearly():
    generator = torch.Generator().manual_seed(1)
    target = 1.0 + torch.rand(1, 1, 8, 10, generator=generator, dtype=torch.float64)
    pred = 1.0 + torch.rand(1, 1, 4, 5, generator=generator, dtype=torch.float64)
    resized = F.interpolate(pred, size=(8, 10), mode="bilinear", align_corners=False)
    _assert_metrics(compute_metrics(pred, target, d_max=10.0), compute_metrics(resized, target, d_max=10.0))
    # a constant map stays constant: half-size 2 m against 1 m is abs_rel 1
    assert compute_metrics(torch.full((1, 1, 4, 5), 2.0), torch.ones(1, 1, 8, 10), 10.0)["abs_rel"] == 1.0


def test_accumulator_equals_one_call_on_concatenation():
    targets = [_random_depth(seed) for seed in (10, 11, 12)]
    preds = [t.clamp(min=0.3) * (0.8 + 0.4 * torch.rand(t.shape, generator=torch.Generator().manual_seed(s)))
             for s, t in enumerate(targets)]
    accumulator = MetricAccumulator(d_max=10.0)
    for pred, target in zip(preds, targets):
        accumulator.update(pred, target)
    _assert_metrics(accumulator.compute(), compute_metrics(torch.cat(preds), torch.cat(targets), 10.0))
    assert accumulator.count == int((torch.cat(targets) > 1e-3).sum())

    first, rest = MetricAccumulator(d_max=10.0), MetricAccumulator(d_max=10.0)
    first.update(preds[0], targets[0])
    for pred, target in zip(preds[1:], targets[1:]):
        rest.update(pred, target)
    _assert_metrics(first.merge(rest).compute(), accumulator.compute())
    with pytest.raises(ConfigError, match="cannot merge"):
        first.merge(MetricAccumulator(d_max=80.0))


def test_no_valid_pixel_gives_nan():
    metrics = compute_metrics(torch.ones(1, 1, 2, 2), torch.zeros(1, 1, 2, 2), d_max=10.0)
    assert all(math.isnan(value) for value in metrics.values())


def test_garg_crop_fractions_on_kitti_size():
    mask = crop_mask(375, 1242, GARG_CROP)
    rows, cols = mask.any(dim=1).nonzero().ravel(), mask.any(dim=0).nonzero().ravel()
    # int(0.40810811*375)=153, int(0.99189189*375)=371, int(0.03594771*1242)=44, int(0.96405229*1242)=1197
    assert (rows.min().item(), rows.max().item() + 1) == (153, 371)
    assert (cols.min().item(), cols.max().item() + 1) == (44, 1197)
    assert mask.sum().item() == (371 - 153) * (1197 - 44)


def test_garg_crop_keeps_only_the_window():
    target = torch.full((1, 1, 20, 30), 5.0)
    pred = torch.full((1, 1, 20, 30), 50.0)  # wrong (clamped to 10) outside the crop
    window = crop_mask(20, 30, GARG_CROP)
    pred[0, 0][window] = 5.0
    assert compute_metrics(pred, target, d_max=10.0, garg_crop=True)["abs_rel"] == 0.0
    assert compute_metrics(pred, target, d_max=10.0)["abs_rel"] == pytest.approx((~window).float().mean().item())
    with pytest.raises(ConfigError, match="garg_crop and eigen_crop"):
        compute_metrics(pred, target, d_max=10.0, garg_crop=True, eigen_crop=True)


def test_depth_ranges_group_consecutive_bins():
    edges = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert depth_ranges(edges, 3) == [(0.0, 2.0), (2.0, 4.0), (4.0, 6.0)]
    assert depth_ranges(torch.tensor(edges), 4) == [(0.0, 1.0), (1.0, 3.0), (3.0, 4.0), (4.0, 6.0)]
    assert depth_ranges(edges, 1) == [(0.0, 6.0)]
    with pytest.raises(ConfigError, match="num_ranges=7"):
        depth_ranges(edges, 7)
    with pytest.raises(ConfigError, match="strictly increasing"):
        depth_ranges([0.0, 2.0, 1.0], 1)


def test_range_metrics_equal_metrics_of_masked_subsets():
    edges = torch.tensor([0.0, 0.75, 1.5, 2.5, 4.0, 6.0, 8.0, 10.0])
    ranges = depth_ranges(edges, 3)
    targets = [_random_depth(seed) for seed in (20, 21)]
    preds = [t.clamp(min=0.3) * 1.1 + 0.05 for t in targets]
    accumulator = RangeMetricAccumulator.from_edges(edges, 3, d_max=10.0)
    for pred, target in zip(preds, targets):
        accumulator.update(pred, target)
    table = accumulator.compute()
    assert list(table.columns) == ["range_lo", "range_hi", "n_pixels", *METRIC_KEYS]
    assert list(zip(table.range_lo, table.range_hi)) == ranges

    pred, target = torch.cat(preds), torch.cat(targets)
    for row, (lo, hi) in zip(table.itertuples(), ranges):
        in_range = (target > lo) & (target <= hi)
        assert row.n_pixels == int((in_range & (target > 1e-3)).sum())
        expected = compute_metrics(pred, torch.where(in_range, target, torch.zeros_like(target)), d_max=10.0)
        _assert_metrics({key: getattr(row, key) for key in METRIC_KEYS}, expected)
    assert table.n_pixels.sum() == accumulator.overall.count
    _assert_metrics(accumulator.overall.compute(), compute_metrics(pred, target, d_max=10.0))


def test_range_metrics_gaps_and_empty_ranges():
    target = torch.tensor([[1.0, 2.5, 3.5, 9.0]])
    accumulator = RangeMetricAccumulator([(0.0, 2.0), (3.0, 4.0), (4.0, 5.0)], d_max=10.0)
    accumulator.update(target * 2, target)
    table = accumulator.compute()
    assert table.n_pixels.tolist() == [1, 1, 0]  # 2.5 falls in the gap, 9 beyond the last range
    assert table.abs_rel.tolist()[:2] == [1.0, 1.0]
    assert np.isnan(table.abs_rel[2])
    with pytest.raises(ConfigError, match="non-overlapping"):
        RangeMetricAccumulator([(0.0, 3.0), (2.0, 4.0)], d_max=10.0)


def test_higher_is_better():
    assert HIGHER_IS_BETTER == {
        "d1": True, "d2": True, "d3": True,
        "abs_rel": False, "sq_rel": False, "rmse": False, "rmse_log": False, "log10": False,
        "d102": True, "d105": True, "d110": True,
    }


def test_fine_thresholds():
    # ratios 1.01, 1.04, 1.08, 1.2: below 1.02 one pixel, below 1.05 two, below 1.10 three, below 1.25 all four
    target = torch.tensor([[1.0, 1.0], [1.0, 1.0]])
    pred = torch.tensor([[1.01, 1.04], [1.0 / 1.08, 1.2]])
    metrics = compute_metrics(pred, target, d_max=10.0)
    assert (metrics["d102"], metrics["d105"], metrics["d110"], metrics["d1"]) == (0.25, 0.5, 0.75, 1.0)


def test_per_image_averaging_differs_from_pooled():
    # image 0: one valid pixel, error 2 m at 2 m; image 1: three valid pixels, exact
    target = torch.tensor([[[2.0, 0.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 0.0]]])
    pred = torch.tensor([[[4.0, 1.0], [1.0, 1.0]], [[1.0, 1.0], [1.0, 1.0]]])
    pooled = MetricAccumulator(10.0)
    per_image = MetricAccumulator(10.0, averaging="image")
    for accumulator in (pooled, per_image):
        accumulator.update(pred[:1], target[:1])  # batches of one image each: the same as one batch of two
        accumulator.update(pred[1:], target[1:])
    pooled, per_image = pooled.compute(), per_image.compute()
    assert pooled["abs_rel"] == pytest.approx(1.0 / 4) and per_image["abs_rel"] == pytest.approx(1.0 / 2)
    assert pooled["rmse"] == pytest.approx(math.sqrt(4.0 / 4)) and per_image["rmse"] == pytest.approx((2.0 + 0.0) / 2)
    assert pooled["d1"] == pytest.approx(3 / 4) and per_image["d1"] == pytest.approx(1 / 2)
    both = MetricAccumulator(10.0, averaging="image")
    both.update(pred, target)
    assert both.compute() == pytest.approx(per_image)
    empty = torch.zeros(1, 2, 2)  # an image without valid pixels does not count
    both.update(empty + 1.0, empty)
    assert both.compute() == pytest.approx(per_image)
    with pytest.raises(ConfigError, match="averaging 'frame'"):
        MetricAccumulator(10.0, averaging="frame")


def test_batch_size_mismatch_is_an_error():
    with pytest.raises(ValueError, match="batch size 2 differs from target batch size 1"):
        compute_metrics(torch.ones(2, 1, 2, 2), torch.ones(1, 1, 2, 2), d_max=10.0)
