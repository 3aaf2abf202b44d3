"""Sampling-noise diagnostics of a dissection on hand-built responses with known answers."""

import pytest
import torch
from test_analysis import DepthEcho, _dataset

from mdeinterp import dissection, stability
from mdeinterp.dissection import DepthResponse, Dissection
from mdeinterp.selectivity import sid_edges


def response(sums, counts, layer="L"):
    sums = torch.tensor(sums, dtype=torch.float64)
    edges = torch.arange(sums.shape[1] + 1, dtype=torch.float64)  # bins (0,1], (1,2], ...
    return DepthResponse(layer, edges, sums, torch.tensor(counts, dtype=torch.float64))


def test_bin_shares_count_valid_pixels_only():
    edges = torch.tensor([0.0, 1.0, 2.0, 4.0], dtype=torch.float64)
    depths = [torch.tensor([0.5, 1.5, 1.7, 3.0]), torch.tensor([[0.0, 9.0], [3.5, float("nan")]])]
    # valid: 0.5 | 1.5 1.7 | 3.0 3.5 ; 0, 9 (beyond the last edge) and NaN are invalid
    torch.testing.assert_close(stability.bin_shares(depths, edges), torch.tensor([0.2, 0.4, 0.4], dtype=torch.float64))
    with pytest.raises(ValueError, match="no valid depth"):
        stability.bin_shares([torch.zeros(3)], edges)


def test_filled_selectivity_ignores_thin_bins():
    # unit 0 fires only in bin 2, which holds 1 pixel of 3001: plain DS 1, over the filled bins it has no preference
    # unit 1 fires 3x more in bin 0 than in bins 1 and 3: DS over filled bins (3 - 1) / (3 + 1) = 0.5
    counts = [1000, 1000, 1, 1000]
    r = response([[1000.0, 1000.0, 50.0, 1000.0], [3000.0, 1000.0, 1.0, 1000.0]], counts)
    assert float(r.selectivity[0]) > 0.9
    torch.testing.assert_close(stability.filled_selectivity(r, 0.005), torch.tensor([0.0, 0.5], dtype=torch.float64))
    with pytest.raises(ValueError, match="fewer than two bins"):
        stability.filled_selectivity(response([[1.0, 1.0]], [1000, 1]), 0.01)


def test_split_half_summary_spread_and_agreement():
    # half a: unit 0 prefers bin 0 (DS 0.5), unit 1 bin 2; half b: unit 0 still bin 0 (DS 0), unit 1 moves to bin 1
    a = Dissection({"L": response([[3.0, 1.0, 1.0], [1.0, 1.0, 5.0]], [1, 1, 1])})
    b = Dissection({"L": response([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0]], [1, 1, 1])})
    row = stability.split_half_summary(a, b).iloc[0]
    ds_a = (0.5 + (5 - 1) / (5 + 1)) / 2
    ds_b = (0.0 + (5 - 1) / (5 + 1)) / 2
    assert row["selectivity_spread"] == pytest.approx(abs(ds_a - ds_b) / 2)
    assert row["preferred_agreement"] == pytest.approx(0.5)  # unit 0 agrees (bin 0), unit 1 does not
    assert row["preferred_agreement_1"] == pytest.approx(1.0)  # bins 2 and 1 are neighbours
    full = (a + b)["L"]
    torch.testing.assert_close(full.sums, torch.tensor([[4.0, 2.0, 2.0], [2.0, 6.0, 6.0]], dtype=torch.float64))
    assert row["mean_selectivity"] == pytest.approx(float(full.selectivity.mean()))
    assert row["emptiest_bin_share"] == pytest.approx(1 / 3)


def test_halves_add_up_to_the_full_dissection():
    model, data = DepthEcho(), _dataset(n=7)
    options = dict(edges=sid_edges(8, 0.75, 10.0), batch_size=3, progress=False)  # 8 bins on 2 units: by edges
    half_a, half_b = stability.dissect_split(model, data, ["feat"], **options)
    assert half_a["feat"].counts.sum() == 3 * 64 and half_b["feat"].counts.sum() == 4 * 64  # 7 // 2 = 3 first
    full = dissection.dissect(model, data, ["feat"], **options)
    combined = (half_a + half_b)["feat"]
    torch.testing.assert_close(combined.sums, full["feat"].sums, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(combined.counts, full["feat"].counts, rtol=0, atol=0)
    other = Dissection({"feat": DepthResponse("feat", sid_edges(8, 1.0, 10.0), full["feat"].sums, full["feat"].counts)})
    with pytest.raises(ValueError, match="different bin edges"):
        full + other


@pytest.mark.parametrize("preset", ["tiny", "tiny_outdoor"])
def test_embedded_presets_fill_every_depth_bin(preset, tmp_path):
    # the science issue's goal: no SID bin under 0.1% of valid training pixels at the preset's K (32 units)
    from mdeinterp.config import build_config
    from mdeinterp.run import bin_occupancy

    config = build_config(preset, n_train=300, data=str(tmp_path))
    occupancy = bin_occupancy(config, 32)
    assert occupancy["shares"].sum() == pytest.approx(1.0)
    assert occupancy["summary"]["emptiest_bin_share"] >= 0.001
    assert occupancy["summary"]["beyond_d_max_share"] < 0.01


def test_summary_reports_near_silent_units_and_ds_without_them():
    # peaks: 10, 10, 10, 0.4 (< 5% of the median peak 10), 0.6 (above: 6%)
    sums = torch.tensor([[10.0, 0.0], [10.0, 10.0], [0.0, 10.0], [0.4, 0.0], [0.6, 0.6]], dtype=torch.float64)
    response = DepthResponse("L", sid_edges(2, 1.0, 5.0), sums, torch.ones(2, dtype=torch.float64))
    assert response.near_silent().tolist() == [False, False, False, True, False]
    row = Dissection({"L": response}).summary().iloc[0]
    assert row["silent_share"] == pytest.approx(0.2)
    ds = response.selectivity  # 1, 0, 1, 1, 0
    assert row["mean_selectivity"] == pytest.approx(0.6)
    assert row["active_selectivity"] == pytest.approx(float(ds[[0, 1, 2, 4]].mean())) == pytest.approx(0.5)
