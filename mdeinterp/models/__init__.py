"""Depth networks (MFF, BTS, CSPN) by name, and safe checkpoint loading.

``create_model("mff_tiny")`` builds a registered architecture; importing this package registers
every builder in :mod:`.mff`, :mod:`.bts` and :mod:`.cspn`.
"""

from . import bts, cspn, mff  # noqa: F401  (importing registers the builders)
from .checkpoint import load_checkpoint
from .registry import create_model, list_models, register_model

__all__ = ["create_model", "list_models", "load_checkpoint", "register_model"]
