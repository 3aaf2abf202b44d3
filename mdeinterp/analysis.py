"""Deprecated module: dissection is :mod:`mdeinterp.dissection`, ablation and correction are
:mod:`mdeinterp.interventions`, and the model loop is :mod:`mdeinterp.inference`. Old names still resolve."""

from __future__ import annotations

from .deprecation import moved

_DISSECTION = ("Dissection", "FORMAT_VERSION", "data_range", "dissect", "activation_maps", "top_units")
_INTERVENTIONS = ("Ranges", "range_errors", "correction_maps", "bin_ranges", "ablation_experiment",
                  "correction_experiment")
_INFERENCE = ("Intervention", "batches", "predict_depth")

__getattr__ = moved(__name__, {
    **{name: f"mdeinterp.dissection:{name}" for name in _DISSECTION},
    **{name: f"mdeinterp.interventions:{name}" for name in _INTERVENTIONS},
    **{name: f"mdeinterp.inference:{name}" for name in _INFERENCE},
    "predict_batch": "mdeinterp.inference:predict",
    "loader_options": "mdeinterp.inference:loader_options",
    "DepthResponse": "mdeinterp.selectivity:DepthResponse",
    "as_batch": "mdeinterp.data.transforms:as_batch",
    "ablation_intervention": "mdeinterp.interventions:ablate",
    "correction_intervention": "mdeinterp.interventions:correct",
})
