"""The frictions a new user met putting their own depth network through the package (issue 19), one test each.

Every test here failed (or gave a wrong number silently) before its fix.
"""

import warnings

import matplotlib

matplotlib.use("Agg")

import pandas as pd
import pytest
import torch
from torch import nn

from mdeinterp import claims, dissection, hooks, inference, interventions, plots
from mdeinterp.data import transforms
from mdeinterp.errors import ConfigError, EmptyBinWarning, LayerOutputError
from mdeinterp.metrics import depth_ranges
from mdeinterp.objective import Objective
from mdeinterp.selectivity import sid_edges


class TwoLayers(nn.Module):
    """Depth from image channel 0: ``a`` (4 units) and ``b`` (6 units) both echo it, the head predicts it."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 4, 1)
        self.b = nn.Conv2d(4, 6, 1)
        with torch.no_grad():
            for conv in (self.a, self.b):
                conv.weight.zero_()
                conv.weight[:, 0] = 1.0
                conv.bias.zero_()

    def forward(self, image):
        return self.b(self.a(image))[:, :1] / 4


def scenes(n=4, size=8, lo=0.8, hi=8.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    items = []
    for _ in range(n):
        depth = torch.rand(1, size, size, generator=g) * (hi - lo) + lo
        items.append({"image": torch.cat([depth, torch.zeros(2, size, size)]), "depth": depth})
    return items


class RangedScenes(torch.utils.data.Dataset):
    """A dataset that declares its depth range, as the package's datasets do (``config.d_min``/``d_max``)."""

    d_min, d_max = 1.2, 8.0

    def __init__(self):
        self.items = scenes()

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        return self.items[index]


# ---- 1: dissect takes the SID range from the data, or requires it, and warns on empty bins ------------


def test_dissect_requires_a_range_instead_of_a_silent_default():
    with pytest.raises(ConfigError, match="d_min"):
        dissection.dissect(TwoLayers(), scenes(), ["a"], progress=False)


def test_dissect_takes_the_range_the_dataset_declares():
    data = RangedScenes()
    assert dissection.data_range(torch.utils.data.Subset(data, [0, 1])) == (1.2, 8.0)
    result = dissection.dissect(TwoLayers(), data, ["a"], num_bins=4, progress=False)
    torch.testing.assert_close(result["a"].edges, sid_edges(4, 1.2, 8.0))


def test_dissect_warns_when_the_range_leaves_bins_empty():
    with pytest.warns(EmptyBinWarning, match=r"layer 'a': 1 of 4 SID bins"):
        # depths 0.8-8 m in bins over 0.75-10 m: the first bin, (0, 0.75], is empty
        dissection.dissect(TwoLayers(), scenes(), ["a"], num_bins=4, d_min=0.75, d_max=10.0, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dissection.dissect(TwoLayers(), scenes(), ["a"], num_bins=4, d_min=1.2, d_max=8.0, progress=False)


# ---- 4: plots.save keeps dots in the stem ------------------------------------------------------------


def test_save_keeps_dotted_stems(tmp_path):
    import matplotlib.pyplot as plt

    png, pdf = plots.save(plt.figure(), tmp_path / "probe_decoder.dec2")
    plots.save(plt.figure(), tmp_path / "probe_decoder.dec3")
    assert png.name == "probe_decoder.dec2.png" and pdf.name == "probe_decoder.dec2.pdf"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "probe_decoder.dec2.pdf", "probe_decoder.dec2.png", "probe_decoder.dec3.pdf", "probe_decoder.dec3.png"]


# ---- 5: selectivity_distribution draws a Dissection.table() -------------------------------------------


def test_selectivity_distribution_takes_a_dissection_table():
    table = dissection.dissect(TwoLayers(), scenes(), ["a", "b"], num_bins=4, d_min=1.2, d_max=8.0,
                             progress=False).table()
    fig = plots.selectivity_distribution(table)
    heights = [sum(p.get_height() for p in ax.patches) for ax in fig.axes]
    assert heights == pytest.approx([1.0, 1.0])  # one histogram of unit shares per layer panel


# ---- 6 and 7: ablation rows carry `range`; ranges in metres shared by layers of different K ------------


def test_ablation_rows_have_a_range_column_and_share_metre_ranges_across_layers():
    model, data = TwoLayers(), scenes()
    found = dissection.dissect(model, data, ["a", "b"], num_bins=None, d_min=1.2, d_max=8.0, progress=False)
    assert (found["a"].num_bins, found["b"].num_bins) == (4, 6)
    ranges = depth_ranges(found["a"].edges, 2)
    rows = pd.concat([interventions.ablation_experiment(model, data, found[layer], ranges=ranges, random_draws=1)
                      .assign(layer=layer) for layer in ("a", "b")], ignore_index=True)
    assert "range" in rows and sorted(rows["range"].unique()) == [0, 1]
    per_layer = rows.groupby("layer")[["range_lo", "range_hi"]].agg(lambda v: tuple(sorted(set(v))))
    assert per_layer.loc["a"].tolist() == per_layer.loc["b"].tolist()  # the same metres for both layers
    assert rows.loc[rows["range"] == 1, "range_lo"].unique().tolist() == [pytest.approx(ranges[1][0])]


