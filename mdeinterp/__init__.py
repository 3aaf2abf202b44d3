"""mdeinterp: depth selectivity of hidden units in monocular depth estimation networks (ICCV 2021 reproduction).

The names most notebooks need are importable from the top level::

    from mdeinterp import create_model, make_dataset, build_config, dissect, Objective
    from mdeinterp.evaluate import evaluate
    from mdeinterp.train import train

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
    "Dissection": "analysis", "LayerResponse": "analysis", "dissect": "analysis",
    "DataConfig": "config", "ModelConfig": "config", "TrainConfig": "config", "build_config": "config",
    "get_preset": "config",
    "make_dataset": "data",
    "create_model": "models", "list_models": "models", "load_checkpoint": "models",
    "Objective": "objective", "ObjectiveParts": "objective",
    "assigned_bins": "selectivity", "selectivity_index": "selectivity", "selectivity_loss": "selectivity",
    "selectivity_losses": "selectivity",
    "sid_edges": "selectivity",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
