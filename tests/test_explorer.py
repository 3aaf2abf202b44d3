"""The unit explorer's callbacks and the unit-ablation module on a toy network with known answers.

The toy network's layer "feat" copies the image's three channels (units 0-2); the prediction is 2 m plus
unit 0's activation, so ablating unit 0 takes the prediction from 3 m to the true 2 m and ablating units
1 or 2 changes nothing.
"""

import matplotlib

matplotlib.use("Agg")

import pytest
import torch
from torch import nn

from mdeinterp import explorer, interventions
from mdeinterp.dissection import DepthResponse, Dissection
from mdeinterp.errors import ConfigError, LayerNotFoundError

EDGES = torch.tensor([0.5, 1.0, 2.5, 4.0, 8.0])  # 4 bins: the true depth 2 m lies in bin 1, range 1 of 4


class Toy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.feat = nn.Conv2d(3, 3, 1, bias=False)
        with torch.no_grad():
            self.feat.weight.copy_(torch.eye(3)[:, :, None, None])

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return 2.0 + self.feat(image)[:, :1]


def samples(count: int = 4) -> list[dict]:
    image = torch.ones(3, 4, 6)
    image[1] = torch.arange(6.0)  # unit 1 varies along x
    return [{"image": image * (i + 1) if i else image, "depth": torch.full((1, 4, 6), 2.0)} for i in range(count)]


def toy_run() -> explorer.ExplorerRun:
    # hand-made dissection: unit 0 fires in bin 1 only (DS 1), unit 1 in bins 1 and 3, unit 2 flat
    sums = torch.tensor([[0.0, 4.0, 0.0, 0.0], [0.0, 2.0, 0.0, 2.0], [1.0, 1.0, 1.0, 1.0]], dtype=torch.float64)
    response = DepthResponse("feat", EDGES, sums, torch.ones(4, dtype=torch.float64))
    data = samples()
    return explorer.ExplorerRun("toy", Toy(), Dissection({"feat": response}), data, data)


def test_unit_options_list_units_most_selective_first_with_their_preferred_range_in_metres():
    options = explorer.unit_options(toy_run(), "feat")
    assert [unit for _, unit in options] == [0, 1, 2]
    assert options[0][0] == "unit 0: DS 1.00, prefers 1.00–2.50 m"
    assert options[2][0].startswith("unit 2: DS 0.00")


def test_unit_summary_gives_preferred_and_assigned_bins():
    summary = explorer.unit_summary(toy_run(), "feat", 1)
    assert summary["preferred_bin"] == 1 and summary["preferred_m"] == pytest.approx((1.0, 2.5))
    assert summary["assigned_bin"] is None  # 3 units, 4 bins: no assignment
    assert summary["selectivity"] == pytest.approx((2 - 2 / 3) / (2 + 2 / 3))
    assert summary["range"] == 1 and summary["group_size"] == 2  # units 0 and 1 prefer range 1


def test_unit_maps_are_the_layers_activations_on_the_shown_images():
    run = toy_run()
    maps = explorer.unit_maps(run, "feat", 1)
    assert maps.shape == (4, 4, 6)
    assert maps[0, 0].tolist() == pytest.approx(list(range(6)))
    assert maps[2, 0].tolist() == pytest.approx([3.0 * x for x in range(6)])


def test_unit_ablation_gives_the_error_change_of_the_unit_and_its_group():
    run = toy_run()
    table = explorer.ablation_of_unit(run, "feat", 0)
    assert list(dict.fromkeys(table["ablated"])) == ["this unit", "its group (2 units)"]
    own = table[table["range_lo"] == 1.0]  # ranges of one bin each: 2 m is in range 1
    # before: |3 - 2| / 2 = 0.5 on image 0, (2 + k - 2) / 2 on image k; after: 0 everywhere
    assert own["abs_rel"].tolist() == pytest.approx([0.0, 0.0])
    assert own["relative_change"].tolist() == pytest.approx([-1.0, -1.0])
    assert explorer.ablation_of_unit(run, "feat", 0) is table  # cached
    unit_two = explorer.ablation_of_unit(run, "feat", 2)
    assert unit_two[(unit_two["ablated"] == "this unit") & (unit_two["range_lo"] == 1.0)]["relative_change"].item() == 0.0


