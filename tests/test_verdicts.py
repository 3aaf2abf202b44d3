"""Verdict inputs beyond the paper's thresholds, on hand-made tables: C5's per-setting margins against the MFF
seeds' spread, C4's per-seed reversals, C6's range groups won, notebook 07's claims in "what did not reproduce",
and the margins figure's table read from the claims."""

import json

import pandas as pd
import pytest

from mdeinterp import claims
from mdeinterp.verdicts import fails_within_noise, state


def selectivity_rows(setting, layers, interp, base, near_interp=0.5, near_base=0.1):
    """One row per run x layer: ``interp[seed][layer]`` / ``base[seed][layer]`` are the mean DS of each seed."""
    rows = []
    for seed, (i, b) in enumerate(zip(interp, base)):
        for layer in layers:
            common = dict(setting=setting, seed=seed, layer=layer, chance_near=0.15)
            rows.append(dict(common, name=f"{setting}_interp_s{seed}", method="interpretable",
                             mean_selectivity=i[layer], near_assigned=near_interp, assigned=True))
            rows.append(dict(common, name=f"{setting}_base_s{seed}", method="baseline",
                             mean_selectivity=b[layer], near_assigned=near_base, assigned=False))
    return pd.DataFrame(rows)


def accuracy_rows(setting, d1_interp, d1_base, abs_rel=0.2):
    rows = []
    for seed, (i, b) in enumerate(zip(d1_interp, d1_base)):
        rows.append(dict(setting=setting, name=f"{setting}_interp_s{seed}", method="interpretable", seed=seed, d1=i,
                         abs_rel=abs_rel))
        rows.append(dict(setting=setting, name=f"{setting}_base_s{seed}", method="baseline", seed=seed, d1=b,
                         abs_rel=abs_rel))
    return pd.DataFrame(rows)


def c5_tables():
    # main: D rises by 0.31 in each seed (spread 0); MFF by 0.25, 0.30, 0.35 (spread 0.05): the widest is 0.05
    main = selectivity_rows("main", ("D", "MFF"), [{"D": 0.61, "MFF": 0.55}, {"D": 0.61, "MFF": 0.6},
                                                   {"D": 0.61, "MFF": 0.65}], [{"D": 0.3, "MFF": 0.3}] * 3)
    # completion, one seed: layer3 rises by 0.20 (+0.10 over C2's 0.10), layer4 by 0.12 (+0.02 < 0.05: marginal)
    completion = selectivity_rows("completion", ("layer3", "layer4"), [{"layer3": 0.5, "layer4": 0.42}],
                                  [{"layer3": 0.3, "layer4": 0.3}])
    sel = pd.concat([main, completion], ignore_index=True)
    acc = pd.concat([accuracy_rows("main", [0.81, 0.82, 0.83], [0.80, 0.80, 0.80]),
                     accuracy_rows("completion", [0.85], [0.80])], ignore_index=True)
    return sel, acc


def test_c5_margins_per_setting_and_layer_are_judged_by_the_main_seeds_spread():
    sel, acc = c5_tables()
    assert claims.main_spreads(sel, acc) == pytest.approx({"ds_rise": 0.05, "d1": 0.01})
    claim = claims.REGISTRY["C5"].measure({"selectivity": sel, "accuracy": acc})
    assert claim.holds  # both layers rise by >= 0.10: the paper's computation passes
    assert claim.margins["completion layer3 DS rise vs threshold"] == pytest.approx(0.10)
    assert claim.margins["completion layer4 DS rise vs threshold"] == pytest.approx(0.02)
    assert claim.margins["completion δ1 vs threshold"] == pytest.approx(0.06)  # 0.85 - (0.80 - 0.01)
    assert claim.spreads["completion layer4 DS rise vs threshold"] == pytest.approx(0.05)
    assert claim.marginal_margins == ["completion layer4 DS rise vs threshold"] and claim.marginal
    statistics = claim.measured["statistics"]["completion"]
    assert statistics["ds_rise"] == pytest.approx({"layer3": 0.2, "layer4": 0.12})
    assert statistics["d1_change"] == pytest.approx(0.05)
    # converged, the verdict is "marginal", and its words name the layer and its margin
    claim.state = state(claim.holds, True, claim.marginal, True)
    assert claim.state == "marginal"
    assert ("C5, the method applies to other layers, models, data and tasks: **marginal** (completion layer4 DS rise "
            "vs threshold +0.02 (seed spread 0.05))") in claims.not_reproduced([claim])


