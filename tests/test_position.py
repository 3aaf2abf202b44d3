"""The depth-or-position control: a unit that fires on the bottom rows gets index +1, one that fires at a depth
wherever it appears gets index 0 (mdeinterp.position)."""

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from mdeinterp import plots
from mdeinterp.dissection import dissect
from mdeinterp.position import POSITIONAL_INDEX, RowBand, describe_position, position_control


class Scenes(Dataset):
    """Depth 2 m on the bottom quarter of the rows and in a square at the image's top left; 5 m elsewhere."""

    def __len__(self):
        return 4

    def __getitem__(self, index):
        depth = torch.full((1, 16, 16), 5.0)
        depth[:, 12:] = 2.0
        depth[:, 1:5, 1:5] = 2.0
        return {"image": depth.expand(3, -1, -1).clone(), "depth": depth}


class TwoUnits(nn.Module):
    """Unit 0: fires on the bottom quarter of the rows (a position detector); unit 1: fires where depth is 2 m."""

    def __init__(self):
        super().__init__()
        self.features = nn.Identity()
        self.copy = nn.Identity()  # a second layer with the same units, for the shared-pass test

    def forward(self, image):
        near = (image[:, :1] < 3).float()
        rows = torch.zeros_like(near)
        rows[..., 12:, :] = 1.0
        return self.copy(self.features(torch.cat([rows, near], dim=1))).mean(1, keepdim=True) + 1


def test_row_band_keeps_only_the_chosen_rows_depth():
    sample = RowBand(Scenes(), 0.75, 1.0)[0]
    assert (sample["depth"][:, :12] == 0).all() and (sample["depth"][:, 12:] == 2.0).all()
    assert torch.equal(sample["image"], Scenes()[0]["image"])  # the network still sees the whole image
    with pytest.raises(ValueError, match="fractions of the image height"):
        RowBand(Scenes(), 0.5, 0.5)


def test_position_index_separates_a_row_detector_from_a_depth_detector():
    model, data = TwoUnits(), Scenes()
    full = dissect(model, data, ["features"], torch.tensor([0.0, 3.0, 6.0]), progress=False)
    assert full["features"].preferred_bin.tolist() == [0, 0]  # both look selective for the near bin
    table = position_control(model, data, full, bottom=0.25, min_pixels=1)
    index = table.set_index("unit")["position_index"]
    assert index[0] == pytest.approx(1.0)  # responds to 2 m only in the bottom rows
    assert index[1] == pytest.approx(0.0)  # responds to 2 m wherever it is
    assert table["pixels_bottom"].tolist() == [64 * 4, 64 * 4] and table["pixels_rest"].tolist() == [16 * 4, 16 * 4]
    # a part with too few pixels of the preferred bin gives no index
    assert position_control(model, data, full, min_pixels=10_000)["position_index"].isna().all()
    text = describe_position({"interpretable": table})
    assert text.startswith("- **interpretable features**: 1 of 2 measurable units (of 2) respond at least 5× more "
                           "strongly to their preferred depth in the bottom 25% of the rows than above them (median "
                           "index +0.50); of its 1 most selective units, ")
    assert POSITIONAL_INDEX == pytest.approx(2 / 3)
    fig = plots.position_control({"baseline": table, "interpretable": table})
    ax = fig.axes[0]
    assert len(ax.collections) == 2 and ax.get_title() == "layer features"
    points = ax.collections[1].get_offsets()
    assert sorted(points[:, 1].tolist()) == pytest.approx([0.0, 1.0])
    assert points[0, 0] == pytest.approx(1.5)  # the preferred bin's centre, (0 + 3) / 2 m


def test_layers_with_the_same_edges_share_one_pass_per_part(monkeypatch):
    import mdeinterp.position as position

    model, data = TwoUnits(), Scenes()
    full = dissect(model, data, ["features", "copy"], torch.tensor([0.0, 3.0, 6.0]), progress=False)
    calls = []
    monkeypatch.setattr(position, "dissect", lambda *args, **kw: calls.append(args[2]) or dissect(*args, **kw))
    table = position.position_control(model, data, full, min_pixels=1)
    assert calls == [["features", "copy"], ["features", "copy"]]  # bottom rows, then the rest
    assert table.groupby("layer")["position_index"].apply(list).to_dict() == {"copy": [1.0, 0.0],
                                                                               "features": [1.0, 0.0]}
    assert (table["bottom"] == 0.25).all()
    assert "in the bottom 25% of the rows" in describe_position({"x": table})
