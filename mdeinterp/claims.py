"""The paper's claims, each computed from result tables and checked against a stated threshold.

Nothing here is typed in: every measured value comes from a tidy table written by the notebooks
(:func:`mdeinterp.tables.write_result`). A claim that does not hold is reported as false.

Tables (columns used):

* selectivity: one row per run x layer: ``setting, method, seed, layer, mean_selectivity, near_assigned,
  assigned, chance_near`` (``assigned`` = the run's objective assigned bins to that layer);
* accuracy: one row per run: ``setting, method, seed, d1, abs_rel``;
* units_baseline / units_chance: one row per unit of a baseline / an untrained network: ``seed, layer, selectivity``;
* ablation / correction: rows of :func:`mdeinterp.analysis.ablation_experiment` /
  :func:`~mdeinterp.analysis.correction_experiment` (``group, kind, draw, range_lo, relative_change``),
  optionally with ``layer``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import DataError
from .io import atomic_write_text

# Thresholds (the wording of the paper's claims).
C1_CHANCE_QUANTILE = 0.9  # top-10% baseline units above this quantile of untrained networks' units
C2_RISE = 0.10  # mean selectivity rise on each assigned layer
C2_NEAR_INTERP = 0.30  # share of units within +-2 bins of their assigned bin, interpretable
C2_NEAR_BASE = 0.15  # ... baseline
C3_D1_DROP = 0.01
C3_ABS_REL_FACTOR = 1.05
C4_OWN_RANGE_SHARE = 0.75


@dataclass
class Claim:
    """One checked claim: id, statement, measured values, threshold, and whether it holds."""

    id: str
    statement: str
    measured: dict[str, Any]
    threshold: dict[str, Any]
    holds: bool

    def to_dict(self) -> dict[str, Any]:
        """Return the claim as a JSON-serialisable dict (NaN becomes None)."""
        return _jsonable(asdict(self))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else round(float(value), 6)
    return value


def _require(table: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in columns if c not in table]
    if missing:
        raise DataError(f"{name} table lacks columns {', '.join(missing)}; has {', '.join(map(str, table.columns))}")


# ---- C1 --------------------------------------------------------------------------------------------


def c1_baseline_selective(units: pd.DataFrame, chance_units: pd.DataFrame) -> Claim:
    """Return C1: in every studied layer and every seed, the top 10% of the baseline's units by DS exceed the
    90th percentile of the DS of untrained networks' units (same architecture and dissection, all untrained seeds).

    Measured per layer: the smallest DS among the top ``ceil(10%)`` baseline units of each seed, and the
    untrained networks' 90th percentile (units of all untrained seeds pooled).
    """
    _require(units, ["seed", "layer", "selectivity"], "units")
    _require(chance_units, ["layer", "selectivity"], "chance units")
    measured: dict[str, Any] = {}
    holds = bool(len(units))
    for layer, rows in units.groupby("layer", sort=False):
        chance = chance_units.loc[chance_units["layer"] == layer, "selectivity"]
        if chance.empty:
            raise DataError(f"no untrained units of layer {layer!r} to compare the baseline with")
        threshold = float(np.quantile(chance.to_numpy(), C1_CHANCE_QUANTILE))
        top = rows.groupby("seed")["selectivity"].agg(top_decile_min)
        measured[str(layer)] = {"top10_min_by_seed": {int(k): float(v) for k, v in top.items()},
                                "chance_p90": threshold, "holds": bool((top > threshold).all())}
        holds = holds and measured[str(layer)]["holds"]
    return Claim("C1", "The baseline already has depth-selective units: in every studied layer and seed, the top 10% "
                 "of units by DS exceed the 90th percentile of untrained networks' units.",
                 {"per_layer": measured}, {"top10_min_by_seed": "> chance_p90 (untrained, same dissection)"}, holds)


def top_decile_min(selectivity: pd.Series) -> float:
    """Return the smallest selectivity among the top ``ceil(10%)`` units."""
    values = np.sort(selectivity.to_numpy())[::-1]
    return float(values[max(1, math.ceil(0.1 * len(values))) - 1])


# ---- C2 --------------------------------------------------------------------------------------------


def _assigned_layers(selectivity: pd.DataFrame) -> list[str]:
    interp = selectivity[(selectivity["method"] == "interpretable") & selectivity["assigned"].astype(bool)]
    return list(dict.fromkeys(interp["layer"]))


def selectivity_rise(selectivity: pd.DataFrame) -> pd.DataFrame:
    """Return one row per assigned layer: mean rise over seeds, smallest per-seed rise, near-assigned shares.

    Seeds are paired when both methods have them; otherwise the methods' means are compared.
    """
    _require(selectivity, ["method", "seed", "layer", "mean_selectivity", "near_assigned", "assigned"], "selectivity")
    rows = []
    for layer in _assigned_layers(selectivity):
        rows_layer = selectivity[selectivity["layer"] == layer]
        interp = rows_layer[(rows_layer["method"] == "interpretable") & rows_layer["assigned"].astype(bool)]
        base = rows_layer[rows_layer["method"] == "baseline"]
        i_seed = interp.groupby("seed")["mean_selectivity"].mean()
        b_seed = base.groupby("seed")["mean_selectivity"].mean()
        common = i_seed.index.intersection(b_seed.index)
        rise = (i_seed[common] - b_seed[common]) if len(common) else pd.Series([i_seed.mean() - b_seed.mean()])
        rows.append({
            "layer": layer,
            "rise_mean": float(rise.mean()),
            "rise_min": float(rise.min()),
            "near_interp": float(interp["near_assigned"].mean()),
            "near_base": float(base["near_assigned"].mean()),
            "chance_near": float(interp["chance_near"].mean()) if "chance_near" in interp else float("nan"),
        })
    return pd.DataFrame(rows, columns=["layer", "rise_mean", "rise_min", "near_interp", "near_base", "chance_near"])


def c2_selectivity_rises(selectivity: pd.DataFrame, setting: str = "main") -> Claim:
    """Return C2: (a) mean selectivity rises >= 0.10 on every assigned layer and in every seed;
    (b) >= 30% of interpretable units prefer a bin within +-2 of the assigned one vs <= 15% for the baseline."""
    rise = selectivity_rise(selectivity)
    a = bool(len(rise)) and bool(((rise["rise_mean"] >= C2_RISE) & (rise["rise_min"] > 0)).all())
    b = bool(len(rise)) and bool(((rise["near_interp"] >= C2_NEAR_INTERP) & (rise["near_base"] <= C2_NEAR_BASE)).all())
    measured = {row["layer"]: {k: v for k, v in row.items() if k != "layer"} for row in rise.to_dict("records")}
    return Claim("C2", f"The method raises depth selectivity on every assigned layer ({setting}).",
                 {"per_layer": measured, "a_holds": a, "b_holds": b},
                 {"rise_mean": f">= {C2_RISE}", "rise_min": "> 0", "near_interp": f">= {C2_NEAR_INTERP}",
                  "near_base": f"<= {C2_NEAR_BASE}"}, a and b)


# ---- C3 --------------------------------------------------------------------------------------------


def c3_accuracy_kept(accuracy: pd.DataFrame, setting: str = "main") -> Claim:
    """Return C3: d1(interp) >= d1(base) - 0.01 and abs_rel(interp) <= 1.05 abs_rel(base), means over seeds."""
    _require(accuracy, ["method", "d1", "abs_rel"], "accuracy")
    means = accuracy.groupby("method")[["d1", "abs_rel"]].mean()
    if not {"baseline", "interpretable"} <= set(means.index):
        raise DataError(f"accuracy table ({setting}) needs baseline and interpretable runs, has {list(means.index)}")
    base, interp = means.loc["baseline"], means.loc["interpretable"]
    holds = bool(interp["d1"] >= base["d1"] - C3_D1_DROP) and bool(interp["abs_rel"] <= base["abs_rel"] * C3_ABS_REL_FACTOR)
    return Claim("C3", f"The method does not harm accuracy ({setting}).",
                 {"d1_base": base["d1"], "d1_interp": interp["d1"], "abs_rel_base": base["abs_rel"],
                  "abs_rel_interp": interp["abs_rel"]},
                 {"d1_interp": f">= d1_base - {C3_D1_DROP}", "abs_rel_interp": f"<= {C3_ABS_REL_FACTOR} x abs_rel_base"},
                 holds)


# ---- C4 and C6 -------------------------------------------------------------------------------------


def _with_range_index(rows: pd.DataFrame) -> pd.DataFrame:
    """Return ``rows`` with ``range`` = index of the evaluated depth range (0 = nearest).

    Rows of :func:`~mdeinterp.analysis.ablation_experiment` carry it; older tables get it by ranking
    ``range_lo`` within each run and layer (never across layers, whose ranges may differ in metres).
    """
    if "range" in rows:
        return rows
    keys = _keys(rows)
    rank = rows.groupby(keys)["range_lo"].rank(method="dense") if keys else rows["range_lo"].rank(method="dense")
    return rows.assign(range=rank.astype(int) - 1)


def _keys(rows: pd.DataFrame) -> list[str]:
    return [c for c in ("setting", "name", "layer") if c in rows]


def _per_run(rows: pd.DataFrame, measure: Callable[[pd.DataFrame], Any]) -> dict[str, Any]:
    """Return ``measure`` of each run's rows (``name`` column), {} when the rows name no run."""
    if "name" not in rows:
        return {}
    return {str(name): measure(part) for name, part in rows.groupby("name", sort=True)}


