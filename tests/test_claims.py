"""Claim logic on hand-made tables: for every claim a case that holds and one that does not."""

import json

import numpy as np
import pandas as pd
import pytest

from mdeinterp import claims, tables
from mdeinterp.errors import DataError


def units_table(top: float, seeds=(0,)) -> pd.DataFrame:
    # 10 units per layer and seed: nine at 0.1, one at `top`; the top 10% is that one unit
    rows = [{"seed": seed, "layer": layer, "selectivity": s}
            for seed in seeds for layer in ("D", "MFF") for s in [0.1] * 9 + [top]]
    return pd.DataFrame(rows)


def chance_table() -> pd.DataFrame:
    # untrained units of each layer: DS 0.0, 0.01, ..., 0.99 -> 90th percentile 0.891 (linear interpolation)
    rows = [{"seed": 0, "layer": layer, "selectivity": i / 100} for layer in ("D", "MFF") for i in range(100)]
    return pd.DataFrame(rows)


def test_c1_holds_when_every_seeds_top_decile_beats_chance_p90():
    claim = claims.c1_baseline_selective(units_table(0.95, seeds=(0, 1, 2)), chance_table())
    d = claim.measured["per_layer"]["D"]
    assert d["chance_p90"] == pytest.approx(0.891)
    assert d["top10_min_by_seed"] == {0: pytest.approx(0.95), 1: pytest.approx(0.95), 2: pytest.approx(0.95)}
    assert claim.holds


def test_top_decile_rounds_up_and_uses_the_least_selective_of_it():
    # 11 units: top ceil(1.1) = 2 units (0.9, 0.5) -> 0.5
    values = pd.Series([0.9, 0.5] + [0.2] * 6 + [0.1] * 3)
    assert claims.top_decile_min(values) == pytest.approx(0.5)


def test_c1_fails_when_one_seed_stays_below_chance():
    units = pd.concat([units_table(0.95, seeds=(0, 1)), units_table(0.85, seeds=(2,))])
    claim = claims.c1_baseline_selective(units, chance_table())
    assert claim.measured["per_layer"]["MFF"]["top10_min_by_seed"][2] == pytest.approx(0.85)
    assert not claim.measured["per_layer"]["MFF"]["holds"] and not claim.holds


def test_c1_needs_untrained_units_of_each_layer():
    with pytest.raises(DataError, match="untrained units of layer"):
        claims.c1_baseline_selective(units_table(0.95), chance_table().query("layer == 'D'"))


def selectivity_rows(interp_values, base_values, near_interp=0.5, near_base=0.1, layers=("D", "MFF")):
    rows = []
    for seed, (i, b) in enumerate(zip(interp_values, base_values)):
        for layer in layers:
            rows.append(dict(setting="main", name=f"interp_s{seed}", method="interpretable", seed=seed, layer=layer,
                             mean_selectivity=i, near_assigned=near_interp, assigned=True, chance_near=0.15))
            rows.append(dict(setting="main", name=f"base_s{seed}", method="baseline", seed=seed, layer=layer,
                             mean_selectivity=b, near_assigned=near_base, assigned=False, chance_near=0.15))
    return pd.DataFrame(rows)


def test_c2_holds_for_a_large_rise_in_every_seed():
    claim = claims.c2_selectivity_rises(selectivity_rows([0.5, 0.45], [0.2, 0.3]))
    assert claim.measured["per_layer"]["D"]["rise_mean"] == pytest.approx(0.225)
    assert claim.measured["per_layer"]["D"]["rise_min"] == pytest.approx(0.15)
    assert claim.holds


def test_c2_fails_when_one_seed_drops_or_near_share_is_low():
    # mean rise 0.15 >= 0.10 but seed 1 falls: (a) fails
    claim = claims.c2_selectivity_rises(selectivity_rows([0.6, 0.25], [0.2, 0.35]))
    assert claim.measured["per_layer"]["MFF"]["rise_min"] == pytest.approx(-0.1)
    assert not claim.measured["a_holds"] and not claim.holds
    # rise fine, but only 20% of units near their assigned bin: (b) fails
    claim = claims.c2_selectivity_rises(selectivity_rows([0.5, 0.5], [0.2, 0.2], near_interp=0.2))
    assert claim.measured["a_holds"] and not claim.measured["b_holds"] and not claim.holds


