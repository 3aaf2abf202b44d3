import pytest
import torch
from torch import nn

from mdeinterp import dissection, interventions
from mdeinterp.errors import LayerNotFoundError
from mdeinterp.selectivity import DepthResponse, sid_edges


class DepthEcho(nn.Module):
    """Reads depth from image channel 0: unit 0 = depth, unit 1 = constant 1; predicts unit 0."""

    def __init__(self):
        super().__init__()
        self.feat = nn.Conv2d(3, 2, 1)
        with torch.no_grad():
            self.feat.weight.zero_()
            self.feat.weight[0, 0] = 1.0
            self.feat.bias.copy_(torch.tensor([0.0, 1.0]))

    def forward(self, image):
        return self.feat(image)[:, :1]


def _dataset(n=6, size=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    items = []
    for _ in range(n):
        depth = torch.rand(1, size, size, generator=g) * 9.3 + 0.6
        image = torch.cat([depth, torch.zeros(2, size, size)])
        items.append({"image": image, "depth": depth})
    return items


def test_dissect_equals_direct_accumulation_and_round_trips(tmp_path):
    model, data = DepthEcho(), _dataset()
    edges = sid_edges(8, 0.75, 10.0)
    result = dissection.dissect(model, data, ["feat"], edges, batch_size=4, progress=False)
    direct = DepthResponse.zeros(2, edges)
    for item in data:
        direct.update(model.feat(item["image"][None]).detach(), item["depth"][None])
    response = result["feat"]
    torch.testing.assert_close(response.sums, direct.sums, rtol=1e-12, atol=1e-12)
    # unit 0 echoes depth: its mean response in each bin lies inside that bin
    mean = response.mean_response[0]
    assert torch.all((mean > edges[:-1]) & (mean <= edges[1:]))
    # the constant unit responds 1 everywhere: selectivity 0; the depth unit prefers the last bin
    assert response.selectivity[1].item() == pytest.approx(0.0, abs=1e-12)
    assert response.preferred_bin[0].item() == 7
    table = result.table()
    assert list(table.columns[:5]) == ["layer", "unit", "preferred_bin", "preferred_lo_m", "preferred_hi_m"]
    assert table.loc[0, "preferred_hi_m"] == pytest.approx(10.0)
    loaded = dissection.Dissection.load(result.save(tmp_path / "d.h5"))
    reordered = dissection.Dissection({"z": response, "a": response})
    assert list(dissection.Dissection.load(reordered.save(tmp_path / "order.h5"))) == ["z", "a"]
    assert torch.equal(loaded["feat"].sums, response.sums) and torch.equal(loaded["feat"].edges, edges)


def test_dissect_unknown_layer_fails_before_work():
    with pytest.raises(LayerNotFoundError, match="closest names: feat"):
        dissection.dissect(DepthEcho(), _dataset(), ["fet"], progress=False)


def test_range_errors_ablation_and_correction():
    model, data = DepthEcho(), _dataset()
    edges = sid_edges(8, 0.75, 10.0)
    base = interventions.range_errors(model, data, edges, num_ranges=2)
    assert base["abs_rel"].tolist() == pytest.approx([0.0, 0.0], abs=1e-6)
    assert base["n_pixels"].sum() == 6 * 64
    ablated = interventions.range_errors(model, data, edges, 2,
                                    intervention=interventions.ablate(model, {"feat": [0]}))
    # prediction 0 is clamped to 1e-3: abs_rel = mean(1 - 1e-3 / d) close to 1
    assert ablated["abs_rel"].min() > 0.99
    # correcting unit 0 with its dissected bin means: prediction = mean depth of the pixel's bin
    response = dissection.dissect(model, data, ["feat"], edges, progress=False)["feat"]
    corrected = interventions.range_errors(model, data, edges, 2,
                                      intervention=interventions.correct(model, response, [0]))
    assert 0 < corrected["abs_rel"].max() < 0.1  # bins are narrow: within-bin error only


def test_bin_ranges_put_each_bin_inside_the_metric_range_built_from_its_edges():
    from mdeinterp.metrics import depth_ranges

    edges = sid_edges(10, 0.75, 10.0)
    ranges = depth_ranges(edges, 3)
    ids = interventions.bin_ranges(edges, ranges)
    assert ids.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 2]  # range r holds bins floor(10r/3) .. floor(10(r+1)/3) - 1
    for k in range(10):
        lo, hi = ranges[int(ids[k])]
        assert lo <= edges[k].item() and edges[k + 1].item() <= hi + 1e-12


def test_ablation_experiment_rows():
    model, data = DepthEcho(), _dataset()
    response = dissection.dissect(model, data, ["feat"], sid_edges(2, 0.75, 10.0), progress=False)["feat"]
    rows = interventions.ablation_experiment(model, data, response, num_ranges=2, random_draws=2)
    selective = rows[(rows.kind == "selective")]
    # both units prefer bin 1 (the far bin): one group, ablating both zeroes the prediction
    assert set(selective.group) == {1}
    assert (selective.relative_change > 1e3).all()  # abs_rel from ~0 to ~1
    assert len(rows[rows.kind == "random"]) == 2 * 2