def own_range_share(ablation: pd.DataFrame) -> tuple[float, int]:
    """Return (share of ablated groups whose largest error increase is in their own range, number of groups)."""
    _require(ablation, ["group", "kind", "range_lo", "relative_change"], "ablation")
    rows = _with_range_index(ablation)
    rows = rows[(rows["kind"] == "selective") & (rows["group"] >= 0)].dropna(subset=["relative_change"])
    if rows.empty:
        return float("nan"), 0
    hits = []
    for _, group in rows.groupby(_keys(rows) + ["group"]):
        worst = group.loc[group["relative_change"].idxmax(), "range"]
        hits.append(worst == group["group"].iloc[0])
    return float(np.mean(hits)), len(hits)


def own_range_change(rows: pd.DataFrame) -> dict[str, float]:
    """Return the mean relative error change in each group's own range, for "selective" and "random" units."""
    _require(rows, ["group", "kind", "range_lo", "relative_change"], "ablation/correction")
    ranked = _with_range_index(rows)
    own = ranked[(ranked["group"] >= 0) & (ranked["range"] == ranked["group"])]
    # random draws are averaged per group first, so each group weighs the same for both kinds
    per_group = own.groupby(_keys(own) + ["group", "kind"])["relative_change"].mean().reset_index()
    return {kind: float(per_group.loc[per_group["kind"] == kind, "relative_change"].mean())
            for kind in ("selective", "random")}


