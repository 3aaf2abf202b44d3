"""The paper's claims, each computed from result tables and checked against a stated threshold.

Nothing here is typed in: every measured value comes from a tidy table written by the notebooks
(:func:`mdeinterp.tables.write_result`). A claim that does not hold is reported as false.

Tables (columns used):

* selectivity: one row per run x layer: ``setting, method, seed, layer, mean_selectivity, near_assigned,
  assigned, chance_near`` (``assigned`` = the run's objective assigned bins to that layer);
* accuracy: one row per run: ``setting, method, seed, d1, abs_rel``;
* units_baseline / units_chance: one row per unit of a baseline / an untrained network: ``seed, layer, selectivity``;
* ablation / correction: rows of :func:`mdeinterp.interventions.ablation_experiment` /
  :func:`~mdeinterp.interventions.correction_experiment` (``group, kind, draw, range_lo, relative_change``),
  optionally with ``layer``.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .deprecation import moved
from .errors import DataError
from .interventions import own_range_rows, with_range_index
from .io import atomic_write_text
from .table_checks import check_tables, read_checked
from .verdicts import (
    clean_units,
    fails_within_noise,
    has_control,
    marginal_names,
    not_converged_settings,
    seed_spread,
    state,
)

# Thresholds (the wording of the paper's claims).
C1_CHANCE_QUANTILE = 0.9  # top-10% baseline units above this quantile of untrained networks' units
C2_RISE = 0.10  # mean selectivity rise on each assigned layer
C2_NEAR_INTERP = 0.30  # share of units within +-2 bins of their assigned bin, interpretable
C2_NEAR_BASE = 0.15  # ... baseline
C3_D1_DROP = 0.01
C3_ABS_REL_FACTOR = 1.05
C4_OWN_RANGE_SHARE = 0.75


#: Margins closer to their threshold than this (on the claim's own scale) are flagged "marginal".
TOLERANCE = {"C1": 0.02, "C2": 0.02, "C3": 0.005, "C4": 0.05, "C5": 0.0, "C6": 0.01}


@dataclass
class Claim:
    """One checked claim: id, statement, measured values, threshold, whether it holds, and by how much.

    ``margins``: name -> measured minus threshold (positive: passes by that much), against the threshold
    ("... vs threshold") and against chance ("... vs chance": untrained units, random units, random bins);
    ``weakest``: the seed, layer or group closest to failing; ``marginal``: some margin lies within its noise
    (its seed spread, else :data:`TOLERANCE`), or a verdict input beyond the margins (``marginal_reasons``) keeps a
    claim that holds from a clean pass; ``setting``: the setting a claim checked on one setting was measured on.
    """

    id: str
    statement: str
    measured: dict[str, Any]
    threshold: dict[str, Any]
    holds: bool
    setting: str = ""
    margins: dict[str, float] = field(default_factory=dict)
    weakest: str = ""
    marginal: bool = False
    #: margin name -> the spread (std over seeds) of the same statistic; a margin below it is marginal
    spreads: dict[str, float] = field(default_factory=dict)
    #: the margins that are marginal, each named (:func:`mdeinterp.verdicts.marginal_names`)
    marginal_margins: list[str] = field(default_factory=list)
    #: what else makes the claim marginal, in words: runs where ablating a range's units lowers that range's
    #: error (C4), range groups where selective units did not beat random ones (C6)
    marginal_reasons: list[str] = field(default_factory=list)
    #: the controlled computation: {"holds": bool or None, "margins": {...}, "reason": str}
    controlled: dict[str, Any] = field(default_factory=dict)
    converged: bool = True
    #: the verdict word (:data:`mdeinterp.verdicts.STATES`)
    state: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return the claim as a JSON-serialisable dict (NaN becomes None): a ``claims.json`` entry, and the view
        the narrative functions word."""
        return _jsonable(asdict(self))

    @classmethod
    def from_dict(cls, entry: Mapping[str, Any]) -> Claim:
        """Return the claim a :meth:`to_dict` entry holds (a ``claims.json`` item); other keys are ignored."""
        names = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in entry.items() if key in names})

    @classmethod
    def of(cls, claim: Claim) -> Claim:
        """Return ``claim`` itself; a dict given instead is read as a ``claims.json`` entry (deprecated: warns)."""
        if isinstance(claim, Claim):
            return claim
        warnings.warn("passing a claim as a dict is deprecated; pass a Claim (Claim.from_dict(entry) for a "
                      "claims.json entry)", DeprecationWarning, stacklevel=3)
        return cls.from_dict(claim)


def _claim(claim_id: str, measured: dict[str, Any], holds: bool, margins: Mapping[str, float], weakest: str = "",
           setting: str = "", spreads: Mapping[str, float] | None = None, reasons: Sequence[str] = ()) -> Claim:
    """Return the :class:`Claim` of ``claim_id`` with its registry statement and thresholds.

    A margin is marginal when it is smaller than the seed spread of its statistic (``spreads``), else than the
    claim's tolerance (:func:`mdeinterp.verdicts.marginal_names`); ``reasons`` (words) make the claim marginal
    whatever its margins.
    """
    spec = REGISTRY[claim_id]
    spreads = {k: float(v) for k, v in (spreads or {}).items() if v is not None and math.isfinite(float(v))}
    names = marginal_names(margins, spreads, spec.tolerance)
    return Claim(claim_id, spec.statement, measured, dict(spec.thresholds), bool(holds), setting,
                 {k: float(v) for k, v in margins.items()}, weakest, bool(names) or bool(reasons), spreads, names,
                 list(reasons))


def _argmin(values: Mapping[Any, float]) -> Any:
    """Return the key of the smallest finite value (None when there is none)."""
    finite = {k: v for k, v in values.items() if v is not None and math.isfinite(float(v))}
    return min(finite, key=finite.get) if finite else None


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

    Measured per layer: the smallest DS among the top ``ceil(10%)`` baseline units of each seed, how many
    units that top decile holds, the margin over the untrained networks' 90th percentile (units of all
    untrained seeds pooled) per seed, and the weakest seed.
    """
    _require(units, ["seed", "layer", "selectivity"], "units")
    _require(chance_units, ["layer", "selectivity"], "chance units")
    measured: dict[str, Any] = {}
    margins: dict[str, float] = {}
    spreads: dict[str, float] = {}
    holds = bool(len(units))
    for layer, rows in units.groupby("layer", sort=False):
        chance = chance_units.loc[chance_units["layer"] == layer, "selectivity"]
        if chance.empty:
            raise DataError(f"no untrained units of layer {layer!r} to compare the baseline with")
        threshold = float(np.quantile(chance.dropna().to_numpy(), C1_CHANCE_QUANTILE))
        top = rows.groupby("seed")["selectivity"].agg(top_decile_min)
        count = rows.groupby("seed")["selectivity"].agg(lambda v: max(1, math.ceil(0.1 * v.notna().sum())))
        margin = {int(k): float(v) - threshold for k, v in top.items()}
        weakest = _argmin(margin)
        measured[str(layer)] = {"top10_min_by_seed": {int(k): float(v) for k, v in top.items()},
                                "chance_p90": threshold, "holds": bool((top > threshold).all()),
                                "top_units_by_seed": {int(k): int(v) for k, v in count.items()},
                                "margin_by_seed": margin, "weakest_seed": weakest}
        margins[f"{layer} top-10% DS vs chance"] = margin[weakest] if weakest is not None else float("nan")
        spreads[f"{layer} top-10% DS vs chance"] = seed_spread(top)
        holds = holds and measured[str(layer)]["holds"]
    worst = _argmin(margins)
    weakest = (f"{worst.split(' ')[0]}, seed {measured[worst.split(' ')[0]]['weakest_seed']}" if worst else "")
    return _claim("C1", {"per_layer": measured}, holds, margins, weakest, spreads=spreads)


def top_decile_min(selectivity: pd.Series) -> float:
    """Return the smallest selectivity among the top ``ceil(10%)`` units with a DS (dead units left out)."""
    values = np.sort(selectivity.dropna().to_numpy())[::-1]  # dead units have no DS (NaN): not units to rank
    if not len(values):
        return float("nan")
    return float(values[max(1, math.ceil(0.1 * len(values))) - 1])


# ---- C2 --------------------------------------------------------------------------------------------


def _assigned_layers(selectivity: pd.DataFrame) -> list[str]:
    interp = selectivity[(selectivity["method"] == "interpretable") & selectivity["assigned"].astype(bool)]
    return list(dict.fromkeys(interp["layer"]))


def selectivity_rise(selectivity: pd.DataFrame) -> pd.DataFrame:
    """Return one row per assigned layer: mean rise over seeds, smallest per-seed rise (and its seed), near-assigned shares.

    Seeds are paired when both methods have them; otherwise the methods' means are compared. ``*_std``: the spread
    of the statistic over seeds (NaN with one seed), which C2's margins are judged against.
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
            "rise_std": seed_spread(rise) if len(common) else float("nan"),
            "near_interp": float(interp["near_assigned"].mean()),
            "near_base": float(base["near_assigned"].mean()),
            "near_interp_std": seed_spread(interp.groupby("seed")["near_assigned"].mean()),
            "near_base_std": seed_spread(base.groupby("seed")["near_assigned"].mean()),
            "chance_near": float(interp["chance_near"].mean()) if "chance_near" in interp else float("nan"),
            "weakest_seed": int(rise.idxmin()) if len(common) else None,
        })
    return pd.DataFrame(rows, columns=["layer", "rise_mean", "rise_min", "rise_std", "near_interp", "near_base",
                                       "near_interp_std", "near_base_std", "chance_near", "weakest_seed"])


