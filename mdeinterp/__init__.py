"""mdeinterp: depth selectivity of hidden units in monocular depth estimation networks (ICCV 2021 reproduction).

The public API is importable from the top level (``__all__``); the definitions are in docs/method.md::

    from mdeinterp import Objective, Run, Study, dissect, hooks, plots
    run = Run.from_dir("runs/interp_s0")               # a trained run: config, model, data, dissection
    dissection = dissect(model, data, ["decoder.2"])   # any model, layers by module name
    dissection["decoder.2"].selectivity                # (C,) depth selectivity index

``mdeinterp.inference.evaluate`` and ``mdeinterp.train.train`` are not exported by name: a lazily exported
function of a submodule's own name would flip between function and module. The layers and what each module
holds: docs/architecture.md.

Imports are lazy (PEP 562): ``import mdeinterp`` or ``import mdeinterp.config`` loads neither torch
nor h5py; a name below is imported from its module on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "EmptyBinWarning": "errors",
    "DataConfig": "config", "ModelConfig": "config", "TrainConfig": "config", "build_config": "config",
    "get_preset": "config",
    "DepthResponse": "selectivity", "assigned_bins": "selectivity", "selectivity_index": "selectivity",
    "selectivity_term": "selectivity", "sid_edges": "selectivity", "chance_near_fraction": "selectivity",
    "depth_ranges": "metrics",
    "make_dataset": "data",
    "create_model": "models", "list_models": "models", "load_checkpoint": "models",
    "predict": "inference", "predict_depth": "inference",
    "Objective": "objective", "ObjectiveParts": "objective",
    "Dissection": "dissection", "dissect": "dissection", "activation_maps": "dissection", "top_units": "dissection",
    "ablate": "interventions", "correct": "interventions", "range_errors": "interventions",
    "ablation_experiment": "interventions", "correction_experiment": "interventions",
    "correction_maps": "interventions",
    "position_control": "position",
    "Run": "run",
    "Study": "experiments", "repo_path": "experiments",
}
# public submodules, exported as modules (``from mdeinterp import hooks, plots``)
_MODULES = ("claims", "dissection", "hooks", "inference", "interventions", "plots", "results", "selectivity",
            "stability", "tables")
# internals exported before; they still resolve, with a warning naming their home
_DEPRECATED = {"EPS": "mdeinterp.selectivity:EPS", "selectivity_losses": "mdeinterp.selectivity:selectivity_terms",
               "selectivity_loss": "mdeinterp.selectivity:selectivity_term"}

__all__ = sorted([*_EXPORTS, *_MODULES])


def __getattr__(name: str) -> Any:
    if name in _MODULES or name == "analysis":  # analysis: the deprecated module, still importable
        return importlib.import_module(f".{name}", __name__)
    if name in _DEPRECATED:
        from .deprecation import moved

        return moved(__name__, _DEPRECATED)(name)
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