def test_c2_near_assigned_margins_are_judged_against_their_seed_spread():
    """The baseline's near-assigned share misses its 15% bound by 0.03, while its seeds spread by 0.10: the
    failing margin is marginal (named), and a margin far from its spread is not."""
    table = selectivity_rows([0.5, 0.5, 0.5], [0.2, 0.2, 0.2])
    base = table["method"] == "baseline"
    table.loc[base, "near_assigned"] = table.loc[base, "seed"].map({0: 0.08, 1: 0.18, 2: 0.28})
    claim = claims.c2_selectivity_rises(table)
    assert not claim.holds and claim.measured["per_layer"]["D"]["near_base_std"] == pytest.approx(0.10)
    assert claim.margins["baseline near-assigned share vs threshold"] == pytest.approx(-0.03)
    assert claim.spreads["baseline near-assigned share vs threshold"] == pytest.approx(0.10)
    assert "baseline near-assigned share vs threshold" in claim.marginal_margins
    # the interpretable share (50% in every seed: spread 0) passes by 0.20: not marginal
    assert claim.spreads["near-assigned share vs threshold"] == pytest.approx(0.0)
    assert "near-assigned share vs threshold" not in claim.marginal_margins


def test_c2_only_checks_assigned_layers():
    table = selectivity_rows([0.5], [0.2])
    other = table[table["layer"] == "D"].assign(layer="R.conv0", assigned=False, mean_selectivity=0.0)
    rise = claims.selectivity_rise(pd.concat([table, other]))
    assert list(rise["layer"]) == ["D", "MFF"]


def accuracy_rows(d1_interp, abs_rel_interp, d1_base=0.80, abs_rel_base=0.20):
    return pd.DataFrame([
        dict(setting="main", name="interp_s0", method="interpretable", seed=0, d1=d1_interp, abs_rel=abs_rel_interp),
        dict(setting="main", name="base_s0", method="baseline", seed=0, d1=d1_base, abs_rel=abs_rel_base),
    ])


def test_c3_holds_within_tolerance_and_fails_beyond():
    assert claims.c3_accuracy_kept(accuracy_rows(0.795, 0.209)).holds  # -0.005 d1, +4.5% abs_rel
    assert not claims.c3_accuracy_kept(accuracy_rows(0.785, 0.20)).holds  # d1 drops 0.015
    assert not claims.c3_accuracy_kept(accuracy_rows(0.80, 0.211)).holds  # abs_rel +5.5%


def intervention_rows(own: float, other: float, random_own: float, groups: int = 4) -> pd.DataFrame:
    """Rows like ablation_experiment's: each group's own range changes by `own`, other ranges by `other`."""
    rows = []
    for g in range(groups):
        for r in range(groups):
            rows.append(dict(group=g, kind="selective", draw=0, range_lo=float(r), relative_change=own if r == g else other))
            for draw in range(2):
                rows.append(dict(group=g, kind="random", draw=draw, range_lo=float(r), relative_change=random_own))
    rows += [dict(group=-1, kind="none", draw=0, range_lo=float(r), relative_change=0.0) for r in range(groups)]
    return pd.DataFrame(rows)


def test_c4_holds_when_own_range_is_hit_hardest():
    claim = claims.c4_ablation_reliable(intervention_rows(own=0.5, other=0.1, random_own=0.05))
    assert claim.measured["own_range_share"] == 1.0
    assert claim.measured["groups"] == 4
    assert claim.measured["own_range_change_selective"] == pytest.approx(0.5)
    assert claim.holds


def test_c4_fails_when_other_ranges_suffer_more():
    table = intervention_rows(own=0.1, other=0.3, random_own=0.05)
    share, groups = claims.own_range_share(table)
    assert (share, groups) == (0.0, 4)
    assert not claims.c4_ablation_reliable(table).holds


def test_c4_share_counts_groups_per_layer():
    hit = intervention_rows(own=0.5, other=0.1, random_own=0.0).assign(layer="D")
    miss = intervention_rows(own=0.1, other=0.5, random_own=0.0).assign(layer="MFF")
    assert claims.own_range_share(pd.concat([hit, miss])) == (0.5, 8)


def test_c6_correction_compares_removed_error():
    holds = claims.c6_correction(intervention_rows(own=-0.3, other=0.0, random_own=-0.1))
    assert holds.measured["error_removed_selective"] == pytest.approx(0.3)
    assert holds.measured["error_removed_random"] == pytest.approx(0.1)
    assert holds.holds
    assert not claims.c6_correction(intervention_rows(own=-0.05, other=0.0, random_own=-0.1)).holds