def test_unit_figure_and_png():
    png = explorer.figure_png(explorer.unit_figure(toy_run(), "feat", 0))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_layer_and_unit_raise_with_what_exists():
    run = toy_run()
    with pytest.raises(LayerNotFoundError, match="no dissected layer 'D'.*\\['feat'\\]"):
        explorer.unit_options(run, "D")
    with pytest.raises(ConfigError, match="unit 3 is not a unit of layer 'feat', which has units 0–2"):
        explorer.unit_summary(run, "feat", 3)


def test_widget_redraws_the_figure_when_the_unit_changes():
    run = toy_run()
    box = explorer.widget({"toy": run})
    unit_box, output = box.children[1], box.children[2]
    first = output.outputs[0]["data"]["image/png"]
    assert unit_box.value == 0 and "mdeinterp-unit" in unit_box._dom_classes
    unit_box.value = 2
    assert output.outputs[0]["data"]["image/png"] != first
    assert len(output.outputs) == 1


def test_ablation_sizes_double_up_to_the_group():
    assert interventions.ablation_sizes(1) == [1]
    assert interventions.ablation_sizes(5) == [1, 2, 4, 5]
    assert interventions.ablation_sizes(8) == [1, 2, 4, 8]
    assert interventions.ablation_sizes(0) == []


def test_range_groups_hold_the_units_of_each_range_most_selective_first():
    groups = interventions.range_groups(toy_run().dissection["feat"], 4)
    assert {g: u.tolist() for g, u in groups.items()} == {0: [2], 1: [0, 1], 2: [], 3: []}


def test_ablation_by_size_rows_per_size_and_kind():
    run = toy_run()
    curve = interventions.ablation_by_size(run.model, run.evaluation, run.dissection["feat"], random_draws=2, batch_size=2)
    own = curve[(curve["group"] == 1) & (curve["range_lo"] == 1.0)]
    selective = own[own["kind"] == "selective"].set_index("units")["relative_change"]
    assert selective.to_dict() == pytest.approx({1: -1.0, 2: -1.0})  # unit 0 first, then 0 and 1
    assert sorted(own[own["kind"] == "random"]["units"].tolist()) == [1, 1, 2, 2]
    assert set(curve[curve["group"] == 0]["units"]) == {1}


def test_group_experiment_with_keep_uses_only_kept_units_on_both_sides(monkeypatch):
    """The controlled interventions: a left-out unit is in no group and never drawn at random."""
    import pandas as pd

    run = toy_run()
    response = run.dissection["feat"]
    keep = torch.ones(response.num_units, dtype=torch.bool)
    keep[0] = False  # unit 0 leads range 1's group in the paper's computation
    chosen = []
    table = pd.DataFrame({"range_lo": [0.0, 1.0], "range_hi": [1.0, 2.0], "abs_rel": [0.1, 0.1]})
    monkeypatch.setattr(interventions, "range_errors", lambda *a, **k: table)
    rows = interventions.group_experiment(run.model, run.evaluation, response, lambda units: chosen.append(
        units.tolist()), num_ranges=4, random_draws=20, keep=keep)
    assert {g: u.tolist() for g, u in interventions.range_groups(response, 4, keep=keep).items()} == {
        0: [2], 1: [1], 2: [], 3: []}
    assert 0 not in {u for units in chosen for u in units} and len(chosen) == 2 * 21
    assert set(rows["kind"]) == {"none", "selective", "random"}
    # without keep the random draws are those of the paper's computation (same generator, same units)
    plain = []
    interventions.group_experiment(run.model, run.evaluation, response, lambda units: plain.append(units.tolist()),
                                   num_ranges=4, random_draws=2)
    generator = torch.Generator().manual_seed(0)
    expected = [[2], *[torch.randperm(response.num_units, generator=generator)[:1].tolist() for _ in range(2)],
                [0, 1], *[torch.randperm(response.num_units, generator=generator)[:2].tolist() for _ in range(2)]]
    assert plain == expected