def c2_selectivity_rises(selectivity: pd.DataFrame, setting: str = "main", rise_spread: float | None = None) -> Claim:
    """Return C2: (a) mean selectivity rises >= 0.10 on every assigned layer and in every seed;
    (b) >= 30% of interpretable units prefer a bin within +-2 of the assigned one vs <= 15% for the baseline."""
    rise = selectivity_rise(selectivity)
    a = bool(len(rise)) and bool(((rise["rise_mean"] >= C2_RISE) & (rise["rise_min"] > 0)).all())
    b = bool(len(rise)) and bool(((rise["near_interp"] >= C2_NEAR_INTERP) & (rise["near_base"] <= C2_NEAR_BASE)).all())
    measured = {row["layer"]: {k: v for k, v in row.items() if k != "layer"} for row in rise.to_dict("records")}
    margins: dict[str, float] = {}
    if len(rise):
        margins = {"DS rise vs threshold": float((rise["rise_mean"] - C2_RISE).min()),
                   "smallest seed's rise vs 0": float(rise["rise_min"].min()),
                   "near-assigned share vs threshold": float((rise["near_interp"] - C2_NEAR_INTERP).min()),
                   "baseline near-assigned share vs threshold": float((C2_NEAR_BASE - rise["near_base"]).min()),
                   "near-assigned share vs chance": float((rise["near_interp"] - rise["chance_near"]).min())}
    worst = rise.loc[rise["rise_min"].idxmin()] if len(rise) else None
    weakest = ("" if worst is None else f"{worst['layer']}" + (
        f", seed {int(worst['weakest_seed'])}" if worst["weakest_seed"] is not None
        and not pd.isna(worst["weakest_seed"]) else ""))
    spreads = {}
    if len(rise):
        weakest_layer = rise.loc[rise["rise_mean"].idxmin()]
        # a one-seed setting has no spread of its own: the caller passes the MFF seeds' (rise_spread)
        spread = weakest_layer["rise_std"] if math.isfinite(weakest_layer["rise_std"]) else rise_spread
        if spread is not None:
            spreads = {"DS rise vs threshold": float(spread), "smallest seed's rise vs 0": float(spread)}
        # each near-assigned margin against the seed spread of the share it is taken on (that of its own layer)
        near_interp = rise.loc[rise["near_interp"].idxmin()]
        near_base = rise.loc[rise["near_base"].idxmax()]
        spreads.update({"near-assigned share vs threshold": float(near_interp["near_interp_std"]),
                        "baseline near-assigned share vs threshold": float(near_base["near_base_std"]),
                        "near-assigned share vs chance": float(
                            rise.loc[(rise["near_interp"] - rise["chance_near"]).idxmin(), "near_interp_std"])
                        if rise["chance_near"].notna().any() else float("nan")})
    return _claim("C2", {"per_layer": measured, "a_holds": a, "b_holds": b}, a and b, margins, weakest, setting,
                  spreads)


# ---- C3 --------------------------------------------------------------------------------------------


def c3_accuracy_kept(accuracy: pd.DataFrame, setting: str = "main") -> Claim:
    """Return C3: d1(interp) >= d1(base) - 0.01 and abs_rel(interp) <= 1.05 abs_rel(base), means over seeds.

    Margins: δ1 in δ1 units, AbsRel as a fraction of the baseline's (1.05 − interp / base).
    """
    _require(accuracy, ["method", "d1", "abs_rel"], "accuracy")
    means = accuracy.groupby("method")[["d1", "abs_rel"]].mean()
    if not {"baseline", "interpretable"} <= set(means.index):
        raise DataError(f"accuracy table ({setting}) needs baseline and interpretable runs, has {list(means.index)}")
    base, interp = means.loc["baseline"], means.loc["interpretable"]
    holds = bool(interp["d1"] >= base["d1"] - C3_D1_DROP) and bool(interp["abs_rel"] <= base["abs_rel"] * C3_ABS_REL_FACTOR)
    margins = {"δ1 vs threshold": float(interp["d1"] - (base["d1"] - C3_D1_DROP)),
               "AbsRel vs threshold": float(C3_ABS_REL_FACTOR - interp["abs_rel"] / base["abs_rel"])}
    measured = {"d1_base": base["d1"], "d1_interp": interp["d1"], "abs_rel_base": base["abs_rel"],
                "abs_rel_interp": interp["abs_rel"]}
    weakest = ""
    spreads: dict[str, float] = {}
    if "seed" in accuracy:
        per_method = accuracy.groupby(["method", "seed"])["d1"].mean().unstack(0)
        if {"baseline", "interpretable"} <= set(per_method.columns):
            change = (per_method["interpretable"] - per_method["baseline"]).dropna()
            measured["d1_change_by_seed"] = {int(k): float(v) for k, v in change.items()}
            if len(change) > 1:
                weakest = f"seed {int(change.idxmin())}"
                spreads["δ1 vs threshold"] = seed_spread(change)
    return _claim("C3", measured, holds, margins, weakest, setting, spreads)


# ---- C4 and C6 -------------------------------------------------------------------------------------


def _keys(rows: pd.DataFrame) -> list[str]:
    return [c for c in ("setting", "name", "seed", "layer") if c in rows]


def _per_run(rows: pd.DataFrame, measure: Callable[[pd.DataFrame], Any]) -> dict[str, Any]:
    """Return ``measure`` of each run's rows (``name`` column), {} when the rows name no run."""
    if "name" not in rows:
        return {}
    return {str(name): measure(part) for name, part in rows.groupby("name", sort=True)}


def own_range_share(ablation: pd.DataFrame) -> tuple[float, int]:
    """Return (share of ablated groups whose largest error increase is in their own range, number of groups)."""
    _require(ablation, ["group", "kind", "range_lo", "relative_change"], "ablation")
    rows = with_range_index(ablation)
    rows = rows[(rows["kind"] == "selective") & (rows["group"] >= 0)].dropna(subset=["relative_change"])
    if rows.empty:
        return float("nan"), 0
    hits = []
    for _, group in rows.groupby(_keys(rows) + ["group"]):
        worst = group.loc[group["relative_change"].idxmax(), "range"]
        hits.append(worst == group["group"].iloc[0])
    return float(np.mean(hits)), len(hits)


def _own_range_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """Return the mean own-range relative change per (run, layer, group, kind): random draws averaged first."""
    _require(rows, ["group", "kind", "range_lo", "relative_change"], "ablation/correction")
    own = own_range_rows(rows)
    return own.groupby(_keys(own) + ["group", "kind"])["relative_change"].mean().reset_index()


def own_range_change(rows: pd.DataFrame) -> dict[str, float]:
    """Return the mean relative error change in each group's own range, for "selective" and "random" units."""
    # random draws are averaged per group first, so each group weighs the same for both kinds
    per_group = _own_range_rows(rows)
    return {kind: float(per_group.loc[per_group["kind"] == kind, "relative_change"].mean())
            for kind in ("selective", "random")}


def per_group_change(rows: pd.DataFrame, sign: float = 1.0) -> dict[int, dict[str, float]]:
    """Return depth-range group -> mean and median (over runs and layers) of ``sign`` x the own-range change,
    for selective and random units, and the number of (run, layer) cases behind them."""
    per_group = _own_range_rows(rows)
    out: dict[int, dict[str, float]] = {}
    for group, part in per_group.groupby("group"):
        entry: dict[str, float] = {}
        for kind in ("selective", "random"):
            values = sign * part.loc[part["kind"] == kind, "relative_change"]
            entry[f"{kind}_mean"], entry[f"{kind}_median"] = float(values.mean()), float(values.median())
        entry["cases"] = int((part["kind"] == "selective").sum())
        out[int(group)] = entry
    return out


