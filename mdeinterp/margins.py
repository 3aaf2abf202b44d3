"""Each setting's margins against claims C2 and C3: the rise of mean DS and the change of δ1, interpretable − baseline.

Notebook 04 draws them with the thresholds (:func:`mdeinterp.plots.claim_margins`); the rise per layer is
:func:`mdeinterp.claims.selectivity_rise`'s, so the figure and the claims read the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from .claims import selectivity_rise
from .errors import DataError


def setting_margins(selectivity: pd.DataFrame, accuracy: pd.DataFrame, settings: Sequence[str]) -> pd.DataFrame:
    """Return one row per setting: the smallest rise of mean DS over its assigned layers (``ds_rise``, with the
    layer) and the change of mean δ1 over seeds (``d1_change``), interpretable − baseline.

    ``selectivity`` and ``accuracy`` are the result tables of notebook 02 (with a ``setting`` column).
    """
    for name, table in (("selectivity", selectivity), ("accuracy", accuracy)):
        if "setting" not in table:
            raise DataError(f"the {name} table needs a 'setting' column; it has {list(table.columns)}")
    rows = []
    for setting in settings:
        rise = selectivity_rise(selectivity[selectivity["setting"] == setting])
        runs = accuracy[accuracy["setting"] == setting].groupby("method")["d1"].mean()
        if rise.empty or not {"baseline", "interpretable"} <= set(runs.index):
            raise DataError(f"setting {setting!r} needs baseline and interpretable runs in both tables; "
                            f"the accuracy table has methods {sorted(runs.index)}, the selectivity table "
                            f"{len(rise)} assigned layers")
        weakest = rise.loc[rise["rise_mean"].idxmin()]
        rows.append({"setting": setting, "layer": weakest["layer"], "ds_rise": float(weakest["rise_mean"]),
                     "d1_change": float(runs["interpretable"] - runs["baseline"])})
    return pd.DataFrame(rows, columns=["setting", "layer", "ds_rise", "d1_change"])


__all__ = ["setting_margins"]
