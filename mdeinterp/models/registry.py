"""Model registry: architecture names mapped to builder functions (timm's ``create_model`` pattern).

Adding a model is one builder function decorated with :func:`register_model`; generic code
never branches on a model's name, it calls :func:`create_model`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

from ..errors import ModelError, unknown_name

Builder = TypeVar("Builder", bound=Callable[..., nn.Module])

#: Architecture name -> builder returning an ``nn.Module``; filled by :func:`register_model`.
MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(builder: Builder) -> Builder:
    """Return ``builder`` unchanged after registering it under its function name."""
    name = builder.__name__
    if name in MODELS and MODELS[name] is not builder:
        raise ModelError(f"model name {name!r} is registered twice; expected unique builder names")
    MODELS[name] = builder
    return builder


def list_models() -> list[str]:
    """Return the registered architecture names, sorted."""
    return sorted(MODELS)


def create_model(name: str, **options: Any) -> nn.Module:
    """Return a new model ``name`` built with ``options`` (e.g. ``pretrained=None``, ``max_depth=10``).

    The model gets an ``arch`` attribute holding ``name``. Raises :class:`ModelError` for an
    unknown name (listing the valid ones) or an option the builder does not take.
    """
    if name not in MODELS:
        raise ModelError(unknown_name("model", name, list_models()))
    builder = MODELS[name]
    accepted = inspect.signature(builder).parameters
    for option in options:
        if option not in accepted:
            raise ModelError(
                f"model {name!r} has no option {option!r}; valid options: {', '.join(accepted) or 'none'}"
            )
    model = builder(**options)
    model.arch = name
    return model
