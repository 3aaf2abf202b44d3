"""Each setting's margins against C2 and C3, from hand-made result tables."""

import pandas as pd
import pytest

from mdeinterp.errors import DataError
from mdeinterp.margins import setting_margins


def tables():
    selectivity = pd.DataFrame([
        # setting a: layers D (rise 0.3 - 0.1 = 0.2) and MFF (rise 0.15 - 0.1 = 0.05), seeds 0 and 1 alike
        *({"setting": "a", "method": m, "seed": s, "layer": layer, "mean_selectivity": v, "near_assigned": 0.5,
           "assigned": m == "interpretable", "chance_near": 0.1}
          for s in (0, 1) for layer, vi in (("D", 0.3), ("MFF", 0.15)) for m, v in (("baseline", 0.1), ("interpretable", vi))),
        {"setting": "b", "method": "baseline", "seed": 0, "layer": "X", "mean_selectivity": 0.2, "near_assigned": 0.1,
         "assigned": False, "chance_near": 0.1},
        {"setting": "b", "method": "interpretable", "seed": 0, "layer": "X", "mean_selectivity": 0.5,
         "near_assigned": 0.6, "assigned": True, "chance_near": 0.1},
    ])
    accuracy = pd.DataFrame({"setting": ["a", "a", "a", "a", "b", "b"],
                             "method": ["baseline", "baseline", "interpretable", "interpretable", "baseline", "interpretable"],
                             "d1": [0.80, 0.82, 0.79, 0.80, 0.7, 0.72]})
    return selectivity, accuracy


def test_setting_margins_take_the_weakest_layer_and_the_mean_d1_change():
    margins = setting_margins(*tables(), ["a", "b"])
    assert margins["layer"].tolist() == ["MFF", "X"]
    assert margins["ds_rise"].tolist() == pytest.approx([0.05, 0.3])
    assert margins["d1_change"].tolist() == pytest.approx([-0.015, 0.02])


def test_setting_margins_name_what_is_missing():
    selectivity, accuracy = tables()
    with pytest.raises(DataError, match="setting 'c' needs baseline and interpretable runs"):
        setting_margins(selectivity, accuracy, ["c"])
    with pytest.raises(DataError, match="needs a 'setting' column"):
        setting_margins(selectivity.drop(columns="setting"), accuracy, ["a"])