def c4_ablation_reliable(ablation: pd.DataFrame) -> Claim:
    """Return C4: ablating a depth-range group hurts its own range most (>= 75% of groups), and more than random units.

    With several runs (a ``name`` column, e.g. one per seed) the share is over all their groups, and each
    run's own share and own-range changes are reported beside it as the spread.
    """
    share, groups = own_range_share(ablation)
    change = own_range_change(ablation)
    a = bool(share >= C4_OWN_RANGE_SHARE)
    b = bool(change["selective"] > change["random"])
    per_run = _per_run(ablation, lambda rows: {"own_range_share": own_range_share(rows)[0],
                                                **{f"own_range_change_{k}": v for k, v in own_range_change(rows).items()}})
    return Claim("C4", "Selective units are reliable: ablating a depth-range group hurts that range most, "
                 "and more than ablating as many random units.",
                 {"own_range_share": share, "groups": groups, "own_range_change_selective": change["selective"],
                  "own_range_change_random": change["random"], "a_holds": a, "b_holds": b, "per_run": per_run},
                 {"own_range_share": f">= {C4_OWN_RANGE_SHARE}", "own_range_change_selective": "> random"}, a and b)


def c6_correction(correction: pd.DataFrame) -> Claim:
    """Return C6: correcting a group's units removes more own-range error than correcting as many random units.

    With several runs (a ``name`` column) the means are over all their groups; each run's values are reported.
    """
    def removed(rows: pd.DataFrame) -> dict[str, float]:
        return {f"error_removed_{kind}": -value for kind, value in own_range_change(rows).items()}

    total = removed(correction)
    holds = bool(total["error_removed_selective"] > total["error_removed_random"])
    return Claim("C6", "Correcting the depth-selective units reduces the interpretable model's error more than "
                 "correcting as many random units.",
                 {**total, "per_run": _per_run(correction, removed)},
                 {"error_removed_selective": "> error_removed_random"}, holds)