def test_c5_judges_a_setting_with_seeds_by_its_own_spread():
    sel, acc = c5_tables()
    # bts with two seeds: rises 0.16 and 0.20 (std 0.028): its +0.08 margin is outside its own spread
    bts = selectivity_rows("bts", ("up2",), [{"up2": 0.46}, {"up2": 0.5}], [{"up2": 0.3}] * 2)
    claim = claims.c5_applicability(pd.concat([sel, bts]), pd.concat([acc, accuracy_rows("bts", [0.8] * 2, [0.8] * 2)]),
                                    ["bts"])
    assert claim.spreads["bts up2 DS rise vs threshold"] == pytest.approx(0.04 / 2 ** 0.5)
    assert claim.marginal_margins == []


def ablation_rows(own_by_run):
    """Selective groups 0 and 1 of layer D, two ranges: each run's own-range change per group; the other range's
    error falls by 30%, so the own range always changes most (C4's share is 100%)."""
    rows = []
    for run, own in own_by_run.items():
        for group in (0, 1):
            for r in (0, 1):
                rows.append(dict(name=run, layer="D", group=group, kind="selective", draw=0, range_lo=float(r),
                                 relative_change=own[group] if r == group else -0.3))
                rows.append(dict(name=run, layer="D", group=group, kind="random", draw=0, range_lo=float(r),
                                 relative_change=0.02))
    return pd.DataFrame(rows)


def test_c4_lists_the_runs_where_ablation_lowers_the_own_range_error_and_is_at_best_marginal():
    table = ablation_rows({"interp_s0": (0.5, 0.4), "interp_s1": (-0.091, 0.4), "interp_s2": (-0.128, 0.6)})
    claim = claims.c4_ablation_reliable(table)
    # the paper's computation holds (every group changes its own range most, by more than random units on average),
    # yet in seeds 1 and 2 ablating the near range's units lowers that range's error
    assert claim.holds and claim.measured["own_range_share"] == 1.0
    assert claim.measured["reversals"] == [
        {"run": "interp_s1", "seed": None, "layer": "D", "range": 0, "value": pytest.approx(-0.091)},
        {"run": "interp_s2", "seed": None, "layer": "D", "range": 0, "value": pytest.approx(-0.128)}]
    assert claim.marginal and claim.marginal_reasons == [
        "ablating its selective units lowers a range's own error in 2 cases (interp_s1 D range 0 -9.1%, "
        "interp_s2 D range 0 -13%)"]
    assert state(True, True, claim.marginal, True) == "marginal"  # even with every margin and control passing


def test_c4_without_reversals_is_not_made_marginal():
    claim = claims.c4_ablation_reliable(ablation_rows({"interp_s0": (0.5, 0.4), "interp_s1": (0.3, 0.4)}))
    assert claim.holds and claim.measured["reversals"] == [] and claim.marginal_reasons == []
    assert not claim.marginal


def test_c4_reversals_name_the_seed_when_the_table_has_one():
    table = ablation_rows({"interp_s0": (0.5, 0.4), "interp_s1": (-0.2, 0.4)})
    table["seed"] = table["name"].str[-1].astype(int)
    claim = claims.c4_ablation_reliable(table)
    assert [(r["seed"], r["range"]) for r in claim.measured["reversals"]] == [(1, 0)]


