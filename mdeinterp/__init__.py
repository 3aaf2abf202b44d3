"""mdeinterp: depth selectivity of hidden units in monocular depth estimation networks (ICCV 2021 reproduction).

The names most notebooks need are importable from the top level::

    from mdeinterp import create_model, make_dataset, build_config, evaluate, dissect
    from mdeinterp.train import train

``mdeinterp.evaluate`` is the function (the module stays importable as ``mdeinterp.evaluate`` in
``from mdeinterp.evaluate import predict``); ``mdeinterp.train`` is the module holding ``train``.
"""

from .analysis import Dissection, LayerResponse, dissect
from .config import DataConfig, ModelConfig, TrainConfig, build_config, get_preset
from .data import make_dataset
from .evaluate import evaluate
from .models import create_model, list_models, load_checkpoint
from .selectivity import assigned_bins, selectivity_index, selectivity_loss, sid_edges

__version__ = "0.1.0"

__all__ = [
    "DataConfig", "Dissection", "LayerResponse", "ModelConfig", "TrainConfig", "assigned_bins", "build_config",
    "create_model", "dissect", "evaluate", "get_preset", "list_models", "load_checkpoint", "make_dataset",
    "selectivity_index", "selectivity_loss", "sid_edges",
]