def test_c5_needs_c2_and_c3_in_every_setting():
    good_sel = selectivity_rows([0.5], [0.2])
    good_acc = accuracy_rows(0.8, 0.2)
    bad_sel = selectivity_rows([0.21], [0.2]).assign(setting="bts")
    sel = pd.concat([good_sel.assign(setting="outdoor"), bad_sel])
    acc = pd.concat([good_acc.assign(setting="outdoor"), good_acc.assign(setting="bts")])
    assert claims.c5_applicability(sel, acc, ["outdoor"]).holds
    claim = claims.c5_applicability(sel, acc, ["outdoor", "bts"])
    assert claim.measured["per_setting"]["bts"] == {"C2": False, "C3": True}
    assert not claim.holds


def test_c5_from_the_result_tables_covers_the_completion_setting_and_states_the_task():
    good_sel, good_acc = selectivity_rows([0.5], [0.2]), accuracy_rows(0.8, 0.2)
    completion_sel = selectivity_rows([0.25], [0.2], layers=("layer3", "layer4")).assign(setting="completion")
    sel = pd.concat([good_sel, good_sel.assign(setting="outdoor"), completion_sel])
    acc = pd.concat([good_acc, good_acc.assign(setting="outdoor"), accuracy_rows(0.8, 0.2).assign(setting="completion")])
    claim = claims.REGISTRY["C5"].measure({"selectivity": sel, "accuracy": acc})
    # the completion pair's rise (+0.05 on layer3 and layer4) is below C2's +0.10, the main setting is not checked
    assert claim.measured["per_setting"] == {"outdoor": {"C2": True, "C3": True}, "completion": {"C2": False, "C3": True}}
    assert not claim.holds and claim.weakest == "completion"
    assert "and task (depth completion" in claim.statement == claims.REGISTRY["C5"].statement