def own_range_reversals(ablation: pd.DataFrame) -> list[dict[str, Any]]:
    """Return the cases (run, seed, layer, range group) where ablating a group's selective units *lowers* its own
    range's error: each as {"run", "seed", "layer", "range", "value"} (``value``: the relative change, < 0), the
    run, seed or layer None when the table has no such column."""
    own = _own_range_rows(ablation)
    reversed_rows = own[(own["kind"] == "selective") & (own["relative_change"] < 0)]
    return [{"run": None if "name" not in row else str(row["name"]),
             "seed": None if "seed" not in row or pd.isna(row["seed"]) else int(row["seed"]),
             "layer": None if "layer" not in row else str(row["layer"]), "range": int(row["group"]),
             "value": float(row["relative_change"])} for _, row in reversed_rows.iterrows()]


def _reversal_words(reversals: Sequence[Mapping[str, Any]]) -> str:
    """Return "ablating its selective units lowers a range's own error in 2 cases (interp_s1 D range 0 −9.1%, ...)"."""
    cases = ", ".join(" ".join(part for part in (r.get("run") or (f"seed {r['seed']}" if r.get("seed") is not None
                                                                    else ""), r.get("layer") or "",
                                                 f"range {r['range']}", f"{_pct(r['value'])}") if part)
                      for r in reversals)
    return (f"ablating its selective units lowers a range's own error in {len(reversals)} "
            f"case{'s' * (len(reversals) != 1)} ({cases})")


def c4_ablation_reliable(ablation: pd.DataFrame) -> Claim:
    """Return C4: ablating a depth-range group hurts its own range most (>= 75% of groups), and more than random units.

    With several runs (a ``name`` column, e.g. one per seed) the share is over all their groups, and each
    run's own share and own-range changes are reported beside it as the spread. Each depth-range group is
    reported with the mean and the median of its own-range change over runs and layers. A run in which a
    group's own-range error *falls* when its units are ablated (:func:`own_range_reversals`, in ``measured``
    as ``reversals``) contradicts the claim there: the claim is at best marginal.
    """
    share, groups = own_range_share(ablation)
    change = own_range_change(ablation)
    a = bool(share >= C4_OWN_RANGE_SHARE)
    b = bool(change["selective"] > change["random"])
    per_run = _per_run(ablation, lambda rows: {"own_range_share": own_range_share(rows)[0],
                                                **{f"own_range_change_{k}": v for k, v in own_range_change(rows).items()}})
    per_group = per_group_change(ablation)
    gap = {g: v["selective_mean"] - v["random_mean"] for g, v in per_group.items()}
    weakest_group = _argmin(gap)
    # the weakest run: the lowest own-range share, ties broken by the smallest selective-over-random change
    weakest_run = min(per_run, key=lambda name: (per_run[name]["own_range_share"],
                                                 per_run[name]["own_range_change_selective"]
                                                 - per_run[name]["own_range_change_random"])) if len(per_run) > 1 else None
    weakest = ", ".join(part for part in (f"run {weakest_run}" if weakest_run else "",
                                           f"range group {weakest_group}" if weakest_group is not None else "") if part)
    margins = {"own-range share vs threshold": share - C4_OWN_RANGE_SHARE,
               "own-range change vs random units (chance)": change["selective"] - change["random"]}
    reversals = own_range_reversals(ablation)
    return _claim("C4", {"own_range_share": share, "groups": groups, "own_range_change_selective": change["selective"],
                         "own_range_change_random": change["random"], "a_holds": a, "b_holds": b, "per_run": per_run,
                         "per_group": per_group, "reversals": reversals}, a and b, margins, weakest,
                  reasons=[_reversal_words(reversals)] if reversals else [])


def c6_correction(correction: pd.DataFrame) -> Claim:
    """Return C6: correcting a group's units removes more own-range error than correcting as many random units.

    With several runs (a ``name`` column, one per seed) the means are over all their groups; each run's
    values and each depth-range group's (mean and median over runs and layers) are reported, with in how many
    range groups the selective units' mean beat the random units' (``groups_beaten`` of ``range_groups``): fewer
    than all make the claim at best marginal.
    """
    def removed(rows: pd.DataFrame) -> dict[str, float]:
        return {f"error_removed_{kind}": -value for kind, value in own_range_change(rows).items()}

    total = removed(correction)
    holds = bool(total["error_removed_selective"] > total["error_removed_random"])
    per_run = _per_run(correction, removed)
    per_group = per_group_change(correction, sign=-1.0)
    run_gap = {name: v["error_removed_selective"] - v["error_removed_random"] for name, v in per_run.items()}
    group_gap = {g: v["selective_mean"] - v["random_mean"] for g, v in per_group.items()}
    weakest_run, weakest_group = _argmin(run_gap) if len(run_gap) > 1 else None, _argmin(group_gap)
    weakest = ", ".join(part for part in (f"run {weakest_run}" if weakest_run else "",
                                           f"range group {weakest_group}" if weakest_group is not None else "") if part)
    margins = {"error removed vs random units (chance)": total["error_removed_selective"] - total["error_removed_random"]}
    beaten = [g for g, v in per_group.items() if v["selective_mean"] > v["random_mean"]]
    reasons = ([f"selective beat random in {len(beaten)} of {len(per_group)} range groups"]
               if len(beaten) < len(per_group) else [])
    return _claim("C6", {**total, "per_run": per_run, "per_group": per_group, "groups_beaten": len(beaten),
                         "range_groups": len(per_group)}, holds, margins, weakest, reasons=reasons)


# ---- C5 --------------------------------------------------------------------------------------------


def main_spreads(selectivity: pd.DataFrame, accuracy: pd.DataFrame) -> dict[str, float]:
    """Return the MFF main seeds' spreads C5 judges one-seed settings by: ``ds_rise``, the widest std over seeds of
    the per-seed DS rise among the main setting's assigned layers, and ``d1``, the std of the δ1 change (NaN each
    when the main setting has fewer than two paired seeds)."""
    out = {"ds_rise": float("nan"), "d1": float("nan")}
    if "setting" in selectivity:
        rise = selectivity_rise(selectivity[selectivity["setting"] == "main"])
        if len(rise) and rise["rise_std"].notna().any():
            out["ds_rise"] = float(rise["rise_std"].max())
    main_acc = accuracy[accuracy["setting"] == "main"] if "setting" in accuracy else accuracy.iloc[:0]
    if not main_acc.empty and {"baseline", "interpretable"} <= set(main_acc["method"]):
        out["d1"] = c3_accuracy_kept(main_acc).spreads.get("δ1 vs threshold", float("nan"))
    return out


def c5_applicability(selectivity: pd.DataFrame, accuracy: pd.DataFrame, settings: Sequence[str]) -> Claim:
    """Return C5: C2 and C3 hold in every other ``setting`` (other models, data, single layers).

    Margins per setting: each assigned layer's mean DS rise minus C2's threshold (``"<setting> <layer> DS rise vs
    threshold"``) and C3's δ1 and AbsRel margins (``"<setting> δ1 vs threshold"``, ...). Each is judged against
    the spread of the same statistic over the setting's own seeds; a one-seed setting against the MFF main seeds'
    (:func:`main_spreads`: the widest per-seed rise spread of the main layers, the δ1 change's spread), so a rise
    that passes by less than that spread is marginal. ``measured["statistics"]`` holds each setting's DS rise per
    layer and δ1 change (interpretable − baseline), the numbers the margins figure draws.
    """
    main = main_spreads(selectivity, accuracy)
    results: dict[str, dict[str, bool]] = {}
    statistics: dict[str, dict[str, Any]] = {}
    margins: dict[str, float] = {}
    spreads: dict[str, float] = {}
    for setting in settings:
        sel = selectivity[selectivity["setting"] == setting]
        acc = accuracy[accuracy["setting"] == setting]
        if sel.empty or acc.empty:
            results[setting] = {"C2": False, "C3": False, "missing": True}
            continue
        c2, c3 = c2_selectivity_rises(sel, setting), c3_accuracy_kept(acc, setting)
        results[setting] = {"C2": c2.holds, "C3": c3.holds}
        for layer, row in c2.measured["per_layer"].items():
            name = f"{setting} {layer} DS rise vs threshold"
            margins[name] = row["rise_mean"] - C2_RISE
            own = row["rise_std"]
            spreads[name] = own if own is not None and math.isfinite(own) else main["ds_rise"]
        for statistic in ("δ1 vs threshold", "AbsRel vs threshold"):
            margins[f"{setting} {statistic}"] = c3.margins[statistic]
        spreads[f"{setting} δ1 vs threshold"] = c3.spreads.get("δ1 vs threshold", main["d1"])
        statistics[setting] = {"ds_rise": {layer: row["rise_mean"] for layer, row in c2.measured["per_layer"].items()},
                               "d1_change": c3.measured["d1_interp"] - c3.measured["d1_base"]}
    holds = bool(results) and all(r["C2"] and r["C3"] for r in results.values())
    failing = [s for s, r in results.items() if not (r["C2"] and r["C3"])]
    return _claim("C5", {"per_setting": results, "statistics": statistics, "main_spreads": main}, holds, margins,
                  ", ".join(failing), spreads=spreads)


