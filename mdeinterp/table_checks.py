"""Results tables checked on read: their columns, one row per key, and rows that agree across tables.

The claims are computed from ``figures/results/*.csv``. A table cut short (a killed writer with older code, a
hand edit) would otherwise compute claims without an error: a setting turns "missing", a claim flips. Every
table the claims read passes :func:`check_table` and the set passes :func:`check_tables`; a short or malformed
table stops with one line naming the file and what is missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .errors import DataError


@dataclass(frozen=True)
class TableSpec:
    """What a results table must hold: its columns, the columns that identify a row, and per-group completeness."""

    columns: tuple[str, ...]
    key: tuple[str, ...] = ()  # no two rows share these values (empty: not checked)
    complete_within: tuple[str, ...] = ()  # every group of these columns holds the same set of ``complete_over``
    complete_over: str | None = None


_GROUPS = ("group", "kind", "draw", "range_lo", "relative_change")
_RUN = ("name", "method", "seed")

#: The tables the claims and tables read, by name (``figures/results/<name>.csv``): the columns they read, and
#: (where the table has them) the key and completeness columns.
TABLES: dict[str, TableSpec] = {
    "selectivity": TableSpec(_RUN + ("setting", "layer", "mean_selectivity"), ("setting", "name", "layer"),
                             ("setting", "name"), "layer"),
    "accuracy": TableSpec(_RUN + ("setting", "d1", "abs_rel"), ("setting", "name")),
    "range_accuracy": TableSpec(_RUN + ("setting", "range", "range_lo", "range_hi", "d1"),
                                ("setting", "name", "range"), ("setting", "name"), "range"),
    "plateaus": TableSpec(_RUN + ("setting", "layers", "plateau_epoch"), ("setting", "name")),
    "units_baseline": TableSpec(("seed", "layer", "selectivity"), ("name", "layer", "unit")),
    "units_chance": TableSpec(("seed", "layer", "selectivity"), ("name", "layer", "unit")),
    "ablation": TableSpec(_GROUPS),
    "correction": TableSpec(_GROUPS),
    "ablation_clean": TableSpec(_GROUPS),
    "correction_clean": TableSpec(_GROUPS),
    "ablation_curve": TableSpec(_GROUPS),
    "position": TableSpec(("layer", "unit", "selectivity", "preferred_bin", "position_index"), ("name", "layer", "unit")),
    "completion": TableSpec(_RUN + ("input", "d1", "abs_rel"), ("name", "input")),
}

#: Tables that list the same (setting, name) pairs: a pair in one and not another means a table was cut short.
SAME_RUNS = ("selectivity", "accuracy", "range_accuracy", "plateaus")


def _shown(items: object, limit: int = 4) -> str:
    items = list(items)  # type: ignore[call-overload]
    text = ", ".join(str(i) for i in items[:limit])
    return text + (f" and {len(items) - limit} more" if len(items) > limit else "")


def check_table(table: pd.DataFrame, name: str, path: str | Path | None = None) -> pd.DataFrame:
    """Return ``table`` after checking it against :data:`TABLES` ``[name]``; raise :class:`DataError` naming the file."""
    where = path or f"results table {name}"
    spec = TABLES.get(name)
    if spec is None:
        return table
    if table.empty:
        raise DataError(f"{where} has no rows; run the notebook that writes {name!r} again")
    missing = [c for c in spec.columns if c not in table.columns]
    if missing:
        raise DataError(f"{where} lacks the column(s) {_shown(missing)}; run the notebook that writes {name!r} again")
    if spec.key and all(c in table.columns for c in spec.key):
        doubled = table[table.duplicated(list(spec.key), keep=False)]
        if not doubled.empty:
            first = tuple(doubled.iloc[0][list(spec.key)])
            raise DataError(f"{where} holds {len(doubled)} rows sharing their {'/'.join(spec.key)} "
                            f"(e.g. {first}); expected one each")
    if spec.complete_over:
        sets = table.groupby(list(spec.complete_within))[spec.complete_over].agg(frozenset)
        by_size = sets.map(len)
        for group, values in sets.items():
            peers = [other for other, o in sets.items() if o > values and _same_kind(table, spec, group, other)]
            if peers:
                lacking = sorted(sets[peers[0]] - values, key=str)
                raise DataError(f"{where} is cut short: {group} lacks {spec.complete_over} {_shown(lacking)} that "
                                f"{peers[0]} has ({by_size[group]} of {by_size[peers[0]]} rows)")
    return table


def _same_kind(table: pd.DataFrame, spec: TableSpec, a: object, b: object) -> bool:
    """Return whether two groups are runs of the same model (whose layer or range sets must match)."""
    if "model" not in table.columns:
        return True
    index = table.set_index(list(spec.complete_within))["model"]
    return set(index.loc[[a]]) == set(index.loc[[b]])


def check_tables(tables: Mapping[str, pd.DataFrame | None]) -> None:
    """Raise :class:`DataError` when the tables of :data:`SAME_RUNS` that are present list different runs."""
    present = {n: t for n, t in tables.items() if n in SAME_RUNS and t is not None}
    pairs = {n: set(map(tuple, t[["setting", "name"]].drop_duplicates().itertuples(index=False)))
             for n, t in present.items()}
    for name, runs in pairs.items():
        for other, other_runs in pairs.items():
            lacking = sorted(other_runs - runs)
            if lacking:
                raise DataError(f"results table {name}.csv lacks the runs {_shown(lacking)} that {other}.csv has: "
                                f"it was cut short; run the notebooks again (make reproduce)")


def read_checked(path: str | Path, name: str | None = None) -> pd.DataFrame:
    """Return the results table at ``path`` checked by :func:`check_table`; an unparsable file is a DataError."""
    path = Path(path)
    name = name or path.stem
    try:
        table = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{path} is empty or not a table ({' '.join(str(exc).split())[:100]}); "
                        f"run the notebook that writes {name!r} again") from None
    return check_table(table, name, path)
