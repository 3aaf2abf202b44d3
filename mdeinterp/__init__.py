"""mdeinterp: depth selectivity of hidden units in monocular depth estimation networks (ICCV 2021 reproduction).

The public API is importable from the top level (``__all__``); the definitions are in docs/method.md::

    from mdeinterp import Objective, Run, Study, dissect, hooks, plots
    run = Run.from_dir("runs/interp_s0")               # a trained run: config, model, data, dissection
    dissection = dissect(model, data, ["decoder.2"])   # any model, layers by module name
    dissection["decoder.2"].selectivity                # (C,) depth selectivity index

``mdeinterp.evaluate`` and ``mdeinterp.train`` are the modules holding those functions (a lazily
exported function of a submodule's own name would flip between function and module).

Imports are lazy (PEP 562): ``import mdeinterp`` or ``import mdeinterp.config`` loads neither torch
nor h5py; a name below is imported from its module on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "Dissection": "analysis", "DepthResponse": "selectivity", "dissect": "analysis",
    "activation_maps": "analysis", "ablation_experiment": "analysis", "correction_experiment": "analysis",
    "correction_maps": "analysis", "range_errors": "analysis", "top_units": "analysis",
    "DataConfig": "config", "ModelConfig": "config", "TrainConfig": "config", "build_config": "config",
    "get_preset": "config",
    "make_dataset": "data",
    "Study": "experiments",
    "create_model": "models", "list_models": "models", "load_checkpoint": "models",
    "Objective": "objective", "ObjectiveParts": "objective",
    "position_control": "position",
    "Run": "run",
    "EPS": "selectivity", "assigned_bins": "selectivity", "selectivity_index": "selectivity",
    "selectivity_loss": "selectivity", "selectivity_losses": "selectivity", "sid_edges": "selectivity",
}
# public submodules, exported as modules (``from mdeinterp import hooks, plots``)
_MODULES = ("analysis", "claims", "hooks", "plots", "results", "selectivity", "stability", "tables")

__all__ = sorted([*_EXPORTS, *_MODULES])


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return importlib.import_module(f".{name}", __name__)
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
