"""A claim's verdict through its controls: the paper's computation, the controlled one, noise, convergence.

The claims (:mod:`mdeinterp.claims`) keep the paper's computation and thresholds. This module decides what a
reader is told about each:

- **controlled**: the same statistic without the units that could fake it — dead, near-silent and
  position-coded units (:func:`clean_units`, from the unit flags of the position control) — for C1, and the
  mean DS of the clean units (``clean_selectivity``) in place of the mean DS for C2 and C5;
- **marginal**: a margin smaller than the spread of the same statistic over seeds (or, for a one-seed setting,
  the MFF seeds' spread: C5's per-setting rises), or within the claim's fixed tolerance when no spread is known;
  or a verdict input beyond the margins (``Claim.marginal_reasons``): a seed in which ablating a range's units
  lowers that range's error (C4), range groups in which selective units did not beat random ones (C6);
- **not converged**: a setting whose interpretable runs' probe DS never stopped rising by more than 0.01 per
  epoch (``results/plateaus.csv`` without a plateau): neither a pass nor a failure;
- a failure whose every failing margin lies within its noise is **marginal** too, not "fails";
- the **state** word (:func:`state`), one per claim.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd

#: The verdict words, strongest first. "reproduced" needs the paper's and the controlled computation to hold.
STATES = ("reproduced", "holds; control not measured", "holds only as the paper computes it", "marginal",
          "not converged", "fails")

#: Unit flags of the position control (selectivity.DepthResponse.table): a unit with any is left out when controlled.
UNIT_FLAGS = ("dead", "near_silent", "position_coded")


def has_control(table: pd.DataFrame | None, columns: Sequence[str] = UNIT_FLAGS) -> bool:
    """Return whether ``table`` carries the position control's columns (tables dissected before it do not)."""
    return table is not None and all(c in table.columns for c in columns)


def clean_units(units: pd.DataFrame) -> pd.DataFrame:
    """Return the units that are neither dead, near-silent nor position-coded (the flags read as booleans)."""
    flagged = units[list(UNIT_FLAGS)].fillna(True).astype(bool).any(axis=1)
    return units[~flagged]


def marginal_names(margins: Mapping[str, float], spreads: Mapping[str, float], tolerance: float) -> list[str]:
    """Return the names of the margins that are marginal: ``|margin| <`` the statistic's seed spread when known,
    else ``<`` the claim's ``tolerance``. Each name is its own margin's (a failing margin far below zero is not)."""
    names = []
    for name, margin in margins.items():
        if margin is None or not math.isfinite(float(margin)):
            continue
        spread = spreads.get(name)
        limit = float(spread) if spread is not None and math.isfinite(float(spread)) else tolerance
        if abs(float(margin)) < max(limit, 0.0) or (limit == 0 and margin == 0):
            names.append(name)
    return names


def fails_within_noise(margins: Mapping[str, float], marginal: Sequence[str]) -> bool:
    """Return whether a claim misses only by margins within their noise: at least one margin is below zero and
    every such margin is among the ``marginal`` names (:func:`marginal_names`)."""
    failing = [n for n, m in margins.items() if m is not None and math.isfinite(float(m)) and float(m) < 0]
    return bool(failing) and set(failing) <= set(marginal)


def not_converged_settings(plateaus: pd.DataFrame | None) -> list[str]:
    """Return the settings whose interpretable runs reached no plateau (probe DS rose > 0.01 in every epoch)."""
    if plateaus is None or "plateau_epoch" not in plateaus:
        return []
    interp = plateaus[plateaus["method"] == "interpretable"]
    rising = interp[interp["plateau_epoch"].isna()]
    return list(dict.fromkeys(rising["setting"]))


def state(paper_holds: bool, controlled_holds: bool | None, marginal: bool, converged: bool,
          control_applies: bool = True, fails_within_noise: bool = False) -> str:
    """Return the verdict word of a claim (one of :data:`STATES`).

    Not converged wins over everything (the run stopped too early to tell); then a failure of the paper's
    computation, which is "marginal" when every margin it fails by lies within its noise
    (``fails_within_noise``: :func:`fails_within_noise`), since a miss smaller than the seeds' spread is no more
    a failure than such a pass is a success; then a control that fails; then a margin within the noise; a claim
    whose control was not measured holds without "reproduced"; one to which no control applies
    (``control_applies=False``: accuracy) is reproduced on the paper's computation alone.
    """
    if not converged:
        return "not converged"
    if not paper_holds:
        return "marginal" if fails_within_noise else "fails"
    if controlled_holds is False:
        return "holds only as the paper computes it"
    if marginal:
        return "marginal"
    return "reproduced" if controlled_holds or not control_applies else "holds; control not measured"


def seed_spread(values: pd.Series) -> float:
    """Return the standard deviation of a statistic over seeds (NaN with fewer than two seeds)."""
    values = values.dropna()
    return float(values.std(ddof=1)) if len(values) > 1 else float("nan")


__all__ = ["STATES", "UNIT_FLAGS", "has_control", "clean_units", "marginal_names", "fails_within_noise",
           "not_converged_settings", "state", "seed_spread"]