# ---- C5 --------------------------------------------------------------------------------------------


def c5_applicability(selectivity: pd.DataFrame, accuracy: pd.DataFrame, settings: Sequence[str]) -> Claim:
    """Return C5: C2 and C3 hold in every other ``setting`` (other models, data, single layers)."""
    results: dict[str, dict[str, bool]] = {}
    for setting in settings:
        sel = selectivity[selectivity["setting"] == setting]
        acc = accuracy[accuracy["setting"] == setting]
        if sel.empty or acc.empty:
            results[setting] = {"C2": False, "C3": False, "missing": True}
            continue
        results[setting] = {"C2": c2_selectivity_rises(sel, setting).holds, "C3": c3_accuracy_kept(acc, setting).holds}
    holds = bool(results) and all(r["C2"] and r["C3"] for r in results.values())
    return Claim("C5", "The method applies to other layers, models (BTS) and data (outdoor): C2 and C3 hold for each.",
                 {"per_setting": results}, {"per_setting": "C2 and C3 hold"}, holds)


# ---- all claims -------------------------------------------------------------------------------------


def _read(folder: Path, name: str) -> pd.DataFrame | None:
    path = folder / "results" / f"{name}.csv"
    return pd.read_csv(path) if path.exists() else None


def _missing(claim_id: str, statement: str, tables: Sequence[str]) -> Claim:
    return Claim(claim_id, statement, {"missing_tables": list(tables)}, {}, False)


def evaluate_claims(folder: str | Path) -> list[Claim]:
    """Return C1..C6 computed from the result tables in ``folder/results`` (a missing table makes its claim false)."""
    folder = Path(folder)
    names = ("units_baseline", "units_chance", "selectivity", "accuracy", "ablation", "correction")
    tables = {name: _read(folder, name) for name in names}
    sel, acc = tables["selectivity"], tables["accuracy"]
    claims = []
    units = [tables[name] for name in ("units_baseline", "units_chance")]
    claims.append(c1_baseline_selective(*units) if all(t is not None for t in units)
                  else _missing("C1", "baseline has depth-selective units", ["units_baseline", "units_chance"]))
    if sel is not None and acc is not None:
        claims.append(c2_selectivity_rises(sel[sel["setting"] == "main"]))
        claims.append(c3_accuracy_kept(acc[acc["setting"] == "main"]))
    else:
        claims += [_missing("C2", "method raises selectivity", ["selectivity"]),
                   _missing("C3", "accuracy not harmed", ["accuracy"])]
    claims.append(c4_ablation_reliable(tables["ablation"]) if tables["ablation"] is not None
                  else _missing("C4", "selective units are reliable", ["ablation"]))
    if sel is not None and acc is not None:
        others = [s for s in dict.fromkeys(acc["setting"]) if s != "main"]
        claims.append(c5_applicability(sel, acc, others))
    else:
        claims.append(_missing("C5", "applicability", ["selectivity", "accuracy"]))
    claims.append(c6_correction(tables["correction"]) if tables["correction"] is not None
                  else _missing("C6", "error analysis by correction", ["correction"]))
    return sorted(claims, key=lambda c: c.id)


def write_claims(claims: Sequence[Claim], path: str | Path) -> Path:
    """Write the claims as a JSON list to ``path`` atomically; return the path."""
    path = Path(path)
    atomic_write_text(path, json.dumps([c.to_dict() for c in claims], indent=2) + "\n")
    return path