def correction_rows(selective, random):
    """Groups 0..3 of one layer: each group's own-range change for selective and random units (< 0: error removed)."""
    rows = []
    for group in range(4):
        for r in range(4):
            rows.append(dict(group=group, kind="selective", draw=0, range_lo=float(r),
                             relative_change=selective[group] if r == group else 0.0))
            rows.append(dict(group=group, kind="random", draw=0, range_lo=float(r),
                             relative_change=random[group] if r == group else 0.0))
    return pd.DataFrame(rows)


def test_c6_counts_the_range_groups_selective_units_win_and_is_at_best_marginal_when_not_all():
    claim = claims.c6_correction(correction_rows([-0.3, -0.02, -0.03, -0.2], [-0.05, -0.04, -0.05, -0.02]))
    assert claim.holds  # the pooled mean: 13.75% removed vs 4%
    assert (claim.measured["groups_beaten"], claim.measured["range_groups"]) == (2, 4)
    assert claim.marginal_reasons == ["selective beat random in 2 of 4 range groups"] and claim.marginal
    assert state(claim.holds, True, claim.marginal, True) == "marginal"
    assert "marginal: selective beat random in 2 of 4 range groups." in claims.interpret(claim)
    every = claims.c6_correction(correction_rows([-0.3] * 4, [-0.05] * 4))
    assert every.measured["groups_beaten"] == 4 and not every.marginal_reasons and not every.marginal


def test_a_verdict_that_outranks_marginal_still_names_what_is_marginal():
    claim = claims.c6_correction(correction_rows([-0.3, -0.02, -0.03, -0.2], [-0.05, -0.04, -0.05, -0.02]))
    claim.state = state(claim.holds, None, claim.marginal, False)
    claim.measured["not_converged_settings"] = ["main"]
    assert claim.state == "not converged"
    assert claims.not_reproduced([claim]).endswith(
        "**not converged** (holds as the paper computes it; still rising: main; also marginal: selective beat random "
        "in 2 of 4 range groups).")


def own_model_claims():
    c6 = claims.c6_correction(correction_rows([-0.3, -0.02, -0.03, -0.2], [-0.05, -0.04, -0.05, -0.02]))
    acc = accuracy_rows("own", [0.7], [0.8]).drop(columns="setting")
    return [claims.through_controls(c6), claims.through_controls(claims.c3_accuracy_kept(acc, "own model"))]


def test_own_model_claims_get_a_verdict_without_tables_and_their_own_paragraph(tmp_path):
    c6, c3 = own_model_claims()
    assert (c6.state, c3.state) == ("marginal", "fails")
    text = claims.not_reproduced([claims.c3_accuracy_kept(accuracy_rows("main", [0.8], [0.8]))], [c6, c3])
    main, own = text.split("\n\n")
    assert own.startswith("**What did not reproduce on the own model (notebook 07):** C6, correction finds the units "
                          "behind the error: **marginal** (selective beat random in 2 of 4 range groups); "
                          "C3 (own model), accuracy is not harmed: **fails**")
    assert "notebook 07" not in main


def test_the_readme_block_carries_the_own_model_section_only_when_notebook_07_wrote_it(tmp_path):
    main = [claims.through_controls(claims.c3_accuracy_kept(accuracy_rows("main", [0.8], [0.8])))]
    claims.write_claims(main, tmp_path / "claims.json")
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{claims.README_START}\nold\n{claims.README_END}\ntail\n")
    # no results/own_model_claims.json (as in a clone whose figures predate notebook 07's claims): main only
    assert claims.read_own_model_claims(tmp_path) is None
    assert claims.readme_block(tmp_path / "claims.json") == claims.claims_markdown(main)
    claims.update_readme_block(readme, tmp_path / "claims.json")
    assert "notebook 07" not in readme.read_text() and readme.read_text().endswith(f"{claims.README_END}\ntail\n")
    # notebook 07 writes its claims: claims.md and the README block gain its table and paragraph
    path = claims.write_own_model_claims(own_model_claims(), tmp_path)
    assert path == tmp_path / "results" / "own_model_claims.json"
    stored = json.loads(path.read_text())
    assert [e["state"] for e in stored] == ["marginal", "fails"]
    own = claims.read_own_model_claims(tmp_path)
    block = claims.claims_markdown(main, own)
    assert "Own model (notebook 07), on its own network:" in block and "| C6 correction finds" in block
    assert (tmp_path / "claims.md").read_text() == block == claims.readme_block(tmp_path / "claims.json")
    assert claims.update_readme_block(readme, tmp_path / "claims.json")
    assert readme.read_text() == f"# x\n{claims.README_START}\n{block}{claims.README_END}\ntail\n"


