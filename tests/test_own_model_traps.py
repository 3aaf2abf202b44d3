"""The traps an own model found (issue 28): plots keyed by range, dead units, depth in millimetres, more bins than
units, token outputs: each gives the correct result or one clear error."""

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from mdeinterp import Objective, dissect, plots  # noqa: E402
from mdeinterp.errors import ConfigError, DataError, LayerOutputError  # noqa: E402
from mdeinterp.inference import evaluate  # noqa: E402
from mdeinterp.interventions import range_errors, range_groups  # noqa: E402
from mdeinterp.selectivity import DepthResponse, sid_edges  # noqa: E402


class Net(nn.Module):
    """Image -> 6-unit feature map 'enc' -> depth; unit 5 is dead (its weights 0, ReLU after)."""

    def __init__(self, units: int = 6):
        super().__init__()
        self.enc = nn.Sequential(nn.Conv2d(3, units, 3, padding=1), nn.ReLU())
        self.head = nn.Conv2d(units, 1, 1)
        with torch.no_grad():
            self.enc[0].weight[-1].zero_()
            self.enc[0].bias[-1] = -1.0

    def forward(self, x):
        return torch.nn.functional.softplus(self.head(self.enc(x))) + 1.0


class Tokens(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(3, 8)

    def forward(self, x):
        tokens = self.proj(x.flatten(2).transpose(1, 2))  # (B, N, C)
        return tokens.mean(-1).view(x.shape[0], 1, *x.shape[-2:]).abs() + 1.0


def data(n=4, scale=1.0):
    g = torch.Generator().manual_seed(0)
    return [{"image": torch.rand(3, 16, 16, generator=g), "depth": scale * (1.5 + 5 * torch.rand(1, 16, 16, generator=g))}
            for _ in range(n)]


def test_the_ablation_heatmap_keeps_a_range_without_pixels_in_its_own_column():
    rows = []
    for group in range(4):
        for r, (lo, hi) in enumerate([(0.0, 2.6), (2.6, 4.0), (4.0, 6.0), (6.0, 8.0)]):
            change = np.nan if r == 0 else (4.33 if r == group else 0.1 * r)  # range 0: no test pixels
            rows.append(dict(group=group, kind="selective", draw=0, range=r, range_lo=lo, range_hi=hi,
                             relative_change=change))
    fig = plots.ablation_depth_ranges(pd.DataFrame(rows))
    ax = fig.axes[0]
    texts = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts}
    assert texts[(0, 0)] == "no pixels"  # column 0 is 0-2.6 m, still there
    assert texts[(1, 1)] == "+433%" and texts[(1, 2)] == "+20.0%"  # group 1's own range under its own label
    assert [t.get_text() for t in ax.get_xticklabels()][0] == "0.0-2.6 m"
    assert fig.axes[1].yaxis.get_major_formatter()(0.5, 0) == "50%"  # the colour bar in % as the cells


def test_dead_units_have_no_ds_and_join_no_range_group():
    found = dissect(Net(), data(), ["enc"], num_bins=4, d_min=1.2, d_max=8.0, progress=False, warn_empty=False)
    response = found["enc"]
    dead = response.mean_response.abs().amax(dim=-1) == 0
    assert bool(dead[5]) and response.dead.tolist() == dead.tolist() and not dead.all()
    assert torch.isnan(response.selectivity[dead]).all() and torch.isfinite(response.selectivity[~dead]).all()
    grouped = torch.cat(list(range_groups(response, 2).values())).tolist()
    assert sorted(grouped) == [u for u in range(6) if not dead[u]]  # every live unit in a group, no dead one
    summary = found.summary()
    assert summary.loc[0, "dead_units"] == int(dead.sum())
    assert summary.loc[0, "mean_selectivity"] == pytest.approx(float(response.selectivity[~dead].mean()))


def test_depth_in_millimetres_is_refused_by_objective_evaluate_and_interventions():
    model = Net()
    batch = data(2, scale=1000.0)
    depth = torch.stack([b["depth"] for b in batch])
    objective = Objective("mff", alpha=0.1, layers=("enc",), num_bins=4, d_min=1.2, d_max=8.0)
    with objective.capture(model) as acts:
        pred = model(torch.stack([b["image"] for b in batch]))
    with pytest.raises(DataError, match=r"Objective: the true depth: no depth pixel lies in \(0, 8\] m .*millimetres"):
        objective(pred, depth, acts)
    with pytest.raises(DataError, match="evaluate: the dataset's depth: no depth pixel lies in"):
        evaluate(model, batch, d_max=8.0)
    with pytest.raises(DataError, match="range_errors: the data's depth: no depth pixel lies in"):
        range_errors(model, batch, sid_edges(4, 1.2, 8.0), 2)
    # metres pass
    assert np.isfinite(evaluate(model, data(2), d_max=8.0)["d1"])


def test_dissect_refuses_more_bins_than_units_like_objective():
    with pytest.raises(ConfigError, match=r"layer 'enc' has 6 units but num_bins=8 depth bins were asked for"):
        dissect(Net(), data(), ["enc"], num_bins=8, d_min=1.2, d_max=8.0, progress=False)


def test_a_token_output_names_its_layer():
    with pytest.raises(LayerOutputError, match=r"layer 'proj' returned shape \(1, 256, 8\); dissection needs feature maps"):
        dissect(Tokens(), data(1), ["proj"], num_bins=4, d_min=1.2, d_max=8.0, progress=False, batch_size=1)


def test_a_unit_with_zero_response_is_dead_only_when_every_bin_is_zero():
    response = DepthResponse("x", sid_edges(2, 1.0, 4.0), torch.tensor([[0.0, 0.0], [0.0, 1.0]]), torch.tensor([3.0, 3.0]))
    assert response.dead.tolist() == [True, False]


def test_a_token_output_names_its_layer_in_the_objective_too():
    objective = Objective("mff", alpha=0.1, layers=("proj",), num_bins=4, d_min=1.2, d_max=8.0)
    model = Tokens()
    image = torch.rand(2, 3, 8, 8)
    with objective.capture(model) as acts:
        pred = model(image)
    with pytest.raises(LayerOutputError, match=r"layer 'proj' returned shape \(2, 64, 8\); the selectivity term"):
        objective(pred, torch.full((2, 1, 8, 8), 3.0), acts)