# ---- narrative: what each claim says, and what the measured numbers say ----------------------------

#: The claims with their thresholds, as a notebook states them before measuring (built from the constants above).
STATEMENTS = {
    "C1": (f"The baseline already has depth-selective units: in every studied layer and every seed, the top 10% "
           f"of its units by DS exceed the {100 * C1_CHANCE_QUANTILE:.0f}th percentile of the DS of untrained networks' units "
           f"(same architecture, same dissection, 3 seeds)."),
    "C2": (f"Assigning depth ranges raises selectivity: mean DS rises by >= {C2_RISE} on every assigned layer, with "
           f"every seed's rise > 0; and >= {C2_NEAR_INTERP:.0%} of the interpretable model's units prefer a bin within "
           f"±2 of their assigned bin, against <= {C2_NEAR_BASE:.0%} for the baseline."),
    "C3": (f"Accuracy is not harmed: δ1(interpretable) >= δ1(baseline) − {C3_D1_DROP} and "
           f"AbsRel(interpretable) <= {C3_ABS_REL_FACTOR} × AbsRel(baseline), means over seeds."),
    "C4": (f"Selective units are reliable: ablating the units of a depth range hurts that range most in "
           f">= {C4_OWN_RANGE_SHARE:.0%} of the groups, and hurts it more than ablating as many random units."),
    "C5": "The method applies elsewhere: C2 and C3 hold for single layers (R.conv0, R.conv1), BTS and outdoor scenes.",
    "C6": ("Correcting the depth-selective units of a range (their dissected mean response at each pixel's true "
           "depth bin) removes more of that range's error than correcting as many random units."),
}


def describe(ids: Sequence[str]) -> str:
    """Return a Markdown list stating the claims ``ids`` with their thresholds (:data:`STATEMENTS`)."""
    unknown = [i for i in ids if i not in STATEMENTS]
    if unknown:
        raise KeyError(f"unknown claim ids {unknown}; expected some of {', '.join(STATEMENTS)}")
    return "\n".join(f"- **{i}** {STATEMENTS[i]}" for i in ids)


