"""Result tables built from hand-made run tables: summaries, tab_main, tab_layers, tab_models_datasets, sweeps."""

import pandas as pd
import pytest

from mdeinterp import tables


def test_summarise_mean_std_and_markdown(tmp_path):
    table = pd.DataFrame({"method": ["a", "a", "b"], "d1": [0.5, 0.7, 0.9]})
    summary = tables.summarise(table, ["method"], ["d1"])
    assert summary["d1_mean"].tolist() == pytest.approx([0.6, 0.9])
    assert summary["d1_std"].tolist() == pytest.approx([0.1414213, 0.0])  # sample std; one seed -> 0
    assert summary["seeds"].tolist() == [2, 1]
    csv, md = tables.write_table(summary, tmp_path / "tab_x")
    assert md.read_text().splitlines()[:3] == ["| method | δ<1.25 | seeds |", "|---|---|---|",
                                                 "| a | 0.600 ± 0.141 | 2 |"]
    assert md.read_text().splitlines()[3] == "| b | 0.9 | 1 |"  # one seed: no "± 0"
    assert pd.read_csv(csv)["d1_mean"].tolist() == pytest.approx([0.6, 0.9])

def run_tables():
    metrics = pd.DataFrame([
        dict(name="base_s0", model="m", data="indoor", method="baseline", layers="", seed=0, d1=0.5, abs_rel=0.3),
        dict(name="interp_s0", model="m", data="indoor", method="interpretable", layers="D+MFF", seed=0, d1=0.6, abs_rel=0.2),
        dict(name="layer_D_s0", model="m", data="indoor", method="interpretable", layers="D", seed=0, d1=0.4, abs_rel=0.4),
    ])
    sel = pd.DataFrame([
        dict(name=n, layer=l, mean_selectivity=v, near_assigned=v / 2, bins=32, assigned=a)
        for n, l, v, a in [("base_s0", "D", 0.2, False), ("base_s0", "MFF", 0.1, False),
                           ("interp_s0", "D", 0.6, True), ("interp_s0", "MFF", 0.4, True),
                           ("layer_D_s0", "D", 0.8, True), ("layer_D_s0", "MFF", 0.1, False)]
    ])
    return metrics, sel

def test_main_table_has_selectivity_per_layer():
    metrics, sel = run_tables()
    metrics = metrics.assign(sel_D=0.01)  # the training objective's term, not part of the table
    table = tables.main_table(metrics[metrics["name"] != "layer_D_s0"], sel)
    assert table["DS_D_mean"].tolist() == pytest.approx([0.2, 0.6])
    assert table["DS_MFF_mean"].tolist() == pytest.approx([0.1, 0.4])
    assert not any(c.startswith("sel_") for c in table)

def test_layer_table_compares_assigned_layers_only():
    metrics, sel = run_tables()
    table = tables.layer_table(metrics, sel).set_index(["assigned_layers", "method"])
    assert table.loc[("D", "baseline"), "mean_selectivity"] == pytest.approx(0.2)
    assert table.loc[("D", "interpretable"), "mean_selectivity"] == pytest.approx(0.8)
    assert table.loc[("D+MFF", "baseline"), "mean_selectivity"] == pytest.approx(0.15)
    assert table.loc[("D+MFF", "interpretable"), "d1"] == pytest.approx(0.6)

def test_models_data_table_and_sweep_table():
    metrics, sel = run_tables()
    acc = metrics[metrics["name"] != "layer_D_s0"].assign(setting="main")
    table = tables.models_data_table(acc, sel.assign(setting="main"))
    assert table["sel_assigned_mean"].tolist() == pytest.approx([0.15, 0.5])  # mean over D and MFF
    sweep = tables.sweep_table(metrics, sel).set_index("name")
    assert sweep.loc["layer_D_s0", "mean_selectivity"] == pytest.approx(0.45)
    assert sweep.loc["interp_s0", "bins"] == 32


def test_describe_sweep_states_schedule_ends_and_best_point():
    sweep = pd.DataFrame({"alpha": [0.0, 0.1, 1.0], "step": [1000] * 3, "d1": [0.80, 0.82, 0.79],
                          "abs_rel": [0.15, 0.14, 0.16], "mean_selectivity": [0.5, 0.6, 0.7],
                          "near_assigned": [0.1, 0.5, 0.8], "chance_near": [0.15] * 3})
    text = tables.describe_sweep(sweep, "alpha")
    assert text.startswith("3 runs of 1,000 steps each, one seed")
    assert "From α = 0 to 1: δ1 0.800 → 0.790, AbsRel 0.150 → 0.160, mean DS of the assigned layers 0.500 → 0.700" in text
    assert "units near their assigned bin 10% (chance 15%) → 80% (chance 15%)" in text and text.endswith("The best δ1 is at α = 0.1 (0.820).")
    assert tables.describe_sweep(sweep.iloc[:0], "bins") == "No bins sweep runs at this scale."


