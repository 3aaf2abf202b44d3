"""The position control: DS within horizontal image bands measures every unit and tells a row code from a depth
code (issue 29), validated on synthetic units whose answer is known."""

import pytest
import torch

from mdeinterp.selectivity import (
    EPS,
    DepthResponse,
    band_sums,
    bin_sums,
    controlled_selectivity,
    position_coded,
    selectivity_index,
    sid_edges,
)

B, H, W = 64, 48, 64


@pytest.fixture(scope="module")
def scene():
    """Depth tied to row (a floor: near at the bottom) but not identical: a per-image scale and pixel noise."""
    g = torch.Generator().manual_seed(0)
    rows = torch.arange(H, dtype=torch.float64).view(1, H, 1).expand(B, H, W)
    scale = 0.6 * (1.0 + 2 * torch.rand(B, 1, 1, generator=g, dtype=torch.float64))
    depth = ((1.5 + 6 * (1 - rows / H)) * scale + 0.5 * torch.rand(B, H, W, generator=g, dtype=torch.float64))
    edges = sid_edges(8, 1.2, 8.0)
    bins = torch.bucketize(depth, edges) - 1
    units = torch.stack([
        (rows >= H * 3 / 4).double(),  # a pure row code: fires on the bottom band only
        (bins == 4).double(),  # a pure depth code: fires in one depth bin, wherever it is in the image
        torch.exp(-depth),  # a graded depth code
    ], 1)
    return units, depth.unsqueeze(1), edges


def test_a_pure_row_code_has_high_ds_and_controlled_ds_zero(scene):
    units, depth, edges = scene
    sums, counts = bin_sums(units, depth, edges)
    ds = selectivity_index(sums / (counts + EPS))
    controlled = controlled_selectivity(*band_sums(units, depth, edges, 4), min_pixels=200)
    assert float(ds[0]) > 0.25 and float(controlled[0]) == pytest.approx(0.0, abs=1e-9)
    assert bool(position_coded(ds, controlled)[0])


def test_a_pure_depth_code_keeps_its_selectivity_in_every_band(scene):
    units, depth, edges = scene
    sums, counts = bin_sums(units, depth, edges)
    ds = selectivity_index(sums / (counts + EPS))
    controlled = controlled_selectivity(*band_sums(units, depth, edges, 4), min_pixels=200)
    assert float(ds[1]) == pytest.approx(1.0) and float(controlled[1]) == pytest.approx(1.0)
    assert float(controlled[2]) > 0.5 and abs(float(controlled[2]) - float(ds[2])) < 0.1
    assert not position_coded(ds, controlled)[1:].any()


def test_band_sums_equal_a_loop_over_bands(scene):
    units, depth, edges = scene
    sums, counts = band_sums(units, depth, edges, 4)
    for r in range(4):
        rows = slice(r * H // 4, (r + 1) * H // 4)
        masked = depth.clone()
        masked[..., [i for i in range(H) if not rows.start <= i < rows.stop], :] = 0  # other bands invalid
        s, c = bin_sums(units, masked, edges)
        torch.testing.assert_close(sums[:, r], s)
        torch.testing.assert_close(counts[r], c)


def test_no_band_with_two_bins_gives_nan():
    sums = torch.ones(2, 3, 4, dtype=torch.float64)
    counts = torch.zeros(3, 4, dtype=torch.float64)
    counts[:, 0] = 1000  # one bin per band only
    assert torch.isnan(controlled_selectivity(sums, counts)).all()


def test_a_dissection_within_bands_adds_saves_and_reports_the_control(scene, tmp_path):
    from mdeinterp.dissection import Dissection

    units, depth, edges = scene
    half_a = DepthResponse.zeros(3, edges, layer="x", bands=4).update(units[:32].float(), depth[:32])
    half_b = DepthResponse.zeros(3, edges, layer="x", bands=4).update(units[32:].float(), depth[32:])
    whole = half_a + half_b
    full = DepthResponse.zeros(3, edges, layer="x", bands=4).update(units.float(), depth)
    torch.testing.assert_close(whole.band_sums, full.band_sums)
    path = Dissection({"x": whole}).save(tmp_path / "d.h5")
    loaded = Dissection.load(path)["x"]
    torch.testing.assert_close(loaded.band_counts, whole.band_counts)
    table = loaded.table()
    assert {"ds_controlled", "dead", "near_silent", "position_coded"} <= set(table.columns)
    summary = Dissection({"x": loaded}).summary().iloc[0]
    assert summary["position_coded_share"] == pytest.approx(1 / 3)


def test_top_units_clean_puts_row_codes_last_and_clean_masks_them(scene):
    """The showcase helpers (notebook 02's figures, the explorer's first unit) rank clean units first."""
    from mdeinterp.dissection import top_units

    units, depth, edges = scene
    sums, counts = bin_sums(units, depth, edges)
    bands, band_counts = band_sums(units, depth, edges, 4)
    response = DepthResponse("L", edges, sums, counts, bands, band_counts)
    ds = response.selectivity
    assert response.clean().tolist() == [False, True, True]  # the row code is flagged
    raw = top_units(response, 3)
    assert raw == sorted(range(3), key=lambda u: -float(ds[u]))
    assert top_units(response, 3, clean=True) == [u for u in raw if u != 0] + [0]
    assert top_units(response, 1, clean=True) == [1]
    plain = DepthResponse("L", edges, sums, counts)  # dissected before the control: every unit counts as clean
    assert plain.clean() is None and top_units(plain, 3, clean=True) == raw
