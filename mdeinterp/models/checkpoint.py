"""Safe checkpoint loading: plain tensor files only, common wrappers unwrapped, clear mismatch errors.

Every file goes through ``torch.load(..., weights_only=True)``, so a pickle that asks to run code
is refused instead of executed. Accepted layouts: a bare state dict, DataParallel's ``module.``
prefixes, BTS's ``{"model": state_dict, ...}`` and mdeinterp's training checkpoint
``{"model": state_dict, "optimizer": ..., "config": ..., "step": ...}``.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from ..errors import CheckpointError

#: Keys under which wrapped checkpoints keep the model's state dict, tried in this order.
WRAPPER_KEYS = ("model", "state_dict")
#: How many offending keys an error message names.
MAX_KEYS_SHOWN = 5


def read_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> Any:
    """Return the object stored in ``path``, loaded with ``weights_only=True`` (no code runs)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint {path!r} does not exist; expected a file saved by torch.save")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        reason = str(error).strip().splitlines()
        detail = next((line for line in reason if "GLOBAL" in line or "Unsupported" in line), reason[0] if reason else "")
        raise CheckpointError(
            f"checkpoint {path!r} refused: not a plain tensor checkpoint ({detail.strip()[:200]})"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, IndexError, KeyError, TypeError, AttributeError) as error:
        # a file that is no pickle (text, a truncated download) fails anywhere inside the unpickler
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise CheckpointError(
            f"checkpoint {path!r} is not a readable torch file ({first_line[:200]}); expected a file saved by torch.save"
        ) from None


def extract_state_dict(obj: Any, source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """Return the model state dict inside ``obj``: wrappers removed, ``module.`` prefixes stripped."""
    if isinstance(obj, Mapping):
        for key in WRAPPER_KEYS:
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not obj:
        raise CheckpointError(f"{source} holds {type(obj).__name__}; expected a non-empty state dict of tensors")
    not_tensors = [str(k) for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise CheckpointError(
            f"{source} is not a state dict: {len(not_tensors)} entries are not tensors "
            f"(first: {', '.join(not_tensors[:MAX_KEYS_SHOWN])})"
        )
    state = {str(k): v for k, v in obj.items()}
    # nn.DataParallel / DistributedDataParallel save every key under "module.".
    if all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def check_compatible(model: nn.Module, state: Mapping[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Return None when ``state`` fits ``model`` exactly; otherwise raise a one-line :class:`CheckpointError`."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    mismatched = [
        f"{k} (file {list(state[k].shape)} vs model {list(expected[k].shape)})"
        for k in expected
        if k in state and state[k].shape != expected[k].shape
    ]
    if not (missing or unexpected or mismatched):
        return
    arch = getattr(model, "arch", type(model).__name__)
    parts = [
        f"{len(keys)} {label} ({', '.join(keys[:MAX_KEYS_SHOWN])}{', ...' if len(keys) > MAX_KEYS_SHOWN else ''})"
        for label, keys in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", mismatched))
        if keys
    ]
    raise CheckpointError(f"{source} does not fit model {arch!r}: " + "; ".join(parts))


def load_checkpoint(
    path: str | os.PathLike,
    model: nn.Module | None = None,
    map_location: str | torch.device = "cpu",
) -> nn.Module | dict[str, torch.Tensor]:
    """Return ``model`` with the weights of ``path`` loaded strictly, or the state dict when ``model`` is None.

    Raises :class:`CheckpointError` for a missing file, a pickle that is not plain tensors, or a
    checkpoint of another architecture (naming the first few missing/unexpected/mismatched keys).
    """
    source = f"checkpoint {os.fspath(path)!r}"
    state = extract_state_dict(read_checkpoint(path, map_location=map_location), source=source)
    if model is None:
        return state
    check_compatible(model, state, source=source)
    model.load_state_dict(state, strict=True)
    return model