def _num(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{float(value):.3g}"


def _pct(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    percent = 100 * float(value)
    return f"{percent:.0f}%" if abs(percent) >= 10 else f"{percent:.2g}%"  # two digits, never "1e+02%"


def _setting(entry: dict[str, Any]) -> str:
    """Return " (<setting>)" for a claim checked on one setting (its statement ends so), else ""."""
    found = re.search(r" \(([^()]+)\)\.$", entry["statement"])
    return f" ({found.group(1)})" if found else ""


def _holds(entry: dict[str, Any]) -> str:
    return "holds" if entry["holds"] else "does not hold"


def interpret(claim: Claim | dict[str, Any]) -> str:
    """Return one or two sentences saying what the measured values of ``claim`` show (every number from the claim)."""
    entry = claim.to_dict() if isinstance(claim, Claim) else dict(claim)
    cid, m = entry["id"], entry["measured"]
    if "missing_tables" in m:
        return f"{cid} could not be checked: the result tables {', '.join(m['missing_tables'])} are missing."
    if cid == "C1":
        parts = []
        for layer, row in m["per_layer"].items():
            tops = list(row["top10_min_by_seed"].values())
            parts.append(f"{layer}: top-10% units reach DS >= {_num(min(tops))} (weakest seed) against an untrained "
                         f"90th percentile of {_num(row['chance_p90'])}")
        return f"C1 {_holds(entry)}. " + "; ".join(parts) + "."
    if cid == "C2":
        parts = [f"{layer}: DS rises by {_num(r['rise_mean'])} (smallest seed {_num(r['rise_min'])}), "
                 f"{_pct(r['near_interp'])} of interpretable units near their assigned bin vs {_pct(r['near_base'])} "
                 f"of baseline units (chance {_pct(r.get('chance_near'))})" for layer, r in m["per_layer"].items()]
        verdict = {(True, True): "both parts hold", (True, False): "the rise holds but the near-assigned shares do not",
                   (False, True): "the near-assigned shares hold but the rise does not",
                   (False, False): "neither part holds"}[(bool(m["a_holds"]), bool(m["b_holds"]))]
        return f"C2{_setting(entry)} {_holds(entry)} ({verdict}). " + "; ".join(parts) + "."
    if cid == "C3":
        return (f"C3{_setting(entry)} {_holds(entry)}: δ1 goes from {_num(m['d1_base'])} (baseline) to {_num(m['d1_interp'])} "
                f"(interpretable) and AbsRel from {_num(m['abs_rel_base'])} to {_num(m['abs_rel_interp'])}.")
    if cid == "C4":
        runs = m.get("per_run") or {}
        spread = (" (per run: " + ", ".join(f"{name} {_pct(v['own_range_share'])}" for name, v in runs.items()) + ")"
                  if len(runs) > 1 else "")
        return (f"C4 {_holds(entry)}: ablating a depth-range group hurts its own range most in "
                f"{_pct(m['own_range_share'])} of {m['groups']} groups{spread}; the own-range error changes by "
                f"{_pct(m['own_range_change_selective'])} for selective units vs {_pct(m['own_range_change_random'])} "
                f"for as many random units.")
    if cid == "C5":
        parts = []
        for setting, row in m["per_setting"].items():
            if row.get("missing"):
                parts.append(f"{setting}: no runs")
            else:
                parts.append(f"{setting}: C2 {'holds' if row['C2'] else 'fails'}, C3 {'holds' if row['C3'] else 'fails'}")
        return f"C5 {_holds(entry)}. " + "; ".join(parts) + "."
    if cid == "C6":
        runs = m.get("per_run") or {}
        spread = (" (per run: " + ", ".join(f"{name} {_pct(v['error_removed_selective'])} vs "
                                             f"{_pct(v['error_removed_random'])}" for name, v in runs.items()) + ")"
                  if len(runs) > 1 else "")
        return (f"C6 {_holds(entry)}: correcting a range's selective units removes {_pct(m['error_removed_selective'])} "
                f"of its error vs {_pct(m['error_removed_random'])} for as many random units{spread}.")
    return f"{cid} {_holds(entry)}."


def interpret_occupancy(summaries: pd.DataFrame) -> str:
    """Return a sentence per data kind on how its pixels fill the SID bins (rows of
    :func:`mdeinterp.results.bin_occupancy` summaries: data, bins, emptiest_bin_share, bins_under_min_share,
    beyond_d_max_share)."""
    from .stability import MIN_SHARE

    sentences = []
    for row in summaries.to_dict("records"):
        filled = ("every bin holds at least" if row["bins_under_min_share"] == 0
                  else f"{row['bins_under_min_share']} of {row['bins']} bins hold less than")
        sentences.append(
            f"{row['data']}: {filled} {100 * MIN_SHARE:g}% of the valid "
            f"training pixels (emptiest bin {100 * row['emptiest_bin_share']:.2g}% over K = {row['bins']}); "
            f"{100 * row['beyond_d_max_share']:.2g}% of the pixels lie beyond d_max and are left out.")
    return " ".join(sentences)


def interpretation(claims: Sequence[Claim | dict[str, Any]]) -> str:
    """Return a paragraph (Markdown) of :func:`interpret` sentences, one per claim, and how many claims hold."""
    entries = [c.to_dict() if isinstance(c, Claim) else dict(c) for c in claims]
    held = [e["id"] + _setting(e) for e in entries if e["holds"]]
    summary = (f"**{len(held)} of {len(entries)} claims hold** on this run"
               + (f": {', '.join(held)}." if held else "."))
    return " ".join([summary, *(interpret(e) for e in entries)])


__all__ = [
    "Claim", "c1_baseline_selective", "top_decile_min", "selectivity_rise", "c2_selectivity_rises", "c3_accuracy_kept",
    "own_range_share", "own_range_change", "c4_ablation_reliable", "c5_applicability", "c6_correction",
    "evaluate_claims", "write_claims", "STATEMENTS", "describe", "interpret", "interpret_occupancy",
    "interpretation",
]
