"""The depth-row tie on hand-built maps: a pure row ramp is fully explained by the row, random offsets are not."""

import pytest
import torch

from mdeinterp.data.position_tie import bottom_depth_spread, row_explained_share, share_below


def test_row_ramp_is_fully_explained_and_constant_maps_not():
    ramp = torch.arange(1.0, 5.0).view(1, 4, 1).expand(3, 4, 2)  # depth = row + 1
    assert row_explained_share(ramp) == pytest.approx(1.0)
    per_image = torch.tensor([1.0, 3.0]).view(2, 1, 1).expand(2, 4, 2)  # constant within each image
    assert row_explained_share(per_image) == pytest.approx(0.0, abs=1e-12)


def test_half_explained_and_invalid_pixels_ignored():
    # rows 1, 2 plus per-image offsets 0, 2: between-row variance 0.25 of total 1.25 -> 0.2
    depth = torch.tensor([[[1.0], [2.0]], [[3.0], [4.0]]])
    assert row_explained_share(depth) == pytest.approx(0.2)
    with_invalid = torch.cat([depth, torch.tensor([[[float("nan")], [0.0]]]).expand(2, 2, 1)], dim=2)
    assert row_explained_share(with_invalid) == pytest.approx(0.2)


def test_bottom_spread_and_share_below():
    depth = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0]).view(11, 1, 1).expand(11, 3, 2)
    low, high = bottom_depth_spread(depth, rows=1)
    assert (low, high) == (pytest.approx(2.0), pytest.approx(10.0))
    assert share_below(depth, 3.0) == pytest.approx(2 / 11)


def test_the_tie_benchmark_prints_a_row_of_every_measure():
    from benchmarks.bench_position_tie import row

    cells = row("indoor", 5, 2).strip("|").split("|")
    assert len(cells) == 6 and cells[0].strip() == "indoor v5" and cells[1].strip().endswith("m")