def test_models_data_table_has_a_completion_row_by_default_and_keeps_other_settings_out():
    metrics, sel = run_tables()
    main_acc, main_sel = metrics[metrics["name"] != "layer_D_s0"].assign(setting="main"), sel.assign(setting="main")
    completion_acc = pd.DataFrame([
        dict(name=f"completion_{m}_s0", model="cspn_tiny", data="indoor", method=method, layers=layers, seed=0, d1=d1,
             abs_rel=0.1) for m, method, layers, d1 in (("base", "baseline", "", 0.9), ("interp", "interpretable",
                                                                                      "layer3+layer4", 0.92))])
    completion_sel = pd.DataFrame([
        dict(name=name, layer=layer, mean_selectivity=v, near_assigned=0.1, bins=32, assigned=a)
        for name, layer, v, a in [("completion_base_s0", "layer3", 0.3, False), ("completion_base_s0", "layer4", 0.5, False),
                                  ("completion_interp_s0", "layer3", 0.6, True),
                                  ("completion_interp_s0", "layer4", 0.7, True)]]).assign(setting="completion")
    other = main_acc.assign(setting="layer:D")  # a setting tab_layers shows, not this table
    acc = pd.concat([main_acc, completion_acc.assign(setting="completion"), other])
    table = tables.models_data_table(acc, pd.concat([main_sel, completion_sel, main_sel.assign(setting="layer:D")]))
    assert list(zip(table["setting"], table["method"])) == [("main", "baseline"), ("main", "interpretable"),
                                                           ("completion", "baseline"), ("completion", "interpretable")]
    completion = table[table["setting"] == "completion"]
    assert completion["model"].tolist() == ["cspn_tiny", "cspn_tiny"]
    assert completion["sel_assigned_mean"].tolist() == pytest.approx([0.4, 0.65])  # mean over layer3 and layer4
    assert completion["d1_mean"].tolist() == pytest.approx([0.9, 0.92])


def test_summary_columns_pair_mean_and_std_and_keep_the_rest():
    table = pd.DataFrame(columns=["method", "d1_mean", "d1_std", "x_std", "seeds"])
    assert tables.summary_columns(table) == ["method", "d1", "x_std", "seeds"]


def test_noise_table_summarises_seeds_and_skips_split_half_columns_it_lacks():
    labels = dict(model="m", data="indoor", layers="", layer="D", bins=32)
    sel = pd.DataFrame([dict(labels, method="baseline", mean_selectivity=v, near_assigned=0.1, selectivity_spread=s)
                        for v, s in ((0.4, 0.02), (0.6, 0.04))])
    chance = pd.DataFrame([dict(labels, method="random init", mean_selectivity=0.5, near_assigned=0.2,
                                selectivity_spread=0.01)])
    table = tables.noise_table(sel, chance).set_index("method")
    assert table.loc["baseline", "mean_selectivity_mean"] == pytest.approx(0.5)
    assert table.loc["baseline", "selectivity_spread_mean"] == pytest.approx(0.03)
    assert table.loc["random init", "seeds"] == 1 and "filled_selectivity_mean" not in table


def test_tab_range_accuracy_per_setting_method_and_range():
    ranges = pd.DataFrame({"setting": ["main"] * 6 + ["bts"] * 2, "method": ["baseline"] * 4 + ["interp"] * 2 + ["baseline"] * 2,
                           "seed": [0, 0, 1, 1, 0, 0, 0, 0], "range_lo": [0.0, 1.79] * 4, "range_hi": [1.79, 8.0] * 4,
                           "share": [0.3, 0.7] * 4, "d1": [0.5, 0.9, 0.7, 0.8, 0.8, 0.95, 0.6, 0.9],
                           "abs_rel": [0.3, 0.1, 0.1, 0.1, 0.2, 0.05, 0.2, 0.1]})
    table = tables.tab_range_accuracy(ranges)
    assert list(table["setting"]) == ["main"] * 4 + ["bts"] * 2
    assert list(table["range"][:2]) == ["0–1.79 m", "1.79–8 m"]
    assert table["d1_mean"].tolist() == pytest.approx([0.6, 0.85, 0.8, 0.95, 0.6, 0.9])
    assert table["d1_std"].iloc[0] == pytest.approx(0.1414213562) and table["d1_std"].iloc[2] == 0
    assert table["abs_rel_mean"].iloc[0] == pytest.approx(0.2) and list(table["seeds"]) == [2, 2, 1, 1, 1, 1]
    with pytest.raises(tables.DataError, match="needs the columns share"):
        tables.tab_range_accuracy(ranges.drop(columns="share"))


def test_range_goals_per_setting_with_the_overall_goal_of_the_main_baseline():
    import pandas as pd

    from mdeinterp import tables

    ranges = pd.DataFrame({"setting": ["main"] * 4 + ["bts"] * 2 + ["main"] * 2,
                           "method": ["baseline"] * 6 + ["interpretable"] * 2, "seed": [0, 1, 0, 1, 0, 0, 0, 0],
                           "range_lo": [0, 0, 2, 2, 0, 2, 0, 2], "range_hi": [2, 2, 8, 8, 2, 8, 2, 8],
                           "share": [0.1, 0.1, 0.9, 0.9, 0.2, 0.8, 0.1, 0.9],
                           "d1": [0.70, 0.76, 0.9, 0.92, 0.59, 0.8, 0.99, 0.99]})
    accuracy = pd.DataFrame({"setting": ["main", "main", "main", "bts"], "method": ["baseline"] * 2 + ["interpretable", "baseline"],
                             "d1": [0.86, 0.85, 0.99, 0.8]})
    goals = tables.range_goals(ranges, accuracy)
    assert goals["range"].tolist() == ["0–2 m", "2–8 m", "overall", "0–2 m", "2–8 m"]
    assert goals["d1"].tolist() == pytest.approx([0.73, 0.91, 0.855, 0.59, 0.8])
    assert goals["d1_weakest_seed"].tolist() == pytest.approx([0.70, 0.9, 0.85, 0.59, 0.8])
    assert goals["goal"].tolist() == [0.75, 0.75, 0.85, 0.6, 0.6]
    assert goals["met"].tolist() == [False, True, True, False, True]
    assert tables.describe_range_goals(goals) == (
        "The baselines meet 3 of 5 accuracy goals; missed: main 0–2 m (δ1 0.730 against 0.75, 10% of the test "
        "pixels); bts 0–2 m (δ1 0.590 against 0.6, 20% of the test pixels).")
