"""Tables for reading in a notebook: "mean ± std" in one cell, 3 significant digits, readable column names.

The wide tidy tables stay as they are and go to CSV (:func:`mdeinterp.experiments.write_table`); these
helpers only build what a reader sees. :func:`mean_std` returns a DataFrame of strings, :func:`display_table`
the same as a :class:`Table` (HTML without the index); :func:`claims_table` renders checked claims.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

# Readable names of the columns the notebooks show; a column not listed keeps its own name.
LABELS = {
    "d1": "δ<1.25", "d2": "δ<1.25²", "d3": "δ<1.25³", "abs_rel": "AbsRel", "rmse": "RMSE (m)", "log10": "log10",
    "mean_selectivity": "mean DS", "near_assigned": "near assigned bin", "sel_assigned": "DS (assigned layers)",
    "assigned_layers": "assigned layers", "layers": "assigned layers", "seeds": "seeds", "seed": "seed",
    "bins": "K", "alpha": "α",
}
MISSING = "–"


def significant(value: Any, digits: int = 3) -> str:
    """Return ``value`` as text: floats with ``digits`` significant digits, NaN and "" as "–", others unchanged."""
    if value is None or (isinstance(value, str) and not value):  # e.g. a baseline's assigned layers
        return MISSING
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(float(value)):
            return MISSING
        text = f"{float(value):.{digits}g}"
        return "0" if text == "-0" else text
    return str(value)


def label(column: str) -> str:
    """Return the readable name of ``column`` (``DS_<layer>`` becomes "DS <layer>")."""
    if column in LABELS:
        return LABELS[column]
    if column.startswith("DS_"):
        return f"DS {column[3:]}"
    return column


def mean_std(table: pd.DataFrame, columns: Sequence[str], names: Mapping[str, str] | None = None,
             digits: int = 3) -> pd.DataFrame:
    """Return a table of strings with one column per name in ``columns``, for display.

    A name ``x`` with ``x_mean`` and ``x_std`` columns in ``table`` becomes one "mean ± std" cell (the std
    omitted when it is 0, i.e. one seed); any other name is taken as it is. Numbers get ``digits``
    significant digits; missing values show as "–". Columns are renamed by ``names``, else by :data:`LABELS`.

    Raises KeyError naming the columns of ``table`` when a name is neither a column nor a mean/std pair.
    """
    names = dict(names or {})
    out = pd.DataFrame(index=table.index)
    for column in columns:
        title = names.get(column, label(column))
        if f"{column}_mean" in table and f"{column}_std" in table:
            out[title] = [_mean_std(m, s, digits) for m, s in zip(table[f"{column}_mean"], table[f"{column}_std"])]
        elif column in table:
            out[title] = [significant(v, digits) for v in table[column]]
        else:
            raise KeyError(f"column {column!r} is neither in the table nor a {column}_mean/{column}_std pair; "
                           f"the table has {', '.join(map(str, table.columns))}")
    return out.reset_index(drop=True)


def _mean_std(mean: Any, std: Any, digits: int) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return MISSING
    if std is None or (isinstance(std, float) and math.isnan(std)) or std == 0:
        return significant(mean, digits)
    return f"{significant(mean, digits)} ± {significant(std, digits)}"


class Table:
    """A table that Jupyter shows as HTML without the index (plain text elsewhere), missing values as "–".

    Both renderings are deterministic, so re-executing a notebook on unchanged results leaves its outputs
    unchanged. The strings are in :attr:`frame`.
    """

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame.reset_index(drop=True)

    def _repr_html_(self) -> str:
        return self.frame.to_html(index=False, border=0, na_rep=MISSING)

    def __repr__(self) -> str:
        return self.frame.to_string(index=False, na_rep=MISSING)


def display_table(table: pd.DataFrame, columns: Sequence[str], names: Mapping[str, str] | None = None,
                  digits: int = 3) -> Table:
    """Return :func:`mean_std` of ``table`` as a :class:`Table`: the last line of a table cell."""
    return Table(mean_std(table, columns, names, digits))


def compact(value: Any, digits: int = 3) -> str:
    """Return a measured or threshold value as one line: nested dicts as "key value, …" with parentheses."""
    if isinstance(value, Mapping):
        parts = []
        for key, item in value.items():
            text = compact(item, digits)
            parts.append(f"{key} ({text})" if isinstance(item, Mapping) else f"{key} {text}")
        return ", ".join(parts)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(compact(v, digits) for v in value) + "]"
    return significant(value, digits)


def claims_frame(claims: Sequence[Any], digits: int = 3) -> pd.DataFrame:
    """Return one row per claim: id, statement, measured, threshold, holds ("yes"/"no").

    ``claims`` are :class:`mdeinterp.claims.Claim` objects or their dicts (``claims.json`` entries).
    """
    rows = []
    for claim in claims:
        entry = claim if isinstance(claim, Mapping) else claim.to_dict()
        rows.append({"id": entry["id"], "statement": entry["statement"],
                     "measured": "; ".join(f"{k}: {compact(v, digits)}" if isinstance(v, Mapping) else
                                           f"{k} {compact(v, digits)}" for k, v in entry["measured"].items()),
                     "threshold": "; ".join(f"{k} {compact(v, digits)}" for k, v in entry["threshold"].items()),
                     "holds": "yes" if entry["holds"] else "no"})
    return pd.DataFrame(rows, columns=["id", "statement", "measured", "threshold", "holds"])


def claims_table(claims: Sequence[Any], digits: int = 3) -> Table:
    """Return :func:`claims_frame` as a :class:`Table`: the last line of a claims cell."""
    return Table(claims_frame(claims, digits))


__all__ = ["LABELS", "Table", "significant", "label", "mean_std", "display_table", "compact", "claims_frame",
           "claims_table"]