def test_the_margins_figure_reads_its_numbers_and_verdicts_from_claims_json(tmp_path):
    sel, acc = c5_tables()
    tables = {"selectivity": sel, "accuracy": acc}
    checked = [claims.through_controls(claims.REGISTRY[i].measure(tables), tables) for i in ("C2", "C3", "C5")]
    claims.write_claims(checked, tmp_path / "claims.json")
    stored = claims.read_claims(tmp_path / "claims.json")
    frame = claims.setting_margins(stored)
    assert list(frame["setting"]) == ["main", "completion"]
    completion = frame.set_index("setting").loc["completion"]
    assert completion["layer"] == "layer4" and completion["ds_rise"] == pytest.approx(0.12)
    assert completion["ds_rise_margin"] == pytest.approx(0.02) and completion["ds_rise_marginal"]
    assert completion["d1_change"] == pytest.approx(0.05) and not completion["d1_marginal"]
    assert completion["state"] == stored[2].state and completion["verdict"] == "marginal"
    main = frame.set_index("setting").loc["main"]
    assert main["layer"] == "MFF" and main["ds_rise"] == pytest.approx(0.30) and main["d1_change"] == pytest.approx(0.02)
    long = claims.margin_table(stored)
    row = long[long["margin"] == "completion layer4 DS rise vs threshold"].iloc[0]
    assert (row["claim"], row["setting"], row["marginal"]) == ("C5", "completion", True)
    assert row["value"] == pytest.approx(0.02) and row["spread"] == pytest.approx(0.05)
    assert set(long["claim"]) == {"C2", "C3", "C5"}


def test_the_margins_figure_judges_each_panel_on_its_own_statistic(tmp_path):
    """main's C2 fails on the near-assigned shares alone: the setting's verdict is "fails", but its rise panel
    and its δ1 panel both hold."""
    sel, acc = c5_tables()
    sel.loc[(sel["setting"] == "main") & (sel["method"] == "interpretable"), "near_assigned"] = 0.1
    tables = {"selectivity": sel, "accuracy": acc}
    checked = [claims.through_controls(claims.REGISTRY[i].measure(tables), tables) for i in ("C2", "C3", "C5")]
    assert not checked[0].holds and checked[0].measured["a_holds"]
    main = claims.setting_margins(checked).set_index("setting").loc["main"]
    assert (main["verdict"], main["ds_rise_verdict"], main["d1_verdict"]) == ("fails", "holds", "holds")
    completion = claims.setting_margins(checked).set_index("setting").loc["completion"]
    assert (completion["ds_rise_verdict"], completion["d1_verdict"]) == ("marginal", "holds")


def test_the_margins_figure_calls_a_miss_within_the_noise_marginal_and_one_beyond_it_fails():
    """completion's layer4 rises by 0.08: 0.02 under C2's 0.10, within the MFF seeds' spread (0.05); then by 0.0."""
    for layer4, expected in ((0.38, "marginal"), (0.3, "fails")):
        sel, acc = c5_tables()
        sel.loc[(sel["setting"] == "completion") & (sel["method"] == "interpretable") & (sel["layer"] == "layer4"),
                "mean_selectivity"] = layer4
        tables = {"selectivity": sel, "accuracy": acc}
        checked = [claims.through_controls(claims.REGISTRY[i].measure(tables), tables) for i in ("C2", "C3", "C5")]
        assert not checked[2].holds and checked[2].state == expected
        completion = claims.setting_margins(checked).set_index("setting").loc["completion"]
        assert (completion["verdict"], completion["ds_rise_verdict"], completion["d1_verdict"]) == (
            expected, expected, "holds")