# ---- the registry: one entry per claim ---------------------------------------------------------------


@dataclass(frozen=True)
class ClaimSpec:
    """One claim as data: its statement, thresholds, the tables and function that measure it, how to read it.

    ``measure`` takes the result tables (name -> DataFrame, :func:`evaluate_claims`) and returns the
    :class:`Claim`; ``template`` turns a claim's dict into the sentence of what was measured.
    """

    id: str
    title: str  # a few words, for lists ("what did not reproduce")
    statement: str  # what a notebook states before measuring, with the thresholds
    thresholds: Mapping[str, str]
    tables: tuple[str, ...]
    measure: Callable[[Mapping[str, pd.DataFrame]], Claim]
    template: Callable[[dict[str, Any]], str]
    tolerance: float


def _num(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{float(value):.3g}"


def _pct(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    percent = 100 * float(value)
    return f"{percent:.0f}%" if abs(percent) >= 10 else f"{percent:.2g}%"  # two digits, never "1e+02%"


def _words_c1(entry: dict[str, Any]) -> str:
    parts = []
    for layer, row in entry["measured"]["per_layer"].items():
        tops = list(row["top10_min_by_seed"].values())
        units = row.get("top_units_by_seed") or {}
        counts = sorted(set(units.values()))
        behind = (f", {counts[0]} units per seed" if len(counts) == 1 else
                  f", {counts[0]}-{counts[-1]} units per seed" if counts else "")
        margin = min((row.get("margin_by_seed") or {0: min(tops) - row["chance_p90"]}).values())
        parts.append(f"{layer}: top-10% units reach DS >= {_num(min(tops))} (weakest seed) against an untrained "
                     f"90th percentile of {_num(row['chance_p90'])}, {_num(margin)} over chance{behind}")
    return "; ".join(parts)


def _words_c2(entry: dict[str, Any]) -> str:
    m = entry["measured"]
    verdict = {(True, True): "both parts hold", (True, False): "the rise holds but the near-assigned shares do not",
               (False, True): "the near-assigned shares hold but the rise does not",
               (False, False): "neither part holds"}[(bool(m["a_holds"]), bool(m["b_holds"]))]
    parts = [f"{layer}: DS rises by {_num(r['rise_mean'])} (smallest seed {_num(r['rise_min'])}), "
             f"{_pct(r['near_interp'])} of interpretable units near their assigned bin vs {_pct(r['near_base'])} "
             f"of baseline units (chance {_pct(r.get('chance_near'))})" for layer, r in m["per_layer"].items()]
    return f"({verdict}) " + "; ".join(parts)


def _words_c3(entry: dict[str, Any]) -> str:
    m = entry["measured"]
    return (f"δ1 goes from {_num(m['d1_base'])} (baseline) to {_num(m['d1_interp'])} (interpretable) and AbsRel from "
            f"{_num(m['abs_rel_base'])} to {_num(m['abs_rel_interp'])}")


def _groups(per_group: Mapping[str, Any], unit: str) -> str:
    """Return the per-range-group text: each group's mean / median for selective vs random units, and in how many
    groups the selective units' mean beats the random units' (naming the groups where it does not)."""
    losing = [str(g) for g, v in per_group.items() if not v["selective_mean"] > v["random_mean"]]
    verdict = (f"; selective units beat random ones in {len(per_group) - len(losing)} of {len(per_group)} range groups"
               + (f" (not in group{'s' * (len(losing) > 1)} {', '.join(losing)})" if losing else ""))
    return "; per range group (mean / median " + unit + ", selective vs random): " + ", ".join(
        f"{g}: {_pct(v['selective_mean'])} / {_pct(v['selective_median'])} vs {_pct(v['random_mean'])} / "
        f"{_pct(v['random_median'])}" for g, v in per_group.items()) + verdict


def _words_c4(entry: dict[str, Any]) -> str:
    m = entry["measured"]
    runs = m.get("per_run") or {}
    spread = (" (per run: " + ", ".join(f"{name} {_pct(v['own_range_share'])}" for name, v in runs.items()) + ")"
              if len(runs) > 1 else "")
    groups = _groups(m["per_group"], "error change") if m.get("per_group") else ""
    return (f"ablating a depth-range group hurts its own range most in {_pct(m['own_range_share'])} of {m['groups']} "
            f"groups{spread}; the own-range error changes by {_pct(m['own_range_change_selective'])} for selective "
            f"units vs {_pct(m['own_range_change_random'])} for as many random units{groups}")


def _words_c5(entry: dict[str, Any]) -> str:
    statistics = entry["measured"].get("statistics") or {}

    def numbers(setting: str) -> str:
        row = statistics.get(setting)
        if not row:
            return ""
        rises = ", ".join(f"{layer} {_num(value)}" for layer, value in row["ds_rise"].items())
        return f" (DS rise {rises}; δ1 change {float(row['d1_change']):+.3g})" if row.get("d1_change") is not None \
            else f" (DS rise {rises})"

    return "; ".join(f"{setting}: no runs" if row.get("missing") else
                     f"{setting}: C2 {'holds' if row['C2'] else 'fails'}, C3 {'holds' if row['C3'] else 'fails'}"
                     + numbers(setting) for setting, row in entry["measured"]["per_setting"].items())


def _words_c6(entry: dict[str, Any]) -> str:
    m = entry["measured"]
    runs = m.get("per_run") or {}
    spread = (" (per run: " + ", ".join(f"{name} {_pct(v['error_removed_selective'])} vs "
                                         f"{_pct(v['error_removed_random'])}" for name, v in runs.items()) + ")"
              if len(runs) > 1 else "")
    groups = _groups(m["per_group"], "error removed") if m.get("per_group") else ""
    return (f"correcting a range's selective units removes {_pct(m['error_removed_selective'])} of its error vs "
            f"{_pct(m['error_removed_random'])} for as many random units{spread}{groups}")


def _main(table: pd.DataFrame | None) -> pd.DataFrame | None:
    return None if table is None else table[table["setting"] == "main"]


def _c5(tables: Mapping[str, pd.DataFrame]) -> Claim:
    sel, acc = tables["selectivity"], tables["accuracy"]
    return c5_applicability(sel, acc, [s for s in dict.fromkeys(acc["setting"]) if s != "main"])


REGISTRY: dict[str, ClaimSpec] = {spec.id: spec for spec in (
    ClaimSpec(
        "C1", "the baseline has depth-selective units",
        f"The baseline already has depth-selective units: in every studied layer and every seed, the top 10% of its "
        f"units by DS exceed the {100 * C1_CHANCE_QUANTILE:.0f}th percentile of the DS of untrained networks' units "
        f"(same architecture, same dissection, 3 seeds).",
        {"top10_min_by_seed": "> the untrained networks' 90th percentile (same dissection)"}, ("units_baseline", "units_chance"),
        lambda t: c1_baseline_selective(t["units_baseline"], t["units_chance"]), _words_c1, TOLERANCE["C1"]),
    ClaimSpec(
        "C2", "the method raises selectivity",
        f"Assigning depth ranges raises selectivity: mean DS rises by >= {C2_RISE} on every assigned layer, with every "
        f"seed's rise > 0; and >= {C2_NEAR_INTERP:.0%} of the interpretable model's units prefer a bin within ±2 of "
        f"their assigned bin, against <= {C2_NEAR_BASE:.0%} for the baseline.",
        {"rise_mean": f">= {C2_RISE}", "rise_min": "> 0", "near_interp": f">= {C2_NEAR_INTERP}",
         "near_base": f"<= {C2_NEAR_BASE}"}, ("selectivity",),
        lambda t: c2_selectivity_rises(_main(t["selectivity"])), _words_c2, TOLERANCE["C2"]),
    ClaimSpec(
        "C3", "accuracy is not harmed",
        f"Accuracy is not harmed: δ1(interpretable) >= δ1(baseline) − {C3_D1_DROP} and "
        f"AbsRel(interpretable) <= {C3_ABS_REL_FACTOR} × AbsRel(baseline), means over seeds.",
        {"d1_interp": f">= δ1 (baseline) − {C3_D1_DROP}", "abs_rel_interp": f"<= {C3_ABS_REL_FACTOR} × AbsRel (baseline)"},
        ("accuracy",), lambda t: c3_accuracy_kept(_main(t["accuracy"])), _words_c3, TOLERANCE["C3"]),
    ClaimSpec(
        "C4", "selective units are reliable",
        f"Selective units are reliable: ablating the units of a depth range hurts that range most in "
        f">= {C4_OWN_RANGE_SHARE:.0%} of the groups, and hurts it more than ablating as many random units.",
        {"own_range_share": f">= {C4_OWN_RANGE_SHARE}", "own_range_change_selective": "> the same for as many random units"}, ("ablation",),
        lambda t: c4_ablation_reliable(t["ablation"]), _words_c4, TOLERANCE["C4"]),
    ClaimSpec(
        "C5", "the method applies to other layers, models, data and tasks",
        ("The method applies elsewhere: C2 and C3 hold for other layers (R.conv0, R.conv1 alone), model (BTS), "
         "data (outdoor scenes) and task (depth completion: CSPN on RGB + sparse depth)."),
        {"per_setting": "C2 and C3 hold in each"}, ("selectivity", "accuracy"), _c5, _words_c5, TOLERANCE["C5"]),
    ClaimSpec(
        "C6", "correction finds the units behind the error",
        "Correcting the depth-selective units of a range (their dissected mean response at each pixel's true depth "
        "bin) removes more of that range's error than correcting as many random units.",
        {"error_removed_selective": "> the error removed by as many random units"}, ("correction",),
        lambda t: c6_correction(t["correction"]), _words_c6, TOLERANCE["C6"]),
)}

#: The measured quantities a threshold is on, in words (the keys of ``Claim.threshold`` and of ``measured``).
THRESHOLD_WORDS = {
    "top10_min_by_seed": "each seed's top-10% DS", "rise_mean": "mean DS rise", "rise_min": "smallest seed's rise",
    "near_interp": "share of interpretable units near their bin", "near_base": "share of baseline units near their bin",
    "d1_interp": "δ1 (interpretable)", "abs_rel_interp": "AbsRel (interpretable)",
    "own_range_share": "share of groups hurting their own range most",
    "own_range_change_selective": "own-range error change, selective units", "per_setting": "every other setting:",
    "error_removed_selective": "error removed by the selective units",
}

#: claim id -> statement (a view of :data:`REGISTRY`).
STATEMENTS = {claim_id: spec.statement for claim_id, spec in REGISTRY.items()}


# ---- all claims -------------------------------------------------------------------------------------


def _read(folder: Path, name: str) -> pd.DataFrame | None:
    path = folder / "results" / f"{name}.csv"
    return read_checked(path, name) if path.exists() else None


def _missing(claim_id: str, tables: Sequence[str]) -> Claim:
    spec = REGISTRY[claim_id]
    return Claim(claim_id, spec.statement, {"missing_tables": list(tables)}, dict(spec.thresholds), False)


def claim_tables(folder: str | Path, ids: Sequence[str] | None = None) -> dict[str, pd.DataFrame | None]:
    """Return the result tables in ``folder/results`` that claims ``ids`` (default all) and their controls read:
    name -> DataFrame, None when missing. Each is checked on read (:mod:`mdeinterp.table_checks`), and together
    (tables that list different runs: one was cut short); a short or malformed one raises DataError."""
    folder = Path(folder)
    specs = [REGISTRY[i] for i in (ids or REGISTRY)]
    names = dict.fromkeys([*(name for spec in specs for name in spec.tables), "plateaus",
                           *(CLEAN_TABLES[spec.id] for spec in specs if spec.id in CLEAN_TABLES)])
    tables = {name: _read(folder, name) for name in names}
    check_tables(tables)
    return tables


def evaluate_claims(folder: str | Path, ids: Sequence[str] | None = None) -> list[Claim]:
    """Return the claims ``ids`` (default C1..C6) computed from the result tables in ``folder/results`` (a missing
    table makes its claim false), each through its controls (:func:`through_controls`): the one computation
    ``claims.json`` and every notebook's closing cell share, so they cannot disagree.

    Each table is checked on read (:func:`claim_tables`): a short or malformed one raises DataError.
    """
    unknown = [i for i in (ids or ()) if i not in REGISTRY]
    if unknown:
        raise KeyError(f"unknown claim ids {unknown}; expected some of {', '.join(REGISTRY)}")
    tables = claim_tables(folder, ids)
    checked = []
    for spec in (REGISTRY[i] for i in (ids or REGISTRY)):
        missing = [name for name in spec.tables if tables[name] is None]
        checked.append(_missing(spec.id, missing) if missing else spec.measure(tables))
    return [through_controls(claim, tables) for claim in sorted(checked, key=lambda c: c.id)]


#: The settings each claim's runs come from: C1 reads baselines only, C5 every setting but "main".
_CLAIM_SETTINGS = {"C2": ("main",), "C3": ("main",), "C4": ("main",), "C6": ("main",)}


def controlled_claim(claim: Claim, tables: Mapping[str, pd.DataFrame | None]) -> dict[str, Any]:
    """Return the controlled computation of ``claim``: {"holds": bool or None, "margins", "reason"}.

    C1: the same statistic over the clean units only (neither dead, near-silent nor position-coded), trained and
    untrained alike. C2: the mean DS of the clean units (``clean_selectivity``) in place of the mean DS; C5: that
    C2 and the paper's C3 in every other setting. C4 and C6: the same claim on the interventions over clean units
    only (:data:`CLEAN_TABLES`), with how many units the groups keep. C3 has no unit-level control: None, with the
    reason.
    """
    if "missing_tables" in claim.measured:
        return {"holds": None, "reason": "its tables are missing"}
    units, chance, sel = tables.get("units_baseline"), tables.get("units_chance"), tables.get("selectivity")
    if claim.id == "C1":
        if not (has_control(units) and has_control(chance)):
            return {"holds": None, "reason": "the unit tables carry no position-control columns (dissected before "
                                             "the control existed)"}
        controlled = c1_baseline_selective(clean_units(units), clean_units(chance))
        return {"holds": controlled.holds, "margins": controlled.margins, "weakest": controlled.weakest,
                "units_kept": int(len(clean_units(units))), "units": int(len(units)), "reason": ""}
    if claim.id in ("C2", "C5"):
        if not has_control(sel, ("clean_selectivity",)):
            return {"holds": None, "reason": "the selectivity table carries no clean-unit DS (dissected before the "
                                             "position control existed)"}
        clean = sel.assign(mean_selectivity=sel["clean_selectivity"])
        if claim.id == "C2":
            controlled = c2_selectivity_rises(_main(clean))
        else:
            controlled = c5_applicability(clean, tables["accuracy"],
                                          [x for x in dict.fromkeys(tables["accuracy"]["setting"]) if x != "main"])
        return {"holds": controlled.holds, "margins": controlled.margins, "weakest": controlled.weakest, "reason": ""}
    if claim.id == "C3":  # accuracy: no unit enters it, so no unit-level control applies
        return {"holds": None, "applies": False, "reason": "accuracy involves no unit selection: no control applies"}
    name = CLEAN_TABLES.get(claim.id)
    if name is None:
        return {"holds": None, "reason": "no control is defined for this claim"}
    table = tables.get(name)
    if table is None:
        return {"holds": None, "reason": f"results/{name}.csv is missing: the interventions on clean units only "
                                         "were not run"}
    controlled = REGISTRY[claim.id].measure({REGISTRY[claim.id].tables[0]: table})
    return {"holds": controlled.holds, "margins": controlled.margins, "weakest": controlled.weakest,
            "units_kept": _group_units(table), "units": _group_units(tables.get(REGISTRY[claim.id].tables[0])),
            "marginal_reasons": controlled.marginal_reasons, "reason": ""}


#: The controlled computation of C4 and C6: the same interventions with the groups and the random draws taken
#: from the clean units only (``Run.interventions(..., clean=True)``), written by notebooks 03 and 05.
CLEAN_TABLES = {"C4": "ablation_clean", "C6": "correction_clean"}


def _group_units(table: pd.DataFrame | None) -> int | None:
    """Return how many units the selective groups of an intervention table hold, over runs and layers."""
    if table is None:
        return None
    keys = [c for c in ("name", "layer", "group") if c in table]
    selective = table[table["kind"] == "selective"].drop_duplicates(keys)
    return int(selective["units"].sum())


def through_controls(claim: Claim, tables: Mapping[str, pd.DataFrame | None] | None = None) -> Claim:
    """Return ``claim`` with its controlled computation, convergence and verdict word set (:mod:`mdeinterp.verdicts`).

    Without ``tables`` (a claim measured outside the study's result tables, as notebook 07's) no control is
    measured and every run counts as converged.
    """
    tables = tables or {}
    rising = not_converged_settings(tables.get("plateaus"))
    # a claim measured on one setting (C3 of "bts", say) converges with that setting's runs
    settings = (claim.setting,) if claim.setting else _CLAIM_SETTINGS.get(claim.id)
    if claim.id == "C5":
        settings = tuple(s for s in dict.fromkeys(tables["accuracy"]["setting"]) if s != "main") \
            if tables.get("accuracy") is not None else ()
    claim.converged = not (settings and any(s in rising for s in settings))
    if rising and settings:
        claim.measured = {**claim.measured, "not_converged_settings": [s for s in settings if s in rising]}
    claim.controlled = controlled_claim(claim, tables)
    claim.state = state(claim.holds, claim.controlled.get("holds"), claim.marginal, claim.converged,
                        claim.controlled.get("applies", True),
                        fails_within_noise(claim.margins, claim.marginal_margins))
    return claim


def write_claims(claims: Sequence[Claim], path: str | Path) -> Path:
    """Write the claims as a JSON list to ``path`` atomically, each with its interpretation, and their Markdown
    beside it (``claims.md``: :func:`readme_block`, so notebook 07's section is there when its claims are);
    return the JSON path."""
    path = Path(path)
    entries = [{**c.to_dict(), "interpretation": interpret(c)} for c in claims]
    atomic_write_text(path, json.dumps(entries, indent=2) + "\n")
    # the claims table and "what did not reproduce", for the README's block (update_readme_block) and readers
    atomic_write_text(path.with_suffix(".md"), readme_block(path))
    return path


def write_own_model_claims(claims: Sequence[Claim], figures: str | Path) -> Path:
    """Write notebook 07's claims to ``figures``/:data:`OWN_MODEL_CLAIMS` (:func:`write_claims`), each through
    :func:`through_controls` first when it has no verdict yet, and refresh ``figures/claims.md`` when
    ``figures/claims.json`` exists, so it carries their section as the README block does; return the JSON path."""
    figures = Path(figures)
    checked = [claim if claim.state else through_controls(claim) for claim in claims]
    (figures / OWN_MODEL_CLAIMS).parent.mkdir(parents=True, exist_ok=True)
    path = write_claims(checked, figures / OWN_MODEL_CLAIMS)
    if (figures / "claims.json").exists():
        atomic_write_text(figures / "claims.md", readme_block(figures / "claims.json"))
    return path


# ---- narrative: what each claim says, and what the measured numbers say ----------------------------


def describe(ids: Sequence[str]) -> str:
    """Return a Markdown list stating the claims ``ids`` with their thresholds (:data:`REGISTRY`)."""
    unknown = [i for i in ids if i not in REGISTRY]
    if unknown:
        raise KeyError(f"unknown claim ids {unknown}; expected some of {', '.join(REGISTRY)}")
    return "\n".join(f"- **{i}** {REGISTRY[i].statement}" for i in ids)


def _entry(claim: Claim) -> dict[str, Any]:
    """Return the :meth:`Claim.to_dict` view the narrative words (numbers as in ``claims.json``)."""
    return Claim.of(claim).to_dict()


def _label(entry: Mapping[str, Any]) -> str:
    """Return "C2 (bts)" for a claim checked on one setting, else its id."""
    return entry["id"] + (f" ({entry['setting']})" if entry.get("setting") else "")


def _holds(entry: Mapping[str, Any]) -> str:
    return "holds" if entry["holds"] else "does not hold"


def measured_words(claim: Claim) -> str:
    """Return what was measured for ``claim``, in words (its registry template; every number from the claim)."""
    return _measured_words(_entry(claim))


def _measured_words(entry: Mapping[str, Any]) -> str:
    if "missing_tables" in entry["measured"]:
        return f"not measured: the result tables {', '.join(entry['measured']['missing_tables'])} are missing"
    return REGISTRY[entry["id"]].template(entry)


def margin_words(claim: Claim) -> str:
    """Return the claim's margins against threshold and chance, its weakest seed or group, and "marginal" when so."""
    return _margin_words(_entry(claim))


def _margin_words(entry: Mapping[str, Any]) -> str:
    margins = {k: v for k, v in (entry.get("margins") or {}).items() if v is not None}
    if not margins and not entry.get("weakest") and not entry.get("marginal_reasons"):
        return ""
    marginal = set(entry.get("marginal_margins") or [])
    spreads = entry.get("spreads") or {}

    def part(name: str, value: float) -> str:
        if name not in marginal:
            return f"{name} {float(value):+.3g}"
        spread = spreads.get(name)
        noise = (f"the seeds' spread {float(spread):.2g}" if spread is not None
                 else f"±{REGISTRY[entry['id']].tolerance:g}")
        return f"{name} {float(value):+.3g} (marginal: within {noise})"

    parts = [part(name, value) for name, value in margins.items()]
    text = "Margins: " + ", ".join(parts) if parts else ""
    if entry.get("weakest"):
        text += ("; " if text else "") + f"weakest: {entry['weakest']}"
    reasons = entry.get("marginal_reasons") or []
    if reasons:
        text += ("; " if text else "") + "marginal: " + "; ".join(reasons)
    return text + "."


def interpret(claim: Claim) -> str:
    """Return what the measured values of ``claim`` show, its margins and weakest seed or group (every number from the claim)."""
    entry = _entry(claim)
    if "missing_tables" in entry["measured"]:
        return f"{entry['id']} could not be checked: the result tables {', '.join(entry['measured']['missing_tables'])} are missing."
    words = _measured_words(entry)
    separator = " " if words.startswith("(") else ": "
    sentence = f"{_label(entry)} {_holds(entry)}{separator}{words}."
    margins = _margin_words(entry)
    return f"{sentence} {margins}" if margins else sentence


def claim_count(claims: Sequence[Claim]) -> tuple[list[str], list[str]]:
    """Return (ids that hold, ids checked), each claim counted once: it holds when every setting it was checked on holds."""
    entries = [_entry(c) for c in claims]
    checked = list(dict.fromkeys(e["id"] for e in entries))
    held = [i for i in checked if all(e["holds"] for e in entries if e["id"] == i)]
    return held, checked


def not_reproduced(claims: Sequence[Claim], own_model: Sequence[Claim] | None = None) -> str:
    """Return the "what did not reproduce" paragraph (Markdown): each claim that is not "reproduced", with its
    verdict (:data:`mdeinterp.verdicts.STATES`) and worst margin; computed from the claims' numbers only.

    ``own_model``: notebook 07's claims on its own network (:func:`read_own_model_claims`); when given, a second
    paragraph says what did not reproduce there.

    The one place this wording lives: the README's claims block (:func:`claims_markdown`), each notebook's
    closing cell (:func:`interpretation`) and :func:`mdeinterp.plots.claim_margins`' caption read it from here.
    """
    text = _not_reproduced(claims)
    if own_model is not None:
        text += "\n\n" + _not_reproduced(own_model, OWN_MODEL_HEAD)
    return text


#: The head of the own-model paragraph and table (notebook 07's claims, :data:`OWN_MODEL_CLAIMS`).
OWN_MODEL_HEAD = "What did not reproduce on the own model (notebook 07)"
#: Where notebook 07 writes its claims, relative to the figures folder (beside the result tables).
OWN_MODEL_CLAIMS = Path("results") / "own_model_claims.json"


def _not_reproduced(claims: Sequence[Claim], head: str = "What did not reproduce") -> str:
    entries = [_entry(c) for c in claims]
    if not entries:
        return f"**{head}:** nothing was checked."
    if any(e.get("state") for e in entries):
        return _not_reproduced_by_state(entries, head)
    failed, marginal = [], []
    for entry in entries:
        margins = {k: v for k, v in (entry.get("margins") or {}).items() if v is not None}
        worst = min(margins, key=margins.get) if margins else None
        detail = f"{worst} {float(margins[worst]):+.3g}" if worst else ""
        if "missing_tables" in entry["measured"]:
            detail = "its tables are missing"
        elif not margins and entry.get("weakest"):
            detail = f"fails for {entry['weakest']}"
        where = f"; weakest: {entry['weakest']}" if entry.get("weakest") and margins else ""
        text = f"{_label(entry)}, {REGISTRY[entry['id']].title} ({detail}{where})" if detail else (
            f"{_label(entry)}, {REGISTRY[entry['id']].title}")
        if not entry["holds"]:
            failed.append(text)
        elif entry.get("marginal"):
            marginal.append(text)
    if not failed:
        text = f"**{head}:** nothing; every claim checked here holds."
    else:
        text = f"**{head}:** " + "; ".join(failed) + "."
    if marginal:
        text += " Holding only marginally: " + "; ".join(marginal) + "."
    return text


def _worst(entry: Mapping[str, Any]) -> str:
    margins = {k: v for k, v in (entry.get("margins") or {}).items() if v is not None}
    if "missing_tables" in entry["measured"]:
        return "its tables are missing"
    if not margins:
        return f"fails for {entry['weakest']}" if entry.get("weakest") and not entry["holds"] else ""
    worst = min(margins, key=margins.get)
    return f"{worst} {float(margins[worst]):+.3g}" + (f"; weakest: {entry['weakest']}" if entry.get("weakest") else "")


def _marginal_parts(entry: Mapping[str, Any]) -> list[str]:
    """Return each marginal margin with its value and the spread it is within, then the claim's other reasons."""
    margins, spreads = entry.get("margins") or {}, entry.get("spreads") or {}
    parts = []
    for name in entry.get("marginal_margins") or []:
        value, spread = margins.get(name), spreads.get(name)
        parts.append(name + ("" if value is None else f" {float(value):+.2g}")
                     + ("" if spread is None else f" (seed spread {float(spread):.2g})"))
    return parts + list(entry.get("marginal_reasons") or [])


def _not_reproduced_by_state(entries: Sequence[Mapping[str, Any]], head: str = "What did not reproduce") -> str:
    lines = []
    for entry in entries:
        if entry.get("state") in ("reproduced", None, ""):
            continue
        detail = _worst(entry)
        controlled = entry.get("controlled") or {}
        if entry["state"] == "holds only as the paper computes it":
            worst = _worst({**entry, "margins": controlled.get("margins") or {}, "weakest": controlled.get("weakest"),
                            "holds": False})
            detail = f"controlled: {worst}" if worst else "the controlled computation fails"
        elif entry["state"] == "not converged":
            where = ", ".join(entry["measured"].get("not_converged_settings") or [])
            detail = f"{'holds' if entry['holds'] else 'fails'} as the paper computes it; still rising: {where}"
        elif entry["state"] == "marginal":
            detail = ("" if entry["holds"] else "misses as the paper computes it, within the noise: ") + "; ".join(
                _marginal_parts(entry))
        elif entry["state"] == "holds; control not measured":
            detail = controlled.get("reason", "")
        if entry["state"] != "marginal" and _marginal_parts(entry):
            # a verdict that outranks "marginal" still names the margins within the noise and what else would keep
            # the claim from "reproduced"
            detail += ("; " if detail else "") + ("also " if entry["holds"] else "") + "marginal: " + "; ".join(
                _marginal_parts(entry))
        lines.append(f"{_label(entry)}, {REGISTRY[entry['id']].title}: **{entry['state']}**"
                     + (f" ({detail})" if detail else ""))
    if not lines:
        return f"**{head}:** nothing; every claim checked here is reproduced, its controls included."
    return f"**{head}:** " + "; ".join(lines) + "."


def controlled_words(claim: Claim | Mapping[str, Any], margins: bool = False) -> str:
    """Return the controlled computation of a claim in words: "n/a", "not measured", or "holds" / "fails" with how
    many of the paper's units the control kept ("holds (186 of 192 units)"); with ``margins``, its margins too."""
    controlled = _entry(claim).get("controlled") or {}
    held = controlled.get("holds")
    control = ("n/a" if not controlled.get("applies", True) else "not measured" if held is None
               else "holds" if held else "fails")
    if held is not None and controlled.get("units"):  # how much of the paper's unit set the control kept
        control += f" ({controlled.get('units_kept')} of {controlled['units']} units)"
    values = {k: v for k, v in (controlled.get("margins") or {}).items() if v is not None}
    if margins and held is not None and values:
        control += "; margins: " + ", ".join(f"{k} {float(v):+.3g}" for k, v in values.items())
    return control


def _claims_rows(claims: Sequence[Claim]) -> list[str]:
    rows = ["| claim | as the paper computes it | controlled | verdict |", "|---|---|---|---|"]
    for entry in map(_entry, claims):
        control = controlled_words(entry)
        rows.append(f"| {_label(entry)} {REGISTRY[entry['id']].title} | {'holds' if entry['holds'] else 'fails'} "
                    f"| {control} | {entry.get('state') or ('holds' if entry['holds'] else 'fails')} |")
    return rows


def claims_markdown(claims: Sequence[Claim], own_model: Sequence[Claim] | None = None) -> str:
    """Return the claims as a Markdown table (claim, paper's computation, controlled, verdict) and the
    "what did not reproduce" paragraph: the README's claims block and ``figures/claims.md``.

    ``own_model``: notebook 07's claims (:func:`read_own_model_claims`); when given, an "own model (notebook 07)"
    table and its own paragraph follow.
    """
    text = "\n".join(_claims_rows(claims)) + "\n\n" + _not_reproduced(claims) + "\n"
    if own_model is not None:
        text += ("\nOwn model (notebook 07), on its own network:\n\n" + "\n".join(_claims_rows(own_model))
                 + "\n\n" + _not_reproduced(own_model, OWN_MODEL_HEAD) + "\n")
    return text


def read_claims(path: str | Path) -> list[Claim]:
    """Return the claims a ``claims.json`` (:func:`write_claims`) holds, as :class:`Claim` objects."""
    return [Claim.from_dict(entry) for entry in json.loads(Path(path).read_text())]


def read_own_model_claims(figures: str | Path) -> list[Claim] | None:
    """Return notebook 07's claims from ``figures``/:data:`OWN_MODEL_CLAIMS`, or None when it has not run."""
    path = Path(figures) / OWN_MODEL_CLAIMS
    return read_claims(path) if path.exists() else None


def readme_block(claims_json: str | Path) -> str:
    """Return the README's claims block: :func:`claims_markdown` of ``claims_json`` with notebook 07's claims
    beside it (:data:`OWN_MODEL_CLAIMS` in the same figures folder) when that file exists."""
    claims_json = Path(claims_json)
    return claims_markdown(read_claims(claims_json), read_own_model_claims(claims_json.parent))


def margin_table(claims: Sequence[Claim]) -> pd.DataFrame:
    """Return one row per claim x margin, as the claims hold them (``claims.json`` via :func:`read_claims`):
    ``claim``, ``setting`` (C5's margins: the setting each names), ``margin`` (its name), ``value`` (measured minus
    threshold), ``spread`` (the noise it was judged by; NaN: the tolerance), ``marginal`` and the claim's ``state``.
    A figure of margins reads this table, so it cannot disagree with the verdicts."""
    rows = []
    for entry in map(_entry, claims):
        settings = list((entry["measured"].get("per_setting") or {}))
        marginal = set(entry.get("marginal_margins") or [])
        for name, value in (entry.get("margins") or {}).items():
            setting = next((s for s in settings if name.startswith(f"{s} ")), entry.get("setting") or "")
            spread = (entry.get("spreads") or {}).get(name)
            rows.append({"claim": entry["id"], "setting": setting, "margin": name,
                         "value": float("nan") if value is None else float(value),
                         "spread": float("nan") if spread is None else float(spread), "marginal": name in marginal,
                         "state": entry.get("state") or ""})
    return pd.DataFrame(rows, columns=["claim", "setting", "margin", "value", "spread", "marginal", "state"])


def setting_margins(claims: Sequence[Claim]) -> pd.DataFrame:
    """Return one row per setting (main first) for ``fig_claim_margins``, read from the claims (C2 and C3 for
    "main", C5 for the others), never recomputed: ``setting``, ``layer`` (the assigned layer with the smallest
    rise), ``ds_rise`` and ``d1_change`` (interpretable − baseline, the columns :func:`mdeinterp.plots.claim_margins`
    draws), their margins against C2's and C3's thresholds (``ds_rise_margin``, ``d1_margin``), whether each is
    marginal (``ds_rise_marginal``, ``d1_marginal``), whether the setting ``holds``, the claim's ``state``, the
    setting's own ``verdict`` on these two statistics ("not converged", "fails", "marginal" or "holds"; the
    controlled computation is the claim's, in ``state``), and each panel's own verdict: ``ds_rise_verdict`` on the
    rise part of C2 alone (every assigned layer's mean rise >= the threshold, every seed's > 0; the near-assigned
    shares are not drawn), ``d1_verdict`` on C3 (δ1 and AbsRel)."""
    by_id = {entry["id"]: entry for entry in map(_entry, claims) if "missing_tables" not in entry["measured"]}
    rows = []
    c2, c3 = by_id.get("C2"), by_id.get("C3")
    if c2 and c3 and c2["measured"].get("per_layer"):
        rises = {layer: r["rise_mean"] for layer, r in c2["measured"]["per_layer"].items()}
        layer = min(rises, key=rises.get)
        rows.append({"setting": c2.get("setting") or "main", "layer": layer, "ds_rise": rises[layer],
                     "d1_change": c3["measured"]["d1_interp"] - c3["measured"]["d1_base"],
                     "ds_rise_margin": rises[layer] - C2_RISE, "d1_margin": c3["margins"].get("δ1 vs threshold"),
                     "ds_rise_marginal": "DS rise vs threshold" in (c2.get("marginal_margins") or []),
                     "d1_marginal": "δ1 vs threshold" in (c3.get("marginal_margins") or []),
                     "holds": bool(c2["holds"] and c3["holds"]), "state": c2.get("state") or "",
                     "rise_holds": bool(c2["measured"].get("a_holds", c2["holds"])), "d1_holds": bool(c3["holds"]),
                     "rise_noise": _misses_within_noise(c2, ("DS rise vs threshold", "smallest seed's rise vs 0")),
                     "d1_noise": _misses_within_noise(c3, tuple(c3.get("margins") or {})),
                     "noise": _misses_within_noise({"margins": {**c2["margins"], **c3["margins"]},
                                                    "marginal_margins": [*(c2.get("marginal_margins") or []),
                                                                         *(c3.get("marginal_margins") or [])]},
                                                   tuple({**c2["margins"], **c3["margins"]}))})
    c5 = by_id.get("C5")
    for setting, row in ((c5 or {}).get("measured", {}).get("statistics") or {}).items():
        rises = row["ds_rise"]
        layer = min(rises, key=rises.get)
        rise_name, d1_name = f"{setting} {layer} DS rise vs threshold", f"{setting} δ1 vs threshold"
        verdict = c5["measured"]["per_setting"][setting]
        rows.append({"setting": setting, "layer": layer, "ds_rise": rises[layer], "d1_change": row["d1_change"],
                     "ds_rise_margin": c5["margins"].get(rise_name), "d1_margin": c5["margins"].get(d1_name),
                     "ds_rise_marginal": rise_name in (c5.get("marginal_margins") or []),
                     "d1_marginal": d1_name in (c5.get("marginal_margins") or []),
                     "holds": bool(verdict["C2"] and verdict["C3"]), "state": c5.get("state") or "",
                     # a one-seed setting's rise part: the smallest layer's rise meets the threshold
                     "rise_holds": bool(min(rises.values()) >= C2_RISE), "d1_holds": bool(verdict["C3"]),
                     "rise_noise": _misses_within_noise(c5, [f"{setting} {name} DS rise vs threshold" for name in rises]),
                     "d1_noise": _misses_within_noise(c5, [f"{setting} δ1 vs threshold", f"{setting} AbsRel vs threshold"]),
                     "noise": _misses_within_noise(c5, [n for n in c5["margins"] if n.startswith(f"{setting} ")])})
    rising = {s for entry in (c2, c5) if entry for s in entry["measured"].get("not_converged_settings") or []}

    def verdict(setting: str, holds: bool, marginal: bool, within_noise: bool) -> str:
        # as verdicts.state: a miss by margins within their noise only is marginal, not a failure
        if setting in rising:
            return "not converged"
        if not holds:
            return "marginal" if within_noise else "fails"
        return "marginal" if marginal else "holds"

    for row in rows:
        row["verdict"] = verdict(row["setting"], row["holds"], row["ds_rise_marginal"] or row["d1_marginal"],
                                 row.pop("noise"))
        row["ds_rise_verdict"] = verdict(row["setting"], row.pop("rise_holds"), row["ds_rise_marginal"],
                                         row.pop("rise_noise"))
        row["d1_verdict"] = verdict(row["setting"], row.pop("d1_holds"), row["d1_marginal"], row.pop("d1_noise"))
    return pd.DataFrame(rows, columns=["setting", "layer", "ds_rise", "d1_change", "ds_rise_margin", "d1_margin",
                                       "ds_rise_marginal", "d1_marginal", "holds", "state", "verdict",
                                       "ds_rise_verdict", "d1_verdict"])


def _misses_within_noise(entry: Mapping[str, Any], names: Sequence[str]) -> bool:
    """Return whether the claim's margins ``names`` (those it has) miss only within their noise
    (:func:`mdeinterp.verdicts.fails_within_noise`)."""
    margins = entry.get("margins") or {}
    return fails_within_noise({n: margins[n] for n in names if n in margins}, entry.get("marginal_margins") or [])


README_START, README_END = "<!-- claims:start -->", "<!-- claims:end -->"


def update_readme_block(readme: str | Path, claims_json: str | Path) -> bool:
    """Replace the README's text between :data:`README_START` and :data:`README_END` with :func:`readme_block`
    of ``claims_json`` (own-model section included when notebook 07 wrote one); return whether the file changed."""
    readme = Path(readme)
    text = readme.read_text()
    if text.count(README_START) != 1 or text.count(README_END) != 1:
        raise DataError(f"{readme} needs one {README_START} and one {README_END} marker around its claims table")
    block = readme_block(claims_json)
    head, rest = text.split(README_START)
    _, tail = rest.split(README_END)
    new = f"{head}{README_START}\n{block}{README_END}{tail}"
    if new != text:
        atomic_write_text(readme, new)
    return new != text


def _verdict_words(claim_id: str, claims: Sequence[Claim]) -> str:
    """Return "C3 marginal", or, when the settings of one claim differ, each with its own verdict:
    "C3 (bts) not converged, C3 (completion) fails"."""
    states = list(dict.fromkeys(c.state for c in claims))
    if len(states) == 1:
        return f"{claim_id} {states[0]}"
    return ", ".join(f"{_label(_entry(c))} {c.state}" for c in claims)


def interpretation(claims: Sequence[Claim]) -> str:
    """Return a paragraph (Markdown): how many claims hold (each counted once; claims through the controls: how many
    are reproduced, the others' verdicts, then how many hold as the paper computes them), an :func:`interpret`
    sentence per checked claim, and the :func:`not_reproduced` paragraph."""
    claims = [Claim.of(c) for c in claims]
    held, checked = claim_count(claims)
    summary = (f"**{len(held)} of {len(checked)} claims hold** on this run"
               + (f": {', '.join(held)}." if held else "."))
    if any(c.state for c in claims):  # through the controls: count verdicts, then what the paper's computation says
        states = {i: list(dict.fromkeys(c.state for c in claims if c.id == i)) for i in checked}
        reproduced = [i for i in checked if states[i] == ["reproduced"]]
        others = [_verdict_words(i, [c for c in claims if c.id == i and c.state != "reproduced"])
                  for i in checked if i not in reproduced]
        summary = (f"**{len(reproduced)} of {len(checked)} claims reproduced** on this run"
                   + (f": {', '.join(reproduced)}" if reproduced else "") + ("; " + "; ".join(others) if others else "")
                   + f". As the paper computes them, {len(held)} of {len(checked)} hold"
                   + (f": {', '.join(held)}." if held else "."))
    return " ".join([summary, *(interpret(c) for c in claims)]) + "\n\n" + not_reproduced(claims)


__all__ = [
    "Claim", "ClaimSpec", "REGISTRY", "STATEMENTS", "TOLERANCE", "c1_baseline_selective", "top_decile_min", "claim_tables",
    "selectivity_rise", "c2_selectivity_rises", "c3_accuracy_kept", "own_range_share", "own_range_change",
    "per_group_change", "c4_ablation_reliable", "c5_applicability", "c6_correction", "evaluate_claims",
    "write_claims", "describe", "measured_words", "margin_words", "controlled_words", "interpret", "claim_count", "not_reproduced",
    "interpretation", "controlled_claim", "through_controls", "claims_markdown", "update_readme_block",
    "own_range_reversals", "main_spreads", "read_claims", "read_own_model_claims", "readme_block",
    "write_own_model_claims", "OWN_MODEL_CLAIMS", "OWN_MODEL_HEAD", "margin_table", "setting_margins", "CLEAN_TABLES",
]

__getattr__ = moved(__name__, {"interpret_occupancy": "mdeinterp.stability:describe_occupancy"})