def test_evaluate_and_write_claims(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    units_table(1.0).to_csv(results / "units_baseline.csv", index=False)
    chance_table().to_csv(results / "units_chance.csv", index=False)
    sel = pd.concat([selectivity_rows([0.5], [0.2]), selectivity_rows([0.5], [0.2]).assign(setting="bts")])
    acc = pd.concat([accuracy_rows(0.8, 0.2), accuracy_rows(0.7, 0.3).assign(setting="bts")])
    sel.to_csv(results / "selectivity.csv", index=False)
    acc.to_csv(results / "accuracy.csv", index=False)
    intervention_rows(0.5, 0.1, 0.05).to_csv(results / "ablation.csv", index=False)
    # no correction table: C6 is reported false, not skipped
    checked = claims.evaluate_claims(tmp_path)
    assert [c.id for c in checked] == ["C1", "C2", "C3", "C4", "C5", "C6"]
    assert [c.holds for c in checked] == [True, True, True, True, False, False]
    path = claims.write_claims(checked, tmp_path / "claims.json")
    stored = json.loads(path.read_text())
    assert stored[4]["measured"]["per_setting"]["bts"] == {"C2": True, "C3": False}
    assert set(stored[0]) == {"id", "statement", "measured", "threshold", "holds", "setting", "margins", "weakest",
                              "marginal", "spreads", "marginal_margins", "marginal_reasons", "controlled", "converged", "state",
                              "interpretation"}
    # no position-control columns in these tables: the controlled verdict is not measured, never the paper's
    assert stored[0]["controlled"]["holds"] is None and stored[0]["state"] == "holds; control not measured"
    assert stored[0]["statement"] == claims.REGISTRY["C1"].statement  # the wording lives in the registry only
    assert stored[3]["interpretation"] == claims.interpret(checked[3])


def test_nan_is_written_as_null():
    claim = claims.Claim("CX", "s", {"v": np.nan, "w": np.float64(0.5)}, {}, False)
    assert claim.to_dict()["measured"] == {"v": None, "w": 0.5}


# ---- narrative ----------------------------------------------------------------------------------------


def test_describe_states_thresholds_from_the_constants():
    text = claims.describe(["C2", "C3"])
    assert text.splitlines()[0].startswith("- **C2** ") and text.splitlines()[1].startswith("- **C3** ")
    assert f">= {claims.C2_RISE}" in text and f"{claims.C2_NEAR_INTERP:.0%}" in text
    assert f"{claims.C3_ABS_REL_FACTOR} × AbsRel" in text
    with pytest.raises(KeyError, match="unknown claim ids"):
        claims.describe(["C9"])


def test_interpret_takes_every_number_from_the_claim():
    c3 = claims.c3_accuracy_kept(accuracy_rows(0.8123, 0.1987))
    assert claims.interpret(c3) == ("C3 (main) holds: δ1 goes from 0.8 (baseline) to 0.812 (interpretable) "
                                    "and AbsRel from 0.2 to 0.199. Margins: δ1 vs threshold +0.0223, "
                                    "AbsRel vs threshold +0.0565.")
    c6 = claims.c6_correction(intervention_rows(-0.4, 0.0, -0.1))
    assert claims.Claim.from_dict({**c6.to_dict(), "interpretation": "-"}).to_dict() == c6.to_dict()
    with pytest.warns(DeprecationWarning, match="pass a Claim"):
        assert claims.interpret(c6.to_dict()) == claims.interpret(c6)
    assert claims.interpret(c6).startswith(
        "C6 holds: correcting a range's selective units removes 40% of its error vs 10% for as many random units; "
        "per range group (mean / median error removed, selective vs random): 0: 40% / 40% vs 10% / 10%, ")
    assert "Margins: error removed vs random units (chance) +0.3" in claims.interpret(c6)
    per_group = {0: dict(selective_mean=0.4, selective_median=0.4, random_mean=0.1, random_median=0.1),
                 1: dict(selective_mean=0.02, selective_median=0.03, random_mean=0.04, random_median=0.03)}
    text = claims._groups(per_group, "error removed")
    assert text.endswith("; selective units beat random ones in 1 of 2 range groups (not in group 1)")
    missing = claims.Claim("C4", "s", {"missing_tables": ["ablation"]}, {}, False)
    assert claims.interpret(missing) == "C4 could not be checked: the result tables ablation are missing."


def test_interpretation_counts_held_claims_and_has_a_sentence_per_claim():
    c3_ok = claims.c3_accuracy_kept(accuracy_rows(0.81, 0.2))
    c3_bad = claims.c3_accuracy_kept(accuracy_rows(0.5, 0.4), "bts")
    text = claims.interpretation([c3_ok, c3_bad])
    assert text.startswith("**0 of 1 claims hold** on this run.")  # C3 counted once: it fails on bts
    assert "C3 (main) holds:" in text and "C3 (bts) does not hold:" in text
    assert text.endswith("**What did not reproduce:** C3 (bts), accuracy is not harmed (AbsRel vs threshold -0.95).")
    c1 = claims.c1_baseline_selective(units_table(0.95), chance_table())
    assert claims.interpretation([c1, c3_ok]).startswith("**2 of 2 claims hold** on this run: C1, C3.")


def test_interpretation_through_the_controls_counts_verdicts_before_the_papers_computation():
    c3_ok = claims.c3_accuracy_kept(accuracy_rows(0.81, 0.2))
    c3_bad = claims.c3_accuracy_kept(accuracy_rows(0.5, 0.4), "bts")
    c1 = claims.c1_baseline_selective(units_table(0.95), chance_table())
    c3_ok.state, c3_bad.state, c1.state = "reproduced", "fails", "marginal"
    text = claims.interpretation([c1, c3_ok, c3_bad])
    # a claim that holds as the paper computes it but is marginal is not counted as reproduced
    assert text.startswith("**0 of 2 claims reproduced** on this run; C1 marginal; C3 fails. "
                           "As the paper computes them, 1 of 2 hold: C1.")
    c1.state = "reproduced"
    assert claims.interpretation([c1, c3_ok]).startswith(
        "**2 of 2 claims reproduced** on this run: C1, C3. As the paper computes them, 2 of 2 hold: C1, C3.")
    # one claim on several settings with different verdicts: each setting named with its own
    c3_close = claims.c3_accuracy_kept(accuracy_rows(0.8, 0.2), "outdoor")
    c3_close.state = "marginal"
    assert claims.interpretation([c1, c3_ok, c3_bad, c3_close]).startswith(
        "**1 of 2 claims reproduced** on this run: C1; C3 (bts) fails, C3 (outdoor) marginal. ")


def test_interpret_occupancy_reports_empty_bins_and_pixels_beyond_d_max():
    rows = pd.DataFrame([{"data": "indoor", "bins": 32, "emptiest_bin_share": 0.0123, "bins_under_min_share": 0,
                          "beyond_d_max_share": 0.0},
                         {"data": "outdoor", "bins": 32, "emptiest_bin_share": 0.001, "bins_under_min_share": 3,
                          "beyond_d_max_share": 0.02}])
    text = claims.interpret_occupancy(rows)
    assert "indoor: every bin holds at least 0.5% of the valid training pixels (emptiest bin 1.2% over K = 32); 0% " in text
    assert "outdoor: 3 of 32 bins hold less than 0.5%" in text and "2% of the pixels lie beyond d_max" in text
    assert text.endswith("**What did not hold:** every bin well filled, for outdoor (3 of 32 bins under 0.5%, the "
                         "emptiest 0.1%): dissections of those bins rest on few pixels, which is why notebook 02 also "
                         "reports DS on well-filled bins only.")
    assert claims.interpret_occupancy(rows.iloc[:1]).endswith("**What did not hold:** nothing; every bin of every kind "
                                                              "of data holds enough pixels.")


def test_c4_and_c6_pool_the_runs_and_report_each_run():
    # seed 0 hits its own range in every group, seed 1 in none: pooled share 0.5 over 8 groups (fails 0.75)
    hit = intervention_rows(own=0.5, other=0.1, random_own=0.05).assign(name="interp_s0", layer="D")
    miss = intervention_rows(own=0.1, other=0.5, random_own=0.05).assign(name="interp_s1", layer="D")
    claim = claims.c4_ablation_reliable(pd.concat([hit, miss]))
    assert (claim.measured["own_range_share"], claim.measured["groups"]) == (0.5, 8) and not claim.holds
    assert claim.measured["per_run"]["interp_s0"]["own_range_share"] == 1.0
    assert claim.measured["per_run"]["interp_s1"]["own_range_share"] == 0.0
    assert claim.measured["per_run"]["interp_s1"]["own_range_change_selective"] == pytest.approx(0.1)
    text = claims.interpret(claim)
    assert "interp_s0 100%" in text and "interp_s1 0%" in text
    c6 = claims.c6_correction(pd.concat([intervention_rows(-0.3, 0.0, -0.1).assign(name="a"),
                                         intervention_rows(-0.1, 0.0, -0.1).assign(name="b")]))
    assert c6.measured["error_removed_selective"] == pytest.approx(0.2)
    assert c6.measured["per_run"]["b"] == pytest.approx({"error_removed_selective": 0.1, "error_removed_random": 0.1})


# ---- margins, weakest seeds and groups, the "what did not reproduce" paragraph --------------------------


def test_c1_reports_its_margin_over_chance_and_the_units_behind_it():
    units = pd.concat([units_table(0.95, seeds=(0, 1)), units_table(0.90, seeds=(2,))])
    claim = claims.c1_baseline_selective(units, chance_table())
    d = claim.measured["per_layer"]["D"]
    assert d["top_units_by_seed"] == {0: 1, 1: 1, 2: 1}  # ceil(10% of 10 units)
    assert d["margin_by_seed"][2] == pytest.approx(0.90 - 0.891) and d["weakest_seed"] == 2
    assert claim.margins["D top-10% DS vs chance"] == pytest.approx(0.009)
    assert claim.weakest == "D, seed 2" and claim.marginal  # 0.009 over chance < the 0.02 tolerance
    assert "0.009 over chance, 1 units per seed" in claims.interpret(claim) and "(marginal" in claims.interpret(claim)
    assert "Holding only marginally: C1, the baseline has depth-selective units" in claims.not_reproduced([claim])


def test_c4_is_reported_per_group_with_medians_beside_means():
    rows = []
    for name, own in (("s0", 0.5), ("s1", 0.3), ("s2", 0.1)):
        table = intervention_rows(own=own, other=0.0, random_own=0.05).assign(name=name)
        table.loc[(table["group"] == 2) & (table["kind"] == "selective") & (table["range_lo"] == 2.0),
                  "relative_change"] = 0.02  # group 2 barely hurts its own range, in every run
        rows.append(table)
    claim = claims.c4_ablation_reliable(pd.concat(rows))
    group0, group2 = claim.measured["per_group"][0], claim.measured["per_group"][2]
    assert group0["selective_mean"] == pytest.approx(0.3) and group0["selective_median"] == pytest.approx(0.3)
    assert group0["random_median"] == pytest.approx(0.05) and group0["cases"] == 3
    assert group2["selective_mean"] == pytest.approx(0.02) and claim.weakest == "run s2, range group 2"
    assert claim.margins["own-range share vs threshold"] == pytest.approx(1.0 - 0.75)
    text = claims.interpret(claim)
    assert "2: 2% / 2% vs 5% / 5%" in text and "per run: s0 100%, s1 100%, s2 100%" in text


def test_c6_is_reported_per_seed_and_per_group_and_fails_into_the_paragraph():
    a = intervention_rows(-0.3, 0.0, -0.1).assign(name="interp_s0")
    b = intervention_rows(-0.05, 0.0, -0.1).assign(name="interp_s1")
    claim = claims.c6_correction(pd.concat([a, b]))
    assert claim.measured["per_run"]["interp_s1"] == pytest.approx(
        {"error_removed_selective": 0.05, "error_removed_random": 0.1})
    assert claim.measured["per_group"][1]["selective_mean"] == pytest.approx(0.175)
    assert claim.measured["per_group"][1]["selective_median"] == pytest.approx(0.175)
    assert claim.holds and claim.weakest.startswith("run interp_s1")
    failing = claims.c6_correction(b)
    assert not failing.holds
    assert claims.not_reproduced([claim, failing]) == (
        "**What did not reproduce:** C6, correction finds the units behind the error "
        "(error removed vs random units (chance) -0.05; weakest: range group 0).")


def test_thresholds_are_the_issue_wording_and_live_in_the_registry():
    assert (claims.C1_CHANCE_QUANTILE, claims.C2_RISE, claims.C2_NEAR_INTERP, claims.C2_NEAR_BASE) == (0.9, 0.1, 0.3, 0.15)
    assert (claims.C3_D1_DROP, claims.C3_ABS_REL_FACTOR, claims.C4_OWN_RANGE_SHARE) == (0.01, 1.05, 0.75)
    assert list(claims.REGISTRY) == ["C1", "C2", "C3", "C4", "C5", "C6"]
    assert claims.STATEMENTS == {i: spec.statement for i, spec in claims.REGISTRY.items()}
    for spec in claims.REGISTRY.values():
        assert claims.describe([spec.id]) == f"- **{spec.id}** {spec.statement}"


def test_every_threshold_is_named_in_words():
    keys = {key for spec in claims.REGISTRY.values() for key in spec.thresholds}
    assert keys <= set(claims.THRESHOLD_WORDS)
    frame = tables.claims_frame([claims.c3_accuracy_kept(accuracy_rows(0.81, 0.2))])
    assert frame["threshold"].iloc[0] == ("δ1 (interpretable) >= δ1 (baseline) − 0.01; "
                                          "AbsRel (interpretable) <= 1.05 × AbsRel (baseline)")


def test_c1_leaves_dead_units_out_of_the_top_decile():
    units = units_table(0.95)
    units.loc[units.index[:2], "selectivity"] = np.nan  # two dead units of D (DS undefined)
    chance = chance_table()
    chance.loc[chance.index[:5], "selectivity"] = np.nan
    claim = claims.c1_baseline_selective(units, chance)
    d = claim.measured["per_layer"]["D"]
    assert d["top10_min_by_seed"] == {0: pytest.approx(0.95)} and d["top_units_by_seed"] == {0: 1}
    assert d["chance_p90"] == pytest.approx(float(np.quantile(np.arange(5, 100) / 100, 0.9)))
    assert claim.holds


def test_verdict_words_follow_the_controls():
    from mdeinterp.verdicts import marginal_names, state

    assert state(True, True, False, True) == "reproduced"
    assert state(True, False, False, True) == "holds only as the paper computes it"
    assert state(True, None, False, True) == "holds; control not measured"
    assert state(True, None, False, True, control_applies=False) == "reproduced"  # accuracy: no unit control
    assert state(True, True, True, True) == "marginal"
    assert state(False, True, False, True) == "fails"
    assert state(True, True, False, False) == "not converged"
    # each margin is judged against its own statistic's seed spread; a margin far below zero is not marginal
    assert marginal_names({"a": 0.004, "b": -0.16, "c": 0.05}, {"a": 0.014, "b": 0.02}, 0.01) == ["a"]