def test_c4_and_c6_controlled_on_the_clean_units_interventions():
    """C4 and C6 judged again on the interventions over clean units only (results/ablation_clean.csv,
    correction_clean.csv): the paper's computation holds, the controlled one does not."""
    paper = ablation_rows({"interp_s0": (0.5, 0.4), "interp_s1": (0.3, 0.4)}).assign(units=4)
    # on clean units only, group 0's ablation hurts its own range less than random units do, and leaves 2 units
    clean = ablation_rows({"interp_s0": (0.01, 0.4), "interp_s1": (0.0, 0.4)}).assign(units=2)
    clean.loc[(clean["group"] == 0) & (clean["kind"] == "selective"), "relative_change"] = -0.5
    tables = {"ablation": paper, "ablation_clean": clean}
    claim = claims.through_controls(claims.c4_ablation_reliable(paper), tables)
    assert claim.holds and claim.controlled["holds"] is False
    assert claim.controlled["units"] == 2 * 2 * 4 and claim.controlled["units_kept"] == 2 * 2 * 2
    assert claim.state == "holds only as the paper computes it"
    missing = claims.through_controls(claims.c4_ablation_reliable(paper), {"ablation": paper})
    assert missing.controlled["holds"] is None and "ablation_clean.csv is missing" in missing.controlled["reason"]
    # C6: correction removes error (negative change) for selective units in both tables
    correction = ablation_rows({"interp_s0": (-0.5, -0.4)}).assign(units=4)
    same = claims.through_controls(claims.c6_correction(correction), {"correction": correction,
                                                                     "correction_clean": correction})
    assert same.holds and same.controlled["holds"] and same.controlled["units_kept"] == same.controlled["units"]


def test_a_failure_within_the_noise_is_marginal_and_one_beyond_it_fails():
    # C6 misses by 0.1 percentage point (random units remove 4.1%, selective 4.0%): within the fixed tolerance
    close = claims.through_controls(claims.c6_correction(correction_rows([-0.04] * 4, [-0.041] * 4)))
    assert not close.holds and close.marginal_margins == ["error removed vs random units (chance)"]
    assert close.state == "marginal"
    # a miss of 10 percentage points is far outside it
    far = claims.through_controls(claims.c6_correction(correction_rows([-0.04] * 4, [-0.14] * 4)))
    assert not far.holds and far.marginal_margins == [] and far.state == "fails"
    # one failing margin beyond the noise is enough to fail, even when another lies within it
    assert not fails_within_noise({"a": -0.001, "b": -0.2}, ["a"])
    assert fails_within_noise({"a": -0.001, "b": 0.2}, ["a"])
    assert not fails_within_noise({"a": 0.001}, ["a"])  # nothing fails
    assert state(False, None, True, True, fails_within_noise=True) == "marginal"
    assert state(False, None, True, True) == "fails"
    assert claims.not_reproduced([close]).startswith(
        "**What did not reproduce:** C6, correction finds the units behind the error: **marginal** (misses as the "
        "paper computes it, within the noise: error removed vs random units (chance) -0.001")


def test_the_main_setting_missing_only_c3_within_the_noise_reads_marginal():
    """C2 holds on main while C3 misses δ1 by 0.005 (spread 0.01): the setting's verdict is marginal, not fails."""
    sel, acc = c5_tables()
    acc = pd.concat([accuracy_rows("main", [0.785, 0.815, 0.815], [0.81, 0.82, 0.83]),
                     acc[acc["setting"] != "main"]], ignore_index=True)
    tables = {"selectivity": sel, "accuracy": acc}
    checked = [claims.through_controls(claims.REGISTRY[i].measure(tables), tables) for i in ("C2", "C3", "C5")]
    assert checked[0].holds and not checked[1].holds and checked[1].state == "marginal"
    main = claims.setting_margins(checked).set_index("setting").loc["main"]
    assert (main["verdict"], main["ds_rise_verdict"], main["d1_verdict"]) == ("marginal", "holds", "marginal")