def test_units_are_grouped_by_the_centre_of_their_preferred_bin():
    ranges = [(0.0, 3.0), (3.0, 8.0)]
    edges = torch.tensor([0.0, 1.0, 2.9, 3.2, 8.0], dtype=torch.float64)  # centres 0.5, 1.95, 3.05, 5.6
    assert interventions.bin_ranges(edges, ranges).tolist() == [0, 0, 1, 1]
    assert interventions.bin_ranges(torch.tensor([0.0, 1.0, 9.0, 10.0]), ranges).tolist() == [0, 1, -1]  # centres 0.5, 5, 9.5
    same = sid_edges(8, 0.75, 10.0)  # ranges cut from the same edges: bins floor(8r/3) .. floor(8(r+1)/3) - 1
    assert interventions.bin_ranges(same, depth_ranges(same, 3)).tolist() == [0, 0, 1, 1, 1, 2, 2, 2]


def test_own_range_change_reads_each_layers_range_index():
    """Two layers whose ranges end at slightly different metres: ranking range_lo over both mixed them up."""
    rows = []
    for layer, shift in (("a", 0.0), ("b", 0.01)):
        for group in (0, 1):
            for evaluated in (0, 1):
                change = 0.9 if group == evaluated else 0.1
                rows.append({"layer": layer, "group": group, "kind": "selective", "draw": 0, "range": evaluated,
                             "range_lo": [0.0, 3.0 + shift][evaluated], "relative_change": change})
    table = pd.DataFrame(rows)
    assert claims.own_range_change(table)["selective"] == pytest.approx(0.9)
    assert claims.own_range_share(table) == (pytest.approx(1.0), 4)


# ---- 8: a layer output that is not a tensor -----------------------------------------------------------


class ListOut(nn.Module):
    def forward(self, x):
        return [x, x]


class WithList(nn.Module):
    def __init__(self):
        super().__init__()
        self.pair = ListOut()

    def forward(self, image):
        return self.pair(image)[0][:, :1]


def test_non_tensor_layer_output_names_the_layer_and_the_type():
    with pytest.raises(LayerOutputError, match=r"layer 'pair' \(ListOut\) returned a list, expected a tensor"):
        dissection.dissect(WithList(), scenes(), ["pair"], d_min=1.2, d_max=8.0, progress=False)
    model = WithList()
    with pytest.raises(LayerOutputError, match="pair"), hooks.ablate(model, {"pair": [0]}):
        model(torch.zeros(1, 3, 4, 4))


# ---- 9: correction and its figure take a dataset sample -----------------------------------------------


def test_correction_takes_a_sample_like_activation_maps():
    model, data = TwoLayers(), scenes()
    response = dissection.dissect(model, data, ["a"], num_bins=4, d_min=1.2, d_max=8.0, progress=False)["a"]
    sample = {**data[0], "focal": 500.0}
    maps = interventions.correction_maps(model, sample, response, [0, 1])
    batch = {"image": data[0]["image"][None], "depth": data[0]["depth"][None]}
    (expected, _), = inference.predict_depth(model, [batch], batch_size=None,
                                            intervention=interventions.correct(model, response, [0, 1]))
    torch.testing.assert_close(maps["pred_after"], expected[0, 0])
    assert maps["depth"].shape == maps["pred_before"].shape == (8, 8)
    assert not torch.equal(maps["pred_after"], maps["pred_before"])  # the correction changed the prediction
    assert transforms.as_batch(sample)["focal"].tolist() == [500.0]
    fig = plots.error_correction(**maps)
    assert len(fig.axes) >= 4


# ---- 10: an objective with alpha > 0 and no layer -----------------------------------------------------


def test_objective_refuses_alpha_without_layers():
    with pytest.raises(ConfigError, match="no layer is assigned"):
        Objective("mff", 0.1, [], d_min=1.2, d_max=8.0)
    assert Objective("mff", 0.0, [], d_min=1.2, d_max=8.0).layers == ()


# ---- 11: an intervention that is a context manager, not a function returning one -----------------------


def test_range_errors_explains_what_an_intervention_is():
    model, data = TwoLayers(), scenes()
    edges = sid_edges(4, 1.2, 8.0)
    with pytest.raises(ConfigError, match="function batch -> context manager"):
        interventions.range_errors(model, data, edges, 2, intervention=hooks.ablate(model, {"a": [0]}))
    with pytest.raises(ConfigError, match="expected a context manager"):
        interventions.range_errors(model, data, edges, 2, intervention=lambda batch: None)
    ablated = interventions.range_errors(model, data, edges, 2,
                                    intervention=lambda batch: hooks.ablate(model, {"a": [0, 1, 2, 3]}))
    assert ablated["range"].tolist() == [0, 1]
    assert (ablated["abs_rel"] > 0.99).all()  # every unit zeroed: the prediction is 0 (clamped to 1e-3 m)
